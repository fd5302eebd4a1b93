// ---- rpc.js: service and Loader bindings, and the RPC value encoding. -----------
// Worker-to-worker capabilities (the supervisor's `api/services.rs` answers their host calls):
//   {"binding": "service", "worker": id, "entrypoint"?}  -> a stub: `stub.fetch(input, init)`
//       reaches the worker's fetch handler (host call service.fetch, a fetch frame inside a
//       binding frame; bodies stream both ways, see rpcFetch), `stub.anyMethod(...args)` calls that method of its default export or
//       named entrypoint (service.call);
//   {"binding": "loader"} -> a WorkerLoader: `get(name, getCode)` and `load(code)` return a
//       WorkerStub (`getEntrypoint(name?)` -> a stub as above; `fetch` too) whose worker is made
//       on first use: `loader.get` asks for the child cached for (this worker, name), and only
//       when there is none is `getCode()` called and its WorkerCode sent with `loader.create`
//       (as JSON text after the binding head).
// The encoding (both ways: the caller's arguments and the callee's result; `rpcInvoke` below is
// the callee's side, called by runtime.js): JSON, with tagged objects {"$": tag, ...} for what
// JSON cannot carry: "u" undefined, "n" NaN/±Infinity/-0, "b" BigInt, "d" Date, "u8" Uint8Array
// and "ab" ArrayBuffer (base64), "m" Map, "s" Set, "e" an Error's name and message, "o" a plain
// object that has a "$" key of its own; between workers also Headers, Request, Response and
// ReadableStream, their bodies read whole (rpc-bodies.js). Anything else (a function, a symbol, a class instance, a
// cycle, nesting deeper than RPC_MAX_DEPTH) is a DataCloneError before anything is sent. The same
// encoding carries capability calls' arguments and results (bindings.js, `makeCapability`). A callee's
// throw reaches the caller with its name and message (standard error classes and DOMException
// names are rebuilt as such; any other name on an Error).
// An RPC method's result may also hold RpcTargets and functions, tagged "t" (rpc-targets.js).
// Trust: a stub grants nothing by itself (the supervisor checks every call against the calling
// worker's stored definition); stubs hold their state in closures and call no method tenant code
// can patch.

// These parts are a lazy group, built on an isolate's first use (isolate/src/lazy/mod.rs): the
// methods their top level would capture are captured in lazy.js, and the prelude's other parts reach
// them through lazyInternals("rpc") (rpc-bodies.js's end).
const RpcMap = Map;
const RpcSet = Set;
const RpcDate = Date;
const RpcProxy = Proxy;
const RpcWeakMap = WeakMap;
const RpcError = Error;
const rpcBigInt = BigInt;
const RPC_MAX_DEPTH = 256;
// The most UTF-16 units of strings (and base64 of bytes) one encoding may hold: what crosses is
// at most a 16 MiB result (stockade_ipc::limits::MAX_RESULT_JSON_LEN), and counting before
// JSON.stringify writes a huge string spares the worker a builtin V8 does not interrupt.
const RPC_MAX_UNITS = 16 * 1024 * 1024;
const RPC_ERRORS = {
  __proto__: null, Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};
const RPC_DOM_NAMES = { __proto__: null, OperationError: 1, NotAllowedError: 1, DataError: 1, NotReadableError: 1, EncodingError: 1, ConstraintError: 1, UnknownError: 1 };
// Names a stub never treats as an RPC method (so a stub is not a thenable, and so on), and that
// a callee never runs as one.
const RPC_RESERVED = { __proto__: null, then: 1, constructor: 1, fetch: 1, connect: 1, toJSON: 1, valueOf: 1, toString: 1 };
// An RpcTarget's: `fetch` and `connect` are its methods like any other (a Request and a Response
// cross RPC, rpc-bodies.js); only an entrypoint's and an object's are their HTTP and sockets.
const RPC_TARGET_RESERVED = { __proto__: null, then: 1, constructor: 1, toJSON: 1, valueOf: 1, toString: 1 };

// The arguments of a property read (`await stub.name`) rather than a call: it crosses as the
// argument list's place's `{"get": 1}` (RPC_GET_JSON), and the callee reads the property
// (rpcPropertyOf).
const RPC_GET = ObjectFreeze({ __proto__: null });
const RPC_GET_JSON = { __proto__: null, get: 1 };
const rpcIsGet = (args) => args !== null && typeof args === "object" && !ArrayIsArray(args) && args.get === 1;

// Where an encoding is going, for its errors: `RPC: ... cannot cross to another worker`.
const RPC_TO_WORKER = { __proto__: null, where: "RPC", to: "another worker" };
const rpcCloneError = (dest, what) => new DOMException(`${dest.where}: ${what} cannot cross to ${dest.to}`, "DataCloneError");

// `array` with `v` appended as an own element (never through a setter tenant code put on
// Array.prototype).
function rpcAppend(array, v) {
  ObjectDefineProperty(array, array.length, { value: v, writable: true, enumerable: true, configurable: true });
  return array;
}

function rpcBytesToBase64(u8) {
  return decodeBytes(u8, "base64", 0, typedArrayLength(u8));
}

/** `value` as JSON-safe data in the tagged encoding (see the header); `dest` ({where, to}) names
 *  the destination in a DataCloneError's message. */
function rpcEncode(value, dest = RPC_TO_WORKER, exports = null, bodies = null) {
  const state = { __proto__: null, ancestors: new RpcSet(), where: dest.where, to: dest.to, units: 0, exports, bodies };
  const encoded = rpcEncodeValue(value, state, 0);
  if (bodies !== null) bodies.units = state.units;
  return encoded;
}

