//! Gradual deployments of a worker name, as Cloudflare's `wrangler versions deploy` makes them:
//! `PUT /v1/workers/{name}/deployment` `{"versions": [{"id", "percentage"}, ...]}` sends a share
//! of the requests that reach the name to one version besides its current one (the version with
//! the larger share is the current one: triggers and queue consumers follow it);
//! `GET` answers the same shape. Which version serves one request ([`pick`]):
//! - `Cloudflare-Workers-Version-Overrides: <name>="<version id>"` (an RFC 9651 dictionary)
//!   names one of the deployment's versions: it serves;
//! - else `Cloudflare-Workers-Version-Key: <key>` (version affinity): the key's hash decides, so
//!   one key always reaches one version while the shares stay, and as they move, keys move
//!   toward the version that grows only;
//! - else a random roll.
//!
//! A name's Durable Objects are split by object: each runs the version its class and id fall to
//! as a version key (`api::objects::version_of`), the same at every call, event and alarm while
//! the shares stay; as they move, an object moves only toward the version that grows, and is
//! reset there as a new version resets it (its storage stays).
//!
//! Guarantees: a split is between two stored versions of the tenant's name whose shares add up
//! to 100%, kept in the store (`worker_names.split_id`, `split_bp`); a pinned or keyed request
//! reaches a version of the deployment only. Trusts: the store.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::names::{deployment_of, find, name_changed};
use super::AppState;
use crate::store::worker_names::{self, Deployment, ALL_BP};

/// The version-affinity header (Cloudflare's name).
pub const VERSION_KEY: &str = "cloudflare-workers-version-key";
/// The version-override header (Cloudflare's name).
pub const VERSION_OVERRIDES: &str = "cloudflare-workers-version-overrides";

/// What a request says about the version of a name that should serve it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VersionChoice {
    /// A version affinity key.
    pub key: Option<String>,
    /// The override header's lines, joined (parsed only when the name is split).
    pub overrides: Option<String>,
}

impl VersionChoice {
    /// What `headers` say about the version of the worker `reference` names (nothing for a
    /// reference that is not a name).
    pub fn of(headers: &HeaderMap, reference: &str) -> VersionChoice {
        if !worker_names::valid_name(reference) {
            return VersionChoice::default();
        }
        let key = headers
            .get(VERSION_KEY)
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        // Lines of a structured field are one value, joined with commas (RFC 9651 4.2).
        let lines: Vec<&str> = headers
            .get_all(VERSION_OVERRIDES)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let overrides = (!lines.is_empty()).then(|| lines.join(", "));
        VersionChoice { key, overrides }
    }

    /// The version id the overrides name for `name`, if they parse and name one.
    fn pinned(&self, name: &str) -> Option<String> {
        let overrides = self.overrides.as_deref()?;
        let dictionary = sfv::Parser::new(overrides)
            .parse::<sfv::Dictionary>()
            .ok()?;
        match dictionary.get(name)? {
            sfv::ListEntry::Item(item) => item.bare_item.as_string().map(|s| s.as_str().to_owned()),
            sfv::ListEntry::InnerList(_) => None,
        }
    }
}

/// Which of `deployment`'s versions serves a request to name `name` that made `choice`, `roll`
/// being a random number below [`ALL_BP`] (see the module's text).
///
/// The lower range of rolls, as long as each version's share, belongs to the version with the
/// smaller id, whichever is current: so as the shares move, keys only ever move toward the
/// version whose share grows (a ramp from 40% through 60% keeps every key already moved).
pub fn pick<'a>(
    deployment: &'a Deployment,
    name: &str,
    choice: &VersionChoice,
    roll: u32,
) -> &'a str {
    let current = deployment.current.as_str();
    let Some((other, bp)) = &deployment.split else {
        return current;
    };
    let other = other.as_str();
    match choice.pinned(name) {
        Some(pinned) if pinned == other => return other,
        Some(pinned) if pinned == current => return current,
        _ => {}
    }
    let roll = match &choice.key {
        Some(key) => key_roll(key),
        None => roll % ALL_BP,
    };
    let (low, low_bp, high) = if other < current {
        (other, *bp, current)
    } else {
        (current, ALL_BP - *bp, other)
    };
    if roll < low_bp {
        low
    } else {
        high
    }
}

