//! The edge's tests: the real `edge` over loopback HTTP with the real token table, quotas and
//! metrics, and no worker pool.

use super::*;
use crate::api::auth::Caller;
use crate::config::Config;
use axum::routing::{any, get};
use axum::Router;
use std::sync::atomic::AtomicUsize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TENANT_A: &str = "tenant-a-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

/// The edge's state without a worker pool: the real token table, quotas and metrics.
struct TestGate {
    tokens: Tokens,
    quotas: QuotaBook,
    metrics: Metrics,
    /// Handler runs.
    served: AtomicUsize,
}

impl Gate for TestGate {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
    fn quotas(&self) -> &QuotaBook {
        &self.quotas
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// What a handler was handed: `tenant operator token_header`.
async fn whoami(State(gate): State<Arc<TestGate>>, who: Caller) -> String {
    gate.served.fetch_add(1, Ordering::Relaxed);
    let p = &who.principal;
    let tenant = p.tenant.as_deref().unwrap_or("-");
    format!("{tenant} {} {}", p.operator, who.token_header)
}

async fn operator_only(
    State(gate): State<Arc<TestGate>>,
    who: Caller,
) -> Result<&'static str, ApiError> {
    gate.served.fetch_add(1, Ordering::Relaxed);
    who.operator_only()?;
    Ok("operator")
}

fn routes() -> Router<Arc<TestGate>> {
    Router::new()
        .route("/v1/workers", get(whoami).post(whoami))
        .route("/v1/workers/{id}/fetch/{*rest}", any(whoami))
        .route("/metrics", get(operator_only))
        .route("/healthz", get(|| async { "ok" }))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A request and what it must get: (path, headers, status, body when 200, token checks,
/// handler runs).
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    u16,
    &'static str,
    usize,
    usize,
);

/// The token is checked once per request, by the edge, and the handler is handed the
/// principal the edge decided (before, each handler checked it again: two checks).
#[tokio::test]
async fn the_edge_checks_the_token_once_and_hands_the_handler_its_principal() {
    let config: Config = toml::from_str(&format!(
        "operator_token = \"{OPERATOR}\"\n\
         [[tenants]]\nid = \"a\"\ntoken = \"{TENANT_A}\"\n"
    ))
    .expect("config");
    let gate = Arc::new(TestGate {
        tokens: Tokens::new(&config),
        quotas: QuotaBook::new(super::super::quota_table(&config)),
        metrics: Metrics::default(),
        served: AtomicUsize::new(0),
    });
    let app = routes()
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&gate),
            edge::<TestGate>,
        ))
        .with_state(Arc::clone(&gate));
    let base = serve(app).await;
    let client = reqwest::Client::new();
    let bearer = |t: &str| format!("Bearer {t}");
    let cases: Vec<Case> = vec![
        (
            "/v1/workers",
            vec![("authorization", bearer(TENANT_A))],
            200,
            "a false false",
            1,
            1,
        ),
        (
            "/v1/workers",
            vec![("authorization", bearer(OPERATOR))],
            200,
            "- true false",
            1,
            1,
        ),
        (
            "/metrics",
            vec![("authorization", bearer(OPERATOR))],
            200,
            "operator",
            1,
            1,
        ),
        (
            "/metrics",
            vec![("authorization", bearer(TENANT_A))],
            403,
            "",
            1,
            1,
        ),
        // No token: no check, no handler; a wrong one: one check, no handler.
        ("/v1/workers", vec![], 401, "", 0, 0),
        (
            "/v1/workers",
            vec![("authorization", bearer("wrong-token-0123456789"))],
            401,
            "",
            1,
            0,
        ),
        // Off the data plane `X-Stockade-Token` is no token.
        (
            "/v1/workers",
            vec![("x-stockade-token", TENANT_A.into())],
            401,
            "",
            0,
            0,
        ),
        // On it, it is, and the client's own `Authorization` is left to the worker.
        (
            "/v1/workers/w/fetch/x",
            vec![
                ("x-stockade-token", TENANT_A.into()),
                ("authorization", "Basic dTpw".into()),
            ],
            200,
            "a false true",
            1,
            1,
        ),
        ("/healthz", vec![], 200, "ok", 0, 0),
    ];
    for (path, headers, status, body, checks, served) in cases {
        let (checks_before, served_before) =
            (gate.tokens.checks(), gate.served.load(Ordering::Relaxed));
        let mut request = client.get(format!("{base}{path}"));
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("send");
        let got_status = response.status().as_u16();
        let text = response.text().await.expect("text");
        assert_eq!(got_status, status, "{path} {headers:?}: {text}");
        if status == 200 {
            assert_eq!(text, body, "{path} {headers:?}");
        }
        assert_eq!(
            gate.tokens.checks() - checks_before,
            checks,
            "token checks of {path} {headers:?}"
        );
        assert_eq!(
            gate.served.load(Ordering::Relaxed) - served_before,
            served,
            "handler runs of {path} {headers:?}"
        );
    }

    // A bad token with `Expect: 100-continue`: 401 at once, the body never asked for.
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(
            b"POST /v1/workers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\
              Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .await
        .expect("write");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.expect("read");
    assert_eq!(&head, b"HTTP/1.1 401");

    // A handler mounted without the edge cannot run unauthenticated: its `Caller` is a 401.
    let bare = serve(routes().with_state(Arc::clone(&gate))).await;
    let served_before = gate.served.load(Ordering::Relaxed);
    let response = client
        .get(format!("{bare}/v1/workers"))
        .header("authorization", bearer(TENANT_A))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(gate.served.load(Ordering::Relaxed), served_before);
}

