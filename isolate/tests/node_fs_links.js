// Symbolic links and recursive readdir on a directory `R`, as plain node:fs calls: run by
// node_fs_links.rs inside an isolate on /tmp, and by Node 20 on a real directory, which gave the
// expected answers there (the test's header says how to run it again). Every path in an answer is
// written with `R` as `<R>`; errors are [code, errno, syscall, message].
export default async function scenario(fs, R) {
  const c = (f) => {
    try {
      const v = f();
      return v === undefined ? 'ok' : v;
    } catch (e) {
      return [e.code, e.errno, e.syscall, e.message];
    }
  };
  // A file's size; a link's size (its target's bytes) and mode (Node's umask shapes the rest).
  const kind = (s, target) => [s.isFile(), s.isDirectory(), s.isSymbolicLink(),
    s.isFile() ? s.size : s.isSymbolicLink() ? s.size === new TextEncoder().encode(target).length : null,
    s.isSymbolicLink() ? s.mode.toString(8) : null];
  fs.mkdirSync(`${R}/a/b`, { recursive: true });
  fs.writeFileSync(`${R}/a/f.txt`, 'hi');
  fs.writeFileSync(`${R}/a/b/g.txt`, 'gee');
  const out = {};
  out.made = [
    c(() => fs.symlinkSync(`${R}/a`, `${R}/la`)),
    c(() => fs.symlinkSync('f.txt', `${R}/a/rel`)),
    c(() => fs.symlinkSync('../a/b', `${R}/a/up`, 'dir')),
    c(() => fs.symlinkSync(`${R}/loop2`, `${R}/loop1`)),
    c(() => fs.symlinkSync(`${R}/loop1`, `${R}/loop2`)),
    c(() => fs.symlinkSync(`${R}/nope`, `${R}/dangling`)),
  ];
  out.makeErrors = [
    c(() => fs.symlinkSync('/x', `${R}/a/f.txt`)),
    c(() => fs.symlinkSync('/x', `${R}/zz/q`)),
    c(() => fs.symlinkSync('/x', `${R}/a/f.txt/q`)),
    c(() => fs.symlinkSync('', `${R}/empty`)),
    c(() => fs.symlinkSync('x'.repeat(5000), `${R}/long`))[0],
    c(() => fs.symlinkSync('x', `${R}/t`, 'bogus')),
  ];
  out.lstat = [kind(fs.lstatSync(`${R}/a/rel`), 'f.txt'), kind(fs.lstatSync(`${R}/la`), `${R}/a`),
    kind(fs.lstatSync(`${R}/dangling`), `${R}/nope`), kind(fs.lstatSync(`${R}/a/f.txt`))];
  out.stat = [kind(fs.statSync(`${R}/a/rel`)), kind(fs.statSync(`${R}/la`)), kind(fs.statSync(`${R}/la/up`))];
  out.readlink = [
    fs.readlinkSync(`${R}/a/rel`),
    fs.readlinkSync(`${R}/la`),
    [...fs.readlinkSync(`${R}/a/rel`, 'buffer')],
    fs.readlinkSync(`${R}/a/rel`, { encoding: 'hex' }),
    c(() => fs.readlinkSync(`${R}/a/f.txt`)),
    c(() => fs.readlinkSync(`${R}/zz`)),
    c(() => fs.readlinkSync(`${R}/zz/y`)),
  ];
  out.realpath = [
    fs.realpathSync(`${R}/la/rel`),
    fs.realpathSync(`${R}/la/up/g.txt`),
    fs.realpathSync(`${R}/la/../a/./up`),
    fs.realpathSync.native(`${R}/la`),
    c(() => fs.realpathSync(`${R}/dangling`)),
    c(() => fs.realpathSync(`${R}/loop1`)),
    c(() => fs.realpathSync(`${R}/zz`)),
    await fs.promises.realpath(`${R}/la/rel`),
  ];
  out.follow = [
    fs.readFileSync(`${R}/la/rel`, 'utf8'),
    fs.readFileSync(`${R}/la/up/g.txt`, 'utf8'),
    fs.readdirSync(`${R}/la`),
    // ".." after a link is the parent of where the link led, not of the link.
    fs.readdirSync(`${R}/la/up/..`),
    fs.existsSync(`${R}/dangling`),
    fs.existsSync(`${R}/loop1`),
    c(() => fs.statSync(`${R}/dangling`)),
    c(() => fs.statSync(`${R}/loop1`)),
    c(() => fs.readFileSync(`${R}/loop1`)),
    c(() => fs.writeFileSync(`${R}/loop2`, 'x')),
    c(() => fs.readFileSync(`${R}/a/f.txt/..`)),
  ];
  // Writes through links: a dangling link's target is made; O_EXCL refuses the link itself.
  out.writes = [
    c(() => fs.writeFileSync(`${R}/dangling`, 'made')),
    fs.readFileSync(`${R}/nope`, 'utf8'),
    c(() => fs.writeFileSync(`${R}/a/rel`, 'x', { flag: 'wx' })),
    c(() => fs.appendFileSync(`${R}/a/rel`, '!')),
    fs.readFileSync(`${R}/a/f.txt`, 'utf8'),
    c(() => fs.copyFileSync(`${R}/a/rel`, `${R}/copy`)),
    fs.readFileSync(`${R}/copy`, 'utf8'),
    c(() => fs.mkdirSync(`${R}/la`)),
    c(() => fs.mkdirSync(`${R}/la`, { recursive: true })),
    c(() => fs.mkdirSync(`${R}/la/new/x`, { recursive: true })),
    c(() => fs.mkdirSync(`${R}/loop1/x`, { recursive: true })),
    c(() => fs.mkdirSync(`${R}/a/f.txt/x`, { recursive: true })),
    c(() => fs.mkdirSync(`${R}/a/../m/n`, { recursive: true })),
    c(() => fs.rmdirSync(`${R}/la`)),
  ];
  out.recursive = fs.readdirSync(R, { recursive: true });
  out.recursiveTypes = fs.readdirSync(`${R}/a/`, { recursive: true, withFileTypes: true })
    .map((d) => [d.name, d.path, d.parentPath, d.isFile(), d.isDirectory(), d.isSymbolicLink()]);
  out.recursiveFrom = [
    fs.readdirSync(`${R}/la/./b`, { recursive: true }),
    fs.readdirSync(`${R}/a/b`, { recursive: false }),
    c(() => fs.readdirSync(`${R}/a/f.txt`, { recursive: true })),
    c(() => fs.readdirSync(R, { recursive: 1 })),
    await fs.promises.readdir(`${R}/a/b`, { recursive: true }),
    await new Promise((resolve) => fs.readdir(`${R}/m`, { recursive: true }, (e, v) => resolve([e, v]))),
  ];
  // A directory holding a link to itself: Node walks it until Linux's 40 links end the path.
  fs.mkdirSync(`${R}/s`);
  fs.symlinkSync('.', `${R}/s/self`);
  const selfs = fs.readdirSync(`${R}/s`, { recursive: true });
  out.selfLoop = [selfs.length, selfs[selfs.length - 1].split('/').length,
    fs.readdirSync(`${R}/s`, { recursive: true, withFileTypes: true }).length];
  // Removing links removes the link, never its target.
  out.removed = [
    c(() => fs.unlinkSync(`${R}/dangling`)),
    fs.existsSync(`${R}/nope`),
    c(() => fs.rmSync(`${R}/la`, { recursive: true })),
    fs.existsSync(`${R}/a/f.txt`),
    c(() => fs.renameSync(`${R}/a/rel`, `${R}/rel2`)),
    fs.readlinkSync(`${R}/rel2`),
    // The moved relative link now points beside its new place.
    c(() => fs.readFileSync(`${R}/rel2`, 'utf8')),
    await fs.promises.symlink('a/f.txt', `${R}/p`).then(() => fs.readFileSync(`${R}/p`, 'utf8')),
    await new Promise((resolve) => fs.symlink('a', `${R}/q`, (e) => resolve([e, fs.readdirSync(`${R}/q`).length]))),
    await fs.promises.readlink(`${R}/q`),
    await fs.promises.lstat(`${R}/q`).then((s) => s.isSymbolicLink()),
    fs.readdirSync(R, { withFileTypes: true }).filter((d) => d.isSymbolicLink()).map((d) => d.name),
  ];
  return JSON.parse(JSON.stringify(out).replaceAll(R, '<R>'));
}
