// ---- formdata.js: FormData (XHR) and its multipart/form-data serialization. -----
// Entries are [name, value] pairs, value a string or a File; a Blob entry becomes a File named
// "blob" (or the given filename). The list is private; iteration is live, as on the web.
// Internal hooks: isFormData(v), formDataEntries(fd) (the private list), newFormData(entries),
// serializeMultipart(fd) -> { bytes, type } (a fresh random boundary per call).

const formDataIterator = iteratorFactory("FormData Iterator");

let isFormData; // (v) -> boolean
let formDataEntries; // (fd) -> [name, string | File][]
let newFormData; // (entries) -> FormData (takes the list)

/** The spec's "create an entry" (value and filename converted in argument order). Three
 *  arguments select the Blob overload; an undefined filename counts as not given (WebIDL). */
function createFormEntry(name, value, filename, argCount, what) {
  const n = toUSVString(name);
  if (!isBlob(value)) {
    if (argCount > 2) throw new TypeError(`${what}: parameter 2 is not of type 'Blob'`);
    return [n, toUSVString(value)];
  }
  const givenName = filename === undefined ? undefined : toUSVString(filename);
  if (isFile(value) && givenName === undefined) return [n, value];
  const lastModified = isFile(value) ? fileLastModified(value) : ReflectApply(DateNow, Date, []);
  return [n, newFileFromBytes(blobBytes(value), givenName ?? "blob", blobType(value), lastModified)];
}

class FormData {
  #entries = [];
  constructor(form = undefined, submitter = undefined) {
    if (form !== undefined) {
      throw new TypeError("FormData: there are no HTML forms in this runtime; call new FormData() without arguments");
    }
  }
  append(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "FormData.append");
    this.#entries.push(createFormEntry(name, value, filename, arguments.length, "FormData.append"));
  }
  delete(name) {
    requireArgs(arguments.length, 1, "FormData.delete");
    const n = toUSVString(name);
    this.#entries = this.#entries.filter((e) => e[0] !== n);
  }
  get(name) {
    requireArgs(arguments.length, 1, "FormData.get");
    const n = toUSVString(name);
    const entry = this.#entries.find((e) => e[0] === n);
    return entry === undefined ? null : entry[1];
  }
  getAll(name) {
    requireArgs(arguments.length, 1, "FormData.getAll");
    const n = toUSVString(name);
    return this.#entries.filter((e) => e[0] === n).map((e) => e[1]);
  }
  has(name) {
    requireArgs(arguments.length, 1, "FormData.has");
    const n = toUSVString(name);
    return this.#entries.some((e) => e[0] === n);
  }
  set(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "FormData.set");
    const entry = createFormEntry(name, value, filename, arguments.length, "FormData.set");
    const i = this.#entries.findIndex((e) => e[0] === entry[0]);
    if (i === -1) {
      this.#entries.push(entry);
      return;
    }
    this.#entries = this.#entries.filter((e, j) => j <= i || e[0] !== entry[0]);
    this.#entries[i] = entry;
  }
  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "FormData.forEach");
    if (typeof callback !== "function") throw new TypeError("FormData.forEach: callback is not a function");
    for (let i = 0; i < this.#entries.length; i++) {
      const entry = this.#entries[i];
      ReflectApply(callback, thisArg, [entry[1], entry[0], this]);
    }
  }
  keys() { return formDataIterator(() => this.#entries, 0); }
  values() { return formDataIterator(() => this.#entries, 1); }
  entries() { return formDataIterator(() => this.#entries, 2); }
  static {
    isFormData = (v) => v !== null && typeof v === "object" && #entries in v;
    formDataEntries = (fd) => fd.#entries;
    newFormData = (entries) => {
      const fd = new FormData();
      fd.#entries = entries;
      return fd;
    };
    platformBrands.push(isFormData);
  }
}
webidlEnumerable(FormData);
ObjectDefineProperty(FormData.prototype, SymbolIterator, {
  value: FormData.prototype.entries, writable: true, enumerable: false, configurable: true,
});
setTag(FormData.prototype, "FormData");
inspectHooks.set(FormData.prototype, (fd) => [formDataEntries(fd).map((e) => [e[0], e[1]]), true]);
defineGlobal("FormData", FormData);

// ---- multipart/form-data encoding (HTML "multipart/form-data encoding algorithm") ------------------
/** Every CR not followed by LF and every LF not preceded by CR becomes CRLF. */
const normalizeNewlines = (s) => s.replace(/\r\n|\r|\n/g, "\r\n");
/** Field names and filenames go inside quotes: CR, LF and '"' are percent-encoded. */
const escapeMultipartName = (s) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");

function multipartBoundary() {
  const random = new Uint8Array(16);
  hostRandomFill(random);
  let s = "----formdata-stockade-";
  for (let i = 0; i < 16; i++) s += hexByte(random[i]);
  return s;
}

function serializeMultipart(fd) {
  const boundary = multipartBoundary();
  // An empty form is an empty body, as browsers send it (formData() reads it back as empty).
  if (formDataEntries(fd).length === 0) return { bytes: new ByteArray(0), type: `multipart/form-data; boundary=${boundary}` };
  const chunks = [];
  let total = 0;
  const push = (bytes) => {
    appendToArray(chunks, bytes); // not push: a patched push would see a Blob's private bytes
    total += typedArrayLength(bytes);
  };
  const entries = formDataEntries(fd);
  for (let i = 0; i < entries.length; i++) {
    const name = entries[i][0];
    const value = entries[i][1];
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeMultipartName(normalizeNewlines(name))}"`;
    if (typeof value === "string") {
      push(utf8Encode(`${head}\r\n\r\n`));
      push(utf8Encode(normalizeNewlines(value)));
    } else {
      // A Blob's type is printable ASCII (the constructor's rule): it cannot break the header.
      const type = blobType(value) === "" ? "application/octet-stream" : blobType(value);
      head += `; filename="${escapeMultipartName(fileName(value))}"\r\nContent-Type: ${type}\r\n\r\n`;
      push(utf8Encode(head));
      push(blobBytes(value));
    }
    push(utf8Encode("\r\n"));
  }
  push(utf8Encode(`--${boundary}--\r\n`));
  const bytes = new ByteArray(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    typedArraySet(bytes, chunks[i], at);
    at += typedArrayLength(chunks[i]);
  }
  return { bytes, type: `multipart/form-data; boundary=${boundary}` };
}
