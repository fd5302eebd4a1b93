// ---- bindings.js: the capabilities a worker's env grants, as objects over host calls. ----
// The host hands a Loader worker's `env` as JSON; `makeEnv` (a host export) keeps plain values as
// they are and turns each binding object into a capability whose methods make host calls naming
// the binding by its env key:
//   {"binding": "kv", "namespace": "n"}        -> a KVNamespace (Cloudflare KV's methods): kv.*
//                                                 (kv.js, a lazy part)
//   {"binding": "workspace", "name": "w1"}     -> a Workspace (files, glob, search, diff...): ws.*
//                                                 (kv.js)
//   {"binding": "d1", "database": "db"}        -> a D1Database (Cloudflare D1's client API): d1.*
//                                                 (d1.js, a lazy part)
//   {"binding": "r2", "bucket": "b"}           -> an R2Bucket (Cloudflare R2's Workers API): r2.*
//                                                 (r2.js, a lazy part)
//   {"binding": "queue", "queue": "q"}         -> a Queue producer (send, sendBatch): queue.send
//                                                 (queue.js, a lazy part)
//   {"binding": "capability", "name": "c"}     -> an object whose every method `m(...args)` is one
//                                                 cap.call {binding, method: m, args} answered
//                                                 {result} or {error: {name, message}}; args and
//                                                 result in rpc.js's tagged encoding (below)
//   {"binding": "service", ...}, {"binding": "loader"} -> RPC stubs, a WorkerLoader (rpc.js)
//   {"binding": "durable_object_namespace", "class_name": "C"} -> a DurableObjectNamespace whose
//                                                 stubs make do.call / do.fetch (durable.js)
// Wire format (both ways, like fetch): u32 LE head length, JSON head, raw bytes. An answer head
// `{"error": {name, message}}` is thrown as a TypeError, RangeError or DOMException of that name.
// The host's limits are checked here first, so an argument over them is a TypeError naming the
// limit (not the host's refusal, an OperationError): a call's payload and head
// (isolate/src/host.rs, daemon/src/storage/mod.rs), a stored value or file
// (daemon/src/store/kv.rs, workspace.rs).
// Trust: the supervisor resolves the binding name against the worker definition it stored, so an
// object here grants nothing by itself; its internal state is private (#fields), and it calls no
// method tenant code can patch.

const u8Subarray = uncurry(Uint8Array.prototype.subarray);

const HOST_CALL_MAX_BYTES = 16 * 1024 * 1024; // a host call's whole payload
const HOST_CALL_MAX_HEAD = 1024 * 1024; // its JSON head
const STORED_MAX_BYTES = 15 * 1024 * 1024; // a KV value, a workspace file

function bindingError(e) {
  const name = `${e?.name}`;
  const message = `${e?.message}`;
  if (name === "TypeError") return new TypeError(message);
  if (name === "RangeError") return new RangeError(message);
  return new DOMException(message, name);
}

// A host call's payload for `head` and `bytes`, refused past the host's sizes (`what` names the
// call in the message).
function bindingPayload(head, bytes, what) {
  const payload = frameForHost(head, bytes);
  const headLength = (payload[0] | (payload[1] << 8) | (payload[2] << 16) | (payload[3] << 24)) >>> 0;
  if (headLength > HOST_CALL_MAX_HEAD) throw new TypeError(`${what}: the arguments are more than ${HOST_CALL_MAX_HEAD} bytes of JSON`);
  if (typedArrayLength(payload) > HOST_CALL_MAX_BYTES) throw new TypeError(`${what}: the call carries more than ${HOST_CALL_MAX_BYTES} bytes`);
  return payload;
}

// What a host call `call` threw, as the caller sees it: a limit of the isolate's (too many host
// calls waiting in the request, an answer too large for its memory) stays a RangeError naming
// it; a refusal is an OperationError naming why.
function bindingFailure(call, e) {
  if (e instanceof RangeError) return new RangeError(`${call}: ${e.message}`);
  return new DOMException(`${call}: ${e?.message ?? e}`, "OperationError");
}

// Frees the store of a buffer only the runtime holds (a host call's payload once the host has
// copied it, an answer once read) now rather than at a later collection: its block goes back to
// the isolate's arena for the next one (bridge/memory.h), so a stream of host calls reuses a few
// blocks instead of mapping and unmapping one per call. Never for a tenant's bytes. A small one
// (a block the arena carves from a chunk: no mapping of its own) and one that cannot be detached
// (none of the runtime's) are left to the collector.
const RELEASE_ABOVE = 2048; // the arena's largest small block (ArenaAllocator::kMaxSmall)
function releaseBytes(view) {
  if (typedArrayLength(view) <= RELEASE_ABOVE) return;
  try {
    ArrayBufferTransfer(typedArrayBuffer(view), 0);
  } catch {}
}

