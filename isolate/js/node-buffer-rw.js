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

  function boundsError(offset, length, size) {
    if (typeof offset !== "number") return invalidArgType("offset", "of type number", offset);
    if (!NumberIsInteger(offset)) return outOfRange("offset", "an integer", offset);
    if (length - size < 0) return nodeError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", "Attempt to access memory outside buffer bounds");
    return outOfRange("offset", `>= 0 and <= ${length - size}`, offset);
  }

  /** The checked offset of a `size`-byte access at `offset` (default 0). */
  function at(buf, offset, size) {
    if (offset === undefined) offset = 0;
    const length = typedArrayLength(buf);
    if (typeof offset !== "number" || !NumberIsInteger(offset) || offset < 0 || offset + size > length) {
      throw boundsError(offset, length, size);
    }
    return offset;
  }

  function checkByteLength(byteLength) {
    if (typeof byteLength !== "number") throw invalidArgType("byteLength", "of type number", byteLength);
    if (!NumberIsInteger(byteLength) || byteLength < 1 || byteLength > 6) throw outOfRange("byteLength", ">= 1 and <= 6", byteLength);
    return byteLength;
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
  function writeInteger(buf, value, offset, size, little, signed) {
    const o = at(buf, offset, size);
    const bits = 8 * size;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    value = +value;
    // As Node: NaN (an undefined value too) passes the range check and is written as 0.
    if (value < min || value > max) {
      const range = size > 4 ? `>= ${signed ? "-(2 ** " + (bits - 1) + ")" : "0"} and < 2 ** ${signed ? bits - 1 : bits}`
        : `>= ${min} and <= ${max}`;
      throw outOfRange("value", range, value);
    }
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
    const o = at(buf, offset, size);
    if (wide) f64[0] = +value; else f32[0] = +value;
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
  function writeBig(buf, value, offset, little, signed) {
    if (typeof value !== "bigint") throw invalidArgType("value", "of type bigint", value);
    const o = at(buf, offset, 8);
    const min = signed ? -(2n ** 63n) : 0n;
    const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    if (value < min || value > max) {
      throw outOfRange("value", signed ? ">= -(2n ** 63n) and < 2n ** 63n" : ">= 0n and < 2n ** 64n", value);
    }
    let v = BigIntAsUintN(64, value);
    for (let i = 0; i < 8; i++) {
      buf[little ? o + i : o + 7 - i] = Number(v & 255n);
      v >>= 8n;
    }
    return o + 8;
  }

  const methods = {
    readUInt8(o) { return readUnsigned(this, o, 1, false); },
    readUInt16LE(o) { return readUnsigned(this, o, 2, true); },
    readUInt16BE(o) { return readUnsigned(this, o, 2, false); },
    readUInt32LE(o) { return readUnsigned(this, o, 4, true); },
    readUInt32BE(o) { return readUnsigned(this, o, 4, false); },
    readInt8(o) { return readSigned(this, o, 1, false); },
    readInt16LE(o) { return readSigned(this, o, 2, true); },
    readInt16BE(o) { return readSigned(this, o, 2, false); },
    readInt32LE(o) { return readSigned(this, o, 4, true); },
    readInt32BE(o) { return readSigned(this, o, 4, false); },
    readUIntLE(o, n) { return readUnsigned(this, o, checkByteLength(n), true); },
    readUIntBE(o, n) { return readUnsigned(this, o, checkByteLength(n), false); },
    readIntLE(o, n) { return readSigned(this, o, checkByteLength(n), true); },
    readIntBE(o, n) { return readSigned(this, o, checkByteLength(n), false); },
    readFloatLE(o) { return readFloat(this, o, true, false); },
    readFloatBE(o) { return readFloat(this, o, false, false); },
    readDoubleLE(o) { return readFloat(this, o, true, true); },
    readDoubleBE(o) { return readFloat(this, o, false, true); },
    readBigUInt64LE(o) { return readBig(this, o, true, false); },
    readBigUInt64BE(o) { return readBig(this, o, false, false); },
    readBigInt64LE(o) { return readBig(this, o, true, true); },
    readBigInt64BE(o) { return readBig(this, o, false, true); },
    writeUInt8(v, o) { return writeInteger(this, v, o, 1, false, false); },
    writeUInt16LE(v, o) { return writeInteger(this, v, o, 2, true, false); },
    writeUInt16BE(v, o) { return writeInteger(this, v, o, 2, false, false); },
    writeUInt32LE(v, o) { return writeInteger(this, v, o, 4, true, false); },
    writeUInt32BE(v, o) { return writeInteger(this, v, o, 4, false, false); },
    writeInt8(v, o) { return writeInteger(this, v, o, 1, false, true); },
    writeInt16LE(v, o) { return writeInteger(this, v, o, 2, true, true); },
    writeInt16BE(v, o) { return writeInteger(this, v, o, 2, false, true); },
    writeInt32LE(v, o) { return writeInteger(this, v, o, 4, true, true); },
    writeInt32BE(v, o) { return writeInteger(this, v, o, 4, false, true); },
    writeUIntLE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), true, false); },
    writeUIntBE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), false, false); },
    writeIntLE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), true, true); },
    writeIntBE(v, o, n) { return writeInteger(this, v, o, checkByteLength(n), false, true); },
    writeFloatLE(v, o) { return writeFloat(this, v, o, true, false); },
    writeFloatBE(v, o) { return writeFloat(this, v, o, false, false); },
    writeDoubleLE(v, o) { return writeFloat(this, v, o, true, true); },
    writeDoubleBE(v, o) { return writeFloat(this, v, o, false, true); },
    writeBigUInt64LE(v, o) { return writeBig(this, v, o, true, false); },
    writeBigUInt64BE(v, o) { return writeBig(this, v, o, false, false); },
    writeBigInt64LE(v, o) { return writeBig(this, v, o, true, true); },
    writeBigInt64BE(v, o) { return writeBig(this, v, o, false, true); },
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

