//! Tenant capabilities: services a tenant declares (in the config's `[[tenants.capabilities]]`
//! or through `PUT /v1/tenants/{id}/capabilities/{name}`, kept in the store) and its workers'
//! `env` binds (`{"binding": "capability", "name": "<capability>"}`, `supervisor::bindings`).
//! Two kinds:
//!
//! - `http` (`{"kind": "http", "url", "types"}`): `env.X.m(...args)` is `POST url` with JSON
//!   `{"method": "m", "args": [...]}`, answered `{"result": ...}` or `{"error": {"name",
//!   "message"}}` (`http_call`), args and result structured-clone data in the tagged encoding
//!   (`tagged`; plain JSON is its own encoding); `types` is a `.d.ts` text declaring
//!   `interface Methods`;
//! - `mcp` (`{"kind": "mcp", "url"}`): an upstream MCP server over streamable HTTP; each of its
//!   tools is a method, `env.X.tool(args)` answering the tool's result (`mcp_client`, sessions
//!   reused per tenant), its arguments turned into JSON (`tagged::to_json`); its types are
//!   generated from the tools' JSON Schemas (`types`).
//!
//! Guarantees: every call to a capability goes out through the egress gateway as the calling
//! tenant (its allow rules decide, its secrets are injected and scrubbed from the answer, every
//! hop is audited); a `cap.call` host call reaches a capability only through a `capability`
//! binding of the calling worker's stored definition (`CallContext::bindings`), and the name is
//! looked up among the *calling* tenant's capabilities at every call (a capability deleted since
//! is gone); a request makes at most [`MAX_CALLS_PER_REQUEST`] calls; errors reach tenant code
//! with their `name` and `message`. Trusts: the call context; nothing in the payload; an
//! upstream's answer only as data (size-capped by the gateway).

pub mod http_call;
pub mod mcp_client;
mod spec;
pub mod tagged;
pub mod types;

pub use spec::{check_declared, valid_method, Capability, Declared, Kind, MAX_TYPES_LEN};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{json, Value};

use crate::config::Config;
use crate::egress::Egress;
use crate::store::{Store, StoreError};
use crate::supervisor::bindings::Binding;
use crate::supervisor::{CallContext, HostCalls, TenantNames};

/// Calls to capabilities one request may make.
pub const MAX_CALLS_PER_REQUEST: u32 = 256;

/// An error tenant code sees: its `name` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapError {
    pub name: String,
    pub message: String,
}

impl CapError {
    pub fn new(name: &str, message: impl Into<String>) -> CapError {
        CapError {
            name: name.to_owned(),
            message: message.into(),
        }
    }

    pub fn head(&self) -> Value {
        json!({"error": {"name": self.name, "message": self.message}})
    }
}

impl From<StoreError> for CapError {
    fn from(e: StoreError) -> CapError {
        if e.is_tenants() {
            return CapError::new("TypeError", e.to_string());
        }
        tracing::error!("store: {e}");
        CapError::new("OperationError", "the store failed")
    }
}

/// Where a capability was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Config,
    Api,
}

/// The daemon's capabilities: the config's declarations, the store's, and the calls.
pub struct Capabilities {
    store: Store,
    pub egress: Arc<Egress>,
    /// The configured tenants' names.
    tenants: RwLock<Vec<String>>,
    /// Tenant names by `TenantId`, from the pool (set once it starts).
    names: OnceLock<TenantNames>,
    /// The config's declarations by tenant, then name.
    declared: RwLock<HashMap<String, BTreeMap<String, Capability>>>,
    /// Idle sessions with `mcp` capabilities' servers, kept for the next call.
    pub mcp_sessions: mcp_client::SessionPool,
}

impl Capabilities {
    pub fn new(config: &Config, store: Store, egress: Arc<Egress>) -> Arc<Capabilities> {
        let me = Capabilities {
            store,
            egress,
            tenants: RwLock::default(),
            names: OnceLock::new(),
            declared: RwLock::default(),
            mcp_sessions: mcp_client::SessionPool::default(),
        };
        me.configure(config);
        Arc::new(me)
    }

