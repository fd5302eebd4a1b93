// ---- node-fs-api.js: node:fs and node:fs/promises (callbacks, promises, streams, constants). --
// readdirSync (Node 20's `recursive`: breadth first, paths relative to the directory, links to
// directories followed unless `withFileTypes`), symlinkSync, readlinkSync and realpathSync over
// the tree (symbolic links are made only under /tmp, as workerd's); then the module: the
// callback form of every synchronous call (node-fs.js) answers on a later turn of the event
// loop (`callback(err, value)`); `fs.promises` / node:fs/promises are async functions over the
// same calls, `open` giving a FileHandle; createReadStream / createWriteStream are node:stream
// Readable/Writable over an fd. What Cloudflare's node:fs lacks throws Node's
// ERR_METHOD_NOT_IMPLEMENTED (watch, watchFile, hard links, chown, glob, opendir,
// cp, statfs). Guarantees: the module's state is the isolate's fd table and tree (node-fs.js);
// a callback runs on the runtime's own timers, never tenant-replaceable globals.
// Trusts: node-fs.js.

function fsTreeSync(core) {
  const { vfs, pathOf, optionsOf } = core;
  const { fsError, lookup } = vfs;
  const { Buffer } = builtinExports("node:buffer");
  const named = (name, encoding) => (encoding === "buffer" ? Buffer.from(name) : name);

  function readdirSync(path, options) {
    const p = pathOf(path);
    const { withFileTypes, encoding, recursive } = optionsOf(options);
    if (recursive !== undefined && recursive !== null && typeof recursive !== "boolean") {
      throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE",
        `The "options.recursive" property must be of type boolean.${describeReceived(recursive)}`);
    }
    const scope = fsCurrentScope();
    const node = vfs.existing(p, "scandir", scope);
    if (node.kind !== "dir") throw fsError("ENOTDIR", "scandir", p);
    // Breadth first, as Node 20's readdirSyncRecursive: each directory's path as given, relative.
    const dirs = [node], paths = [p], prefixes = [""];
    const out = [];
    for (let d = 0; d < dirs.length; d++) {
      const names = vfs.names(dirs[d]);
      for (let i = 0; i < names.length; i++) {
        const child = vfs.childOf(dirs[d], names[i], scope);
        if (withFileTypes) out[out.length] = new vfs.Dirent(named(names[i], encoding), child, paths[d]);
        else out[out.length] = named(prefixes[d] + names[i], encoding);
        if (recursive !== true) continue;
        const at = joinPath(paths[d], names[i]);
        let dir = child;
        // Without withFileTypes Node stats each entry: a link to a directory is walked (Linux's
        // MAX_LINKS in one path ends a loop); a Dirent's type is the link's own.
        if (child.kind === "link" && !withFileTypes) {
          try {
            dir = lookup(at, "stat", scope).node;
          } catch {
            dir = undefined;
          }
        }
        if (dir === undefined || dir.kind !== "dir") continue;
        dirs[dirs.length] = dir;
        paths[paths.length] = at;
        prefixes[prefixes.length] = `${prefixes[d]}${names[i]}/`;
      }
    }
    return out;
  }

  /** Node's path.join(dir, name): "." and ".." resolved as written, a relative path kept so. */
  function joinPath(dir, name) {
    const whole = `${dir}/${name}`, absolute = whole[0] === "/";
    const parts = [];
    for (let start = 0; start <= whole.length;) {
      let end = StringIndexOf(whole, "/", start);
      if (end === -1) end = whole.length;
      const c = StringSlice(whole, start, end);
      start = end + 1;
      if (c === "" || c === ".") continue;
      if (c !== "..") parts[parts.length] = c;
      else if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.length--;
      else if (!absolute) parts[parts.length] = "..";
    }
    const joined = ArrayJoin(parts, "/");
    return absolute ? `/${joined}` : joined === "" ? "." : joined;
  }

  function symlinkSync(target, path, type) {
    const t = pathOf(target, "target"), p = pathOf(path);
    if (typeof type === "string" && type !== "dir" && type !== "file" && type !== "junction") {
      throw nodeError(Error, "ERR_FS_INVALID_SYMLINK_TYPE",
        `Symlink type must be one of "dir", "file", or "junction". Received "${type}"`);
    }
    const scope = fsCurrentScope();
    try {
      if (t === "") throw fsError("ENOENT", "symlink");
      if (typedArrayByteLength(utf8Encode(t)) >= vfs.PATH_MAX) throw fsError("ENAMETOOLONG", "symlink");
      const found = lookup(p, "symlink", scope, false);
      if (found.node !== undefined) throw fsError("EEXIST", "symlink");
      vfs.create(found.parent, found.name, "link", 0o777, scope, "symlink", p, t);
    } catch (e) {
      // Node names both: `symlink 'target' -> 'path'`.
      throw typeof e.errno === "number" && e.syscall !== undefined ? fsError(e.code, "symlink", t, p) : e;
    }
  }

  function readlinkSync(path, options) {
    const p = pathOf(path);
    const node = vfs.existing(p, "readlink", fsCurrentScope(), false);
    if (node.kind !== "link") throw fsError("EINVAL", "readlink", p);
    const { encoding } = optionsOf(options);
    if (encoding && encoding !== "buffer" && encoding !== "utf8" && encoding !== "utf-8") {
      return Buffer.from(node.target).toString(encoding);
    }
    return named(node.target, encoding);
  }

  /** As Node's realpathSync: the path resolved as written ("..", ".") first, then every link. */
  function realpathSync(path, options) {
    const p = `/${ArrayJoin(vfs.splitPath(pathOf(path)), "/")}`;
    const scope = fsCurrentScope();
    const last = vfs.existing(p, "lstat", scope, false);
    const found = last.kind === "link" ? lookup(p, "stat", scope) : lookup(p, "lstat", scope, false);
    if (found.node === undefined) throw fsError("ENOENT", "stat", p);
    return named(`/${ArrayJoin(found.real, "/")}`, optionsOf(options).encoding);
  }
  realpathSync.native = realpathSync;

  return { __proto__: null, readdirSync, symlinkSync, readlinkSync, realpathSync };
}

