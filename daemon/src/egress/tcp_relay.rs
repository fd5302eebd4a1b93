//! A `cloudflare:sockets` connection's relay: one tokio task per socket moves bytes between the
//! upstream connection (plain TCP or TLS, `tcp.rs` opened it) and the worker's end, which the
//! request's `tcp.*` host calls drive.
//!
//! Guarantees:
//! - bounded both ways: the upstream is read [`CHUNK`] bytes at a time, and at most [`QUEUE`]
//!   chunks wait for the worker's `tcp.read` (the relay stops reading meanwhile, so TCP's own
//!   flow control slows the server); a `tcp.write` of at most [`CHUNK`] bytes is answered once
//!   queued, and at most [`QUEUE`] wait to be written (so a slow server slows the worker);
//! - reading and writing run at once (a server that writes while it waits for our bytes never
//!   deadlocks the relay); a `Shutdown` sends FIN after the queued writes (half-close), the read
//!   side going on until the server's EOF;
//! - the relay ends, closing the connection, when its [`Closer`] is dropped (the worker's
//!   `tcp.close`, or the request's end dropping its `TcpSockets`): what was queued before goes
//!   out first as far as the server takes it at once, and a write that waits on a server that
//!   does not read is given up; or hands its connection back, after the queued writes, for a
//!   `startTls` upgrade (`Detach`);
//! - what it carried (bytes each way) and how it ended go to the connection's [`Finish`], which
//!   audits one record when the connection is over (an upgrade hands it on), and then gives its
//!   place among the request's open connections back (after the connection is closed).
//!
//! Trusts: nothing from the worker but the byte counts it is given (each checked by `tcp.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::audit::{Audit, Record};
use super::connections::Slot;

/// The most one `tcp.read` answers, and one `tcp.write` carries.
pub const CHUNK: usize = 64 << 10;
/// Chunks waiting each way.
pub const QUEUE: usize = 4;

/// A connection the relay can carry: plain TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// What the worker's end asks of the relay.
pub enum Command {
    Write(Vec<u8>),
    /// Half-close: FIN after what is queued.
    Shutdown,
    /// Hand the connection back (after what is queued) for a TLS upgrade.
    Detach(oneshot::Sender<(BoxIo, Finish)>),
}

/// What the relay hands the worker's end.
enum Event {
    Data(Vec<u8>),
    Eof,
    Failed(String),
}

/// The audit record of one connection, written once when it is over (dropped).
pub struct Finish {
    pub audit: Arc<Audit>,
    pub index: usize,
    pub record: Record,
    pub started: Instant,
    pub bytes_in: Arc<AtomicU64>,
    pub bytes_out: Arc<AtomicU64>,
    /// How it ended, when not as the worker or its request closed it.
    pub failure: Arc<Mutex<Option<String>>>,
    /// Its place among the request's open connections (`connections`): given back when the
    /// connection is over (an upgrade hands it on with the rest).
    pub slot: Option<Slot>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut record = self.record.clone();
        record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        record.bytes_out = self.bytes_out.load(Ordering::Relaxed);
        record.ms = self.started.elapsed().as_millis() as u64;
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        record.reason = Some(failure.unwrap_or_else(|| "closed".into()));
        self.audit.record(self.index, record);
        // Audited: its place goes to the request's next connection.
        drop(self.slot.take());
    }
}

/// Dropped, ends its relay (closing the connection).
pub struct Closer(#[allow(dead_code)] oneshot::Sender<()>);

/// The worker's end of one relay; clones share it.
#[derive(Clone)]
pub struct SocketEnd {
    commands: mpsc::Sender<Command>,
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<Event>>>,
    failure: Arc<Mutex<Option<String>>>,
}

const NOT_OPEN: &str = "socket is not open";

impl SocketEnd {
    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the relay is over (closed, failed or detached).
    pub fn is_over(&self) -> bool {
        self.commands.is_closed()
    }

    /// `tcp.read`: the next chunk from the server; empty at its EOF (and after); its failure.
    pub async fn read(&self) -> Result<Vec<u8>, String> {
        let next = self.events.lock().await.recv().await;
        match next {
            Some(Event::Data(bytes)) => Ok(bytes),
            Some(Event::Failed(why)) => Err(why),
            Some(Event::Eof) => Ok(Vec::new()),
            None => self.failure().map_or(Ok(Vec::new()), Err),
        }
    }

    /// `tcp.write` and `tcp.shutdown`: answered once the relay has queued it.
    pub async fn command(&self, command: Command) -> Result<(), String> {
        self.commands
            .send(command)
            .await
            .map_err(|_| self.failure().unwrap_or_else(|| NOT_OPEN.into()))
    }
}

/// Why an I/O error ended a direction, in words tenant code can be shown.
pub fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "the connection was reset by the server".into(),
        ConnectionAborted => "the connection was aborted".into(),
        BrokenPipe => "the server closed the connection".into(),
        TimedOut => "the connection timed out".into(),
        _ => format!("the connection failed: {e}"),
    }
}

