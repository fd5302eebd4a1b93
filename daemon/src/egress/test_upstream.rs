//! A real HTTP/1.1 server on 127.0.0.1 for the egress tests (unit and end to end: the e2e tests
//! include this file by path). One thread per connection, one request per connection; it
//! records what it received and answers what its handler says.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the upstream received it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Answer {
    pub fn ok(body: &[u8]) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: body.to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Echoes the request: its headers as `name: value` lines, then its body.
    pub fn echo(seen: &Seen) -> Answer {
        let mut body = format!("{} {}\n", seen.method, seen.target);
        for (n, v) in &seen.headers {
            body.push_str(&format!("{n}: {v}\n"));
        }
        let mut body = body.into_bytes();
        body.extend_from_slice(&seen.body);
        let mut answer = Answer::ok(&body);
        // Reflected in a response header too.
        for (n, v) in &seen.headers {
            if n.eq_ignore_ascii_case("x-api-key") {
                answer.headers.push(("X-Echo-Key".into(), v.clone()));
            }
        }
        answer
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

pub struct Upstream {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Upstream {
        Upstream::start_on("127.0.0.1", handler)
    }

    /// [`Upstream::start`], listening on `ip` (`0.0.0.0`: every address of the host).
    pub fn start_on(
        ip: &str,
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let record = Arc::clone(&record);
                std::thread::spawn(move || serve_one(stream, &handler, &record));
            }
        });
        Upstream { port, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve_one(stream: std::net::TcpStream, handler: &Handler, record: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // A connection closed before a request line (a client that gave up on its request before
    // writing it) is no request.
    if !matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        return;
    }
    let mut parts = line.split_whitespace();
    let mut seen = Seen {
        method: parts.next().unwrap_or("").to_string(),
        target: parts.next().unwrap_or("").to_string(),
        ..Seen::default()
    };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((n, v)) = header.split_once(':') {
            seen.headers
                .push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    seen.body = body;
    record.lock().expect("seen").push(seen.clone());
    let answer = handler(&seen);
    std::thread::sleep(answer.delay);
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", answer.status);
    for (n, v) in &answer.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&answer.body);
    let _ = writer.flush();
}
