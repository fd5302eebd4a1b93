//! The HTTP server loop: accepts connections and serves the API router on each, under limits
//! that hold before any token is checked (`[http]`).
//!
//! Guarantees:
//! - at most [`Limits::max_connections`] connections are open at once; further clients wait in
//!   the listen backlog (they are not refused), so a flood of connections cannot exhaust the
//!   daemon's file descriptors (the cap is kept below the descriptor limit, see
//!   [`connection_cap`]);
//! - a request's head must arrive whole within the header-read timeout, counted from the
//!   connection's start or, on a kept-alive connection, from when it went idle: a client that
//!   sends half a request line and waits is disconnected;
//! - a connection on which nothing is read or written for the idle timeout is closed (a stalled
//!   upload, a client that stopped reading its response);
//! - a connection is closed gracefully: the server's side first, after the last response, and
//!   what the client still sends (a request body nobody read: a handler that answered without
//!   reading its upload, a 413) is read and discarded until the client closes, for
//!   [`LINGER_MAX`] at most, so that the kernel never answers unread data with a reset that
//!   destroys the response on its way (clients that send a whole body before reading, such as
//!   Python's, then read the response instead of a broken pipe);
//! - on shutdown the listener stops accepting and the connections finish what they serve;
//! - a connection whose last response was a 101 (a WebSocket, `api/websocket.rs`) is handed,
//!   with what hyper read past that request, to the relay the handler left in the
//!   connection's `UpgradeSlot`, and stays counted among the open connections until it ends
//!   (the timeouts above no longer apply: the relay ends at most `websocket_relay::CLOSE_WAIT` after
//!   the worker's request, whose wall-clock limit bounds it);
//! - a Unix stream socket (`listen = "unix:/path"`, or one a service manager passed,
//!   `serve/listeners.rs`) is served as a TCP one is, under the same limits.
//!
//! Trusts: hyper's HTTP/1 parser (its own header count and size caps apply).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};

/// A listening socket the server accepts connections on.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Where it listens, for people and the address file: `http://ip:port` or `unix:/path`.
    pub fn describe(&self) -> std::io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(format!("http://{}", l.local_addr()?)),
            Listener::Unix(l) => {
                let addr = l.local_addr()?;
                Ok(match addr.as_pathname() {
                    Some(path) => format!("unix:{}", path.display()),
                    None => "unix:(unnamed)".to_string(),
                })
            }
        }
    }
}

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Open connections, for the metrics.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub open: AtomicI64,
    pub accepted: AtomicU64,
    /// Closed by the server for a head that did not arrive in time or for idleness.
    pub timed_out: AtomicU64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (when allowed); the soft limit then.
pub fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max.min(1 << 20),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// The connection cap: the configured one, but below the descriptor limit `nofile`, keeping a
/// reserve (at most 256, at most half) for worker sockets, outbound requests and files.
pub fn connection_cap(configured: usize, nofile: u64) -> usize {
    let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
    let reserve = (nofile / 2).min(256);
    configured.min(nofile.saturating_sub(reserve)).max(1)
}

/// Serves `app` on `listener` until `shutdown` resolves; then closes the listener (a new
/// connection is refused at once rather than left waiting in its backlog), lets the open
/// connections finish what they serve for at most `drain_for`, and logs those it cuts.
pub async fn serve(
    listener: Listener,
    app: axum::Router,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()>,
    drain_for: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE and friends: wait a moment instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let (app, stats, stop) = (app.clone(), Arc::clone(&stats), stop_rx.clone());
        tokio::spawn(async move {
            match stream {
                Accepted::Tcp(stream) => connection(stream, app, limits, &stats, stop).await,
                Accepted::Unix(stream) => connection(stream, app, limits, &stats, stop).await,
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Wait for the connections to finish what they serve (each holds a slot), for a while.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain_for, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "the drain ended after {} s with {} connection(s) still open: their requests are cut",
            drain_for.as_secs(),
            stats.open.load(Ordering::Relaxed)
        );
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, _peer) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok(Accepted::Tcp(stream))
        }
        Listener::Unix(l) => Ok(Accepted::Unix(l.accept().await?.0)),
    }
}

async fn connection<S>(
    stream: S,
    app: axum::Router,
    limits: Limits,
    stats: &ConnectionStats,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let last = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    let io = TokioIo::new(Watched {
        inner: stream,
        last: Arc::clone(&last),
        origin,
    });
    let upgrade = crate::api::websocket::UpgradeSlot::default();
    let service = {
        use hyper::service::Service as _;
        let app = TowerToHyperService::new(app);
        let upgrade = upgrade.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(upgrade.clone());
            app.call(request)
        })
    };
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    let idle = idle_watch(&last, origin, limits.idle_timeout);
    tokio::pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                match result {
                    Err(e) => {
                        if e.is_timeout() {
                            stats.timed_out.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::debug!("connection ended: {e}");
                    }
                    // Served to the end: close gracefully (an error or a timeout just closes),
                    // or, after a 101, relay the WebSocket.
                    Ok(()) => {
                        let parts = conn.into_parts();
                        match upgrade.take() {
                            Some(relay) => relay(Box::new(parts.io.into_inner()), parts.read_buf).await,
                            None => linger(parts.io.into_inner()).await,
                        }
                    }
                }
                return;
            }
            () = &mut idle => {
                stats.timed_out.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("connection closed: idle");
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                }
            }
        }
    }
}

/// The longest a closing connection reads what its client still sends ([`linger`]).
pub const LINGER_MAX: Duration = Duration::from_secs(5);
/// ... and the longest it waits for the next bytes of it.
const LINGER_IDLE: Duration = Duration::from_secs(1);

/// Closes a connection whose last response has been written: the server's side first (the
/// client reads the response, then the end), then reads and discards whatever the client still
/// sends until it closes its side, falls silent for [`LINGER_IDLE`], or [`LINGER_MAX`] has
/// passed. Closing a socket with unread data makes the kernel send a reset, which can destroy
/// the response before the client has read it.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_MAX;
    let mut discard = [0u8; 16 * 1024];
    loop {
        let next = (tokio::time::Instant::now() + LINGER_IDLE).min(deadline);
        match tokio::time::timeout_at(next, stream.read(&mut discard)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// Resolves once nothing was read or written for `idle`.
async fn idle_watch(last: &AtomicU64, origin: Instant, idle: Duration) {
    loop {
        let last_ms = last.load(Ordering::Relaxed);
        let due = origin + Duration::from_millis(last_ms) + idle;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    }
}

/// A stream that records when it last read or wrote something.
struct Watched<S> {
    inner: S,
    /// Milliseconds since `origin`.
    last: Arc<AtomicU64>,
    origin: Instant,
}

impl<S> Watched<S> {
    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit_with_a_reserve() {
        assert_eq!(connection_cap(4096, 1 << 20), 4096);
        assert_eq!(connection_cap(4096, 1024), 768);
        assert_eq!(connection_cap(4096, 128), 64);
        assert_eq!(connection_cap(10, 128), 10);
        assert_eq!(connection_cap(4096, 1), 1);
    }
}