    /// Takes the tenants and declarations of a (re)loaded config.
    pub fn configure(&self, config: &Config) {
        let declared = config
            .tenants
            .iter()
            .map(|t| {
                let caps = t
                    .capabilities
                    .iter()
                    .map(|d| (d.name.clone(), d.capability()))
                    .collect();
                (t.id.clone(), caps)
            })
            .collect();
        *self.declared.write().unwrap_or_else(|e| e.into_inner()) = declared;
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) =
            config.tenants.iter().map(|t| t.id.clone()).collect();
    }

    /// Where tenant names come from; once, before the first call.
    pub fn resolve_tenants_with(&self, names: TenantNames) {
        let _ = self.names.set(names);
    }

    /// Whether `tenant` is configured.
    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|t| t == tenant)
    }

    /// `tenant`'s capability `name`: the store's declaration, else the config's.
    pub async fn get(&self, tenant: &str, name: &str) -> Result<Option<Capability>, StoreError> {
        let (who, key) = (tenant.to_owned(), name.to_owned());
        if let Some(c) = self
            .store
            .tx(move |tx| crate::store::capabilities::get(tx, &who, &key))
            .await?
        {
            return Ok(Some(c));
        }
        Ok(self
            .declared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .and_then(|caps| caps.get(name).cloned()))
    }

    /// All of `tenant`'s capabilities by name (the store's over the config's of the same name).
    pub async fn list(
        &self,
        tenant: &str,
    ) -> Result<BTreeMap<String, (Capability, Source)>, StoreError> {
        let mut out: BTreeMap<String, (Capability, Source)> = self
            .declared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .map(|caps| {
                caps.iter()
                    .map(|(n, c)| (n.clone(), (c.clone(), Source::Config)))
                    .collect()
            })
            .unwrap_or_default();
        let who = tenant.to_owned();
        let stored = self
            .store
            .tx(move |tx| crate::store::capabilities::list(tx, &who))
            .await?;
        for (name, c) in stored {
            out.insert(name, (c, Source::Api));
        }
        Ok(out)
    }

    /// Checks that every capability binding among `bindings` names one of `tenant`'s.
    pub async fn check_bindings(
        &self,
        tenant: &str,
        bindings: &crate::supervisor::bindings::Bindings,
    ) -> Result<(), String> {
        for (key, b) in bindings {
            if let Binding::Capability { name } = b {
                match self.get(tenant, name).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return Err(format!("env.{key}: this tenant has no capability {name:?}"))
                    }
                    Err(e) => return Err(format!("env.{key}: {e}")),
                }
            }
        }
        Ok(())
    }

    /// Calls `method` of `tenant`'s capability `name` with `args`.
    pub async fn call(
        &self,
        tenant: &str,
        name: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, CapError> {
        let cap = self
            .get(tenant, name)
            .await?
            .ok_or_else(|| CapError::new("NotFoundError", format!("no capability {name:?}")))?;
        match cap.kind {
            Kind::Http => http_call::call(&self.egress, tenant, &cap.url, method, args).await,
            // Tool arguments and results are JSON by protocol: the encoded arguments are
            // turned into JSON (or refused) and the JSON result into the encoding (`tagged`).
            Kind::Mcp => {
                let first = match args.first().map(tagged::to_json).transpose() {
                    Ok(v) => v.flatten(),
                    Err(what) => {
                        return Err(CapError::new(
                            "TypeError",
                            format!("{name}.{method}: {what} cannot be an MCP tool's argument (its arguments are JSON)"),
                        ))
                    }
                };
                let arguments = match first {
                    None | Some(Value::Null) => json!({}),
                    Some(v @ Value::Object(_)) => v,
                    Some(_) => {
                        return Err(CapError::new(
                            "TypeError",
                            format!("{name}.{method}: an MCP tool takes one object argument"),
                        ))
                    }
                };
                mcp_client::call_tool(
                    &self.mcp_sessions,
                    &self.egress,
                    tenant,
                    &cap.url,
                    method,
                    arguments,
                )
                .await
                .map(tagged::from_json)
            }
        }
    }

    /// The `.d.ts` declarations of `tenant`'s capability `name` (declaring `interface Methods`).
    pub async fn declarations(&self, tenant: &str, cap: &Capability) -> Result<String, CapError> {
        match cap.kind {
            Kind::Http => Ok(types::http_declarations(cap.types.as_deref())),
            Kind::Mcp => {
                let tools =
                    mcp_client::list_tools(&self.mcp_sessions, &self.egress, tenant, &cap.url)
                        .await?;
                Ok(types::mcp_declarations(&tools))
            }
        }
    }

    /// Registers `cap.call`.
    pub fn register(self: &Arc<Capabilities>, calls: &mut HostCalls) {
        let me = Arc::clone(self);
        calls.register_in_context("cap.call", move |context, payload| {
            let me = Arc::clone(&me);
            async move { me.answer(context, payload).await }
        });
    }

    /// `cap.call`: the head `{"binding": "<env key>", "method": "m", "args": [...]}`; the
    /// answer's head `{"result": ...}` or `{"error": {"name", "message"}}`; args and result in
    /// the tagged encoding whatever the kind (`tagged` says why and how `mcp` adapts it).
    async fn answer(&self, context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
        let (head, _) = crate::storage::split(&payload)?;
        // By the pool's own table (a reload that reorders or removes tenants must never make one
        // tenant's id name another).
        let (tenant, key) = context.binding_caller(self.names.get(), &head)?;
        let Some(Binding::Capability { name }) = context.bindings.get(key) else {
            return Err(format!(
                "this worker has no capability binding named {key:?}"
            ));
        };
        let answer = match (head.get("method").and_then(Value::as_str), head.get("args")) {
            (Some(method), Some(Value::Array(args))) if valid_method(method) => {
                let spent = context
                    .resources
                    .capability_calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if spent >= MAX_CALLS_PER_REQUEST {
                    Err(CapError::new(
                        "QuotaExceededError",
                        format!("a request makes at most {MAX_CALLS_PER_REQUEST} capability calls"),
                    ))
                } else {
                    self.call(&tenant, name, method, args.clone()).await
                }
            }
            _ => Err(CapError::new(
                "TypeError",
                "a capability call needs a method name (1-128 characters) and an args array",
            )),
        };
        let head = match answer {
            Ok(result) => json!({ "result": result }),
            Err(e) => e.head(),
        };
        Ok(crate::storage::frame(&head, &[]))
    }
}
