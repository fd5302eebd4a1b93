// ---- node-path-win32.js: node:path's win32 (path.win32, node:path/win32). ---------------------
// Windows path semantics as Node's path.win32 has them on any platform: `\` and `/` both
// separate, drive letters (`C:`, drive-relative `C:x`), UNC roots (`\\server\share`), `;` between
// paths, case-insensitive `relative`. The working directory is the process's ("/" in a worker),
// as Node's path.win32 takes it. Written for this runtime from Node's documented behaviour and
// checked against Node 20's path.win32 on generated paths (isolate/js/test/node-path.test.mjs).
// Lazy (the node group): the top level below defines functions only.

const win32IsSeparator = (code) => code === 47 || code === 92;
const win32IsDriveLetter = (code) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
const win32HasDrive = (path) => path.length >= 2 && win32IsDriveLetter(path.charCodeAt(0)) && path.charCodeAt(1) === 58;

/** Resolves "." and ".." in `path` (separators `/` and `\`), joining with `sep`. */
function win32NormalizeString(path, allowAboveRoot, sep) {
  let res = "";
  let lastSegmentLength = 0;
  let lastSlash = -1;
  let dots = 0;
  let code = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length) code = path.charCodeAt(i);
    else if (win32IsSeparator(code)) break;
    else code = 47;
    if (win32IsSeparator(code)) {
      if (lastSlash === i - 1 || dots === 1) {
        // an empty or "." segment
      } else if (dots === 2) {
        const endsWithDotDot = res.length >= 2 && lastSegmentLength === 2 &&
          res.charCodeAt(res.length - 1) === 46 && res.charCodeAt(res.length - 2) === 46;
        if (!endsWithDotDot) {
          if (res.length > 2) {
            const last = res.lastIndexOf(sep);
            if (last === -1) {
              res = "";
              lastSegmentLength = 0;
            } else {
              res = res.slice(0, last);
              lastSegmentLength = res.length - 1 - res.lastIndexOf(sep);
            }
            lastSlash = i;
            dots = 0;
            continue;
          } else if (res.length !== 0) {
            res = "";
            lastSegmentLength = 0;
            lastSlash = i;
            dots = 0;
            continue;
          }
        }
        if (allowAboveRoot) {
          res += res.length > 0 ? `${sep}..` : "..";
          lastSegmentLength = 2;
        }
      } else {
        res += res.length > 0 ? `${sep}${path.slice(lastSlash + 1, i)}` : path.slice(lastSlash + 1, i);
        lastSegmentLength = i - lastSlash - 1;
      }
      lastSlash = i;
      dots = 0;
    } else if (code === 46 && dots !== -1) {
      dots++;
    } else {
      dots = -1;
    }
  }
  return res;
}

/** Windows' reserved device names, as Node 20.20 lists them (lib/path.js). */
const WIN32_RESERVED_NAMES = [
  "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
  "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
  "COM\xb9", "COM\xb2", "COM\xb3", "LPT\xb9", "LPT\xb2", "LPT\xb3",
];

/** Whether `path` up to `colon` (Node's slice: -1 drops the last character) is a reserved name. */
function win32IsReservedName(path, colon) {
  const part = path.slice(0, colon).toUpperCase();
  for (let i = 0; i < WIN32_RESERVED_NAMES.length; i++) if (WIN32_RESERVED_NAMES[i] === part) return true;
  return false;
}

/** A UNC root at the start of `path` (`\\server\share`): the index after the share name, and
 *  whether that is the whole path; -1 when there is none. */
function win32UncEnd(path) {
  const len = path.length;
  if (len < 2 || !win32IsSeparator(path.charCodeAt(0)) || !win32IsSeparator(path.charCodeAt(1))) return -1;
  let j = 2;
  let last = j;
  while (j < len && !win32IsSeparator(path.charCodeAt(j))) j++;
  if (j >= len || j === last) return -1;
  last = j;
  while (j < len && win32IsSeparator(path.charCodeAt(j))) j++;
  if (j >= len || j === last) return -1;
  last = j;
  while (j < len && !win32IsSeparator(path.charCodeAt(j))) j++;
  return j === len || j !== last ? j : -1;
}

/** The root of `path`: its device ("C:", "\\server\share" or ""), where the rest starts, and
 *  whether it is absolute. */
