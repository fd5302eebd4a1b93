// ---- node-util-mime.js: node:util's MIMEType and MIMEParams. ----------------------------------
// Node 20's classes over the WHATWG "parse a MIME type" as Node runs it (its answers are the
// contract; isolate/js/test/node.test.mjs compares them on generated strings): leading HTTP
// whitespace skipped, type and subtype tokens lower-cased, parameters parsed on first use, the
// first of a repeated name kept, names and values that are not tokens or quoted-string code
// points dropped, and one quirk of Node's kept: after a quoted value the character that follows
// it is skipped before the next name is read. A bad type, subtype, or parameter set through
// MIMEParams.set is a TypeError with code ERR_INVALID_MIME_SYNTAX, as Node words it.
// Linear in the input: every scan starts where the last one stopped.

// Character tests by code (String.prototype's methods may be the tenant's by the time they run).
function mimeIsWs(c) {
  return c === 13 || c === 10 || c === 9 || c === 32;
}

function mimeIsTokenCode(c) {
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return true;
  switch (c) {
    case 33: case 35: case 36: case 37: case 38: case 39: case 42: case 43: case 45: case 46:
    case 94: case 95: case 96: case 124: case 126:
      return true; // ! # $ % & ' * + - . ^ _ ` | ~
    default:
      return false;
  }
}

/** The index of the first character of `s` that is not a token code point, or -1. */
function mimeFirstNonToken(s) {
  for (let i = 0; i < s.length; i++) if (!mimeIsTokenCode(StringCharCodeAt(s, i))) return i;
  return -1;
}

/** The index of the first character of `s` outside a quoted string's code points, or -1. */
function mimeFirstNonQuotable(s) {
  for (let i = 0; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    if (!(c === 9 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff))) return i;
  }
  return -1;
}

/** ASCII upper case to lower case; other characters as they are. */
function mimeLower(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    out += c >= 65 && c <= 90 ? StringFromCharCode(c + 32) : s[i];
  }
  return out;
}

/** `s[from, to)` without its trailing HTTP whitespace. */
function mimeTrimEnd(s, from, to) {
  let end = to;
  while (end > from && mimeIsWs(StringCharCodeAt(s, end - 1))) end--;
  return StringSlice(s, from, end);
}

function mimeSyntaxError(production, input, at) {
  const where = at !== -1 ? ` at ${at}` : "";
  return nodeError(TypeError, "ERR_INVALID_MIME_SYNTAX", `The MIME syntax for a ${production} in "${input}" is invalid${where}`);
}

/** `v` as a string, lower-cased, for a setter of `production` (a TypeError unless a token). */
function mimeSetToken(production, v) {
  const s = `${v}`;
  const bad = mimeFirstNonToken(s);
  if (s.length === 0 || bad !== -1) throw mimeSyntaxError(production, s, bad);
  return mimeLower(s);
}

/** Parameters `s` (what follows the subtype's ";") into `into` (a Map), as Node parses them. */
function mimeParseParams(s, into) {
  let end = s.length;
  while (end > 0 && mimeIsWs(StringCharCodeAt(s, end - 1))) end--;
  let i = 0;
  while (i < end) {
    while (i < s.length && mimeIsWs(StringCharCodeAt(s, i))) i++;
    let j = i;
    while (j < s.length && s[j] !== ";" && s[j] !== "=") j++;
    const name = mimeLower(StringSlice(s, i, j));
    i = j;
    if (i < end) {
      const c = s[i];
      i++;
      if (c === ";") continue;
    }
    if (i >= end) break;
    let value;
    if (s[i] === '"') {
      // Up to the closing quote or the end of `s` (trailing whitespace included), a backslash
      // taking the next character as it is; one left alone at the very end stays a backslash.
      i++;
      value = "";
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      if (i < s.length) i++; // the closing quote
    } else {
      j = i;
      while (j < s.length && s[j] !== ";") j++;
      value = mimeTrimEnd(s, i, j);
      i = j;
      if (value === "") continue;
    }
    if (name !== "" && mimeFirstNonToken(name) === -1 && mimeFirstNonQuotable(value) === -1 && !MapHas(into, name)) {
      MapSet(into, name, value);
    }
    i++;
  }
}

