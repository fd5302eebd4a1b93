// ---- prelude-end.js: host exports; closes the IIFE opened in prelude.js. --------
// The returned object is the script's completion value. Only the host holds it.
return ObjectFreeze({
  __proto__: null,
  newRequest(method, url, headers, body) {
    return newRequestFromHost(`${method}`, `${url}`, ArrayIsArray(headers) ? headers : [], body ?? null);
  },
  reportRejection(reason) {
    reportCaughtRejection(reason);
  },
  readResponse(value, encode) {
    return readResponseForHost(value, encode === true);
  },
  inspect(value) {
    return inspect(value);
  },
  configure(config) {
    configureWorker(config);
  },
  builtinNames(name) {
    return builtinNames(name);
  },
  builtinExports(name) {
    return builtinExports(name);
  },
  workerEnv() {
    return workerEnv();
  },
  hasFetchListener() {
    return hasFetchListenerForHost();
  },
  dispatchFetch(request, waitUntil, passThrough) {
    return dispatchFetchForHost(request, waitUntil, passThrough);
  },
  makeEnv(raw) {
    return makeEnv(raw);
  },
  durableObjectOf(name) {
    return durableObjectOf(`${name}`);
  },
  deliverToObject(object, Class, env, ctx, run) {
    return lazyInternals("durable").deliver(object, Class, env, ctx, run);
  },
  invokeRpc(ns, payload, ctx) {
    return lazyInternals("rpc").rpcInvoke(ns, payload, ctx); // rpc.js
  },
  ctxExports(ns, env) {
    return lazyInternals("rpc").ctxExportsOf(ns, env); // rpc.js
  },
  invokeScheduled(ns, payload) {
    return lazyInternals("scheduled").invoke(ns, payload);
  },
  invokeQueue(ns, payload, bodies) {
    return lazyInternals("queue").invoke(ns, payload, bodies);
  },
  // node:fs's per-request /tmp (node-fs-scope.js): the context an invocation starts in, and its
  // answer with that request's scope released once it and its waitUntil work have settled.
  requestContext() {
    return fsRequestContext();
  },
  releaseAfter(context, result) {
    return fsReleaseAfter(context, result);
  },
  wellFormedJson(text) {
    return wellFormedJson(text);
  },
});
})();
