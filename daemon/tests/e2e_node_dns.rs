//! `node:dns` end to end (a real daemon, jailed workers), as workerd has it: each query is one
//! fetch() of a DNS-over-HTTPS JSON API, so it goes where the worker's fetches go. Here the
//! worker's `globalOutbound` is another worker that answers as 1.1.1.1's JSON API does (checking
//! the path, the `name` and `type` and the `accept` header), so every record type, the callback
//! and promise APIs, `lookup`, `reverse`, a `Resolver` and the DNS errors are checked without a
//! network; a worker without egress rules gets EBADQUERY.
mod common;

use common::*;
use serde_json::{json, Value};

const RESOLVER: &str = r#"
const zone = {
  "example.test|A": [{ type: 1, data: "192.0.2.1", TTL: 60 }, { type: 1, data: "192.0.2.2", TTL: 30 }],
  "example.test|AAAA": [{ type: 28, data: "2001:db8::1", TTL: 60 }],
  "example.test|MX": [{ type: 15, data: "10 mail.example.test.", TTL: 60 }],
  "example.test|TXT": [{ type: 16, data: "\"v=spf1 -all\" \"a \\\"quoted\\\" part\"", TTL: 60 }],
  "example.test|SOA": [{ type: 6, data: "ns1.example.test. admin.example.test. 2024010101 7200 3600 1209600 300", TTL: 60 }],
  "example.test|CAA": [{ type: 257, data: "0 issue \"ca.example\"", TTL: 60 }],
  "example.test|NS": [{ type: 2, data: "ns1.example.test.", TTL: 60 }],
  "example.test|NAPTR": [{ type: 35, data: "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.test.", TTL: 60 }],
  "_sip._udp.example.test|SRV": [{ type: 33, data: "10 5 5060 sip.example.test.", TTL: 60 }],
  "www.example.test|CNAME": [{ type: 5, data: "example.test.", TTL: 60 }],
  "www.example.test|A": [{ type: 5, data: "example.test.", TTL: 60 }, { type: 1, data: "192.0.2.1", TTL: 60 }],
  "1.2.0.192.in-addr.arpa|PTR": [{ type: 12, data: "host.example.test.", TTL: 60 }],
  // As 1.1.1.1 answers CAA and NAPTR: the generic form (RFC 3597).
  "hex.test|CAA": [{ type: 257, data: "\\# 13 00 05 69 73 73 75 65 63 61 2e 68 65 78", TTL: 60 }],
  "hex.test|NAPTR": [{ type: 35, data: "\\# 35 00 64 00 0a 01 53 07 53 49 50 2b 44 32 55 00 04 5f 73 69 70 04 5f 75 64 70 03 68 65 78 04 74 65 73 74 00", TTL: 60 }],
  "example.test|ANY": [{ type: 1, data: "192.0.2.1", TTL: 60 }, { type: 15, data: "10 mail.example.test.", TTL: 60 }, { type: 16, data: "\"v=spf1 -all\"", TTL: 60 }],
  "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa|PTR": [{ type: 12, data: "v6.example.test.", TTL: 60 }],
};
export default { async fetch(req) {
  const u = new URL(req.url);
  if (u.origin !== "https://cloudflare-dns.com" || u.pathname !== "/dns-query" || req.headers.get("accept") !== "application/dns-json") {
    return new Response(`not a DoH JSON query: ${req.url}`, { status: 400 });
  }
  const name = u.searchParams.get("name");
  if (name === "servfail.test") return Response.json({ Status: 2 });
  const answer = zone[`${name}|${u.searchParams.get("type")}`];
  return Response.json({ Status: answer === undefined && name.startsWith("nx") ? 3 : 0, Answer: answer ?? [] });
} };
"#;

