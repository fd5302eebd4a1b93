// ---- node-fs-api.js: node:fs and node:fs/promises (callbacks, promises, streams, constants). --
// The callback form of every synchronous call (node-fs.js) answers on a later turn of the event
// loop (`callback(err, value)`); `fs.promises` / node:fs/promises are async functions over the
// same calls, `open` giving a FileHandle; createReadStream / createWriteStream are node:stream
// Readable/Writable over an fd. What Cloudflare's node:fs lacks throws Node's
// ERR_METHOD_NOT_IMPLEMENTED (watch, watchFile, symlinks and hard links, chown, glob, opendir,
// cp, statfs). Guarantees: the module's state is the isolate's fd table and tree (node-fs.js);
// a callback runs on the runtime's own timers, never tenant-replaceable globals.
// Trusts: node-fs.js.

function fsModules() {
  const core = fsSyncApi();
  const sync = core.sync;
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
  const UNSUPPORTED = ["watch", "watchFile", "unwatchFile", "symlink", "symlinkSync", "link", "linkSync",
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
  const PROMISE_UNSUPPORTED = ["watch", "symlink", "link", "chown", "lchown", "glob", "opendir", "cp", "statfs", "lutimes"];
  for (let i = 0; i < PROMISE_UNSUPPORTED.length; i++) {
    const name = PROMISE_UNSUPPORTED[i];
    promises[name] = async () => unsupported(name)();
  }

  const constants = ObjectFreeze({
    __proto__: null,
    F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128,
    O_NOCTTY: 256, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536, O_NOFOLLOW: 131072, O_SYNC: 1052672,
    O_DSYNC: 4096, O_NONBLOCK: 2048, S_IFMT: 0o170000, S_IFREG: 0o100000, S_IFDIR: 0o040000,
    S_IFCHR: 0o020000, S_IFBLK: 0o060000, S_IFIFO: 0o010000, S_IFLNK: 0o120000, S_IFSOCK: 0o140000,
    S_IRWXU: 0o700, S_IRUSR: 0o400, S_IWUSR: 0o200, S_IXUSR: 0o100, S_IRWXG: 0o70, S_IRGRP: 0o40,
    S_IWGRP: 0o20, S_IXGRP: 0o10, S_IRWXO: 0o7, S_IROTH: 0o4, S_IWOTH: 0o2, S_IXOTH: 0o1,
    COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, COPYFILE_FICLONE_FORCE: 4, UV_FS_COPYFILE_EXCL: 1,
  });
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
  "mkdtempSync", "chmodSync", "utimesSync", "fsyncSync", "fdatasyncSync", "readlinkSync",
  "open", "close", "read", "write", "readFile", "writeFile", "appendFile", "stat", "lstat", "fstat", "exists",
  "access", "readdir", "mkdir", "unlink", "rmdir", "rm", "rename", "copyFile", "truncate", "ftruncate",
  "realpath", "mkdtemp", "chmod", "utimes", "fsync", "fdatasync", "readlink",
  "watch", "watchFile", "unwatchFile", "symlink", "symlinkSync", "link", "linkSync", "chown", "chownSync",
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
