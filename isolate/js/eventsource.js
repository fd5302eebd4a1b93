// ---- eventsource.js: EventSource (server-sent events), as workerd. ------------------------------
// `new EventSource(url, { fetcher? })` fetches `url` (through the runtime's own `fetch`, so the
// egress policy applies, or through `fetcher.fetch`, workerd's extension for a service binding)
// with `Accept: text/event-stream`, and parses the body as HTML's event stream: lines ended by
// CRLF, LF or CR; `data`, `event`, `id` and `retry` fields, `:` comments; a blank line dispatches
// the event gathered (a MessageEvent of the event's type, "message" by default, with `data`,
// `lastEventId` and the URL's `origin`; one with no data is dropped). A response that is not a
// 2xx, or whose Content-Type is not `text/event-stream`, or a fetch that fails (the egress
// policy's refusal, a host that does not answer), fails the source for good (an `error` event,
// readyState CLOSED, as workerd); a body that ends or breaks is reconnected after the reconnection
// time (2 s, or the stream's `retry`, kept within 1-10 s as workerd does), sending
// `Last-Event-ID`; a response without a body twice in a row fails it. `EventSource.from(stream)`
// parses a ReadableStream of bytes the caller has, with no reconnection. `close()` (also
// `[Symbol.dispose]`) aborts the fetch or cancels the stream. `withCredentials: true` is refused
// (NotSupportedError), as workerd. Everything runs in the request that made the source: its
// timers and fetches end with it. The parser keeps its state in private fields and reads the
// body through the streams' internal reader, so a tenant's replaced prototypes never steer it.

const ES_CONNECTING = 0, ES_OPEN = 1, ES_CLOSED = 2;
const ES_DEFAULT_RETRY_MS = 2000, ES_MIN_RETRY_MS = 1000, ES_MAX_RETRY_MS = 10000;
const ES_LF = 10, ES_CR = 13;
const ES_FROM = ObjectFreeze({ __proto__: null }); // EventSource.from's constructor argument
const ES_DISPOSE = Symbol.dispose;

/** The event stream's line parser over decoded text (HTML 9.2.6), fed chunk by chunk. */
class EventStreamParser {
  #pending = ""; // text after the last line end
  #afterCr = false; // the last chunk ended with CR: a LF starting the next one is the same end
  #bomChecked = false;
  #data = "";
  #hasData = false;
  #type = "";
  #source; // { setLastEventId(id), lastEventId(), setRetry(ms), dispatch(type, data, id) }
  constructor(source) {
    this.#source = source;
  }
  /** Feeds decoded text; dispatches every event a blank line completes. */
  feed(text) {
    if (!this.#bomChecked && text.length > 0) {
      this.#bomChecked = true;
      if (StringCharCodeAt(text, 0) === 0xfeff) text = StringSlice(text, 1);
    }
    let start = 0;
    const n = text.length;
    if (this.#afterCr && n > 0 && StringCharCodeAt(text, 0) === ES_LF) start = 1;
    this.#afterCr = false;
    for (let i = start; i < n; i++) {
      const c = StringCharCodeAt(text, i);
      if (c !== ES_LF && c !== ES_CR) continue;
      const line = this.#pending + StringSlice(text, start, i);
      this.#pending = "";
      if (c === ES_CR) {
        if (i + 1 < n) {
          if (StringCharCodeAt(text, i + 1) === ES_LF) i++;
        } else {
          this.#afterCr = true;
        }
      }
      start = i + 1;
      this.#line(line);
    }
    if (start < n) this.#pending += StringSlice(text, start);
  }
  /** The stream ended: an incomplete event is dropped (HTML: "discard"). */
  end() {
    this.#pending = "";
    this.#data = "";
    this.#hasData = false;
    this.#type = "";
  }
  #line(line) {
    if (line.length === 0) {
      const data = this.#data, hasData = this.#hasData, type = this.#type;
      this.#data = "";
      this.#hasData = false;
      this.#type = "";
      if (hasData) this.#source.dispatch(type === "" ? "message" : type, data, this.#source.lastEventId());
      return;
    }
    const colon = StringIndexOf(line, ":");
    if (colon === 0) return; // a comment
    const field = colon < 0 ? line : StringSlice(line, 0, colon);
    let value = colon < 0 ? "" : StringSlice(line, colon + 1);
    if (value.length > 0 && StringCharCodeAt(value, 0) === 0x20) value = StringSlice(value, 1);
    if (field === "data") {
      this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
      this.#hasData = true;
    } else if (field === "event") {
      this.#type = value;
    } else if (field === "id") {
      if (StringIndexOf(value, "\0") < 0) this.#source.setLastEventId(value);
    } else if (field === "retry") {
      if (value.length > 0 && value.length <= 10 && esAsciiDigits(value)) this.#source.setRetry(+value);
    }
  }
}

