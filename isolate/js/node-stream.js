// ---- node-stream.js: node:stream, node:stream/promises, node:stream/web, node:stream/consumers.
// node:stream is npm's readable-stream (Node's own streams code; vendor/readable-stream.js),
// instantiated once per isolate on first import over the runtime's node:buffer, node:events,
// node:string_decoder, a nextTick on the runtime's queueMicrotask, and the AbortController,
// AbortSignal, Blob and AggregateError captured before any tenant code ran (never the
// tenant-replaceable globals); node-stream-web.js adds Readable/Writable/Duplex fromWeb/toWeb;
// duplexPair is Node 20.20's, written here.
// Guarantees: the classes behave as Node 20's (object mode, highWaterMark and backpressure,
// destroy and errors, async iteration, pipeline/finished/compose/addAbortSignal). Differences:
// process.nextTick is a microtask (as all of Stockade's), so a tick does not run before promise
// reactions queued earlier. node:stream/web re-exports the runtime's own web
// stream classes (the streams group's, not the globals tenant code may have replaced).
// Trusts: readable-stream (MIT), which reads methods of the objects it is handed as Node's does:
// a tenant that replaces built-in prototypes changes its own streams only; the runtime's state
// in them (node:zlib's codecs) is reached through captured functions.

const nodeStreamHolder = { __proto__: null, library: undefined };

/** The web streams' classes: the streams group's own values (lazy.js), else (every part
 *  evaluated in place, the Node test harness) the globals, which nothing replaced yet. */
function webStreamClasses() {
  const part = lazyPartsByName.streams;
  if (part === undefined) return globalThis;
  buildLazyPart(part);
  return part.values;
}

/** readable-stream, built once per isolate, with the web bridges. */
function nodeStreamLibrary() {
  if (nodeStreamHolder.library !== undefined) return nodeStreamHolder.library;
  const nextTick = (callback, ...args) => {
    validateFunction(callback, "callback");
    queueMicrotask(() => ReflectApply(callback, undefined, args));
  };
  const library = vendoredReadableStream({
    __proto__: null,
    buffer: builtinExports("node:buffer"),
    events: builtinExports("node:events"),
    string_decoder: builtinExports("node:string_decoder"),
    process: { __proto__: null, nextTick, stdout: undefined, stderr: undefined },
    AbortController,
    AbortSignal,
    Blob,
    AggregateError,
  });
  library._isArrayBufferView = ArrayBufferIsView;
  library.duplexPair = duplexPairOf(library.Duplex, nextTick);
  addWebStreamBridges(library, webStreamClasses());
  nodeStreamHolder.library = library;
  // node:crypto's Hash, Hmac and ciphers are Transforms from now on (node-hash.js).
  lazyInternals("lazytransform").adopt(library.Transform);
  return library;
}

/** Node 20.20's `duplexPair([options])` (lib/internal/streams/duplexpair.js): two Duplexes, what
 *  is written to one read from the other, each write's callback called once the other side's
 *  reader asks for more; ending one ends the other's readable side. */
function duplexPairOf(Duplex, nextTick) {
  class DuplexSide extends Duplex {
    #otherSide = null;
    #callback = null;
    static link(side, otherSide) {
      side.#otherSide = otherSide;
    }
    _read() {
      const callback = this.#callback;
      if (callback) {
        this.#callback = null;
        callback();
      }
    }
    _write(chunk, encoding, callback) {
      if (chunk.length === 0) {
        nextTick(callback);
      } else {
        this.#otherSide.push(chunk);
        this.#otherSide.#callback = callback;
      }
    }
    _final(callback) {
      this.#otherSide.on("end", callback);
      this.#otherSide.push(null);
    }
  }
  const link = DuplexSide.link;
  delete DuplexSide.link;
  return function duplexPair(options) {
    const side0 = new DuplexSide(options);
    const side1 = new DuplexSide(options);
    link(side0, side1);
    link(side1, side0);
    return [side0, side1];
  };
}

shareInternals("nodestream", ObjectFreeze({ __proto__: null, library: nodeStreamLibrary }));

const STREAM_NAMES = [
  "isDestroyed", "isDisturbed", "isErrored", "isReadable", "isWritable", "Readable", "Writable",
  "Duplex", "Transform", "PassThrough", "pipeline", "addAbortSignal", "finished", "destroy",
  "compose", "setDefaultHighWaterMark", "getDefaultHighWaterMark", "promises", "Stream",
  "_isArrayBufferView", "_isUint8Array", "_uint8ArrayToBuffer", "duplexPair",
];
defineBuiltin("node:stream", STREAM_NAMES, nodeStreamLibrary);

defineBuiltin("node:stream/promises", ["pipeline", "finished"], () => {
  const promises = nodeStreamLibrary().promises;
  return { __proto__: null, pipeline: promises.pipeline, finished: promises.finished };
});

const STREAM_WEB_NAMES = [
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader",
  "ReadableStreamBYOBRequest", "ReadableByteStreamController", "ReadableStreamDefaultController",
  "TransformStream", "TransformStreamDefaultController", "WritableStream",
  "WritableStreamDefaultWriter", "WritableStreamDefaultController", "ByteLengthQueuingStrategy",
  "CountQueuingStrategy", "TextEncoderStream", "TextDecoderStream", "CompressionStream",
  "DecompressionStream",
];
defineBuiltin("node:stream/web", STREAM_WEB_NAMES, () => {
  const classes = webStreamClasses();
  const exports = { __proto__: null };
  for (let i = 0; i < STREAM_WEB_NAMES.length; i++) exports[STREAM_WEB_NAMES[i]] = classes[STREAM_WEB_NAMES[i]];
  return exports;
});

// node:stream/consumers, as Node's lib/stream/consumers.js: each reads a Node Readable, a web
// ReadableStream or any async iterable to its end.
defineBuiltin("node:stream/consumers", ["arrayBuffer", "blob", "buffer", "text", "json"], () => {
  const { Buffer } = builtinExports("node:buffer");
  async function blob(stream) {
    const chunks = [];
    for await (const chunk of stream) chunks[chunks.length] = chunk;
    return new Blob(chunks);
  }
  async function arrayBuffer(stream) {
    return (await blob(stream)).arrayBuffer();
  }
  async function buffer(stream) {
    return Buffer.from(await arrayBuffer(stream));
  }
  async function text(stream) {
    const decoder = new TextDecoder();
    let str = "";
    for await (const chunk of stream) {
      str += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    }
    return str + decoder.decode(undefined, { stream: false });
  }
  async function json(stream) {
    return JSONParse(await text(stream));
  }
  return { __proto__: null, arrayBuffer, blob, buffer, text, json };
});
