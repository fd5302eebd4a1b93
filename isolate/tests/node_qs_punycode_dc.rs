//! `node:querystring`, `node:punycode` and `node:diagnostics_channel` (isolate/js/node-querystring.js,
//! node-punycode.js, node-diagnostics-channel.js) inside real V8 isolates: importable by `node:` and
//! bare specifiers with `nodejs_compat`, refused without it, and answering what Node 20's own
//! modules answer to the same module (each expected value below is what `node` printed for the
//! same source; the vm-context comparison is isolate/js/test/node-querystring-punycode-dc.test.mjs).
mod common;
use common::*;
use stockade_isolate::{Compat, Invocation, LoadOptions, Module, ModuleSet, RunError, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::json!({}),
    }
}

fn run_opts(opts: &LoadOptions, src: &str) -> Invocation {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, opts);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

fn expected(json: &str) -> serde_json::Value {
    serde_json::from_str(json).expect("expected JSON")
}

#[test]
fn the_modules_need_nodejs_compat() {
    for name in ["querystring", "punycode", "diagnostics_channel"] {
        match err(run_opts(
            &LoadOptions::default(),
            &format!("import m from 'node:{name}'; export default () => typeof m;"),
        )) {
            RunError::BuiltinUnavailable { reason, .. } => {
                assert!(reason.contains("nodejs_compat"), "{name}: {reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
        let v = ok(run_opts(
            &node(),
            &format!(
                "import m from 'node:{name}'; import * as ns from '{name}';
                 export default () => [typeof m, ns.default === m];"
            ),
        ));
        assert_eq!(v, serde_json::json!(["object", true]), "{name}");
    }
}

const QUERYSTRING: &str =
    "import qs, { parse, stringify, escape, unescape } from 'node:querystring';
import bare from 'querystring';
export default () => [
  bare === qs,
  JSON.stringify(parse('a=1&a=2&b=%E4%bd%A0+x&c')),
  Object.getPrototypeOf(parse('a=1')) === null,
  Object.keys(parse('a&b&c&d', null, null, { maxKeys: 2 })),
  Object.keys(parse(Array.from({ length: 1005 }, (_, i) => 'k' + i).join('&'))).length,
  JSON.stringify(parse('a:1;b:2', ';', ':')),
  JSON.stringify(parse('x=%E4&y=%ZZ')),
  stringify({ a: [1, 2], b: 'x y', c: true, n: null, big: 3n, u: 'é😀' }),
  stringify({ a: 1, b: 2 }, ';', ':'),
  escape('a b/é'), unescape('%E4%bd%A0%'),
  (() => { try { escape('\\uD800'); } catch (e) { return [e.name, e.code, e.message]; } })(),
];
";

#[test]
fn querystring_answers_what_node_does() {
    let v = ok(run_opts(&node(), QUERYSTRING));
    assert_eq!(
        v,
        expected(
            r#"[true,"{\"a\":[\"1\",\"2\"],\"b\":\"你 x\",\"c\":\"\"}",true,["a","b"],1000,"{\"a\":\"1\",\"b\":\"2\"}","{\"x\":\"�\",\"y\":\"%ZZ\"}","a=1&a=2&b=x%20y&c=true&n=&big=3&u=%C3%A9%F0%9F%98%80","a:1;b:2","a%20b%2F%C3%A9","你%",["URIError","ERR_INVALID_URI","URI malformed"]]"#
        )
    );
}

const PUNYCODE: &str = "import punycode from 'node:punycode';
import { toASCII, toUnicode, encode, decode, ucs2, version } from 'node:punycode';
export default () => [version, encode('mañana'), decode('maana-pta'), toASCII('user@bücher.example。de'),
  toUnicode('xn--maana-pta.com'), ucs2.decode('a😀'), ucs2.encode([97, 128512]), punycode.toASCII === toASCII,
  (() => { try { decode('ü-abc'); } catch (e) { return [e.name, e.message]; } })(),
  (() => { try { decode('99999999999999'); } catch (e) { return [e.name, e.message]; } })()];
";

#[test]
fn punycode_answers_what_node_does() {
    let v = ok(run_opts(&node(), PUNYCODE));
    assert_eq!(
        v,
        expected(
            r#"["2.1.0","maana-pta","mañana","user@xn--bcher-kva.example.de","mañana.com",[97,128512],"a😀",true,["RangeError","Illegal input >= 0x80 (not a basic code point)"],["RangeError","Overflow: input needs wider integers to process"]]"#
        )
    );
}

const DIAGNOSTICS_CHANNEL: &str = "import dc from 'node:diagnostics_channel';
import { channel, tracingChannel, Channel } from 'node:diagnostics_channel';
import { AsyncLocalStorage } from 'node:async_hooks';
export default async () => {
  const seen = [];
  const ch = channel('app:req');
  seen.push(['idle', ch.hasSubscribers]);
  ch.subscribe((m, name) => seen.push(['sub', m, name]));
  ch.publish('hello');
  const c2 = channel('app:throws');
  c2.subscribe(() => { throw new Error('subscriber boom'); });
  c2.subscribe((m) => seen.push(['after throw', m]));
  c2.publish(1);
  const tc = tracingChannel('app:op');
  const als = new AsyncLocalStorage();
  tc.start.bindStore(als, (ctx) => ctx.id);
  tc.subscribe({ start: (c) => seen.push(['start', c.id]), asyncEnd: (c) => seen.push(['asyncEnd', c.id, c.result ?? null]), error: (c) => seen.push(['error', c.error.message]) });
  const r = await tc.tracePromise(async () => { await null; return als.getStore(); }, { id: 'op1' });
  seen.push(['result', r, als.getStore() ?? null]);
  try { await tc.tracePromise(async () => { throw new Error('op failed'); }, { id: 'op2' }); } catch (e) { seen.push(['rejected', e.message]); }
  seen.push(['has', dc.hasSubscribers('app:req'), dc.hasSubscribers('nope'), channel('app:req') === ch, ch instanceof Channel]);
  try { channel(1); } catch (e) { seen.push([e.name, e.code]); }
  await new Promise((r) => setTimeout(r, 1));
  return seen;
};
";

#[test]
fn diagnostics_channel_answers_what_node_does() {
    let inv = run_opts(&node(), DIAGNOSTICS_CHANNEL);
    let logs = format!("{:?}", inv.logs);
    let v = ok(inv);
    assert_eq!(
        v,
        expected(
            r#"[["idle",false],["sub","hello","app:req"],["after throw",1],["start","op1"],["asyncEnd","op1","op1"],["result","op1",null],["start","op2"],["error","op failed"],["asyncEnd","op2",null],["rejected","op failed"],["has",true,false,true,true],["TypeError","ERR_INVALID_ARG_TYPE"]]"#
        )
    );
    // The throwing subscriber is reported as an uncaught exception, after the others ran.
    assert!(logs.contains("subscriber boom"), "{logs}");
}
