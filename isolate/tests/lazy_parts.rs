//! The prelude's lazy groups (isolate/src/lazy.rs) inside real V8 isolates: a group built after
//! tenant code replaced the methods and globals its top level would have used still works (it got
//! them from the snapshot), tenant code cannot reach the native compile entry (`compileLazy`) or
//! the stubs, and a lazy built-in module is the same module however it is first reached.
mod common;
use common::*;
use stockade_isolate::{Compat, Invocation, LoadOptions, Module, ModuleSet, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::Value::Null,
    }
}

/// Loads `main` with `nodejs_compat` and calls its default export.
fn run_node(main: &str) -> Invocation {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", main.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, &node());
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

/// Replaces, before the first `node:*` import, what the node parts' top level would capture
/// (Map, RegExp, Math, Object.fromEntries, typed-array fill, Crypto's methods) and the usual
/// suspects (Function.prototype.call/apply, Object.defineProperty, Array.prototype.map, the
/// globals Map and Uint8Array); the import builds the lazy node group; after that, the modules
/// relying on those captures work, even with some of them replaced again.
#[test]
fn a_lazy_group_built_after_tampering_uses_the_snapshots_primordials() {
    let src = r#"
const hits = [];
const trap = (what) => function () { hits[hits.length] = what; throw new Error(`tenant ${what} was called`); };
export default async () => {
  const saved = {
    mapGet: Map.prototype.get, mapSet: Map.prototype.set, mapHas: Map.prototype.has,
    mapDelete: Map.prototype.delete, regExpTest: RegExp.prototype.test, sin: Math.sin, abs: Math.abs,
    fromEntries: Object.fromEntries, fill: Object.getPrototypeOf(Uint8Array.prototype).fill,
    uuid: crypto.randomUUID, grv: crypto.getRandomValues,
  };
  Map.prototype.get = trap("Map.prototype.get");
  Map.prototype.set = trap("Map.prototype.set");
  Map.prototype.has = trap("Map.prototype.has");
  Map.prototype.delete = trap("Map.prototype.delete");
  RegExp.prototype.test = trap("RegExp.prototype.test");
  Math.sin = trap("Math.sin");
  Math.abs = trap("Math.abs");
  Object.fromEntries = trap("Object.fromEntries");
  Object.getPrototypeOf(Uint8Array.prototype).fill = trap("TypedArray.prototype.fill");
  Object.getPrototypeOf(crypto).randomUUID = trap("Crypto.prototype.randomUUID");
  const fnCall = Function.prototype.call, fnApply = Function.prototype.apply;
  const defineProperty = Object.defineProperty, arrayMap = Array.prototype.map;
  const MapCtor = Map, U8 = Uint8Array;
  Function.prototype.call = trap("Function.prototype.call");
  Function.prototype.apply = trap("Function.prototype.apply");
  Object.defineProperty = trap("Object.defineProperty");
  Array.prototype.map = trap("Array.prototype.map");
  globalThis.Map = trap("Map");
  globalThis.Uint8Array = trap("Uint8Array");
  let path;
  try {
    // The first node:* import builds the whole node group (every node:* module's code).
    path = (await import("node:path")).join("/a", "b", "../c");
  } finally {
    Function.prototype.call = fnCall;
    Function.prototype.apply = fnApply;
    Object.defineProperty = defineProperty;
    Array.prototype.map = arrayMap;
    globalThis.Map = MapCtor;
    globalThis.Uint8Array = U8;
    Map.prototype.get = saved.mapGet; Map.prototype.set = saved.mapSet; Map.prototype.has = saved.mapHas;
    Map.prototype.delete = saved.mapDelete; RegExp.prototype.test = saved.regExpTest;
    Math.sin = saved.sin; Math.abs = saved.abs; Object.fromEntries = saved.fromEntries;
    Object.getPrototypeOf(Uint8Array.prototype).fill = saved.fill;
    Object.getPrototypeOf(crypto).randomUUID = saved.uuid;
  }
  // Tampering again now reaches nothing the group captured while it was built.
  Math.sin = trap("Math.sin");
  Math.abs = trap("Math.abs");
  Object.getPrototypeOf(Uint8Array.prototype).fill = trap("TypedArray.prototype.fill");
  const { createHash } = await import("node:crypto");
  const { Buffer } = await import("node:buffer");
  const { AsyncLocalStorage } = await import("node:async_hooks");
  const als = new AsyncLocalStorage();
  return {
    hits, path,
    md5: createHash("md5").update("x").digest("hex"),
    filled: Buffer.alloc(3, 7).toString("hex"),
    als: als.run(5, () => als.getStore()),
  };
};
"#;
    let v = ok(run_node(src));
    assert_eq!(
        v["hits"],
        serde_json::json!([]),
        "tenant functions ran while building: {v}"
    );
    assert_eq!(v["path"], "/a/c");
    assert_eq!(v["md5"], "9dd4e461268c8034f5c8564e155c67a6");
    assert_eq!(v["filled"], "070707");
    assert_eq!(v["als"], 5);
}

/// Walks everything tenant code can reach from the global object (own properties, prototypes,
/// getters' results are not taken), before and after building the lazy node group, looking for
/// the host's primitives (they carry their names) and the prelude's stubs.
#[test]
fn tenant_code_cannot_reach_the_lazy_compile_entry() {
    let src = r#"
function reachable() {
  const seen = new Set();
  const queue = [globalThis];
  const names = [];
  while (queue.length > 0 && seen.size < 200000) {
    const v = queue.pop();
    if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v)) continue;
    seen.add(v);
    if (typeof v === "function") names.push(v.name);
    queue.push(Object.getPrototypeOf(v));
    for (const k of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, k);
      if (d === undefined) continue;
      if ("value" in d) queue.push(d.value);
      else queue.push(d.get, d.set);
    }
  }
  return names;
}
const FORBIDDEN = ["compileLazy", "lazyGlobal", "lazyPart", "buildLazyPart", "setInvoker", "op"];
export default async () => {
  const before = reachable().filter((n) => FORBIDDEN.includes(n));
  const { Buffer } = await import("node:buffer");
  await import("node:util");
  await import("node:events");
  const after = reachable().filter((n) => FORBIDDEN.includes(n));
  return {
    before, after, host: typeof globalThis.__stockade_host,
    stubs: ["lazyPart", "buildLazyPart", "hostCompileLazy", "compileLazy"].map((n) => n in globalThis),
    buffer: Buffer.from("ok").toString(),
  };
};
"#;
    let v = ok(run_node(src));
    assert_eq!(v["before"], serde_json::json!([]), "{v}");
    assert_eq!(v["after"], serde_json::json!([]), "{v}");
    assert_eq!(v["host"], "undefined");
    assert_eq!(v["stubs"], serde_json::json!([false, false, false, false]));
    assert_eq!(v["buffer"], "ok");
}

