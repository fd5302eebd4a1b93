//! `structuredClone` of errors (isolate/js/clone.js) in real V8 13.6 isolates, where each error's
//! `stack` is an own accessor V8 installs: the clone keeps the stack, the native subtype by name,
//! an own `message` and `cause` (an error cause cloned as an error), as V8's serializer does in
//! Node 20; a MessagePort's message is cloned the same way.
mod common;
use common::*;

#[test]
fn structured_clone_keeps_an_errors_stack_name_message_and_cause() {
    let v = ok(run(
        "export default () => {
           const inner = new TypeError('inner');
           const e = new RangeError('outer', { cause: inner });
           e.extra = 'dropped';
           const c = structuredClone(e);
           const custom = new Error('custom');
           custom.stack = 'stored stack';
           const renamed = new Error('renamed');
           renamed.name = 'SyntaxError';
           const unknown = new TypeError('unknown');
           unknown.name = 'Foo';
           const bare = structuredClone(new Error());
           const d = new DOMException('dom', 'AbortError');
           const dc = structuredClone(d);
           return [
             c instanceof RangeError, c.message, c.stack === e.stack, c.stack.startsWith('RangeError: outer\\n'),
             c.cause instanceof TypeError, c.cause !== inner, c.cause.stack === inner.stack, c.cause.message,
             'extra' in c, Object.getOwnPropertyDescriptor(c, 'stack').enumerable,
             structuredClone(custom).stack,
             Object.getPrototypeOf(structuredClone(renamed)) === SyntaxError.prototype,
             Object.getPrototypeOf(structuredClone(unknown)) === Error.prototype,
             Object.hasOwn(bare, 'message'), typeof bare.stack,
             dc.name, dc.message,
           ];
         };",
    ));
    assert_eq!(
        v,
        serde_json::json!([
            true,
            "outer",
            true,
            true,
            true,
            true,
            true,
            "inner",
            false,
            false,
            "stored stack",
            true,
            true,
            false,
            "string",
            "AbortError",
            "dom"
        ])
    );
}

#[test]
fn a_message_port_carries_an_errors_stack() {
    let v = ok(run(
        "export default async () => {
           const { port1, port2 } = new MessageChannel();
           const e = new URIError('sent', { cause: new Error('why') });
           const got = new Promise((resolve) => { port2.onmessage = (ev) => resolve(ev.data); });
           port1.postMessage(e);
           const d = await got;
           port1.close();
           return [d instanceof URIError, d.stack === e.stack, d.stack.startsWith('URIError: sent\\n'),
             d.cause.stack === e.cause.stack];
         };",
    ));
    assert_eq!(v, serde_json::json!([true, true, true, true]));
}
