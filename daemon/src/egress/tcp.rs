//! `cloudflare:sockets`' host calls: tenant code's outbound TCP (and TLS) connections, opened
//! by the supervisor through the egress gateway and relayed by `tcp_relay.rs`.
//!
//! - `tcp.connect` (JSON `{hostname, port, secureTransport, call?}`): answers JSON `{socket}`,
//!   the number the other calls name (u32 LE, first in their payload); `fetch.abort` naming
//!   `call` (the runtime's number for it, `egress::abort`) ends a connect still waiting (for its
//!   place, the resolver, the server or the handshake): a socket closed before it connected;
//! - `tcp.read` (the number): the next chunk the server sent (at most 64 KiB), empty at its EOF;
//! - `tcp.write` (the number, then at most 64 KiB): answered once the relay queued them;
//! - `tcp.shutdown` (the number): FIN after what is queued (the writable side's close);
//! - `tcp.close` (the number): the connection closed, after what is queued as far as the server
//!   takes it without waiting;
//! - `tcp.starttls` (the number, then JSON `{hostname}`): the plain connection, after what is
//!   queued, secured by a TLS handshake for that name (`startTls`); answers `{socket}`, a new
//!   number (the old one is gone).
//!
//! Guarantees:
//! - a connection is a subrequest of the gateway's: the tenant's allow rules decide as for a
//!   `CONNECT` to path `/` (so a rule allows sockets when it names the host and port and
//!   restricts neither methods, unless it lists `CONNECT`, nor paths), then the address policy
//!   (an IP literal directly, a name through the checked resolver, the connection going to a
//!   checked address only); port 25 is refused as Cloudflare refuses it; a worker whose
//!   `globalOutbound` is not the policy has no sockets;
//! - nothing is injected into a connection's bytes (secrets are HTTP headers; a socket carries
//!   whatever the tenant writes) and nothing is scrubbed from them;
//! - every connection and every refusal is audited: a refusal at once, a connection once it is
//!   over (bytes each way, duration, how it ended; `tcp_relay::Finish`);
//! - a connection is one of the request's open connections (`connections`: six at once with its
//!   fetches; one more waits for one of them to end, in turn, before it resolves or connects),
//!   its place held until the connection is over (closed, failed, or dropped with the request);
//!   kept in the request's `Resources` (`TcpSockets`) under numbers only its calls can name;
//!   dropped, so closed, when the request ends (a connect still waiting for its place included);
//!   a connect aborted while it waits never connects, nor takes a place it was waiting for;
//! - connecting takes at most [`CONNECT_TIMEOUT`] (and TLS `tcp_tls::HANDSHAKE_TIMEOUT`).
//!
//! Trusts: the tenant id and the request's `CallContext` (the supervisor attached them); nothing
//! in the payloads.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_rustls::rustls::ClientConfig;
use url::{Host, Url};

use super::audit::{now_ms, Record};
use super::connections;
use super::gateway::Gateway;
use super::policy::{decide, Decision, Target, TargetHost};
use super::resolver::resolve_checked;
use super::tcp_relay::{self, BoxIo, Closer, Command, Finish, SocketEnd, CHUNK};
use super::tcp_tls;
use crate::supervisor::{CallContext, Outbound, Resources};

/// Sockets one request may have open at once: the places of `connections` (which its fetches
/// share), so keeping one never finds this many open.
pub const MAX_SOCKETS: usize = super::connections::MAX_OPEN;
/// The longest establishing the TCP connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `secureTransport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    On,
    StartTls,
}

struct Entry {
    end: SocketEnd,
    _closer: Closer,
    mode: Mode,
}

/// A request's open sockets, by number (in its `Resources`; dropped, and so closed, with it).
#[derive(Default)]
pub struct TcpSockets {
    last: u32,
    open: HashMap<u32, Entry>,
}

impl TcpSockets {
    /// Whether another socket may open (a socket whose relay is over no longer counts).
    fn has_room(&mut self) -> bool {
        self.open.retain(|_, entry| !entry.end.is_over());
        self.open.len() < MAX_SOCKETS
    }

