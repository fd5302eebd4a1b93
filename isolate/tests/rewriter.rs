//! HTMLRewriter inside real V8 isolates: lol_html with JavaScript handlers called back through
//! the op road. Rewrites across chunk boundaries, every token kind, handlers that throw, async
//! handlers, ops run from inside a handler (a nested op), and a handler that never returns (it
//! ends as the CPU limit; the process goes on).
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
fn async_handlers_are_awaited_and_stale_tokens_throw() {
    let v = eval(
        "let late;
         const res = new HTMLRewriter().on('p', { async element(el) {
             el.setAttribute('data-sync', '1');
             await new Promise((r) => setTimeout(r, 5));
             try { el.setAttribute('data-late', '1'); } catch (e) { late = e.name; }
           } }).transform(new Response('<p>a</p><p>b</p>'));
         const text = await res.text();
         const bad = new HTMLRewriter().on('p', { async element() { throw new RangeError('async no'); } })
           .transform(new Response('<p>a</p>'));
         let err; try { await bad.text(); } catch (e) { err = e.name + ': ' + e.message; }
         return [text, late, err];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "<p data-sync=\"1\">a</p><p data-sync=\"1\">b</p>",
            "TypeError",
            "RangeError: async no"
        ])
    );
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
