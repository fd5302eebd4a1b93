// ---- console.js: `console`. ------------------------------------------------------
// Formats arguments like Node's console (printf-style directives in a leading string, inspect() for
// everything else) and hands one line per call to the host's log(level, text). Never throws: a
// failure to format prints "[object]", a host refusal is swallowed, and console calls made from a
// Proxy trap during formatting are printed shallowly (no recursion through traps).

// Captured while the prelude runs: tenant code may replace the globals and String.prototype's
// methods (inspect.js captures those).
const NumberForConsole = Number;
const ParseFloatForConsole = parseFloat;

/** console-style formatting with printf-like %s %d %i %f %j %o %O %c %% in a leading string. */
function formatArgs(args) {
  let out = "";
  let i = 0;
  if (typeof args[0] === "string" && args.length > 1 && StringIncludesForInspect(args[0], "%")) {
    const fmt = args[0];
    i = 1;
    let last = 0;
    for (let j = 0; j < fmt.length - 1; j++) {
      if (fmt[j] !== "%") continue;
      const f = fmt[j + 1];
      let rep;
      if (f === "%") rep = "%";
      else if (i >= args.length) continue;
      else if (f === "s") {
        const a = args[i++];
        rep = typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : inspect(a);
      }
      else if (f === "d" || f === "i") {
        const a = args[i++];
        rep = typeof a === "bigint" ? `${a}n` : typeof a === "symbol" ? "NaN" : `${f === "i" ? MathTrunc(NumberForConsole(a)) : NumberForConsole(a)}`;
      } else if (f === "f") {
        const a = args[i++];
        rep = typeof a === "symbol" ? "NaN" : `${ParseFloatForConsole(a)}`;
      }
      else if (f === "j") { try { rep = `${JSONStringify(args[i])}`; } catch { rep = "[Circular]"; } i++; }
      else if (f === "o" || f === "O") rep = inspect(args[i++]);
      else if (f === "c") { rep = ""; i++; }
      else continue;
      out += StringSliceForInspect(fmt, last, j) + rep;
      last = j + 2;
      j++;
    }
    out += StringSliceForInspect(fmt, last);
  }
  for (; i < args.length; i++) {
    const a = args[i];
    out += (out === "" && i === 0 ? "" : " ") + (typeof a === "string" ? a : inspect(a));
  }
  return out;
}

/** Formats without touching objects (no Proxy trap can run): used for console calls made from
 *  inside a Proxy trap while another console call is formatting, which would otherwise recurse
 *  exponentially. */
function formatArgsShallow(args) {
  let out = "";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const text = typeof a === "string" ? a : a === null || (typeof a !== "object" && typeof a !== "function")
      ? formatPrimitive(a, false) : "[object]";
    out += (i ? " " : "") + text;
  }
  return out;
}

let consoleFormatting = false;

/** Sends one formatted line to the host; swallows everything (console must never throw). */
function emit(level, args) {
  let text = "[object]";
  if (consoleFormatting) text = formatArgsShallow(args);
  else {
    consoleFormatting = true;
    try { text = formatArgs(args); } catch { /* keep "[object]" */ } finally { consoleFormatting = false; }
  }
  try { hostLog(level, text); } catch { /* host refused the line */ }
}

const ErrorCaptureStackTrace = Error.captureStackTrace;
const consoleCounts = new InspectMapCtor();
const consoleTimers = new InspectMapCtor();
const consoleMethods = {
  debug(...args) { emit(0, args); },
  log(...args) { emit(1, args); },
  info(...args) { emit(4, args); },
  warn(...args) { emit(2, args); },
  error(...args) { emit(3, args); },
  trace(...args) {
    let stack = "";
    // The caller's frames: this method's own is left out by V8 (captureStackTrace's second
    // argument), whatever the runtime's frames look like in the stack.
    try {
      const holder = {};
      ErrorCaptureStackTrace(holder, consoleMethods.trace);
      const text = `${holder.stack}`;
      const firstBreak = StringIndexOfForInspect(text, "\n");
      stack = firstBreak === -1 ? "" : StringSliceForInspect(text, firstBreak + 1);
    } catch { /* ignore */ }
    emit(3, [`Trace${args.length ? ": " : ""}${formatArgs(args)}\n${stack}`]);
  },
  assert(condition, ...args) {
    if (condition) return;
    if (typeof args[0] === "string") args[0] = `Assertion failed: ${args[0]}`;
    else {
      const shown = ["Assertion failed"];
      for (let i = 0; i < args.length; i++) appendEntry(shown, args[i]);
      args = shown;
    }
    emit(3, args);
  },
  dir(value) { emit(1, [inspect(value)]); },
  dirxml(...args) { emit(1, args); },
  table(...args) { emit(1, args); },
  count(label = "default") {
    const key = `${label}`;
    const n = (MapGet(consoleCounts, key) ?? 0) + 1;
    MapSet(consoleCounts, key, n);
    emit(1, [`${key}: ${n}`]);
  },
  countReset(label = "default") { MapDelete(consoleCounts, `${label}`); },
  time(label = "default") { MapSet(consoleTimers, `${label}`, hostNow()); },
  timeLog(label = "default", ...args) {
    const t = MapGet(consoleTimers, `${label}`);
    if (t === undefined) emit(2, [`Timer '${label}' does not exist`]);
    else {
      const shown = [`${label}: ${hostNow() - t}ms`];
      for (let i = 0; i < args.length; i++) appendEntry(shown, args[i]);
      emit(1, shown);
    }
  },
  timeEnd(label = "default") {
    consoleMethods.timeLog(label);
    MapDelete(consoleTimers, `${label}`);
  },
  group(...args) { if (args.length) emit(1, args); },
  groupCollapsed(...args) { if (args.length) emit(1, args); },
  groupEnd() {},
};
const consoleObject = ObjectCreate(ObjectCreate(Object.prototype));
for (const name of ObjectKeys(consoleMethods)) {
  ObjectDefineProperty(consoleObject, name, { value: consoleMethods[name], writable: true, enumerable: true, configurable: true });
}
setTag(consoleObject, "console");
defineGlobal("console", consoleObject);
