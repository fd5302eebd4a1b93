//! HTMLRewriter inside real V8 isolates: lol_html with JavaScript handlers called back through
//! the op road. Rewrites across chunk boundaries, every token kind, handlers that throw, async
//! handlers (the rewriter suspended inside them, on its own stack, while other rewriters run and
//! output flows), ops run from inside a handler (a nested op), and a handler that never returns
//! (it ends as the CPU limit; the process goes on).
mod common;
use std::time::Duration;

use common::*;
use stockade_isolate::{LimitKind, Limits, RunError};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!(
        "const chunked = (parts) => new Response(new ReadableStream({{ start(c) {{ for (const p of parts) c.enqueue(new TextEncoder().encode(p)); c.close(); }} }}), {{ headers: {{ 'content-type': 'text/html', 'content-length': '999' }} }});\n\
         export default async () => {{ {body} }};"
    )))
}

#[test]
fn elements_text_comments_doctype_and_end_across_chunks() {
    let v = eval(
        "const seen = [];
         const res = new HTMLRewriter()
           .on('a[href]', { element(el) {
               seen.push(el.tagName + ' ' + el.getAttribute('href') + ' ' + [...el.attributes].length);
               el.setAttribute('href', el.getAttribute('href').replace('http:', 'https:'));
               el.setAttribute('rel', 'noopener');
               el.append(' &#8599;', { html: true });
           } })
           .on('script', { element(el) { el.remove(); } })
           .on('h1', { element(el) { el.onEndTag((end) => { end.after('<hr>', { html: true }); }); },
                       text(t) { if (t.text) t.replace(t.text.toUpperCase()); } })
           .on('p.old', { element(el) { el.tagName = 'div'; el.removeAttribute('class'); } })
           .onDocument({
             doctype(d) { seen.push('doctype ' + d.name); },
             comments(c) { c.text = ' rewritten '; },
             end(e) { e.append('<footer>ok</footer>', { html: true }); },
           })
           .transform(chunked(['<!DOCTYPE html><h1>tit', 'le</h1><!-- note --><a hr', 'ef=\"http://x.example/\">x</a>',
                               '<script>alert(1)</script><p class=old>p</p>']));
         return [await res.text(), seen, res.headers.get('content-length'), res.headers.get('content-type')];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "<!DOCTYPE html><h1>TITLE</h1><hr><!-- rewritten --><a href=\"https://x.example/\" rel=\"noopener\">x &#8599;</a><div>p</div><footer>ok</footer>",
            ["doctype html", "a http://x.example/ 1"],
            null,
            "text/html"
        ])
    );
}

#[test]
fn a_throwing_handler_errors_the_body_with_its_exception() {
    let v = eval(
        "class Oops extends Error {}
         const res = new HTMLRewriter().on('b', { element() { throw new Oops('no b'); } })
           .transform(new Response('<i>i</i><b>b</b>'));
         try { await res.text(); return 'no error'; } catch (e) { return [e instanceof Oops, e.message]; }",
    );
    assert_eq!(v, serde_json::json!([true, "no b"]));
}

#[test]
fn async_handlers_change_their_token_after_await_and_stale_tokens_throw() {
    // The pattern Workers code uses: look something up, then write it into the element. workerd
    // 1.20261123.1 answers the same (its stale-token TypeError says more).
    let v = eval(
        "const lookup = (k) => new Promise((r) => setTimeout(() => r(k.toUpperCase()), 5));
         let kept;
         const res = new HTMLRewriter().on('p', { async element(el) {
             el.setAttribute('data-sync', '1');
             const v = await lookup(el.getAttribute('id'));
             el.setAttribute('data-late', v);
             el.setInnerContent(`<b>${v}</b>`, { html: true });
             kept = el;
           } }).transform(chunked(['<p id=a>x</p><', 'p id=b>y</p><i>tail</i>']));
         const text = await res.text();
         let stale; try { kept.setAttribute('data-stale', '1'); } catch (e) { stale = e.name; }
         const bad = new HTMLRewriter().on('p', { async element(el) { await null; el.after('!'); throw new RangeError('async no'); } })
           .transform(new Response('<p>a</p>'));
         let err; try { await bad.text(); } catch (e) { err = e.name + ': ' + e.message; }
         return [text, stale, err];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "<p id=a data-sync=\"1\" data-late=\"A\"><b>A</b></p><p id=b data-sync=\"1\" data-late=\"B\"><b>B</b></p><i>tail</i>",
            "TypeError",
            "RangeError: async no"
        ])
    );
}

