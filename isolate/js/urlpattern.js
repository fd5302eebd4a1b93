// ---- urlpattern.js: URLPattern (WHATWG URL Pattern Standard). -----------------
// The pattern is parsed natively (ops/src/urlpattern.rs, the `urlpattern` crate Deno uses) into
// each component's pattern string, ECMAScript regular expression and group names, once, in the
// constructor; the regular expressions are compiled here (V8's engine: interruptible, in the
// tenant's heap) and matching runs in JavaScript. A match input is turned into its components
// natively (URL parsing with the crate's rules). No native state is kept.

const URLPATTERN_OP = { parse: 0x0401, matchInput: 0x0402 };
const URLPATTERN_COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
// The init dictionary's component members in lexicographic order (Web IDL reads them so).
const URLPATTERN_INIT_KEYS = ["hash", "hostname", "password", "pathname", "port", "protocol", "search", "username"];
const RegExpCtor = RegExp;

/** The op fields of a URLPatternInput (a string or an init dict) and an optional base URL. */
function urlPatternFields(input, baseURL, what) {
  const parts = [0, 0, "", "", "", "", "", "", "", "", ""];
  let mask = 0;
  if (input !== null && typeof input === "object") {
    if (baseURL !== undefined) throw new TypeError(`${what}: a base URL cannot go with an init dictionary`);
    parts[0] = 1;
    // Dictionary members in lexicographic order (Web IDL), each a USVString when present.
    const base = input.baseURL;
    const values = [];
    for (let i = 0; i < 8; i++) {
      const v = input[URLPATTERN_INIT_KEYS[i]];
      values[i] = v === undefined ? undefined : toUSVString(v);
    }
    const byComponent = [values[5], values[7], values[2], values[1], values[4], values[3], values[6], values[0]];
    for (let i = 0; i < 8; i++) {
      if (byComponent[i] !== undefined) { mask |= 1 << i; parts[2 + i] = byComponent[i]; }
    }
    if (base !== undefined) { mask |= 1 << 8; parts[10] = toUSVString(base); }
  } else {
    parts[2] = toUSVString(input);
    if (baseURL !== undefined) { mask |= 1 << 8; parts[10] = toUSVString(baseURL); }
  }
  parts[1] = mask;
  for (let i = 2; i <= 10; i++) parts[i] = utf8Encode(parts[i]);
  return parts;
}

/** Defines own data property `key` (never through a setter tenant code put on a prototype). */
function defineDataProperty(obj, key, value) {
  ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}

/** The dictionary a URLPatternInit converts to (for `inputs`), or the string. */
function urlPatternInputValue(input) {
  if (input === null || typeof input !== "object") return toUSVString(input);
  const out = {};
  const base = input.baseURL;
  if (base !== undefined) defineDataProperty(out, "baseURL", toUSVString(base));
  for (let i = 0; i < 8; i++) {
    const v = input[URLPATTERN_INIT_KEYS[i]];
    if (v !== undefined) defineDataProperty(out, URLPATTERN_INIT_KEYS[i], toUSVString(v));
  }
  return out;
}

let urlPatternState; // (v) -> { components: [...], hasRegExpGroups } | undefined

class URLPattern {
  #components; // [{ pattern, regexp, groups: string[] }] in URLPATTERN_COMPONENTS order
  #hasRegExpGroups;
  constructor(input = undefined, baseURL = undefined, options = undefined) {
    // Overloads: (input, baseURL: string, options) and (input = {}, options = {}).
    if (baseURL !== undefined && (baseURL === null || typeof baseURL === "object" || typeof baseURL === "function")) {
      options = baseURL;
      baseURL = undefined;
    }
    if (input === undefined) input = {};
    const ignoreCase = !!dictGet(options, "ignoreCase");
    const parts = urlPatternFields(input, baseURL, "URLPattern");
    parts[11] = ignoreCase ? 1 : 0;
    const f = unpackFields(callOp(URLPATTERN_OP.parse, parts));
    this.#hasRegExpGroups = fieldU32(f[0]) !== 0;
    const components = [];
    let k = 1;
    for (let c = 0; c < 8; c++) {
      const pattern = utf8Decode(f[k]);
      const source = utf8Decode(f[k + 1]);
      const n = fieldU32(f[k + 2]);
      k += 3;
      const groups = [];
      for (let g = 0; g < n; g++) groups[g] = utf8Decode(f[k + g]);
      k += n;
      let regexp;
      try {
        regexp = new RegExpCtor(source, ignoreCase ? "vi" : "v");
      } catch (e) {
        throw new TypeError(`URLPattern: the ${URLPATTERN_COMPONENTS[c]} component is not a valid regular expression: ${e.message}`);
      }
      components[c] = { pattern, regexp, groups };
    }
    this.#components = components;
  }
  test(input = undefined, baseURL = undefined) {
    return urlPatternMatch(urlPatternState(this, "test"), input, baseURL, false) !== null;
  }
  exec(input = undefined, baseURL = undefined) {
    return urlPatternMatch(urlPatternState(this, "exec"), input, baseURL, true);
  }
  get protocol() { return urlPatternState(this, "protocol").components[0].pattern; }
  get username() { return urlPatternState(this, "username").components[1].pattern; }
  get password() { return urlPatternState(this, "password").components[2].pattern; }
  get hostname() { return urlPatternState(this, "hostname").components[3].pattern; }
  get port() { return urlPatternState(this, "port").components[4].pattern; }
  get pathname() { return urlPatternState(this, "pathname").components[5].pattern; }
  get search() { return urlPatternState(this, "search").components[6].pattern; }
  get hash() { return urlPatternState(this, "hash").components[7].pattern; }
  get hasRegExpGroups() { return urlPatternState(this, "hasRegExpGroups").hasRegExpGroups; }
  static {
    urlPatternState = (v, what) => {
      if (!isObject(v) || !(#components in v)) throw new TypeError(`URLPattern.${what}: Illegal invocation`);
      return { components: v.#components, hasRegExpGroups: v.#hasRegExpGroups };
    };
    addPlatformBrand((v) => isObject(v) && #components in v);
  }
}

/** The spec's "match": null, or (when `result`) the URLPatternResult, or true. */
function urlPatternMatch(st, input, baseURL, result) {
  if (input === undefined) input = {};
  const f = unpackFields(callOp(URLPATTERN_OP.matchInput, urlPatternFields(input, baseURL, "URLPattern")));
  if (f.length < 8) return null;
  const matches = [];
  for (let c = 0; c < 8; c++) {
    const m = regExpExec(st.components[c].regexp, utf8Decode(f[c]));
    if (m === null) return null;
    matches[c] = m;
  }
  if (!result) return true;
  const inputs = [urlPatternInputValue(input)];
  if (baseURL !== undefined) inputs[1] = toUSVString(baseURL);
  const out = { inputs };
  for (let c = 0; c < 8; c++) {
    const m = matches[c];
    const groups = {};
    const names = st.components[c].groups;
    for (let g = 0; g < names.length; g++) {
      defineDataProperty(groups, names[g], m[g + 1]);
    }
    defineDataProperty(out, URLPATTERN_COMPONENTS[c], { input: m[0], groups });
  }
  return out;
}
exposeInterface(URLPattern, "URLPattern");
