// ---- rewriter.js: HTMLRewriter (Cloudflare Workers' streaming HTML rewriter). ---
// The parser and rewriter are lol_html, native (ops/src/rewriter/), behind a handle kept between
// chunks. `transform(response)` pipes the body through a TransformStream whose chunks go to the
// native rewriter with a callback: for each event (an element a selector matched, a text chunk, a
// comment, the doctype, an end tag, the document's end) the native side calls `dispatch`, which
// runs the tenant's handler on a token object (Element, TextChunk, ...) and answers the mutations
// the handler made, applied natively before parsing goes on. Async handlers, as in Workers: when
// a handler returns a promise, `dispatch` answers "await" and the native rewriter stays suspended
// inside that handler (its own stack); the promise is awaited and its token's mutations, made
// before and after the handler's awaits, are handed back (`resume`), and parsing goes on from the
// same token; output before that token has gone downstream meanwhile. A rejection errors the
// stream with its reason. A token is valid until its handler (or its promise) is done; touched
// later it throws a TypeError.

const REWRITER_OP = { selector: 0x0501, create: 0x0502, write: 0x0503, end: 0x0504, resume: 0x0505 };
const REWRITER_AWAIT = 15; // dispatch's answer when a handler returned a promise
const REWRITER_PIECE = 1 << 20;

/** `{html: true}` -> 1, else 0. */
const contentHtml = (options) => (dictGet(options, "html") ? 1 : 0);

/** The base of every token: its mutations, in order, and whether its handler is still running. */
class RewriterToken {
  #muts = [];
  #live = true;
  removedFlag = false;
  push(...parts) {
    if (!this.#live) {
      throw new TypeError("HTMLRewriter: this token is no longer valid (it is used after its handler returned)");
    }
    for (let i = 0; i < parts.length; i++) this.#muts[this.#muts.length] = parts[i];
  }
  content(code, content, options) {
    this.push(code, utf8Encode(toUSVString(content)), contentHtml(options));
    if (code === 7 || code === 9) this.removedFlag = true;
    return this;
  }
  finish() {
    this.#live = false;
    const m = this.#muts;
    for (let i = 0; i < m.length; i++) if (typeof m[i] === "string") m[i] = utf8Encode(m[i]);
    return m;
  }
  get removed() { return this.removedFlag; }
  before(content, options = undefined) { return this.content(3, content, options); }
  after(content, options = undefined) { return this.content(4, content, options); }
  replace(content, options = undefined) { return this.content(7, content, options); }
  remove() { this.push(9); this.removedFlag = true; return this; }
}

