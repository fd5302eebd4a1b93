// ---- fetch-outbound.js: fetch() through the host's egress gateway. -------------
// Every outbound request leaves the isolate as the host call `fetch`; the supervisor's egress
// gateway decides, adds credentials tenant code never holds, and answers. Wire format (both
// ways): u32 LE length of a JSON head, the head, then the body bytes. A request body the prelude
// knows whole rides in the call up to 15 MiB; a streamed or larger one goes up as it is produced
// (`fetch.write`). An answer the gateway does not hand whole with its head (one of unknown or
// large length: its head comes as soon as it arrives; or a worker's streamed one, `globalOutbound`)
// streams in through `fetch.read`. An uploaded body whose length the runtime knows (a
// FixedLengthStream's readable, which holds its writer to it, or bytes too large to ride in the
// call) carries it as `length` in the head: the gateway sends it as the request's Content-Length,
// as Workers does, and fails an upload short or long of it.
// Abort: the request's signal rejects the fetch with its reason before the call, while the body is
// read or uploaded (the upload fails, the body stream is cancelled) or while the host works
// (`fetch.abort` names the fetch by its `call` number: a fetch to a worker is cancelled there, one
// to the network has its connection closed; a late answer is dropped, a streamed one cancelled),
// and if the answer came first errors the response's body and lets go of its host stream
// (`fetch.cancel`). `encodeResponseBody: "manual"` rides in the head; the gateway then hands the
// body as the upstream sent it, with its Content-Encoding, unless a secret was injected (then it
// is decoded and scrubbed as ever), and the Response is returned to a client as it is
// (encodeBody "manual", as workerd). Private bytes only meet
// captured operations (bytesView, bytesCopy, typedArraySet, typedArrayLength).
// WebSockets: a GET with `Upgrade: websocket` (a ws:/wss: URL is its http:/https: one) goes out
// with `websocket: true` in the head; the gateway makes the handshake (daemon/src/egress/
// websocket.rs) and a 101 answer names the outbound socket (`socket`), which the Response's
// webSocket drives (websocket.js, built then); any other answer is an ordinary Response.
// Trusts: the host to validate every call natively.

function frameForHost(head, bytes) {
  const headBytes = utf8Encode(wellFormedJson(JSONStringify(head)));
  const n = typedArrayLength(headBytes);
  const out = new ByteArray(4 + n + (bytes === null ? 0 : typedArrayLength(bytes)));
  out[0] = n & 0xff; out[1] = (n >>> 8) & 0xff; out[2] = (n >>> 16) & 0xff; out[3] = (n >>> 24) & 0xff;
  typedArraySet(out, headBytes, 4);
  if (bytes !== null) typedArraySet(out, bytes, 4 + n);
  return out;
}

/** A u32 LE id as 4 bytes, then `kind` and `chunk` when given (`fetch.write`'s frame). */
function idFrame(id, kind = -1, chunk = null) {
  const n = chunk === null ? 0 : typedArrayLength(chunk);
  const out = new ByteArray((kind === -1 ? 4 : 5) + n);
  out[0] = id & 0xff; out[1] = (id >>> 8) & 0xff; out[2] = (id >>> 16) & 0xff; out[3] = (id >>> 24) & 0xff;
  if (kind !== -1) out[4] = kind;
  if (chunk !== null) typedArraySet(out, chunk, 5);
  return out;
}

/** The head of a host's fetch answer and where its body starts. */
function parseHostAnswer(reply) {
  const malformed = "fetch: malformed answer from the host";
  if (!isUint8Array(reply)) throw new TypeError(malformed);
  const length = typedArrayLength(reply);
  if (length < 4) throw new TypeError(malformed);
  const n = (reply[0] | (reply[1] << 8) | (reply[2] << 16) | (reply[3] << 24)) >>> 0;
  if (4 + n > length) throw new TypeError(malformed);
  return [JSONParse(utf8DecodeStripBOM(bytesView(reply, 4, 4 + n))), 4 + n];
}