/// The Buffer global (nodejs_compat's v2 globals) and the node:buffer module are one class, and
/// a lazy module's exports keep their identity across imports.
#[test]
fn a_lazy_module_is_one_module_however_it_is_reached() {
    let src = r#"
import { Buffer as B } from "node:buffer";
export default async () => {
  const again = (await import("node:buffer")).Buffer;
  const util = await import("node:util");
  return {
    same: B === again && B === globalThis.Buffer,
    isView: ArrayBuffer.isView(B.from("a")),
    u8: B.from("a") instanceof Uint8Array,
    inspect: util.inspect(B.from("hi")),
    name: B.name,
  };
};
"#;
    let v = ok(run_node(src));
    assert_eq!(v["same"], true, "{v}");
    assert_eq!(v["isView"], true);
    assert_eq!(v["u8"], true);
    assert_eq!(v["inspect"], "<Buffer 68 69>");
    assert_eq!(v["name"], "Buffer");
}

/// JavaScript for the tampering tests: `hits` lists every tenant function the runtime called, and
/// `tampered(replaced, accessors, build)` returns `build()`, run while each `[path, key]` of
/// `replaced` (`["Array.prototype", "push"]`) is replaced and each name of `accessors` is a getter
/// on `Object.prototype` (read by any descriptor or options object the runtime would build from a
/// plain literal), all of them traps that record the call and throw; it puts everything back
/// afterwards using nothing a trap replaced.
const TAMPERING: &str = r#"
const hits = [];
const trap = (what) => function () { hits[hits.length] = what; throw new Error(`tenant ${what} was called`); };
const tampered = (replaced, accessors, build) => {
  const saved = replaced.map(([path, key]) => {
    const owner = path.split(".").reduce((o, k) => o[k], globalThis);
    return [owner, key, owner[key], `${path}.${String(key)}`];
  });
  for (let i = 0; i < accessors.length; i++) {
    const get = trap(`Object.prototype.${accessors[i]}`);
    Reflect.defineProperty(Object.prototype, accessors[i], { __proto__: null, get, configurable: true });
  }
  for (let i = 0; i < saved.length; i++) saved[i][0][saved[i][1]] = trap(saved[i][3]);
  try {
    return build();
  } finally {
    for (let i = 0; i < saved.length; i++) saved[i][0][saved[i][1]] = saved[i][2];
    for (let i = 0; i < accessors.length; i++) delete Object.prototype[accessors[i]];
  }
};
"#;