// hostCall with a payload only the runtime holds (a frame made for the call), freed as soon as
// the host has copied it, as the call is made.
function hostCallFreeing(name, payload) {
  const answered = hostCall(name, payload);
  releaseBytes(payload);
  return answered;
}

// A host call's answer: [answer head, answer bytes], or the error the head names, thrown.
function bindingAnswer(call, reply, makeError) {
  if (!ArrayBufferIsView(reply) || reply.length < 4) throw new TypeError(`${call}: malformed answer from the host`);
  const n = (reply[0] | (reply[1] << 8) | (reply[2] << 16) | (reply[3] << 24)) >>> 0;
  if (4 + n > reply.length) throw new TypeError(`${call}: malformed answer from the host`);
  const answer = JSONParse(utf8DecodeStripBOM(u8Subarray(reply, 4, 4 + n)));
  const bytes = bytesCopy(reply, 4 + n); // species-free: tenant code may have replaced it
  releaseBytes(reply);
  if (answer !== null && typeof answer === "object" && answer.error !== undefined) throw makeError(answer.error);
  return [answer, bytes];
}

// One host call: [answer head, answer bytes]. `what` names the call in a refusal's message.
async function bindingCall(call, head, bytes = null, makeError = bindingError, what = call) {
  const payload = bindingPayload(head, bytes, what);
  let reply;
  try {
    const answered = hostCall(call, payload);
    releaseBytes(payload); // copied by the host as the call was made
    reply = await answered;
  } catch (e) {
    throw bindingFailure(call, e);
  }
  return bindingAnswer(call, reply, makeError);
}

// The bytes of a value to store: a string (UTF-8), an ArrayBuffer or view, or a ReadableStream;
// at most STORED_MAX_BYTES (`what` names the call, `noun` what is stored), refused before copying
// (a stream is cancelled as soon as it passes the limit).
async function valueBytes(value, what, noun) {
  const tooLarge = () => new TypeError(`${what}: ${noun} is at most ${STORED_MAX_BYTES} bytes`);
  if (typeof value === "string") {
    if (value.length > STORED_MAX_BYTES) throw tooLarge(); // UTF-8 takes at least a byte per unit
    const bytes = utf8Encode(value);
    if (typedArrayLength(bytes) > STORED_MAX_BYTES) throw tooLarge();
    return bytes;
  }
  const stream = streamRecordOf(value);
  if (stream !== undefined) {
    if (streamsInternals().IsReadableStreamLocked(stream)) throw new TypeError(`${what}: the stream is locked`);
    return readAllBytes(stream, STORED_MAX_BYTES, tooLarge);
  }
  let view;
  try {
    view = bufferSourceBytes(value, what);
  } catch {
    throw new TypeError(`${what}: the value must be a string, ArrayBuffer, ArrayBufferView or ReadableStream`);
  }
  if (typedArrayLength(view) > STORED_MAX_BYTES) throw tooLarge();
  return bytesCopy(view); // the runtime's own copy (species-free), which its callers free
}

// A capability's error keeps its name and message: a built-in error class of that name, else an
// Error whose `name` is it.
function capabilityError(e) {
  const name = `${e?.name}`;
  const message = `${e?.message}`;
  switch (name) {
    case "TypeError": return new TypeError(message);
    case "RangeError": return new RangeError(message);
    case "SyntaxError": return new SyntaxError(message);
    case "ReferenceError": return new ReferenceError(message);
    case "Error": return new Error(message);
    default: {
      const error = new Error(message);
      ObjectDefineProperty(error, "name", { value: name, writable: true, enumerable: false, configurable: true });
      return error;
    }
  }
}

const ProxyConstructor = Proxy;
const ObjectPrototype = Object.prototype;

