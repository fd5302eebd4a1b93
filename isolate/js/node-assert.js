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
  const keys = (o) => {
    const all = ReflectOwnKeys(o).filter((k) => ObjectGetOwnPropertyDescriptor(o, k).enumerable);
    return ta !== undefined ? all.filter((k) => typeof k !== "string" || !/^(0|[1-9]\d*)$/.test(k)) : strict ? all : all.filter((k) => typeof k === "string");
  };
  const keysA = keys(a), keysB = keys(b);
  if (keysA.length !== keysB.length) return false;
  for (const k of keysA) if (!ObjectGetOwnPropertyDescriptor(b, k)?.enumerable) return false;
  // Compares the values under the keys and a Map's or Set's contents, with `memo` for cycles.
  const contents = (memo) => {
    for (const k of keysA) if (!nodeDeepEqual(a[k], b[k], strict, memo)) return false;
    if (ka === K_MAP) return mapSize(a) === mapSize(b) && mapEquiv(a, b, strict, memo);
    if (ka === K_SET) return setSize(a) === setSize(b) && setEquiv(a, b, strict, memo);
    return true;
  };
  // Nothing to compare inside (no keys, no entries): equal, and no memo is touched (Node's).
  if (keysA.length === 0 && (ka === K_MAP ? mapSize(a) === 0 : ka === K_SET ? setSize(a) === 0 : !ArrayIsArray(a) || a.length === 0)) {
    return true;
  }
  // Cycles, as Node 20.20's memos (internal/util/comparisons.js): the outermost pair, then a
  // second one, are remembered alone; past them every object entered goes into one set, and a pair
  // whose both sides are already there counts as equal. So the answer does not depend on which
  // argument comes first (`a.a = a` equals `b.a.a = b`, either way round).
  if (memo === undefined) {
    return contents({ set: undefined, a, b, c: undefined, d: undefined, deep: false, deleteFailures: false });
  }
  if (memo.set === undefined) {
    if (!memo.deep) {
      if (memo.a === a && memo.b === b) return true;
      memo.c = a;
      memo.d = b;
      memo.deep = true;
      const equal = contents(memo);
      memo.deep = false;
      return equal;
    }
    memo.set = new Set();
    SetAdd(memo.set, memo.a);
    SetAdd(memo.set, memo.b);
    SetAdd(memo.set, memo.c);
    SetAdd(memo.set, memo.d);
  }
  const size = setSize(memo.set);
  SetAdd(memo.set, a);
  SetAdd(memo.set, b);
  if (setSize(memo.set) === size) return true;
  const equal = contents(memo);
  if (equal || memo.deleteFailures) {
    SetDelete(memo.set, a);
    SetDelete(memo.set, b);
  }
  return equal;
}

/** The values of a Set, or the entries of a Map, as an array (through captured methods). */
function setMembers(set) {
  const out = [];
  SetForEach(set, (v) => appendEntry(out, v));
  return out;
}
function mapMembers(map) {
  const out = [];
  MapForEach(map, (v, k) => appendEntry(out, [k, v]));
  return out;
}

/** Node's findLooseMatchingPrimitives: for a loose comparison, null when `undefined` and `null`
 *  may stand for each other, false when nothing else can equal `prim`, true when too much can
 *  (and every candidate must be tried), undefined for null. */
function looseAlternative(prim) {
  switch (typeof prim) {
    case "undefined": return null;
    case "object": return undefined;
    case "symbol": return false;
    case "string": prim = +prim; // falls through: only a string that reads as a number can match
    case "number": if (prim !== prim) return false;
  }
  return true;
}
function setMightHaveLoosePrim(a, b, prim) {
  const alt = looseAlternative(prim);
  if (alt != null) return alt; // eslint-disable-line eqeqeq
  return SetHas(b, alt) && !SetHas(a, alt);
}
function mapMightHaveLoosePrim(a, b, prim, item, memo) {
  const alt = looseAlternative(prim);
  if (alt != null) return alt; // eslint-disable-line eqeqeq
  const other = MapGet(b, alt);
  if ((other === undefined && !MapHas(b, alt)) || !nodeDeepEqual(item, other, false, memo)) return false;
  return !MapHas(a, alt) && nodeDeepEqual(item, other, false, memo);
}

