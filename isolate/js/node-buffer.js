// ---- node-buffer.js: node:buffer, part 1 (Buffer construction, encodings, comparison, search).
// Node's semantics: a Buffer is a Uint8Array whose prototype is Buffer.prototype; slice() shares
// memory like subarray(); strings are encoded as utf8 (default), hex, base64, base64url, latin1
// (binary), ascii or utf16le (ucs2); bad arguments throw Node's TypeError/RangeError with a
// `code`. Reading and writing numbers is part 2 (node-buffer-rw.js).


function bufferModule() {
  const kMaxLength = 2 ** 32;
  const kStringMaxLength = 2 ** 29 - 24;
  class FastBuffer extends Uint8Array {}
  // Callable like Node's (deprecated) Buffer(): Buffer(size) allocates, anything else is from().
  // Uint8Array's @@species construction (map, filter) calls it with (length) or (buffer, offset, length).
  function Buffer(arg, encodingOrOffset, length) {
    if (typeof arg === "number") {
      if (typeof encodingOrOffset === "string") {
        throw invalidArgType("string", "of type string", arg);
      }
      return alloc(arg);
    }
    return from(arg, encodingOrOffset, length);
  }
  ObjectSetPrototypeOf(Buffer, Uint8Array);
  const proto = FastBuffer.prototype;
  ObjectDefineProperty(Buffer, "prototype", { value: proto, writable: false, enumerable: false, configurable: false });
  ObjectDefineProperty(proto, "constructor", { value: Buffer, writable: true, enumerable: false, configurable: true });
  const isBuffer = (b) => b instanceof FastBuffer;
  const isU8 = (v) => v !== null && typeof v === "object" && typedArrayName(v) === "Uint8Array";

  function checkSize(size) {
    if (typeof size !== "number") throw invalidArgType("size", "of type number", size);
    if (!(size >= 0 && size <= kMaxLength)) throw outOfRange("size", `>= 0 && <= ${kMaxLength}`, size);
    return size >>> 0 === size ? size : MathFloor(size);
  }

  function alloc(size, fill, encoding) {
    const buf = new FastBuffer(checkSize(size));
    if (fill !== undefined && fill !== 0 && buf.length > 0) fillBuffer(buf, fill, 0, buf.length, encoding);
    return buf;
  }

  function fromArrayLike(obj) {
    const length = obj.length >>> 0;
    const buf = new FastBuffer(length);
    for (let i = 0; i < length; i++) buf[i] = obj[i];
    return buf;
  }

  function from(value, encodingOrOffset, length) {
    if (typeof value === "string") return fromString(value, encodingOrOffset);
    if (value !== null && typeof value === "object") {
      if (isArrayBuffer(value)) {
        const total = arrayBufferByteLength(value);
        const offset = encodingOrOffset === undefined ? 0 : +encodingOrOffset || 0;
        if (offset > total) throw nodeError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", '"offset" is outside of buffer bounds');
        const len = length === undefined ? total - offset : +length || 0;
        if (len > total - offset) throw nodeError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", '"length" is outside of buffer bounds');
        return new FastBuffer(value, offset, len > 0 ? len : 0);
      }
      if (typedArrayName(value) !== undefined) {
        if (typedArrayName(value) === "Uint8Array") {
          const copy = new FastBuffer(typedArrayByteLength(value));
          copy.set(value);
          return copy;
        }
        return fromArrayLike(value);
      }
      if (isDataView(value)) {
        return from(new Uint8Array(dataViewBuffer(value), dataViewByteOffset(value), dataViewByteLength(value)));
      }
      const primitive = typeof value[SymbolToPrimitive] === "function" ? value[SymbolToPrimitive]("string")
        : typeof value.valueOf === "function" ? value.valueOf() : value;
      if (primitive !== value && primitive !== null && primitive !== undefined) {
        return from(primitive, encodingOrOffset, length);
      }
      if (typeof value.length === "number" || ArrayIsArray(value)) return fromArrayLike(value);
      if (value.type === "Buffer" && ArrayIsArray(value.data)) return fromArrayLike(value.data);
    }
    throw invalidArgType("first",
      "of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object", value);
  }

  function fromString(str, encoding) {
    const enc = typeof encoding === "string" ? encodingOrThrow(encoding) : "utf8";
    const bytes = encodeString(str, enc);
    return new FastBuffer(typedArrayBuffer(bytes), typedArrayByteOffset(bytes), typedArrayByteLength(bytes));
  }

  function byteLength(value, encoding) {
    if (typeof value !== "string") {
      if (typedArrayName(value) !== undefined) return typedArrayByteLength(value);
      if (isArrayBuffer(value)) return arrayBufferByteLength(value);
      if (isDataView(value)) return dataViewByteLength(value);
      throw invalidArgType("string", "of type string or an instance of Buffer or ArrayBuffer", value);
    }
    return stringByteLength(value, normalizeEncoding(encoding) ?? "utf8");
  }

  function compareBytes(a, aStart, aEnd, b, bStart, bEnd) {
    const n = aEnd - aStart < bEnd - bStart ? aEnd - aStart : bEnd - bStart;
    for (let i = 0; i < n; i++) {
      const x = a[aStart + i], y = b[bStart + i];
      if (x !== y) return x < y ? -1 : 1;
    }
    const la = aEnd - aStart, lb = bEnd - bStart;
    return la === lb ? 0 : la < lb ? -1 : 1;
  }

  function requireU8(value, name) {
    if (!isU8(value)) throw invalidArgType(name, "an instance of Buffer or Uint8Array", value);
    return value;
  }

  function concat(list, totalLength) {
    if (!ArrayIsArray(list)) throw invalidArgType("list", "an instance of Array", list);
    if (list.length === 0) return new FastBuffer(0);
    // As Node: a given length is checked before the parts (an integer, 0 to kMaxLength).
    if (totalLength !== undefined) validateInteger(totalLength, "length", 0, kMaxLength);
    let total = 0;
    for (let i = 0; i < list.length; i++) total += typedArrayByteLength(requireU8(list[i], `list[${i}]`));
    const length = totalLength === undefined ? total : totalLength;
    const out = new FastBuffer(length);
    let at = 0;
    for (let i = 0; i < list.length && at < length; i++) {
      const part = list[i];
      const n = typedArrayByteLength(part) < length - at ? typedArrayByteLength(part) : length - at;
      out.set(n === typedArrayByteLength(part) ? part : new Uint8Array(typedArrayBuffer(part), typedArrayByteOffset(part), n), at);
      at += n;
    }
    return out;
  }

  /** Fills [start, end) of `buf` with `value` (number, string in `encoding`, bytes). */
  /** Node's transcode (ICU's converters): ascii, latin1, ucs2/utf16le and utf8 only; a code point
   *  the target cannot hold becomes "?", a byte ascii cannot read U+FFFD. */
  function transcode(source, from, to) {
    const bytes = requireU8(source, "source");
    const names = [normalizeEncoding(from), normalizeEncoding(to)];
    for (let i = 0; i < 2; i++) {
      if (names[i] !== "ascii" && names[i] !== "latin1" && names[i] !== "utf16le" && names[i] !== "utf8") {
        const e = new Error("Unable to transcode Buffer [U_ILLEGAL_ARGUMENT_ERROR]");
        e.code = "U_ILLEGAL_ARGUMENT_ERROR";
        e.errno = 1;
        throw e;
      }
    }
    // ICU's strict pair (u_strFromUTF8, u_strToUTF8): ill-formed input is an error there, where
    // the other pairs substitute.
    const invalid = () => {
      const e = new Error("Unable to transcode Buffer [U_INVALID_CHAR_FOUND]");
      e.code = "U_INVALID_CHAR_FOUND";
      e.errno = 10;
      return e;
    };
    let text;
    if (names[0] === "utf8" && names[1] === "utf16le") {
      try {
        text = utf8DecodeChunk(bytes, newUtf8State(), true, true);
      } catch {
        throw invalid();
      }
      return fromString(text, "utf16le");
    }
    if (names[0] === "utf16le" && names[1] === "utf8") {
      // As Node's: a lone byte is an error; a trailing half code unit after whole ones is dropped.
      if (bytes.length === 1) throw invalid();
      text = decodeBytes(bytes, "utf16le", 0, bytes.length);
      if (!StringIsWellFormed(text)) throw invalid();
      return fromString(text, "utf8");
    }
    if (names[0] === "ascii" && names[1] === "utf16le") {
      text = decodeBytes(bytes, "latin1", 0, bytes.length); // as ICU's converter pair does
    } else if (names[0] === "ascii") {
      text = "";
      for (let i = 0; i < bytes.length; i++) text += bytes[i] < 128 ? StringFromCharCode(bytes[i]) : "\ufffd";
    } else {
      text = decodeBytes(bytes, names[0], 0, bytes.length);
    }
    if (names[1] === "ascii" || names[1] === "latin1") {
      const limit = names[1] === "ascii" ? 0x80 : 0x100;
      let out = "";
      for (const ch of text) out += ch.codePointAt(0) < limit ? ch : "?";
      text = out;
    }
    return fromString(text, names[1]);
  }

  /** A string fill's encoding, as Node's _fill checks it: a name it does not know is
   *  ERR_UNKNOWN_ENCODING, something other than a string ERR_INVALID_ARG_TYPE. */
  function fillEncoding(encoding) {
    const enc = normalizeEncoding(encoding);
    if (enc !== undefined) return enc;
    if (typeof encoding !== "string") throw invalidArgType("encoding", "of type string", encoding);
    return encodingOrThrow(encoding);
  }

  function fillBuffer(buf, value, start, end, encoding) {
    if (typeof value === "string") {
      const enc = fillEncoding(encoding);
      const bytes = encodeString(value, enc);
      if (bytes.length === 0) {
        // Nothing to fill is no error, even with nothing to fill it with (Node's Fill).
        if (value.length === 0 || start >= end) { typedArrayFill(buf, 0, start, end); return buf; }
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'value' is invalid. Received '${value}'`);
      }
      value = bytes;
    } else if (typeof value === "boolean") {
      value = +value;
    }
    if (typeof value === "number") { typedArrayFill(buf, value & 255, start, end); return buf; }
    if (typedArrayName(value) !== undefined || isDataView(value)) {
      value = bufferSourceBytes(value, "fill");
    } else {
      // As Node: anything else is a number (null, undefined, {} and [1, 2] fill with 0).
      typedArrayFill(buf, +value & 255, start, end);
      return buf;
    }
    const n = typedArrayByteLength(value);
    if (n === 0 && start < end) throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "The argument 'value' is invalid.");
    for (let i = start, j = 0; i < end; i++, j = j + 1 === n ? 0 : j + 1) buf[i] = value[j];
    return buf;
  }

  /** Node's adjustOffset (subarray and slice): truncated toward zero (so -0.5 is 0, not the
   *  last index), from the end when negative, within [0, length]; NaN is 0. */
  function adjustOffset(value, length) {
    const v = MathTrunc(value);
    if (v === 0) return 0;
    if (v < 0) return v + length > 0 ? v + length : 0;
    if (v < length) return v;
    return v !== v ? 0 : length;
  }

  /** Node's ParseArrayIndex (the bindings' indices): `fallback` for undefined, else the value as
   *  an integer (NaN is 0, beyond 2^63 saturates); a negative one is ERR_OUT_OF_RANGE. */
  function arrayIndex(value, fallback) {
    if (value === undefined) return fallback;
    const v = MathTrunc(+value) || 0;
    if (v < 0) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "Index out of range");
    return v;
  }

  /** Node's toInteger (copy's indices): a safe integer as it is, a fraction floored, anything
   *  else `fallback`. */
  function toInteger(value, fallback) {
    const v = +value;
    if (v !== v || v < NumberMIN_SAFE_INTEGER || v > NumberMAX_SAFE_INTEGER) return fallback;
    return v % 1 === 0 ? v : MathFloor(v);
  }

  /** The index of `needle` in `haystack` from `from` (backwards when `last`), or -1. */
  /** Node's IndexOfOffset: where a search for `m` bytes starts in `n`, or -1 (no search). */
  function searchStart(n, offset, m, forward) {
    if (offset < 0) {
      if (offset + n >= 0) return n + offset;
      return forward || m === 0 ? 0 : -1;
    }
    if (offset + m <= n) return offset;
    if (m === 0) return n;
    return forward ? -1 : n - 1;
  }

  /** The first (or, `last`, the final) match of `needle` at or from `from`, at positions that are
   *  multiples of `step` (2 for UTF-16: Node searches code units). */
  function search(haystack, needle, from, last, step) {
    const n = haystack.length, m = needle.length;
    if (last) {
      let i = from + m > n ? n - m : from;
      i -= i % step;
      for (; i >= 0; i -= step) {
        let j = 0;
        while (j < m && haystack[i + j] === needle[j]) j++;
        if (j === m) return i;
      }
      return -1;
    }
    for (let i = from - (from % step); i <= n - m; i += step) {
      let j = 0;
      while (j < m && haystack[i + j] === needle[j]) j++;
      if (j === m) return i;
    }
    return -1;
  }

  /** Node's bidirectionalIndexOf: a number, string or Uint8Array, from `byteOffset` (a number,
   *  null and [] being 0; NaN the whole buffer; negative from the end). */
  function indexOf(buf, value, byteOffset, encoding, last) {
    if (typeof byteOffset === "string") { encoding = byteOffset; byteOffset = undefined; }
    else if (byteOffset > 0x7fffffff) byteOffset = 0x7fffffff;
    else if (byteOffset < -0x80000000) byteOffset = -0x80000000;
    let offset = +byteOffset;
    let n = buf.length;
    if (offset !== offset) offset = last ? n : 0;
    offset = MathTrunc(offset);
    let needle;
    let step = 1;
    // As Node: no encoding is utf8, but "", null and any name it does not know are unknown here
    // (a string needle then throws; a Uint8Array one is searched as bytes).
    const enc = encoding === undefined ? "utf8" : NODE_ENCODINGS[`${encoding}`.toLowerCase()];
    if (typeof value === "number") needle = [(value >>> 0) & 255];
    else if (typeof value === "string") {
      if (enc === undefined) throw nodeError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
      needle = encodeString(value, enc);
      // UTF-16 code units: the buffer's odd last byte is not one (where an empty needle is found).
      if (enc === "utf16le") { step = 2; n -= n % 2; }
    } else needle = requireU8(value, "value");
    const m = needle.length;
    const start = searchStart(n, offset, m, !last) + 0; // -0 is 0
    if (m === 0) return start < 0 ? -1 : start;
    if (n === 0 || start < 0 || (!last && start + m > n) || m > n) return -1;
    if (enc === "utf16le" && step === 1 && typeof value !== "number") {
      // A Uint8Array searched as UTF-16 code units: a needle or a buffer shorter than one matches
      // nothing, the needle's odd last byte is not part of it.
      if (n < 2 || m < 2) return -1;
      step = 2;
      if (m % 2 === 1) needle = new Uint8Array(typedArrayBuffer(needle), typedArrayByteOffset(needle), m - 1);
    }
    return search(buf, needle, start, last, step);
  }

  const methods = {
    toString(encoding, start, end) {
      // In Node's order: an empty range answers "" before the encoding is looked at.
      const n = typedArrayLength(this);
      let from;
      if (start <= 0) from = 0;
      else if (start >= n) return "";
      else from = MathTrunc(start) || 0;
      const to = end === undefined || end > n ? n : MathTrunc(end) || 0;
      if (to <= from) return "";
      // No encoding is utf8; "" and null are not (Node's getEncodingOps).
      const enc = encoding === undefined ? "utf8" : NODE_ENCODINGS[`${encoding}`.toLowerCase()];
      if (enc === undefined) throw nodeError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
      return decodeBytes(this, enc, from, to);
    },
    toLocaleString(encoding, start, end) { return ReflectApply(methods.toString, this, [encoding, start, end]); },
    toJSON() {
      const data = [];
      for (let i = 0; i < this.length; i++) data[i] = this[i];
      return { type: "Buffer", data };
    },
    equals(other) {
      requireU8(other, "otherBuffer");
      return compareBytes(this, 0, this.length, other, 0, other.length) === 0;
    },
    compare(target, targetStart = 0, targetEnd = target?.length, sourceStart = 0, sourceEnd = this.length) {
      requireU8(target, "target");
      // As Node: the starts may lie past the ends (up to kMaxLength); the ends are within bounds.
      validateInteger(targetStart, "targetStart", 0, kMaxLength);
      validateInteger(targetEnd, "targetEnd", 0, target.length);
      validateInteger(sourceStart, "sourceStart", 0, kMaxLength);
      validateInteger(sourceEnd, "sourceEnd", 0, this.length);
      if (sourceStart >= sourceEnd) return targetStart >= targetEnd ? 0 : -1;
      if (targetStart >= targetEnd) return 1;
      return compareBytes(this, sourceStart, sourceEnd, target, targetStart, targetEnd);
    },
    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      requireU8(target, "target");
      // As Node: an index that is not an integer is floored ("1.5" is 1), one that is not a
      // number at all is 0.
      targetStart = NumberIsInteger(targetStart) ? targetStart : toInteger(targetStart, 0);
      if (targetStart < 0) throw outOfRange("targetStart", ">= 0", targetStart);
      sourceStart = NumberIsInteger(sourceStart) ? sourceStart : toInteger(sourceStart, 0);
      if (sourceStart < 0 || sourceStart > this.length) throw outOfRange("sourceStart", `>= 0 && <= ${this.length}`, sourceStart);
      sourceEnd = NumberIsInteger(sourceEnd) ? sourceEnd : toInteger(sourceEnd, 0);
      if (sourceEnd < 0) throw outOfRange("sourceEnd", ">= 0", sourceEnd);
      if (sourceEnd > this.length) sourceEnd = this.length;
      if (targetStart >= target.length || sourceStart >= sourceEnd) return 0;
      let n = sourceEnd - sourceStart;
      if (n > target.length - targetStart) n = target.length - targetStart;
      target.set(new Uint8Array(typedArrayBuffer(this), typedArrayByteOffset(this) + sourceStart, n), targetStart);
      return n;
    },
    slice(start, end) { return ReflectApply(methods.subarray, this, [start, end]); },
    subarray(start, end) {
      const n = typedArrayLength(this);
      const from = adjustOffset(start, n);
      const to = end === undefined ? n : adjustOffset(end, n);
      return new FastBuffer(typedArrayBuffer(this), typedArrayByteOffset(this) + from, to > from ? to - from : 0);
    },
    write(string, offset, length, encoding) {
      // In Node's order: the offset and the length, the encoding, then the string.
      const n = this.length;
      if (offset === undefined) {
        offset = 0;
        length = n;
        encoding = undefined; // write(string) is utf8, whatever comes after
      } else if (length === undefined && typeof offset === "string") {
        encoding = offset;
        offset = 0;
        length = n;
      } else {
        validateInteger(offset, "offset", 0, n);
        const room = n - offset;
        if (length === undefined) length = room;
        else if (typeof length === "string") { encoding = length; length = room; }
        else if (validateInteger(length, "length", 0, n) > room) length = room;
      }
      // Anything falsy is utf8 here (Node's `!encoding`), unlike in toString.
      const enc = !encoding ? "utf8" : encodingOrThrow(encoding);
      if (typeof string !== "string") throw invalidArgType("argument", "of type string", string);
      let bytes = encodeString(string, enc);
      let count = bytes.length < length ? bytes.length : length;
      if (count < bytes.length) {
        // Never a partial character.
        if (enc === "utf8") while (count > 0 && (bytes[count] & 0xc0) === 0x80) count--;
        else if (enc === "utf16le") count &= ~1;
      }
      if (count > 0) this.set(count === bytes.length ? bytes : new Uint8Array(typedArrayBuffer(bytes), 0, count), offset);
      bytes = null;
      return count + 0; // a length of -0 wrote nothing: 0
    },
    fill(value, offset, end, encoding) {
      // As Node: an encoding in place of the offset or the end only with a string value (for any
      // other, a string offset is a bad offset); no offset means the whole buffer, whatever the end.
      const n = this.length;
      if (typeof value === "string") {
        if (offset === undefined || typeof offset === "string") { encoding = offset; offset = 0; end = n; }
        else if (typeof end === "string") { encoding = end; end = n; }
        encoding = fillEncoding(encoding);
      } else encoding = undefined;
      if (offset === undefined) return fillBuffer(this, value, 0, n, encoding);
      validateInteger(offset, "offset", 0, kMaxLength);
      const to = end === undefined ? n : validateInteger(end, "end", 0, n);
      if (offset >= to) return this;
      return fillBuffer(this, value, offset, to, encoding);
    },
    indexOf(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, false); },
    lastIndexOf(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, true); },
    includes(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, false) !== -1; },
  };
  for (const name of ObjectKeys(methods)) {
    ObjectDefineProperty(proto, name, { value: methods[name], writable: true, enumerable: false, configurable: true });
  }
  for (const [prefix, enc] of [["utf8", "utf8"], ["latin1", "latin1"], ["ascii", "ascii"], ["hex", "hex"],
    ["base64", "base64"], ["base64url", "base64url"], ["ucs2", "utf16le"], ["utf16le", "utf16le"]]) {
    // Node's bindings (StringSlice, StringWrite): indices as ParseArrayIndex reads them.
    ObjectDefineProperty(proto, `${prefix}Slice`, {
      value(start, end) {
        const n = typedArrayLength(this);
        if (n === 0) return "";
        const from = arrayIndex(start, 0);
        let to = arrayIndex(end, n);
        if (to < from) to = from;
        if (to > n) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "Index out of range");
        return decodeBytes(this, enc, from, to);
      },
      writable: true, enumerable: false, configurable: true,
    });
    ObjectDefineProperty(proto, `${prefix}Write`, {
      value(string, offset, length) {
        if (typeof string !== "string") throw invalidArgType("argument", "of type string", string);
        const n = typedArrayLength(this);
        const at = arrayIndex(offset, 0);
        if (at > n) throw nodeError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", '"offset" is outside of buffer bounds');
        const max = arrayIndex(length, n - at);
        return ReflectApply(methods.write, this, [string, at, max < n - at ? max : n - at, enc]);
      },
      writable: true, enumerable: false, configurable: true,
    });
  }
  installBufferNumbers(proto);
  // Node's deprecated aliases of `buffer` and `byteOffset` (enumerable, as Node's).
  ObjectDefineProperty(proto, "parent", {
    __proto__: null, enumerable: true, configurable: true,
    get() { return isBuffer(this) ? typedArrayBuffer(this) : undefined; },
  });
  ObjectDefineProperty(proto, "offset", {
    __proto__: null, enumerable: true, configurable: true,
    get() { return isBuffer(this) ? typedArrayByteOffset(this) : undefined; },
  });

  const statics = {
    from, alloc,
    allocUnsafe(size) { return new FastBuffer(checkSize(size)); },
    allocUnsafeSlow(size) { return new FastBuffer(checkSize(size)); },
    isBuffer, byteLength, concat,
    isEncoding(enc) { return typeof enc === "string" && enc.length > 0 && normalizeEncoding(enc) !== undefined; },
    compare(a, b) {
      requireU8(a, "buf1");
      requireU8(b, "buf2");
      return compareBytes(a, 0, a.length, b, 0, b.length);
    },
    of(...items) { return fromArrayLike(items); },
    copyBytesFrom(view, offset, length) {
      if (typedArrayName(view) === undefined) throw invalidArgType("view", "an instance of TypedArray", view);
      // As Node: elements, not bytes; an offset at or past the end is an empty Buffer, a length
      // past it stops at the end.
      const count = typedArrayLength(view);
      if (count === 0) return new FastBuffer(0);
      const size = typedArrayByteLength(view) / count;
      let first = 0;
      let end = count;
      if (offset !== undefined) {
        validateInteger(offset, "offset", 0);
        if (offset >= count) return new FastBuffer(0);
        first = offset;
      }
      if (length !== undefined) {
        validateInteger(length, "length", 0);
        if (first + length < end) end = first + length;
      }
      return from(new Uint8Array(typedArrayBuffer(view), typedArrayByteOffset(view) + first * size, (end - first) * size));
    },
  };
  // Enumerable, in Node's order (packages copy them with for-in: safer-buffer, under iconv-lite
  // and body-parser, builds its Buffer that way).
  Buffer.poolSize = 8192;
  const staticOrder = ["from", "copyBytesFrom", "of", "alloc", "allocUnsafe", "allocUnsafeSlow", "isBuffer",
    "compare", "isEncoding", "concat", "byteLength"];
  for (let i = 0; i < staticOrder.length; i++) {
    const name = staticOrder[i];
    ObjectDefineProperty(Buffer, name, { value: statics[name], writable: true, enumerable: true, configurable: true });
  }
  MapSet(inspectReplacers, proto, (b) => {
    const n = typedArrayLength(b);
    const shown = n > 50 ? 50 : n;
    let s = "<Buffer";
    for (let i = 0; i < shown; i++) s += ` ${NODE_HEX[b[i] >> 4]}${NODE_HEX[b[i] & 15]}`;
    return `${s}${n > 50 ? ` ... ${n - 50} more bytes` : ""}>`;
  });
  function SlowBuffer(size) { return statics.allocUnsafeSlow(size); }
  const isUtf8 = (input) => {
    try { utf8DecodeChunk(bufferSourceBytes(input, "isUtf8"), newUtf8State(), true, true); return true; } catch { return false; }
  };
  return {
    Buffer, SlowBuffer, kMaxLength, kStringMaxLength,
    constants: { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: kStringMaxLength },
    INSPECT_MAX_BYTES: 50,
    atob: globalThis.atob, btoa: globalThis.btoa, Blob: globalThis.Blob, File: globalThis.File,
    isUtf8,
    isAscii(input) { const b = bufferSourceBytes(input, "isAscii"); for (let i = 0; i < b.length; i++) if (b[i] > 127) return false; return true; },
    transcode,
  };
}

defineBuiltin("node:buffer", ["Buffer", "SlowBuffer", "kMaxLength", "kStringMaxLength", "constants",
  "INSPECT_MAX_BYTES", "atob", "btoa", "Blob", "File", "isUtf8", "isAscii", "transcode"], bufferModule);