/** A WebSocket handshake's answer (websocket.js's standard client): [status, the server's
 *  Sec-WebSocket-Protocol or "", the outbound socket's number or -1 when it did not upgrade]. */
function hostAnswerHead(reply) {
  const head = parseHostAnswer(reply)[0];
  let protocol = "";
  const headers = head.headers;
  for (let i = 0; i < headers.length; i++) {
    if (`${headers[i][0]}` === "sec-websocket-protocol") protocol = `${headers[i][1]}`;
  }
  const socket = head.status === 101 && typeof head.socket === "number" ? head.socket >>> 0 : -1;
  return [head.status | 0, protocol, socket];
}

/** Tells the host to close outbound socket `socket`, which no one will use (1000). */
function closeUnusedSocket(socket) {
  const out = new ByteArray(6);
  out[0] = socket & 0xff; out[1] = (socket >>> 8) & 0xff; out[2] = (socket >>> 16) & 0xff; out[3] = (socket >>> 24) & 0xff;
  out[4] = 1000 & 0xff; out[5] = 1000 >>> 8;
  uponPromise(hostCall("socket.close", out), undefined, noop);
}

/** `url` (serialized) with ws:/wss: made http:/https:, for a WebSocket handshake. */
function webSocketHandshakeURL(url) {
  if (url[0] === "w" && url[1] === "s" && url[2] === ":") return `http:${StringSlice(url, 3)}`;
  if (url[0] === "w" && url[1] === "s" && url[2] === "s" && url[3] === ":") return `https:${StringSlice(url, 4)}`;
  return url;
}

/** Adds to a request's headers ([name, value] pairs, names lower case) what the Fetch Standard's
 *  HTTP-network-or-cache fetch adds for its cache mode, when the tenant did not set them. */
function addCacheModeHeaders(headers, cache) {
  let pragma = false;
  let cacheControl = false;
  for (let i = 0; i < headers.length; i++) {
    if (headers[i][0] === "pragma") pragma = true;
    else if (headers[i][0] === "cache-control") cacheControl = true;
  }
  if (cache === "no-store" || cache === "reload") {
    if (!pragma) headers.push(["pragma", "no-cache"]);
    if (!cacheControl) headers.push(["cache-control", "no-cache"]);
  } else if (cache === "no-cache" && !cacheControl) {
    headers.push(["cache-control", "max-age=0"]);
  }
}

/** Whether a request's headers ([name, value] pairs, names lower case) ask for a WebSocket. */
function asksForWebSocket(headers) {
  for (let i = 0; i < headers.length; i++) {
    if (headers[i][0] === "upgrade" && StringToLowerCase(`${headers[i][1]}`) === "websocket") return true;
  }
  return false;
}

/** The Response of a host's answer (the egress gateway's, or a service binding's: rpc.js);
 *  `held.stream` gets the number of its host stream, if any; `manual`: asked with
 *  encodeResponseBody "manual". A 101 naming an outbound socket carries its webSocket (only
 *  with `held`: an answer dropped unused closes its socket). */
function responseFromHost(reply, held = null, manual = false) {
  const parsed = parseHostAnswer(reply);
  const head = parsed[0];
  const n = parsed[1] - 4;
  const length = typedArrayLength(reply);
  const flat = [];
  const headers = head.headers;
  for (let i = 0; i < headers.length; i++) flat.push(`${headers[i][0]}`, `${headers[i][1]}`);
  const first = bytesCopy(reply, 4 + n, length);
  const stream = head.stream;
  if (held !== null && typeof stream === "number") held.stream = stream;
  const body = typeof stream === "number" ? outboundBodySource(first, stream) : first;
  let webSocket = null;
  if (head.status === 101 && typeof head.socket === "number") {
    if (held === null) {
      closeUnusedSocket(head.socket >>> 0);
    } else {
      let protocol = "";
      for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === "sec-websocket-protocol") protocol = flat[i + 1];
      webSocket = lazyInternals("websocket").outboundWebSocket(head.socket >>> 0, protocol);
    }
  }
  return newResponseFromHost(head.status | 0, `${head.statusText}`, flat, body, `${head.url}`, head.redirected === true, manual, webSocket);
}

