// ---- node-dns.js: node:dns and node:dns/promises, over DNS over HTTPS, as workerd has them. ----
// Each query is one fetch() of a DoH JSON API (DNS_DOH_URL, Cloudflare's 1.1.1.1, as workerd's:
// `?name=&type=`, `accept: application/dns-json`), so it goes where the worker's other fetches
// go (its tenant's egress rules, which must allow the resolver's host, or its globalOutbound)
// and counts as one of its subrequests. The answers' records are parsed from their presentation
// format (`data`): A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, SOA, CAA, NAPTR, and ANY for
// resolveAny. A DNS error is Node's (`queryA ENOTFOUND name`, code and syscall); an answer that
// could not be had (the fetch failed) is EBADQUERY, as workerd's, a resolver's refusal EBADRESP.
// lookup answers an IP literal as it is and queries A (AAAA for family 6, both for 0);
// lookupService throws ERR_METHOD_NOT_IMPLEMENTED; setServers is accepted and changes nothing
// (the resolver is the DoH endpoint). Arguments are checked at the call, as Node's.
// Trust: nothing in the answers (another party's); a record that does not parse is left out.

const DNS_DOH_URL = "https://cloudflare-dns.com/dns-query";
const DNS_SERVERS = ["1.1.1.1", "2606:4700:4700::1111", "1.0.0.1", "2606:4700:4700::1001"];
const DNS_TYPES = {
  __proto__: null, A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33,
  NAPTR: 35, CAA: 257, ANY: 255,
};
const DNS_STATUS = { __proto__: null, 1: "EFORMERR", 2: "ESERVFAIL", 3: "ENOTFOUND", 4: "ENOTIMP", 5: "EREFUSED" };
const DNS_CODES = [
  "NODATA", "FORMERR", "SERVFAIL", "NOTFOUND", "NOTIMP", "REFUSED", "BADQUERY", "BADNAME",
  "BADFAMILY", "BADRESP", "CONNREFUSED", "TIMEOUT", "EOF", "FILE", "NOMEM", "DESTRUCTION",
  "BADSTR", "BADFLAGS", "NONAME", "BADHINTS", "NOTINITIALIZED", "LOADIPHLPAPI",
  "ADDRGETNETWORKPARAMS", "CANCELLED",
];

/** Node's DNS error: `${syscall} ${code} ${hostname}`, with those fields. */
function dnsError(code, syscall, hostname, cause = undefined) {
  const e = new Error(`${syscall} ${code} ${hostname}`, cause === undefined ? undefined : { cause });
  e.code = code;
  e.errno = undefined;
  e.syscall = syscall;
  e.hostname = hostname;
  return e;
}

// The strings of a record's presentation: space-separated fields, "quoted" ones unescaped.
function dnsFields(data) {
  const out = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] === " ") { i++; continue; }
    if (data[i] === "\"") {
      let s = "";
      i++;
      while (i < data.length && data[i] !== "\"") {
        if (data[i] === "\\" && i + 1 < data.length) {
          const digits = data.slice(i + 1, i + 4);
          if (/^[0-9]{3}$/.test(digits)) { s += String.fromCharCode(Number(digits)); i += 4; continue; }
          s += data[i + 1];
          i += 2;
          continue;
        }
        s += data[i++];
      }
      out.push(s);
      i++;
      continue;
    }
    let j = i;
    while (j < data.length && data[j] !== " ") j++;
    out.push(data.slice(i, j));
    i = j;
  }
  return out;
}

const dnsName = (s) => (s.length > 1 && s.endsWith(".") ? s.slice(0, -1) : s);