/// Runs `TAMPERING` followed by `main` and checks that no trap was called (`hits` empty).
fn run_tampering(main: &str) -> serde_json::Value {
    let v = ok(run(&format!("{TAMPERING}{main}")));
    assert_eq!(
        v["hits"],
        serde_json::json!([]),
        "tenant functions ran: {v}"
    );
    v
}

/// The lazy globals look like every other global before and after their first read (a data
/// property: writable, configurable, not enumerable), are built on that read even after tenant
/// code replaced Object.defineProperty, Array.prototype.push, the array iterator and put
/// accessors for `get`/`set`/`value` on Object.prototype (which would turn a descriptor
/// literal into something else), and keep their identity and `instanceof`.
#[test]
fn lazy_globals_are_plain_globals_built_on_first_read_after_tampering() {
    let v = run_tampering(
        r#"
const describe = (n) => {
  const d = Reflect.getOwnPropertyDescriptor(globalThis, n);
  return [typeof d.value, d.writable, d.enumerable, d.configurable, "get" in d];
};
export default async () => {
  const names = Reflect.ownKeys(globalThis);
  const listed = ["URLPattern", "HTMLRewriter", "caches", "Cache", "CacheStorage"].map((n) => names.includes(n));
  const enumerable = Object.keys(globalThis).filter((n) => ["URLPattern", "HTMLRewriter", "caches"].includes(n));
  const { kind, name, rewriterKind, cachesKind } = tampered(
    [["Object", "defineProperty"], ["Array.prototype", "push"], ["Array.prototype", Symbol.iterator]],
    ["get", "set", "value", "writable"],
    () => ({
      kind: typeof URLPattern,
      name: URLPattern.name,
      rewriterKind: typeof HTMLRewriter,
      cachesKind: caches instanceof CacheStorage,
    }),
  );
  const match = new URLPattern({ pathname: "/books/:id" }).exec("https://x.test/books/7").pathname.groups.id;
  const p = new URLPattern("https://*.test/*");
  const replaced = (() => { globalThis.Cache = 5; return globalThis.Cache; })();
  return {
    hits, listed, enumerable, kind, name, match, rewriterKind, cachesKind, replaced,
    after: ["URLPattern", "HTMLRewriter", "caches", "CacheStorage"].map(describe),
    same: URLPattern === globalThis.URLPattern && p instanceof URLPattern,
    tag: Object.prototype.toString.call(p),
    protoEnumerable: Object.keys(URLPattern.prototype).includes("test"),
    cloneRefused: (() => { try { structuredClone(p); return false; } catch (e) { return e.name; } })(),
  };
};
"#,
    );
    assert_eq!(
        v["listed"],
        serde_json::json!([true, true, true, true, true])
    );
    assert_eq!(v["enumerable"], serde_json::json!([]));
    assert_eq!(v["kind"], "function");
    assert_eq!(v["name"], "URLPattern");
    assert_eq!(v["match"], "7");
    assert_eq!(v["rewriterKind"], "function");
    assert_eq!(v["cachesKind"], true);
    assert_eq!(v["replaced"], 5);
    let plain = serde_json::json!(["function", true, false, true, false]);
    assert_eq!(v["after"][0], plain);
    assert_eq!(v["after"][1], plain);
    assert_eq!(
        v["after"][2],
        serde_json::json!(["object", true, false, true, false])
    );
    assert_eq!(v["after"][3], plain);
    assert_eq!(v["same"], true);
    assert_eq!(v["tag"], "[object URLPattern]");
    assert_eq!(v["protoEnumerable"], true);
    assert_eq!(v["cloneRefused"], "DataCloneError");
}

