//! Why the daemon's egress could not be built from a configuration, or a reload's rules were
//! refused: one variant per cause, each naming the tenant and the rule.
//!
//! Guarantees: no variant carries a secret's value (`Secret` holds the header name and why the
//! value was refused, never the value). Trusts nothing.

use crate::config::BadPrivateNet;

use super::policy::BadRule;
use super::secrets::SecretError;

/// One configured egress rule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Its host, ports, methods or path prefix.
    #[error("{0}")]
    Criteria(BadRule),
    /// An `inject_headers` key that is not an HTTP header name.
    #[error("inject_headers: {0:?} is not a header name")]
    HeaderName(String),
    /// A header the HTTP client owns (framing, connection, host) or negotiates.
    #[error("inject_headers: {0} cannot be injected")]
    NotInjectable(String),
    /// The name of the secret to inject is not a secret name.
    #[error("inject_headers {header}: {source}")]
    Secret { header: String, source: SecretError },
}

/// The egress of a configuration, refused.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// `egress.allow_private` names something that is not a network.
    #[error(transparent)]
    PrivateNet(#[from] BadPrivateNet),
    /// Rule `index` (from 1) of `tenant`.
    #[error("tenant {tenant}: egress rule {index}: {source}")]
    Rule {
        tenant: String,
        index: usize,
        source: RuleError,
    },
    /// A reload names a tenant the pool gave no id (a bug in the caller's ordering).
    #[error("tenant {0} has no id")]
    NoTenantId(String),
    /// The HTTP client (TLS roots, resolver) could not be built.
    #[error("cannot build the egress HTTP client: {0}")]
    Client(reqwest::Error),
    /// `cloudflare:sockets`' TLS (`egress.sockets_extra_roots`) could not be configured.
    #[error("{0}")]
    SocketsTls(String),
}
