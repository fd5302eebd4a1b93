//! Outbound network for tenant code: the `fetch` host call's gateway, its allow-list policy,
//! the SSRF defence, tenants' secrets and the egress audit.
//!
//! - `policy`: the pure allow-rule matcher (deny by default, first match wins);
//! - `addr`: which addresses may be reached (public, or the operator's `allow_private`);
//! - `resolver`: DNS resolution whose every answer is checked before any connection;
//! - `wire`: the host call's payloads;
//! - `secrets`: tenants' secret values, for injection; `scrub`: finding them in answers;
//! - `audit`: one record per outbound request, on stderr and in a ring per tenant;
//! - `gateway`: the host call itself (`hop`: one hop's headers, errors and body);
//! - `outbound`: a Loader worker's `globalOutbound` (no network, or another worker);
//! - `stream`: answers and request bodies that stream (`upload_length`: one whose length the
//!   runtime knows, sent with it); `abort`: a fetch aborted while it waits;
//! - `websocket` (under `gateway`): a fetch's WebSocket handshake and its outbound socket,
//!   relayed by `websocket_relay`;
//! - `tcp`: `cloudflare:sockets`' connections (the `tcp.*` host calls), relayed by `tcp_relay`,
//!   secured by `tcp_tls`;
//! - `connections`: a request's six open connections (fetches and sockets), more waiting.
//!
//! Guarantees: a tenant with no rules has no network; tenant code never receives a secret
//! value (see `gateway`). Trusts: the config; the supervisor's tenant ids, which are the index
//! of the tenant in the config (as `supervisor::tenants` assigns them).

mod abort;
mod addr;
mod audit;
pub(crate) mod connections;
mod error;
mod gateway;
mod hop;
mod outbound;
mod policy;
mod resolver;
mod scrub;
mod secrets;
mod stream;
mod tcp;
mod tcp_relay;
mod tcp_tls;
#[cfg(test)]
mod test_upstream;
mod upload_length;
mod websocket_relay;
mod wire;

use std::sync::Arc;

use reqwest::header::HeaderName;

pub use abort::watch as watch_abort;
pub use audit::{Record, RING_LEN as AUDIT_RING_LEN};
pub use error::{EgressError, RuleError};
pub use outbound::{WorkerAnswer, WorkerDispatch, WorkerRequest};
pub use secrets::{check_secret, Deleted, Replaced, SecretError};
pub use stream::{from_worker, hold_answer, release_untaken_upload, upload_stream, UploadStream};
pub use wire::FetchRequest;
pub use wire::{decode_request, encode_response, ResponseHead};

use crate::config::{Config, EgressRuleConfig};
use crate::supervisor::HostCalls;

/// Headers the HTTP client owns (framing, connection management, the target host): neither
/// tenant code nor a rule may set them.
pub(crate) const CLIENT_OWNED: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// Headers a rule may not inject: the client's own, and the encodings it negotiates.
fn not_injectable(name: &str) -> bool {
    CLIENT_OWNED.contains(&name) || name == "accept-encoding"
}

/// A configured rule, checked: its criteria and what it injects.
fn rule_of(rule: &EgressRuleConfig) -> Result<(policy::Rule, gateway::Injects), RuleError> {
    let criteria = policy::Rule::new(
        &rule.host,
        rule.ports.clone(),
        rule.methods.clone(),
        rule.path_prefix.clone(),
    )
    .map_err(RuleError::Criteria)?;
    let mut injects = Vec::new();
    for (header, secret) in &rule.inject_headers {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| RuleError::HeaderName(header.clone()))?;
        if not_injectable(name.as_str()) {
            return Err(RuleError::NotInjectable(header.clone()));
        }
        check_secret(secret, "x").map_err(|source| RuleError::Secret {
            header: header.clone(),
            source,
        })?;
        injects.push((name, secret.clone()));
    }
    Ok((
        criteria,
        gateway::Injects {
            headers: injects,
            over_http: rule.inject_over_http,
        },
    ))
}

