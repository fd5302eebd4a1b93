// ---- node-diagnostics-channel.js: node:diagnostics_channel. ------------------------------------
// Node 20's named pub/sub channels, as workerd provides them: channel(name) (one Channel per name
// and isolate; a string or a symbol, else Node's ERR_INVALID_ARG_TYPE), hasSubscribers, subscribe
// and unsubscribe by name, Channel with publish (subscribers called in order with (message,
// name); one that throws is reported as an uncaught exception on a microtask, the others still
// run), bindStore/unbindStore/runStores (an AsyncLocalStorage entered around a publish and a
// call, its store computed by the optional transform), and tracingChannel (the start, end,
// asyncStart, asyncEnd and error channels, with traceSync, tracePromise, traceCallback). Unlike
// Node, whose channels without subscribers may be garbage collected, a channel lives as long as
// its isolate (the memory is the isolate's, within its limit). Subscriber lists are the runtime's
// own arrays, copied on change, read by index (no tenant-replaceable Array methods).

function diagnosticsChannelModule() {
  const channels = new MapCtor(); // name -> Channel
  const TRACE_EVENTS = ["start", "end", "asyncStart", "asyncEnd", "error"];

  /** Reports `err` as Node's process.nextTick(triggerUncaughtException) would: later, uncaught. */
  const reportLater = (err) => queueMicrotask(() => { throw err; });

  const without = (list, index) => {
    const out = [];
    for (let i = 0; i < list.length; i++) if (i !== index) appendEntry(out, list[i]);
    return out;
  };

  class Channel {
    #subscribers = [];
    #stores = new MapCtor(); // store -> transform
    constructor(name) {
      this.name = name;
      MapSet(channels, name, this);
    }
    subscribe(subscription) {
      validateFunction(subscription, "subscription");
      const next = without(this.#subscribers, -1);
      appendEntry(next, subscription);
      this.#subscribers = next;
    }
    unsubscribe(subscription) {
      const index = ArrayIndexOf(this.#subscribers, subscription);
      if (index === -1) return false;
      this.#subscribers = without(this.#subscribers, index);
      return true;
    }
    bindStore(store, transform) {
      MapSet(this.#stores, store, transform);
    }
    unbindStore(store) {
      if (!MapHas(this.#stores, store)) return false;
      MapDelete(this.#stores, store);
      return true;
    }
    get hasSubscribers() {
      return this.#subscribers.length > 0 || mapSize(this.#stores) > 0;
    }
    publish(data) {
      const subscribers = this.#subscribers; // a later change makes a new list
      for (let i = 0; i < subscribers.length; i++) {
        try {
          const onMessage = subscribers[i];
          onMessage(data, this.name);
        } catch (err) {
          reportLater(err);
        }
      }
    }
    runStores(data, fn, thisArg, ...args) {
      let run = () => {
        this.publish(data);
        return ReflectApply(fn, thisArg, args);
      };
      const entries = [];
      MapForEach(this.#stores, (transform, store) => appendEntry(entries, [store, transform]));
      for (let i = 0; i < entries.length; i++) {
        const store = entries[i][0];
        const transform = entries[i][1] ?? ((v) => v);
        const next = run;
        run = () => {
          let context;
          try {
            context = transform(data);
          } catch (err) {
            reportLater(err);
            return next();
          }
          return store.run(context, next);
        };
      }
      return run();
    }
  }

  function channel(name) {
    const found = MapGet(channels, name);
    if (found !== undefined) return found;
    if (typeof name !== "string" && typeof name !== "symbol") {
      throw invalidArgType("channel", "one of type string or symbol", name);
    }
    return new Channel(name);
  }

  function hasSubscribers(name) {
    const found = MapGet(channels, name);
    return found === undefined ? false : found.hasSubscribers;
  }

  function tracingChannelFrom(nameOrChannels, name) {
    if (typeof nameOrChannels === "string") return channel(`tracing:${nameOrChannels}:${name}`);
    if (typeof nameOrChannels === "object" && nameOrChannels !== null) {
      const found = nameOrChannels[name];
      if (!(found instanceof Channel)) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE",
          `The "nameOrChannels.${name}" property must be an instance of Channel.${describeReceived(found)}`);
      }
      return found;
    }
    throw invalidArgType("nameOrChannels", "of type string or an instance of TracingChannel or Object", nameOrChannels);
  }

  class TracingChannel {
    constructor(nameOrChannels) {
      for (let i = 0; i < TRACE_EVENTS.length; i++) {
        ObjectDefineProperty(this, TRACE_EVENTS[i],
          { __proto__: null, value: tracingChannelFrom(nameOrChannels, TRACE_EVENTS[i]) });
      }
    }
    get hasSubscribers() {
      return this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers ||
        this.asyncEnd.hasSubscribers || this.error.hasSubscribers;
    }
    subscribe(handlers) {
      for (let i = 0; i < TRACE_EVENTS.length; i++) {
        const name = TRACE_EVENTS[i];
        if (handlers[name]) this[name]?.subscribe(handlers[name]);
      }
    }
    unsubscribe(handlers) {
      let done = true;
      for (let i = 0; i < TRACE_EVENTS.length; i++) {
        const name = TRACE_EVENTS[i];
        if (handlers[name] && !this[name]?.unsubscribe(handlers[name])) done = false;
      }
      return done;
    }
    traceSync(fn, context = {}, thisArg = undefined, ...args) {
      if (!this.hasSubscribers) return ReflectApply(fn, thisArg, args);
      const { start, end, error } = this;
      return start.runStores(context, () => {
        try {
          const result = ReflectApply(fn, thisArg, args);
          context.result = result;
          return result;
        } catch (err) {
          context.error = err;
          error.publish(context);
          throw err;
        } finally {
          end.publish(context);
        }
      });
    }
    tracePromise(fn, context = {}, thisArg = undefined, ...args) {
      if (!this.hasSubscribers) return ReflectApply(fn, thisArg, args);
      const { start, end, asyncStart, asyncEnd, error } = this;
      const reject = (err) => {
        context.error = err;
        error.publish(context);
        asyncStart.publish(context);
        asyncEnd.publish(context);
        return promiseRejectedWith(err);
      };
      const resolve = (result) => {
        context.result = result;
        asyncStart.publish(context);
        asyncEnd.publish(context);
        return result;
      };
      return start.runStores(context, () => {
        try {
          let promise = ReflectApply(fn, thisArg, args);
          if (!(promise instanceof PromiseCtor)) promise = promiseResolvedWith(promise);
          return promiseThen(promise, resolve, reject);
        } catch (err) {
          context.error = err;
          error.publish(context);
          throw err;
        } finally {
          end.publish(context);
        }
      });
    }
    traceCallback(fn, position = -1, context = {}, thisArg = undefined, ...args) {
      if (!this.hasSubscribers) return ReflectApply(fn, thisArg, args);
      const { start, end, asyncStart, asyncEnd, error } = this;
      const at = position < 0 ? args.length + position : position;
      const callback = args[at];
      validateFunction(callback, "callback");
      function wrappedCallback(err, res) {
        if (err) {
          context.error = err;
          error.publish(context);
        } else {
          context.result = res;
        }
        const callArgs = arguments;
        asyncStart.runStores(context, () => {
          try {
            return ReflectApply(callback, this, callArgs);
          } finally {
            asyncEnd.publish(context);
          }
        });
      }
      args[at] = wrappedCallback;
      return start.runStores(context, () => {
        try {
          return ReflectApply(fn, thisArg, args);
        } catch (err) {
          context.error = err;
          error.publish(context);
          throw err;
        } finally {
          end.publish(context);
        }
      });
    }
  }

  return {
    channel,
    hasSubscribers,
    subscribe: (name, subscription) => channel(name).subscribe(subscription),
    unsubscribe: (name, subscription) => channel(name).unsubscribe(subscription),
    tracingChannel: (nameOrChannels) => new TracingChannel(nameOrChannels),
    Channel,
  };
}

defineBuiltin("node:diagnostics_channel", ["channel", "hasSubscribers", "subscribe", "unsubscribe",
  "tracingChannel", "Channel"], diagnosticsChannelModule);
