//! Servers on 127.0.0.1 for the socket tests (`e2e_sockets.rs`, `e2e_node_net.rs`): a listener
//! serving each connection on a thread of its own, a test CA and a rustls server configuration it
//! signed, TLS and STARTTLS echo servers noting what they saw, an HTTP server holding its
//! answers' bodies open until released (`HoldServer`), and a daemon whose tenant t0 may reach
//! their ports. Included with `#[path]` by the tests that use it, after `mod common`.
#![allow(dead_code)] // each test file uses its own part

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// What the servers saw, as lines.
pub type Seen = Arc<Mutex<Vec<String>>>;

pub fn wait_for(seen: &Seen, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = seen.lock().expect("seen").clone();
        if lines.iter().any(|l| l.starts_with(prefix)) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves each connection of a fresh listener on 127.0.0.1 with `serve`, on a thread of its own;
/// the port.
pub fn listen<F, Fut>(serve: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
    });
    port
}

/// A test CA, and a server configuration whose certificate (for 127.0.0.1 and localhost) it
/// signed; the CA's PEM.
pub fn test_pki() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Stockade sockets test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    let cert = params.signed_by(&key, &ca_cert, &ca_key).expect("cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    (ca_cert.pem(), Arc::new(config))
}

/// TLS from the first byte; echoes what it reads over TLS, noting `tls <text>`.
pub fn tls_server(config: &Arc<rustls::ServerConfig>, seen: &Seen) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let seen = Arc::clone(seen);
    listen(move |stream| {
        let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
        async move { tls_echo(&acceptor, stream, &seen).await }
    })
}

pub async fn tls_echo(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    seen: &Seen,
) {
    let mut tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(e) => {
            seen.lock()
                .expect("seen")
                .push(format!("handshake failed {e}"));
            return;
        }
    };
    let mut buf = vec![0u8; 1024];
    while let Ok(n) = tls.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        seen.lock().expect("seen").push(format!("tls {text}"));
        if tls.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = tls.shutdown().await;
}

/// Plain until `STARTTLS\r\n` (noted `plain <line>`), answers `GO\r\n`, then TLS on the same
/// connection, echoing.
pub fn starttls_server(config: &Arc<rustls::ServerConfig>, seen: &Seen) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let seen = Arc::clone(seen);
    listen(move |mut stream| {
        let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
        async move {
            let mut line = [0u8; 10];
            if stream.read_exact(&mut line).await.is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            seen.lock()
                .expect("seen")
                .push(format!("plain {}", text.trim()));
            if text != "STARTTLS\r\n" || stream.write_all(b"GO\r\n").await.is_err() {
                return;
            }
            tls_echo(&acceptor, stream, &seen).await;
        }
    })
}

/// A daemon whose tenant t0 may reach `ports` of 127.0.0.1 (loopback allowed when `private`),
/// trusting the CA in `roots` (a PEM file) for sockets' TLS.
pub fn daemon(tag: &str, ports: &[u16], private: bool, roots: Option<&std::path::Path>) -> Daemon {
    // CPU enough to generate and check 4 MiB byte by byte in JavaScript.
    let mut egress = String::from("[limits]\ncpu_ms = 20000\nwall_ms = 60000\n[egress]\n");
    if private {
        egress.push_str("allow_private = [\"127.0.0.0/8\"]\n");
    }
    if let Some(roots) = roots {
        egress.push_str(&format!(
            "sockets_extra_roots = [{:?}]\n",
            roots.display().to_string()
        ));
    }
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let config = format!(
        "{egress}[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        tenant_token(0),
        ports.join(", ")
    );
    Daemon::start_raw(tag, 1, &config, &[])
}

/// What a [`HoldServer`] saw: the paths in the order they arrived, how many requests it is
/// holding open now, and the most it held open at once.
#[derive(Default)]
pub struct Held {
    pub arrived: Vec<String>,
    pub open: usize,
    pub most: usize,
}

/// An HTTP/1.1 server on 127.0.0.1 that answers each request's head at once (`200`, chunked,
/// a first chunk `<path> `) and holds its body open until the test lets it end
/// ([`HoldServer::release`], in the order they arrived): then it counts it as no longer open,
/// and only then sends `done` and the body's end. A request is open from its arrival to that
/// moment. [`HoldServer::start_heads`] holds the whole answer, head included, instead.
pub struct HoldServer {
    pub port: u16,
    held: Arc<Mutex<Held>>,
    releases: Arc<tokio::sync::Semaphore>,
}

impl HoldServer {
    /// Heads at once, bodies held.
    pub fn start() -> HoldServer {
        HoldServer::launch(false)
    }

    /// Whole answers held: a request waits for its head until released.
    pub fn start_heads() -> HoldServer {
        HoldServer::launch(true)
    }

    fn launch(hold_heads: bool) -> HoldServer {
        let held = Arc::new(Mutex::new(Held::default()));
        let releases = Arc::new(tokio::sync::Semaphore::new(0));
        let (state, gate) = (Arc::clone(&held), Arc::clone(&releases));
        let port = listen(move |mut stream| {
            let (held, releases) = (Arc::clone(&state), Arc::clone(&gate));
            async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                {
                    let mut held = held.lock().expect("held");
                    held.arrived.push(path.clone());
                    held.open += 1;
                    held.most = held.most.max(held.open);
                }
                if hold_heads {
                    if let Ok(permit) = releases.acquire().await {
                        permit.forget();
                    }
                    held.lock().expect("held").open -= 1;
                    let body = format!("{path} done");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                let first = format!("{path} ");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\
                     connection: close\r\n\r\n{:x}\r\n{first}\r\n",
                    first.len()
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    held.lock().expect("held").open -= 1;
                    return;
                }
                if let Ok(permit) = releases.acquire().await {
                    permit.forget();
                }
                held.lock().expect("held").open -= 1;
                let _ = stream.write_all(b"4\r\ndone\r\n0\r\n\r\n").await;
                let _ = stream.shutdown().await;
            }
        });
        HoldServer {
            port,
            held,
            releases,
        }
    }

    /// Lets the next `n` held requests (in the order their heads were sent) end.
    pub fn release(&self, n: usize) {
        self.releases.add_permits(n);
    }

    /// What it saw so far.
    pub fn seen(&self) -> (Vec<String>, usize, usize) {
        let held = self.held.lock().expect("held");
        (held.arrived.clone(), held.open, held.most)
    }

    /// Waits (20 s at most) until `n` requests arrived; what it saw then.
    pub fn wait_arrived(&self, n: usize) -> (Vec<String>, usize, usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.seen();
            if seen.0.len() >= n || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
