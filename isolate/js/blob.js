// ---- blob.js: Blob and File (W3C File API). -------------------------------------
// A Blob's bytes are one private, never-mutated Uint8Array, copied from its parts at construction:
// later writes to a source buffer do not show through, and slices share the bytes safely. Readers
// (text, arrayBuffer, bytes, stream) hand out copies. Internal code uses the hooks below:
//   isBlob(v), isFile(v), blobBytes(blob) (the private bytes: never hand them to tenant code),
//   blobType(blob), fileName(file), fileLastModified(file),
//   newBlobFromBytes(bytes, type) and newFileFromBytes(bytes, name, type, lastModified) (they keep
//   `bytes`: pass a private copy).
// Blob.stream() is the streams parts' internal byte stream over the bytes (fetch-body.js's
// streamOverBytes: bounded copies per pull, the public constructor is never involved).

const DateNow = Date.now;
const NO_BYTES = new ByteArray(0);
const byteLength = typedArrayLength; // of private arrays: never their (patchable) length getter
const BLOB_STREAM_CHUNK = 65536;

let isBlob; // (v) -> boolean
let blobBytes; // (blob) -> Uint8Array (private)
let blobType; // (blob) -> string
let newBlobFromBytes; // (bytes, type) -> Blob
let blobInit; // (blob, bytes, type) -> undefined (File's constructor)

/** The spec's type normalization: printable ASCII is lower-cased, anything else gives "". */
function normalizeBlobType(type) {
  return /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
}

/** WebIDL sequence<BlobPart>: each item converted as it is iterated (Blob, bytes or a string). */
function collectBlobParts(parts, what) {
  if (parts === undefined) return [];
  if (parts === null || (typeof parts !== "object" && typeof parts !== "function")) {
    throw new TypeError(`${what}: the first argument must be a sequence of parts`);
  }
  const method = parts[SymbolIterator];
  if (typeof method !== "function") throw new TypeError(`${what}: the first argument is not iterable`);
  const items = [];
  const iterator = ReflectApply(method, parts, []);
  if (iterator === null || (typeof iterator !== "object" && typeof iterator !== "function")) {
    throw new TypeError(`${what}: the iterator is not an object`);
  }
  const next = iterator.next;
  for (;;) {
    const step = ReflectApply(next, iterator, []);
    if (step === null || (typeof step !== "object" && typeof step !== "function")) {
      throw new TypeError(`${what}: the iterator result is not an object`);
    }
    if (step.done) break;
    const part = step.value;
    // appendToArray, not push: a patched Array.prototype.push would see the private copies.
    if (isBlob(part)) appendToArray(items, blobBytes(part));
    else if (isArrayBuffer(part) || typedArrayName(part) !== undefined || isDataView(part)) {
      appendToArray(items, bytesCopy(bufferSourceBytes(part, what)));
    } else appendToArray(items, toUSVString(part));
  }
  return items;
}

/** BlobPropertyBag (endings, then type). */
function readBlobOptions(options, what) {
  const endings = dictGet(options, "endings");
  let native = false;
  if (endings !== undefined) {
    const e = `${endings}`;
    if (e !== "transparent" && e !== "native") throw new TypeError(`${what}: invalid endings ${JSONStringify(e)}`);
    native = e === "native";
  }
  const type = dictGet(options, "type");
  return { native, type: type === undefined ? "" : normalizeBlobType(`${type}`) };
}

/** Concatenates the converted parts; with native endings every line break becomes "\n". */
function joinBlobParts(items, native) {
  // Index loops and appendToArray: the (patchable) array iterator and push never see the bytes.
  const chunks = [];
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const bytes = typeof item === "string" ? utf8Encode(native ? item.replace(/\r\n?/g, "\n") : item) : item;
    appendToArray(chunks, bytes);
    total += byteLength(bytes);
  }
  // One chunk is a private copy already, or a Blob's immutable bytes.
  return joinBytes(chunks, total);
}

/** `chunks` (Uint8Arrays, `total` bytes in all) as one Uint8Array: a lone chunk is itself. */
function joinBytes(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  const out = new ByteArray(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    typedArraySet(out, chunks[i], at);
    at += byteLength(chunks[i]);
  }
  return out;
}