const CLIENT: &str = r#"
import dns from "node:dns";
import dnsPromises from "node:dns/promises";
const code = async (p) => { try { await p; return "resolved"; } catch (e) { return `${e.code} ${e.syscall} ${e.hostname}`; } };
export default { async fetch() {
  const out = {};
  out.a = await dnsPromises.resolve4("example.test");
  out.ttl = await dnsPromises.resolve4("example.test", { ttl: true });
  out.aaaa = await dnsPromises.resolve6("example.test");
  out.mx = await dnsPromises.resolveMx("example.test");
  out.txt = await dnsPromises.resolveTxt("example.test");
  out.soa = await dnsPromises.resolveSoa("example.test");
  out.caa = await dnsPromises.resolveCaa("example.test");
  out.ns = await dnsPromises.resolveNs("example.test");
  out.naptr = await dnsPromises.resolveNaptr("example.test");
  out.hex = [await dnsPromises.resolveCaa("hex.test"), await dnsPromises.resolveNaptr("hex.test")];
  out.any = await dnsPromises.resolveAny("example.test");
  out.ptr = await dnsPromises.resolvePtr("1.2.0.192.in-addr.arpa");
  out.literal = [await dnsPromises.lookup("127.0.0.1"), await dnsPromises.lookup("::1", { all: true })];
  out.resolverCallback = await new Promise((r) => new dns.Resolver().resolve4("example.test", (e, v) => r([e, v])));
  try { dns.resolve4(42, () => {}); } catch (e) { out.sync = e.code; }
  try { dnsPromises.lookup(1); } catch (e) { out.syncLookup = e.code; }
  out.srv = await dnsPromises.resolveSrv("_sip._udp.example.test");
  out.cname = await dnsPromises.resolveCname("www.example.test");
  out.chain = await dnsPromises.resolve4("www.example.test");
  out.reverse = [await dnsPromises.reverse("192.0.2.1"), await dnsPromises.reverse("2001:db8::1")];
  out.lookup = await dnsPromises.lookup("example.test");
  out.lookupAll = await dnsPromises.lookup("example.test", { all: true });
  out.lookup6 = await dnsPromises.lookup("example.test", 6);
  out.callback = await new Promise((r) => dns.lookup("example.test", (e, address, family) => r([e, address, family])));
  out.resolveMx = await new Promise((r) => dns.resolve("example.test", "MX", (e, v) => r([e, v])));
  out.resolver = await new dns.promises.Resolver().resolve4("example.test");
  out.same = dns.promises.resolve4 === dnsPromises.resolve4;
  out.errors = [
    await code(dnsPromises.resolve4("nx.example.test")),
    await code(dnsPromises.resolveMx("www.example.test")),
    await code(dnsPromises.resolve4("servfail.test")),
    await code(dnsPromises.lookup("nx.example.test")),
    await new Promise((r) => dns.resolve4("nx.example.test", (e) => r(e.code))),
    await code(dnsPromises.reverse("192.0.2.9")),
  ];
  try { dns.lookupService("192.0.2.1", 80, () => {}); } catch (e) { out.lookupService = e.code; }
  out.servers = dns.getServers();
  out.constants = [dns.NOTFOUND, dns.NODATA, dnsPromises.SERVFAIL];
  return Response.json(out);
} };
"#;

fn create(d: &Daemon, token: &str, main: &str, outbound: Option<Value>) -> String {
    let mut body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": main },
        "compatibilityDate": "2026-11-01",
        "compatibilityFlags": ["nodejs_compat"],
    });
    if let Some(outbound) = outbound {
        body["globalOutbound"] = outbound;
    }
    load_code(d, token, &body)
}

