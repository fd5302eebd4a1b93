//! API errors: one variant per stable `code`, each with its HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use stockade_ipc::{ErrorKind, ErrorReply};

use super::quota::Refusal;
use crate::store::StoreError;
use crate::supervisor::JobError;

/// The stable code of an error response, kept in its extensions for the metrics and logs.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("this token may not do that")]
    Forbidden,
    /// A Loader child asked for more than its parent holds (a binding, an outbound).
    #[error("{0}")]
    Exceeds(String),
    #[error("{0}")]
    NotFound(&'static str),
    /// The route does not take this method (`Allow` names those it takes).
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Worker(#[from] JobError),
    #[error("{}", .0.message)]
    Script(ErrorReply, Vec<serde_json::Value>),
    /// Over a quota of the tenant: 429 with `Retry-After`.
    #[error("{}", .0.message)]
    Quota(Refusal),
    /// What the tenant asked of the store was refused (`NotFound`, `Invalid`, `Quota`,
    /// `Conflict`), or the store failed (the details go to the operator's stderr only).
    #[error("{}", if .0.is_tenants() { .0.to_string() } else { "the store failed".to_string() })]
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if !e.is_tenants() {
            tracing::error!("store: {e}");
        }
        ApiError::Store(e)
    }
}

pub fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ScriptThrew => "script_threw",
        ErrorKind::CompileError => "compile_error",
        ErrorKind::ModuleNotFound => "module_not_found",
        ErrorKind::CpuLimit => "cpu_limit",
        ErrorKind::WallLimit => "wall_limit",
        ErrorKind::MemoryLimit => "memory_limit",
        ErrorKind::ResultTooLarge => "result_too_large",
        ErrorKind::OutputTooLarge => "output_too_large",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::UnknownWorker => "unknown_worker",
        ErrorKind::Internal => "internal",
        ErrorKind::InvalidResponse => "invalid_response",
        ErrorKind::Cancelled => "cancelled",
    }
}

impl ApiError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Exceeds(_) => (StatusCode::FORBIDDEN, "exceeds_parent"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Worker(JobError::WorkerDied(_)) => {
                (StatusCode::BAD_GATEWAY, "worker_crashed")
            }
            ApiError::Worker(JobError::Timeout) => (StatusCode::GATEWAY_TIMEOUT, "worker_timeout"),
            ApiError::Worker(JobError::ProcessMemory(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "process_memory_limit")
            }
            ApiError::Worker(JobError::Unavailable) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Worker(JobError::Unencodable(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Quota(refusal) => (StatusCode::TOO_MANY_REQUESTS, refusal.kind.code()),
            ApiError::Store(e) => match e {
                StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                StoreError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                StoreError::Quota(_) => (StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded"),
                StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "store_failed"),
            },
            ApiError::Script(reply, _) => {
                let status = match reply.kind {
                    ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::InvalidResponse => StatusCode::BAD_GATEWAY,
                    ErrorKind::InvalidInput
                    | ErrorKind::CompileError
                    | ErrorKind::ModuleNotFound => StatusCode::BAD_REQUEST,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                (status, error_code(reply.kind))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut error = serde_json::json!({ "code": code, "message": self.to_string() });
        let mut body = serde_json::json!({});
        if let ApiError::Script(reply, logs) = &self {
            if let Some(stack) = &reply.stack {
                error["stack"] = stack.clone().into();
            }
            body["logs"] = logs.clone().into();
        }
        body["error"] = error;
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Quota(refusal) = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(refusal.retry_after_secs),
            );
        }
        response.extensions_mut().insert(ErrorCode(code));
        response
    }
}