    fn insert(&mut self, entry: Entry) -> Option<u32> {
        if !self.has_room() {
            return None;
        }
        self.last = self.last.wrapping_add(1).max(1);
        self.open.insert(self.last, entry);
        Some(self.last)
    }
}

/// The JSON of `tcp.connect`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Connect {
    hostname: String,
    port: u32,
    #[serde(default)]
    secure_transport: Option<String>,
    /// The number `fetch.abort` names this connect by while it waits (`egress::abort`): a socket
    /// closed before it connected is never connected.
    #[serde(default)]
    call: Option<u32>,
}

/// Whether `host` holds only what a host name or IP literal may (as workerd checks).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
}

/// The host as the URL parser normalises it (lower case, IDNA, numeric IPv4 forms, IPv6).
fn parse_host(hostname: &str) -> Result<Host<String>, String> {
    let bad = || format!("invalid hostname {hostname:?}");
    if !valid_host(hostname) {
        return Err(bad());
    }
    let bracketed = if hostname.contains(':') && !hostname.starts_with('[') {
        format!("[{hostname}]")
    } else {
        hostname.to_owned()
    };
    let url = Url::parse(&format!("http://{bracketed}/")).map_err(|_| bad())?;
    url.host().map(|h| h.to_owned()).ok_or_else(bad)
}

fn socket_id(payload: &[u8]) -> Result<(u32, &[u8]), String> {
    let (id, rest) = payload
        .split_first_chunk::<4>()
        .ok_or("a tcp.* payload starts with the socket's number")?;
    Ok((u32::from_le_bytes(*id), rest))
}

fn end_of(resources: &Resources, id: u32) -> Result<SocketEnd, String> {
    resources
        .shared(|sockets: &mut TcpSockets| sockets.open.get(&id).map(|e| e.end.clone()))
        .ok_or_else(|| "socket is not open".to_owned())
}

fn answer(socket: u32) -> Vec<u8> {
    serde_json::json!({ "socket": socket })
        .to_string()
        .into_bytes()
}

/// `tcp.read`.
pub async fn read(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (id, _) = socket_id(payload)?;
    end_of(resources, id)?.read().await
}

/// `tcp.write`.
pub async fn write(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (id, bytes) = socket_id(payload)?;
    if bytes.len() > CHUNK {
        return Err(format!("a tcp.write carries at most {CHUNK} bytes"));
    }
    let end = end_of(resources, id)?;
    end.command(Command::Write(bytes.to_vec())).await?;
    Ok(Vec::new())
}

/// `tcp.shutdown`.
pub async fn shutdown(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (id, _) = socket_id(payload)?;
    end_of(resources, id)?.command(Command::Shutdown).await?;
    Ok(Vec::new())
}

/// `tcp.close`: dropping its entry drops its closer, which ends the relay.
pub fn close(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (id, _) = socket_id(payload)?;
    resources.shared(|sockets: &mut TcpSockets| sockets.open.remove(&id));
    Ok(Vec::new())
}

/// `tcp.starttls`.
pub async fn start_tls(
    resources: &Resources,
    payload: &[u8],
    tls: &Arc<ClientConfig>,
) -> Result<Vec<u8>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StartTls {
        hostname: String,
    }
    let (id, json) = socket_id(payload)?;
    let request: StartTls =
        serde_json::from_slice(json).map_err(|e| format!("a malformed tcp.starttls: {e}"))?;
    let entry = resources
        .shared(|sockets: &mut TcpSockets| match sockets.open.get(&id) {
            Some(entry) if entry.mode == Mode::StartTls => sockets.open.remove(&id).map(Ok),
            Some(_) => Some(Err(
                "The `secureTransport` socket option must be set to 'starttls' for startTls to be used.",
            )),
            None => None,
        })
        .ok_or("socket is not open")??;
    let (tx, rx) = oneshot::channel();
    entry.end.command(Command::Detach(tx)).await?;
    let (io, finish) = rx.await.map_err(|_| "socket is not open")?;
    drop(entry);
    let host = parse_host(&request.hostname)?.to_string();
    let mut finish = finish;
    let io = match tcp_tls::handshake(tls, io, &host).await {
        Ok(io) => io,
        Err(why) => {
            *finish.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            return Err(why);
        }
    };
    finish.record.scheme = "tcp+starttls".into();
    let (end, closer) = tcp_relay::spawn(io, finish);
    let entry = Entry {
        end,
        _closer: closer,
        mode: Mode::On,
    };
    let socket = resources
        .shared(|sockets: &mut TcpSockets| sockets.insert(entry))
        .ok_or("too many open sockets")?;
    Ok(answer(socket))
}

