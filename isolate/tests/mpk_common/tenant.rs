//! The tenant module every worker of the attack tests runs (plant a canary, churn the heap,
//! read or write through `__attack`, report PKRU, run WebAssembly), and helpers driving it.

use super::*;
use stockade_isolate::{MpkMode, Worker};

pub const TENANT_JS: &str = r#"
export default async (x) => {
  switch (x.op) {
    case 'plant': {
      // A flat string built from character codes: the payload holds the halves only, so this
      // is the one copy of the whole canary (joining or adding strings would make a rope).
      const codes = [...x.a, ...x.b].map((c) => c.charCodeAt(0));
      globalThis.canary = String.fromCharCode(...codes);
      return globalThis.canary.length;
    }
    case 'peek': return globalThis.canary.slice(0, 8);
    case 'spread': {
      // `count` flat copies of the canary, each its own string object, kept alive.
      const codes = [...x.a, ...x.b].map((c) => c.charCodeAt(0));
      globalThis.copies = [];
      for (let i = 0; i < x.count; i++) copies.push(String.fromCharCode(...codes));
      return copies.length;
    }
    case 'buffer': {
      const buf = new Uint8Array(x.size);
      for (let i = 0; i < 8; i++) buf[x.offset + i] = x.a.charCodeAt(i);
      for (let i = 0; i < 8; i++) buf[x.offset + 8 + i] = x.b.charCodeAt(i);
      globalThis.buf = buf;
      return buf.length;
    }
    case 'churn': {
      // Young and old collections, heap growth, then everything dropped (the heap shrinks).
      let keep = [];
      for (let round = 0; round < x.rounds; round++) {
        for (let i = 0; i < 4000; i++) keep.push({ i, s: 'v' + i, a: new Array(24).fill(i) });
        if (keep.length > x.keep) keep = [];
      }
      const n = keep.length;
      keep = null;
      return n;
    }
    case 'grow': {
      // Large objects, kept: the heap grows by about count * len * 8 bytes.
      globalThis.big = [];
      for (let i = 0; i < x.count; i++) big.push(new Array(x.len).fill(i));
      return big.length;
    }
    case 'release': {
      // Drops them, then allocates short-lived large objects until full collections have run
      // (each counts against the old-generation limit): the kept pages are freed.
      globalThis.big = null;
      let sum = 0;
      for (let i = 0; i < x.rounds; i++) sum += new Array(x.len).fill(i).length;
      return sum;
    }
    case 'read': return __attack.read64(x.addr);
    case 'write': __attack.write64(x.addr, x.value); return 'written';
    case 'pkru': {
      const sync = __attack.pkru();
      const micro = await Promise.resolve().then(() => __attack.pkru());
      const timer = await new Promise((r) => setTimeout(() => r(__attack.pkru()), 1));
      return [sync, micro, timer];
    }
    case 'wasm': {
      const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1,
        127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]);
      const add = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.add;
      globalThis.wasmAdd = add; // keeps the module, and its code space, alive
      let s = 0;
      for (let i = 0; i < x.calls; i++) s = (s + add(i, 1)) | 0;
      return s;
    }
  }
  throw new Error('unknown op ' + x.op);
};
"#;

/// A worker running the tenant module, with the attack hooks installed.
pub fn tenant(mode: MpkMode) -> Worker {
    let w = worker(mode, TENANT_JS);
    w.attack_install();
    w
}

/// Plants the canary as a JS string in `w`'s heap; returns the addresses of its copies.
pub fn plant_string(w: &mut Worker, canary: &str) -> Vec<u64> {
    let (a, b) = canary.split_at(8);
    call(w, &serde_json::json!({ "op": "plant", "a": a, "b": b }));
    let found = w.attack_find(canary.as_bytes());
    assert!(!found.is_empty(), "canary not found in the tenant's heap");
    found
}

/// Plants the canary in a `size`-byte Uint8Array at `offset`; returns its address.
pub fn plant_buffer(w: &mut Worker, canary: &str, size: usize, offset: usize) -> Vec<u64> {
    let (a, b) = canary.split_at(8);
    call(
        w,
        &serde_json::json!({ "op": "buffer", "a": a, "b": b, "size": size, "offset": offset }),
    );
    let found = w.attack_find(canary.as_bytes());
    assert_eq!(found.len(), 1, "one copy, in the ArrayBuffer: {found:x?}");
    let range = stockade_isolate::attack::attack_range_of(found[0]).expect("registered");
    assert_eq!(
        range.key,
        w.mpk_key(),
        "arena memory carries the isolate's key"
    );
    found
}

pub fn hex(v: u64) -> String {
    format!("{v:#x}")
}

pub fn parse_hex(v: &serde_json::Value) -> u64 {
    let text = v.as_str().expect("hex string");
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex")
}