/// Checks one configured rule (config validation).
pub fn check_rule(rule: &EgressRuleConfig) -> Result<(), RuleError> {
    rule_of(rule).map(|_| ())
}

/// An answer to [`Egress::request_as`]: status, headers (lower-case names), body (scrubbed).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of header `name` (lower case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The daemon's egress: the gateway, and the secrets and audit the API reaches.
pub struct Egress {
    gateway: Arc<gateway::Gateway>,
    secrets: Arc<secrets::Secrets>,
    audit: Arc<audit::Audit>,
    /// Tenant names by index (`TenantId`).
    names: std::sync::RwLock<Vec<String>>,
    /// How the secrets stored by daemons sharing the store are followed (metrics).
    secrets_follow: crate::metrics::SecretsFollow,
    /// `cloudflare:sockets`' TLS (`tcp_tls`).
    sockets_tls: Arc<tokio_rustls::rustls::ClientConfig>,
}

/// No network: a tenant the configuration no longer names.
fn no_rules(name: String) -> gateway::TenantRules {
    gateway::TenantRules {
        name,
        rules: Vec::new(),
        injects: Vec::new(),
    }
}

/// `tenant`'s egress rules, checked.
fn tenant_rules(t: &crate::config::TenantConfig) -> Result<gateway::TenantRules, EgressError> {
    let mut rules = Vec::new();
    let mut injects = Vec::new();
    for (i, rule) in t.egress.iter().enumerate() {
        let (criteria, inject) = rule_of(rule).map_err(|source| EgressError::Rule {
            tenant: t.id.clone(),
            index: i + 1,
            source,
        })?;
        rules.push(criteria);
        injects.push(inject);
    }
    Ok(gateway::TenantRules {
        name: t.id.clone(),
        rules,
        injects,
    })
}

impl Egress {
    /// From a validated config.
    pub fn new(config: &Config) -> Result<Egress, EgressError> {
        let addresses = Arc::new(addr::AddressPolicy::new(
            config.egress.allow_private_nets()?,
        ));
        let tenants = config
            .tenants
            .iter()
            .map(tenant_rules)
            .collect::<Result<Vec<_>, _>>()?;
        let secrets = Arc::new(secrets::Secrets::new(
            config.tenants.iter().map(|t| t.secrets.clone()).collect(),
        ));
        let audit = Arc::new(audit::Audit::new(config.tenants.len()));
        let gateway = gateway::Gateway::new(
            tenants,
            Arc::clone(&secrets),
            Arc::clone(&audit),
            addresses,
            std::time::Duration::from_millis(config.egress.hop_timeout_ms.max(1)),
        )?;
        let sockets_tls = tcp_tls::client_config(&config.egress.sockets_extra_roots)
            .map_err(|e| EgressError::SocketsTls(e.to_string()))?;
        Ok(Egress {
            sockets_tls,
            gateway: Arc::new(gateway),
            secrets,
            audit,
            names: std::sync::RwLock::new(config.tenants.iter().map(|t| t.id.clone()).collect()),
            secrets_follow: crate::metrics::SecretsFollow::default(),
        })
    }

    /// How the secrets stored by daemons sharing the store are followed (`serve`), for the
    /// metrics.
    pub fn secrets_follow(&self) -> &crate::metrics::SecretsFollow {
        &self.secrets_follow
    }

