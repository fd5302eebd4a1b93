// ---- streams-pipe.js: tee (default and byte streams), pipeTo, from. ---------
// Pipes and tees lock their streams and drive them through internal readers and writers only,
// so nothing a tenant patches on a prototype (or Object.prototype.then) is called.

/** Queues `fn` as a microtask. */
const queueStreamMicrotask = (fn) => { promiseThen(resolvedPromise, fn, undefined); };

function ReadableStreamTee(stream, cloneForBranch2) {
  if (stream.controller.isByte) return ReadableByteStreamTee(stream);
  return ReadableStreamDefaultTee(stream, cloneForBranch2);
}

function ReadableStreamDefaultTee(stream, cloneForBranch2) {
  const reader = AcquireReadableStreamDefaultReader(stream, false);
  let reading = false;
  let readAgain = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();
  const readRequest = {
    chunkSteps: (chunk) => {
      queueStreamMicrotask(() => {
        readAgain = false;
        const chunk1 = chunk;
        let chunk2 = chunk;
        if (!canceled2 && cloneForBranch2) {
          try {
            chunk2 = cloneValue(chunk2, new Map());
          } catch (e) {
            ReadableStreamDefaultControllerError(branch1.controller, e);
            ReadableStreamDefaultControllerError(branch2.controller, e);
            cancelPromise.resolve(ReadableStreamCancel(stream, e));
            return;
          }
        }
        if (!canceled1) ReadableStreamDefaultControllerEnqueue(branch1.controller, chunk1);
        if (!canceled2) ReadableStreamDefaultControllerEnqueue(branch2.controller, chunk2);
        reading = false;
        if (readAgain) pullAlgorithm();
      });
    },
    closeSteps: () => {
      reading = false;
      if (!canceled1) ReadableStreamDefaultControllerClose(branch1.controller);
      if (!canceled2) ReadableStreamDefaultControllerClose(branch2.controller);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    },
    errorSteps: () => {
      reading = false;
    },
  };
  const pullAlgorithm = () => {
    if (reading) {
      readAgain = true;
      return resolvedUndefined();
    }
    reading = true;
    ReadableStreamDefaultReaderRead(reader, readRequest);
    return resolvedUndefined();
  };
  const cancel1Algorithm = (reason) => {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) cancelPromise.resolve(ReadableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  };
  const cancel2Algorithm = (reason) => {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) cancelPromise.resolve(ReadableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  };
  branch1 = CreateReadableStream(noop, pullAlgorithm, cancel1Algorithm);
  branch2 = CreateReadableStream(noop, pullAlgorithm, cancel2Algorithm);
  uponPromise(reader.closed.promise, undefined, (r) => {
    ReadableStreamDefaultControllerError(branch1.controller, r);
    ReadableStreamDefaultControllerError(branch2.controller, r);
    if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
  });
  return [branch1, branch2];
}