/// Writing or deleting a lazy global before its first read replaces it like any global, and the
/// part is then never built for it.
#[test]
fn a_lazy_global_written_or_deleted_first_is_the_tenants() {
    let src = r#"
export default () => {
  globalThis.URLPattern = 1;
  delete globalThis.HTMLRewriter;
  Object.defineProperty(globalThis, "caches", { value: "mine", writable: false, configurable: false });
  return [URLPattern, typeof HTMLRewriter, caches, Reflect.getOwnPropertyDescriptor(globalThis, "caches").writable];
};
"#;
    assert_eq!(
        ok(run(src)),
        serde_json::json!([1, "undefined", "mine", false])
    );
}

/// The streams are a lazy group reached first from eager code (a body's stream) rather than a
/// global: built after tenant code replaced what its top level and the helpers it calls would use,
/// they still work, and every stream global is the one the body's stream belongs to.
#[test]
fn the_streams_built_from_a_body_after_tampering_use_the_snapshots_primordials() {
    let v = run_tampering(
        r#"
export default async () => {
  const response = new Response("stream me"); // made before: only its body's stream is tested
  const body = tampered(
    [
      ["Object", "defineProperty"], ["Array.prototype", "push"], ["Array.prototype", "map"],
      ["Map.prototype", "set"], ["Promise.prototype", "then"], ["Promise", "resolve"], ["Math", "min"],
      ["ArrayBuffer", "isView"], ["Array.prototype", Symbol.iterator],
    ],
    ["get", "set", "value", "writable", "enumerable"],
    () => response.body, // builds the streams group
  );
  const text = await new Response(body.pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream())).text();
  const packed = new Response("zip ".repeat(50)).body.pipeThrough(new CompressionStream("gzip"));
  const unpacked = await new Response(packed.pipeThrough(new DecompressionStream("gzip"))).text();
  const chunks = [];
  for await (const c of new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } })) chunks.push(c);
  return {
    hits, text, unpacked: unpacked.length, chunks,
    same: body instanceof ReadableStream && Object.getPrototypeOf(body) === ReadableStream.prototype,
    tag: Object.prototype.toString.call(body),
    protoEnumerable: Object.keys(ReadableStream.prototype).includes("getReader"),
    cloneRefused: (() => { try { structuredClone(new WritableStream()); return false; } catch (e) { return e.name; } })(),
    globals: ["ReadableStream", "WritableStream", "TransformStream", "CompressionStream", "ByteLengthQueuingStrategy"]
      .map((n) => typeof globalThis[n]),
  };
};
"#,
    );
    assert_eq!(v["text"], "stream me");
    assert_eq!(v["unpacked"], 200);
    assert_eq!(v["chunks"], serde_json::json!(["a", "b"]));
    assert_eq!(v["same"], true);
    assert_eq!(v["tag"], "[object ReadableStream]");
    assert_eq!(v["protoEnumerable"], true);
    assert_eq!(v["cloneRefused"], "DataCloneError");
    assert_eq!(
        v["globals"],
        serde_json::json!(["function", "function", "function", "function", "function"])
    );
}

