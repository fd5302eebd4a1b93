// ---- node-buffer-rw.js: node:buffer, part 2 (reading and writing numbers; byte swaps). --------
// readUInt8 ... readDoubleBE, readBigInt64LE ..., readUIntLE(offset, byteLength), their write*
// counterparts (which return offset + bytes written) and the lower-case `Uint` aliases, with
// Node's checks: an offset that is not an integer or runs past the end, or a value out of the
// type's range, is a RangeError with Node's `code`.

function installBufferNumbers(proto) {
  const f32 = new Float32Array(1);
  const f64 = new Float64Array(1);
  const f32b = new Uint8Array(f32.buffer);
  const f64b = new Uint8Array(f64.buffer);
  const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  /** Node's boundsError: `value` (the offset, or the byteLength when `type` says so) is not an
   *  integer, or past `length`, the last index it may take (negative: the buffer is too short). */
  function boundsError(value, length, type) {
    const name = type || "offset";
    if (MathFloor(value) !== value) {
      if (typeof value !== "number") return invalidArgType(name, "of type number", value);
      return outOfRange(name, "an integer", value);
    }
    if (length < 0) return nodeError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", "Attempt to access memory outside buffer bounds");
    return outOfRange(name, `>= ${type ? 1 : 0} and <= ${length}`, value);
  }

  function requireNumberOffset(offset) {
    if (typeof offset !== "number") throw invalidArgType("offset", "of type number", offset);
  }

  /** Node's checkBounds: the offset of a `size`-byte access, a number (else a TypeError) that
   *  is an integer inside the buffer (else a RangeError). */
  function at(buf, offset, size) {
    requireNumberOffset(offset);
    const length = typedArrayLength(buf);
    if (!NumberIsInteger(offset) || offset < 0 || offset + size > length) throw boundsError(offset, length - size);
    return offset + 0; // -0 is 0
  }

  /** A byteLength of 1 to 6, checked as Node dispatches on it (strictly, before the value and
   *  the offset are looked at). */
  function checkByteLength(byteLength) {
    if (byteLength === 1 || byteLength === 2 || byteLength === 3 || byteLength === 4 || byteLength === 5 || byteLength === 6) {
      return byteLength;
    }
    throw boundsError(byteLength, 6, "byteLength");
  }

  /** readUIntLE and its kin take no default offset (Node's). */
  function requireOffset(offset) {
    if (offset === undefined) throw invalidArgType("offset", "of type number", offset);
    return offset;
  }

  function readUnsigned(buf, offset, size, little) {
    const o = at(buf, offset, size);
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + buf[little ? o + size - 1 - i : o + i];
    return v;
  }
  function readSigned(buf, offset, size, little) {
    const v = readUnsigned(buf, offset, size, little);
    const limit = 2 ** (8 * size - 1);
    return v >= limit ? v - limit * 2 : v;
  }
  /** Node's order: the value made a number (a BigInt is a TypeError), then (one byte: the
   *  offset's type first) its range, then the offset. */
  function writeInteger(buf, value, offset, size, little, signed) {
    value = +value;
    if (size === 1) requireNumberOffset(offset);
    const bits = 8 * size;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    // As Node: NaN (an undefined value too) passes the range check and is written as 0.
    if (value < min || value > max) {
      const range = size > 4 ? `>= ${signed ? "-(2 ** " + (bits - 1) + ")" : "0"} and < 2 ** ${signed ? bits - 1 : bits}`
        : `>= ${min} and <= ${max}`;
      throw outOfRange("value", range, value);
    }
    const o = at(buf, offset, size);
    let v = value < 0 ? -MathFloor(-value) : MathFloor(value);
    if (v < 0) v += 2 ** bits;
    for (let i = 0; i < size; i++) {
      buf[little ? o + i : o + size - 1 - i] = v % 256;
      v = MathFloor(v / 256);
    }
    return o + size;
  }
  function readFloat(buf, offset, little, wide) {
    const size = wide ? 8 : 4;
    const o = at(buf, offset, size);
    const bytes = wide ? f64b : f32b;
    const swap = little !== littleEndianHost;
    for (let i = 0; i < size; i++) bytes[swap ? size - 1 - i : i] = buf[o + i];
    return wide ? f64[0] : f32[0];
  }
  function writeFloat(buf, value, offset, little, wide) {
    const size = wide ? 8 : 4;
    value = +value;
    const o = at(buf, offset, size);
    if (wide) f64[0] = value; else f32[0] = value;
    const bytes = wide ? f64b : f32b;
    const swap = little !== littleEndianHost;
    for (let i = 0; i < size; i++) buf[o + i] = bytes[swap ? size - 1 - i : i];
    return o + size;
  }
  function readBig(buf, offset, little, signed) {
    const o = at(buf, offset, 8);
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(buf[little ? o + 7 - i : o + i]);
    return signed ? BigIntAsIntN(64, v) : v;
  }
  /** Node's order: the range (compared as JavaScript compares a BigInt with anything), the
   *  offset, then the value used as a BigInt (anything else is the engine's TypeError). */
  function writeBig(buf, value, offset, little, signed) {
    const min = signed ? -(2n ** 63n) : 0n;
    const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    if (value > max || value < min) {
      throw outOfRange("value", signed ? ">= -(2n ** 63n) and < 2n ** 63n" : ">= 0n and < 2n ** 64n", value);
    }
    const o = at(buf, offset, 8);
    let v = value & 0xffffffffffffffffn;
    for (let i = 0; i < 8; i++) {
      buf[little ? o + i : o + 7 - i] = Number(v & 255n);
      v >>= 8n;
    }
    return o + 8;
  }

  const methods = {
    readUInt8(o = 0) { return readUnsigned(this, o, 1, false); },
    readUInt16LE(o = 0) { return readUnsigned(this, o, 2, true); },
    readUInt16BE(o = 0) { return readUnsigned(this, o, 2, false); },
    readUInt32LE(o = 0) { return readUnsigned(this, o, 4, true); },
    readUInt32BE(o = 0) { return readUnsigned(this, o, 4, false); },
    readInt8(o = 0) { return readSigned(this, o, 1, false); },
    readInt16LE(o = 0) { return readSigned(this, o, 2, true); },
    readInt16BE(o = 0) { return readSigned(this, o, 2, false); },
    readInt32LE(o = 0) { return readSigned(this, o, 4, true); },
    readInt32BE(o = 0) { return readSigned(this, o, 4, false); },
    readUIntLE(o, n) { return readUnsigned(this, requireOffset(o), checkByteLength(n), true); },
    readUIntBE(o, n) { return readUnsigned(this, requireOffset(o), checkByteLength(n), false); },
    readIntLE(o, n) { return readSigned(this, requireOffset(o), checkByteLength(n), true); },
    readIntBE(o, n) { return readSigned(this, requireOffset(o), checkByteLength(n), false); },
    readFloatLE(o = 0) { return readFloat(this, o, true, false); },
    readFloatBE(o = 0) { return readFloat(this, o, false, false); },
    readDoubleLE(o = 0) { return readFloat(this, o, true, true); },
    readDoubleBE(o = 0) { return readFloat(this, o, false, true); },
    readBigUInt64LE(o = 0) { return readBig(this, o, true, false); },
    readBigUInt64BE(o = 0) { return readBig(this, o, false, false); },
    readBigInt64LE(o = 0) { return readBig(this, o, true, true); },
    readBigInt64BE(o = 0) { return readBig(this, o, false, true); },
    writeUInt8(v, o = 0) { return writeInteger(this, v, o, 1, false, false); },
    writeUInt16LE(v, o = 0) { return writeInteger(this, v, o, 2, true, false); },
    writeUInt16BE(v, o = 0) { return writeInteger(this, v, o, 2, false, false); },
    writeUInt32LE(v, o = 0) { return writeInteger(this, v, o, 4, true, false); },
    writeUInt32BE(v, o = 0) { return writeInteger(this, v, o, 4, false, false); },
    writeInt8(v, o = 0) { return writeInteger(this, v, o, 1, false, true); },
    writeInt16LE(v, o = 0) { return writeInteger(this, v, o, 2, true, true); },
    writeInt16BE(v, o = 0) { return writeInteger(this, v, o, 2, false, true); },
    writeInt32LE(v, o = 0) { return writeInteger(this, v, o, 4, true, true); },
    writeInt32BE(v, o = 0) { return writeInteger(this, v, o, 4, false, true); },
    writeUIntLE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), true, false); },
    writeUIntBE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), false, false); },
    writeIntLE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), true, true); },
    writeIntBE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), false, true); },
    writeFloatLE(v, o = 0) { return writeFloat(this, v, o, true, false); },
    writeFloatBE(v, o = 0) { return writeFloat(this, v, o, false, false); },
    writeDoubleLE(v, o = 0) { return writeFloat(this, v, o, true, true); },
    writeDoubleBE(v, o = 0) { return writeFloat(this, v, o, false, true); },
    writeBigUInt64LE(v, o = 0) { return writeBig(this, v, o, true, false); },
    writeBigUInt64BE(v, o = 0) { return writeBig(this, v, o, false, false); },
    writeBigInt64LE(v, o = 0) { return writeBig(this, v, o, true, true); },
    writeBigInt64BE(v, o = 0) { return writeBig(this, v, o, false, true); },
    swap16() { return swap(this, 2); },
    swap32() { return swap(this, 4); },
    swap64() { return swap(this, 8); },
  };
  function swap(buf, size) {
    const n = typedArrayLength(buf);
    if (n % size !== 0) {
      throw nodeError(RangeError, "ERR_INVALID_BUFFER_SIZE", `Buffer size must be a multiple of ${size * 8}-bits`);
    }
    for (let i = 0; i < n; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = buf[a];
        buf[a] = buf[b];
        buf[b] = t;
      }
    }
    return buf;
  }
  for (const name of ObjectKeys(methods)) {
    const d = { value: methods[name], writable: true, enumerable: false, configurable: true };
    ObjectDefineProperty(proto, name, d);
    // Node's lower-case aliases: readUint8, writeBigUint64LE, ...
    if (name.includes("UInt")) ObjectDefineProperty(proto, name.replace("UInt", "Uint"), d);
  }
}