#[test]
fn every_kind_of_handler_may_await() {
    let v = eval(
        "const later = (v) => new Promise((r) => setTimeout(() => r(v), 1));
         const res = new HTMLRewriter()
           .on('p', {
             async element(el) { await later(); el.onEndTag(async (end) => { end.after(await later('<hr>'), { html: true }); }); },
             async text(t) { if (t.text) t.replace(await later(t.text + '!')); },
             async comments(c) { c.text = await later(' changed '); },
           })
           .onDocument({
             async doctype(d) { await later(); d.remove(); },
             async end(e) { e.append(await later('<footer>')); },
           })
           .transform(chunked(['<!doctype html><p>a<!-- c -->', 'b</p>']));
         // A thenable that is not a promise is awaited too; a plain return value is not.
         const other = new HTMLRewriter()
           .on('a', { element(el) { return { then(r) { el.setAttribute('t', '1'); r(); } }; } })
           .on('b', { element(el) { el.setAttribute('v', '1'); return 5; } })
           .transform(new Response('<a>1</a><b>2</b>'));
         return [await res.text(), await other.text()];",
    );
    // workerd 1.20261123.1 answers the same (its doctype has no remove()).
    assert_eq!(
        v,
        serde_json::json!([
            "<p>a!<!-- changed -->b!</p><hr>&lt;footer&gt;",
            "<a t=\"1\">1</a><b v=\"1\">2</b>"
        ])
    );
}

#[test]
fn output_before_a_waiting_handler_flows_while_it_waits() {
    // The rewriter suspends inside the <p>'s handler; what precedes the <p> reaches the reader
    // before the handler is let go.
    let v = eval(
        "let release; const gate = new Promise((r) => { release = r; });
         const res = new HTMLRewriter().on('p', { async element(el) { el.setInnerContent(await gate); } })
           .transform(new Response('<div>head</div><p>x</p><div>rest</div>'));
         const reader = res.body.getReader();
         const dec = new TextDecoder();
         const first = dec.decode((await reader.read()).value);
         release('late');
         let rest = '';
         for (;;) { const { done, value } = await reader.read(); if (done) break; rest += dec.decode(value); }
         return [first, rest];",
    );
    assert_eq!(
        v,
        serde_json::json!(["<div>head</div>", "<p>late</p><div>rest</div>"])
    );
}

#[test]
fn suspended_rewriters_interleave_and_a_cancelled_one_ends_quietly() {
    let v = eval(
        "const tick = (ms) => new Promise((r) => setTimeout(r, ms));
         const make = (name, ms) => new HTMLRewriter().on('li', { async element(el) {
             await tick(ms); el.setAttribute('by', name); } })
           .transform(new Response('<ul>' + '<li>x</li>'.repeat(20) + '</ul>'));
         const [a, b] = await Promise.all([make('a', 2).text(), make('b', 1).text()]);
         // A body cancelled while its handler waits: the handler still runs to its end (its token
         // takes the change), the change goes nowhere, and nothing throws or hangs. That the native
         // rewriter is freed and its stack unwound is proven natively (ops rewriter tests).
         let release; const gate = new Promise((r) => { release = r; });
         let late;
         const res = new HTMLRewriter().on('p', { async element(el) {
             await gate; try { el.setAttribute('x', '1'); late = 'applied'; } catch (e) { late = e.name; } } })
           .transform(new Response('<p>x</p>'));
         const reader = res.body.getReader();
         const pending = reader.read();
         await tick(5);
         await reader.cancel('gone');
         release();
         await tick(5);
         const after = await new HTMLRewriter().on('i', { async element(e) { await tick(1); e.replace('I'); } })
           .transform(new Response('<i>x</i>')).text();
         return [a.split('by=\"a\"').length - 1, b.split('by=\"b\"').length - 1, (await pending).done, late, after];",
    );
    assert_eq!(v, serde_json::json!([20, 20, true, "applied", "I"]));
}

