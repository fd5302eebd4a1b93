// ---- rpc-bodies.js: Request, Response, Headers and ReadableStream over RPC. ----------------
// Workers RPC carries these between workers, as Cloudflare's does. rpc.js's encoding, when it
// encodes for another worker (given `bodies`: rpcBodies()), tags them: "h" Headers {v: pairs},
// "rq" a Request {m, u, h, b}, "rs" a Response {s, t, h, b}, "rd" a ReadableStream {b}; `b` is
// the body: null for none, base64 for a small one known whole (at most RPC_INLINE_BODY_BYTES,
// within the message's RPC_MAX_UNITS), else {k} the key of a pipe it streams through, chunk by
// chunk, as Cloudflare's RPC streams it (`daemon/src/api/rpc_pipes.rs`: `pipe.open`, `.write`,
// `.close` on the sender's side; `pipe.take`, `.read`, `.cancel` on the receiver's). Each body is
// recorded while the value is encoded (a used or locked one is a TypeError then, before anything
// is sent); rpcSendBodies then opens the pipes before the message goes, and the sender starts
// their pumps once the message went (`start`), or ends them if it could not go (`stop`).
// Sending a body uses it up, as passing a stream to fetch() does. A pump lives as its request
// does (`keep`: a callee's result's pumps keep its request open, as ctx.waitUntil does); a
// request that ends before its stream did ends the receiver's stream with an error. Decoding
// builds new objects around the bytes or a stream over the pipe (taken at once, read only as the
// receiver reads), through the constructors, which check what another worker sent (a method, a
// URL, a status, each header).
// Trust: nothing in what arrives; a stream's chunks must be Uint8Arrays (as a fetch body's),
// else the stream fails at the receiver.

// A body known whole rides in the message up to this size; a larger one, or a stream, pipes.
const RPC_INLINE_BODY_BYTES = 64 << 10;
// A pipe's chunks are at most this large (one `pipe.write` each; the supervisor's MAX_CHUNK).
const RPC_PIPE_CHUNK = 256 << 10;

/** What one encoding's bodies are: sent after it (rpcSendBodies), their pumps handed to
 *  `keep` (null: they run as long as the request does). */
function rpcBodies(keep = null) {
  return { __proto__: null, list: [], seen: null, units: 0, keep };
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

// `node`'s body `b` (a BodyState, or null), recorded to be sent; its tag's `b` until then.
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

// A message without pipes: nothing to start or stop.
const RPC_NO_PIPES = ObjectFreeze({ __proto__: null, start: noop, stop: noop });

/** Sends every body `bodies` recorded: a small one known whole into its tag (at most 1 MiB in
 *  all, and only while the message is sure to fit: the value's UTF-16 units may each be 3 UTF-8
 *  bytes, its base64 4 for 3), any other through a pipe opened
 *  now (a pipe that cannot be opened fails the message before it goes, and the pipes opened for
 *  it end with that error). What it answers: `start()` (the message went: the pumps feed the
 *  pipes, each handed to `keep`) and `stop(e)` (it did not: sources cancelled, pipes ended with
 *  `e`), RPC_NO_PIPES without pipes. */
async function rpcSendBodies(bodies) {
  const fits = MathFloor((RPC_MAX_UNITS - 3 * bodies.units - (64 << 10)) / 4) * 3;
  let room = fits <= 0 ? 0 : MathMin(1 << 20, fits);
  const pumps = [];
  try {
    for (let i = 0; i < bodies.list.length; i++) {
      const entry = bodies.list[i];
      const out = entry.body !== null ? bodyForHost(entry.body) : hostBodyReader(entry.stream);
      if (isUint8Array(out) && typedArrayLength(out) <= RPC_INLINE_BODY_BYTES && typedArrayLength(out) <= room) {
        room -= typedArrayLength(out);
        entry.node.b = rpcBytesToBase64(out);
        continue;
      }
      const reader = isUint8Array(out) ? bytesReader(out) : out;
      rpcAppend(pumps, { __proto__: null, reader, pipe: 0 });
      const [opened] = await bindingCall("pipe.open", {});
      pumps[pumps.length - 1].pipe = opened.pipe >>> 0;
      entry.node.b = { k: `${opened.key}` };
    }
  } catch (e) {
    for (let i = 0; i < pumps.length; i++) rpcEndPipe(pumps[i], e);
    throw new DOMException(`RPC: a body cannot cross to another worker: ${e?.message ?? e}`, "DataCloneError");
  }
  if (pumps.length === 0) return RPC_NO_PIPES;
  let state = 0; // 1: started, 2: stopped
  return {
    __proto__: null,
    start() {
      if (state !== 0) return;
      state = 1;
      for (let i = 0; i < pumps.length; i++) {
        const pump = rpcPump(pumps[i].reader, pumps[i].pipe);
        if (bodies.keep !== null) bodies.keep(pump);
        else uponPromise(pump, undefined, noop);
      }
    },
    // Also once started (the host refused the call): a pump's write in flight then fails, and it
    // cancels its source.
    stop(e) {
      if (state === 2) return;
      state = 2;
      for (let i = 0; i < pumps.length; i++) rpcEndPipe(pumps[i], e);
    },
  };
}

// A pump that will not run: its source cancelled, its pipe (if opened) ended with `e`.
function rpcEndPipe(pump, e) {
  try { setHandled(promiseResolvedWith(pump.reader.cancel(e))); } catch {}
  if (pump.pipe !== 0) uponPromise(bindingCall("pipe.close", { pipe: pump.pipe, error: rpcPipeError(e) }), undefined, noop);
}

function rpcPipeError(e) {
  try {
    return `${e?.name ?? "Error"}: ${e?.message ?? e}`;
  } catch {
    return "Error: the stream failed";
  }
}

// The writes a pump keeps in flight on its pipe (the supervisor's MAX_WRITES): chunks go on
// while the earlier ones wait for the receiver to take them; all of an isolate's pumps together
// keep at most RPC_PIPE_BUDGET bytes in flight beyond one write each (so 64 pipes hold what they
// held with one write each, and one pipe alone gets the whole window).
const RPC_PIPE_WINDOW = 4;
const RPC_PIPE_BUDGET = 4 << 20;
let rpcPipeInFlight = 0;

/** Feeds `reader`'s chunks into pipe `pipe`, at most RPC_PIPE_WINDOW writes waiting at once,
 *  each answered once the receiver took it; the pipe ends with the stream (once every write was
 *  taken), or with its error (also a receiver that let go: the source is cancelled). Never
 *  rejects. */
async function rpcPump(reader, pipe) {
  const waiting = new List();
  const failed = { __proto__: null, error: null };
  const send = (bytes) => {
    const length = typedArrayLength(bytes);
    rpcPipeInFlight += length;
    const written = bindingCall("pipe.write", { pipe }, bytes);
    setHandled(written);
    uponPromise(written, () => { rpcPipeInFlight -= length; }, (e) => {
      rpcPipeInFlight -= length;
      if (failed.error === null) failed.error = e;
    });
    waiting.push(written);
  };
  const room = (length) => waiting.length === 0
    || (waiting.length < RPC_PIPE_WINDOW && rpcPipeInFlight + length <= RPC_PIPE_BUDGET);
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk === null) break;
      const length = typedArrayLength(chunk);
      for (let at = 0; at < length; at += RPC_PIPE_CHUNK) {
        if (failed.error !== null) throw failed.error;
        const end = length - at > RPC_PIPE_CHUNK ? at + RPC_PIPE_CHUNK : length;
        while (!room(end - at)) await waiting.shift();
        send(bytesView(chunk, at, end));
      }
    }
    while (waiting.length > 0) await waiting.shift();
  } catch (e) {
    rpcEndPipe({ __proto__: null, reader, pipe }, e);
    return;
  }
  try {
    await bindingCall("pipe.close", { pipe });
  } catch {}
}

