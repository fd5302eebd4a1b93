// node:path's posix and win32 (node-path.js, node-path-win32.js) against Node 20's own path.posix
// and path.win32, function by function, on a table of the paths that trip implementations up
// (drive letters, UNC roots, mixed separators, dots, trailing separators) and on 4000 generated
// ones. Node's working directory is set to "/" first: a worker's is "/".
import { test } from "node:test";
import assert from "node:assert/strict";
import nodePath from "node:path";
import { loadPrelude } from "./load-prelude.mjs";

process.chdir("/");
const p = loadPrelude();
p.exports.configure({ nodejs: true });
const path = p.exports.builtinExports("node:path");

const call = (fn, ...args) => {
  try { return JSON.parse(JSON.stringify(fn(...args))); } catch (e) { return `throws ${e.code ?? e.name}`; }
};

function same(flavour, input, other) {
  const mine = path[flavour];
  const node = nodePath[flavour];
  for (const name of ["normalize", "isAbsolute", "dirname", "basename", "extname", "parse", "toNamespacedPath"]) {
    assert.deepEqual(call(mine[name], input), call(node[name], input), `${flavour}.${name}(${JSON.stringify(input)})`);
  }
  for (const name of ["join", "resolve", "relative"]) {
    assert.deepEqual(call(mine[name], input, other), call(node[name], input, other), `${flavour}.${name}(${JSON.stringify(input)}, ${JSON.stringify(other)})`);
  }
  assert.deepEqual(call(mine.basename, input, other), call(node.basename, input, other), `${flavour}.basename(${JSON.stringify(input)}, ${JSON.stringify(other)})`);
  const parsed = node.parse(input);
  assert.equal(mine.format(parsed), node.format(parsed), `${flavour}.format(${JSON.stringify(parsed)})`);
}

const TABLE = [
  "", ".", "..", "/", "\\", "//", "\\\\", "///", "C:", "C:\\", "C:/", "c:x", "C:\\x\\..\\..\\y", "C:..\\a", "\\\\server",
  "\\\\server\\", "\\\\server\\share", "\\\\server\\share\\", "\\\\server\\share\\a\\b", "//server/share/a/../..",
  "\\\\?\\C:\\x", "\\\\.\\pipe\\x", "a/b\\c/../d", "a\\.\\b\\..\\..\\..", "/a/b/", "a/b//c/", "./a", "../../a", "...",
  "a.b.c", ".bashrc", "a/.x.", "a/..", "C:\\a.txt\\", "x/y.tar.gz", "file.", "/..", "C:\\..", "\\a\\b:c", "a:b",
  "CON", "C:\\CON\\x", "é/ü.txt", "1:\\x",
  // Namespaced roots with a trailing separator, and Node 20.20's reserved device names
  // (CVE-2025-27210: a relative "CON:x" must not normalise into a stream of the device).
  "\\\\?\\C:\\a\\", "\\\\.\\pipe\\x\\", "CON:x", "COM1:..\\x", "a\\..\\CON", ".\\CON:z", "AUX", "nul.txt:b",
  "c:CON:x", "LPT1:", "x/CON:y", "con:", "PRN:a", "COM9:b", "LPT0:", "COM¹:x", "CONIN$:x", "NUL.:x", "NUL.", "aux.", "COM1", "lpt3:",
];

test("path.posix and path.win32 match Node's on the table", () => {
  for (const flavour of ["posix", "win32"]) {
    for (const a of TABLE) for (const b of ["", "b", "..\\c", "/d", "C:\\e", ".txt", "c"]) same(flavour, a, b);
  }
  assert.equal(path.win32.sep, "\\");
  assert.equal(path.win32.delimiter, ";");
  assert.equal(path.win32.win32, path.win32);
  assert.equal(path.win32.posix, path.posix);
  assert.equal(path.posix.win32, path.win32);
});

test("path.posix and path.win32 match Node's on 4000 generated paths", () => {
  let seed = 0x9a7b;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const atoms = ["a", "B", ".", "..", "/", "\\", "//", "\\\\", "C:", "c:", ":", "x.y", ".z", "?", "é", " ", "\\\\.\\", "\\\\?\\", "1:", "CON", "nul", "LPT1"];
  const gen = () => { let s = ""; const n = rand(8); for (let j = 0; j < n; j++) s += atoms[rand(atoms.length)]; return s; };
  for (let i = 0; i < 2000; i++) {
    const a = gen();
    const b = gen();
    same("posix", a, b);
    same("win32", a, b);
  }
});

test("path.win32.join and resolve take many parts as Node's", () => {
  const parts = [["a", "b", "..", "c"], ["//server", "share", "x"], ["C:", "a", "\\b"], ["\\\\", "a"], ["C:\\a", "D:b", "c"], ["", "", "x"]];
  for (const args of parts) {
    assert.equal(path.win32.join(...args), nodePath.win32.join(...args), JSON.stringify(args));
    assert.equal(path.win32.resolve(...args), nodePath.win32.resolve(...args), JSON.stringify(args));
  }
});