/** A parameter value as MIMEParams.toString writes it. */
function mimeEncodeValue(v) {
  if (v.length === 0) return '""';
  if (mimeFirstNonToken(v) === -1) return v;
  let out = '"';
  for (let i = 0; i < v.length; i++) out += v[i] === '"' || v[i] === "\\" ? `\\${v[i]}` : v[i];
  return `${out}"`;
}

let newMimeParams; // (source: string) -> MIMEParams parsed on first use

class MIMEParams {
  #data = new MapCtor();
  #source = null; // the unparsed parameters, until first use

  #parsed() {
    if (this.#source !== null) {
      const source = this.#source;
      this.#source = null;
      mimeParseParams(source, this.#data);
    }
    return this.#data;
  }

  delete(name) {
    MapDelete(this.#parsed(), name);
  }
  get(name) {
    const data = this.#parsed();
    return MapHas(data, name) ? MapGet(data, name) : null;
  }
  has(name) {
    return MapHas(this.#parsed(), name);
  }
  set(name, value) {
    const data = this.#parsed();
    name = `${name}`;
    value = `${value}`;
    const badName = mimeFirstNonToken(name);
    if (name.length === 0 || badName !== -1) throw mimeSyntaxError("parameter name", name, badName);
    const badValue = mimeFirstNonQuotable(value);
    if (badValue !== -1) throw mimeSyntaxError("parameter value", value, badValue);
    MapSet(data, name, value);
  }
  *entries() {
    yield* MapEntries(this.#parsed());
  }
  *keys() {
    yield* MapKeys(this.#parsed());
  }
  *values() {
    yield* MapValues(this.#parsed());
  }
  toString() {
    let out = "";
    for (const entry of MapEntries(this.#parsed())) {
      if (out.length) out += ";";
      out += `${entry[0]}=${mimeEncodeValue(entry[1])}`;
    }
    return out;
  }
  static {
    newMimeParams = (source) => {
      const params = new MIMEParams();
      params.#source = source;
      return params;
    };
  }
}
const mimeParamsToString = MIMEParams.prototype.toString;
ObjectDefineProperty(MIMEParams.prototype, SymbolIterator, {
  __proto__: null, value: MIMEParams.prototype.entries, writable: true, enumerable: false, configurable: true,
});
ObjectDefineProperty(MIMEParams.prototype, "toJSON", {
  __proto__: null, value: mimeParamsToString, writable: true, enumerable: false, configurable: true,
});

class MIMEType {
  #type;
  #subtype;
  #params;
  constructor(input) {
    const s = `${input}`;
    let i = 0;
    while (i < s.length && mimeIsWs(StringCharCodeAt(s, i))) i++;
    const slash = StringIndexOf(s, "/", i);
    const type = StringSlice(s, i, slash === -1 ? s.length : slash);
    const badType = mimeFirstNonToken(type);
    if (type === "" || badType !== -1 || slash === -1) throw mimeSyntaxError("type", s, badType);
    const semicolon = StringIndexOf(s, ";", slash + 1);
    const subtypeEnd = semicolon === -1 ? s.length : semicolon;
    const subtype = mimeTrimEnd(s, slash + 1, subtypeEnd);
    const badSubtype = mimeFirstNonToken(subtype);
    if (subtype === "" || badSubtype !== -1) throw mimeSyntaxError("subtype", s, badSubtype);
    this.#type = mimeLower(type);
    this.#subtype = mimeLower(subtype);
    this.#params = newMimeParams(semicolon === -1 ? "" : StringSlice(s, semicolon + 1));
  }
  get type() {
    return this.#type;
  }
  set type(v) {
    this.#type = mimeSetToken("type", v);
  }
  get subtype() {
    return this.#subtype;
  }
  set subtype(v) {
    this.#subtype = mimeSetToken("subtype", v);
  }
  get essence() {
    return `${this.#type}/${this.#subtype}`;
  }
  get params() {
    return this.#params;
  }
  toString() {
    const params = ReflectApply(mimeParamsToString, this.#params, []);
    return params.length ? `${this.#type}/${this.#subtype};${params}` : `${this.#type}/${this.#subtype}`;
  }
}
ObjectDefineProperty(MIMEType.prototype, "toJSON", {
  __proto__: null, value: MIMEType.prototype.toString, writable: true, enumerable: false, configurable: true,
});
