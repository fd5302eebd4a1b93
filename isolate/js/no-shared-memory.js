// Stockade runtime: WebAssembly without shared memory. Evaluated once, in the startup snapshot,
// after runtime.js and before the web prelude (see engine.rs, runtime_script). V8 installs the
// WebAssembly namespace afresh in each context made from the snapshot, so this script only hands
// the bridge `guardWebAssembly`, which the bridge runs on a new context's WebAssembly object the
// first time the global is read (a lazy data property set by stk_isolate_new), before tenant code
// can hold the namespace.
//
// Guarantees: no tenant code can obtain a shared WebAssembly memory, hence no SharedArrayBuffer
// (whose constructor the runtime deletes) and no cross-thread timer or wait:
// - `new WebAssembly.Memory({ shared: true, ... })` throws a TypeError;
// - module bytes given to WebAssembly.Module, compile, instantiate or validate are copied, then
//   their memory sections are read: a module that defines a shared memory is refused with a
//   WebAssembly.CompileError (validate answers false), and V8 compiles the checked copy, never
//   bytes the tenant could change afterwards; bytes this check cannot read are refused too;
// - a module that imports a shared memory compiles, but can only be instantiated with a shared
//   WebAssembly.Memory, which nothing can create: V8 refuses it with a LinkError.
// compileStreaming/instantiateStreaming do not exist (V8 installs them only for an embedder
// streaming callback, and the bridge sets none). The wrappers replace the originals everywhere
// tenant code could reach them: the WebAssembly namespace and prototype.constructor; the
// originals stay in this closure only.
// Tenant code may still run while an original is on the stack (a valueOf in a descriptor, a getter
// on an imports object); it cannot reach the original from there: V8's CallSite.getFunction gives
// nothing for builtin and strict frames, and modules have no sloppy functions whose `caller` would
// tell (tests/hostile.rs checks the former).
// Trusts: V8's own decoding of everything else in a module. Uses only intrinsics captured here,
// so tenant code that later replaces globals or prototype methods cannot change the check.
(function (host) {
"use strict";
const { apply: ReflectApply, construct: ReflectConstruct } = Reflect;
const { defineProperty: ObjectDefineProperty, getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor,
  getOwnPropertyNames: ObjectGetOwnPropertyNames, getPrototypeOf: ObjectGetPrototypeOf } = Object;
const TypeErrorCtor = TypeError;
const PromiseCtor = Promise;
const PromiseReject = (e) => ReflectApply(PromiseCtor.reject, PromiseCtor, [e]);
const U8 = Uint8Array;
const ArrayBufferIsView = ArrayBuffer.isView;
const getter = (proto, name) => ObjectGetOwnPropertyDescriptor(proto, name).get;
const TypedArrayPrototype = ObjectGetPrototypeOf(U8.prototype);
const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag);
const typedArrayBuffer = getter(TypedArrayPrototype, "buffer");
const typedArrayOffset = getter(TypedArrayPrototype, "byteOffset");
const typedArrayByteLength = getter(TypedArrayPrototype, "byteLength");
const typedArrayLength = getter(TypedArrayPrototype, "length");
const dataViewBuffer = getter(DataView.prototype, "buffer");
const dataViewOffset = getter(DataView.prototype, "byteOffset");
const dataViewByteLength = getter(DataView.prototype, "byteLength");
const arrayBufferByteLength = getter(ArrayBuffer.prototype, "byteLength");

/** A private copy of a BufferSource's bytes, or null when `source` is not one (V8 then throws
 *  its own TypeError on the original argument). */
function bytesOf(source) {
  if (ArrayBufferIsView(source)) {
    const typed = ReflectApply(typedArrayTag, source, []) !== undefined;
    const buffer = ReflectApply(typed ? typedArrayBuffer : dataViewBuffer, source, []);
    const offset = ReflectApply(typed ? typedArrayOffset : dataViewOffset, source, []);
    const length = ReflectApply(typed ? typedArrayByteLength : dataViewByteLength, source, []);
    return new U8(new U8(buffer, offset, length));
  }
  try {
    ReflectApply(arrayBufferByteLength, source, []); // throws unless an ArrayBuffer
  } catch {
    return null;
  }
  return new U8(new U8(source));
}

const UNREADABLE = "stockade could not check this WebAssembly module for shared memory";

/** Why `b` (a module's bytes) must be refused, or null. Reads the section framing and every
 *  memory section (id 5); a module V8 accepts always has both well formed. */
function refusal(b) {
  const n = ReflectApply(typedArrayLength, b, []);
  // Not a module at all: V8 rejects it with its own CompileError.
  if (n < 8 || b[0] !== 0x00 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) return null;
  let p = 8;
  // Unsigned LEB128 of at most `max` bytes at p; advances p. -1 when malformed.
  const leb = (max) => {
    let value = 0;
    for (let i = 0, scale = 1; i < max; i++, scale *= 128) {
      if (p >= n) return -1;
      const byte = b[p++];
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
    }
    return -1;
  };
  while (p < n) {
    const id = b[p++];
    const size = leb(5);
    if (size < 0 || p + size > n) return UNREADABLE;
    const end = p + size;
    if (id === 5) {
      let count = leb(5);
      if (count < 0) return UNREADABLE;
      for (; count > 0; count--) {
        if (p >= end) return UNREADABLE;
        const flags = b[p++];
        // 0x01 maximum, 0x02 shared, 0x04 memory64, 0x08 custom page size.
        if (flags & 0x02) return "the module defines a shared memory, which stockade does not provide";
        if (flags > 0x0f) return UNREADABLE;
        if (leb(10) < 0) return UNREADABLE;
        if ((flags & 0x01) && leb(10) < 0) return UNREADABLE;
        if ((flags & 0x08) && leb(5) < 0) return UNREADABLE;
      }
      if (p !== end) return UNREADABLE;
    }
    p = end;
  }
  return null;
}

host.setWasmGuard(function guardWebAssembly(W) {
  if (typeof W !== "object" || W === null) return; // the strict profile: no WebAssembly
  const OriginalMemory = W.Memory;
  const OriginalModule = W.Module;
  const originalCompile = W.compile;
  const originalInstantiate = W.instantiate;
  const originalValidate = W.validate;
  const CompileError = W.CompileError;

  /** Installs `wrapper` as W[name], with the original's property attributes. */
  function replace(name, wrapper, length) {
    ObjectDefineProperty(wrapper, "name", { value: name, configurable: true });
    ObjectDefineProperty(wrapper, "length", { value: length, configurable: true });
    const slot = ObjectGetOwnPropertyDescriptor(W, name);
    ObjectDefineProperty(W, name, { value: wrapper, writable: slot.writable, enumerable: slot.enumerable,
      configurable: slot.configurable });
  }

  /** Makes `wrapper` the constructor tenant code sees for `original`'s instances. */
  function adoptPrototype(original, wrapper) {
    const proto = original.prototype;
    ObjectDefineProperty(wrapper, "prototype", { value: proto, writable: false, enumerable: false,
      configurable: false });
    const ctor = ObjectGetOwnPropertyDescriptor(proto, "constructor");
    ObjectDefineProperty(proto, "constructor", { value: wrapper, writable: ctor.writable,
      enumerable: ctor.enumerable, configurable: ctor.configurable });
  }

  const MEMORY_KEYS = ["initial", "minimum", "maximum", "shared", "index", "address"];

  function Memory(descriptor) {
    if (new.target === undefined) return ReflectApply(OriginalMemory, undefined, [descriptor]);
    if ((typeof descriptor !== "object" && typeof descriptor !== "function") || descriptor === null) {
      return ReflectConstruct(OriginalMemory, [descriptor], new.target); // V8's TypeError
    }
    // Each property is read once, here; V8 reads this copy, so a getter cannot answer differently.
    const copy = { __proto__: null };
    for (let i = 0; i < MEMORY_KEYS.length; i++) {
      const key = MEMORY_KEYS[i];
      const value = descriptor[key];
      if (value !== undefined) copy[key] = value;
    }
    if (copy.shared) {
      throw new TypeErrorCtor(
        "WebAssembly.Memory(): shared memory is not available (stockade provides no SharedArrayBuffer)");
    }
    return ReflectConstruct(OriginalMemory, [copy], new.target);
  }
  adoptPrototype(OriginalMemory, Memory);
  replace("Memory", Memory, 1);

  function Module(bytes) {
    if (new.target === undefined) return ReflectApply(OriginalModule, undefined, [bytes]);
    const copy = bytesOf(bytes);
    if (copy === null) return ReflectConstruct(OriginalModule, [bytes], new.target);
    const why = refusal(copy);
    if (why !== null) throw new CompileError(`WebAssembly.Module(): ${why}`);
    return ReflectConstruct(OriginalModule, [copy], new.target);
  }
  adoptPrototype(OriginalModule, Module);
  for (const key of ObjectGetOwnPropertyNames(OriginalModule)) {
    if (key === "prototype" || key === "length" || key === "name" || key === "arguments" ||
        key === "caller") {
      continue;
    }
    ObjectDefineProperty(Module, key, ObjectGetOwnPropertyDescriptor(OriginalModule, key));
  }
  replace("Module", Module, 1);

  function compile(bytes, ...options) {
    try {
      const copy = bytesOf(bytes);
      if (copy === null) return ReflectApply(originalCompile, W, [bytes, ...options]);
      const why = refusal(copy);
      if (why !== null) return PromiseReject(new CompileError(`WebAssembly.compile(): ${why}`));
      return ReflectApply(originalCompile, W, [copy, ...options]);
    } catch (e) {
      return PromiseReject(e);
    }
  }
  replace("compile", compile, 1);

  function instantiate(source, ...rest) {
    try {
      const copy = bytesOf(source);
      // Not bytes: a WebAssembly.Module (only ever made by the checked constructor or compile), or
      // something V8 refuses.
      if (copy === null) return ReflectApply(originalInstantiate, W, [source, ...rest]);
      const why = refusal(copy);
      if (why !== null) return PromiseReject(new CompileError(`WebAssembly.instantiate(): ${why}`));
      return ReflectApply(originalInstantiate, W, [copy, ...rest]);
    } catch (e) {
      return PromiseReject(e);
    }
  }
  replace("instantiate", instantiate, 1);

  function validate(bytes, ...options) {
    const copy = bytesOf(bytes);
    if (copy === null) return ReflectApply(originalValidate, W, [bytes, ...options]);
    if (refusal(copy) !== null) return false;
    return ReflectApply(originalValidate, W, [copy, ...options]);
  }
  replace("validate", validate, 1);
});
})(globalThis.__stockade_host);