impl Gateway {
    /// `tcp.connect` for the request of `context`.
    pub async fn tcp_connect(
        &self,
        context: CallContext,
        payload: Vec<u8>,
        tls: Arc<ClientConfig>,
    ) -> Result<Vec<u8>, String> {
        let index = usize::try_from(context.tenant.0).map_err(|_| "unknown tenant")?;
        let rules = self
            .rules(index)
            .ok_or("this tenant has no egress configuration")?;
        let request: Connect = serde_json::from_slice(&payload)
            .map_err(|e| format!("a malformed tcp.connect: {e}"))?;
        let mode = match request.secure_transport.as_deref().unwrap_or("off") {
            "off" => Mode::Off,
            "on" => Mode::On,
            "starttls" => Mode::StartTls,
            other => {
                return Err(format!(
                    "Unsupported value in secureTransport socket option: {other}"
                ))
            }
        };
        let port = u16::try_from(request.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port {}", request.port))?;
        let host = parse_host(&request.hostname)?;
        let mut record = Record {
            at_ms: now_ms(),
            tenant: rules.name.clone(),
            worker: context.caller.worker.as_ref().map(|w| w.id.to_hex()),
            method: "CONNECT".into(),
            scheme: if mode == Mode::On { "tls" } else { "tcp" }.into(),
            host: host.to_string(),
            port,
            path: String::new(),
            rule: None,
            verdict: "denied",
            reason: None,
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            ms: 0,
            queued_ms: 0,
        };
        let started = Instant::now();
        let refuse = |mut record: Record, why: String| {
            record.reason = Some(why.clone());
            record.ms = started.elapsed().as_millis() as u64;
            self.audit.record(index, record);
            Err(why)
        };
        match &context.outbound {
            Outbound::Policy => {}
            Outbound::Blocked => {
                return refuse(
                    record,
                    "this worker has no network (its globalOutbound is null)".into(),
                )
            }
            Outbound::Worker(_) => {
                return refuse(
                    record,
                    "connect() is not available to a worker whose globalOutbound is another worker"
                        .into(),
                )
            }
        }
        if port == 25 {
            return refuse(record, "Connections to port 25 are prohibited".into());
        }
        let target_host = match &host {
            Host::Domain(d) => TargetHost::Domain(d),
            Host::Ipv4(ip) => TargetHost::Ip((*ip).into()),
            Host::Ipv6(ip) => TargetHost::Ip((*ip).into()),
        };
        let target = Target {
            host: target_host,
            port,
            method: "CONNECT",
            path: "/",
        };
        let rule = match decide(&rules.rules, &target) {
            Decision::Allowed(rule) => rule,
            Decision::Denied(denial) => {
                let why = format!(
                    "egress to {}:{port} denied: {}",
                    record.host,
                    denial.reason()
                );
                return refuse(record, why);
            }
        };
        record.rule = Some(rule);
        // From here the connect may wait (for a place, the resolver, the server, the handshake):
        // a close() before it connected (`fetch.abort` naming `call`) ends it wherever it is.
        // Allowed by the rules, ended by the tenant: audited as allowed, with the reason.
        let abandoned = |mut record: Record| {
            record.verdict = "allowed";
            refuse(record, "the socket was closed before it connected".into())
        };
        let Some((_watch, mut aborted)) = super::abort::watch(&context.resources, request.call)
        else {
            return abandoned(record);
        };
        // One of the request's open connections: waits (holding no lock) while six are open.
        let waiting = Instant::now();
        let slot = tokio::select! {
            biased;
            _ = &mut aborted => return abandoned(record),
            slot = connections::open(&context.resources) => slot,
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(closed) => return refuse(record, closed.to_string()),
        };
        record.queued_ms = u64::try_from(waiting.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The addresses to connect to, each checked (a name's, all of them, by the resolver).
        let literal: Option<IpAddr> = match &host {
            Host::Domain(_) => None,
            Host::Ipv4(ip) => Some((*ip).into()),
            Host::Ipv6(ip) => Some((*ip).into()),
        };
        let addresses: Vec<SocketAddr> = if let Some(ip) = literal {
            if let Err(refused) = self.addresses.check(ip) {
                let why = format!("egress to {} denied: {refused}", record.host);
                return refuse(record, why);
            }
            vec![SocketAddr::new(ip, port)]
        } else {
            let resolved = tokio::select! {
                biased;
                _ = &mut aborted => return abandoned(record),
                resolved = resolve_checked(&self.addresses, &record.host) => resolved,
            };
            match resolved {
                Ok(addrs) => addrs
                    .into_iter()
                    .map(|a| SocketAddr::new(a.ip(), port))
                    .collect(),
                Err(e) => {
                    let why = match super::resolver::refusal_in(e.as_ref()) {
                        Some(refused) => format!("egress to {} denied: {refused}", record.host),
                        None => e.to_string(),
                    };
                    return refuse(record, why);
                }
            }
        };
        record.verdict = "allowed";
        let connected = tokio::select! {
            biased;
            _ = &mut aborted => return abandoned(record),
            connected = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect(&addresses[..]),
            ) => connected,
        };
        let stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                let why = format!(
                    "proxy request failed, cannot connect to the specified address ({})",
                    tcp_relay::describe_connect(&e)
                );
                return refuse(record, why);
            }
            Err(_) => {
                let why = "proxy request failed, cannot connect to the specified address \
                           (the connection timed out)"
                    .to_owned();
                return refuse(record, why);
            }
        };
        let _ = stream.set_nodelay(true);
        let mut io: BoxIo = Box::new(stream);
        if mode == Mode::On {
            let secured = tokio::select! {
                biased;
                _ = &mut aborted => return abandoned(record),
                secured = tcp_tls::handshake(&tls, io, &record.host) => secured,
            };
            io = match secured {
                Ok(io) => io,
                Err(why) => return refuse(record, why),
            };
        }
        let finish = Finish {
            audit: Arc::clone(&self.audit),
            index,
            record,
            started,
            bytes_in: Arc::default(),
            bytes_out: Arc::default(),
            failure: Arc::default(),
            slot: Some(slot),
        };
        let (end, closer) = tcp_relay::spawn(io, finish);
        let entry = Entry {
            end,
            _closer: closer,
            mode,
        };
        // Dropped (closed, and audited) if the request has no room for it after all (never: it
        // holds one of the request's places).
        let socket = context
            .resources
            .shared(|sockets: &mut TcpSockets| sockets.insert(entry))
            .ok_or_else(too_many)?;
        Ok(answer(socket))
    }
}

fn too_many() -> String {
    format!("too many open sockets: a request may have at most {MAX_SOCKETS} open at once")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_and_normalised_as_urls_are() {
        assert_eq!(
            parse_host("Example.COM").expect("name").to_string(),
            "example.com"
        );
        assert_eq!(
            parse_host("2130706433").expect("ip").to_string(),
            "127.0.0.1"
        );
        assert_eq!(parse_host("::1").expect("v6").to_string(), "[::1]");
        assert_eq!(parse_host("[::1]").expect("v6").to_string(), "[::1]");
        for bad in ["", "a b", "user@host", "host/path", "h?x", "a#b", "%41"] {
            assert!(parse_host(bad).is_err(), "{bad:?}");
        }
        assert!(parse_host(&"a".repeat(256)).is_err());
    }

    #[test]
    fn payloads_name_their_socket() {
        assert_eq!(socket_id(&[7, 0, 0, 0, 1]), Ok((7, &[1u8][..])));
        assert!(socket_id(&[7, 0]).is_err());
    }
}