function win32Root(path) {
  const len = path.length;
  if (len === 0) return { device: "", rootEnd: 0, absolute: false };
  const code = path.charCodeAt(0);
  if (len === 1) return { device: "", rootEnd: win32IsSeparator(code) ? 1 : 0, absolute: win32IsSeparator(code) };
  if (win32IsSeparator(code)) {
    const unc = win32UncEnd(path);
    if (unc === -1) return { device: "", rootEnd: 1, absolute: true };
    let j = 2;
    while (!win32IsSeparator(path.charCodeAt(j))) j++;
    const server = path.slice(2, j);
    while (win32IsSeparator(path.charCodeAt(j))) j++;
    return { device: `\\\\${server}\\${path.slice(j, unc)}`, rootEnd: unc, absolute: true };
  }
  if (win32HasDrive(path)) {
    const absolute = len > 2 && win32IsSeparator(path.charCodeAt(2));
    return { device: path.slice(0, 2), rootEnd: absolute ? 3 : 2, absolute };
  }
  return { device: "", rootEnd: 0, absolute: false };
}

/** basename(path, suffix) as Node computes it for either flavour: the last part after `start`
 *  (past a drive), trailing separators ignored, `suffix` cut when the part ends with it (and is
 *  not all of it). */
function pathBasename(path, suffix, start, isSep) {
  let end = -1;
  let matchedSlash = true;
  if (suffix !== undefined && suffix.length > 0 && suffix.length <= path.length) {
    if (suffix === path) return "";
    let extIdx = suffix.length - 1;
    let firstNonSlashEnd = -1;
    for (let i = path.length - 1; i >= start; i--) {
      const code = path.charCodeAt(i);
      if (isSep(code)) {
        if (!matchedSlash) {
          start = i + 1;
          break;
        }
      } else {
        if (firstNonSlashEnd === -1) {
          matchedSlash = false;
          firstNonSlashEnd = i + 1;
        }
        if (extIdx >= 0) {
          if (code === suffix.charCodeAt(extIdx)) {
            if (--extIdx === -1) end = i;
          } else {
            extIdx = -1;
            end = firstNonSlashEnd;
          }
        }
      }
    }
    if (start === end) end = firstNonSlashEnd;
    else if (end === -1) end = path.length;
    return path.slice(start, end);
  }
  for (let i = path.length - 1; i >= start; i--) {
    if (isSep(path.charCodeAt(i))) {
      if (!matchedSlash) {
        start = i + 1;
        break;
      }
    } else if (end === -1) {
      matchedSlash = false;
      end = i + 1;
    }
  }
  return end === -1 ? "" : path.slice(start, end);
}

/** The last part of `path` looking back to `from`: where it starts (`startPart` until a
 *  separator is met), where it ends (trailing separators ignored, -1: none), and where its
 *  extension starts (-1: none; "." and ".." have none, nor has a name that only starts with a
 *  dot). */
function pathLastPart(path, from, startPart, isSep) {
  let startDot = -1;
  let end = -1;
  let matchedSlash = true;
  let preDotState = 0;
  for (let i = path.length - 1; i >= from; i--) {
    const code = path.charCodeAt(i);
    if (isSep(code)) {
      if (!matchedSlash) {
        startPart = i + 1;
        break;
      }
      continue;
    }
    if (end === -1) {
      matchedSlash = false;
      end = i + 1;
    }
    if (code === 46) {
      if (startDot === -1) startDot = i;
      else if (preDotState !== 1) preDotState = 1;
    } else if (startDot !== -1) {
      preDotState = -1;
    }
  }
  const noExt = startDot === -1 || end === -1 || preDotState === 0 ||
    (preDotState === 1 && startDot === end - 1 && startDot === startPart + 1);
  return { startPart, end, startDot: noExt ? -1 : startDot };
}

/** win32Root for resolve and normalize, which also know the namespaces "\\\\.\\" and "\\\\?\\" as devices of their own
 *  (as Node's resolve and normalize do): "\\\\.\\pipe\\x" is the device "\\\\." and the rest a path on it. */
function win32ResolveRoot(path) {
  const root = win32Root(path);
  if (root.device.length > 3 && root.device.charCodeAt(1) === 92) {
    const first = root.device.charCodeAt(2);
    if ((first === 46 || first === 63) && root.device.charCodeAt(3) === 92) {
      return { device: root.device.slice(0, 3), rootEnd: 4, absolute: true };
    }
  }
  return root;
}

