//! `EventSource` inside one real V8 isolate, through workerd's `EventSource.from(stream)` (no
//! host needed): HTML's event-stream parsing (line ends CRLF, LF and CR, also split across
//! chunks; a UTF-8 character split across chunks; the BOM; comments; `data` joined by LF; `event`
//! types; `id` and `lastEventId`; an event without data dropped; an unfinished event at the end
//! dropped), the end of the stream as an `error` event and CLOSED, `close()` cancelling the
//! stream, and the constructor's checks. The fetch path (reconnection, Last-Event-ID, the
//! response checks) is daemon/tests/e2e_eventsource.rs.
mod common;

use common::*;

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!(
        "const tick = () => new Promise((r) => setTimeout(r, 1));
        /** An EventSource over `parts` (strings or byte arrays), and every event it fired. */
        function source(parts) {{
          const enc = new TextEncoder();
          let i = 0;
          const stream = new ReadableStream({{ pull(c) {{
            if (i === parts.length) {{ c.close(); return; }}
            const p = parts[i++];
            c.enqueue(typeof p === 'string' ? enc.encode(p) : new Uint8Array(p));
          }} }});
          const es = EventSource.from(stream);
          const events = [];
          const done = new Promise((resolve) => {{
            es.onopen = (e) => events.push(['open', e.isTrusted, es.readyState]);
            es.onmessage = (e) => events.push(['message', e.data, e.lastEventId, e.constructor === MessageEvent, e.isTrusted]);
            es.addEventListener('custom', (e) => events.push(['custom', e.data, e.lastEventId]));
            es.onerror = (e) => {{ events.push(['error', e.constructor.name, es.readyState]); resolve(); }};
          }});
          return {{ es, events, done, stream }};
        }}
        export default async () => {{ {body} }};"
    )))
}

#[test]
fn the_event_stream_is_parsed_as_html_says_across_chunk_boundaries() {
    let v = eval(
        "const s = source([
          [0xef, 0xbb, 0xbf], 'data: first\\r', '\\n\\r\\n',        // BOM, CRLF split over chunks
          ': a comment\\n', 'data:no space\\rdata:  two spaces\\r\\r', // CR line ends, one space trimmed
          'event: custom\\ndata: typed\\nid: 7\\n\\n',                 // a typed event sets the id
          'data: after id\\n\\n',                                     // the id stays
          'id\\ndata\\n\\n',                                          // field names alone: empty id, empty data
          'event: custom\\n\\n',                                      // no data: dropped
          'data: caf', [0xc3], [0xa9], '\\n\\n',                      // a UTF-8 character split
          'id: a\\u0000b\\ndata: nul id ignored\\n\\n',
          'data: unfinished',                                         // dropped at the end
        ]);
        await s.done;
        return [s.events, s.es.readyState, s.es.url];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [
                ["open", true, 1],
                ["message", "first", "", true, true],
                ["message", "no space\n two spaces", "", true, true],
                ["custom", "typed", "7"],
                ["message", "after id", "7", true, true],
                ["message", "", "", true, true],
                ["message", "café", "", true, true],
                ["message", "nul id ignored", "", true, true],
                ["error", "ErrorEvent", 2]
            ],
            2,
            ""
        ])
    );
}

#[test]
fn close_cancels_the_stream_and_no_event_follows() {
    let v = eval(
        "let cancelled = null;
        let controller;
        const stream = new ReadableStream({ start(c) { controller = c; }, cancel(r) { cancelled = r.name; } });
        const es = EventSource.from(stream);
        const got = [];
        es.onmessage = (e) => got.push(e.data);
        es.onerror = () => got.push('error');
        controller.enqueue(new TextEncoder().encode('data: one\\n\\n'));
        await tick();
        es.close();
        es.close(); // twice is nothing
        try { controller.enqueue(new TextEncoder().encode('data: two\\n\\n')); } catch (e) { got.push(e.name); }
        await tick();
        return [got, es.readyState, cancelled];",
    );
    assert_eq!(
        v,
        serde_json::json!([["one", "TypeError"], 2, "AbortError"])
    );
}

#[test]
fn the_api_surface_and_its_checks() {
    let v = eval(
        "const out = [];
        const name = (f) => { try { f(); return 'no error'; } catch (e) { return `${e.name}: ${e.message}`; } };
        out.push([EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED, EventSource.prototype.CLOSED]);
        out.push(Object.prototype.toString.call(EventSource.from(new ReadableStream())));
        out.push(name(() => new EventSource('not a url')));
        out.push(name(() => new EventSource('https://example.com/', { withCredentials: true })));
        out.push(name(() => new EventSource('https://example.com/', { fetcher: {} })));
        out.push(name(() => EventSource.from('text')));
        const locked = new ReadableStream();
        locked.getReader();
        out.push(name(() => EventSource.from(locked)));
        out.push(name(() => EventSource()));
        out.push(typeof EventSource.prototype[Symbol.dispose]);
        return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [0, 1, 2, 2],
            "[object EventSource]",
            "SyntaxError: Cannot open an EventSource to 'not a url'. The URL is invalid.",
            "NotSupportedError: The init.withCredentials option is not supported. It must be false or undefined.",
            "TypeError: EventSource: init.fetcher must have a fetch method",
            "TypeError: EventSource.from: the argument must be a ReadableStream",
            "TypeError: This ReadableStream is locked.",
            "TypeError: Class constructor EventSource cannot be invoked without 'new'",
            "function"
        ])
    );
}

#[test]
fn a_fetcher_answers_the_connection_and_its_response_is_checked() {
    // workerd's `fetcher` option (a service binding in practice): the source asks it, with the
    // event-stream headers; a wrong content type fails for good, a good one streams.
    let v = eval(
        "const asked = [];
        const answer = (type) => ({ fetch(url, init) {
          asked.push([url, new Headers(init.headers).get('accept'), init.signal instanceof AbortSignal]);
          return new Response('data: via fetcher\\n\\n', { headers: { 'content-type': type } });
        } });
        const run = (type) => new Promise((resolve) => {
          const got = [];
          const es = new EventSource('https://sse.example/feed', { fetcher: answer(type) });
          got.push(es.readyState, es.url);
          es.onmessage = (e) => got.push(e.data, e.origin);
          es.onerror = (e) => { got.push(e.error?.message ?? e.message, es.readyState); es.close(); resolve(got); };
        });
        return [await run('text/plain'), await run(' Text/Event-Stream ; charset=utf-8'), asked];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [
                0,
                "https://sse.example/feed",
                "The content type 'text/plain' is invalid.",
                2
            ],
            [
                0,
                "https://sse.example/feed",
                "via fetcher",
                "https://sse.example",
                "The server disconnected.",
                0
            ],
            [
                ["https://sse.example/feed", "text/event-stream", true],
                ["https://sse.example/feed", "text/event-stream", true]
            ]
        ])
    );
}
