// node:url's legacy url.parse and url.format (node-url-legacy.js) against Node 20's own, field by
// field: a table of the inputs npm code gives them (connection strings, proxies, paths, odd
// hosts), a seeded corpus of 3000 more, and format() of parsed and hand-made objects.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeUrl from "node:url";
import { loadPrelude } from "./load-prelude.mjs";

const p = loadPrelude();
p.exports.configure({ nodejs: true });
const url = p.exports.builtinExports("node:url");
const FIELDS = ["protocol", "slashes", "auth", "host", "port", "hostname", "hash", "search", "query", "pathname", "path", "href"];

function describe(parse, input, parseQuery, slashesDenoteHost) {
  let u;
  try {
    u = parse(input, parseQuery, slashesDenoteHost);
  } catch (e) {
    return `throws ${e.code ?? e.name}`;
  }
  const out = {};
  for (const f of FIELDS) out[f] = f === "query" && u.query !== null && typeof u.query === "object" ? { ...u.query } : u[f];
  return JSON.parse(JSON.stringify(out));
}

function same(input) {
  for (const parseQuery of [false, true]) {
    for (const slashes of [false, true]) {
      const mine = describe(url.parse, input, parseQuery, slashes);
      const node = describe(nodeUrl.parse, input, parseQuery, slashes);
      assert.deepEqual(mine, node, `url.parse(${JSON.stringify(input)}, ${parseQuery}, ${slashes})`);
      if (typeof mine === "object") {
        const back = url.format(url.parse(input, parseQuery, slashes));
        assert.equal(back, nodeUrl.format(nodeUrl.parse(input, parseQuery, slashes)), `format of ${JSON.stringify(input)}`);
      }
    }
  }
}

const TABLE = [
  "http://a.com:80/x", "redis://:pw@h:6379/0", "postgres://user:p%40ss@db.example:5432/app?sslmode=require",
  "mysql://root@localhost/db", "http://[::1]:3000/", "http://[fe80::1%25eth0]/", "//host/p", "/p/a/t/h?query=string#hash",
  "mailto:a@b.c", "http://x.com?", "http://x.com#", "http://x.com/ü?ü#ü", "HTTP://EXAMPLE.COM/A B", "http://münchen.de/",
  "http://xn--mnchen-3ya.de/", "http://a@b@c/", "http://a@b?@c", "http://user:pass@host.com:8080/p/a/t/h?query=string#hash",
  "javascript:alert(1)", "javascript://x/%0aalert(1)", "file:///etc/passwd", "file:C:\\x", "http:\\\\evil.com\\path",
  "  http://x.com/  ", "\thttp://x.com\n", "http://x.com/a\\b?c\\d", "x.com/path", "?q=1", "#frag", "", "   ",
  "http://x.com:/", "http://x.com:abc/", "http://-x.com/", "http://x_y.com/", "http://x.com./", "http://1.2.3.4:5/",
  "http://x.com/{a}|b^c`d'e\"f<g>", "http://x.com/?a[]=1&a[]=2&b=%20c+d", "https://x.com/?a=1&a=2&b", "ws://h/s",
  "ftp://u@h/f", "gopher://h/", "sip:alice@example.com", "urn:isbn:123", "data:text/plain,hi there", "http://x.com%2F@y.com/",
  "http://a.com\\@b.com/", "http://[::1]x/", "http://[1:2]:8/p", "HTTPS://User:Pass@EXAMPLE.com:443/", "http://a b.com/",
  "http://%41.com/", "http://x.com/%zz", "git+ssh://git@github.com:org/repo.git", "s3://bucket/key with space",
  "amqp://guest:guest@rabbit:5672/%2F", "mongodb+srv://u:p@cluster0.x.mongodb.net/db?retryWrites=true&w=majority",
];

test("url.parse and its format match Node's on the inputs npm code gives them", () => {
  for (const input of TABLE) same(input);
});

test("url.parse matches Node's on a seeded corpus of 3000 inputs", () => {
  let seed = 0x1e9ac;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const heads = ["http://", "https://", "HTTP://", "//", "/", "", "mailto:", "redis://", "file:", "javascript:", "x:", "\\\\", " "];
  const atoms = ["a", "B", "0", ".", "..", "/", "\\", ":", "@", "?", "#", "%", "%41", "%zz", "[", "]", "::1", "1.2.3.4",
    " ", "\t", "é", "ü", "^", "{", "|", "'", "\"", "<", "`", "~", "=", "&", "+", ";", "$", "_", "-", "xn--", "*", "!"];
  for (let i = 0; i < 3000; i++) {
    let s = heads[rand(heads.length)];
    const n = rand(14);
    for (let j = 0; j < n; j++) s += atoms[rand(atoms.length)];
    same(s);
  }
});

