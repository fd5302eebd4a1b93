// ---- node-fs-scope.js: node:fs's per-request /tmp (eager; the rest of node:fs is lazy). -------
// Guarantees: once node:fs is built in an isolate, every invocation the host starts (the task it
// names to the runtime's invoker) begins in an async context of its own that carries a fresh
// request scope: the AsyncLocalStorage frame (node-process.js) becomes a Map holding the scope
// under FS_SCOPE, a key no tenant code holds, so the scope follows `await`, timers and host
// replies as an AsyncLocalStorage store does (workerd ties /tmp to the request's IoContext; this
// is the equivalent). The scope's /tmp is released, and its bytes and files stop counting
// against the isolate's caps, once the invocation's answer and its waitUntil work have settled.
// Code outside any request (a module's top level) uses the isolate's own scope. Before node:fs is
// built nothing changes: the invocation starts with an empty frame, as before.
// Trusts: the host to start each invocation through runtime.js's invoker.

const FS_SCOPE = ObjectFreeze({ __proto__: null });
// Primordials node-fs*.js use (their lazy top level may not capture any).
const fsArraySort = uncurry(Array.prototype.sort);
const fsSubarray = uncurry(TypedArrayPrototype.subarray);
const fsMathMax = Math.max;
const fsMathCeil = Math.ceil;
const FsDate = Date;
/** Isolate-wide: whether node:fs is in use, and what every live scope's /tmp holds. */
const fsScopes = { __proto__: null, enabled: false, bytes: 0, files: 0, global: null };

function fsNewScope() {
  return { __proto__: null, tmp: null, bytes: 0, files: 0, released: false };
}

/** The async context an invocation starts in: undefined (empty) unless node:fs is in use. */
function fsRequestContext() {
  if (!fsScopes.enabled) return undefined;
  const frame = new MapCtor();
  MapSet(frame, FS_SCOPE, fsNewScope());
  return frame;
}

/** The scope of the running code: its request's, or the isolate's own outside any request. */
function fsCurrentScope() {
  const frame = hostGetContext();
  const scope = frame instanceof MapCtor ? MapGet(frame, FS_SCOPE) : undefined;
  if (scope !== undefined && !scope.released) return scope;
  if (fsScopes.global === null) fsScopes.global = fsNewScope();
  return fsScopes.global;
}

function fsRelease(context) {
  const scope = MapGet(context, FS_SCOPE);
  if (scope === undefined || scope.released) return;
  scope.released = true;
  fsScopes.bytes -= scope.bytes;
  fsScopes.files -= scope.files;
  scope.tmp = null;
}

/** `result` (an invocation's answer) with the request's scope released once it, and the
 *  background work an answer array carries at index 2, have settled. */
async function fsReleaseAfter(context, result) {
  let value;
  try {
    value = await result;
  } catch (e) {
    fsRelease(context);
    throw e;
  }
  if (ArrayIsArray(value) && value.length === 3 && value[2] !== undefined && value[2] !== null) {
    const rest = value[2];
    value[2] = (async () => {
      try {
        await rest;
      } finally {
        fsRelease(context);
      }
    })();
  } else {
    fsRelease(context);
  }
  return value;
}