#[test]
fn node_dns_resolves_over_dns_over_https_where_the_workers_fetches_go() {
    let d = Daemon::start("node-dns", 1, 1, CPU_NOT_TESTED);
    let t = tenant_token(0);
    let resolver = create(&d, &t, RESOLVER, None);
    let client = create(&d, &t, CLIENT, Some(json!({ "worker": resolver })));
    let got = fetch_json(&d, &t, &client, "");
    let expected = json!({
        "a": ["192.0.2.1", "192.0.2.2"],
        "ttl": [{ "address": "192.0.2.1", "ttl": 60 }, { "address": "192.0.2.2", "ttl": 30 }],
        "aaaa": ["2001:db8::1"],
        "mx": [{ "priority": 10, "exchange": "mail.example.test" }],
        "txt": [["v=spf1 -all", "a \"quoted\" part"]],
        "soa": { "nsname": "ns1.example.test", "hostmaster": "admin.example.test", "serial": 2024010101u32,
                 "refresh": 7200, "retry": 3600, "expire": 1209600, "minttl": 300 },
        "caa": [{ "critical": 0, "issue": "ca.example" }],
        "ns": ["ns1.example.test"],
        "naptr": [{ "flags": "S", "service": "SIP+D2U", "regexp": "", "replacement": "_sip._udp.example.test",
                    "order": 100, "preference": 10 }],
        "srv": [{ "priority": 10, "weight": 5, "port": 5060, "name": "sip.example.test" }],
        "cname": ["example.test"],
        "chain": ["192.0.2.1"],
        "reverse": [["host.example.test"], ["v6.example.test"]],
        "lookup": { "address": "192.0.2.1", "family": 4 },
        "lookupAll": [{ "address": "192.0.2.1", "family": 4 }, { "address": "192.0.2.2", "family": 4 },
                      { "address": "2001:db8::1", "family": 6 }],
        "hex": [[{ "critical": 0, "issue": "ca.hex" }],
                [{ "flags": "S", "service": "SIP+D2U", "regexp": "", "replacement": "_sip._udp.hex.test",
                   "order": 100, "preference": 10 }]],
        "any": [{ "address": "192.0.2.1", "ttl": 60, "type": "A" },
                { "priority": 10, "exchange": "mail.example.test", "type": "MX" },
                { "entries": ["v=spf1 -all"], "type": "TXT" }],
        "ptr": ["host.example.test"],
        "literal": [{ "address": "127.0.0.1", "family": 4 }, [{ "address": "::1", "family": 6 }]],
        "resolverCallback": [null, ["192.0.2.1", "192.0.2.2"]],
        "sync": "ERR_INVALID_ARG_TYPE",
        "syncLookup": "ERR_INVALID_ARG_TYPE",
        "lookup6": { "address": "2001:db8::1", "family": 6 },
        "callback": [null, "192.0.2.1", 4],
        "resolveMx": [null, [{ "priority": 10, "exchange": "mail.example.test" }]],
        "resolver": ["192.0.2.1", "192.0.2.2"],
        "same": true,
        "errors": [
            "ENOTFOUND queryA nx.example.test",
            "ENODATA queryMx www.example.test",
            "ESERVFAIL queryA servfail.test",
            "ENOTFOUND getaddrinfo nx.example.test",
            "ENOTFOUND",
            "ENODATA getHostByAddr 192.0.2.9",
        ],
        "lookupService": "ERR_METHOD_NOT_IMPLEMENTED",
        "servers": ["1.1.1.1", "2606:4700:4700::1111", "1.0.0.1", "2606:4700:4700::1001"],
        "constants": ["ENOTFOUND", "ENODATA", "ESERVFAIL"],
    });
    assert_eq!(got, expected, "{got:#}");

    // Without a globalOutbound, the query follows the tenant's egress rules: none here.
    let stranded = create(
        &d,
        &t,
        "import dns from 'node:dns'; export default { async fetch() { try { await dns.promises.resolve4('example.test'); return new Response('resolved'); } catch (e) { return new Response(`${e.code} ${e.cause?.message}`); } } };",
        None,
    );
    let (status, text) = fetch(&d, &t, &stranded);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("EBADQUERY") && text.contains("egress"),
        "{text}"
    );
}
