// ---- kv.js: KVNamespace and Workspace, the kv and workspace bindings, over host calls. -----
// `{"binding": "kv", ...}` and `{"binding": "workspace", ...}` in env become these (bindings.js's
// makeEnv, through lazyInternals("kv"): this part is built on first use, isolate/src/lazy/mod.rs).
// Their calls go through bindings.js's bindingCall, whose header says the wire format, the limits
// checked here first and what the objects trust.

// `type` of a read ("text" by default; a string or {type}).
function readType(options, what) {
  const type = typeof options === "string" ? options : (dictGet(options, "type") ?? "text");
  if (type !== "text" && type !== "json" && type !== "arrayBuffer" && type !== "stream" && type !== "bytes") {
    throw new TypeError(`${what}: type must be "text", "json", "arrayBuffer", "bytes" or "stream"`);
  }
  return type;
}

function asType(bytes, type) {
  switch (type) {
    case "text": return utf8DecodeStripBOM(bytes);
    case "json": return JSONParse(utf8DecodeStripBOM(bytes));
    case "arrayBuffer": return typedArrayBuffer(bytes);
    case "bytes": return bytes;
    default: return streamOverBytes(bytes).pub;
  }
}

function optionalNumber(v, what) {
  if (v === undefined || v === null) return undefined;
  const n = +v;
  if (n !== n) throw new TypeError(`${what} must be a number`);
  return n;
}