/** Removes and answers the first of `candidates` equal to `value` (Node's setHasEqualElement;
 *  the pairs tried are forgotten: deleteFailures). */
function takeEqualElement(candidates, value, strict, memo) {
  const before = memo.deleteFailures;
  memo.deleteFailures = true;
  try {
    for (let i = 0; i < candidates.length; i++) {
      if (nodeDeepEqual(candidates[i], value, strict, memo)) {
        ArraySplice(candidates, i, 1);
        return true;
      }
    }
    return false;
  } finally {
    memo.deleteFailures = before;
  }
}

/** Node's setEquiv: members of `a` that `b` lacks are compared, objects (and, loosely, primitives
 *  that may equal another) against `b`'s members that `a` lacks. */
function setEquiv(a, b, strict, memo) {
  let candidates = null;
  for (const v of setMembers(a)) {
    if (SetHas(b, v)) continue;
    if ((typeof v !== "object" || v === null) && (strict || !setMightHaveLoosePrim(a, b, v))) return false;
    if (candidates === null) {
      if (setSize(b) === 1) return nodeDeepEqual(v, setMembers(b)[0], strict, memo);
      candidates = [];
    }
    appendEntry(candidates, v);
  }
  if (candidates === null) return true;
  for (const v of setMembers(b)) {
    if (typeof v === "object" && v !== null) {
      if (!SetHas(a, v) && !takeEqualElement(candidates, v, strict, memo)) return false;
    } else if (!strict && !SetHas(a, v) && !takeEqualElement(candidates, v, strict, memo)) {
      return false;
    }
  }
  return candidates.length === 0;
}

/** Node's mapEquiv: a primitive key's values compared directly (strictly, a difference is final);
 *  object keys, and loosely primitives that may equal another, matched against every entry. */
