// ---- rpc-bodies.js: Request, Response, Headers and ReadableStream over RPC. ----------------
// Workers RPC carries these between workers, as Cloudflare's does. rpc.js's encoding, when it
// encodes for another worker (given `bodies`: rpcBodies()), tags them: "h" Headers {v: pairs},
// "rq" a Request {m, u, h, b}, "rs" a Response {s, t, h, b}, "rd" a ReadableStream {b}; `b` is
// the body as base64 ("" until read; null for none). Each body is recorded while the value is
// encoded (a used or locked one is a TypeError then, before anything is sent), and
// rpcReadBodies reads them all, whole, before the message goes: unlike Cloudflare's, a body does
// not stream over RPC, and the message, bodies included, stays within RPC_MAX_UNITS (16 MiB of
// text; past it, a DataCloneError as for any value). Decoding builds new objects around the
// bytes, through the constructors, which check what another worker sent (a method, a URL, a
// status, each header).
// Trust: nothing in what arrives; a stream's chunks must be Uint8Arrays (as a fetch body's).

/** What one encoding's bodies are: read after it (rpcReadBodies). */
function rpcBodies() {
  return { __proto__: null, list: [], seen: null, units: 0 };
}

// Records `source` (a BodyState or a stream's record) for `node`, once per message: a body read
// once cannot fill two values.
function rpcRecordBody(state, node, body, stream) {
  const bodies = state.bodies;
  if (bodies.seen === null) bodies.seen = new RpcSet();
  // A body's stream, once made, may be another value's too (new Response(request.body)).
  const source = body === null ? stream : (body.stream ?? body);
  if (SetHas(bodies.seen, source)) throw new TypeError(`${state.where}: one body cannot cross to ${state.to} twice in one message`);
  SetAdd(bodies.seen, source);
  rpcAppend(bodies.list, { __proto__: null, node, body, stream });
}

// Counts the header pairs' text, and copies them (a plain array of [name, value]).
function rpcHeaderPairs(pairs, state) {
  const out = [];
  for (let i = 0; i < pairs.length; i++) {
    rpcCount(state, pairs[i][0].length + pairs[i][1].length);
    rpcAppend(out, [pairs[i][0], pairs[i][1]]);
  }
  return out;
}

// `node`'s body `b` (a BodyState, or null), recorded to be read; its tag's `b` until then.
function rpcBodyTag(node, b, state) {
  if (b === null) return null;
  if (bodyUnusable(b)) throw new TypeError(`${state.where}: a body already used or locked cannot cross to ${state.to}`);
  rpcRecordBody(state, node, b, null);
  return "";
}

/** `value` tagged when it is a Headers, Request, Response or ReadableStream (else undefined). */
function rpcEncodeWeb(value, state) {
  if (isHeaders(value)) return { $: "h", v: rpcHeaderPairs(headersPairs(value), state) };
  if (isRequest(value)) {
    const r = requestForFetch(value);
    rpcCount(state, r.url.length + r.method.length);
    const node = { $: "rq", m: r.method, u: r.url, h: rpcHeaderPairs(r.headers, state), b: null };
    node.b = rpcBodyTag(node, r.body, state);
    return node;
  }
  const response = responseForCache(value);
  if (response !== null) {
    // What the receiver could not construct again (Response.error(), a WebSocket's 101).
    if (response[0] < 200 || response[0] > 599) throw rpcCloneError(state, `a Response with status ${response[0]}`);
    rpcCount(state, response[1].length);
    const node = { $: "rs", s: response[0], t: response[1], h: rpcHeaderPairs(headersPairs(response[2]), state), b: null };
    node.b = rpcBodyTag(node, response[3], state);
    return node;
  }
  const stream = streamRecordOf(value);
  if (stream !== undefined) {
    if (streamsInternals().IsReadableStreamLocked(stream)) throw new TypeError(`${state.where}: a locked ReadableStream cannot cross to ${state.to}`);
    const node = { $: "rd", b: "" };
    rpcRecordBody(state, node, null, stream);
    return node;
  }
  return undefined;
}

/** Reads every body `bodies` recorded, whole, into its tag (the encoding's text and the bodies'
 *  base64 at most RPC_MAX_UNITS). */
async function rpcReadBodies(bodies) {
  let room = MathFloor((RPC_MAX_UNITS - bodies.units) / 4) * 3;
  const tooLarge = () => new DOMException(`RPC: a value larger than 16 MiB cannot cross to another worker`, "DataCloneError");
  for (let i = 0; i < bodies.list.length; i++) {
    const entry = bodies.list[i];
    let bytes = entry.body === null ? null : takeKnownBytes(entry.body);
    if (bytes === null) bytes = await readAllBytes(entry.stream ?? bodyStream(entry.body), room, tooLarge);
    if (typedArrayLength(bytes) > room) throw tooLarge();
    room -= typedArrayLength(bytes);
    entry.node.b = rpcBytesToBase64(bytes);
  }
}

// The bytes of a tag's `b`, or null.
function rpcBodyBytes(b) {
  return b === null || b === undefined ? null : encodeString(`${b}`, "base64");
}

// A Headers from pairs another worker sent, each checked as append() checks it.
function rpcHeadersFrom(pairs) {
  const list = [];
  const n = ArrayIsArray(pairs) ? pairs.length : 0;
  for (let i = 0; i < n; i++) {
    const pair = pairs[i];
    if (!ArrayIsArray(pair) || pair.length !== 2) throw new TypeError("RPC: a malformed header");
    rpcAppend(list, [headerName(`${pair[0]}`), headerValue(`${pair[1]}`)]);
  }
  return newHeadersWithGuard(list, false);
}

/** The Headers, Request, Response or ReadableStream tagged `data` stands for. */
function rpcDecodeWeb(data) {
  switch (data.$) {
    case "h": return rpcHeadersFrom(data.v);
    case "rq": return new Request(`${data.u}`, { __proto__: null, method: `${data.m}`, headers: rpcHeadersFrom(data.h), body: rpcBodyBytes(data.b) });
    case "rs": return new Response(rpcBodyBytes(data.b), { __proto__: null, status: +data.s, statusText: `${data.t}`, headers: rpcHeadersFrom(data.h) });
    default: return bodyStream(bodyFromBytes(rpcBodyBytes(data.b) ?? EMPTY_BYTES)).pub; // "rd"
  }
}