function fsModules() {
  const core = fsSyncApi();
  const sync = core.sync;
  const tree = fsTreeSync(core);
  const treeNames = ObjectKeys(tree);
  for (let i = 0; i < treeNames.length; i++) sync[treeNames[i]] = tree[treeNames[i]];
  fsScopes.enabled = true; // from now on, every invocation gets a /tmp of its own
  const fs = { __proto__: null };
  const names = ObjectKeys(sync);
  for (let i = 0; i < names.length; i++) fs[names[i]] = sync[names[i]];

  const later = (callback, error, value) => armInternalTimer(() => (error !== null ? callback(error) : callback(null, value)), 0);
  for (let i = 0; i < names.length; i++) {
    const name = StringSlice(names[i], 0, names[i].length - 4);
    if (name === "exists") continue;
    const fn = sync[names[i]];
    fs[name] = function (...args) {
      const callback = args[args.length - 1];
      if (typeof callback !== "function") throw invalidArgType("cb", "of type function", callback);
      args.length--;
      let value, error = null;
      try {
        value = ReflectApply(fn, undefined, args);
      } catch (e) {
        error = e;
      }
      // read/write answer (err, bytes, buffer) in Node.
      if (error === null && (name === "read" || name === "write")) {
        return armInternalTimer(() => callback(null, value, args[1]), 0);
      }
      later(callback, error, value);
    };
  }
  fs.realpath.native = fs.realpath;
  fs.exists = (path, callback) => {
    const found = sync.existsSync(path);
    armInternalTimer(() => callback(found), 0);
  };
  const unsupported = (name) => () => {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `The ${name} method is not implemented`);
  };
  const UNSUPPORTED = ["watch", "watchFile", "unwatchFile", "link", "linkSync",
    "chown", "chownSync", "lchown", "lchownSync", "fchown", "fchownSync", "glob", "globSync", "opendir",
    "opendirSync", "cp", "cpSync", "statfs", "statfsSync", "lutimes", "lutimesSync"];
  for (let i = 0; i < UNSUPPORTED.length; i++) fs[UNSUPPORTED[i]] = unsupported(UNSUPPORTED[i]);

  // ---- promises ----
  class FileHandle {
    #fd;
    constructor(fd) { this.#fd = fd; }
    get fd() { return this.#fd; }
    async read(buffer, offset, length, position) {
      if (buffer === undefined) buffer = core.toBuffer(new Uint8ArrayCtor(16384));
      const bytesRead = sync.readSync(this.#fd, buffer, offset, length, position);
      return { bytesRead, buffer };
    }
    async write(data, ...rest) {
      const bytesWritten = ReflectApply(sync.writeSync, undefined, [this.#fd, data, ...rest]);
      return { bytesWritten, buffer: data };
    }
    async readFile(options) { return sync.readFileSync(this.#fd, options); }
    async writeFile(data, options) { return sync.writeFileSync(this.#fd, data, options); }
    async appendFile(data, options) { return sync.appendFileSync(this.#fd, data, options); }
    async stat() { return sync.fstatSync(this.#fd); }
    async truncate(len) { return sync.ftruncateSync(this.#fd, len); }
    async sync() { return sync.fsyncSync(this.#fd); }
    async datasync() { return sync.fsyncSync(this.#fd); }
    async close() {
      if (this.#fd !== -1) sync.closeSync(this.#fd);
      this.#fd = -1;
    }
  }
  const promises = { __proto__: null };
  for (let i = 0; i < names.length; i++) {
    const name = StringSlice(names[i], 0, names[i].length - 4);
    if (name === "exists" || name === "read" || name === "write" || name === "close" || name === "fstat"
      || name === "ftruncate" || name === "fsync" || name === "fdatasync") continue;
    const fn = sync[names[i]];
    promises[name] = async (...args) => ReflectApply(fn, undefined, args);
  }
  promises.open = async (path, flags, mode) => new FileHandle(sync.openSync(path, flags, mode));
  promises.readFile = async (path, options) => (path instanceof FileHandle ? path.readFile(options) : sync.readFileSync(path, options));
  promises.writeFile = async (path, data, options) => (path instanceof FileHandle ? path.writeFile(data, options) : sync.writeFileSync(path, data, options));
  promises.appendFile = async (path, data, options) => (path instanceof FileHandle ? path.appendFile(data, options) : sync.appendFileSync(path, data, options));
  const PROMISE_UNSUPPORTED = ["watch", "link", "chown", "lchown", "glob", "opendir", "cp", "statfs", "lutimes"];
  for (let i = 0; i < PROMISE_UNSUPPORTED.length; i++) {
    const name = PROMISE_UNSUPPORTED[i];
    promises[name] = async () => unsupported(name)();
  }

  const constants = NODE_FS_CONSTANTS;
  promises.constants = constants;
  fs.constants = constants;
  fs.F_OK = 0; fs.R_OK = 4; fs.W_OK = 2; fs.X_OK = 1;
  fs.promises = promises;
  fs.Stats = core.vfs.Stats;
  fs.Dirent = core.vfs.Dirent;

  // ---- streams ----
  const streams = fsStreamClasses(core, sync);
  fs.createReadStream = streams.createReadStream;
  fs.createWriteStream = streams.createWriteStream;
  fs.ReadStream = streams.ReadStream;
  fs.WriteStream = streams.WriteStream;
  return { __proto__: null, fs, promises };
}

let fsBuilt = null;
const fsBuild = () => (fsBuilt === null ? (fsBuilt = fsModules()) : fsBuilt);

const FS_NAMES = [
  "openSync", "closeSync", "readSync", "writeSync", "readFileSync", "writeFileSync", "appendFileSync",
  "statSync", "lstatSync", "fstatSync", "existsSync", "accessSync", "readdirSync", "mkdirSync", "unlinkSync",
  "rmdirSync", "rmSync", "renameSync", "copyFileSync", "truncateSync", "ftruncateSync", "realpathSync",
  "mkdtempSync", "chmodSync", "utimesSync", "fsyncSync", "fdatasyncSync", "readlinkSync", "symlinkSync",
  "open", "close", "read", "write", "readFile", "writeFile", "appendFile", "stat", "lstat", "fstat", "exists",
  "access", "readdir", "mkdir", "unlink", "rmdir", "rm", "rename", "copyFile", "truncate", "ftruncate",
  "realpath", "mkdtemp", "chmod", "utimes", "fsync", "fdatasync", "readlink", "symlink",
  "watch", "watchFile", "unwatchFile", "link", "linkSync", "chown", "chownSync",
  "lchown", "lchownSync", "fchown", "fchownSync", "glob", "globSync", "opendir", "opendirSync", "cp", "cpSync",
  "statfs", "statfsSync", "lutimes", "lutimesSync",
  "constants", "F_OK", "R_OK", "W_OK", "X_OK", "promises", "Stats", "Dirent",
  "createReadStream", "createWriteStream", "ReadStream", "WriteStream",
];
const FS_PROMISES_NAMES = [
  "open", "readFile", "writeFile", "appendFile", "stat", "lstat", "access", "readdir", "mkdir", "unlink",
  "rmdir", "rm", "rename", "copyFile", "truncate", "realpath", "mkdtemp", "chmod", "utimes", "readlink",
  "watch", "symlink", "link", "chown", "lchown", "glob", "opendir", "cp", "statfs", "lutimes", "constants",
];
defineBuiltin("node:fs", FS_NAMES, () => fsBuild().fs);
defineBuiltin("node:fs/promises", FS_PROMISES_NAMES, () => fsBuild().promises);