#[test]
fn handlers_may_run_ops_and_bad_arguments_are_typed_errors() {
    let v = eval(
        "const out = [];
         // A nested op inside a handler: a legacy TextDecoder and a URLPattern.
         const res = new HTMLRewriter().on('span', { element(el) {
             el.setInnerContent(new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0])) +
               new URLPattern({ pathname: '/:id' }).exec({ pathname: '/7' }).pathname.groups.id);
           } }).transform(new Response('<span>x</span>'));
         out.push(await res.text());
         try { new HTMLRewriter().on('p[[[', {}); } catch (e) { out.push(e.name); }
         try { new HTMLRewriter().transform('not a response'); } catch (e) { out.push(e.name); }
         try { new HTMLRewriter().on('br', { element(el) { el.onEndTag(() => {}); } }).transform(new Response('<br>')).text().then(() => {}); } catch (e) { out.push('sync ' + e.name); }
         const r = new HTMLRewriter().on('br', { element(el) { el.onEndTag(() => {}); } }).transform(new Response('<br>'));
         try { await r.text(); } catch (e) { out.push(e.name); }
         out.push(await new HTMLRewriter().transform(new Response('<p>same</p>')).text());
         out.push(new HTMLRewriter().transform(new Response(null, { status: 204 })).status);
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "<span>\u{3042}7</span>",
            "TypeError",
            "TypeError",
            "TypeError",
            "<p>same</p>",
            204
        ])
    );
}

#[test]
fn a_handler_that_never_returns_ends_as_the_cpu_limit() {
    let limits = Limits {
        cpu: Duration::from_millis(300),
        wall: Duration::from_secs(10),
        ..Limits::default()
    };
    let inv = run_with(
        limits,
        &[(
            "main.js",
            "export default async () => {
               const res = new HTMLRewriter().on('p', { element() { for (;;) {} } })
                 .transform(new Response('<p>x</p>'));
               return await res.text();
             };",
        )],
        "null",
    );
    assert!(
        matches!(inv.result, Err(RunError::Limit(LimitKind::Cpu))),
        "{:?}",
        inv.result
    );
    // The process goes on: a fresh isolate rewrites.
    let v = eval("return await new HTMLRewriter().on('i', { element(e) { e.replace('I'); } }).transform(new Response('<i>x</i>')).text();");
    assert_eq!(v, "I");
}

#[test]
fn a_long_selector_is_a_type_error_and_the_longest_accepted_works() {
    // A 2,001-byte "a>a>..." once crashed the worker process (lol_html's selector compiler
    // recursing on the rewriter's own stack); selectors are capped, and built on the isolate's.
    let v = eval(
        "let err; try { new HTMLRewriter().on('a>'.repeat(1000) + 'a', { element() {} }); } catch (e) { err = e.name; }
         const deep = 'a>'.repeat(511) + 'a';
         let n = 0;
         const html = '<a>'.repeat(520) + 'x' + '</a>'.repeat(520);
         const out = await new HTMLRewriter().on(deep, { element() { n++; } }).transform(new Response(html)).text();
         return [err, deep.length, n, out.length === html.length];",
    );
    assert_eq!(v, serde_json::json!(["TypeError", 1023, 9, true]));
}

#[test]
fn a_handler_that_cancels_its_own_output_ends_the_rewrite_quietly() {
    // The handler runs inside the rewriter's write op and frees the rewriter (by cancelling the
    // body it produces) before the op puts it back: the rewrite stops, nothing else is reported.
    let v = eval(
        "const reported = [];
         addEventListener('unhandledrejection', (e) => { reported.push(String(e.reason)); e.preventDefault(); });
         const seen = [];
         const out = new HTMLRewriter()
           .on('b', { element(el) { seen.push('b'); reader.cancel('enough'); el.setInnerContent('x'); } })
           .on('u', { element() { seen.push('u'); } })
           .transform(chunked(['<i>i</i><b>b</b>', '<u>u</u>']));
         const reader = out.body.getReader();
         try {
           for (;;) { const { done, value } = await reader.read(); if (done) break; seen.push(new TextDecoder().decode(value)); }
         } catch (e) { seen.push('read: ' + e.name + ': ' + e.message); }
         await new Promise((r) => setTimeout(r, 10));
         return [seen, reported];",
    );
    assert_eq!(v, serde_json::json!([["b"], []]));
}