/** WebIDL [Clamp] long long. */
function clampLongLong(value) {
  const x = Number(value);
  if (x !== x) return 0;
  const limit = Number.MAX_SAFE_INTEGER;
  if (x >= limit) return limit;
  if (x <= -limit) return -limit;
  const f = MathFloor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f === 0 ? 0 : f; // -0 becomes +0
  return f % 2 === 0 ? f : f + 1; // ties to even
}

class Blob {
  #bytes = NO_BYTES;
  #type = "";
  constructor(blobParts = undefined, options = undefined) {
    const items = collectBlobParts(blobParts, "Blob");
    const { native, type } = readBlobOptions(options, "Blob");
    this.#bytes = joinBlobParts(items, native);
    this.#type = type;
  }
  get size() { return byteLength(this.#bytes); }
  get type() { return this.#type; }
  slice(start = undefined, end = undefined, contentType = undefined) {
    const size = byteLength(this.#bytes);
    const relative = (v, fallback) => {
      if (v === undefined) return fallback;
      const n = clampLongLong(v);
      return n < 0 ? (size + n > 0 ? size + n : 0) : (n < size ? n : size);
    };
    const from = relative(start, 0);
    const to = relative(end, size);
    const type = contentType === undefined ? "" : normalizeBlobType(`${contentType}`);
    return newBlobFromBytes(bytesView(this.#bytes, from, to > from ? to : from), type);
  }
  stream() { return streamOverBytes(this.#bytes, BLOB_STREAM_CHUNK).pub; }
  async text() { return utf8DecodeStripBOM(this.#bytes); }
  async arrayBuffer() { return typedArrayBuffer(bytesCopy(this.#bytes)); }
  async bytes() { return bytesCopy(this.#bytes); }
  static {
    isBlob = (v) => v !== null && typeof v === "object" && #bytes in v;
    blobBytes = (b) => b.#bytes;
    blobType = (b) => b.#type;
    blobInit = (b, bytes, type) => {
      b.#bytes = bytes;
      b.#type = type;
    };
    newBlobFromBytes = (bytes, type) => {
      const b = new Blob();
      b.#bytes = bytes;
      b.#type = type;
      return b;
    };
  }
}
webidlEnumerable(Blob);
setTag(Blob.prototype, "Blob");
inspectThroughGetters(Blob, ["size", "type"]);
defineGlobal("Blob", Blob);

let isFile; // (v) -> boolean
let fileName; // (file) -> string
let fileLastModified; // (file) -> number
let newFileFromBytes; // (bytes, name, type, lastModified) -> File

/** WebIDL long long (no clamping; out-of-range values are not expected from a clock). */
function toLongLong(value) {
  const x = Number(value);
  if (x !== x || x === Infinity || x === -Infinity) return 0;
  const n = x < 0 ? -MathFloor(-x) : MathFloor(x);
  return n === 0 ? 0 : n;
}

class File extends Blob {
  #name;
  #lastModified;
  constructor(fileBits, fileName, options = undefined) {
    requireArgs(arguments.length, 2, "File");
    const items = collectBlobParts(fileBits, "File");
    const name = toUSVString(fileName);
    // FilePropertyBag: the inherited members (endings, type), then lastModified.
    const { native, type } = readBlobOptions(options, "File");
    const lastModified = dictGet(options, "lastModified");
    super();
    blobInit(this, joinBlobParts(items, native), type);
    this.#name = name;
    this.#lastModified = lastModified === undefined ? ReflectApply(DateNow, Date, []) : toLongLong(lastModified);
  }
  get name() { return this.#name; }
  get lastModified() { return this.#lastModified; }
  static {
    isFile = (v) => v !== null && typeof v === "object" && #name in v;
    fileName = (f) => f.#name;
    fileLastModified = (f) => f.#lastModified;
    newFileFromBytes = (bytes, name, type, lastModified) => {
      const f = new File([], "");
      blobInit(f, bytes, type);
      f.#name = name;
      f.#lastModified = lastModified;
      return f;
    };
  }
}
webidlEnumerable(File);
setTag(File.prototype, "File");
inspectThroughGetters(File, ["name", "size", "type", "lastModified"]);
defineGlobal("File", File);

// Blobs and Files are serializable: structuredClone copies them (sharing the immutable bytes).
cloneHooks.push([(v) => isFile(v), (f) => newFileFromBytes(blobBytes(f), fileName(f), blobType(f), fileLastModified(f))]);
cloneHooks.push([(v) => isBlob(v), (b) => newBlobFromBytes(blobBytes(b), blobType(b))]);