/// WebCrypto's SubtleCrypto is a lazy group reached first through `crypto.subtle` (an eager
/// getter): built after tampering, it works, and it is one object however it is reached.
#[test]
fn webcrypto_built_from_crypto_subtle_after_tampering_uses_the_snapshots_primordials() {
    let v = run_tampering(
        r#"
export default async () => {
  const subtle = tampered(
    [
      ["Object", "defineProperty"], ["Object", "keys"], ["Array.prototype", "push"],
      ["String.prototype", "toUpperCase"], ["Number", "isFinite"], ["Array.prototype", Symbol.iterator],
    ],
    ["get", "set", "value", "writable", "enumerable"],
    () => crypto.subtle, // builds the crypto group
  );
  const digest = new Uint8Array(await subtle.digest("sha-256", new TextEncoder().encode("abc")));
  const key = await subtle.generateKey({ name: "hmac", hash: "SHA-256" }, false, ["sign"]);
  return {
    hits,
    digest: Array.from(digest.slice(0, 4)),
    same: subtle === crypto.subtle && subtle instanceof SubtleCrypto,
    key: key instanceof CryptoKey && key.algorithm.name,
    cloneRefused: (() => { try { structuredClone(subtle); return false; } catch (e) { return e.name; } })(),
  };
};
"#,
    );
    assert_eq!(v["digest"], serde_json::json!([0xba, 0x78, 0x16, 0xbf]));
    assert_eq!(v["same"], true);
    assert_eq!(v["key"], "HMAC");
    assert_eq!(v["cloneRefused"], "DataCloneError");
}

/// The RPC group (rpc.js and its parts) is built on first use, here a local `RpcStub`: built after
/// tampering, its stubs work; before it is built, `instanceof RpcStub` answers without building it
/// (no stub can exist yet), and `RpcTarget` is the eager class the group's stubs recognise.
#[test]
fn the_rpc_group_built_from_a_local_stub_after_tampering_uses_the_snapshots_primordials() {
    let v = run_tampering(
        r#"
import { RpcStub, RpcTarget } from "cloudflare:workers";
class Counter extends RpcTarget {
  constructor() { super(); this.n = 0; }
  add(k) { this.n += k; return this.n; }
}
export default async () => {
  const plainBefore = ({}) instanceof RpcStub;
  const stub = tampered(
    [
      ["Object", "defineProperty"], ["Object", "freeze"], ["Array.prototype", "push"],
      ["WeakMap.prototype", "get"], ["WeakMap.prototype", "set"], ["WeakSet.prototype", "has"],
      ["WeakSet.prototype", "add"], ["Object.prototype", "isPrototypeOf"], ["Promise.prototype", "finally"],
      ["Number", "isFinite"], ["Array.prototype", Symbol.iterator],
    ],
    ["get", "set", "value", "writable", "enumerable"],
    () => new RpcStub(new Counter()), // builds the rpc group
  );
  const a = await stub.add(2);
  const b = await stub.add(3);
  const fn = new RpcStub((x) => x * 2);
  return {
    hits, plainBefore, a, b, doubled: await fn(21),
    isStub: stub instanceof RpcStub && fn instanceof RpcStub,
    plainAfter: ({}) instanceof RpcStub,
    refused: (() => { try { new RpcStub({}); return false; } catch (e) { return e.name; } })(),
    tag: Object.prototype.toString.call(new Counter()),
  };
};
"#,
    );
    assert_eq!(v["plainBefore"], false);
    assert_eq!(v["a"], 2);
    assert_eq!(v["b"], 5);
    assert_eq!(v["doubled"], 42);
    assert_eq!(v["isStub"], true);
    assert_eq!(v["plainAfter"], false);
    assert_eq!(v["refused"], "TypeError");
    assert_eq!(v["tag"], "[object RpcTarget]");
}