function mapEquiv(a, b, strict, memo) {
  let candidates = null;
  for (const [key, item] of mapMembers(a)) {
    if (typeof key === "object" && key !== null) {
      if (candidates === null) {
        if (mapSize(b) === 1) {
          const [key2, item2] = mapMembers(b)[0];
          return nodeDeepEqual(key, key2, strict, memo) && nodeDeepEqual(item, item2, strict, memo);
        }
        candidates = [];
      }
      appendEntry(candidates, key);
    } else {
      const item2 = MapGet(b, key);
      if ((item2 === undefined && !MapHas(b, key)) || !nodeDeepEqual(item, item2, strict, memo)) {
        if (strict || !mapMightHaveLoosePrim(a, b, key, item, memo)) return false;
        if (candidates === null) candidates = [];
        appendEntry(candidates, key);
      }
    }
  }
  if (candidates === null) return true;
  // Every matching key is tried, not only the first ({} => 'a' and {} => 'b' either way round).
  const takeEqualEntry = (key2, item2) => {
    const before = memo.deleteFailures;
    memo.deleteFailures = true;
    try {
      for (let i = 0; i < candidates.length; i++) {
        const key1 = candidates[i];
        if (nodeDeepEqual(key1, key2, strict, memo) && nodeDeepEqual(MapGet(a, key1), item2, strict, memo)) {
          ArraySplice(candidates, i, 1);
          return true;
        }
      }
      return false;
    } finally {
      memo.deleteFailures = before;
    }
  };
  for (const [key, item] of mapMembers(b)) {
    if (typeof key === "object" && key !== null) {
      if (!takeEqualEntry(key, item)) return false;
    } else if (!strict && (!MapHas(a, key) || !nodeDeepEqual(MapGet(a, key), item, strict, memo)) && !takeEqualEntry(key, item)) {
      return false;
    }
  }
  return candidates.length === 0;
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

  /** Node's expectedException: whether error `e` matches `expected` (a RegExp, a validation
   *  object or Error, an Error class, a validation function); an AssertionError when not. */
  function matches(e, expected, message, operator) {
    const failWith = (generated, text) => {
      // A generated message compares as deepStrictEqual does; the operator is then the caller's.
      const err = new AssertionError({ actual: e, expected, message: text, operator: generated && text === undefined ? "deepStrictEqual" : operator });
      err.operator = operator;
      err.generatedMessage = generated;
      throw err;
    };
    if (typeof expected !== "function") {
      if (builtinKind(expected) === K_REGEXP) {
        const text = String(e);
        if (RegExpTest(expected, text)) return;
        if (message) failWith(false, message);
        failWith(true, `The input did not match the regular expression ${inspect(expected)}. Input:\n\n${inspect(text)}\n`);
      }
      if (e === null || typeof e !== "object") failWith(message === undefined, message);
      const keys = ObjectKeys(expected);
      if (expected instanceof Error) {
        appendToArray(keys, "name");
        appendToArray(keys, "message");
      } else if (keys.length === 0) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "The argument 'error' may not be an empty object. Received {}");
      }
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const want = expected[k];
        if (typeof e[k] === "string" && builtinKind(want) === K_REGEXP && RegExpTest(want, e[k])) continue;
        if (!(k in e) || !nodeDeepEqual(e[k], want, true)) failWith(message === undefined, message);
      }
      return;
    }
    if (expected.prototype !== undefined && e instanceof expected) return;
    if (ObjectPrototypeIsPrototypeOf(Error, expected)) {
      if (message) failWith(false, message);
      let text = `The error is expected to be an instance of "${expected.name}". Received `;
      if (e instanceof Error) {
        const name = e.constructor?.name || e.name;
        text += expected.name === name ? "an error with identical name but a different prototype." : `"${name}"`;
        if (e.message) text += `\n\nError message:\n\n${e.message}`;
      } else {
        text += `"${inspect(e, 0)}"`;
      }
      failWith(true, text);
    }
    const res = ReflectApply(expected, {}, [e]);
    if (res === true) return;
    if (message) failWith(false, message);
    failWith(true, `The ${expected.name ? `"${expected.name}" ` : ""}validation function is expected to return "true". Received ${inspect(res)}` +
      (e instanceof Error ? `\n\nCaught error:\n\n${e}` : ""));
  }
  const NO_EXCEPTION = {};
  function thrownBy(fn) {
    validateFunction(fn, "fn");
    try { fn(); } catch (e) { return e; }
    return NO_EXCEPTION;
  }
  const isPromiseLike = (v) => v !== null && typeof v === "object" && typeof v.then === "function" && typeof v.catch === "function";
  /** Node's waitForActual: a function's promise (a synchronous throw is thrown, not a
   *  rejection; anything but a promise is ERR_INVALID_RETURN_VALUE), or a promise. */
  async function rejectionOf(promiseOrFn) {
    let promise;
    if (typeof promiseOrFn === "function") {
      promise = promiseOrFn();
      if (!isPromiseLike(promise)) {
        throw nodeError(TypeError, "ERR_INVALID_RETURN_VALUE",
          `Expected instance of Promise to be returned from the "promiseFn" function but got${describeReceived(promise).replace(" Received", "")}.`);
      }
    } else if (isPromiseLike(promiseOrFn)) {
      promise = promiseOrFn;
    } else {
      throw invalidArgType("promiseFn", "of type function or an instance of Promise", promiseOrFn);
    }
    try { await promise; } catch (e) { return e; }
    return NO_EXCEPTION;
  }
  /** Node's expectsError, for throws and rejects (`kind`: "exception" or "rejection"). */
  function expectsError(operator, kind, e, expected, message, argc) {
    if (typeof expected === "string") {
      if (argc === 3) throw invalidArgType("error", "of type function or an instance of Error, RegExp, or Object", expected);
      if (e !== null && typeof e === "object" ? e.message === expected : e === expected) {
        throw nodeError(TypeError, "ERR_AMBIGUOUS_ARGUMENT",
          `The "error/message" argument is ambiguous. The error ${typeof e === "object" ? `message "${e.message}"` : `"${e}"`} is identical to the message.`);
      }
      message = expected;
      expected = undefined;
    } else if (expected != null && typeof expected !== "object" && typeof expected !== "function") {
      throw invalidArgType("error", "of type function or an instance of Error, RegExp, or Object", expected);
    }
    if (e === NO_EXCEPTION) {
      const details = `${expected?.name ? ` (${expected.name})` : ""}${message ? `: ${message}` : "."}`;
      const err = new AssertionError({ actual: undefined, expected, operator, message: `Missing expected ${kind}${details}` });
      throw err;
    }
    if (expected) matches(e, expected, message, operator);
  }
  /** Node's expectsNoError: an error that does not match `expected` is thrown again as it is. */
  function expectsNoError(operator, kind, e, expected, message) {
    if (e === NO_EXCEPTION) return;
    if (typeof expected === "string") { message = expected; expected = undefined; }
    let matching = !expected;
    if (!matching) {
      if (typeof expected !== "function") {
        if (builtinKind(expected) !== K_REGEXP) throw invalidArgType("expected", "of type function or an instance of RegExp", expected);
        matching = RegExpTest(expected, String(e));
      } else if (expected.prototype !== undefined && e instanceof expected) {
        matching = true;
      } else if (!ObjectPrototypeIsPrototypeOf(Error, expected)) {
        matching = ReflectApply(expected, {}, [e]) === true;
      }
    }
    if (matching) {
      throw new AssertionError({ actual: e, expected, operator,
        message: `Got unwanted ${kind}${message ? `: ${message}` : "."}\nActual message: "${e?.message}"` });
    }
    throw e;
  }
  function throws(fn, expected, message) {
    expectsError("throws", "exception", thrownBy(fn), expected, message, arguments.length);
  }
  function doesNotThrow(fn, expected, message) {
    expectsNoError("doesNotThrow", "exception", thrownBy(fn), expected, message);
  }
  async function rejects(promiseOrFn, expected, message) {
    expectsError("rejects", "rejection", await rejectionOf(promiseOrFn), expected, message, arguments.length);
  }
  async function doesNotReject(promiseOrFn, expected, message) {
    expectsNoError("doesNotReject", "rejection", await rejectionOf(promiseOrFn), expected, message);
  }
  const match = (s, re, m) => {
    if (typeof s !== "string" || !RegExpTest(re, s)) fail(s, re, m ?? `The input did not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`, "match");
  };
  const doesNotMatch = (s, re, m) => {
    if (typeof s !== "string" || RegExpTest(re, s)) fail(s, re, m ?? `The input was expected to not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`, "doesNotMatch");
  };
  const ifError = (v) => {
    if (v === null || v === undefined) return;
    let text = "ifError got unwanted exception: ";
    if (typeof v === "object" && typeof v.message === "string") text += v.message.length === 0 && v.constructor ? v.constructor.name : v.message;
    else text += inspect(v);
    throw new AssertionError({ actual: v, expected: null, operator: "ifError", message: text });
  };
  /** Node's fail: a message alone; or, deprecated, actual and expected (`!=` between them). */
  function failFn(actual, expected, message, operator) {
    const argc = arguments.length;
    let generated = false;
    if (actual == null && argc <= 1) {
      generated = true;
      message = "Failed";
    } else if (argc === 1) {
      message = actual;
      actual = undefined;
    } else if (argc === 2) {
      operator = "!=";
    }
    if (message instanceof Error) throw message;
    const err = new AssertionError({ actual, expected, message: message ?? `${inspect(actual)} ${operator ?? "fail"} ${inspect(expected)}`,
      operator: operator === undefined ? "fail" : operator });
    err.generatedMessage = generated || message === undefined;
    throw err;
  }

  function assertFn(...args) { ReflectApply(ok, undefined, args); }
  const members = {
    ok, fail: failFn,
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
