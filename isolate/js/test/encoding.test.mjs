// TextEncoder / TextDecoder / atob / btoa, checked against Node's native implementations
// (ICU/simdutf based, WHATWG-conformant), including random invalid UTF-8 and streaming splits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const { context, realm, run, exports } = loadPrelude();
const { TextEncoder: SandboxEncoder, TextDecoder: SandboxDecoder, atob: sandboxAtob, btoa: sandboxBtoa } = context;
const SU8 = run("Uint8Array");

let seed = 0xc0ffee;
const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };

/** Random bytes biased towards UTF-8 lead/continuation bytes and boundary values. */
function randomBytes(n) {
  const interesting = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f, 0xbb, 0xfe];
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rand(3) === 0 ? rand(256) : interesting[rand(interesting.length)];
  return out;
}

function randomString(n) {
  const pool = ["a", "é", "€", "\u{1F600}", "\uD800", "\uDC00", "\u0000", "\uFEFF", "\u07FF", "\u0800", "\uFFFF", "\u{10FFFF}"];
  let s = "";
  for (let i = 0; i < n; i++) s += pool[rand(pool.length)];
  return s;
}

test("TextEncoder.encode matches Node, lone surrogates become U+FFFD", () => {
  const mine = new SandboxEncoder();
  const node = new TextEncoder();
  for (let i = 0; i < 500; i++) {
    const s = randomString(rand(20));
    assert.deepEqual([...mine.encode(s)], [...node.encode(s)], JSON.stringify(s));
  }
  assert.equal(mine.encode().length, 0);
  assert.equal(mine.encoding, "utf-8");
  assert.equal(mine.encode("x").buffer.byteLength, 1, "the result is exactly sized");
});

test("TextEncoder.encodeInto matches Node for every destination size", () => {
  const mine = new SandboxEncoder();
  const node = new TextEncoder();
  for (let i = 0; i < 200; i++) {
    const s = randomString(rand(8));
    for (let cap = 0; cap <= 12; cap++) {
      const a = new SU8(cap);
      const b = new Uint8Array(cap);
      const ra = mine.encodeInto(s, a);
      const rb = node.encodeInto(s, b);
      assert.deepEqual([ra.read, ra.written, ...a], [rb.read, rb.written, ...b], `${JSON.stringify(s)} cap ${cap}`);
    }
  }
  assert.throws(() => mine.encodeInto("x", new (run("Uint16Array"))(2)), realm.TypeError);
});

test("TextDecoder matches Node on random (mostly invalid) UTF-8, one-shot", () => {
  for (let i = 0; i < 3000; i++) {
    const bytes = randomBytes(rand(16));
    const node = new TextDecoder().decode(bytes);
    assert.equal(new SandboxDecoder().decode(SU8.from(bytes)), node, `bytes ${[...bytes]}`);
    const nodeFatal = (() => { try { return new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { return e.name; } })();
    const mineFatal = (() => { try { return new SandboxDecoder("utf-8", { fatal: true }).decode(SU8.from(bytes)); } catch (e) { return e.name; } })();
    assert.equal(mineFatal, nodeFatal, `fatal, bytes ${[...bytes]}`);
  }
});

test("TextDecoder streaming: every split point gives Node's result", () => {
  for (let i = 0; i < 400; i++) {
    const bytes = randomBytes(1 + rand(10));
    const expected = new TextDecoder().decode(bytes);
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const cut2 of [cut, Math.min(bytes.length, cut + 1), bytes.length]) {
        const d = new SandboxDecoder();
        const text = d.decode(SU8.from(bytes.subarray(0, cut)), { stream: true })
          + d.decode(SU8.from(bytes.subarray(cut, cut2)), { stream: true })
          + d.decode(SU8.from(bytes.subarray(cut2)));
        assert.equal(text, expected, `bytes ${[...bytes]} cut ${cut}/${cut2}`);
      }
    }
  }
});