    /// A reloaded configuration's egress rules and file secrets. `id_of` names each tenant's
    /// index, the pool's `TenantId` (which a reload never changes, and which a new tenant gets
    /// from the pool first). A tenant the file no longer names loses its rules and file secrets.
    /// Refused whole, the running rules staying, when a rule does not check. The caller then
    /// sets the secrets stored through the API again (they win over the file's, as at start).
    pub fn reload(
        &self,
        config: &Config,
        id_of: impl Fn(&str) -> Option<stockade_cordon::TenantId>,
    ) -> Result<(), EgressError> {
        let mut updates = Vec::new();
        for t in &config.tenants {
            let index = id_of(&t.id)
                .and_then(|id| usize::try_from(id.0).ok())
                .ok_or_else(|| EgressError::NoTenantId(t.id.clone()))?;
            updates.push((index, t, tenant_rules(t)?));
        }
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        let len = updates
            .iter()
            .map(|(index, ..)| index + 1)
            .fold(names.len(), usize::max);
        names.resize(len, String::new());
        // Every known tenant starts with no network and no file secrets; the file's get theirs.
        let mut rules: Vec<Arc<gateway::TenantRules>> = names
            .iter()
            .map(|n| Arc::new(no_rules(n.clone())))
            .collect();
        let mut file_secrets = vec![None; len];
        for (index, t, tenant) in updates {
            names[index] = t.id.clone();
            rules[index] = Arc::new(tenant);
            file_secrets[index] = Some(&t.secrets);
        }
        for (index, secrets) in file_secrets.into_iter().enumerate() {
            self.secrets
                .configure(index, secrets.unwrap_or(&Default::default()));
        }
        self.audit.ensure(len);
        self.gateway.set_rules(rules);
        Ok(())
    }

    /// Registers the `fetch` host call, `fetch.read`/`fetch.cancel` for the answers whose bodies
    /// stream, `fetch.write` for request bodies that do (see `stream`), and `fetch.abort` for a
    /// fetch (or a service binding's) aborted while it waits (see `abort`).
    pub fn register(&self, calls: &mut HostCalls) {
        let gateway = Arc::clone(&self.gateway);
        calls.register_in_context("fetch", move |context, payload| {
            let gateway = Arc::clone(&gateway);
            async move { gateway.fetch_in(context, payload).await }
        });
        calls.register_in_context("fetch.read", |context, payload| async move {
            stream::read_next(&context.resources, &payload)
                .await
                .map_err(|e| e.to_string())
        });
        calls.register_in_context("fetch.write", |context, payload| async move {
            stream::write(&context.resources, &payload)
                .await
                .map_err(|e| e.to_string())
        });
        calls.register_in_context("fetch.cancel", |context, payload| async move {
            stream::cancel(&context.resources, &payload).map_err(|e| e.to_string())
        });
        calls.register_in_context("fetch.abort", |context, payload| async move {
            abort::abort(&context.resources, &payload)
        });
        self.register_sockets(calls);
    }

    /// Registers `cloudflare:sockets`' `tcp.*` host calls (see `tcp`).
    fn register_sockets(&self, calls: &mut HostCalls) {
        let gateway = Arc::clone(&self.gateway);
        let tls = Arc::clone(&self.sockets_tls);
        calls.register_in_context("tcp.connect", move |context, payload| {
            let gateway = Arc::clone(&gateway);
            let tls = Arc::clone(&tls);
            async move { gateway.tcp_connect(context, payload, tls).await }
        });
        calls.register_in_context("tcp.read", |context, payload| async move {
            tcp::read(&context.resources, &payload).await
        });
        calls.register_in_context("tcp.write", |context, payload| async move {
            tcp::write(&context.resources, &payload).await
        });
        calls.register_in_context("tcp.shutdown", |context, payload| async move {
            tcp::shutdown(&context.resources, &payload).await
        });
        calls.register_in_context("tcp.close", |context, payload| async move {
            tcp::close(&context.resources, &payload)
        });
        let tls = Arc::clone(&self.sockets_tls);
        calls.register_in_context("tcp.starttls", move |context, payload| {
            let tls = Arc::clone(&tls);
            async move { tcp::start_tls(&context.resources, &payload, &tls).await }
        });
    }

    /// Sets how requests reach Loader workers (`globalOutbound: {"worker": id}`); once.
    pub fn set_worker_dispatch(&self, dispatch: WorkerDispatch) {
        let _ = self.gateway.dispatch.set(dispatch);
    }

    fn index(&self, tenant: &str) -> Result<usize, SecretError> {
        self.names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .position(|n| n == tenant)
            .ok_or(SecretError::NoTenant)
    }