/// Why a connection could not be made, in words tenant code can be shown.
pub fn describe_connect(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "the connection timed out".into(),
        _ => e.to_string(),
    }
}

/// Starts the relay of `io`; the worker's end and the closer that ends it.
pub fn spawn(io: BoxIo, finish: Finish) -> (SocketEnd, Closer) {
    let (commands_tx, commands) = mpsc::channel(QUEUE);
    let (events, events_rx) = mpsc::channel(QUEUE);
    let (closer_tx, closer) = oneshot::channel();
    let failure = Arc::clone(&finish.failure);
    tokio::spawn(relay(io, commands, events, closer, finish));
    (
        SocketEnd {
            commands: commands_tx,
            events: Arc::new(tokio::sync::Mutex::new(events_rx)),
            failure,
        },
        Closer(closer_tx),
    )
}

/// How the writing side ended.
enum Ended {
    Closed,
    Failed(String),
    Detach(oneshot::Sender<(BoxIo, Finish)>),
}

fn note_failure(slot: &Mutex<Option<String>>, why: String) {
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert(why);
}

async fn relay(
    io: BoxIo,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    mut closer: oneshot::Receiver<()>,
    finish: Finish,
) {
    let (mut rd, mut wr) = tokio::io::split(io);
    let (stop_tx, mut stop) = watch::channel(false);
    let bytes_in = Arc::clone(&finish.bytes_in);
    let bytes_out = Arc::clone(&finish.bytes_out);
    let read_failure = Arc::clone(&finish.failure);
    // Owns `events`: once it returns, a `tcp.read` finds the channel closed (EOF, or the failure).
    let reading = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let permit = tokio::select! {
                permit = events.reserve() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = stop.wait_for(|stopped| *stopped) => break,
            };
            let read = tokio::select! {
                read = rd.read(&mut buf) => read,
                _ = stop.wait_for(|stopped| *stopped) => break,
            };
            match read {
                Ok(0) => {
                    permit.send(Event::Eof);
                    break;
                }
                Ok(n) => {
                    bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    permit.send(Event::Data(buf[..n].to_vec()));
                }
                Err(e) => {
                    let why = describe(&e);
                    note_failure(&read_failure, why.clone());
                    permit.send(Event::Failed(why));
                    break;
                }
            }
        }
        rd
    };
    let writing = async move {
        let ended = loop {
            // Biased: what was queued before the close goes out first (a node:net socket's last
            // write and its FIN, answered as queued, then `tcp.close`), as far as the server
            // takes it without waiting.
            let command = tokio::select! {
                biased;
                command = commands.recv() => command,
                _ = &mut closer => None,
            };
            match command {
                None => break Ended::Closed,
                Some(Command::Write(bytes)) => {
                    let wrote = tokio::select! {
                        biased;
                        wrote = wr.write_all(&bytes) => wrote,
                        _ = &mut closer => break Ended::Closed,
                    };
                    if let Err(e) = wrote {
                        break Ended::Failed(describe(&e));
                    }
                    bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Some(Command::Shutdown) => {
                    let shut = tokio::select! {
                        biased;
                        shut = wr.shutdown() => shut,
                        _ = &mut closer => break Ended::Closed,
                    };
                    if let Err(e) = shut {
                        break Ended::Failed(describe(&e));
                    }
                }
                Some(Command::Detach(reply)) => {
                    if let Err(e) = wr.flush().await {
                        break Ended::Failed(describe(&e));
                    }
                    break Ended::Detach(reply);
                }
            }
        };
        let _ = stop_tx.send(true);
        (wr, ended)
    };
    let (rd, (wr, ended)) = tokio::join!(reading, writing);
    match ended {
        Ended::Detach(reply) => {
            // The upgrade carries on the connection, its audit record and its place.
            let _ = reply.send((rd.unsplit(wr), finish));
            return;
        }
        Ended::Failed(why) => note_failure(&finish.failure, why),
        Ended::Closed => {}
    }
    // The connection is closed first; then it is audited and its place given back.
    drop((rd, wr));
    drop(finish);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(audit: &Arc<Audit>) -> Finish {
        Finish {
            audit: Arc::clone(audit),
            index: 0,
            record: Record {
                at_ms: 0,
                tenant: "t".into(),
                worker: None,
                method: "CONNECT".into(),
                scheme: "tcp".into(),
                host: "h".into(),
                port: 1,
                path: String::new(),
                rule: Some(0),
                verdict: "allowed",
                reason: None,
                status: None,
                bytes_out: 0,
                bytes_in: 0,
                ms: 0,
                queued_ms: 0,
            },
            started: Instant::now(),
            bytes_in: Arc::default(),
            bytes_out: Arc::default(),
            failure: Arc::default(),
            slot: None,
        }
    }

    #[tokio::test]
    async fn bytes_cross_both_ways_half_close_is_a_fin_and_closing_audits_once() {
        let audit = Arc::new(Audit::new(1));
        let (ours, mut theirs) = tokio::io::duplex(1 << 10);
        let (end, closer) = spawn(Box::new(ours), finish(&audit));
        end.command(Command::Write(b"ping".to_vec()))
            .await
            .expect("queued");
        end.command(Command::Shutdown).await.expect("queued");
        let mut got = Vec::new();
        theirs.read_to_end(&mut got).await.expect("read to FIN");
        assert_eq!(got, b"ping");
        theirs.write_all(b"pong").await.expect("write");
        assert_eq!(end.read().await, Ok(b"pong".to_vec()));
        drop(theirs);
        assert_eq!(end.read().await, Ok(Vec::new()), "EOF");
        assert_eq!(end.read().await, Ok(Vec::new()), "still EOF");
        drop(closer);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while audit.latest(0, 5).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let records = audit.latest(0, 5);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!((records[0].bytes_out, records[0].bytes_in), (4, 4));
        assert_eq!(records[0].reason.as_deref(), Some("closed"));
        assert_eq!(
            end.command(Command::Shutdown).await,
            Err(NOT_OPEN.to_owned())
        );
    }

    /// node:net's end of a half-closed socket: its last write and its FIN are answered as
    /// queued, and `tcp.close` follows at once (both sides done). The server still gets both.
    /// Before the select was biased, the close won over the queued write about one run in two.
    #[tokio::test]
    async fn a_close_right_after_a_write_and_a_shutdown_lets_them_out_first() {
        for run in 0..50 {
            let audit = Arc::new(Audit::new(1));
            let (ours, mut theirs) = tokio::io::duplex(1 << 10);
            let (end, closer) = spawn(Box::new(ours), finish(&audit));
            end.command(Command::Write(b"after".to_vec()))
                .await
                .expect("queued");
            end.command(Command::Shutdown).await.expect("queued");
            drop((closer, end));
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.expect("read to EOF");
            assert_eq!(got, b"after", "run {run}");
        }
    }

    #[tokio::test]
    async fn a_write_the_server_never_takes_ends_when_closed() {
        let audit = Arc::new(Audit::new(1));
        let (ours, _theirs) = tokio::io::duplex(16);
        let (end, closer) = spawn(Box::new(ours), finish(&audit));
        for _ in 0..QUEUE + 1 {
            end.command(Command::Write(vec![1; CHUNK]))
                .await
                .expect("queued");
        }
        let blocked = {
            let end = end.clone();
            tokio::spawn(async move { end.command(Command::Write(vec![2; CHUNK])).await })
        };
        drop(closer);
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), blocked)
            .await
            .expect("not stuck")
            .expect("task");
        assert!(answer.is_ok() || answer == Err(NOT_OPEN.to_owned()));
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while !end.is_over() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
            .await
            .is_ok(),
            "the relay ended"
        );
    }

    #[tokio::test]
    async fn detach_hands_the_connection_back_after_queued_writes() {
        let audit = Arc::new(Audit::new(1));
        let (ours, mut theirs) = tokio::io::duplex(1 << 10);
        let (end, _closer) = spawn(Box::new(ours), finish(&audit));
        end.command(Command::Write(b"before".to_vec()))
            .await
            .expect("queued");
        let (tx, rx) = oneshot::channel();
        end.command(Command::Detach(tx)).await.expect("queued");
        let (mut io, finish) = rx.await.expect("handed back");
        let mut got = [0u8; 6];
        theirs.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"before");
        io.write_all(b"after").await.expect("write");
        let mut got = [0u8; 5];
        theirs.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"after");
        assert!(audit.latest(0, 5).is_empty(), "not audited while upgraded");
        drop(finish);
        assert_eq!(audit.latest(0, 5).len(), 1);
    }
}
