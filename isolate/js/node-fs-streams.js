// ---- node-fs-streams.js: fs.createReadStream / createWriteStream (node:stream over an fd). ----
// ReadStream: a Readable reading `highWaterMark` bytes (64 KiB) at a time from `start` to `end`
// (inclusive, as Node), emitting "open" (fd) and "ready", closing its fd at the end unless
// `autoClose: false`. WriteStream: a Writable writing each chunk at the fd's position (flags "w"
// unless given), closing its fd on finish. Guarantees: reads and writes go through node-fs.js's
// fd table and the /tmp caps; an error (ENOENT, EISDIR, ENOSPC...) destroys the stream with
// Node's error. Trusts: node-fs.js and node:stream.

function fsStreamClasses(core, sync) {
  const { Readable, Writable } = builtinExports("node:stream");
  const { Buffer } = builtinExports("node:buffer");

  class ReadStream extends Readable {
    constructor(path, options) {
      const opts = core.optionsOf(options);
      super({ highWaterMark: opts.highWaterMark ?? 65536, encoding: opts.encoding });
      this.path = typeof opts.fd === "number" ? undefined : path;
      this.start = opts.start;
      this.end = opts.end ?? Infinity;
      this.autoClose = opts.autoClose !== false;
      this.bytesRead = 0;
      this.pending = true;
      this.fd = typeof opts.fd === "number" ? opts.fd : null;
      this.position = typeof this.start === "number" ? this.start : undefined;
      if (this.fd === null) {
        try {
          this.fd = sync.openSync(path, opts.flags ?? "r");
        } catch (e) {
          armInternalTimer(() => this.destroy(e), 0);
          return;
        }
      }
      this.pending = false;
      const fd = this.fd;
      armInternalTimer(() => {
        this.emit("open", fd);
        this.emit("ready");
      }, 0);
    }
    _read(size) {
      if (this.fd === null) return;
      try {
        let want = size;
        if (this.end !== Infinity) {
          const left = this.end - (this.position ?? this.bytesRead) + 1;
          want = left < want ? left : want;
        }
        if (want <= 0) return this.push(null);
        const buffer = Buffer.alloc(want);
        const n = sync.readSync(this.fd, buffer, 0, want, this.position ?? null);
        if (this.position !== undefined) this.position += n;
        this.bytesRead += n;
        this.push(n === 0 ? null : buffer.subarray(0, n));
      } catch (e) {
        this.destroy(e);
      }
    }
    _destroy(error, callback) {
      if (this.autoClose && typeof this.fd === "number") {
        try { sync.closeSync(this.fd); } catch {}
        this.fd = null;
        armInternalTimer(() => this.emit("close"), 0);
      }
      callback(error);
    }
    close(callback) {
      if (typeof callback === "function") this.once("close", callback);
      this.destroy();
    }
  }

  class WriteStream extends Writable {
    constructor(path, options) {
      const opts = core.optionsOf(options);
      super({ highWaterMark: opts.highWaterMark, decodeStrings: true, emitClose: false });
      this.path = typeof opts.fd === "number" ? undefined : path;
      this.bytesWritten = 0;
      this.autoClose = opts.autoClose !== false;
      this.pending = true;
      this.fd = typeof opts.fd === "number" ? opts.fd : null;
      this.position = typeof opts.start === "number" ? opts.start : undefined;
      if (this.fd === null) {
        try {
          this.fd = sync.openSync(path, opts.flags ?? "w", opts.mode);
        } catch (e) {
          armInternalTimer(() => this.destroy(e), 0);
          return;
        }
      }
      this.pending = false;
      const fd = this.fd;
      armInternalTimer(() => {
        this.emit("open", fd);
        this.emit("ready");
      }, 0);
    }
    _write(chunk, encoding, callback) {
      try {
        const n = sync.writeSync(this.fd, chunk, 0, chunk.length, this.position ?? null);
        if (this.position !== undefined) this.position += n;
        this.bytesWritten += n;
        callback();
      } catch (e) {
        callback(e);
      }
    }
    // Closes the fd once everything is written (Node's autoClose), then "close".
    _final(callback) {
      if (this.autoClose && typeof this.fd === "number") {
        try { sync.closeSync(this.fd); } catch {}
        this.fd = null;
        armInternalTimer(() => this.emit("close"), 0);
      }
      callback();
    }
    _destroy(error, callback) {
      if (this.autoClose && typeof this.fd === "number") {
        try { sync.closeSync(this.fd); } catch {}
        this.fd = null;
        armInternalTimer(() => this.emit("close"), 0);
      }
      callback(error);
    }
    close(callback) {
      if (typeof callback === "function") this.once("close", callback);
      this.end();
    }
  }


  return {
    __proto__: null, ReadStream, WriteStream,
    createReadStream: (path, options) => new ReadStream(path, options),
    createWriteStream: (path, options) => new WriteStream(path, options),
  };
}