test("url.format of hand-made objects matches Node's", () => {
  const objects = [
    { protocol: "http", host: "x", query: { q: "1 2", r: ["a", "b"] } }, { host: "x", query: { q: "1 2" } },
    { protocol: "https:", hostname: "::1", port: 8080, pathname: "a#b?c" }, { protocol: "mailto", pathname: "a@b.c" },
    { protocol: "file", pathname: "/etc" }, { protocol: "file:" }, { protocol: "x", slashes: true, hostname: "h" },
    { auth: "u:p w@", hostname: "h", search: "s#t", hash: "h" }, { pathname: "/p", search: "?a", query: { b: 1 } }, {},
  ];
  for (const o of objects) assert.equal(url.format(o), nodeUrl.format(o), JSON.stringify(o));
  assert.equal(url.format("HTTP://X.com/a b"), nodeUrl.format("HTTP://X.com/a b"));
  assert.throws(() => url.format(1), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => url.parse(1), { code: "ERR_INVALID_ARG_TYPE" });
  assert.equal(url.parse("http://x/") instanceof url.Url, true);
});

test("url.resolve and url.resolveObject match Node's (RFC 1808's examples, relative bases, other schemes, generated)", () => {
  const call = (f) => { try { return JSON.parse(JSON.stringify(f())); } catch (e) { return `throws ${e.code ?? e.name}`; } };
  const check = (base, rel) => {
    assert.deepEqual(call(() => url.resolve(base, rel)), call(() => nodeUrl.resolve(base, rel)), `resolve(${JSON.stringify(base)}, ${JSON.stringify(rel)})`);
    assert.deepEqual(call(() => ({ ...url.resolveObject(base, rel) })), call(() => ({ ...nodeUrl.resolveObject(base, rel) })),
      `resolveObject(${JSON.stringify(base)}, ${JSON.stringify(rel)})`);
  };
  const bases = ["http://a/b/c/d;p?q", "http://example.com/", "http://example.com", "/one/two/three", "one/two", "mailto:a@b.c",
    "file:///C:/x/y", "http://u:p@h:8080/p/a/t/h?query=string#hash", "https://a.example/x/", "", "//host/path", "http://a.com/b?c=d",
    "?q", "#f", "foo:bar", "HTTP://EXAMPLE.com/A", "mailto:user@host?subject=x", "javascript:void(0)", "redis://:pw@h:6379/0"];
  const rels = ["g", "./g", "g/", "/g", "//g", "?y", "g?y", "#s", "g#s", "..", "../g", "../..", "../../g", "../../../g", ".", "./",
    "", "http:g", "https://other/x", "mailto:z@y", "g;x?y#s", "/./g", "g.", ".g", "..g", "g/../h", "file:///z", "//other.com",
    "http://a.com/b/../c", " spaced ", "a b", "\\back\\slash", "javascript:alert(1)", "HTTP://UPPER/Case", "http:", "mailto:", "x@y"];
  for (const b of bases) for (const r of rels) check(b, r);
  let seed = 0x5eed;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const atoms = ["a", "/", "..", ".", "//", "?", "#", "@", ":", "http:", "mailto:", "h", "x.y", "%20", " "];
  const gen = () => { let s = ""; const n = rand(7); for (let j = 0; j < n; j++) s += atoms[rand(atoms.length)]; return s; };
  for (let i = 0; i < 2000; i++) check(gen(), gen());
  assert.equal(call(() => url.resolve("http://a/", 5)), call(() => nodeUrl.resolve("http://a/", 5)));
});

test("url.fileURLToPath and url.pathToFileURL answer as Node's on 10,000 generated inputs", () => {
  let seed = 0xf11e;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const pick = (list) => list[rand(list.length)];
  // Characters a file URL's path escapes (Node's encodePathChars), percent signs and encoded
  // slashes, dot segments; ASCII hosts only (a Unicode host is the URL parser's IDNA question) and
  // no drive letters (ada keeps "C:^" from a ".." the standard removes: url.test.mjs's concern).
  const atoms = ["/", "a", "é", " ", "%", "%2F", "%2f", "#", "?", "\\", "\n", "\t", "\r", "..", ".", "~", "'", "\"", ":",
    "[", "]", "^", "|", "%00", "%41", "+"];
  const t = (f) => { try { const r = f(); return typeof r === "object" ? r.href : r; } catch (e) { return `throws ${e.code ?? e.name}`; } };
  for (let i = 0; i < 10000; i++) {
    let s = pick(["/", "file:///", "file://h/", "file://localhost/", "http://x/", "FILE:/", "file:"]);
    for (let k = rand(8); k > 0; k--) s += pick(atoms);
    assert.equal(t(() => url.fileURLToPath(s)), t(() => nodeUrl.fileURLToPath(s)), `fileURLToPath(${JSON.stringify(s)})`);
    // Relative paths resolve against each side's own working directory: absolute ones only.
    if (s.startsWith("/")) assert.equal(t(() => url.pathToFileURL(s)), t(() => nodeUrl.pathToFileURL(s)), `pathToFileURL(${JSON.stringify(s)})`);
  }
});