// The last call's turn on each Durable Object stub and target session, for each request (its
// task): a call's host call goes out after the request's previous call's on the same stub, though
// its arguments' pipes are opened first, so one request's calls on one object or target start in
// the order it made them (as Cloudflare delivers a stub's calls). Another request's calls never
// wait for these; a service binding's calls (each a request of its own) take no turn.
const rpcTurns = new RpcWeakMap();

/** Takes the next turn on `key` for the running request, at the call (before any await). */
function rpcTurn(key) {
  const task = hostTask();
  let byTask = rpcWeakGet(rpcTurns, key);
  if (byTask === undefined) {
    byTask = new RpcMap();
    rpcWeakSet(rpcTurns, key, byTask);
  }
  const previous = MapGet(byTask, task);
  const mine = new Deferred();
  MapSet(byTask, task, mine.promise);
  return {
    __proto__: null,
    previous,
    done: () => {
      mine.resolve(undefined);
      if (MapGet(byTask, task) === mine.promise) MapDelete(byTask, task);
    },
  };
}

/** No turn: a call that keeps no order with others. */
const RPC_NO_TURN = ObjectFreeze({ __proto__: null, previous: undefined, done: () => {} });

/** `send()` (which makes the host call at once) once the previous turn's host call went out;
 *  what it returns, in an array (its promise not awaited here). */
async function rpcAfter(turn, send) {
  if (turn.previous !== undefined) await turn.previous;
  const sent = send();
  turn.done();
  return [sent];
}

/** Encoded value `value` as the bytes of an RPC message that goes after `head`, or a
 *  DataCloneError when the host call could not carry it:
 *  the 16 MiB counted while encoding are UTF-16 units without JSON's syntax, so a value of wide
 *  characters may pass that count and still not fit the host call (which would refuse it with a
 *  TypeError naming the call, or the result limit end the isolate). */
function rpcMessage(head, value) {
  const bytes = utf8Encode(JSONStringify(value));
  const headBytes = typedArrayLength(utf8Encode(JSONStringify(head)));
  if (4 + headBytes + typedArrayLength(bytes) > HOST_CALL_MAX_BYTES) throw rpcTooLarge();
  return bytes;
}

/** The JSON text of a call's result `value`, or a DataCloneError past 16 MiB of UTF-8 (most
 *  results are known to fit without encoding them). */
function rpcResultText(value) {
  const text = JSONStringify(value);
  if (text.length * 3 > RPC_MAX_UNITS && typedArrayLength(utf8Encode(text)) > RPC_MAX_UNITS) throw rpcTooLarge();
  return text;
}

function rpcTooLarge() {
  return new DOMException("RPC: a value larger than 16 MiB cannot cross to another worker", "DataCloneError");
}

/** `value` encoded for another worker, its Requests', Responses' and streams' bodies sent
 *  (rpc-bodies.js: inline, or through pipes): a promise of [encoded, pipes], whose `start()` the
 *  sender calls once its message went (the pumps then go to `keep`) and `stop(e)` if it could
 *  not go. */
async function rpcEncodeForWorker(value, exports, keep = null) {
  const bodies = rpcBodies(keep);
  const encoded = rpcEncode(value, RPC_TO_WORKER, exports, bodies);
  const pipes = bodies.list.length > 0 ? await rpcSendBodies(bodies) : RPC_NO_PIPES;
  return [encoded, pipes];
}

/** `send()` (which makes the host call and answers its promise), then the pipes' pumps
 *  started: the promise of the call's answer, whose failure stops them. */
function rpcSendWith(pipes, send) {
  const sent = send();
  pipes.start();
  if (pipes !== RPC_NO_PIPES) uponPromise(sent, undefined, (e) => pipes.stop(e));
  return sent;
}

// Counts `n` more units of text in the encoding of `state`.
function rpcCount(state, n) {
  state.units += n;
  if (state.units > RPC_MAX_UNITS) throw rpcCloneError(state, "a value larger than 16 MiB");
}

function rpcEncodeValue(value, state, depth) {
  switch (typeof value) {
    case "string": rpcCount(state, value.length); return value;
    case "boolean": return value;
    case "undefined": return { $: "u" };
    case "number":
      if (rpcNumberIsFinite(value) && !ObjectIs(value, -0)) return value;
      return { $: "n", v: ObjectIs(value, -0) ? "-0" : `${value}` };
    case "bigint": return { $: "b", v: rpcBigIntString(value) };
    case "function":
      // A stub (of a function another worker returned) crosses as this worker's own target:
      // its calls come back here and go on through the stub.
      if (state.exports !== null) return rpcExport(state, value, true);
      if (rpcIsStub(rpcStubs, value)) throw rpcCloneError(state, "an RpcTarget's stub");
      throw rpcCloneError(state, `a function (${value.name || "anonymous"})`);
    case "symbol": throw rpcCloneError(state, "a symbol");
  }
  if (value === null) return null;
  if (depth > RPC_MAX_DEPTH) throw rpcCloneError(state, `a value nested deeper than ${RPC_MAX_DEPTH}`);
  if (SetHas(state.ancestors, value)) throw rpcCloneError(state, "a cyclic value");
  SetAdd(state.ancestors, value);
  try {
    return rpcEncodeObject(value, state, depth + 1);
  } finally {
    SetDelete(state.ancestors, value);
  }
}

