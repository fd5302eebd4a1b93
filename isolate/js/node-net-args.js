// ---- node-net-args.js: node:net's addresses, arguments, errors and per-socket state. ----------
// The part of node:net (node-net.js, after it in the nodenet group) that needs no connection:
// Node's isIP/isIPv4/isIPv6 expressions, validatePort, getTimerDuration and _normalizeArgs, the
// errors workerd's net throws, and NetState, the private field a socket's runtime state lives in.
// Trusts: nothing of tenant code's (captured primordials only).

const NET_IPV4_SEG = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const NET_IPV4 = `(?:${NET_IPV4_SEG}\\.){3}${NET_IPV4_SEG}`;
const NET_IPV6_SEG = "(?:[0-9a-fA-F]{1,4})";
const NET_IPV4_RE = new RegExp(`^${NET_IPV4}$`);
const NET_IPV6_RE = new RegExp("^(?:" +
  `(?:${NET_IPV6_SEG}:){7}(?:${NET_IPV6_SEG}|:)|` +
  `(?:${NET_IPV6_SEG}:){6}(?:${NET_IPV4}|:${NET_IPV6_SEG}|:)|` +
  `(?:${NET_IPV6_SEG}:){5}(?::${NET_IPV4}|(?::${NET_IPV6_SEG}){1,2}|:)|` +
  `(?:${NET_IPV6_SEG}:){4}(?:(?::${NET_IPV6_SEG}){0,1}:${NET_IPV4}|(?::${NET_IPV6_SEG}){1,3}|:)|` +
  `(?:${NET_IPV6_SEG}:){3}(?:(?::${NET_IPV6_SEG}){0,2}:${NET_IPV4}|(?::${NET_IPV6_SEG}){1,4}|:)|` +
  `(?:${NET_IPV6_SEG}:){2}(?:(?::${NET_IPV6_SEG}){0,3}:${NET_IPV4}|(?::${NET_IPV6_SEG}){1,5}|:)|` +
  `(?:${NET_IPV6_SEG}:){1}(?:(?::${NET_IPV6_SEG}){0,4}:${NET_IPV4}|(?::${NET_IPV6_SEG}){1,6}|:)|` +
  `(?::(?:(?::${NET_IPV6_SEG}){0,5}:${NET_IPV4}|(?::${NET_IPV6_SEG}){1,7}|:))` +
  ")(?:%[0-9a-zA-Z-.:]{1,})?$");
const NET_TIMEOUT_MAX = 2 ** 31 - 1;
const NET_BLANK_RE = /^\s*$/;

function netIsIPv4(input) {
  return RegExpTest(NET_IPV4_RE, typeof input === "string" ? input : `${input}`);
}
function netIsIPv6(input) {
  return RegExpTest(NET_IPV6_RE, typeof input === "string" ? input : `${input}`);
}
function netIsIP(input) {
  return netIsIPv4(input) ? 4 : netIsIPv6(input) ? 6 : 0;
}

/** Returns its argument from `new`, so that a subclass can stamp a private field onto any
 *  object (the class-fields "return override"). */
class NetStamp {
  constructor(target) {
    return target;
  }
}

/** A net.Socket's runtime state, in a private field of the socket itself. */
class NetState extends NetStamp {
  #net;
  constructor(target, state) {
    super(target);
    this.#net = state;
  }
  static of(value) {
    return value !== null && typeof value === "object" && #net in value ? value.#net : undefined;
  }
}

const netErrors = {
  __proto__: null,
  optionNotImplemented: (name) => nodeError(Error, "ERR_OPTION_NOT_IMPLEMENTED", `The ${name} option is not implemented`),
  invalidArgValue: (name, value, reason) =>
    nodeError(TypeError, "ERR_INVALID_ARG_VALUE",
      `The ${StringIndexOf(name, ".") === -1 ? "argument" : "property"} '${name}' ${reason}. Received ${netShow(value)}`),
  socketClosed: () => nodeError(Error, "ERR_SOCKET_CLOSED", "Socket is closed"),
  closedBeforeConnection: () =>
    nodeError(Error, "ERR_SOCKET_CLOSED_BEFORE_CONNECTION", "Socket closed before the connection was established"),
  connecting: () => nodeError(Error, "ERR_SOCKET_CONNECTING", "Socket is already connecting"),
  missingArgs: () => nodeError(TypeError, "ERR_MISSING_ARGS", 'The "options" or "port" or "path" argument must be specified'),
  epipe: () => nodeError(Error, "EPIPE", "This socket has been ended by the other party"),
};

function netShow(value) {
  return typeof value === "string" ? `'${value}'` : `${typeof value === "object" && value !== null ? "[object]" : value}`;
}

/** Node's validatePort: a number or a non-empty string naming an integer in [0, 65535]. */
function netPort(port) {
  const n = typeof port === "number" ? port : typeof port === "string" && !RegExpTest(NET_BLANK_RE, port) ? +port : NaN;
  if (!NumberIsInteger(n) || n < 0 || n > 65535) {
    throw nodeError(RangeError, "ERR_SOCKET_BAD_PORT",
      `Port should be >= 0 and < 65536. Received ${typeof port === "string" ? `type string ('${port}')` : `type ${typeof port} (${port})`}.`);
  }
  return n;
}

/** Node's getTimerDuration for setTimeout(msecs). */
function netTimerDuration(msecs, name) {
  if (typeof msecs !== "number") throw invalidArgType(name, "of type number", msecs);
  if (msecs < 0 || !NumberIsFinite(msecs)) throw outOfRange(name, "a non-negative finite number", msecs);
  return msecs > NET_TIMEOUT_MAX ? NET_TIMEOUT_MAX : msecs;
}

/** net's _normalizeArgs: [options, cb] from (options[, cb]), (path[, cb]) or ([port][, host][, cb]). */
function netNormalizeArgs(args) {
  if (args.length === 0) return [{ __proto__: null }, null];
  const first = args[0];
  let options = { __proto__: null };
  if (first !== null && typeof first === "object") options = first;
  else if (typeof first === "string" && !(+first >= 0)) options.path = first;
  else {
    options.port = first;
    if (args.length > 1 && typeof args[1] === "string") options.host = args[1];
  }
  const cb = args[args.length - 1];
  return [options, typeof cb === "function" ? cb : null];
}
