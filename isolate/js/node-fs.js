// ---- node-fs.js: node:fs's synchronous API over the virtual file system (node-fs-vfs.js). ------
// readFileSync, writeFileSync, appendFileSync, existsSync, accessSync, stat/lstat/fstatSync,
// mkdirSync (recursive), rmSync, rmdirSync, unlinkSync, renameSync, copyFileSync,
// open/read/write/close/fsync/ftruncateSync with numeric fds, truncateSync, mkdtempSync, chmodSync
// and utimesSync, as Node 20 does them on that tree (errors included; symbolic links followed
// where Linux follows them, not by lstat, unlink, rmdir, rm, rename and mkdir's last component);
// readdir, symbolic links and realpath are node-fs-api.js's. Guarantees: an fd names an
// open-file record of this isolate's table (at most MAX_FDS at once, EMFILE past it); every path
// goes through the tree's lookup; arguments are checked as Node checks them
// (ERR_INVALID_ARG_TYPE). Trusts: node-fs-vfs.js and the captured primordials.

function fsSyncApi() {
  const vfs = fsVfs();
  const { Buffer } = builtinExports("node:buffer");
  const { fsError, lookup, existing } = vfs;
  const MAX_FDS = 1024;
  const fds = new MapCtor(); // fd -> { node, position, read, write, append }
  let nextFd = 3;

  function pathOf(value, name = "path") {
    if (typeof value === "string") return value;
    if (value !== null && typeof value === "object" && typedArrayName(value) === "Uint8Array") return utf8Decode(value);
    if (value instanceof URL && value.protocol === "file:") return decodeURIComponent(value.pathname);
    throw invalidArgType(name, "of type string or an instance of Buffer or URL", value);
  }
  const optionsOf = (options) => (typeof options === "string" ? { __proto__: null, encoding: options }
    : options !== null && typeof options === "object" ? options : { __proto__: null });

  function bytesOf(data, encoding, name = "data") {
    if (typeof data === "string") return encoding && encoding !== "utf8" && encoding !== "utf-8" ? Buffer.from(data, encoding) : utf8Encode(data);
    if (data !== null && typeof data === "object" && (typedArrayName(data) !== undefined || isDataView(data))) return bufferSourceBytes(data, name);
    throw invalidArgType(name, "of type string or an instance of Buffer, TypedArray, or DataView", data);
  }
  const toBuffer = (u8) => Buffer.from(typedArrayBuffer(u8), typedArrayByteOffset(u8), typedArrayByteLength(u8));
  const decoded = (u8, encoding) => (encoding && encoding !== "buffer" ? toBuffer(u8).toString(encoding) : toBuffer(u8));

  const FLAGS = {
    __proto__: null, r: [1, 0, 0, 0, 0, 0], "r+": [1, 1, 0, 0, 0, 0], rs: [1, 0, 0, 0, 0, 0], "rs+": [1, 1, 0, 0, 0, 0],
    w: [0, 1, 1, 0, 1, 0], wx: [0, 1, 1, 1, 1, 0], "w+": [1, 1, 1, 0, 1, 0], "wx+": [1, 1, 1, 1, 1, 0],
    a: [0, 1, 1, 0, 0, 1], ax: [0, 1, 1, 1, 0, 1], as: [0, 1, 1, 0, 0, 1], "a+": [1, 1, 1, 0, 0, 1],
    "ax+": [1, 1, 1, 1, 0, 1], "as+": [1, 1, 1, 0, 0, 1],
  };
  /** [read, write, create, exclusive, truncate, append] for a flag string or number. */
  function flagsOf(flags, fallback) {
    if (flags === undefined || flags === null) flags = fallback;
    if (typeof flags === "number") {
      const access = flags & 3;
      return [access !== 1 ? 1 : 0, access !== 0 ? 1 : 0, flags & 64 ? 1 : 0, flags & 128 ? 1 : 0, flags & 512 ? 1 : 0, flags & 1024 ? 1 : 0];
    }
    const found = FLAGS[`${flags}`];
    if (found === undefined) {
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'flags' is invalid. Received ${JSONStringify(`${flags}`)}`);
    }
    return found;
  }

  function openSync(path, flags, mode = 0o666) {
    const p = pathOf(path);
    // Indexed, not destructured: tenant code may have replaced the array iterator.
    const f = flagsOf(flags, "r");
    const read = f[0], write = f[1], create = f[2], exclusive = f[3], truncate = f[4], append = f[5];
    const scope = fsCurrentScope();
    // O_CREAT|O_EXCL refuses any entry there, a dangling link too; otherwise links are followed.
    if (create && exclusive && lookup(p, "open", scope, false).node !== undefined) throw fsError("EEXIST", "open", p);
    const found = lookup(p, "open", scope);
    let node = found.node;
    if (node === undefined) {
      if (!create) throw fsError("ENOENT", "open", p);
      if (found.parent === null || found.parent.kind !== "dir") throw fsError("ENOENT", "open", p);
      node = vfs.create(found.parent, found.name, "file", typeof mode === "number" ? mode : 0o666, scope, "open", p);
    } else {
      if (create && exclusive) throw fsError("EEXIST", "open", p);
      if (node.kind === "dir" && write) throw fsError("EISDIR", "open", p);
      if (write && node.readonly) throw fsError("EPERM", "open", p);
      if (truncate && node.kind === "file") vfs.resize(node, 0, "open", p);
    }
    if (fds.size >= MAX_FDS) throw fsError("EMFILE", "open", p);
    const fd = nextFd++;
    MapSet(fds, fd, { __proto__: null, node, position: 0, read: read === 1, write: write === 1, append: append === 1 });
    return fd;
  }

  function fileOf(fd, syscall) {
    if (typeof fd !== "number") throw invalidArgType("fd", "of type number", fd);
    const file = MapGet(fds, fd);
    if (file === undefined) throw fsError("EBADF", syscall);
    return file;
  }

  function closeSync(fd) {
    fileOf(fd, "close");
    MapDelete(fds, fd);
  }

  function readSync(fd, buffer, offset, length, position) {
    const file = fileOf(fd, "read");
    if (offset !== null && typeof offset === "object" && typedArrayName(offset) === undefined) {
      ({ offset, length, position } = offset);
    }
    if (buffer === null || typeof buffer !== "object" || (typedArrayName(buffer) === undefined && !isDataView(buffer))) {
      throw invalidArgType("buffer", "an instance of Buffer, TypedArray, or DataView", buffer);
    }
    const target = bufferSourceBytes(buffer, "buffer");
    offset = offset ?? 0;
    length = length ?? typedArrayByteLength(target) - offset;
    validateInteger(offset, "offset", 0, typedArrayByteLength(target));
    validateInteger(length, "length", 0, typedArrayByteLength(target) - offset);
    if (!file.read) throw fsError("EBADF", "read");
    if (file.node.kind === "dir") throw fsError("EISDIR", "read");
    const at = typeof position === "number" && position >= 0 ? position : file.position;
    const n = vfs.readAt(file.node, target, offset, length, at);
    if (!(typeof position === "number" && position >= 0)) file.position += n;
    return n;
  }

  function writeSync(fd, data, offsetOrPosition, lengthOrEncoding, position) {
    const file = fileOf(fd, "write");
    let bytes, at;
    if (typeof data === "string") {
      bytes = bytesOf(data, typeof lengthOrEncoding === "string" ? lengthOrEncoding : "utf8");
      at = offsetOrPosition;
    } else {
      bytes = bytesOf(data, undefined, "buffer");
      const offset = offsetOrPosition ?? 0;
      const length = lengthOrEncoding ?? typedArrayByteLength(bytes) - offset;
      validateInteger(offset, "offset", 0, typedArrayByteLength(bytes));
      validateInteger(length, "length", 0, typedArrayByteLength(bytes) - offset);
      bytes = fsSubarray(bytes, offset, offset + length);
      at = position;
    }
    if (!file.write) throw fsError("EBADF", "write");
    const explicit = typeof at === "number" && at >= 0 && !file.append;
    const where = file.append ? file.node.size : explicit ? at : file.position;
    const n = vfs.writeAt(file.node, bytes, where, "write");
    if (!explicit) file.position = where + n;
    return n;
  }

  function readFileSync(path, options) {
    const { encoding, flag } = optionsOf(options);
    const fd = typeof path === "number" ? path : openSync(path, flag ?? "r");
    try {
      const file = fileOf(fd, "read");
      if (file.node.kind === "dir") throw fsError("EISDIR", "read");
      if (!file.read) throw fsError("EBADF", "read");
      return decoded(vfs.contents(file.node), encoding);
    } finally {
      if (typeof path !== "number") closeSync(fd);
    }
  }

  function writeFileSync(path, data, options, fallbackFlag = "w") {
    const { encoding, flag, mode } = optionsOf(options);
    const bytes = bytesOf(data, encoding);
    const fd = typeof path === "number" ? path : openSync(path, flag ?? fallbackFlag, mode);
    try {
      writeSync(fd, bytes);
    } finally {
      if (typeof path !== "number") closeSync(fd);
    }
  }

  const appendFileSync = (path, data, options) => writeFileSync(path, data, options, "a");

  function statSync(path, options) {
    const p = pathOf(path);
    try {
      return new vfs.Stats(existing(p, "stat", fsCurrentScope()));
    } catch (e) {
      if (options?.throwIfNoEntry === false && e.code === "ENOENT") return undefined;
      throw e;
    }
  }
  function lstatSync(path, options) {
    const p = pathOf(path);
    try {
      return new vfs.Stats(existing(p, "lstat", fsCurrentScope(), false));
    } catch (e) {
      if (options?.throwIfNoEntry === false && e.code === "ENOENT") return undefined;
      throw e;
    }
  }
  const fstatSync = (fd) => new vfs.Stats(fileOf(fd, "fstat").node);

  function existsSync(path) {
    try {
      existing(pathOf(path), "access", fsCurrentScope());
      return true;
    } catch {
      return false;
    }
  }

  /** As workerd's: ENOENT for what may not be written (W_OK) and for X_OK (nothing executes). */
  function accessSync(path, mode) {
    const p = pathOf(path);
    if (mode !== undefined && mode !== null) {
      if (typeof mode !== "number") throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", "mode must be int32 or null/undefined");
      if (mode !== mode) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "mode is out of range");
      if (mode < 0 || mode > 7) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "mode is out of range: >= 0 && <= 7");
    }
    const node = existing(p, "access", fsCurrentScope());
    if (mode & 1 || (mode & 2 && node.readonly)) throw fsError("ENOENT", "access", p);
  }

  function mkdirSync(path, options) {
    const p = pathOf(path);
    const opts = typeof options === "number" ? { __proto__: null, mode: options } : optionsOf(options);
    const mode = typeof opts.mode === "number" ? opts.mode : 0o777;
    const scope = fsCurrentScope();
    if (!opts.recursive) {
      const found = lookup(p, "mkdir", scope, false);
      if (found.node !== undefined) throw fsError("EEXIST", "mkdir", p);
      vfs.create(found.parent, found.name, "dir", mode, scope, "mkdir", p);
      return undefined;
    }
    // Node's mkdirp: up the path's parents (as written) to one whose parent exists, then down.
    const pending = [];
    for (let at = p; ; at = dirname(at)) {
      let found = null;
      try {
        found = lookup(at, "mkdir", scope, false);
      } catch (e) {
        if (e.code === "ENOTDIR" || e.code === "ELOOP") throw fsError(e.code, "mkdir", p);
        if (e.code !== "ENOENT") throw e;
      }
      if (found !== null && found.node !== undefined) {
        // The entry there, a link followed: a directory ends the climb, anything else fails.
        const dir = found.node.kind === "link" ? lookup(at, "mkdir", scope).node : found.node;
        if (dir === undefined) throw fsError("ENOENT", "mkdir", p);
        if (dir.kind !== "dir") throw fsError(pending.length === 0 ? "EEXIST" : "ENOTDIR", "mkdir", p);
        break;
      }
      pending[pending.length] = at;
      if (found !== null) break;
      if (dirname(at) === at) throw fsError("ENOENT", "mkdir", p);
    }
    for (let i = pending.length - 1; i >= 0; i--) {
      const found = lookup(pending[i], "mkdir", scope, false);
      if (found.node === undefined) vfs.create(found.parent, found.name, "dir", mode, scope, "mkdir", p);
    }
    return pending.length === 0 ? undefined : pending[pending.length - 1];
  }

  /** Node's path.dirname on POSIX (a relative path's parent is "."). */
  function dirname(path) {
    let end = path.length;
    while (end > 1 && path[end - 1] === "/") end--;
    let cut = end - 1;
    while (cut >= 0 && path[cut] !== "/") cut--;
    if (cut < 0) return ".";
    while (cut > 0 && path[cut - 1] === "/") cut--;
    return cut === 0 ? "/" : StringSlice(path, 0, cut);
  }

  /** Removes the entry `found` names (a lookup's answer) from its parent. */
  function detach(found, syscall, p) {
    if (!vfs.writable(found.parent) || found.node.readonly || found.parent === vfs.root) throw fsError("EPERM", syscall, p);
    MapDelete(found.parent.entries, found.name);
    vfs.uncount(found.node);
    found.parent.mtimeMs = found.parent.ctimeMs = DateNow();
  }

  function unlinkSync(path) {
    const p = pathOf(path);
    const found = lookup(p, "unlink", fsCurrentScope(), false);
    if (found.node === undefined) throw fsError("ENOENT", "unlink", p);
    if (found.node.kind === "dir") throw fsError("EISDIR", "unlink", p);
    detach(found, "unlink", p);
  }

  function rmdirSync(path, options) {
    const p = pathOf(path);
    const found = lookup(p, "rmdir", fsCurrentScope(), false);
    if (found.node === undefined) throw fsError("ENOENT", "rmdir", p);
    if (found.node.kind !== "dir") throw fsError("ENOTDIR", "rmdir", p);
    // A read-only parent refuses before emptiness is looked at (workerd's rm, Linux's rmdir).
    if (!vfs.writable(found.parent) || found.node.readonly) throw fsError("EPERM", "rmdir", p);
    if (found.node.entries.size > 0 && !optionsOf(options).recursive) throw fsError("ENOTEMPTY", "rmdir", p);
    detach(found, "rmdir", p);
  }

  function rmSync(path, options) {
    const p = pathOf(path);
    const { recursive, force } = optionsOf(options);
    const found = lookup(p, "rm", fsCurrentScope(), false);
    if (found.node === undefined) {
      if (force) return;
      throw fsError("ENOENT", "lstat", p);
    }
    if (found.node.kind === "dir" && !recursive) {
      const e = nodeError(Error, "ERR_FS_EISDIR", `Path is a directory: rm returned EISDIR (is a directory) ${p}`);
      e.errno = 21;
      e.syscall = "rm";
      e.path = p;
      throw e;
    }
    detach(found, "rm", p);
  }

  function renameSync(from, to) {
    const a = pathOf(from, "oldPath"), b = pathOf(to, "newPath");
    const scope = fsCurrentScope();
    const src = lookup(a, "rename", scope, false);
    if (src.node === undefined) throw fsError("ENOENT", "rename", a, b);
    const dst = lookup(b, "rename", scope, false);
    if (dst.parent === null || dst.parent.kind !== "dir") throw fsError("ENOENT", "rename", a, b);
    if (!vfs.writable(src.parent) || !vfs.writable(dst.parent) || src.node.readonly) throw fsError("EPERM", "rename", a, b);
    if (src.node.scope !== dst.parent.scope && dst.parent.scope !== null) throw fsError("EXDEV", "rename", a, b);
    if (dst.node !== undefined) {
      if (dst.node === src.node) return;
      if (dst.node.kind === "dir" && src.node.kind !== "dir") throw fsError("EISDIR", "rename", a, b);
      if (dst.node.kind !== "dir" && src.node.kind === "dir") throw fsError("ENOTDIR", "rename", a, b);
      if (dst.node.kind === "dir" && dst.node.entries.size > 0) throw fsError("ENOTEMPTY", "rename", a, b);
      vfs.uncount(dst.node);
    }
    MapDelete(src.parent.entries, src.name);
    MapSet(dst.parent.entries, dst.name, src.node);
    src.node.ctimeMs = DateNow();
  }

  function copyFileSync(from, to, mode = 0) {
    const a = pathOf(from, "src"), b = pathOf(to, "dest");
    const scope = fsCurrentScope();
    const src = lookup(a, "copyfile", scope);
    if (src.node === undefined) throw fsError("ENOENT", "copyfile", a, b);
    if (src.node.kind === "dir") throw fsError("EISDIR", "copyfile", a, b);
    const dst = lookup(b, "copyfile", scope);
    if (dst.node !== undefined && mode & 1) throw fsError("EEXIST", "copyfile", a, b);
    if (dst.node !== undefined && dst.node.kind === "dir") throw fsError("EISDIR", "copyfile", a, b);
    if (dst.parent === null || dst.parent.kind !== "dir") throw fsError("ENOENT", "copyfile", a, b);
    if (dst.node === undefined && !vfs.writable(dst.parent)) throw fsError("EPERM", "copyfile", a, b);
    if (dst.node !== undefined && dst.node.readonly) throw fsError("EPERM", "copyfile", a, b);
    writeFileSync(b, vfs.contents(src.node));
  }

  function truncateSync(path, len = 0) {
    const fd = typeof path === "number" ? path : openSync(path, "r+");
    try {
      ftruncateSync(fd, len);
    } finally {
      if (typeof path !== "number") closeSync(fd);
    }
  }
  function ftruncateSync(fd, len = 0) {
    const file = fileOf(fd, "ftruncate");
    validateInteger(len, "len", 0);
    if (!file.write || file.node.kind !== "file") throw fsError("EINVAL", "ftruncate");
    vfs.resize(file.node, len, "ftruncate");
  }

  function mkdtempSync(prefix) {
    const p = pathOf(prefix, "prefix");
    const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const random = new Uint8ArrayCtor(6);
    for (let attempt = 0; ; attempt++) {
      hostRandomFill(random);
      let suffix = "";
      for (let i = 0; i < 6; i++) suffix += chars[random[i] % 62];
      try {
        mkdirSync(`${p}${suffix}`, 0o700);
        return `${p}${suffix}`;
      } catch (e) {
        if (e.code !== "EEXIST" || attempt > 100) throw fsError(e.code, "mkdtemp", `${p}XXXXXX`);
      }
    }
  }

  function chmodSync(path, mode) {
    const p = pathOf(path);
    const node = existing(p, "chmod", fsCurrentScope());
    if (node.readonly || node.kind === "dev") throw fsError("EPERM", "chmod", p);
    node.mode = (node.mode & ~0o7777) | (mode & 0o7777);
    node.ctimeMs = DateNow();
  }
  function utimesSync(path, atime, mtime) {
    const p = pathOf(path);
    const node = existing(p, "utime", fsCurrentScope());
    if (node.readonly || node.kind === "dev") throw fsError("EPERM", "utime", p);
    const ms = (t) => (typeof t === "number" ? t * 1000 : +t);
    node.atimeMs = ms(atime);
    node.mtimeMs = ms(mtime);
  }
  const fsyncSync = (fd) => { fileOf(fd, "fsync"); };

  return {
    __proto__: null, vfs, fds, pathOf, bytesOf, decoded, toBuffer, fileOf, optionsOf,
    sync: {
      __proto__: null, openSync, closeSync, readSync, writeSync, readFileSync, writeFileSync, appendFileSync,
      statSync, lstatSync, fstatSync, existsSync, accessSync, mkdirSync, unlinkSync, rmdirSync,
      rmSync, renameSync, copyFileSync, truncateSync, ftruncateSync, mkdtempSync, chmodSync,
      utimesSync, fsyncSync, fdatasyncSync: fsyncSync,
    },
  };
}