/** The body of an answer that streams: its first part, then `fetch.read` host calls naming the
 *  host's stream until one answers empty (the end); cancelling (`fetch.cancel`) tells the host
 *  to drop the upstream's connection (or cancel the worker's request, for a worker's answer).
 *  The calls name no task: a body read by another request's entry is refused by the host (its
 *  stream belongs to the request that fetched it). */
function outboundBodySource(first, stream) {
  const id = idFrame(stream);
  let pending = typedArrayLength(first) > 0 ? first : null;
  let ended = false;
  return {
    __proto__: null,
    async pull() {
      if (pending !== null) {
        const chunk = pending;
        pending = null;
        return chunk;
      }
      if (ended) return null;
      const chunk = await hostCall("fetch.read", id);
      if (isUint8Array(chunk) && typedArrayLength(chunk) > 0) return chunk;
      ended = true;
      return null;
    },
    cancel() {
      pending = null;
      if (!ended) {
        ended = true;
        uponPromise(hostCall("fetch.cancel", id), undefined, noop);
      }
    },
  };
}

// The numbers a request body streamed up through fetch.write is named by, outbound fetches' and
// service bindings' (rpc.js) alike.
let uploadSeq = 0;
function nextUploadId() {
  uploadSeq = (uploadSeq + 1) >>> 0;
  return uploadSeq;
}
// The numbers `fetch.abort` names a request's fetches by, outbound fetches and service bindings'
// (rpc.js) alike: the host keeps one table of them per request.
let fetchCallSeq = 0;
function nextFetchCall() {
  fetchCallSeq = (fetchCallSeq + 1) >>> 0;
  return fetchCallSeq;
}
const UPLOAD_CHUNK = 1 << 20;
// A request body known whole rides in the `fetch` call up to this size (one host call carries
// 16 MiB, its head included); a larger one goes up through fetch.write as a stream does.
const FETCH_INLINE_BODY = 15 << 20;
const UPLOAD_CHUNK_DATA = 0, UPLOAD_END = 1, UPLOAD_FAILED = 2;

/** A reader over bytes known whole (fed in chunks by pumpUpload). */
function bytesReader(bytes) {
  let left = bytes;
  return {
    __proto__: null,
    async read() {
      const chunk = left;
      left = null;
      return chunk;
    },
    async cancel() { left = null; },
  };
}

/** Feeds a streamed request body to the gateway, a chunk (at most 1 MiB) per `fetch.write`, each
 *  answered once queued towards the upstream; a failing stream, or an abort (`state.aborted`),
 *  fails the upload. */
async function pumpUpload(reader, id, state) {
  try {
    for (;;) {
      const chunk = await reader.read();
      if (state.aborted) throw state.reason;
      if (chunk === null) break;
      const length = typedArrayLength(chunk);
      for (let at = 0; at < length; at += UPLOAD_CHUNK) {
        const end = length - at > UPLOAD_CHUNK ? at + UPLOAD_CHUNK : length;
        await hostCallFreeing("fetch.write", idFrame(id, UPLOAD_CHUNK_DATA, bytesView(chunk, at, end)));
        if (state.aborted) throw state.reason;
      }
    }
  } catch (e) {
    try { await reader.cancel(e); } catch {}
    await hostCall("fetch.write", idFrame(id, UPLOAD_FAILED));
    return;
  }
  await hostCall("fetch.write", idFrame(id, UPLOAD_END));
}

/** Drops an answer that came after the fetch was aborted: a streamed body is cancelled, so the
 *  gateway lets go of the upstream. */
function dropLateAnswer(reply, reason) {
  try {
    const body = responseBodyOf(responseFromHost(reply));
    if (body !== null) setHandled(streamsInternals().ReadableStreamCancel(bodyStream(body), reason));
  } catch {
    // a malformed late answer: nothing to release
  }
}