function esAsciiDigits(s) {
  for (let i = 0; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

const esHttpSpace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Content-Type's essence (type/subtype, lower-cased), or "" when there is none. */
function esMimeEssence(value) {
  if (value === null) return "";
  const semi = StringIndexOf(value, ";");
  const essence = semi < 0 ? value : StringSlice(value, 0, semi);
  let from = 0, to = essence.length;
  while (from < to && esHttpSpace(StringCharCodeAt(essence, from))) from++;
  while (to > from && esHttpSpace(StringCharCodeAt(essence, to - 1))) to--;
  return StringToLowerCase(StringSlice(essence, from, to));
}

class EventSource extends EventTarget {
  #url = null; // the URL's href, or null for EventSource.from
  #origin = "";
  #fetcher = null; // [target, fetch function] or null
  #readyState = ES_CONNECTING;
  #lastEventId = "";
  #retryMs = ES_DEFAULT_RETRY_MS;
  #previousNoBody = false;
  #abort = null; // the current connection's AbortSignal (ours to abort)
  #reader = null; // the current body's internal reader
  #stream = null; // the current body's stream record
  #timer = 0; // a pending reconnection
  #closeCalled = false;

  constructor(url, init = undefined) {
    requireArgs(arguments.length, 1, "EventSource");
    super();
    if (url === ES_FROM) return; // EventSource.from: no URL, no connection
    const href = `${url}`;
    let parsed;
    try {
      parsed = new URL(href);
    } catch {
      throw new DOMException(`Cannot open an EventSource to '${href}'. The URL is invalid.`, "SyntaxError");
    }
    const withCredentials = dictGet(init, "withCredentials");
    if (withCredentials !== undefined && withCredentials) {
      throw new DOMException("The init.withCredentials option is not supported. It must be false or undefined.", "NotSupportedError");
    }
    const fetcher = dictGet(init, "fetcher");
    if (fetcher !== undefined && fetcher !== null) {
      const f = fetcher.fetch;
      if (typeof f !== "function") throw new TypeError("EventSource: init.fetcher must have a fetch method");
      this.#fetcher = [fetcher, f];
    }
    this.#url = parsed.href;
    this.#origin = parsed.origin;
    this.#connect();
  }

  static from(stream) {
    requireArgs(arguments.length, 1, "EventSource.from");
    const record = streamsInternals().streamRecord(stream);
    if (record === undefined) throw new TypeError("EventSource.from: the argument must be a ReadableStream");
    if (streamsInternals().IsReadableStreamLocked(record)) throw new TypeError("This ReadableStream is locked.");
    if (record.disturbed) throw new TypeError("This ReadableStream has already been read from.");
    const source = new EventSource(ES_FROM);
    source.#run(record, false);
    return source;
  }

  get url() { return this.#url ?? ""; }
  get withCredentials() { return false; }
  get readyState() { return this.#readyState; }
  get onopen() { return eventHandlerGet(this, "open"); }
  set onopen(value) { eventHandlerSet(this, "open", value); }
  get onmessage() { return eventHandlerGet(this, "message"); }
  set onmessage(value) { eventHandlerSet(this, "message", value); }
  get onerror() { return eventHandlerGet(this, "error"); }
  set onerror(value) { eventHandlerSet(this, "error", value); }

  close() {
    this.#closeCalled = true;
    if (this.#readyState === ES_CLOSED) return;
    this.#readyState = ES_CLOSED;
    this.#stop(new DOMException("The EventSource was closed.", "AbortError"));
  }
  [ES_DISPOSE]() { this.close(); }

  /** Ends the current connection, if any: the fetch aborted, the body cancelled, no retry. */
  #stop(reason) {
    if (this.#timer !== 0) {
      clearTimeout(this.#timer);
      this.#timer = 0;
    }
    const abort = this.#abort;
    this.#abort = null;
    if (abort !== null) signalAbort(abort, reason);
    const record = this.#stream;
    this.#stream = null;
    this.#reader = null;
    if (record !== null && record.state === "readable") setHandled(streamsInternals().ReadableStreamCancel(record, reason));
  }

  #connect() {
    if (this.#readyState === ES_CLOSED) return;
    const abort = newAbortSignal();
    this.#abort = abort;
    const headers = { __proto__: null, accept: "text/event-stream", "cache-control": "no-cache" };
    if (this.#lastEventId !== "") headers["last-event-id"] = this.#lastEventId;
    const init = { __proto__: null, headers, signal: abort };
    let promise;
    try {
      promise = this.#fetcher === null ? fetch(this.#url, init) : ReflectApply(this.#fetcher[1], this.#fetcher[0], [this.#url, init]);
    } catch (e) {
      promise = promiseRejectedWith(e);
    }
    uponPromise(promiseResolvedWith(promise), (response) => {
      if (this.#abort !== abort) return;
      this.#connected(response);
    }, (error) => {
      if (this.#abort !== abort) return;
      // The fetch failed (refused by the egress policy, no such host, ...): for good, as workerd.
      this.#fail(error);
    });
  }

  #connected(value) {
    if (this.#readyState === ES_CLOSED) return;
    const response = responseFacts(value);
    if (response === null) {
      this.#fail(new TypeError("EventSource: the fetcher did not answer with a Response"));
      return;
    }
    const status = response.status;
    if (status < 200 || status > 299) {
      this.#fail(new DOMException(`The response status code was ${status}.`, "AbortError"));
      return;
    }
    let contentType = null;
    const pairs = headersPairs(response.headers);
    for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === "content-type") contentType = pairs[i][1];
    if (contentType === null) {
      this.#fail(new DOMException("No content type header was present in the response.", "AbortError"));
      return;
    }
    if (esMimeEssence(contentType) !== "text/event-stream") {
      this.#fail(new DOMException(`The content type '${contentType}' is invalid.`, "AbortError"));
      return;
    }
    if (response.redirected) this.#url = response.url;
    if (response.body === null) {
      if (this.#previousNoBody) {
        this.#fail(new Error("The server provided no content."));
      } else {
        this.#previousNoBody = true;
        this.#reconnect(new Error("The server provided no content. Will try reconnecting."));
      }
      return;
    }
    this.#run(bodyStream(response.body), true);
  }

  /** Reads `record` to its end through an internal reader, parsing as it goes. */
  #run(record, reconnect) {
    this.#stream = record;
    const reader = streamsInternals().AcquireReadableStreamDefaultReader(record, false);
    this.#reader = reader;
    const decoder = newUtf8State();
    const parser = new EventStreamParser({
      __proto__: null,
      lastEventId: () => this.#lastEventId,
      setLastEventId: (id) => { this.#lastEventId = id; },
      setRetry: (ms) => { this.#retryMs = ms < ES_MIN_RETRY_MS ? ES_MIN_RETRY_MS : ms > ES_MAX_RETRY_MS ? ES_MAX_RETRY_MS : ms; },
      dispatch: (type, data, id) => {
        if (this.#reader !== reader || this.#readyState === ES_CLOSED) return;
        const event = new MessageEvent(type, { __proto__: null, data, lastEventId: id, origin: this.#origin });
        eventSetTrusted(event, true);
        dispatchInternal(this, event);
      },
    });
    let inRead = false, readAgain = false;
    const request = {
      __proto__: null,
      chunkSteps: (chunk) => {
        if (this.#reader !== reader) return;
        if (!isUint8Array(chunk)) {
          this.#fail(new TypeError("EventSource: the stream produced a chunk that is not a Uint8Array"));
          return;
        }
        parser.feed(utf8DecodeChunk(chunk, decoder, false, false));
        if (inRead) readAgain = true;
        else loop();
      },
      closeSteps: () => {
        if (this.#reader !== reader) return;
        parser.feed(utf8DecodeChunk(EMPTY_BYTES, decoder, false, true));
        parser.end();
        this.#stream = null;
        this.#reader = null;
        if (reconnect) this.#reconnect(new Error("The server disconnected."));
        else this.#fail(new Error("The server disconnected."));
      },
      errorSteps: (e) => {
        if (this.#reader !== reader) return;
        parser.end();
        this.#stream = null;
        this.#reader = null;
        if (reconnect) this.#reconnect(e);
        else this.#fail(e);
      },
    };
    const loop = () => {
      do {
        readAgain = false;
        inRead = true;
        streamsInternals().ReadableStreamDefaultReaderRead(reader, request);
        inRead = false;
      } while (readAgain && this.#reader === reader);
    };
    // Announce the connection in a task of its own (HTML: "queue a task"), so that listeners
    // added right after the constructor or `from` see `open`, then read.
    uponPromise(promiseResolvedWith(undefined), () => {
      if (this.#reader !== reader) return;
      this.#readyState = ES_OPEN;
      fireEvent(this, "open");
      if (this.#reader === reader) loop();
    });
  }

  /** Fails the source for good: CLOSED, then an `error` event. */
  #fail(error) {
    if (this.#readyState === ES_CLOSED) return;
    this.#readyState = ES_CLOSED;
    this.#stop(error);
    this.#error(error);
  }

  /** Back to CONNECTING, an `error` event, and a new connection after the reconnection time. */
  #reconnect(error) {
    if (this.#readyState === ES_CLOSED) return;
    this.#stop(error);
    this.#readyState = ES_CONNECTING;
    this.#error(error);
    if (this.#readyState !== ES_CONNECTING) return; // a listener closed it
    this.#timer = setTimeout(() => {
      this.#timer = 0;
      this.#connect();
    }, this.#retryMs);
  }

  #error(error) {
    const event = new ErrorEvent("error", { __proto__: null, message: error?.message ?? `${error}`, error });
    eventSetTrusted(event, true);
    dispatchInternal(this, event);
  }
}
webidlEnumerable(EventSource);
// Written out, not looped: a lazy part's top level iterates nothing.
webidlConstant(EventSource, "CONNECTING", ES_CONNECTING);
webidlConstant(EventSource, "OPEN", ES_OPEN);
webidlConstant(EventSource, "CLOSED", ES_CLOSED);
setTag(EventSource.prototype, "EventSource");
inspectThroughGetters(EventSource, ["readyState", "url", "withCredentials"]);
defineGlobal("EventSource", EventSource);
