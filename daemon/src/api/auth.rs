//! Who sent a request: the token table, the one rule that reads a request's token, and the
//! [`Caller`] the edge hands to the handlers.
//!
//! Guarantees:
//! - a request's token is checked once, in `edge` (the only caller of [`Tokens::authenticate`]),
//!   before its handler runs; the principal decided there travels in the request's extensions as
//!   a [`Caller`], so the tenant whose quotas admitted a request is the tenant its handler serves
//!   (a reload between the two cannot split them);
//! - a handler that takes a [`Caller`] cannot run unauthenticated: on a request the edge did not
//!   authenticate (a route mounted without it) the extractor is a `401`;
//! - tokens are held and compared by SHA-256 digest only, so lookup time does not depend on how
//!   much of a guess matches.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::fetch::TOKEN_HEADER;
use crate::config::Config;

/// Who a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: Option<String>,
    pub operator: bool,
}

/// The principal the edge decided for a request, as its handler takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// The token came as `X-Stockade-Token` (the data plane): the client's `Authorization` is
    /// then its own, for the worker.
    pub token_header: bool,
}

impl Caller {
    /// The caller's tenant; `403` for a token that names none (the operator's).
    pub fn tenant(&self) -> Result<String, ApiError> {
        self.principal.tenant.clone().ok_or(ApiError::Forbidden)
    }

    /// `Ok` for the operator, else `403`.
    pub fn operator_only(&self) -> Result<(), ApiError> {
        if self.principal.operator {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every token of `config` by digest: the tenants' (a tenant marked `operator` is also the
/// operator) and `operator_token`.
fn token_table(config: &Config) -> HashMap<[u8; 32], Principal> {
    let mut tokens: HashMap<[u8; 32], Principal> = HashMap::new();
    for t in &config.tenants {
        tokens.insert(
            digest(&t.token),
            Principal {
                tenant: Some(t.id.clone()),
                operator: t.operator,
            },
        );
    }
    if let Some(op) = &config.operator_token {
        tokens
            .entry(digest(op))
            .or_insert(Principal {
                tenant: None,
                operator: false,
            })
            .operator = true;
    }
    tokens
}

/// SHA-256 of each token → who it is (replaced whole by a reload).
pub struct Tokens {
    table: RwLock<HashMap<[u8; 32], Principal>>,
    /// Token checks so far (tests count them per request).
    #[cfg(test)]
    checks: std::sync::atomic::AtomicUsize,
}

impl Tokens {
    pub fn new(config: &Config) -> Tokens {
        Tokens {
            table: RwLock::new(token_table(config)),
            #[cfg(test)]
            checks: Default::default(),
        }
    }

    /// Applies a reloaded configuration: tokens no longer configured stop working at once.
    pub fn configure(&self, config: &Config) {
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = token_table(config);
    }

    fn lookup(&self, token: &str) -> Option<Principal> {
        #[cfg(test)]
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest(token.trim()))
            .cloned()
    }

    /// Who sent a request with `headers`. On the data plane (`data_plane`: the `fetch` routes)
    /// the token is `X-Stockade-Token` when that header is present (a wrong one is a 401 whatever
    /// `Authorization` says), else `Authorization: Bearer`; elsewhere it is `Authorization:
    /// Bearer` only (an `X-Stockade-Token` is ignored). Called by `edge` only.
    pub(super) fn authenticate(
        &self,
        headers: &HeaderMap,
        data_plane: bool,
    ) -> Result<Caller, ApiError> {
        if data_plane {
            if let Some(token) = headers.get(TOKEN_HEADER) {
                let token = token.to_str().map_err(|_| ApiError::Unauthorized)?;
                let principal = self.lookup(token).ok_or(ApiError::Unauthorized)?;
                return Ok(Caller {
                    principal,
                    token_header: true,
                });
            }
        }
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?;
        let principal = self.lookup(token).ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            principal,
            token_header: false,
        })
    }

    /// Token checks so far.
    #[cfg(test)]
    pub fn checks(&self) -> usize {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_held_by_their_sha256_digest_only() {
        let config: Config = toml::from_str(
            "operator_token = \"operator-token-0123456789\"\n\
             [[tenants]]\nid = \"a\"\ntoken = \"tenant-a-token-0123456789\"\n\
             [[tenants]]\nid = \"b\"\ntoken = \"tenant-b-token-0123456789\"\noperator = true\n",
        )
        .expect("config");
        let table = token_table(&config);
        assert_eq!(table.len(), 3);
        let a = &table[&digest("tenant-a-token-0123456789")];
        assert_eq!((a.tenant.as_deref(), a.operator), (Some("a"), false));
        let b = &table[&digest("tenant-b-token-0123456789")];
        assert_eq!((b.tenant.as_deref(), b.operator), (Some("b"), true));
        let op = &table[&digest("operator-token-0123456789")];
        assert_eq!((op.tenant.as_deref(), op.operator), (None, true));
        // The digest is SHA-256 of the token's bytes: nothing else keys the table.
        let expected: [u8; 32] = Sha256::digest(b"tenant-a-token-0123456789").into();
        assert!(table.contains_key(&expected));
        assert!(!table.contains_key(&digest("tenant-a-token-012345678")));
    }
}