const ATTRIBUTE_NAME_INVALID = /[\s"'>/=\0]/;

class Element extends RewriterToken {
  #tag;
  #namespace;
  #flags;
  #attrs; // [name, value][]
  #endTag; // (fn) -> id
  constructor(tag, namespace, flags, attrs, endTag) {
    super();
    this.#tag = tag; this.#namespace = namespace; this.#flags = flags; this.#attrs = attrs; this.#endTag = endTag;
  }
  get tagName() { return this.#tag; }
  set tagName(name) { const n = `${name}`; this.push(11, n); this.#tag = n.toLowerCase(); }
  get namespaceURI() { return this.#namespace; }
  get selfClosing() { return (this.#flags & 1) !== 0; }
  get canHaveContent() { return (this.#flags & 2) !== 0; }
  get attributes() {
    const copy = [];
    for (let i = 0; i < this.#attrs.length; i++) copy[i] = [this.#attrs[i][0], this.#attrs[i][1]];
    return copy[SymbolIterator]();
  }
  #find(name) {
    const n = `${name}`.toLowerCase();
    for (let i = 0; i < this.#attrs.length; i++) if (this.#attrs[i][0] === n) return i;
    return -1;
  }
  getAttribute(name) { const i = this.#find(name); return i < 0 ? null : this.#attrs[i][1]; }
  hasAttribute(name) { return this.#find(name) >= 0; }
  setAttribute(name, value) {
    const n = `${name}`;
    const v = `${value}`;
    if (n === "" || ATTRIBUTE_NAME_INVALID.test(n)) throw new TypeError(`HTMLRewriter: "${n}" is not a valid attribute name`);
    this.push(1, n, v);
    const i = this.#find(n);
    if (i < 0) this.#attrs[this.#attrs.length] = [n.toLowerCase(), v];
    else this.#attrs[i][1] = v;
    return this;
  }
  removeAttribute(name) {
    const n = `${name}`;
    this.push(2, n);
    const i = this.#find(n);
    if (i >= 0) {
      const a = this.#attrs;
      for (let k = i; k + 1 < a.length; k++) a[k] = a[k + 1];
      a.length -= 1;
    }
    return this;
  }
  prepend(content, options = undefined) { return this.content(5, content, options); }
  append(content, options = undefined) { return this.content(6, content, options); }
  setInnerContent(content, options = undefined) { return this.content(8, content, options); }
  removeAndKeepContent() { this.push(10); this.removedFlag = true; return this; }
  onEndTag(handler) {
    if (typeof handler !== "function") throw new TypeError("HTMLRewriter: onEndTag needs a function");
    if (!this.canHaveContent) throw new TypeError(`HTMLRewriter: <${this.#tag}> has no end tag`);
    this.push(12, this.#endTag(handler));
  }
}

class EndTag extends RewriterToken {
  #name;
  constructor(name) { super(); this.#name = name; }
  get name() { return this.#name; }
  set name(name) { const n = `${name}`; this.push(11, n); this.#name = n; }
}

class Comment extends RewriterToken {
  #text;
  constructor(text) { super(); this.#text = text; }
  get text() { return this.#text; }
  set text(text) { const t = `${text}`; this.push(13, t); this.#text = t; }
}

class TextChunk extends RewriterToken {
  #text;
  #last;
  constructor(text, last) { super(); this.#text = text; this.#last = last; }
  get text() { return this.#text; }
  get lastInTextNode() { return this.#last; }
}

class Doctype extends RewriterToken {
  #name; #publicId; #systemId;
  constructor(name, publicId, systemId) { super(); this.#name = name; this.#publicId = publicId; this.#systemId = systemId; }
  get name() { return this.#name; }
  get publicId() { return this.#publicId; }
  get systemId() { return this.#systemId; }
}

class DocumentEnd extends RewriterToken {
  append(content, options = undefined) { return this.content(6, content, options); }
}

/** Reads a handlers object's methods (as Workers does, when `on`/`onDocument` is called). */
function rewriterHandlers(handlers, names, what) {
  if (handlers === null || (typeof handlers !== "object" && typeof handlers !== "function")) {
    throw new TypeError(`${what}: the handlers must be an object`);
  }
  const out = { self: handlers, kinds: 0 };
  for (let i = 0; i < names.length; i++) {
    const fn = handlers[names[i]];
    if (fn === undefined) continue;
    if (typeof fn !== "function") throw new TypeError(`${what}: handlers.${names[i]} must be a function`);
    out[names[i]] = fn;
    out.kinds |= 1 << i;
  }
  return out;
}

/** One transform's native rewriter and its JavaScript side. */
function rewriterSession(elements, documents) {
  let handle = 0; // 0 not made, -1 closed
  let thrown = null; // [exception] a handler threw, or its promise rejected
  let awaiting = null; // [promise, token] the async handler the native rewriter is suspended in
  const endTags = new Map();
  let nextEndTag = 1;
  const endTag = (fn) => { const id = nextEndTag++; endTags.set(id, fn); return id; };
  const dispatch = (bytes) => {
    const f = unpackFields(bytes);
    const kind = fieldU32(f[0]);
    const i = fieldU32(f[1]);
    let token; let fn; let self;
    if (kind === 1) {
      const attrs = [];
      for (let k = 5; k + 1 < f.length; k += 2) attrs[attrs.length] = [utf8Decode(f[k]), utf8Decode(f[k + 1])];
      token = new Element(utf8Decode(f[2]), utf8Decode(f[3]), fieldU32(f[4]), attrs, endTag);
      ({ self, element: fn } = elements[i]);
    } else if (kind === 2 || kind === 3) {
      const h = fieldU32(f[2]) ? documents[i] : elements[i];
      token = kind === 2 ? new Comment(utf8Decode(f[3])) : new TextChunk(utf8Decode(f[3]), fieldU32(f[4]) !== 0);
      self = h.self;
      fn = kind === 2 ? h.comments : h.text;
    } else if (kind === 4) {
      const present = fieldU32(f[2]);
      const opt = (bit, v) => ((present & bit) !== 0 ? utf8Decode(v) : null);
      token = new Doctype(opt(1, f[3]), opt(2, f[4]), opt(4, f[5]));
      ({ self, doctype: fn } = documents[i]);
    } else if (kind === 5) {
      token = new DocumentEnd();
      ({ self, end: fn } = documents[i]);
    } else {
      token = new EndTag(utf8Decode(f[2]));
      fn = endTags.get(i);
      endTags.delete(i);
      self = undefined;
    }
    try {
      const r = ReflectApply(fn, self, [token]);
      if (r !== null && (typeof r === "object" || typeof r === "function") && typeof r.then === "function") {
        awaiting = [r, token];
        return packFields([REWRITER_AWAIT]);
      }
    } catch (e) {
      thrown = [e];
      token.finish();
      return packFields([14]);
    }
    return packFields(token.finish());
  };
  const fail = (e) => {
    // A failed rewrite frees the native rewriter; an op refused before it ran (a rewriter busy
    // or in the wrong state) did not: free it here, whichever it was.
    if (handle > 0) {
      try { callOp(NATIVE.free, [handle]); } catch { /* freed already */ }
    }
    handle = -1;
    untrackNative(owner);
    if (thrown !== null) throw thrown[0];
    throw e;
  };
  // Runs one native op and emits its output; null once the input is consumed (after `end`: the
  // native rewriter is done), else a promise for that, after the async handler it waits on.
  const run = (code, parts, emit) => {
    let res;
    try {
      res = unpackFields(callOp(code, parts, dispatch));
    } catch (e) {
      fail(e);
    }
    if (typedArrayByteLength(res[1]) > 0) emit(res[1]);
    if (fieldU32(res[0]) === 0) return null;
    const promise = awaiting[0];
    const token = awaiting[1];
    awaiting = null;
    const resume = (answer) => {
      if (handle < 0) throw new TypeError("HTMLRewriter: the rewriter has ended");
      const next = run(REWRITER_OP.resume, [handle, answer], emit);
      return next === null ? undefined : next;
    };
    return promiseThen(promiseThen(resolvedUndefined(), () => promise),
      () => resume(packFields(token.finish())),
      (e) => {
        if (thrown === null) thrown = [e];
        token.finish();
        return resume(packFields([14]));
      });
  };
  const make = () => {
    if (handle !== 0) return;
    const sels = [];
    for (let k = 0; k < elements.length; k++) sels[sels.length] = packFields([utf8Encode(elements[k].selector), elements[k].kinds]);
    const docs = [];
    for (let k = 0; k < documents.length; k++) docs[docs.length] = packFields([documents[k].kinds]);
    handle = fieldU32(callOp(REWRITER_OP.create, [concatBytes(sels), concatBytes(docs)]));
    trackNative(owner, handle);
  };
  const owner = {}; // collected with the stream: frees an abandoned rewriter (compression.js)
  return {
    // null when the chunk is rewritten, else a promise for that.
    write(bytes, emit) {
      if (handle < 0) throw new TypeError("HTMLRewriter: the rewriter has ended");
      make();
      const total = typedArrayByteLength(bytes);
      const from = (off) => {
        for (; off < total; off += REWRITER_PIECE) {
          const end = off + REWRITER_PIECE < total ? off + REWRITER_PIECE : total;
          const wait = run(REWRITER_OP.write, [handle, bytesView(bytes, off, end)], emit);
          if (wait !== null) return promiseThen(wait, () => from(end));
        }
        return undefined;
      };
      const wait = from(0);
      return wait === undefined ? null : wait;
    },
    end(emit) {
      make();
      const done = () => { handle = -1; untrackNative(owner); };
      const wait = run(REWRITER_OP.end, [handle], emit);
      if (wait === null) { done(); return null; }
      return promiseThen(wait, done);
    },
    close() {
      if (handle > 0) {
        untrackNative(owner);
        callOp(NATIVE.free, [handle]);
      }
      handle = -1;
    },
  };
}

/** The concatenation of byte arrays. */
function concatBytes(list) {
  let n = 0;
  for (let i = 0; i < list.length; i++) n += typedArrayByteLength(list[i]);
  const out = new ByteArray(n);
  let o = 0;
  for (let i = 0; i < list.length; i++) { typedArraySet(out, list[i], o); o += typedArrayByteLength(list[i]); }
  return out;
}

class HTMLRewriter {
  #elements = [];
  #documents = [];
  on(selector, handlers) {
    requireArgs(arguments.length, 2, "HTMLRewriter.on");
    const s = `${selector}`;
    callOp(REWRITER_OP.selector, [utf8Encode(s)]);
    const h = rewriterHandlers(handlers, ["element", "comments", "text"], "HTMLRewriter.on");
    h.selector = s;
    this.#elements[this.#elements.length] = h;
    return this;
  }
  onDocument(handlers) {
    requireArgs(arguments.length, 1, "HTMLRewriter.onDocument");
    this.#documents[this.#documents.length] = rewriterHandlers(handlers, ["doctype", "comments", "text", "end"], "HTMLRewriter.onDocument");
    return this;
  }
  transform(response) {
    const body = responseBody(response); // throws a TypeError unless it is a Response
    const init = { status: response.status, statusText: response.statusText, headers: responseHeaders(response) };
    if (body === null) return new Response(null, init);
    if (bodyUnusable(body)) throw new TypeError("HTMLRewriter.transform: the body is already used");
    const session = rewriterSession(this.#elements.slice(), this.#documents.slice());
    let rec;
    const emit = (chunk) => streamsInternals().TransformStreamDefaultControllerEnqueue(rec.controller, chunk);
    // A rejected async handler errors the stream: free the native rewriter then.
    const settle = (wait) => (wait === null ? resolvedUndefined() : promiseThen(wait, undefined, (e) => { session.close(); throw e; }));
    rec = streamsInternals().CreateTransformStream((chunk) => {
      try {
        if (typedArrayName(chunk) !== "Uint8Array") throw new TypeError("HTMLRewriter: the body's chunks must be Uint8Arrays");
        return settle(session.write(chunk, emit));
      } catch (e) {
        session.close();
        return promiseRejectedWith(e);
      }
    }, () => {
      try {
        return settle(session.end(emit));
      } catch (e) {
        session.close();
        return promiseRejectedWith(e);
      }
    }, () => {
      session.close();
      return resolvedUndefined();
    });
    setHandled(streamsInternals().ReadableStreamPipeTo(bodyStream(body), rec.writable, false, false, false, undefined));
    const out = new Response(rec.readable.pub, init);
    headersDelete(responseHeaders(out), "content-length");
    return out;
  }
}
exposeInterface(HTMLRewriter, "HTMLRewriter");