function rpcEncodeObject(value, state, depth) {
  if (rpcIsStub(rpcStubs, value)) {
    // Passed on (to another worker, or back to its own): served here, through the stub.
    if (state.exports !== null) return rpcExport(state, value, false);
    throw rpcCloneError(state, "an RpcTarget's stub");
  }
  if (rpcIsPrototypeOf(RPC_TARGET_PROTOTYPE, value)) {
    if (state.exports !== null) return rpcExport(state, value, false);
    throw rpcCloneError(state, "an RpcTarget (one crosses as an RPC method's result only)");
  }
  if (ArrayIsArray(value)) {
    const out = [];
    for (let i = 0; i < value.length; i++) rpcAppend(out, rpcEncodeValue(value[i], state, depth));
    return out;
  }
  if (state.bodies !== null) {
    const web = rpcEncodeWeb(value, state);
    if (web !== undefined) return web;
  }
  if (typedArrayName(value) !== undefined) {
    if (typedArrayName(value) !== "Uint8Array") throw rpcCloneError(state, `a ${typedArrayName(value)} (send a Uint8Array)`);
    rpcCount(state, typedArrayLength(value) / 3 * 4);
    return { $: "u8", v: rpcBytesToBase64(value) };
  }
  const kind = builtinKind(value);
  if (kind === K_DATE) {
    const t = rpcDateTime(value);
    return { $: "d", v: t === t ? t : null };
  }
  if (kind === K_ARRAYBUFFER) {
    const bytes = new ByteArray(value);
    rpcCount(state, typedArrayLength(bytes) / 3 * 4);
    return { $: "ab", v: rpcBytesToBase64(bytes) };
  }
  if (kind === K_MAP) {
    const entries = [];
    MapForEach(value, (v, k) => { rpcAppend(entries, [rpcEncodeValue(k, state, depth), rpcEncodeValue(v, state, depth)]); });
    return { $: "m", v: entries };
  }
  if (kind === K_SET) {
    const items = [];
    SetForEach(value, (v) => { rpcAppend(items, rpcEncodeValue(v, state, depth)); });
    return { $: "s", v: items };
  }
  if (kind === K_ERROR) {
    const name = `${value.name}`;
    const message = `${value.message}`;
    rpcCount(state, name.length + message.length);
    return { $: "e", name, message };
  }
  const proto = ObjectGetPrototypeOf(value);
  if (proto !== ObjectPrototype && proto !== null) {
    throw rpcCloneError(state, `an instance of ${constructorName(value) ?? "a class"} (only plain data crosses)`);
  }
  const out = {};
  const keys = ObjectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    rpcCount(state, keys[i].length);
    ObjectDefineProperty(out, keys[i], { value: rpcEncodeValue(value[keys[i]], state, depth), writable: true, enumerable: true, configurable: true });
  }
  return ObjectGetOwnPropertyDescriptor(out, "$") !== undefined ? { $: "o", v: out } : out;
}

/** The value `data` (parsed JSON in the tagged encoding) stands for; its targets become stubs
 *  of `session` (an RPC call's, or none). */
function rpcDecode(data, session = null) {
  if (data === null || typeof data !== "object") return data;
  if (ArrayIsArray(data)) {
    const out = [];
    for (let i = 0; i < data.length; i++) rpcAppend(out, rpcDecode(data[i], session));
    return out;
  }
  switch (data.$) {
    case undefined: return rpcDecodeObject(data, session);
    case "u": return undefined;
    case "n": return data.v === "-0" ? -0 : +data.v;
    case "b": return rpcBigInt(`${data.v}`);
    case "d": return new RpcDate(data.v === null ? NaN : +data.v);
    case "u8": return encodeString(`${data.v}`, "base64");
    case "ab": return typedArrayBuffer(encodeString(`${data.v}`, "base64"));
    case "m": {
      const out = new RpcMap();
      for (let i = 0; i < data.v.length; i++) MapSet(out, rpcDecode(data.v[i][0], session), rpcDecode(data.v[i][1], session));
      return out;
    }
    case "s": {
      const out = new RpcSet();
      for (let i = 0; i < data.v.length; i++) SetAdd(out, rpcDecode(data.v[i], session));
      return out;
    }
    case "e": return rpcThrown(data);
    case "h": case "rq": case "rs": case "rd": return rpcDecodeWeb(data);
    case "o": return rpcDecodeObject(data.v, session);
    case "t":
      if (session === null) throw new TypeError("RPC: an RpcTarget cannot arrive here (only in an RPC method's result)");
      return rpcTargetStub(session, data.v >>> 0, data.f === 1);
    default: throw new TypeError(`RPC: unknown encoded value ${JSONStringify(data.$)}`);
  }
}

