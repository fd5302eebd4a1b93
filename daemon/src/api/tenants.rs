//! A tenant's risk, and the operator's override of it:
//! - `GET /v1/tenants/{id}/risk`: the score, the tier, and every signal behind them (the
//!   cordon's `RiskReport`, `tenant` being the configured id; `quarantine_latched_until` is in
//!   Unix milliseconds). A tenant may read its own; the operator any; anyone else gets the 404
//!   an unknown tenant gets, so tenant ids cannot be probed.
//! - `PUT /v1/tenants/{id}/risk` (operator only, 403 otherwise): `{"tier": "quarantine"}` pins
//!   a tier (`trusted`, `standard`, `untrusted`, `quarantine`), `{"score": 42}` pins a score
//!   (0-100), `null` or `{}` clears the override. Anything else is a 400. Answers the report
//!   with the override applied; the tenant's next request runs in the new tier, and its isolates
//!   in the old one are drained.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stockade_cordon::{Override, RiskReport, RiskScore, RiskTier};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::json;
use super::loader::body_or_error;
use super::AppState;

const NO_SUCH_TENANT: ApiError = ApiError::NotFound("no such tenant");

fn report_json(tenant: &str, report: &RiskReport) -> Result<Response, ApiError> {
    let mut body = serde_json::to_value(report)
        .map_err(|e| ApiError::BadRequest(format!("cannot encode the report: {e}")))?;
    body["tenant"] = tenant.into();
    Ok(Json(body).into_response())
}

pub async fn risk(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(tenant): ApiPath<String>,
) -> Result<Response, ApiError> {
    let who = &who.principal;
    if !who.operator && who.tenant.as_deref() != Some(tenant.as_str()) {
        return Err(NO_SUCH_TENANT);
    }
    let report = state.pool.risk(&tenant).ok_or(NO_SUCH_TENANT)?;
    report_json(&tenant, &report)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    tier: Option<String>,
    score: Option<u64>,
}

fn parse_override(body: &[u8]) -> Result<Option<Override>, ApiError> {
    let body: Option<OverrideBody> = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"tier\": ...}}, {{\"score\": ...}}, {{}} or null: {}",
            json::explain(&e, body)
        ))
    })?;
    let Some(body) = body else {
        return Ok(None);
    };
    match (body.tier, body.score) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "give a tier or a score, not both".into(),
        )),
        (Some(tier), None) => {
            let tier = match tier.as_str() {
                "trusted" => RiskTier::Trusted,
                "standard" => RiskTier::Standard,
                "untrusted" => RiskTier::Untrusted,
                "quarantine" => RiskTier::Quarantine,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "tier {other:?} is not trusted, standard, untrusted or quarantine"
                    )))
                }
            };
            Ok(Some(Override::PinTier(tier)))
        }
        (None, Some(score)) => u8::try_from(score)
            .ok()
            .and_then(|s| RiskScore::new(s).ok())
            .map(|s| Some(Override::PinScore(s)))
            .ok_or_else(|| ApiError::BadRequest(format!("score {score} is not 0 to 100"))),
    }
}

pub async fn set_risk(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(tenant): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    who.operator_only()?;
    let body = body_or_error(body)?;
    if state.pool.risk(&tenant).is_none() {
        return Err(NO_SUCH_TENANT);
    }
    let pin = parse_override(&body)?;
    let report = state
        .pool
        .set_override(&tenant, pin)
        .ok_or(NO_SUCH_TENANT)?;
    report_json(&tenant, &report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_bodies() {
        let ok = |body: &str| parse_override(body.as_bytes()).expect(body);
        assert_eq!(ok("null"), None);
        assert_eq!(ok("{}"), None);
        assert_eq!(ok(r#"{"tier": null}"#), None);
        assert_eq!(
            ok(r#"{"tier": "quarantine"}"#),
            Some(Override::PinTier(RiskTier::Quarantine))
        );
        assert_eq!(
            ok(r#"{"score": 42}"#),
            Some(Override::PinScore(RiskScore::new(42).expect("in range")))
        );
        for bad in [
            "",
            "[]",
            r#"{"tier": "gold"}"#,
            r#"{"tier": "Quarantine"}"#,
            r#"{"tier": 3}"#,
            r#"{"score": 101}"#,
            r#"{"score": 256}"#,
            r#"{"score": -1}"#,
            r#"{"score": 4.5}"#,
            r#"{"score": 42, "tier": "trusted"}"#,
            r#"{"pin": "trusted"}"#,
        ] {
            assert!(
                matches!(parse_override(bad.as_bytes()), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
