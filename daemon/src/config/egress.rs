//! `[egress]` and `[[tenants.egress]]`: what the operator lets tenants' rules reach beyond the
//! public internet, each tenant's allow rules as written, and secret values that are never
//! printed. Checked at load (`Config::validate`) and compiled by `egress::policy`.

use serde::Deserialize;

/// `[egress]`: what the operator lets tenants' allow rules reach beyond the public internet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSettings {
    /// Networks (CIDR, e.g. `"127.0.0.0/8"`, `"10.1.2.3/32"`) that tenants' rules may reach even
    /// though they are loopback, private, link-local, metadata or otherwise special. Default:
    /// none, so no tenant can reach the host or its network whatever its rules say.
    pub allow_private: Vec<String>,
    /// The longest one outbound hop may take, its answer's body included (default 30 s).
    pub hop_timeout_ms: u64,
    /// PEM files of certificate authorities that `cloudflare:sockets` TLS connections
    /// (`secureTransport: "on"`, `startTls()`) trust besides the webpki roots: a private CA's
    /// database, say. Read at start; a file that holds no certificate stops the daemon. It does
    /// not change what `fetch()` over https trusts (the webpki roots). Default: none.
    pub sockets_extra_roots: Vec<String>,
}

impl Default for EgressSettings {
    fn default() -> Self {
        EgressSettings {
            allow_private: Vec::new(),
            hop_timeout_ms: 30_000,
            sockets_extra_roots: Vec::new(),
        }
    }
}

/// An `egress.allow_private` entry that is not a network.
#[derive(Debug, thiserror::Error)]
#[error("egress.allow_private {net:?}: {source}")]
pub struct BadPrivateNet {
    pub net: String,
    pub source: ipnet::AddrParseError,
}

impl EgressSettings {
    /// `allow_private`, parsed (validated at load, so this cannot fail afterwards).
    pub fn allow_private_nets(&self) -> Result<Vec<ipnet::IpNet>, BadPrivateNet> {
        self.allow_private
            .iter()
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .map(|net| net.trunc())
                    .map_err(|source| BadPrivateNet {
                        net: n.clone(),
                        source,
                    })
            })
            .collect()
    }
}

/// A secret's value: never printed (`Debug` shows `[redacted]`), never serialised.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One `[[tenants.egress]]` allow rule, as written (checked by `egress::policy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRuleConfig {
    /// `api.example.com` (exact), an IP literal (`203.0.113.7`, `::1`), or `*.example.com`
    /// (any name below `example.com`, not `example.com` itself).
    pub host: String,
    /// Ports allowed; any when absent.
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
    /// Methods allowed (upper case); any when absent.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// The URL path must start with this (after the URL parser resolved `..`); any when absent.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Header name -> secret name: sent with the value of that tenant secret on requests this
    /// rule allows (replacing a header of that name the tenant set).
    #[serde(default)]
    pub inject_headers: std::collections::BTreeMap<String, String>,
    /// Whether `inject_headers` may go over plain `http` to an address that is not loopback. By
    /// default a hop that would inject them is refused unless it is `https` (or to a loopback
    /// address, which never leaves the host): a secret sent in cleartext is readable on the
    /// network, and a rule names a host and ports, not a scheme.
    #[serde(default)]
    pub inject_over_http: bool,
}
