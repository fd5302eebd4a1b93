// ---- node-fs-vfs.js: node:fs's virtual file system (the tree, paths, errors, Stats). ----------
// The tree Cloudflare's node:fs shows (workerd's filesystem.c++): `/bundle` (the worker's modules,
// read-only, each under its name: listed by the host's bundle op when first touched, its bytes
// read from the host at each read, never kept here; isolate/src/bundle.rs), `/tmp` (writable,
// in memory, one per request: node-fs-scope.js, where symbolic links may be made),
// `/dev` (null, zero, full, random, urandom).
// Guarantees: every path is resolved here against that tree, never against a host file system
// (there is no host call), component by component as Linux does: a symbolic link on the way is
// followed (a relative target from the link's directory, ".." from where a link led), at most
// MAX_LINKS per resolution (ELOOP past it); a write anywhere but under /tmp is EPERM; the bytes
// and files under the /tmp of the live requests are capped isolate-wide (TMP_MAX_BYTES,
// TMP_MAX_FILES: ENOSPC past them, the isolate lives on; a link counts as a file, its target at
// most PATH_MAX bytes); errors are Node's (code, errno, syscall, path, dest, and the message
// "CODE: description, syscall 'path'"). Internal state is in null-prototype records
// tenant code never sees. Trusts: the captured primordials of the eager parts; the host's bundle
// ops to answer what they are asked (a read at most its length, within the file).

