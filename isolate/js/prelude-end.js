// ---- prelude-end.js (part 25 of 25): host exports; closes the IIFE opened in prelude.js. --------
// The returned object is the script's completion value. Only the host holds it.
return ObjectFreeze({
  __proto__: null,
  newRequest(method, url, headers, body) {
    return newRequestFromHost(`${method}`, `${url}`, ArrayIsArray(headers) ? headers : [], body ?? null);
  },
  readResponse(value) {
    return readResponseForHost(value);
  },
  inspect(value) {
    return inspect(value);
  },
  hasFetchListener() {
    return hasFetchListenerForHost();
  },
  dispatchFetch(request, waitUntil, passThrough) {
    return dispatchFetchForHost(request, waitUntil, passThrough);
  },
});
})();