#[test]
fn routes_have_fixed_names() {
    let get = Method::GET;
    for (path, route) in [
        ("/v1/run", "run"),
        ("/v1/workers", "workers_list"),
        ("/v1/workers/abc", "workers_get"),
        ("/v1/workers/abc/fetch", "fetch"),
        ("/v1/workers/abc/fetch/x/y?z", "fetch"),
        ("/v1/tenants/t/risk", "risk"),
        ("/v1/tenants/t/secrets/k", "secrets"),
        ("/v1/tenants/t/capabilities/k", "capabilities"),
        ("/v1/workers/abc/types", "types"),
        ("/v1/workers/abc/logs", "logs"),
        ("/v1/workspaces/w/files", "workspaces"),
        ("/v1/workspaces/w/files/a/b", "workspaces"),
        ("/v1/workspaces/w/search", "workspaces"),
        ("/healthz", "probe"),
        ("/readyz", "probe"),
        ("/healthz/x", "other"),
        ("/v1/types", "types"),
        ("/mcp", "mcp"),
        ("/v1/admin/workers", "admin"),
        ("/metrics", "metrics"),
        ("/v1/run/../../etc", "other"),
        ("/anything", "other"),
    ] {
        assert_eq!(route_of(&get, path), route, "{path}");
    }
    assert_eq!(
        route_of(&Method::DELETE, "/v1/workers/abc"),
        "workers_delete"
    );
    assert_eq!(route_of(&Method::POST, "/v1/workers"), "workers_create");
}

#[test]
fn error_answers_axum_made_become_the_json_envelope() {
    let plain = Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, "POST")
        .body(Body::empty())
        .expect("response");
    let out = enveloped(plain);
    assert_eq!(out.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(out.headers()[header::ALLOW], "POST");
    assert_eq!(out.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        out.extensions().get::<ErrorCode>().map(|c| c.0),
        Some("method_not_allowed")
    );
    // A handler's own JSON error (MCP's JSON-RPC errors) and a success stay as they are.
    for (status, kind) in [
        (StatusCode::BAD_REQUEST, "application/json"),
        (StatusCode::OK, "text/plain"),
    ] {
        let given = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, kind)
            .body(Body::from("x"))
            .expect("response");
        let out = enveloped(given);
        assert_eq!(out.headers()[header::CONTENT_TYPE], kind);
        assert!(out.extensions().get::<ErrorCode>().is_none());
    }
    assert_eq!(status_code(StatusCode::OK), None);
    assert_eq!(status_code(StatusCode::IM_A_TEAPOT), Some("bad_request"));
    assert_eq!(status_code(StatusCode::BAD_GATEWAY), Some("internal"));
}

#[test]
fn request_ids_are_unique_and_only_plausible_ones_are_taken() {
    let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
    assert_eq!(ids.len(), 1000);
    let with = |v: &str| {
        let request = Request::builder()
            .header(REQUEST_ID, v)
            .body(Body::empty())
            .expect("request");
        request_id(&request)
    };
    assert_eq!(with("abc-123.x:y_z"), "abc-123.x:y_z");
    for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
        let id = with(bad);
        assert_ne!(id, bad);
        assert_eq!(id.len(), 16);
    }
}