// The bytes of the generic `\# n hex...` form (RFC 3597), which 1.1.1.1 answers CAA and NAPTR
// records in; null for the presentation form.
function dnsGenericBytes(f) {
  if (f[0] !== "\\#") return null;
  const hex = f.slice(2).join("");
  const bytes = [];
  for (let i = 0; i + 1 < hex.length; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
  return bytes;
}

// A CAA record: `0 issue "ca.example"`, or the generic form.
function dnsCaa(f) {
  let flags, tag, value;
  const bytes = dnsGenericBytes(f);
  if (bytes !== null) {
    const n = bytes[1] ?? 0;
    flags = bytes[0];
    tag = String.fromCharCode(...bytes.slice(2, 2 + n));
    value = utf8Decode(new Uint8Array(bytes.slice(2 + n)));
  } else {
    [flags, tag, value] = [Number(f[0]), f[1], f[2]];
  }
  if (tag === undefined || value === undefined || Number.isNaN(flags)) return null;
  return { critical: flags & 128 ? 128 : 0, [tag]: value };
}

// A NAPTR record: `order preference "flags" "service" "regexp" replacement.`, or the generic
// form (two 16-bit numbers, three character-strings, a wire-format name).
function dnsNaptr(f) {
  const bytes = dnsGenericBytes(f);
  if (bytes === null) {
    return f.length === 6
      ? { flags: f[2], service: f[3], regexp: f[4], replacement: dnsName(f[5]), order: Number(f[0]), preference: Number(f[1]) }
      : null;
  }
  let at = 4;
  const text = () => {
    const n = bytes[at] ?? 0;
    const s = utf8Decode(new Uint8Array(bytes.slice(at + 1, at + 1 + n)));
    at += 1 + n;
    return s;
  };
  const [flags, service, regexp] = [text(), text(), text()];
  const labels = [];
  while (at < bytes.length && bytes[at] !== 0) {
    const n = bytes[at];
    labels.push(utf8Decode(new Uint8Array(bytes.slice(at + 1, at + 1 + n))));
    at += 1 + n;
  }
  if (at >= bytes.length) return null; // no root label: truncated
  return { flags, service, regexp, replacement: labels.join("."), order: (bytes[0] << 8) | bytes[1], preference: (bytes[2] << 8) | bytes[3] };
}

/** The record `data` of DNS type `type` as Node gives it (null when it does not parse). */
function dnsRecord(type, data, ttl) {
  const f = dnsFields(data);
  switch (type) {
    case 1: case 28: return { address: data, ttl };
    case 2: case 5: case 12: return dnsName(data);
    case 15: return f.length === 2 ? { priority: Number(f[0]), exchange: dnsName(f[1]) } : null;
    case 16: return f;
    case 33: return f.length === 4 ? { priority: Number(f[0]), weight: Number(f[1]), port: Number(f[2]), name: dnsName(f[3]) } : null;
    case 6: return f.length === 7
      ? { nsname: dnsName(f[0]), hostmaster: dnsName(f[1]), serial: Number(f[2]), refresh: Number(f[3]), retry: Number(f[4]), expire: Number(f[5]), minttl: Number(f[6]) }
      : null;
    case 257: return dnsCaa(f);
    case 35: return dnsNaptr(f);
    default: return null;
  }
}

/** The records of type `rrtype` for `name`: one DoH query. */
async function dnsQuery(name, rrtype, syscall) {
  const type = DNS_TYPES[rrtype];
  const url = `${DNS_DOH_URL}?name=${encodeURIComponent(name)}&type=${rrtype}`;
  let answer;
  try {
    const r = await fetch(url, { __proto__: null, headers: { accept: "application/dns-json" } });
    if (!r.ok) throw dnsError("EBADRESP", syscall, name, new Error(`the resolver answered ${r.status}`));
    answer = await r.json();
  } catch (e) {
    throw e?.code === "EBADRESP" ? e : dnsError("EBADQUERY", syscall, name, e);
  }
  if (answer === null || typeof answer !== "object") throw dnsError("EBADRESP", syscall, name);
  const status = answer.Status;
  if (status !== 0) throw dnsError(DNS_STATUS[status] ?? "EBADRESP", syscall, name);
  const records = [];
  const list = ArrayIsArray(answer.Answer) ? answer.Answer : [];
  for (const a of list) {
    if (a === null || typeof a !== "object" || typeof a.data !== "string") continue;
    if (type !== 255 && a.type !== type) continue;
    const record = dnsRecord(a.type, a.data, typeof a.TTL === "number" ? a.TTL : 0);
    if (record === null) continue;
    if (type !== 255) { records.push(record); continue; }
    // resolveAny: each record with its type.
    const kind = ObjectKeys(DNS_TYPES).find((k) => DNS_TYPES[k] === a.type);
    if (typeof record === "string") records.push({ value: record, type: kind });
    else if (ArrayIsArray(record)) records.push({ entries: record, type: kind });
    else records.push({ ...record, type: kind });
  }
  if (records.length === 0) throw dnsError("ENODATA", syscall, name);
  return records;
}

function dnsCheckName(name) {
  if (typeof name !== "string") throw invalidArgType("hostname", "of type string", name);
  return name;
}

const DNS_SYSCALL = {
  __proto__: null, A: "queryA", AAAA: "queryAaaa", CNAME: "queryCname", NS: "queryNs", PTR: "queryPtr",
  MX: "queryMx", TXT: "queryTxt", SRV: "querySrv", SOA: "querySoa", CAA: "queryCaa", NAPTR: "queryNaptr",
  ANY: "queryAny",
};

/** `resolveX` for `rrtype`: records as Node gives them (addresses alone unless `{ttl: true}`). */
async function dnsResolve(name, rrtype, options) {
  const records = await dnsQuery(name, rrtype, DNS_SYSCALL[rrtype]);
  if (rrtype === "A" || rrtype === "AAAA") {
    return options !== null && typeof options === "object" && options.ttl === true ? records : records.map((r) => r.address);
  }
  return rrtype === "SOA" ? records[0] : records;
}

const dnsIsIPv4 = (s) => /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
const dnsIsIPv6 = (s) => /^[0-9a-fA-F:]+$/.test(s) && s.includes(":") && s.split("::").length <= 2 &&
  !/:::/.test(s) && s.split(":").every((g) => g.length <= 4) &&
  (s.includes("::") ? s.split(":").filter((g) => g !== "").length < 8 : s.split(":").length === 8);
const dnsIsIP = (s) => (dnsIsIPv4(s) ? 4 : dnsIsIPv6(s) ? 6 : 0);

function dnsReverseName(ip) {
  if (typeof ip !== "string") throw invalidArgType("ip", "of type string", ip);
  if (dnsIsIPv4(ip)) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  if (dnsIsIPv6(ip)) {
    const [head, tail = ""] = ip.split("::");
    const parts = (s) => (s === "" ? [] : s.split(":"));
    const h = parts(head), t = parts(tail);
    const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    return `${groups.map((g) => g.padStart(4, "0")).join("").split("").reverse().join(".")}.ip6.arpa`;
  }
  throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'ip' is invalid. Received '${ip}'`);
}

/** Node's lookup: an IP literal as it is; an empty name, null; else the A records (AAAA for
 *  family 6; both, A first, for family 0), the first or `all`. */
async function dnsLookup(hostname, family, all) {
  const literal = dnsIsIP(hostname);
  let found;
  if (literal !== 0) {
    if (family !== 0 && family !== literal) throw dnsError("ENOTFOUND", "getaddrinfo", hostname);
    found = [{ address: hostname, family: literal }];
  } else if (hostname === "") {
    found = [];
  } else {
    const types = family === 4 ? ["A"] : family === 6 ? ["AAAA"] : ["A", "AAAA"];
    const settled = await Promise.allSettled(types.map((t) => dnsQuery(hostname, t, DNS_SYSCALL[t])));
    found = [];
    for (let i = 0; i < types.length; i++) {
      if (settled[i].status !== "fulfilled") continue;
      for (const r of settled[i].value) found.push({ address: r.address, family: types[i] === "A" ? 4 : 6 });
    }
    if (found.length === 0) {
      const failure = settled.find((r) => r.status === "rejected" && r.reason.code !== "ENODATA" && r.reason.code !== "ENOTFOUND");
      throw dnsError(failure === undefined || failure.reason.code === "EBADQUERY" ? "ENOTFOUND" : failure.reason.code, "getaddrinfo", hostname, failure?.reason.cause);
    }
  }
  if (all) return found;
  return found[0] ?? { address: null, family: family === 6 ? 6 : 4 };
}

/** The promise API, as Node's `dns.promises` (and a Resolver's methods). */
function dnsPromiseApi() {
  const api = {
    // Arguments are checked at the call (a throw, as Node's); the answer is a promise.
    lookup: (hostname, options = undefined) => {
      if (hostname !== null && hostname !== undefined && hostname !== false) dnsCheckName(hostname);
      let family = 0;
      if (typeof options === "number") family = options;
      else if (options !== undefined && options !== null) {
        if (typeof options !== "object") throw invalidArgType("options", "of type object", options);
        family = options.family === "IPv6" ? 6 : options.family === "IPv4" ? 4 : options.family ?? 0;
      }
      if (family !== 0 && family !== 4 && family !== 6) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.family' must be one of: 0, 4, 6. Received ${family}`);
      }
      return dnsLookup(hostname || "", family, options?.all === true);
    },
    lookupService: () => { throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "The dns.lookupService method is not implemented"); },
    resolve: (hostname, rrtype = "A") => {
      dnsCheckName(hostname);
      if (typeof rrtype !== "string" || DNS_TYPES[rrtype] === undefined) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'rrtype' is invalid. Received '${rrtype}'`);
      }
      return dnsResolve(hostname, rrtype, undefined);
    },
    reverse: (ip) => {
      const name = dnsReverseName(ip);
      return dnsQuery(name, "PTR", "getHostByAddr").then(undefined, (e) => {
        throw dnsError(e.code, "getHostByAddr", ip, e.cause);
      });
    },
  };
  for (const rrtype of ObjectKeys(DNS_SYSCALL)) {
    const name = rrtype === "AAAA" ? "resolve6" : rrtype === "A" ? "resolve4" : `resolve${rrtype[0]}${rrtype.slice(1).toLowerCase()}`;
    api[name] = (hostname, options = undefined) => dnsResolve(dnsCheckName(hostname), rrtype, options);
  }
  return api;
}

/** The callback form of `f` (the last argument the callback; errors to it, never thrown). */
function dnsCallback(f) {
  return (...args) => {
    const callback = args.pop();
    validateFunction(callback, "callback");
    f(...args).then((value) => {
      if (value !== null && typeof value === "object" && !ArrayIsArray(value) && "address" in value && "family" in value) {
        callback(null, value.address, value.family); // lookup without `all`
      } else {
        callback(null, value);
      }
    }, (e) => callback(e));
    return undefined;
  };
}

function dnsModule() {
  const promises = dnsPromiseApi();
  let order = "verbatim";
  const common = {
    getServers: () => [...DNS_SERVERS],
    setServers: (servers) => { if (!ArrayIsArray(servers)) throw invalidArgType("servers", "an instance of Array", servers); },
    getDefaultResultOrder: () => order,
    setDefaultResultOrder: (value) => {
      if (value !== "ipv4first" && value !== "ipv6first" && value !== "verbatim") {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'dnsOrder' must be one of: 'verbatim', 'ipv4first', 'ipv6first'. Received '${value}'`);
      }
      order = value;
    },
  };
  const callbacks = {};
  for (const name of ObjectKeys(promises)) {
    callbacks[name] = name === "lookupService" ? promises.lookupService : dnsCallback(promises[name]);
  }
  // `util.promisify(dns.lookup)` answers `{ address, family }`, as Node's.
  ObjectDefineProperty(callbacks.lookup, SymbolFor("nodejs.util.promisify.custom"), {
    __proto__: null, value: promises.lookup, enumerable: false, writable: false, configurable: true,
  });
  class PromisesResolver {
    constructor() { Object.assign(this, promises); }
    cancel() {}
    setLocalAddress() {}
  }
  Object.assign(PromisesResolver.prototype, common);
  class Resolver {
    constructor() { Object.assign(this, callbacks); }
    cancel() {}
    setLocalAddress() {}
  }
  Object.assign(Resolver.prototype, common);
  const constants = {};
  for (const c of DNS_CODES) constants[c] = `E${c}`;
  const promisesModule = { ...promises, ...common, Resolver: PromisesResolver, ...constants };
  return { ...callbacks, ...common, ...constants, ADDRCONFIG: 1024, ALL: 256, V4MAPPED: 2048, Resolver, promises: promisesModule };
}

