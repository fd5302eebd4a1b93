//! The API's own path and query extractors: axum's `Path` and `Query`, but a request they cannot
//! take (a path segment that is not UTF-8 once percent-decoded, `%FF`; a query whose values do not
//! parse, `?limit=-1`) is the API's JSON `400 bad_request`, not axum's plain-text rejection.
//!
//! One generic wrapper, [`Api`], does this for any axum extractor of the request's parts that is a
//! [`Part`]; its rejection is always [`ApiError::BadRequest`] with `invalid <what>: <why>`, so the
//! error's shape is defined in one place. Handlers write `Api(id): ApiPath<String>`.

use std::fmt::Display;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;

use super::error::ApiError;

/// An axum extractor whose failure is the client's mistake in one part of the request.
pub trait Part {
    /// What it extracts.
    type Value;
    /// The part of the request it reads, as the error names it.
    const WHAT: &'static str;
    fn into_value(self) -> Self::Value;
}

impl<T> Part for Path<T> {
    type Value = T;
    const WHAT: &'static str = "path";
    fn into_value(self) -> T {
        self.0
    }
}

impl<T> Part for Query<T> {
    type Value = T;
    const WHAT: &'static str = "query string";
    fn into_value(self) -> T {
        self.0
    }
}

/// What the extractor `E` takes, or the API's `400 bad_request` saying which part failed and why.
pub struct Api<E: Part>(pub E::Value);

/// A route's path parameters (see the module docs).
pub type ApiPath<T> = Api<Path<T>>;

/// A request's query string (see the module docs).
pub type ApiQuery<T> = Api<Query<T>>;

impl<S, E> FromRequestParts<S> for Api<E>
where
    E: Part + FromRequestParts<S> + Send,
    E::Rejection: Display,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match E::from_request_parts(parts, state).await {
            Ok(part) => Ok(Api(part.into_value())),
            Err(e) => Err(ApiError::BadRequest(format!("invalid {}: {e}", E::WHAT))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    async fn query<T: serde::de::DeserializeOwned + Send>(uri: &str) -> Result<T, ApiError> {
        let (mut parts, _) = Request::builder()
            .uri(uri)
            .body(())
            .expect("request")
            .into_parts();
        ApiQuery::<T>::from_request_parts(&mut parts, &())
            .await
            .map(|Api(v)| v)
    }

    #[tokio::test]
    async fn a_part_that_does_not_parse_is_the_apis_bad_request() {
        #[derive(serde::Deserialize, Debug)]
        struct Limit {
            limit: u32,
        }
        assert_eq!(query::<Limit>("/x?limit=7").await.expect("parses").limit, 7);
        let e = query::<Limit>("/x?limit=-1").await.expect_err("negative");
        assert_eq!(e.code(), "bad_request");
        assert!(e.to_string().starts_with("invalid query string: "), "{e}");
        // A path outside a router has no parameters: the same error shape, naming the path.
        let (mut parts, _) = Request::builder()
            .uri("/x")
            .body(())
            .expect("request")
            .into_parts();
        let e = match ApiPath::<String>::from_request_parts(&mut parts, &()).await {
            Ok(_) => panic!("a path without parameters"),
            Err(e) => e,
        };
        assert_eq!(e.code(), "bad_request");
        assert!(e.to_string().starts_with("invalid path: "), "{e}");
    }
}