    /// Sets `tenant`'s secret `name` (in memory); what it replaced, for [`Egress::undo_secret`].
    pub fn set_secret(
        &self,
        tenant: &str,
        name: &str,
        value: String,
    ) -> Result<Replaced, SecretError> {
        self.secrets.set(self.index(tenant)?, name, value)
    }

    /// Undoes a [`Egress::set_secret`] the store refused: the value before it is in force again.
    pub fn undo_secret(&self, replaced: Replaced) {
        self.secrets.undo(replaced);
    }

    /// Deletes the value set through the API of `tenant`'s secret `name` (the configuration
    /// file's, if it gives one, is in force again).
    pub fn delete_secret(&self, tenant: &str, name: &str) -> Result<Deleted, SecretError> {
        check_secret(name, "x")?;
        Ok(self.secrets.delete(self.index(tenant)?, name))
    }

    /// Replaces every secret set through the API with `stored`, `(tenant, name, value)`: the
    /// store's set, reloaded. Atomic: a request injects the old set or the new, never some of
    /// each. A tenant the configuration does not name is left out (its secrets stay stored,
    /// unused); a name or value that does not check, or one past the tenant's count, is left
    /// out and said in the answer, `(tenant, name, why)` (never a value).
    pub fn replace_stored_secrets(
        &self,
        stored: Vec<(String, String, String)>,
    ) -> Vec<(String, String, SecretError)> {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        let mut by_index: Vec<std::collections::BTreeMap<String, crate::config::SecretValue>> =
            vec![Default::default(); names.len()];
        for (tenant, name, value) in stored {
            if let Some(index) = names.iter().position(|n| *n == tenant) {
                by_index[index].insert(name, crate::config::SecretValue(value));
            }
        }
        self.secrets
            .replace_from_api(by_index)
            .into_iter()
            .map(|(index, name, why)| (names.get(index).cloned().unwrap_or_default(), name, why))
            .collect()
    }

    /// Whether the configuration file gives `tenant` a secret `name`.
    pub fn secret_in_file(&self, tenant: &str, name: &str) -> Result<bool, SecretError> {
        check_secret(name, "x")?;
        Ok(self.secrets.in_file(self.index(tenant)?, name))
    }

    /// The names of `tenant`'s secrets.
    pub fn secret_names(&self, tenant: &str) -> Result<Vec<String>, SecretError> {
        self.secrets
            .names(self.index(tenant)?)
            .ok_or(SecretError::NoTenant)
    }

    /// A request the daemon makes as `tenant` (for its capabilities, `crate::capabilities`):
    /// through the gateway exactly as tenant code's `fetch` goes (its allow rules, secret
    /// injection and scrubbing, audit), the answer read whole. The error text is the one
    /// `fetch` would give.
    pub async fn request_as(
        &self,
        tenant: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let index = self.index(tenant).map_err(|e| e.to_string())?;
        let head = serde_json::json!({
            "method": method, "url": url, "headers": headers, "redirect": "follow",
        })
        .to_string();
        let mut payload = (head.len() as u32).to_le_bytes().to_vec();
        payload.extend_from_slice(head.as_bytes());
        payload.extend_from_slice(&body);
        let tenant = stockade_cordon::TenantId(index as u64);
        let out = self.gateway.fetch_with(tenant, None, payload, None).await?;
        let len = out
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or("the gateway's answer is malformed")?;
        let head: serde_json::Value = out
            .get(4..4 + len)
            .and_then(|h| serde_json::from_slice(h).ok())
            .ok_or("the gateway's answer is malformed")?;
        let status = head["status"].as_u64().unwrap_or(0) as u16;
        let headers = serde_json::from_value(head["headers"].clone()).unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body: out[4 + len..].to_vec(),
        })
    }

    /// `tenant`'s latest `limit` audit records, oldest first.
    pub fn audit(&self, tenant: &str, limit: usize) -> Option<Vec<Record>> {
        Some(self.audit.latest(self.index(tenant).ok()?, limit))
    }
}