/** parse()'s base, name and ext, from the last part's bounds (pathLastPart), for either flavour. */
function pathNameParts(ret, path, from, end, startDot) {
  ret.base = path.slice(from, end);
  if (startDot === -1) {
    ret.name = ret.base;
  } else {
    ret.name = path.slice(from, startDot);
    ret.ext = path.slice(startDot, end);
  }
}

/** format() for either flavour: `dir` (or `root`) and `base` (or `name` + `ext`), joined by `sep`
 *  unless the directory is the root. */
function pathFormat(pathObject, sep) {
  if (pathObject === null || typeof pathObject !== "object") throw invalidArgType("pathObject", "of type object", pathObject);
  const dir = pathObject.dir || pathObject.root;
  const ext = pathObject.ext;
  const base = pathObject.base || `${pathObject.name || ""}${ext ? `${ext[0] === "." ? "" : "."}${ext}` : ""}`;
  if (!dir) return base;
  return dir === pathObject.root ? `${dir}${base}` : `${dir}${sep}${base}`;
}

function pathWin32Module(posix) {
  const validate = (p, name) => {
    if (typeof p !== "string") throw invalidArgType(name, "of type string", p);
    return p;
  };

  function resolve(...args) {
    let resolvedDevice = "";
    let resolvedTail = "";
    let resolvedAbsolute = false;
    for (let i = args.length - 1; i >= -1; i--) {
      let path;
      if (i >= 0) {
        path = validate(args[i], `paths[${i}]`);
        if (path.length === 0) continue;
      } else if (resolvedDevice.length === 0) {
        path = builtinExports("node:process").cwd();
      } else {
        // A drive's own working directory ("=C:" in the environment), else the process's when
        // it is on that drive, else the drive's root.
        path = builtinExports("node:process").env[`=${resolvedDevice}`] || builtinExports("node:process").cwd();
        if (path === undefined ||
            (path.slice(0, 2).toLowerCase() !== resolvedDevice.toLowerCase() && path.charCodeAt(2) === 92)) {
          path = `${resolvedDevice}\\`;
        }
      }
      const { device, rootEnd, absolute } = win32ResolveRoot(path);
      if (device.length > 0) {
        if (resolvedDevice.length > 0) {
          if (device.toLowerCase() !== resolvedDevice.toLowerCase()) continue; // another device
        } else {
          resolvedDevice = device;
        }
      }
      if (resolvedAbsolute) {
        if (resolvedDevice.length > 0) break;
      } else {
        resolvedTail = `${path.slice(rootEnd)}\\${resolvedTail}`;
        resolvedAbsolute = absolute;
        if (absolute && resolvedDevice.length > 0) break;
      }
    }
    resolvedTail = win32NormalizeString(resolvedTail, !resolvedAbsolute, "\\");
    return resolvedAbsolute ? `${resolvedDevice}\\${resolvedTail}` : `${resolvedDevice}${resolvedTail}` || ".";
  }

  function normalize(path) {
    validate(path, "path");
    const len = path.length;
    if (len === 0) return ".";
    if (len === 1) return path.charCodeAt(0) === 47 ? "\\" : path;
    // The namespaces "\\\\.\\" and "\\\\?\\" are devices of their own here too (as in Node's
    // normalize): "\\\\.\\x\\.." is "\\\\.\\", not a UNC root "\\\\.\\x".
    let { device, rootEnd, absolute } = win32ResolveRoot(path);
    if (rootEnd === len && win32UncEnd(path) === len) return `${device}\\`; // a UNC root alone
    const colon = path.indexOf(":");
    // Node 20.20 (CVE-2025-27210): "CON:x" names the device CON, kept as a root.
    if (device === "" && !absolute && colon > 0 && win32IsReservedName(path, colon)) {
      device = path.slice(0, colon + 1);
      rootEnd = colon + 1;
    }
    let tail = rootEnd < len ? win32NormalizeString(path.slice(rootEnd), !absolute, "\\") : "";
    if (tail.length === 0 && !absolute) tail = ".";
    if (tail.length > 0 && win32IsSeparator(path.charCodeAt(len - 1))) tail += "\\";
    if (!absolute && device === "" && path.includes(":")) {
      // A relative path must not come out reading as a drive ("a\\..\\C:\\x" is not "C:\\x"):
      // ".\\" goes before a tail that starts "X:", or when a ":" ends a part of the input.
      if (tail.length >= 2 && win32IsDriveLetter(tail.charCodeAt(0)) && tail.charCodeAt(1) === 58) return `.\\${tail}`;
      for (let i = path.indexOf(":"); i !== -1; i = path.indexOf(":", i + 1)) {
        if (i === len - 1 || win32IsSeparator(path.charCodeAt(i + 1))) return `.\\${tail}`;
      }
    }
    // A reserved device name before the first ":" (or, with none, the path but its last
    // character, as Node reads it) goes behind ".\\", so that no part can become a device.
    if (win32IsReservedName(path, colon)) return `.\\${device}${tail}`;
    if (device === "") return absolute ? `\\${tail}` : tail;
    return absolute ? `${device}\\${tail}` : `${device}${tail}`;
  }

  function isAbsolute(path) {
    validate(path, "path");
    const len = path.length;
    if (len === 0) return false;
    const code = path.charCodeAt(0);
    return win32IsSeparator(code) || (len > 2 && win32HasDrive(path) && win32IsSeparator(path.charCodeAt(2)));
  }

  function join(...args) {
    if (args.length === 0) return ".";
    let joined;
    let first;
    for (let i = 0; i < args.length; i++) {
      const arg = validate(args[i], "path");
      if (arg.length > 0) {
        if (joined === undefined) joined = first = arg;
        else joined += `\\${arg}`;
      }
    }
    if (joined === undefined) return ".";
    // Two separators at the start would read as a UNC root: kept only when the first part
    // clearly is one (exactly two, then a name: join("//server", "share")).
    let needsReplace = true;
    let slashes = 0;
    if (win32IsSeparator(first.charCodeAt(0))) {
      slashes++;
      if (first.length > 1 && win32IsSeparator(first.charCodeAt(1))) {
        slashes++;
        if (first.length > 2) {
          if (win32IsSeparator(first.charCodeAt(2))) slashes++;
          else needsReplace = false;
        }
      }
    }
    if (needsReplace) {
      while (slashes < joined.length && win32IsSeparator(joined.charCodeAt(slashes))) slashes++;
      if (slashes >= 2) joined = `\\${joined.slice(slashes)}`;
    }
    return normalize(joined);
  }

  function relative(from, to) {
    validate(from, "from");
    validate(to, "to");
    if (from === to) return "";
    const fromOrig = resolve(from);
    const toOrig = resolve(to);
    if (fromOrig === toOrig) return "";
    from = fromOrig.toLowerCase();
    to = toOrig.toLowerCase();
    if (from === to) return "";
    let fromStart = 0;
    while (fromStart < from.length && from.charCodeAt(fromStart) === 92) fromStart++;
    let fromEnd = from.length;
    while (fromEnd - 1 > fromStart && from.charCodeAt(fromEnd - 1) === 92) fromEnd--;
    const fromLen = fromEnd - fromStart;
    let toStart = 0;
    while (toStart < to.length && to.charCodeAt(toStart) === 92) toStart++;
    let toEnd = to.length;
    while (toEnd - 1 > toStart && to.charCodeAt(toEnd - 1) === 92) toEnd--;
    const toLen = toEnd - toStart;
    const length = fromLen < toLen ? fromLen : toLen;
    let lastCommonSep = -1;
    let i = 0;
    for (; i < length; i++) {
      const code = from.charCodeAt(fromStart + i);
      if (code !== to.charCodeAt(toStart + i)) break;
      if (code === 92) lastCommonSep = i;
    }
    if (i !== length) {
      if (lastCommonSep === -1) return toOrig;
    } else {
      if (toLen > length) {
        if (to.charCodeAt(toStart + i) === 92) return toOrig.slice(toStart + i + 1);
        if (i === 2) return toOrig.slice(toStart + i);
      }
      if (fromLen > length) {
        if (from.charCodeAt(fromStart + i) === 92) lastCommonSep = i;
        else if (i === 2) lastCommonSep = 3;
      }
      if (lastCommonSep === -1) lastCommonSep = 0;
    }
    let out = "";
    for (i = fromStart + lastCommonSep + 1; i <= fromEnd; i++) {
      if (i === fromEnd || from.charCodeAt(i) === 92) out += out.length === 0 ? ".." : "\\..";
    }
    toStart += lastCommonSep;
    if (out.length > 0) return `${out}${toOrig.slice(toStart, toEnd)}`;
    if (toOrig.charCodeAt(toStart) === 92) toStart++;
    return toOrig.slice(toStart, toEnd);
  }

  function toNamespacedPath(path) {
    if (typeof path !== "string" || path.length === 0) return path;
    const resolved = resolve(path);
    if (resolved.length <= 2) return path;
    if (resolved.charCodeAt(0) === 92) {
      if (resolved.charCodeAt(1) === 92) {
        const code = resolved.charCodeAt(2);
        if (code !== 63 && code !== 46) return `\\\\?\\UNC\\${resolved.slice(2)}`;
      }
    } else if (win32HasDrive(resolved) && resolved.charCodeAt(2) === 92) {
      return `\\\\?\\${resolved}`;
    }
    return resolved;
  }

  /** Where the part after the root starts, for dirname and parse: after a drive ("C:" or "C:\"),
   *  after a single leading separator, or after a UNC root and the separator that follows it. */
  function partsStart(path) {
    const len = path.length;
    const code = path.charCodeAt(0);
    if (win32IsSeparator(code)) {
      const unc = win32UncEnd(path);
      if (unc === -1) return 1;
      return unc === len ? len : unc + 1;
    }
    if (win32HasDrive(path)) return len > 2 && win32IsSeparator(path.charCodeAt(2)) ? 3 : 2;
    return 0;
  }

  function dirname(path) {
    validate(path, "path");
    const len = path.length;
    if (len === 0) return ".";
    if (len === 1) return win32IsSeparator(path.charCodeAt(0)) ? path : ".";
    if (win32UncEnd(path) === len) return path;
    const offset = partsStart(path);
    const rootEnd = offset === 0 ? -1 : offset;
    let end = -1;
    let matchedSlash = true;
    for (let i = len - 1; i >= offset; i--) {
      if (win32IsSeparator(path.charCodeAt(i))) {
        if (!matchedSlash) {
          end = i;
          break;
        }
      } else {
        matchedSlash = false;
      }
    }
    if (end === -1) {
      if (rootEnd === -1) return ".";
      end = rootEnd;
    }
    return path.slice(0, end);
  }

  function basename(path, suffix) {
    if (suffix !== undefined) validate(suffix, "suffix");
    validate(path, "path");
    return pathBasename(path, suffix, win32HasDrive(path) ? 2 : 0, win32IsSeparator);
  }

  function extname(path) {
    validate(path, "path");
    const from = win32HasDrive(path) ? 2 : 0;
    const { end, startDot } = pathLastPart(path, from, from, win32IsSeparator);
    return startDot === -1 ? "" : path.slice(startDot, end);
  }

  function parse(path) {
    validate(path, "path");
    const ret = { root: "", dir: "", base: "", ext: "", name: "" };
    const len = path.length;
    if (len === 0) return ret;
    if (len === 1) {
      if (win32IsSeparator(path.charCodeAt(0))) ret.root = ret.dir = path;
      else ret.base = ret.name = path;
      return ret;
    }
    if (win32HasDrive(path) && (len === 2 || (len === 3 && win32IsSeparator(path.charCodeAt(2))))) {
      ret.root = ret.dir = path;
      return ret;
    }
    const unc = win32UncEnd(path);
    const rootEnd = unc === len ? len : partsStart(path);
    if (rootEnd > 0) ret.root = path.slice(0, rootEnd);
    const { startPart, end, startDot } = pathLastPart(path, rootEnd, rootEnd, win32IsSeparator);
    if (end !== -1) pathNameParts(ret, path, startPart, end, startDot);
    ret.dir = startPart > 0 && startPart !== rootEnd ? path.slice(0, startPart - 1) : ret.root;
    return ret;
  }

  const format = (pathObject) => pathFormat(pathObject, "\\");

  const win32 = {
    resolve, normalize, isAbsolute, join, relative, toNamespacedPath, dirname, basename, extname, format, parse,
    sep: "\\", delimiter: ";", win32: null, posix,
  };
  win32.win32 = win32;
  win32._makeLong = toNamespacedPath;
  return win32;
}