// A capability call's arguments and result are structured-clone data in rpc.js's tagged encoding
// (`rpcEncode`/`rpcDecode`, the one encoder: JSON stays JSON, and a Map, Set, Date, Uint8Array,
// ArrayBuffer, BigInt, undefined, NaN, ±Infinity, -0 or Error is a `{"$": tag, ...}` object). The
// isolate does not know a capability's kind (the supervisor looks the capability up at every
// call, and a redeclared one may change kind), so it always sends the tagged encoding and always
// decodes the answer: the supervisor passes both through unchanged for an `http` capability and,
// for an `mcp` one, turns the arguments into JSON (a Date as its ISO string; a Map, Set, bytes or
// BigInt is a TypeError naming the tool) and its JSON results into the encoding
// (daemon/src/capabilities/tagged.rs). What cannot be cloned (a function, a symbol, a class
// instance, a cycle) is a DataCloneError before anything is sent.
function makeCapability(key) {
  const methods = ObjectCreate(null);
  const handler = ObjectCreate(null);
  handler.get = (target, prop) => {
    if (typeof prop !== "string" || prop === "then" || prop === "toJSON") return undefined;
    const known = methods[prop];
    if (known !== undefined) return known;
    const what = `${key}.${prop}`;
    const dest = { __proto__: null, where: what, to: "a capability" };
    const method = async (...args) => {
      const rpc = lazyInternals("rpc"); // rpc.js's tagged encoding
      const head = { binding: key, method: prop, args: rpc.rpcEncode(args, dest) };
      const [answer] = await bindingCall("cap.call", head, null, capabilityError, what);
      try {
        return rpc.rpcDecode(answer.result);
      } catch (e) {
        throw new TypeError(`${what}: the capability answered a value that is not in the tagged encoding (${e?.message})`);
      }
    };
    methods[prop] = method;
    return method;
  };
  return new ProxyConstructor(ObjectCreate(null), handler);
}

// What each capability object of an env was made from, so a child's WorkerCode may name the
// parent's own capability objects (`env: { KV: env.KV }`, `globalOutbound: env.SERVICE`; rpc.js
// reads them). A descriptor is a deep, frozen copy whose objects
// have no prototype: serializing it for a child (workerCodeJson) consults no `toJSON` tenant code
// put on Object.prototype, so what it holds (a service binding's props) is never handed to tenant
// code.
const capabilityDescriptors = new WeakMapCtor();
const CAPABILITY_MAX_DEPTH = 256;
function rememberCapability(object, raw) {
  if (object !== null && (typeof object === "object" || typeof object === "function")) {
    WeakMapSet(capabilityDescriptors, object, sealedCopy(raw, 0));
  }
}

// `value` (JSON data) as a deep frozen copy without prototypes.
function sealedCopy(value, depth) {
  if (value === null || typeof value !== "object") return value;
  if (depth > CAPABILITY_MAX_DEPTH) throw new TypeError("a binding nested too deep");
  let out;
  if (ArrayIsArray(value)) {
    out = [];
    for (let i = 0; i < value.length; i++) {
      ObjectDefineProperty(out, i, { value: sealedCopy(value[i], depth + 1), writable: true, enumerable: true, configurable: true });
    }
    ObjectSetPrototypeOf(out, null);
  } else {
    out = ObjectCreate(null);
    const keys = ObjectKeys(value);
    for (let i = 0; i < keys.length; i++) {
      ObjectDefineProperty(out, keys[i], { value: sealedCopy(value[keys[i]], depth + 1), enumerable: true, writable: false, configurable: false });
    }
  }
  return ObjectFreeze(out);
}

// The handler's env: a fresh object; binding objects become capabilities.
function makeEnv(raw) {
  const env = {};
  if (raw === null || typeof raw !== "object") return env;
  for (const key of ObjectKeys(raw)) {
    const v = raw[key];
    const kind = v !== null && typeof v === "object" && !ArrayIsArray(v) ? v.binding : undefined;
    if (kind === "kv") env[key] = lazyInternals("kv").makeKVNamespace(key); // kv.js
    else if (kind === "workspace") env[key] = lazyInternals("kv").makeWorkspace(key); // kv.js
    else if (kind === "d1") env[key] = lazyInternals("d1").makeD1Database(key); // d1.js
    else if (kind === "r2") env[key] = lazyInternals("r2").makeR2Bucket(key); // r2.js
    else if (kind === "queue") env[key] = lazyInternals("queue").makeQueue(key); // queue.js
    else if (kind === "capability") env[key] = makeCapability(key);
    else if (kind === "service") env[key] = lazyInternals("rpc").rpcStub({ binding: key, worker: null, entrypoint: null }); // rpc.js
    else if (kind === "loader") env[key] = lazyInternals("rpc").makeWorkerLoader(key); // rpc.js
    else if (kind === "durable_object_namespace") env[key] = lazyInternals("durable").makeNamespace(key, `${v.class_name}`); // durable.js
    else env[key] = v;
    if (kind !== undefined) rememberCapability(env[key], v); // a child's WorkerCode may name it
  }
  return env;
}
