//! Servers on 127.0.0.1 for the socket tests (`e2e_sockets.rs`, `e2e_node_net.rs`): a listener
//! serving each connection on a thread of its own, a test CA and a rustls server configuration it
//! signed, TLS and STARTTLS echo servers noting what they saw, and a daemon whose tenant t0 may
//! reach their ports. Included with `#[path]` by the tests that use it, after `mod common`.
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