function rpcDecodeObject(data, session) {
  const out = {};
  const keys = ObjectKeys(data);
  for (let i = 0; i < keys.length; i++) {
    ObjectDefineProperty(out, keys[i], { value: rpcDecode(data[keys[i]], session), writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/** An error with `e`'s name and message, of the class that name names where there is one. */
function rpcThrown(e) {
  const name = typeof e?.name === "string" ? e.name : "Error";
  const message = typeof e?.message === "string" ? e.message : "";
  const Ctor = RPC_ERRORS[name];
  if (Ctor !== undefined) return new Ctor(message);
  if (name in DOMEXCEPTION_CODES || name in RPC_DOM_NAMES) return new DOMException(message, name);
  const error = new RpcError(message);
  ObjectDefineProperty(error, "name", { value: name, writable: true, enumerable: false, configurable: true });
  return error;
}

// ---- the caller's side ----

/** The binding head of a call through `target` ({binding, worker?, entrypoint?}). */
async function rpcHead(target) {
  if (target.self === true) {
    // ctx.exports' loopback: this worker's own entrypoint, with the props its code chose.
    const head = { self: true };
    if (target.entrypoint !== null) head.entrypoint = target.entrypoint;
    if (target.loopProps !== undefined) head.props = target.loopProps;
    return head;
  }
  const head = { binding: target.binding };
  if (target.worker !== null) head.worker = await target.worker();
  if (target.entrypoint !== null) head.entrypoint = target.entrypoint;
  if (target.callProps !== undefined) head.props = target.callProps; // a Loader child's entrypoint
  if (target.object !== undefined) { // a Durable Object's stub (durable.js)
    head.id = target.object.id;
    if (target.object.name !== undefined) head.name = target.object.name;
  }
  return head;
}

async function rpcCall(target, method, args) {
  const turn = target.object !== undefined ? rpcTurn(target) : RPC_NO_TURN;
  // Functions and RpcTargets among the arguments cross as the callee's stubs of them, which it
  // may call while this call waits (callbacks, rpc-targets.js); stubs among them are lent.
  const exports = rpcExports(true);
  let answerHead, bytes;
  let pipes = RPC_NO_PIPES;
  try {
    // A DataCloneError here: nothing was sent.
    let encoded = RPC_GET_JSON;
    if (args !== RPC_GET) [encoded, pipes] = await rpcEncodeForWorker(args, exports);
    const head = await rpcHead(target);
    head.method = method;
    const call = target.object !== undefined ? "do.call" : "service.call";
    const message = rpcMessage(head, encoded);
    const [sent] = await rpcAfter(turn, () => rpcSendWith(pipes, () => bindingCall(call, head, message)));
    [answerHead, bytes] = await rpcUntilAnswer(exports, await sent);
  } catch (e) {
    pipes.stop(e);
    throw e;
  } finally {
    turn.done();
    rpcReturnLent(exports);
  }
  const answer = JSONParse(utf8DecodeStripBOM(bytes));
  if (answer !== null && typeof answer === "object" && answer.error !== undefined) throw rpcThrown(answer.error);
  // A result with RpcTargets: the callee serves them in session `answerHead.session`.
  const session = typeof answerHead?.session === "number"
    ? { __proto__: null, number: answerHead.session, key: `${answerHead.key}`, alive: 0, released: false }
    : null;
  return rpcDecode(answer?.ok, session);
}

/** Waits for an RPC call's answer ([head, bytes]: what `first` began), running the callbacks the
 *  callee makes meanwhile (`{callback, pending, key, reply}` heads) at once, each answered with
 *  `service.reply` when it is over, while `service.resume` waits for the call's next event: a
 *  callback may wait for another of the same call, as on Cloudflare. */
async function rpcUntilAnswer(exports, first) {
  let [answerHead, bytes] = first;
  while (answerHead !== null && typeof answerHead === "object" && typeof answerHead.callback === "object" && answerHead.callback !== null) {
    const call = { pending: answerHead.pending, key: answerHead.key };
    const reply = answerHead.reply;
    uponPromise(rpcCallback(exports, answerHead.callback, bytes), ([answer, pipes]) => rpcReply(call, reply, answer, pipes), noop);
    [answerHead, bytes] = await bindingCall("service.resume", call, new ByteArray(0));
  }
  return [answerHead, bytes];
}

/** Sends callback `reply`'s `answer` to the call `call` names (`service.reply`), then starts
 *  its `pipes`. An answer too large to send goes as the error saying so (the callee gets why,
 *  not silence); a call answered meanwhile takes none (its callee no longer waits). */
function rpcReply(call, reply, answer, pipes) {
  const head = { pending: call.pending, key: call.key, reply };
  let body;
  try {
    body = rpcMessage(head, answer);
  } catch (e) {
    pipes.stop(e);
    pipes = RPC_NO_PIPES;
    body = utf8Encode(JSONStringify({ error: errorSummary(e) }));
  }
  uponPromise(rpcSendWith(pipes, () => bindingCall("service.reply", head, body)), undefined, noop);
}

// A service fetch's bodies stream both ways: a request body the caller knows whole and no larger
// than RPC_INLINE_BODY rides in the call, any other is fed with fetch.write (pumpUpload, as an
// outbound fetch's upload); a streamed answer's body is read with fetch.read as the target
// writes it, and fetch.cancel lets go of it (the target's request is then cancelled), as an
// outbound fetch's.
const RPC_INLINE_BODY = 1 << 20;

/** The head of a service fetch's answer, or a typed error for a refusal (a binding frame whose
 *  head is {"error"}; an answer is a fetch frame). */
function serviceAnswerHead(reply) {
  if (!isUint8Array(reply) || typedArrayLength(reply) < 4) throw new TypeError("fetch: malformed answer from the host");
  const n = (reply[0] | (reply[1] << 8) | (reply[2] << 16) | (reply[3] << 24)) >>> 0;
  if (4 + n > typedArrayLength(reply)) throw new TypeError("fetch: malformed answer from the host");
  const head = JSONParse(utf8DecodeStripBOM(bytesView(reply, 4, 4 + n)));
  if (head === null || typeof head !== "object") throw new TypeError("fetch: malformed answer from the host");
  if (head.error !== undefined) throw bindingError(head.error);
  return head;
}

/** Lets go of the body of a service's answer nobody will read (a streamed one is cancelled, so
 *  the target's request ends). */
function dropServiceBody(head) {
  if (typeof head?.stream === "number") uponPromise(hostCall("fetch.cancel", idFrame(head.stream)), undefined, noop);
}

// The request's signal: aborted before the call, nothing is sent; aborted while the target works,
// the fetch rejects with its reason at once and the target's request is cancelled
// (fetch.abort); aborted after the answer, its body errors and the target's request is
// cancelled (fetch.cancel). Either way an upload still going fails and its stream is cancelled.
async function rpcFetch(target, input, init) {
  const turn = target.object !== undefined ? rpcTurn(target) : RPC_NO_TURN;
  try {
    return await rpcFetchInTurn(target, input, init, turn);
  } finally {
    turn.done();
  }
}

async function rpcFetchInTurn(target, input, init, turn) {
  const request = new Request(input, init);
  const { method, url, headers, body, redirect, signal } = requestForFetch(request);
  if (abortSignalAborted(signal)) throw abortSignalReason(signal);
  if (body !== null && bodyUnusable(body)) throw new TypeError("fetch: the request body has already been used");
  const binding = await rpcHead(target);
  if (abortSignalAborted(signal)) throw abortSignalReason(signal);
  const call = binding.call = nextFetchCall();
  const fetchHead = { method, url, headers, redirect };
  const out = body === null ? null : bodyForHost(body); // the whole body, or a reader over its stream
  let bytes = null;
  let reader = null;
  if (out !== null) {
    if (isUint8Array(out) && typedArrayLength(out) <= RPC_INLINE_BODY) {
      bytes = out;
    } else {
      reader = isUint8Array(out) ? bytesReader(out) : out;
      fetchHead.upload = nextUploadId(); // fetch-outbound.js
    }
  }
  if (turn.previous !== undefined) await turn.previous;
  const inner = frameForHost(fetchHead, bytes);
  const outer = frameForHost(binding, inner);
  releaseBytes(inner);
  const sent = hostCallFreeing(target.object !== undefined ? "do.fetch" : "service.fetch", outer);
  turn.done();
  const upload = { __proto__: null, aborted: false, reason: undefined };
  if (reader !== null) uponPromise(pumpUpload(reader, fetchHead.upload, upload), undefined, noop);
  return new PromiseCtor((resolve, reject) => {
    let settled = false;
    let answer = null; // the answer's head, once it came
    let responseBody = null;
    const fail = (e) => {
      settled = true;
      removeAbortAlgorithm(signal, onAbort);
      upload.aborted = true; // an upload nobody takes stops
      upload.reason = e;
      reject(e);
    };
    const onAbort = () => {
      const reason = abortSignalReason(signal);
      upload.aborted = true;
      upload.reason = reason;
      cancelBody(body, reason);
      if (!settled) {
        settled = true;
        uponPromise(hostCall("fetch.abort", idFrame(call)), undefined, noop);
        reject(reason);
      } else if (responseBody !== null) {
        errorBody(responseBody, reason);
        dropServiceBody(answer);
      }
    };
    addAbortAlgorithm(signal, onAbort);
    uponPromise(sent, (reply) => {
      let head = null;
      try {
        head = serviceAnswerHead(reply);
      } catch (e) {
        if (!settled) fail(e);
        return;
      }
      if (settled) {
        dropServiceBody(head); // aborted meanwhile
        return;
      }
      let response;
      try {
        // A Durable Object's 101 carries the socket it accepted (durable-websocket.js).
        response = responseFromHost(reply, target.object !== undefined ? { __proto__: null } : null);
      } catch (e) {
        dropServiceBody(head);
        fail(e);
        return;
      }
      settled = true;
      answer = head;
      responseBody = responseBodyOf(response);
      if (responseBody === null) removeAbortAlgorithm(signal, onAbort);
      resolve(response);
    }, (e) => {
      if (settled) return;
      // As bindingCall's (bindings.js): an isolate's limit stays a RangeError.
      if (e instanceof RangeError) fail(new RangeError(`service.fetch: ${e.message}`));
      else fail(new DOMException(`service.fetch: ${e?.message ?? e}`, "OperationError"));
    });
  });
}

/** A stub over `target` ({binding, worker: null | () => Promise<id>, entrypoint: null | name,
 *  and for a Durable Object's: object {id, name}, props {id, name}}): `fetch`, and any other
 *  string property is an RPC method. */
function rpcStub(target, apply = null) {
  const fetch = (input, init = undefined) => rpcFetch(target, input, init);
  return rpcMethodProxy((property, args) => rpcCall(target, property, args), (property) => {
    if (property === "fetch") return fetch;
    // A Durable Object's stub: `id` and `name` are properties (durable.js).
    if (typeof property === "string" && target.props !== undefined && property in target.props) return target.props[property];
    return undefined;
  }, apply);
}

// A function a proxy may stand for so that it can be called, with no own property a proxy's
// invariants would hold its `get` to.
function rpcCallableTarget() {
  const f = () => {};
  delete f.name;
  delete f.length;
  return f;
}

/** `options.props` as a call's props: a copy as JSON (what the supervisor cannot carry is a
 *  TypeError now, not later), undefined for none. */
function rpcPropsOption(options, where) {
  const given = options === null || options === undefined ? undefined : options.props;
  if (given === undefined) return undefined;
  if (given === null || typeof given !== "object" || ArrayIsArray(given)) {
    throw new TypeError(`${where}: props must be an object`);
  }
  let copy;
  try {
    copy = JSONParse(JSONStringify(given));
  } catch (e) {
    throw new TypeError(`${where}: props must be JSON: ${e?.message ?? e}`);
  }
  if (copy === null || typeof copy !== "object" || ArrayIsArray(copy)) {
    throw new TypeError(`${where}: props must be an object (as JSON)`);
  }
  return copy;
}

/** A loopback stub: this worker's own entrypoint `entrypoint` ("default": its default export),
 *  whose calls see `props` (an object, or undefined for none) as `ctx.props`. A Loader child's
 *  env may hold it (workerCodeJson sends it as `{"binding": "service", "self": true, ...}`,
 *  which the supervisor makes this worker's id). Called with `({props})`, another one with those
 *  props, as Cloudflare's `ctx.exports.Name({props})`. */
function rpcLoopback(entrypoint, props) {
  const target = { binding: null, worker: null, entrypoint: entrypoint === "default" ? null : entrypoint, self: true, loopProps: props };
  const stub = rpcStub(target, (options) => rpcLoopback(entrypoint, rpcPropsOption(options, "ctx.exports")));
  const raw = { binding: "service", self: true };
  if (target.entrypoint !== null) raw.entrypoint = target.entrypoint;
  if (props !== undefined) raw.props = props;
  rememberCapability(stub, raw);
  return stub;
}

/** `ctx.exports` of the module namespace `ns`: for a Durable Object class (one a namespace of
 *  `env` names), that namespace; a loopback stub (rpcLoopback) for each other export that is a
 *  class or an object with a `fetch` method, the default one included. Made once per
 *  namespace; frozen. */
function ctxExportsOf(ns, env) {
  let out = rpcWeakGet(rpcCtxExports, ns);
  if (out !== undefined) return out;
  const objects = new RpcMap(); // class name -> its namespace
  if (env !== null && typeof env === "object") {
    const keys = ObjectKeys(env);
    for (let i = 0; i < keys.length; i++) {
      const value = env[keys[i]];
      const raw = rpcWeakGet(capabilityDescriptors, value);
      if (raw !== undefined && raw.binding === "durable_object_namespace") MapSet(objects, `${raw.class_name}`, value);
    }
  }
  out = ObjectCreate(null);
  const names = ObjectKeys(ns);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const value = ns[name];
    const isClass = typeof value === "function" && value.prototype !== null && typeof value.prototype === "object";
    const handler = value !== null && typeof value === "object" && typeof value.fetch === "function";
    const namespace = isClass ? MapGet(objects, name) : undefined;
    if (isClass || handler) {
      const entry = namespace !== undefined ? namespace : rpcLoopback(name, undefined);
      ObjectDefineProperty(out, name, { value: entry, enumerable: true, writable: false, configurable: false });
    }
  }
  ObjectFreeze(out);
  rpcWeakSet(rpcCtxExports, ns, out);
  return out;
}
const rpcCtxExports = new RpcWeakMap();

/** A frozen object whose every string property but the reserved names is a method calling
 *  `call(name, args)`; `own(property)` answers first for the properties it has (a value other
 *  than undefined). Each method is also a thenable, as Cloudflare's stubs' are: awaiting it
 *  (`await stub.name`) reads the remote property instead, `call(name, RPC_GET)`, anew each time;
 *  and its members pipeline on that read (`await stub.name.field`; rpcPipeline). */
function rpcMethodProxy(call, own, apply = null, reserved = RPC_RESERVED) {
  const methods = new RpcMap();
  return new RpcProxy(apply === null ? ObjectFreeze(ObjectCreate(null)) : rpcCallableTarget(), {
    __proto__: null,
    apply(_, __, args) {
      return apply(args.length > 0 ? args[0] : undefined);
    },
    get(_, property) {
      const value = own(property);
      if (value !== undefined) return value;
      if (typeof property !== "string" || property in reserved) return undefined;
      let method = MapGet(methods, property);
      if (method === undefined) {
        // Called, the method; awaited, the property read anew (and its members pipelined).
        method = rpcPipelineNode(() => call(property, RPC_GET), (args) => rpcPipeline(call(property, args)), rpcCallableTarget(), false);
        MapSet(methods, property, method);
      }
      return method;
    },
    set() { return false; },
    defineProperty() { return false; },
    deleteProperty() { return false; },
    setPrototypeOf() { return false; },
  });
}

// Names a pending result never offers as its result's members (a result's stub's `fetch` is).
const RPC_PIPELINE_RESERVED = { __proto__: null, constructor: 1, toJSON: 1, valueOf: 1, toString: 1 };

/** An RPC call's pending result `promise` as Cloudflare's RpcPromise: awaitable, and usable
 *  before it settles (promise pipelining): each string member but a few reserved names is a
 *  method that calls that member of the result once it comes, and, awaited, reads it, and has
 *  members of its own in turn; so `await stub.counter(5).increment()` and
 *  `await stub.nested().a.value` work without awaiting each step. (The steps still cross one
 *  after the other: nothing is sent before the result a step needs has come, and a member is
 *  read only when it is awaited.) */
function rpcPipeline(promise) {
  return rpcPipelineNode(() => promise, null, ObjectFreeze(ObjectCreate(null)));
}

// A node of a pipeline: `valueOf()` makes the promise of its value (once, at the first use;
// at every use unless `once`: a stub's member, read anew at each await), `invoke(args)` calls it
// (a member), and `target` is what the proxy stands for (a function for a member, so it can be
// called).
function rpcPipelineNode(valueOf, invoke, target, once = true) {
  let made = null;
  const value = () => {
    if (!once) return valueOf();
    if (made === null) made = valueOf();
    return made;
  };
  const then = (onFulfilled, onRejected) => promiseThen(value(), onFulfilled, onRejected);
  const own = {
    __proto__: null,
    then,
    catch: (onRejected) => then(undefined, onRejected),
    finally: (onFinally) => ReflectApply(RpcPromiseFinally, value(), [onFinally]),
  };
  let members = null; // made at the first member: most results are only awaited
  const memberOf = (result, property) => (result === null || result === undefined ? undefined : result[property]);
  return new RpcProxy(target, {
    __proto__: null,
    apply(_, __, args) {
      return invoke(args);
    },
    get(_, property) {
      if (property === "then" || property === "catch" || property === "finally") return own[property];
      if (typeof property !== "string" || property in RPC_PIPELINE_RESERVED) return undefined;
      if (members === null) members = new RpcMap();
      let member = MapGet(members, property);
      if (member === undefined) {
        member = rpcPipelineNode(
          () => promiseThen(value(), (result) => memberOf(result, property)),
          (args) => rpcPipeline(promiseThen(value(), (result) => {
            const f = memberOf(result, property);
            if (typeof f !== "function") throw new TypeError(`RPC: the result has no method ${JSONStringify(property)}`);
            return ReflectApply(f, result, args);
          })),
          rpcCallableTarget(),
          once,
        );
        MapSet(members, property, member);
      }
      return member;
    },
    set() { return false; },
    defineProperty() { return false; },
    deleteProperty() { return false; },
    setPrototypeOf() { return false; },
  });
}

/** A service binding's descriptor as a `globalOutbound`: the worker (or `self`, the parent's
 *  ctx.exports), its entrypoint and props. */
function rpcOutboundOf(raw) {
  const out = raw.self === true ? { __proto__: null, self: true } : { __proto__: null, worker: raw.worker };
  if (raw.entrypoint !== undefined && raw.entrypoint !== null) out.entrypoint = raw.entrypoint;
  if (raw.props !== undefined && raw.props !== null) out.props = raw.props;
  return out;
}

/** A WorkerCode as JSON text (UTF-8), the parent's capability objects replaced by what they were
 *  made from. A capability stands only as a value of `env` or as `globalOutbound` (anywhere
 *  else it would be plain data to the child, its props readable). */
function workerCodeJson(code) {
  if (code === null || typeof code !== "object") throw new TypeError("the worker code must be an object (WorkerCode)");
  const text = JSONStringify(code, function (key, value) {
    if (this === code && key === "env" && value !== null && typeof value === "object" && !ArrayIsArray(value)) {
      // A fresh copy, its bindings already their descriptors: nothing else reaches it, so the
      // same env object reused elsewhere in the code (a JSON module) carries no binding.
      const env = ObjectCreate(null);
      const keys = ObjectKeys(value);
      for (let i = 0; i < keys.length; i++) {
        const v = value[keys[i]];
        const raw = v !== null && (typeof v === "object" || typeof v === "function") ? rpcWeakGet(capabilityDescriptors, v) : undefined;
        ObjectDefineProperty(env, keys[i], { value: raw !== undefined ? raw : v, enumerable: true, writable: false, configurable: false });
      }
      return env;
    }
    if (value !== null && (typeof value === "object" || typeof value === "function")) {
      const raw = rpcWeakGet(capabilityDescriptors, value);
      if (raw !== undefined) {
        if (this === code && key === "globalOutbound") return raw.binding === "service" ? rpcOutboundOf(raw) : raw;
        throw new TypeError(`WorkerCode: a binding (${JSONStringify(key)}) stands only as a value of env or as globalOutbound`);
      }
    }
    return value;
  });
  if (typeof text !== "string" || text[0] !== "{") throw new TypeError("the worker code must be an object (WorkerCode)");
  return utf8Encode(wellFormedJson(text));
}

class WorkerStub {
  #binding;
  #worker;
  constructor(token, binding, worker) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
    this.#worker = worker;
  }
  /** A stub of the child's export `name` (the default one without), whose calls see
   *  `options.props` as `ctx.props` (the parent's to choose: it made the child). */
  getEntrypoint(name = undefined, options = undefined) {
    const entrypoint = name === undefined || name === null ? null : `${name}`;
    const props = rpcPropsOption(options, "getEntrypoint");
    return rpcStub({ binding: this.#binding, worker: this.#worker, entrypoint, callProps: props });
  }
  fetch(input, init = undefined) {
    return rpcFetch({ binding: this.#binding, worker: this.#worker, entrypoint: null }, input, init);
  }
}
setTag(WorkerStub.prototype, "WorkerStub");

/** `make()` once; a failure is not kept (the next use tries again). */
function once(make) {
  let pending = null;
  return () => {
    if (pending === null) {
      const made = make();
      pending = made;
      uponPromise(made, undefined, () => { if (pending === made) pending = null; });
    }
    return pending;
  };
}

class WorkerLoader {
  #binding;
  constructor(token, binding) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }
  get(name, getCode) {
    if (typeof getCode !== "function") throw new TypeError("WorkerLoader.get(name, getCode): getCode must be a function");
    const binding = this.#binding;
    const id = `${name}`;
    const worker = once(async () => {
      const [cached] = await bindingCall("loader.get", { binding, name: id });
      if (typeof cached.id === "string") return cached.id;
      const code = workerCodeJson(await getCode());
      return (await bindingCall("loader.create", { binding, name: id }, code))[0].id;
    });
    return new WorkerStub(INTERNAL, binding, worker);
  }
  load(code) {
    const binding = this.#binding;
    const json = workerCodeJson(code);
    const worker = once(async () => (await bindingCall("loader.create", { binding }, json))[0].id);
    return new WorkerStub(INTERNAL, binding, worker);
  }
}
setTag(WorkerLoader.prototype, "WorkerLoader");

// ---- the callee's side (runtime.js, STK_INVOKE_RPC) ----

/** Whether `name` is a method `target` offers over RPC: a function found on the object or its
 *  prototypes below Object.prototype, and not a reserved name. */
function rpcMethodOf(target, name, reserved = RPC_RESERVED) {
  if (name in reserved) return undefined;
  for (let o = target, hops = 0; o !== null && o !== ObjectPrototype && hops < 100; o = ObjectGetPrototypeOf(o), hops++) {
    const d = ObjectGetOwnPropertyDescriptor(o, name);
    if (d !== undefined) return typeof d.value === "function" ? d.value : undefined;
  }
  return undefined;
}

/** The value `target` offers over RPC as its property `name` (the caller's `await stub.name`): a
 *  getter's result, or a value, found on its prototypes below Object.prototype (its own fields
 *  are not offered, as Cloudflare's are not); a method comes bound to `target` (the caller gets
 *  a function stub); undefined when there is none. */
function rpcPropertyOf(target, name, reserved = RPC_RESERVED) {
  if (name in reserved) return undefined;
  for (let o = ObjectGetPrototypeOf(target), hops = 0; o !== null && o !== ObjectPrototype && hops < 100; o = ObjectGetPrototypeOf(o), hops++) {
    const d = ObjectGetOwnPropertyDescriptor(o, name);
    if (d === undefined) continue;
    if (typeof d.get === "function") return ReflectApply(d.get, target, []);
    if (typeof d.value !== "function") return d.value;
    // One bound function per (object, method): reading it again exports the same target.
    let bound = rpcWeakGet(rpcBoundMethods, target);
    if (bound === undefined) {
      bound = new RpcMap();
      rpcWeakSet(rpcBoundMethods, target, bound);
    }
    let f = MapGet(bound, name);
    if (f === undefined) {
      const method = d.value;
      f = (...args) => ReflectApply(method, target, args);
      MapSet(bound, name, f);
    }
    return f;
  }
  return undefined;
}
const rpcBoundMethods = new RpcWeakMap();

/** Runs one RPC call of the module `ns`: JSON text {"ok": encoded} or {"error": {name, message}}.
 *  Arguments `{"get": 1}` read a property instead (rpcPropertyOf). */
async function rpcInvoke(ns, payload, ctx) {
  try {
    const call = JSONParse(payload);
    // What the service binding the call came through carries (ctx.exports' props, say).
    const props = call.props !== null && typeof call.props === "object" ? call.props : {};
    ObjectDefineProperty(ctx, "props", { value: props, enumerable: true, writable: true, configurable: true });
    const get = rpcIsGet(call.args);
    // The result's streams are pumped after the answer: they keep the request open as its
    // waitUntil work does.
    const keep = (pump) => ctx.waitUntil(pump);
    // The caller's functions and RpcTargets: stubs it serves while this call runs (released once
    // the method's result is in: a later call of one fails here, reaching no other call's).
    const back = rpcBackSession();
    const args = get ? [] : rpcDecode(call.args, back);
    const name = call.entrypoint === "" ? "default" : `${call.entrypoint}`;
    const handler = ns[name];
    const env = workerEnv() ?? makeEnv(call.env);
    ObjectDefineProperty(ctx, "exports", { get: () => ctxExportsOf(ns, env), enumerable: true, configurable: true });
    const object = durableObjectOf(name);
    if (object !== null) {
      // A Durable Object's call: its one instance, behind its gates (durable.js).
      const method = `${call.method}`;
      const durable = lazyInternals("durable");
      const run = get ? (target) => rpcPropertyOf(target, method) : (target) => {
        const f = rpcMethodOf(target, method);
        if (f === undefined) throw new TypeError(`the Durable Object class ${JSONStringify(name)} has no RPC method ${JSONStringify(method)}`);
        return ReflectApply(f, target, ArrayIsArray(args) ? args : []);
      };
      // The method and arguments: a WebSocket's event is durable.js's own.
      let result;
      try {
        result = await durable.deliver(object, handler, env, ctx, run, get ? undefined : method, args);
      } finally {
        await rpcCallbacksOver(back);
      }
      // Its targets' calls go through the object's gates too, as calls of its own.
      return await rpcAnswer(result, (run) => durable.deliver(object, handler, env, ctx, run), keep);
    }
    let target;
    if (typeof handler === "function" && handler.prototype !== null && typeof handler.prototype === "object") {
      target = new handler(ctx, env); // a WorkerEntrypoint class: constructed per call, as Cloudflare does
    } else if (handler !== null && typeof handler === "object") {
      target = handler;
    } else {
      throw new TypeError(`the worker has no entrypoint ${JSONStringify(name)}`);
    }
    if (get) return await rpcAnswer(await rpcPropertyOf(target, `${call.method}`), undefined, keep);
    const method = rpcMethodOf(target, `${call.method}`);
    if (method === undefined) throw new TypeError(`the entrypoint ${JSONStringify(name)} has no RPC method ${JSONStringify(`${call.method}`)}`);
    let result;
    try {
      result = await ReflectApply(method, target, ArrayIsArray(args) ? args : []);
    } finally {
      await rpcCallbacksOver(back);
    }
    return await rpcAnswer(result, undefined, keep);
  } catch (e) {
    return JSONStringify({ error: errorSummary(e) });
  }
}