defineGlobal("fetch", function fetch(input, init = undefined) {
  return new PromiseCtor((resolve, reject) => {
    const request = new Request(input, init); // a throw here rejects, as the spec says
    const { method, url: asked, headers, body, redirect, signal, encodeResponseBody, cache } = requestForFetch(request);
    addCacheModeHeaders(headers, cache);
    const manual = encodeResponseBody === "manual";
    const websocket = asksForWebSocket(headers);
    if (websocket && (method !== "GET" || body !== null)) {
      throw new TypeError("fetch: a WebSocket upgrade (Upgrade: websocket) is a GET without a body");
    }
    const url = websocket ? webSocketHandshakeURL(asked) : asked;
    if (bodyUnusable(body)) throw new TypeError("fetch: the request body has already been used");
    let settled = false;
    let responseBody = null;
    let call = 0; // the host call's number, once made
    const held = { __proto__: null, stream: undefined };
    const upload = { __proto__: null, aborted: false, reason: undefined };
    const onAbort = () => {
      const reason = abortSignalReason(signal);
      if (!settled) {
        settled = true;
        upload.aborted = true;
        upload.reason = reason;
        if (call !== 0) uponPromise(hostCall("fetch.abort", idFrame(call)), undefined, noop);
        reject(reason);
        cancelBody(body, reason);
      } else if (responseBody !== null) {
        errorBody(responseBody, reason);
        if (held.stream !== undefined) uponPromise(hostCall("fetch.cancel", idFrame(held.stream)), undefined, noop);
      }
    };
    if (abortSignalAborted(signal)) {
      onAbort();
      return;
    }
    // No cache holds a response to answer it: the network error the standard gives a miss (after
    // an aborted signal, whose reason comes first).
    if (cache === "only-if-cached") {
      reject(new TypeError("fetch failed: 'only-if-cached' found no cached response (fetch() has no HTTP cache here)"));
      return;
    }
    addAbortAlgorithm(signal, onAbort);
    const fail = (e) => {
      if (settled) return;
      settled = true;
      removeAbortAlgorithm(signal, onAbort);
      reject(e);
    };
    const send = (head, bytes) => {
      call = head.call = nextFetchCall();
      if (manual) head.encodeResponseBody = "manual";
      uponPromise(hostCall("fetch", frameForHost(head, bytes)), (reply) => {
        if (settled) {
          dropLateAnswer(reply, abortSignalReason(signal));
          return;
        }
        let response;
        try {
          response = responseFromHost(reply, held, manual);
        } catch (e) {
          fail(e);
          return;
        }
        settled = true;
        responseBody = responseBodyOf(response);
        if (responseBody === null) removeAbortAlgorithm(signal, onAbort);
        resolve(response);
      }, (e) => fail(new TypeError(`fetch failed: ${e && e.message}`)));
    };
    if (websocket) {
      send({ __proto__: null, method, url, headers, redirect, websocket: true }, null);
      return;
    }
    if (body === null) {
      send({ method, url, headers, redirect }, null);
      return;
    }
    const out = bodyForHost(body); // the whole body, or a reader over its stream
    if (isUint8Array(out) && typedArrayLength(out) <= FETCH_INLINE_BODY) {
      send({ method, url, headers, redirect }, out);
      return;
    }
    // A streamed (or too large) body goes up as it is produced: the fetch waits while
    // fetch.write feeds it. Its length, when known, is in the literal (never an assignment a
    // setter on Object.prototype could take); undefined leaves it out of the JSON.
    const known = isUint8Array(out);
    const length = known ? typedArrayLength(out) : body.stream !== null ? body.stream.expectedLength : undefined;
    const reader = known ? bytesReader(out) : out;
    const id = nextUploadId();
    send({ method, url, headers, redirect, upload: id, length }, null);
    uponPromise(pumpUpload(reader, id, upload), undefined, noop);
  });
});