function ReadableByteStreamTee(stream) {
  let reader = AcquireReadableStreamDefaultReader(stream, false);
  let reading = false;
  let readAgainForBranch1 = false;
  let readAgainForBranch2 = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();
  const forwardReaderError = (thisReader) => {
    uponPromise(thisReader.closed.promise, undefined, (r) => {
      if (thisReader !== reader) return;
      ReadableByteStreamControllerError(branch1.controller, r);
      ReadableByteStreamControllerError(branch2.controller, r);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    });
  };
  const pullWithDefaultReader = () => {
    if (reader.isByob) {
      ReadableStreamBYOBReaderRelease(reader);
      reader = AcquireReadableStreamDefaultReader(stream, false);
      forwardReaderError(reader);
    }
    ReadableStreamDefaultReaderRead(reader, {
      chunkSteps: (chunk) => {
        queueStreamMicrotask(() => {
          readAgainForBranch1 = readAgainForBranch2 = false;
          const chunk1 = chunk;
          let chunk2 = chunk;
          if (!canceled1 && !canceled2) {
            try {
              chunk2 = CloneAsUint8Array(chunk);
            } catch (e) {
              ReadableByteStreamControllerError(branch1.controller, e);
              ReadableByteStreamControllerError(branch2.controller, e);
              cancelPromise.resolve(ReadableStreamCancel(stream, e));
              return;
            }
          }
          if (!canceled1) ReadableByteStreamControllerEnqueue(branch1.controller, chunk1);
          if (!canceled2) ReadableByteStreamControllerEnqueue(branch2.controller, chunk2);
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      closeSteps: () => {
        reading = false;
        if (!canceled1) ReadableByteStreamControllerClose(branch1.controller);
        if (!canceled2) ReadableByteStreamControllerClose(branch2.controller);
        if (branch1.controller.pendingPullIntos.length > 0) ReadableByteStreamControllerRespond(branch1.controller, 0);
        if (branch2.controller.pendingPullIntos.length > 0) ReadableByteStreamControllerRespond(branch2.controller, 0);
        if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
      },
      errorSteps: () => {
        reading = false;
      },
    });
  };
  const pullWithBYOBReader = (view, forBranch2) => {
    if (!reader.isByob) {
      ReadableStreamDefaultReaderRelease(reader);
      reader = AcquireReadableStreamBYOBReader(stream, false);
      forwardReaderError(reader);
    }
    const byobBranch = forBranch2 ? branch2 : branch1;
    const otherBranch = forBranch2 ? branch1 : branch2;
    ReadableStreamBYOBReaderRead(reader, view, 1, {
      chunkSteps: (chunk) => {
        queueStreamMicrotask(() => {
          readAgainForBranch1 = readAgainForBranch2 = false;
          const byobCanceled = forBranch2 ? canceled2 : canceled1;
          const otherCanceled = forBranch2 ? canceled1 : canceled2;
          if (!otherCanceled) {
            let cloned;
            try {
              cloned = CloneAsUint8Array(chunk);
            } catch (e) {
              ReadableByteStreamControllerError(byobBranch.controller, e);
              ReadableByteStreamControllerError(otherBranch.controller, e);
              cancelPromise.resolve(ReadableStreamCancel(stream, e));
              return;
            }
            if (!byobCanceled) ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
            ReadableByteStreamControllerEnqueue(otherBranch.controller, cloned);
          } else if (!byobCanceled) {
            ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
          }
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      closeSteps: (chunk) => {
        reading = false;
        const byobCanceled = forBranch2 ? canceled2 : canceled1;
        const otherCanceled = forBranch2 ? canceled1 : canceled2;
        if (!byobCanceled) ReadableByteStreamControllerClose(byobBranch.controller);
        if (!otherCanceled) ReadableByteStreamControllerClose(otherBranch.controller);
        if (chunk !== undefined) {
          if (!byobCanceled) ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
          if (!otherCanceled && otherBranch.controller.pendingPullIntos.length > 0) {
            ReadableByteStreamControllerRespond(otherBranch.controller, 0);
          }
        }
        if (!byobCanceled || !otherCanceled) cancelPromise.resolve(undefined);
      },
      errorSteps: () => {
        reading = false;
      },
    });
  };
  const pull1Algorithm = () => {
    if (reading) {
      readAgainForBranch1 = true;
      return resolvedUndefined();
    }
    reading = true;
    const request = ReadableByteStreamControllerGetBYOBRequest(branch1.controller);
    if (request === null) pullWithDefaultReader();
    else pullWithBYOBReader(request.view, false);
    return resolvedUndefined();
  };
  const pull2Algorithm = () => {
    if (reading) {
      readAgainForBranch2 = true;
      return resolvedUndefined();
    }
    reading = true;
    const request = ReadableByteStreamControllerGetBYOBRequest(branch2.controller);
    if (request === null) pullWithDefaultReader();
    else pullWithBYOBReader(request.view, true);
    return resolvedUndefined();
  };
  const cancel1Algorithm = (reason) => {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) cancelPromise.resolve(ReadableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  };
  const cancel2Algorithm = (reason) => {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) cancelPromise.resolve(ReadableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  };
  branch1 = CreateReadableByteStream(noop, pull1Algorithm, cancel1Algorithm);
  branch2 = CreateReadableByteStream(noop, pull2Algorithm, cancel2Algorithm);
  forwardReaderError(reader);
  return [branch1, branch2];
}

// ---- pipeTo ------------------------------------------------------------------------------------
/** A promise fulfilled once all `promises` are, rejected with the first rejection. */
function waitForAll(promises) {
  const d = new Deferred();
  let remaining = promises.length;
  if (remaining === 0) d.resolve(undefined);
  for (let i = 0; i < promises.length; i++) {
    uponPromise(promises[i], () => {
      if (--remaining === 0) d.resolve(undefined);
    }, (e) => d.reject(e));
  }
  return d.promise;
}

function ReadableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
  const reader = AcquireReadableStreamDefaultReader(source, false);
  const writer = AcquireWritableStreamDefaultWriter(dest, false);
  source.disturbed = true;
  let shuttingDown = false;
  let currentWrite = resolvedUndefined();
  const result = new Deferred();
  let abortAlgorithm;

  const waitForWritesToFinish = () => {
    const old = currentWrite;
    return promiseThen(currentWrite, () => (old !== currentWrite ? waitForWritesToFinish() : undefined), undefined);
  };
  const finalize = (isError, error) => {
    WritableStreamDefaultWriterRelease(writer);
    ReadableStreamDefaultReaderRelease(reader);
    if (signal !== undefined) removeAbortAlgorithm(signal, abortAlgorithm);
    if (isError) result.reject(error);
    else result.resolve(undefined);
  };
  const shutdownWithAction = (action, hasError, originalError) => {
    if (shuttingDown) return;
    shuttingDown = true;
    const doTheRest = () => {
      uponPromise(action(), () => finalize(hasError, originalError), (newError) => finalize(true, newError));
    };
    if (dest.state === "writable" && !WritableStreamCloseQueuedOrInFlight(dest)) {
      uponPromise(waitForWritesToFinish(), doTheRest);
    } else {
      doTheRest();
    }
  };
  const shutdown = (hasError, error) => {
    if (shuttingDown) return;
    shuttingDown = true;
    if (dest.state === "writable" && !WritableStreamCloseQueuedOrInFlight(dest)) {
      uponPromise(waitForWritesToFinish(), () => finalize(hasError, error));
    } else {
      finalize(hasError, error);
    }
  };

  if (signal !== undefined) {
    abortAlgorithm = () => {
      // The signal passed toPipeSignal's brand check: its reason is read from its internal slot.
      const error = abortSignalReason(signal);
      const actions = [];
      if (!preventAbort) appendToArray(actions, () => (dest.state === "writable" ? WritableStreamAbort(dest, error) : resolvedUndefined()));
      if (!preventCancel) appendToArray(actions, () => (source.state === "readable" ? ReadableStreamCancel(source, error) : resolvedUndefined()));
      shutdownWithAction(() => {
        const promises = [];
        for (let i = 0; i < actions.length; i++) appendToArray(promises, actions[i]());
        return waitForAll(promises);
      }, true, error);
    };
    if (abortSignalAborted(signal)) {
      abortAlgorithm();
      return result.promise;
    }
    addAbortAlgorithm(signal, abortAlgorithm);
  }

  // Errors must be propagated forward.
  const onSourceErrored = (storedError) => {
    if (!preventAbort) shutdownWithAction(() => WritableStreamAbort(dest, storedError), true, storedError);
    else shutdown(true, storedError);
  };
  // Errors must be propagated backward.
  const onDestErrored = (storedError) => {
    if (!preventCancel) shutdownWithAction(() => ReadableStreamCancel(source, storedError), true, storedError);
    else shutdown(true, storedError);
  };
  // Closing must be propagated forward.
  const onSourceClosed = () => {
    if (!preventClose) shutdownWithAction(() => WritableStreamDefaultWriterCloseWithErrorPropagation(writer), false);
    else shutdown(false);
  };

  if (source.state === "errored") onSourceErrored(source.storedError);
  else uponPromise(reader.closed.promise, undefined, onSourceErrored);
  if (dest.state === "errored") onDestErrored(dest.storedError);
  else uponPromise(writer.closed.promise, undefined, onDestErrored);
  if (source.state === "closed") onSourceClosed();
  else uponPromise(reader.closed.promise, onSourceClosed);
  // Closing must be propagated backward.
  if (WritableStreamCloseQueuedOrInFlight(dest) || dest.state === "closed") {
    const destClosed = new TypeError("pipeTo: the destination is closed or closing");
    if (!preventCancel) shutdownWithAction(() => ReadableStreamCancel(source, destClosed), true, destClosed);
    else shutdown(true, destClosed);
  }

  // The read/write loop: one read whenever the writer has no backpressure.
  const pipeStep = () => {
    if (shuttingDown) return;
    uponPromise(writer.ready.promise, () => {
      if (shuttingDown) return;
      ReadableStreamDefaultReaderRead(reader, {
        chunkSteps: (chunk) => {
          currentWrite = promiseThen(WritableStreamDefaultWriterWrite(writer, chunk), undefined, noop);
          pipeStep();
        },
        closeSteps: noop,
        errorSteps: noop,
      });
    });
  };
  pipeStep();
  return result.promise;
}

// ---- ReadableStream.from -----------------------------------------------------------------------
function getMethod(object, key) {
  const method = object[key];
  if (method === undefined || method === null) return undefined;
  if (typeof method !== "function") throw new TypeError(`${String(key)} is not a function`);
  return method;
}

/** Opens an async sequence: { iterator, next, sync }. */
function openAsyncSequence(value) {
  // GetMethod reads primitives through their wrappers: a string is a sequence of code points.
  if (value === null || value === undefined) throw new TypeError("ReadableStream.from: the argument must be an iterable or async iterable");
  let method = getMethod(value, SymbolAsyncIterator);
  let sync = false;
  if (method === undefined) {
    method = getMethod(value, SymbolIterator);
    if (method === undefined) throw new TypeError("ReadableStream.from: the argument is not iterable");
    sync = true;
  }
  const iterator = ReflectApply(method, value, []);
  if (!isObjectLike(iterator)) throw new TypeError("ReadableStream.from: the iterator is not an object");
  return { iterator, next: iterator.next, sync };
}

/** Closes a sync iterator, ignoring what its `return` does (the spec's IteratorClose on error). */
function closeSyncIteratorQuietly(iterator) {
  try {
    const ret = iterator.return;
    if (ret !== undefined && ret !== null) ReflectApply(ret, iterator, []);
  } catch {}
}

/** The next value of an opened async sequence: a promise of a value or END_OF_ITERATION. */
function asyncSequenceNext(record) {
  let result;
  try {
    result = ReflectApply(record.next, record.iterator, []);
    if (record.sync) {
      if (!isObjectLike(result)) throw new TypeError("ReadableStream.from: the iterator result is not an object");
      const done = !!result.done;
      const value = result.value;
      if (done) return promiseResolvedWith(END_OF_ITERATION);
      let wrapped;
      try {
        wrapped = promiseResolvedWith(value);
      } catch (e) {
        closeSyncIteratorQuietly(record.iterator);
        throw e;
      }
      return promiseThen(wrapped, undefined, (e) => {
        closeSyncIteratorQuietly(record.iterator);
        throw e;
      });
    }
  } catch (e) {
    return promiseRejectedWith(e);
  }
  return promiseThen(promiseResolvedWith(result), (iterResult) => {
    if (!isObjectLike(iterResult)) throw new TypeError("ReadableStream.from: the iterator result is not an object");
    if (iterResult.done) return END_OF_ITERATION;
    return iterResult.value;
  }, undefined);
}

/** Closes an opened async sequence with `reason`. */
function asyncSequenceClose(record, reason) {
  const iterator = record.iterator;
  let returnResult;
  try {
    const ret = getMethod(iterator, "return");
    if (ret === undefined) return resolvedUndefined();
    returnResult = ReflectApply(ret, iterator, [reason]);
    if (record.sync) {
      if (!isObjectLike(returnResult)) throw new TypeError("ReadableStream.from: the iterator's return() result is not an object");
      returnResult = promiseThen(promiseResolvedWith(returnResult.value), () => ({}), undefined);
    }
  } catch (e) {
    return promiseRejectedWith(e);
  }
  return promiseThen(promiseResolvedWith(returnResult), (r) => {
    if (!isObjectLike(r)) throw new TypeError("ReadableStream.from: the iterator's return() result is not an object");
    return undefined;
  }, undefined);
}

function ReadableStreamFromIterable(asyncIterable) {
  let stream;
  const record = openAsyncSequence(asyncIterable);
  const pullAlgorithm = () => promiseThen(asyncSequenceNext(record), (v) => {
    if (v === END_OF_ITERATION) ReadableStreamDefaultControllerClose(stream.controller);
    else ReadableStreamDefaultControllerEnqueue(stream.controller, v);
  }, (r) => {
    ReadableStreamDefaultControllerError(stream.controller, r);
  });
  const cancelAlgorithm = (reason) => asyncSequenceClose(record, reason);
  stream = CreateReadableStream(noop, pullAlgorithm, cancelAlgorithm, 0);
  return stream;
}