/// Where `key` falls among a name's basis points: the same place for the same key.
fn key_roll(key: &str) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) % u64::from(ALL_BP)) as u32
}

/// `PUT /v1/workers/{name}/deployment`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentBody {
    versions: Vec<Share>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Share {
    id: String,
    percentage: f64,
}

/// A percentage with at most two decimals, above 0 and at most 100, in basis points.
fn basis_points(percentage: f64) -> Option<u32> {
    let bp = (percentage * 100.0).round();
    let exact = (percentage * 100.0 - bp).abs() < 1e-6;
    (percentage.is_finite() && exact && bp >= 1.0 && bp <= f64::from(ALL_BP)).then_some(bp as u32)
}

fn answer(name: &str, deployment: &Deployment) -> Response {
    let percent = |bp: u32| f64::from(bp) / 100.0;
    let mut versions = Vec::with_capacity(2);
    let others = deployment.split.as_ref().map_or(0, |(_, bp)| *bp);
    versions.push(
        serde_json::json!({ "id": deployment.current, "percentage": percent(ALL_BP - others) }),
    );
    if let Some((id, bp)) = &deployment.split {
        versions.push(serde_json::json!({ "id": id, "percentage": percent(*bp) }));
    }
    Json(serde_json::json!({ "name": name, "versions": versions })).into_response()
}

fn a_name(name: &str) -> Result<(), ApiError> {
    if worker_names::valid_name(name) {
        return Ok(());
    }
    Err(ApiError::BadRequest(
        "a deployment is a worker name's: use its name, not a version's id".into(),
    ))
}

/// `GET /v1/workers/{name}/deployment`.
pub async fn get_deployment(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    a_name(&name)?;
    let deployment = deployment_of(&state, &tenant, &name)
        .await?
        .ok_or(ApiError::NotFound("no such worker"))?;
    Ok(answer(&name, &deployment))
}

/// `PUT /v1/workers/{name}/deployment`: deploys the name as the body says; answers as `GET`.
pub async fn put_deployment(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, body): (String, DeploymentBody) =
        super::loader::tenant_and_json(&who, body, "a deployment's JSON")?;
    a_name(&name)?;
    if !matches!(body.versions.len(), 1 | 2) {
        return Err(ApiError::BadRequest(
            "versions: a deployment has one or two versions".into(),
        ));
    }
    let mut shares = Vec::with_capacity(2);
    for (i, share) in body.versions.iter().enumerate() {
        let bp = basis_points(share.percentage).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "versions[{i}].percentage: above 0, at most 100, at most two decimals"
            ))
        })?;
        let def = find(&state, &tenant, &share.id).await?;
        if def.name.as_deref() != Some(name.as_str()) || share.id != def.id.to_hex() {
            return Err(ApiError::BadRequest(format!(
                "versions[{i}].id: {:?} is not a version of {name:?}",
                share.id
            )));
        }
        shares.push((share.id.clone(), bp));
    }
    if shares.iter().map(|(_, bp)| bp).sum::<u32>() != ALL_BP {
        return Err(ApiError::BadRequest(
            "versions: the percentages add up to 100".into(),
        ));
    }
    if shares.len() == 2 && shares[0].0 == shares[1].0 {
        return Err(ApiError::BadRequest(
            "versions: two different versions".into(),
        ));
    }
    let (t, n) = (tenant.clone(), name.clone());
    let deployed = state
        .store
        .tx(move |tx| worker_names::deploy(tx, &t, &n, &shares))
        .await;
    name_changed(&state, &tenant, &name);
    Ok(answer(&name, &deployed?))
}

#[cfg(test)]
#[path = "deployments_tests.rs"]
mod tests;