function fsVfs() {
  const TMP_MAX_BYTES = 64 * 1024 * 1024;
  const TMP_MAX_FILES = 10000;
  // The host's bundle ops (isolate/src/bundle.rs) and the most bytes one read answers.
  const BUNDLE_LIST = 0x7f01, BUNDLE_READ = 0x7f02, BUNDLE_READ_MAX = 8 << 20;
  const S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFLNK = 0o120000;
  // Linux's MAXSYMLINKS (links followed in one resolution) and PATH_MAX (a link's target).
  const MAX_LINKS = 40, PATH_MAX = 4096;
  const ERRNO = {
    __proto__: null,
    EPERM: [-1, "operation not permitted"], ENOENT: [-2, "no such file or directory"],
    EBADF: [-9, "bad file descriptor"], EACCES: [-13, "permission denied"],
    EEXIST: [-17, "file already exists"], EXDEV: [-18, "cross-device link not permitted"],
    ENOTDIR: [-20, "not a directory"], EISDIR: [-21, "illegal operation on a directory"],
    EINVAL: [-22, "invalid argument"], EMFILE: [-24, "too many open files"],
    ENOSPC: [-28, "no space left on device"], ENOTEMPTY: [-39, "directory not empty"],
    ENOSYS: [-38, "function not implemented"], ENAMETOOLONG: [-36, "name too long"],
    ELOOP: [-40, "too many symbolic links encountered"],
  };
  let inodes = 1;

  /** Node's uvException: `code: description, syscall 'path' -> 'dest'`. */
  function fsError(code, syscall, path, dest) {
    const [errno, text] = ERRNO[code];
    let message = `${code}: ${text}, ${syscall}`;
    if (path !== undefined) message += ` '${path}'`;
    if (dest !== undefined) message += ` -> '${dest}'`;
    const e = new Error(message);
    e.errno = errno;
    e.code = code;
    e.syscall = syscall;
    if (path !== undefined) e.path = path;
    if (dest !== undefined) e.dest = dest;
    return e;
  }

  function newNode(kind, mode, extra) {
    const now = DateNow();
    const node = {
      __proto__: null, kind, mode, ino: inodes++, atimeMs: now, mtimeMs: now, ctimeMs: now,
      birthtimeMs: now, entries: null, data: null, size: 0, device: null, readonly: false, scope: null,
      module: -1, // a /bundle file: its index in the host's list (its bytes stay there)
      target: null, // a symbolic link: the path it holds, as given
    };
    if (kind === "dir") node.entries = new MapCtor();
    if (extra !== undefined) ObjectAssignInto(node, extra);
    return node;
  }
  function ObjectAssignInto(target, source) {
    const keys = ObjectKeys(source);
    for (let i = 0; i < keys.length; i++) target[keys[i]] = source[keys[i]];
  }

  const dev = newNode("dir", S_IFDIR | 0o755, { readonly: true });
  const DEVICES = ["full", "null", "random", "urandom", "zero"];
  for (let i = 0; i < DEVICES.length; i++) {
    MapSet(dev.entries, DEVICES[i], newNode("dev", S_IFCHR | 0o666, { device: DEVICES[i] }));
  }
  const bundle = newNode("dir", S_IFDIR | 0o555, { readonly: true });
  const root = newNode("dir", S_IFDIR | 0o555, { readonly: true });
  let bundleListed = false;

  /** /bundle, its files listed from the host on first use (names and sizes, no bytes). */
  function bundleDir() {
    if (bundleListed) return bundle;
    const fields = unpackFields(callOp(BUNDLE_LIST, []));
    bundleListed = true;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const size = fields[i + 1];
      addBundleFile(utf8Decode(fields[i]), i / 2, (size[0] | (size[1] << 8) | (size[2] << 16) | (size[3] << 24)) >>> 0);
    }
    return bundle;
  }

  /** Adds the host's module number `index` (`size` bytes) as /bundle/`name`, making its
   *  directories; a name under another module's name (a file) is left out. */
  function addBundleFile(name, index, size) {
    const parts = splitPath(`/${name}`);
    if (parts.length === 0) return;
    let dir = bundle;
    for (let i = 0; i < parts.length - 1; i++) {
      let next = MapGet(dir.entries, parts[i]);
      if (next === undefined) {
        next = newNode("dir", S_IFDIR | 0o555, { readonly: true });
        MapSet(dir.entries, parts[i], next);
      }
      if (next.kind !== "dir") return;
      dir = next;
    }
    const last = parts[parts.length - 1];
    if (MapGet(dir.entries, last) !== undefined) return;
    MapSet(dir.entries, last, newNode("file", S_IFREG | 0o444, { readonly: true, module: index, size }));
  }

  /** The scope's /tmp directory, made on first use. */
  function tmpOf(scope) {
    if (scope.tmp === null) scope.tmp = newNode("dir", S_IFDIR | 0o1777);
    return scope.tmp;
  }

  /** The path's components, "." and ".." resolved against "/" (process.cwd() is "/"). */
  function splitPath(path) {
    const out = [];
    for (let start = 0; start <= path.length;) {
      let end = StringIndexOf(path, "/", start);
      if (end === -1) end = path.length;
      const c = StringSlice(path, start, end);
      start = end + 1;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (out.length > 0) out.length--;
        continue;
      }
      out[out.length] = c;
    }
    return out;
  }

  function childOf(dir, name, scope) {
    if (dir === root) {
      if (name === "bundle") return bundleDir();
      if (name === "dev") return dev;
      if (name === "tmp") return tmpOf(scope);
      return undefined;
    }
    return MapGet(dir.entries, name);
  }

  /** Looks `path` up, following the symbolic links on the way, and the last component's when
   *  `follow`: {node (undefined when missing), parent (the directory it is or would be in; null
   *  for "/"), name, real (the resolved path's components)}. ENOENT/ENOTDIR for a missing or
   *  non-directory ancestor, ELOOP past MAX_LINKS links. A trailing "/" is not looked at (Linux
   *  would follow a last link then; here `lstat` and the removals always take the link itself). */
  function lookup(path, syscall, scope, follow = true) {
    // What is left to walk, last component first (a link's target is pushed in its place).
    const todo = [];
    pushComponents(todo, path);
    const nodes = [root], names = [];
    let links = 0;
    while (todo.length > 0) {
      const c = todo[todo.length - 1];
      todo.length--;
      const dir = nodes[nodes.length - 1];
      if (dir === undefined) throw fsError("ENOENT", syscall, path);
      if (dir.kind !== "dir") throw fsError("ENOTDIR", syscall, path);
      if (c === ".") continue;
      if (c === "..") {
        if (names.length > 0) {
          nodes.length--;
          names.length--;
        }
        continue;
      }
      const child = childOf(dir, c, scope);
      if (child !== undefined && child.kind === "link" && (todo.length > 0 || follow)) {
        if (++links > MAX_LINKS) throw fsError("ELOOP", syscall, path);
        if (child.target[0] === "/") {
          nodes.length = 1;
          names.length = 0;
        }
        pushComponents(todo, child.target);
        continue;
      }
      nodes[nodes.length] = child;
      names[names.length] = c;
    }
    const n = names.length;
    return {
      __proto__: null, node: nodes[n], parent: n === 0 ? null : nodes[n - 1], name: n === 0 ? "" : names[n - 1],
      real: names,
    };
  }

  /** Pushes the components of `path` onto `todo`, last first (empty ones left out). */
  function pushComponents(todo, path) {
    const parts = [];
    for (let start = 0; start <= path.length;) {
      let end = StringIndexOf(path, "/", start);
      if (end === -1) end = path.length;
      if (end > start) parts[parts.length] = StringSlice(path, start, end);
      start = end + 1;
    }
    for (let i = parts.length - 1; i >= 0; i--) todo[todo.length] = parts[i];
  }

  function existing(path, syscall, scope, follow = true) {
    const found = lookup(path, syscall, scope, follow);
    if (found.node === undefined) throw fsError("ENOENT", syscall, path);
    return found.node;
  }

  /** Whether `dir` may be changed (only /tmp and what is under it). */
  function writable(dir) {
    return dir !== null && dir.kind === "dir" && !dir.readonly && dir !== root;
  }

  /** Makes the entry `name` in `parent` (under the scope's /tmp), counting it; a link holds
   *  `target` (checked by the caller). */
  function create(parent, name, kind, mode, scope, syscall, path, target) {
    if (!writable(parent)) throw fsError("EPERM", syscall, path);
    if (fsScopes.files >= TMP_MAX_FILES) throw fsError("ENOSPC", syscall, path);
    const type = kind === "dir" ? S_IFDIR : kind === "link" ? S_IFLNK : S_IFREG;
    const node = newNode(kind, type | (kind === "link" ? 0o777 : mode & 0o7777), { scope });
    if (kind === "file") node.data = new Uint8ArrayCtor(0);
    if (kind === "link") {
      node.target = target;
      node.size = typedArrayByteLength(utf8Encode(target));
    }
    MapSet(parent.entries, name, node);
    scope.files++;
    fsScopes.files++;
    parent.mtimeMs = parent.ctimeMs = node.birthtimeMs;
    return node;
  }

  /** Forgets `node` (and what is under it) from its scope's counts. */
  function uncount(node) {
    if (node.kind === "dir") {
      MapForEach(node.entries, (child) => uncount(child));
    } else if (node.kind === "file") {
      resize(node, 0, "unlink");
    }
    const scope = node.scope;
    if (scope !== null && !scope.released) {
      scope.files--;
      fsScopes.files--;
    }
  }

  /** Sets a file's size to `size` (zero-filled), checking the isolate's /tmp byte cap. */
  function resize(node, size, syscall, path) {
    const scope = node.scope;
    const delta = size - node.size;
    if (delta > 0 && scope !== null && !scope.released && fsScopes.bytes + delta > TMP_MAX_BYTES) {
      throw fsError("ENOSPC", syscall, path);
    }
    if (size > typedArrayByteLength(node.data)) {
      let capacity = fsMathMax(size, typedArrayByteLength(node.data) * 2, 64);
      if (capacity > TMP_MAX_BYTES) capacity = size;
      const grown = new Uint8ArrayCtor(capacity);
      typedArraySet(grown, fsSubarray(node.data, 0, node.size));
      node.data = grown;
    } else if (size < node.size) {
      typedArrayFill(node.data, 0, size, node.size);
    }
    node.size = size;
    if (scope !== null && !scope.released) {
      scope.bytes += delta;
      fsScopes.bytes += delta;
    }
  }

  /** Writes `bytes` into file `node` at `position`, growing it as needed. */
  function writeAt(node, bytes, position, syscall) {
    if (node.kind === "dev") {
      if (node.device === "full") throw fsError("ENOSPC", syscall);
      return typedArrayByteLength(bytes);
    }
    if (node.readonly) throw fsError("EBADF", syscall);
    const n = typedArrayByteLength(bytes);
    if (position + n > node.size) resize(node, position + n, syscall);
    typedArraySet(node.data, bytes, position);
    node.mtimeMs = node.ctimeMs = DateNow();
    return n;
  }

  /** Reads up to `length` bytes of `node` from `position` into `target` at `offset`. */
  function readAt(node, target, offset, length, position) {
    if (node.kind === "dev") {
      if (node.device === "null") return 0;
      const view = fsSubarray(target, offset, offset + length);
      if (node.device === "random" || node.device === "urandom") {
        for (let at = 0; at < length; at += 65536) hostRandomFill(fsSubarray(view, at, MathMin(at + 65536, length)));
      } else {
        typedArrayFill(view, 0);
      }
      return length;
    }
    if (position >= node.size) return 0;
    const n = MathMin(length, node.size - position);
    if (node.module !== -1) {
      let at = 0;
      while (at < n) {
        const got = callOp(BUNDLE_READ, [node.module, position + at, MathMin(n - at, BUNDLE_READ_MAX)]);
        const len = typedArrayByteLength(got);
        if (len === 0) break;
        typedArraySet(target, got, offset + at);
        at += len;
      }
      node.atimeMs = DateNow();
      return at;
    }
    typedArraySet(target, fsSubarray(node.data, position, position + n), offset);
    node.atimeMs = DateNow();
    return n;
  }

  /** The bytes of file `node` (a copy). */
  function contents(node) {
    if (node.kind === "dev") return new Uint8ArrayCtor(0);
    const out = new Uint8ArrayCtor(node.size);
    if (node.module !== -1) {
      readAt(node, out, 0, node.size, 0);
      return out;
    }
    typedArraySet(out, fsSubarray(node.data, 0, node.size));
    return out;
  }

  class Stats {
    constructor(node) {
      this.dev = node.kind === "dev" ? 6 : node.readonly ? 1 : 2;
      this.mode = node.mode;
      this.nlink = 1;
      this.uid = 0;
      this.gid = 0;
      this.rdev = 0;
      this.blksize = 4096;
      this.ino = node.ino;
      this.size = node.kind === "file" || node.kind === "link" ? node.size : 0;
      this.blocks = fsMathCeil(this.size / 512);
      this.atimeMs = node.atimeMs;
      this.mtimeMs = node.mtimeMs;
      this.ctimeMs = node.ctimeMs;
      this.birthtimeMs = node.birthtimeMs;
      this.atime = new FsDate(node.atimeMs);
      this.mtime = new FsDate(node.mtimeMs);
      this.ctime = new FsDate(node.ctimeMs);
      this.birthtime = new FsDate(node.birthtimeMs);
    }
    isFile() { return (this.mode & 0o170000) === S_IFREG; }
    isDirectory() { return (this.mode & 0o170000) === S_IFDIR; }
    isCharacterDevice() { return (this.mode & 0o170000) === S_IFCHR; }
    isSymbolicLink() { return (this.mode & 0o170000) === S_IFLNK; }
    isBlockDevice() { return false; }
    isFIFO() { return false; }
    isSocket() { return false; }
  }

  class Dirent {
    constructor(name, node, parentPath) {
      this.name = name;
      this.parentPath = parentPath;
      this.path = parentPath;
      ObjectDefineProperty(this, "kind", { value: node.kind, enumerable: false });
    }
    isFile() { return this.kind === "file"; }
    isDirectory() { return this.kind === "dir"; }
    isCharacterDevice() { return this.kind === "dev"; }
    isSymbolicLink() { return this.kind === "link"; }
    isBlockDevice() { return false; }
    isFIFO() { return false; }
    isSocket() { return false; }
  }

  /** The names in directory `node`, sorted (Node's order is the file system's). */
  function names(node) {
    if (node === root) return ["bundle", "dev", "tmp"];
    const out = [];
    MapForEach(node.entries, (_, name) => { out[out.length] = name; });
    return fsArraySort(out);
  }

  return {
    __proto__: null, fsError, lookup, existing, create, uncount, resize, writeAt, readAt, contents,
    names, childOf, writable, splitPath, Stats, Dirent, root, PATH_MAX,
    S_IFREG, S_IFDIR, S_IFCHR,
  };
}