/** A pull source over the pipe `key` names: taken at once (into this request's pipes), read
 *  only as the stream is. */
function rpcPipeSource(key) {
  const taken = bindingCall("pipe.take", { key });
  setHandled(taken);
  let ended = false;
  return {
    __proto__: null,
    async pull() {
      const [head] = await taken;
      const [read, bytes] = await bindingCall("pipe.read", { pipe: head.pipe });
      if (read?.done === true) {
        ended = true;
        return null;
      }
      return bytes;
    },
    cancel() {
      if (ended) return;
      ended = true;
      uponPromise(taken, (answer) => uponPromise(bindingCall("pipe.cancel", { pipe: answer[0].pipe }), undefined, noop), noop);
    },
  };
}

// What a tag's `b` stands for: null, the bytes, or a stream over its pipe.
function rpcBodyOf(b) {
  if (b === null || b === undefined) return null;
  if (typeof b === "string") return encodeString(b, "base64");
  if (isObjectLike(b) && typeof b.k === "string") return bodyStream(bodyFromHost(rpcPipeSource(b.k))).pub;
  throw new TypeError("RPC: a malformed body");
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
    case "rq": return new Request(`${data.u}`, { __proto__: null, method: `${data.m}`, headers: rpcHeadersFrom(data.h), body: rpcBodyOf(data.b), duplex: "half" });
    case "rs": return new Response(rpcBodyOf(data.b), { __proto__: null, status: +data.s, statusText: `${data.t}`, headers: rpcHeadersFrom(data.h) });
    default: { // "rd"
      const body = rpcBodyOf(data.b) ?? EMPTY_BYTES;
      return isUint8Array(body) ? bodyStream(bodyFromBytes(body)).pub : body;
    }
  }
}

// The RPC group is built on first use (isolate/src/lazy/mod.rs): the prelude's other parts reach
// it through lazyInternals("rpc").
shareInternals("rpc", ObjectFreeze({
  __proto__: null,
  rpcEncode,
  rpcDecode,
  rpcStub,
  rpcInvoke,
  rpcLocalStub,
  ctxExportsOf,
  makeWorkerLoader: (binding) => new WorkerLoader(INTERNAL, binding),
  isStub: (v) => rpcIsStub(rpcStubs, v),
}));