const DNS_PROMISES_NAMES = ["lookup", "lookupService", "resolve", "resolve4", "resolve6", "resolveAny", "resolveCaa",
  "resolveCname", "resolveMx", "resolveNaptr", "resolveNs", "resolvePtr", "resolveSoa", "resolveSrv", "resolveTxt",
  "reverse", "getServers", "setServers", "getDefaultResultOrder", "setDefaultResultOrder", "Resolver",
  "NODATA", "FORMERR", "SERVFAIL", "NOTFOUND", "NOTIMP", "REFUSED", "BADQUERY", "BADNAME", "BADFAMILY", "BADRESP",
  "CONNREFUSED", "TIMEOUT", "EOF", "FILE", "NOMEM", "DESTRUCTION", "BADSTR", "BADFLAGS", "NONAME", "BADHINTS",
  "NOTINITIALIZED", "LOADIPHLPAPI", "ADDRGETNETWORKPARAMS", "CANCELLED"];
const DNS_MODULE_NAMES = ["promises", "ADDRCONFIG", "ALL", "V4MAPPED", "lookup", "lookupService", "resolve", "resolve4",
  "resolve6", "resolveAny", "resolveCaa", "resolveCname", "resolveMx", "resolveNaptr", "resolveNs", "resolvePtr",
  "resolveSoa", "resolveSrv", "resolveTxt", "reverse", "getServers", "setServers", "getDefaultResultOrder",
  "setDefaultResultOrder", "Resolver", "NODATA", "FORMERR", "SERVFAIL", "NOTFOUND", "NOTIMP", "REFUSED", "BADQUERY",
  "BADNAME", "BADFAMILY", "BADRESP", "CONNREFUSED", "TIMEOUT", "EOF", "FILE", "NOMEM", "DESTRUCTION", "BADSTR",
  "BADFLAGS", "NONAME", "BADHINTS", "NOTINITIALIZED", "LOADIPHLPAPI", "ADDRGETNETWORKPARAMS", "CANCELLED"];
defineBuiltin("node:dns", DNS_MODULE_NAMES, dnsModule);
defineBuiltin("node:dns/promises", DNS_PROMISES_NAMES, () => builtinExports("node:dns").promises);