class KVNamespace {
  #name;
  constructor(token, name) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#name = name;
  }
  async get(key, options = undefined) {
    const type = readType(options, "KVNamespace.get");
    const [head, bytes] = await bindingCall("kv.get", { binding: this.#name, key: `${key}` }, null, bindingError, "KVNamespace.get");
    return head.found ? asType(bytes, type) : null;
  }
  async getWithMetadata(key, options = undefined) {
    const type = readType(options, "KVNamespace.getWithMetadata");
    const [head, bytes] = await bindingCall("kv.get", { binding: this.#name, key: `${key}` }, null, bindingError, "KVNamespace.getWithMetadata");
    if (!head.found) return { value: null, metadata: null, cacheStatus: null };
    return { value: asType(bytes, type), metadata: head.metadata ?? null, cacheStatus: null };
  }
  async put(key, value, options = undefined) {
    const head = { binding: this.#name, key: `${key}` };
    const expiration = optionalNumber(dictGet(options, "expiration"), "KVNamespace.put: expiration");
    const expirationTtl = optionalNumber(dictGet(options, "expirationTtl"), "KVNamespace.put: expirationTtl");
    const metadata = dictGet(options, "metadata");
    if (expiration !== undefined) head.expiration = expiration;
    if (expirationTtl !== undefined) head.expirationTtl = expirationTtl;
    if (metadata !== undefined && metadata !== null) head.metadata = JSONParse(JSONStringify(metadata));
    const bytes = await valueBytes(value, "KVNamespace.put", "a value");
    const stored = bindingCall("kv.put", head, bytes, bindingError, "KVNamespace.put");
    releaseBytes(bytes); // valueBytes' own copy, framed into the call as it was made
    await stored;
  }
  async delete(key) {
    await bindingCall("kv.delete", { binding: this.#name, key: `${key}` }, null, bindingError, "KVNamespace.delete");
  }
  async list(options = undefined) {
    const head = { binding: this.#name };
    const prefix = dictGet(options, "prefix");
    const cursor = dictGet(options, "cursor");
    const limit = optionalNumber(dictGet(options, "limit"), "KVNamespace.list: limit");
    if (prefix !== undefined && prefix !== null) head.prefix = `${prefix}`;
    if (cursor !== undefined && cursor !== null) head.cursor = `${cursor}`;
    if (limit !== undefined) head.limit = limit;
    const [answer] = await bindingCall("kv.list", head, null, bindingError, "KVNamespace.list");
    const out = { keys: answer.keys, list_complete: answer.list_complete, cacheStatus: null };
    if (answer.cursor !== null && answer.cursor !== undefined) out.cursor = answer.cursor;
    return out;
  }
}
setTag(KVNamespace.prototype, "KVNamespace");

// A pattern given as a RegExp: its source, and whether it ignores case.
function patternOf(pattern) {
  if (isRegExp(pattern)) return [regExpSource(pattern), stringIncludes(regExpFlags(pattern), "i")];
  return [`${pattern}`, false];
}
const isRegExp = (v) => { try { regExpSource(v); return true; } catch { return false; } };

class Workspace {
  #name;
  constructor(token, name) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#name = name;
  }
  async #call(op, head, bytes = null) {
    head.binding = this.#name;
    return bindingCall(`ws.${op}`, head, bytes, bindingError, `Workspace.${op}`);
  }
  async readFile(path, options = undefined) {
    const type = readType(options, "Workspace.readFile");
    const [, bytes] = await this.#call("readFile", { path: `${path}` });
    return asType(bytes, type);
  }
  async writeFile(path, data) {
    const bytes = await valueBytes(data, "Workspace.writeFile", "a file");
    const written = this.#call("writeFile", { path: `${path}` }, bytes);
    releaseBytes(bytes); // valueBytes' own copy, framed into the call as it was made
    await written;
  }
  async list(path = "") {
    return (await this.#call("list", { path: `${path}` }))[0].entries;
  }
  async glob(pattern) {
    return (await this.#call("glob", { pattern: `${pattern}`, pathsOnly: true }))[0].paths;
  }
  async search(pattern, options = undefined) {
    const [source, ignoreCase] = patternOf(pattern);
    const head = { pattern: source, ignoreCase: ignoreCase || dictGet(options, "ignoreCase") === true };
    const glob = dictGet(options, "glob");
    const maxResults = optionalNumber(dictGet(options, "maxResults"), "Workspace.search: maxResults");
    if (glob !== undefined && glob !== null) head.glob = `${glob}`;
    if (maxResults !== undefined) head.maxResults = maxResults;
    const [answer] = await this.#call("search", head);
    return { matches: answer.matches, truncated: answer.truncated };
  }
  // diff(from, to) between two files; diff(from, {text}) from a file to new text.
  async diff(from, to) {
    if (typeof to === "string") return (await this.#call("diff", { from: `${from}`, to }))[0].diff;
    const text = dictGet(to, "text");
    if (text === undefined) throw new TypeError("Workspace.diff: give a second path or {text}");
    return (await this.#call("diff", { from: `${from}` }, await valueBytes(`${text}`, "Workspace.diff", "the text")))[0].diff;
  }
  async replace(path, search, replacement, options = undefined) {
    const [source, ignoreCase] = patternOf(search);
    const head = {
      path: `${path}`, search: source, replacement: `${replacement}`,
      regex: isRegExp(search) || dictGet(options, "regex") === true,
    };
    if (ignoreCase) head.ignoreCase = true;
    const limit = optionalNumber(dictGet(options, "limit"), "Workspace.replace: limit");
    if (limit !== undefined) head.limit = limit;
    return (await this.#call("replace", head))[0].count;
  }
  async delete(path, options = undefined) {
    const head = { path: `${path}`, recursive: dictGet(options, "recursive") === true };
    return (await this.#call("delete", head))[0].deleted;
  }
  async mkdir(path) {
    await this.#call("mkdir", { path: `${path}` });
  }
  async stat(path) {
    return (await this.#call("stat", { path: `${path}` }))[0].stat;
  }
  async move(from, to) {
    await this.#call("move", { from: `${from}`, to: `${to}` });
  }
}
setTag(Workspace.prototype, "Workspace");

shareInternals("kv", ObjectFreeze({
  __proto__: null,
  makeKVNamespace: (key) => new KVNamespace(INTERNAL, key),
  makeWorkspace: (key) => new Workspace(INTERNAL, key),
}));