/** Node's decoding of `bytes`; windows-1252 through its streaming path, as its one-shot decode
 *  takes a Latin-1 shortcut (0x86 stays U+0086, where the Encoding Standard says U+2020). */
function nodeDecode(label, bytes, options = {}) {
  const d = new TextDecoder(label, options);
  return label === "windows-1252" ? d.decode(bytes, { stream: true }) + d.decode() : d.decode(bytes);
}

test("TextDecoder legacy encodings: every split point and fatal mode give Node's result", () => {
  const labels = ["shift_jis", "euc-jp", "iso-2022-jp", "gb18030", "big5", "euc-kr", "windows-1252", "koi8-r", "utf-16le", "utf-16be"];
  for (const label of labels) {
    for (let i = 0; i < 60; i++) {
      const bytes = new Uint8Array(1 + rand(8)).map(() => (rand(2) ? 0x80 + rand(128) : rand(2) ? 0x1b : rand(128)));
      const expected = nodeDecode(label, bytes);
      assert.equal(new SandboxDecoder(label).decode(SU8.from(bytes)), expected, `${label} ${[...bytes]}`);
      const nodeFatal = (() => { try { return nodeDecode(label, bytes, { fatal: true }); } catch (e) { return e.name; } })();
      const mineFatal = (() => { try { return new SandboxDecoder(label, { fatal: true }).decode(SU8.from(bytes)); } catch (e) { return e.name; } })();
      assert.equal(mineFatal, nodeFatal, `${label} fatal ${[...bytes]}`);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const d = new SandboxDecoder(label);
        const text = d.decode(SU8.from(bytes.subarray(0, cut)), { stream: true }) + d.decode(SU8.from(bytes.subarray(cut)));
        const n = new TextDecoder(label);
        assert.equal(text, n.decode(bytes.subarray(0, cut), { stream: true }) + n.decode(bytes.subarray(cut)), `${label} ${[...bytes]} cut ${cut}`);
      }
    }
  }
});

test("TextDecoder: BOM handling, labels, buffer sources, reuse after a fatal error", () => {
  const bom = [0xef, 0xbb, 0xbf];
  assert.equal(new SandboxDecoder().decode(SU8.from([...bom, 0x61])), "a");
  assert.equal(new SandboxDecoder("utf-8", { ignoreBOM: true }).decode(SU8.from([...bom, 0x61])), "\uFEFFa");
  assert.equal(new SandboxDecoder().decode(SU8.from([0x61, ...bom])), "a\uFEFF", "only a leading BOM is stripped");
  const streaming = new SandboxDecoder();
  assert.equal(streaming.decode(SU8.from([0xef, 0xbb]), { stream: true }), "");
  assert.equal(streaming.decode(SU8.from([0xbf, 0x62]), { stream: true }), "b", "a BOM split across chunks is stripped");
  assert.equal(streaming.decode(SU8.from([...bom, 0x63])), "\uFEFFc", "mid-stream BOM is kept");
  assert.equal(streaming.decode(SU8.from([...bom, 0x64])), "d", "a new stream strips again");
  for (const label of ["utf8", " UTF-8\n", "unicode-1-1-utf-8", "x-unicode20utf8"]) {
    assert.equal(new SandboxDecoder(label).encoding, "utf-8");
  }
  assert.equal(new SandboxDecoder("latin1").encoding, "windows-1252");
  assert.throws(() => new SandboxDecoder("iso-2022-kr"), realm.RangeError, "the replacement encoding is refused");
  assert.throws(() => new SandboxDecoder("no-such-encoding"), realm.RangeError);
  const buf = run("new Uint8Array([0x68, 0x69, 0x21]).buffer");
  assert.equal(new SandboxDecoder().decode(buf), "hi!");
  assert.equal(new SandboxDecoder().decode(run("new DataView(new Uint8Array([0x68, 0x69, 0x21]).buffer, 1)")), "i!");
  assert.equal(new SandboxDecoder().decode(run("new Uint16Array([0x6968])")), "hi");
  assert.equal(new SandboxDecoder().decode(), "");
  assert.throws(() => new SandboxDecoder().decode("string"), realm.TypeError);
  const fatal = new SandboxDecoder("utf-8", { fatal: true });
  assert.equal(fatal.fatal, true);
  assert.throws(() => fatal.decode(SU8.from([0xe2, 0x82]), { stream: false }), realm.TypeError);
  assert.equal(fatal.decode(SU8.from([0x41])), "A", "the decoder resets after a fatal error");
  assert.equal(Object.prototype.toString.call(fatal), "[object TextDecoder]");
});

