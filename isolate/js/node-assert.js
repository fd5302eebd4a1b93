// ---- node-assert.js: node:assert, node:assert/strict, and the deep equality util shares. ------
// Node's comparison: deepStrictEqual compares prototypes, type tags, own enumerable keys (symbols
// included), Map/Set contents regardless of order, typed arrays byte for byte, Dates by time,
// RegExps by source and flags, boxed primitives by value, Errors by name and message, with
// Object.is for primitives and cycles handled; deepEqual is the legacy loose form (== for
// primitives, prototypes ignored). A failed assertion throws an AssertionError (code
// ERR_ASSERTION) carrying actual, expected and operator.

/** Node's isDeepStrictEqual (strict) or the legacy deepEqual (loose). */
function nodeDeepEqual(a, b, strict, memo) {
  if (strict ? ObjectIs(a, b) : a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    if (strict) return false;
    if ((a === null || typeof a !== "object") && (b === null || typeof b !== "object")) {
      // eslint-disable-next-line eqeqeq
      return a == b || (a !== a && b !== b);
    }
    return false;
  }
  if (strict && ObjectGetPrototypeOf(a) !== ObjectGetPrototypeOf(b)) return false;
  if (ObjectPrototypeToString(a) !== ObjectPrototypeToString(b)) return false;
  if (ArrayIsArray(a) !== ArrayIsArray(b)) return false;
  const ka = builtinKind(a), kb = builtinKind(b);
  if (ka !== kb) return false;
  if (ka === K_DATE && ReflectApply(Date.prototype.getTime, a, []) !== ReflectApply(Date.prototype.getTime, b, [])) return false;
  if (ka === K_REGEXP && (regExpSource(a) !== regExpSource(b) || regExpFlags(a) !== regExpFlags(b) || a.lastIndex !== b.lastIndex)) return false;
  if (ka === K_ERROR || a instanceof Error) {
    if (a.message !== b.message || a.name !== b.name) return false;
    // As Node 20: an error's cause and an AggregateError's errors count (own, not enumerable).
    for (const key of ["cause", "errors"]) {
      const da = ObjectGetOwnPropertyDescriptor(a, key), db = ObjectGetOwnPropertyDescriptor(b, key);
      if ((da === undefined) !== (db === undefined)) return false;
      if (da !== undefined && !nodeDeepEqual(da.value, db.value, strict, memo)) return false;
    }
  }
  // URLs keep their state in private fields: they are equal when their hrefs are.
  const hrefA = urlHrefOf(a), hrefB = urlHrefOf(b);
  if ((hrefA !== undefined || hrefB !== undefined) && hrefA !== hrefB) return false;
  if (ka >= K_BOX && !ObjectIs(BOXES[ka - K_BOX][1](a), BOXES[kb - K_BOX][1](b))) return false;
  const ta = typedArrayName(a);
  if (ta !== undefined || ka === K_ARRAYBUFFER || ka === K_DATAVIEW) {
    if (ta !== typedArrayName(b)) return false;
    const x = bufferSourceBytes(a, "deepEqual"), y = bufferSourceBytes(b, "deepEqual");
    if (x.length !== y.length) return false;
    if (ta === "Float32Array" || ta === "Float64Array") {
      for (let i = 0; i < a.length; i++) if (!(strict ? ObjectIs(a[i], b[i]) : a[i] == b[i])) return false; // eslint-disable-line eqeqeq
    } else {
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    }
    if (ka === K_ARRAYBUFFER || ka === K_DATAVIEW) return true;
  }
  memo ??= { a: [], b: [] };
  for (let i = 0; i < memo.a.length; i++) if (memo.a[i] === a) return memo.b[i] === b;
  memo.a.push(a);
  memo.b.push(b);
  try {
    const keys = (o) => {
      const all = ReflectOwnKeys(o).filter((k) => ObjectGetOwnPropertyDescriptor(o, k).enumerable);
      return ta !== undefined ? all.filter((k) => typeof k !== "string" || !/^(0|[1-9]\d*)$/.test(k)) : strict ? all : all.filter((k) => typeof k === "string");
    };
    const keysA = keys(a), keysB = keys(b);
    if (keysA.length !== keysB.length) return false;
    for (const k of keysA) {
      if (!ObjectGetOwnPropertyDescriptor(b, k)?.enumerable) return false;
      if (!nodeDeepEqual(a[k], b[k], strict, memo)) return false;
    }
    if (ka === K_MAP) {
      if (a.size !== b.size) return false;
      const rest = [...ReflectApply(Map.prototype.entries, b, [])];
      for (const [k, v] of ReflectApply(Map.prototype.entries, a, [])) {
        if (ReflectApply(Map.prototype.has, b, [k]) && nodeDeepEqual(v, ReflectApply(Map.prototype.get, b, [k]), strict, memo)) {
          const at = rest.findIndex(([rk]) => ObjectIs(rk, k));
          if (at !== -1) rest.splice(at, 1);
          continue;
        }
        const at = rest.findIndex(([rk, rv]) => nodeDeepEqual(k, rk, strict, memo) && nodeDeepEqual(v, rv, strict, memo));
        if (at === -1) return false;
        rest.splice(at, 1);
      }
    } else if (ka === K_SET) {
      if (a.size !== b.size) return false;
      const rest = [...ReflectApply(Set.prototype.values, b, [])];
      for (const v of ReflectApply(Set.prototype.values, a, [])) {
        let at = rest.findIndex((r) => ObjectIs(r, v));
        if (at === -1) at = rest.findIndex((r) => nodeDeepEqual(v, r, strict, memo));
        if (at === -1) return false;
        rest.splice(at, 1);
      }
    }
    return true;
  } finally {
    memo.a.pop();
    memo.b.pop();
  }
}