test("TextDecoder handles large inputs (chunked String.fromCharCode)", () => {
  const s = "é€\u{1F600}a".repeat(50000);
  const bytes = new TextEncoder().encode(s);
  assert.equal(new SandboxDecoder().decode(SU8.from(bytes)), s);
  assert.deepEqual(Buffer.from(new SandboxEncoder().encode(s)), Buffer.from(bytes));
});

test("atob / btoa match Node, errors are InvalidCharacterError DOMExceptions", () => {
  const outcome = (fn, arg) => { try { return fn(arg); } catch (e) { return `${e.name}/${e.code}`; } };
  const inputs = ["", "a", "ab", "abc", "abcd", "YQ", "YQ=", "YQ==", "YQ===", "Y Q = =", "\tYWJj\n", "YW=J", "====", "=", "Y",
    "YWJjZA", "YWJjZA=", "YWJjZA==", "ab-_", "ab+/", "\u00ff", "\u0100", "YR", "YR=="];
  for (const s of inputs) {
    const mineAtob = outcome(sandboxAtob, s);
    const nodeAtob = outcome(atob, s);
    assert.equal(mineAtob, nodeAtob, `atob ${JSON.stringify(s)}`);
    assert.equal(outcome(sandboxBtoa, s), outcome(btoa, s), `btoa ${JSON.stringify(s)}`);
  }
  for (let i = 0; i < 300; i++) {
    let s = "";
    for (let j = rand(20); j > 0; j--) s += String.fromCharCode(rand(256));
    assert.equal(sandboxBtoa(s), btoa(s));
    assert.equal(sandboxAtob(btoa(s)), s);
  }
  assert.throws(() => sandboxAtob("*"), (e) => e.name === "InvalidCharacterError" && e.code === 5 && e instanceof context.DOMException);
  assert.throws(() => sandboxBtoa("\u0100"), (e) => e.name === "InvalidCharacterError" && e instanceof realm.Error);
});

test("wellFormedJson replaces exactly the lone surrogates of JSON.stringify's text with U+FFFD", () => {
  const pool = ["a", "\\", "\\ud800", "\\\\ud800", "u", "d800", "\"", "\uD800", "\uDBFF", "\uDC00", "\uDFFF",
    "\u{1F600}", "\u0000", "\u001f", "\uFFFD", "é"];
  for (let i = 0; i < 2000; i++) {
    let s = "";
    for (let k = rand(12); k > 0; k--) s += pool[rand(pool.length)];
    const value = rand(2) === 0 ? s : { [s]: [s, { k: s }] };
    const text = exports.wellFormedJson(JSON.stringify(value));
    assert.ok(text.isWellFormed(), JSON.stringify(s));
    const expected = typeof value === "string" ? s.toWellFormed() : { [s.toWellFormed()]: [s.toWellFormed(), { k: s.toWellFormed() }] };
    assert.deepEqual(JSON.parse(text), expected, JSON.stringify(s));
    // Nothing a UTF-8 JSON parser would refuse: no surrogate escape is left.
    assert.ok(!/(^|[^\\])(\\\\)*\\ud[89a-f]/i.test(text), text);
  }
  const clean = JSON.stringify({ a: "plain \u{1F600}" });
  assert.equal(exports.wellFormedJson(clean), clean, "text without a lone surrogate is returned as it is");
});