function assertModule(strictMode, shared) {
  const AssertionError = shared?.AssertionError ?? class AssertionError extends Error {
    constructor(options) {
      if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
      const { message, actual, expected, operator } = options;
      const generated = message === undefined;
      super(generated ? `${operator === "fail" ? "Failed" : `Expected values to be ${describeOperator(operator)}`}:\n\n` +
        `${inspect(actual)}\n\nshould ${operator === "notStrictEqual" || operator === "notDeepStrictEqual" || operator === "notEqual" || operator === "notDeepEqual" ? "not " : ""}` +
        `equal\n\n${inspect(expected)}` : `${message}`);
      this.generatedMessage = generated;
      this.code = "ERR_ASSERTION";
      this.actual = actual;
      this.expected = expected;
      this.operator = operator;
    }
    get name() { return "AssertionError"; }
  };
  function describeOperator(op) {
    return { __proto__: null, strictEqual: "strictly equal", deepStrictEqual: "strictly deep-equal", equal: "loosely equal",
      deepEqual: "loosely deep-equal" }[op] ?? "equal";
  }
  function fail(actual, expected, message, operator) {
    if (message instanceof Error) throw message;
    throw new AssertionError({ actual, expected, message, operator });
  }
  function ok(value, message) {
    if (!value) {
      if (message instanceof Error) throw message;
      throw new AssertionError({ actual: value, expected: true, operator: "==",
        message: message ?? (arguments.length === 0 ? "No value argument passed to `assert.ok()`" : "The expression evaluated to a falsy value") });
    }
  }
  const strictEqual = (a, b, m) => { if (!ObjectIs(a, b)) fail(a, b, m, "strictEqual"); };
  const notStrictEqual = (a, b, m) => { if (ObjectIs(a, b)) fail(a, b, m, "notStrictEqual"); };
  const deepStrictEqual = (a, b, m) => { if (!nodeDeepEqual(a, b, true)) fail(a, b, m, "deepStrictEqual"); };
  const notDeepStrictEqual = (a, b, m) => { if (nodeDeepEqual(a, b, true)) fail(a, b, m, "notDeepStrictEqual"); };
  // eslint-disable-next-line eqeqeq
  const equal = (a, b, m) => { if (!(a == b || (a !== a && b !== b))) fail(a, b, m, "equal"); };
  // eslint-disable-next-line eqeqeq
  const notEqual = (a, b, m) => { if (a == b || (a !== a && b !== b)) fail(a, b, m, "notEqual"); };
  const deepEqual = (a, b, m) => { if (!nodeDeepEqual(a, b, false)) fail(a, b, m, "deepEqual"); };
  const notDeepEqual = (a, b, m) => { if (nodeDeepEqual(a, b, false)) fail(a, b, m, "notDeepEqual"); };

  /** Whether error `e` matches `expected` (a class, a RegExp, a validation function, an object). */
  function matches(e, expected, message, operator) {
    if (expected === undefined) return;
    if (typeof expected === "function") {
      if (expected.prototype !== undefined && e instanceof expected) return;
      if (ObjectPrototypeIsPrototypeOf(Error, expected)) fail(e, expected, message, operator);
      if (ReflectApply(expected, {}, [e]) === true) return;
      fail(e, expected, message ?? "The validation function is expected to return \"true\"", operator);
    }
    if (builtinKind(expected) === K_REGEXP) {
      if (RegExpTest(expected, `${e}`)) return;
      fail(e, expected, message ?? `The input did not match the regular expression ${expected}`, operator);
    }
    if (expected !== null && typeof expected === "object") {
      for (const k of ObjectKeys(expected)) {
        const want = expected[k];
        const ok = builtinKind(want) === K_REGEXP && typeof e[k] === "string" ? RegExpTest(want, e[k]) : nodeDeepEqual(e[k], want, true);
        if (!ok) fail(e, expected, message, operator);
      }
    }
  }
  const NO_EXCEPTION = {};
  function thrownBy(fn) {
    validateFunction(fn, "fn");
    try { fn(); } catch (e) { return e; }
    return NO_EXCEPTION;
  }
  async function rejectionOf(promiseOrFn) {
    try { await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn); } catch (e) { return e; }
    return NO_EXCEPTION;
  }
  function throws(fn, expected, message) {
    if (typeof expected === "string") { message = expected; expected = undefined; }
    const e = thrownBy(fn);
    if (e === NO_EXCEPTION) fail(undefined, expected, message ?? "Missing expected exception.", "throws");
    matches(e, expected, message, "throws");
  }
  function doesNotThrow(fn, expected, message) {
    const e = thrownBy(fn);
    if (e !== NO_EXCEPTION) fail(e, expected, typeof expected === "string" ? expected : message ?? `Got unwanted exception.\nActual message: "${e?.message}"`, "doesNotThrow");
  }
  async function rejects(promiseOrFn, expected, message) {
    if (typeof expected === "string") { message = expected; expected = undefined; }
    const e = await rejectionOf(promiseOrFn);
    if (e === NO_EXCEPTION) fail(undefined, expected, message ?? "Missing expected rejection.", "rejects");
    matches(e, expected, message, "rejects");
  }
  async function doesNotReject(promiseOrFn, expected, message) {
    const e = await rejectionOf(promiseOrFn);
    if (e !== NO_EXCEPTION) fail(e, expected, message ?? `Got unwanted rejection.\nActual message: "${e?.message}"`, "doesNotReject");
  }
  const match = (s, re, m) => {
    if (typeof s !== "string" || !RegExpTest(re, s)) fail(s, re, m ?? `The input did not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`, "match");
  };
  const doesNotMatch = (s, re, m) => {
    if (typeof s !== "string" || RegExpTest(re, s)) fail(s, re, m ?? `The input was expected to not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`, "doesNotMatch");
  };
  const ifError = (v) => { if (v !== null && v !== undefined) throw v instanceof Error ? v : new AssertionError({ actual: v, expected: null, operator: "ifError", message: `ifError got unwanted exception: ${inspect(v)}` }); };

  function assertFn(...args) { ReflectApply(ok, undefined, args); }
  const members = {
    ok, fail: (message = "Failed") => fail(undefined, undefined, message, "fail"),
    equal: strictMode ? strictEqual : equal, notEqual: strictMode ? notStrictEqual : notEqual,
    deepEqual: strictMode ? deepStrictEqual : deepEqual, notDeepEqual: strictMode ? notDeepStrictEqual : notDeepEqual,
    strictEqual, notStrictEqual, deepStrictEqual, notDeepStrictEqual, throws, doesNotThrow, rejects, doesNotReject,
    match, doesNotMatch, ifError, AssertionError,
  };
  for (const k of ObjectKeys(members)) assertFn[k] = members[k];
  assertFn.strict = assertFn;
  return assertFn;
}


const ASSERT_NAMES = ["ok", "fail", "equal", "notEqual", "deepEqual", "notDeepEqual", "strictEqual", "notStrictEqual",
  "deepStrictEqual", "notDeepStrictEqual", "throws", "doesNotThrow", "rejects", "doesNotReject", "match",
  "doesNotMatch", "ifError", "AssertionError", "strict"];
defineBuiltin("node:assert", ASSERT_NAMES, () => {
  const strict = builtinExports("node:assert/strict");
  const loose = assertModule(false, strict);
  loose.strict = strict;
  return loose;
});
defineBuiltin("node:assert/strict", ASSERT_NAMES, () => assertModule(true));
