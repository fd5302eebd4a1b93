//! The link's writing side: the frames for one worker, written in the order they are queued.
//! The task that queues a frame writes it itself, at once, when nothing is waiting before it
//! and the socket takes it whole (the common case: a request or a host reply of a few hundred
//! bytes into an empty socket buffer); whatever the socket does not take is left to the writer
//! task ([`Outbox::drain`]), which waits for the socket to be writable. Writing in place saves a
//! hand-off to the writer task and back for every frame (measured: the supervisor's part of a
//! binding call's round trip, see benches/RESULTS.md's binding figures).
//!
//! Guarantees: frames are written whole and in queue order, never interleaved: a sender writes
//! only when the queue is empty and the writer task holds no frame, under the queue's lock, and
//! a frame written in part goes into the queue with what is left of it, for the writer task to
//! finish before anything after it. After [`Outbox::close`] (the link closed, or a write failed)
//! nothing more is accepted or written, and the socket's writing direction is shut down, so the
//! worker reads the end of its input. A frame queued with a [`Held`] (a host call's answer)
//! keeps its bytes counted against the host-call budget until it is written whole or dropped.
//! A write error is the writer task's to report (the link
//! then closes): a sender that meets one leaves its frame queued and wakes the writer task.
//! Trusts: nothing.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};

use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::Notify;

use super::NotSent;
use crate::supervisor::held::Held;

pub(super) struct Outbox {
    half: OwnedWriteHalf,
    state: Mutex<State>,
    /// The writer task's wake-up: a frame was left in the queue.
    queued: Notify,
}

#[derive(Default)]
struct State {
    /// Frames to write, each with how much of it is written already and what it holds of the
    /// host-call budget.
    queue: VecDeque<(Vec<u8>, usize, Option<Held>)>,
    /// The writer task holds a frame it took from the queue and has not finished.
    writing: bool,
    closed: bool,
}

/// How much of `frame` a non-blocking write took, or `None` if the socket failed.
fn write_now(half: &OwnedWriteHalf, frame: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < frame.len() {
        match half.try_write(&frame[at..]) {
            Ok(0) => return Some(at),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(at),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(at)
}

impl Outbox {
    pub(super) fn new(half: OwnedWriteHalf) -> Outbox {
        Outbox {
            half,
            state: Mutex::new(State::default()),
            queued: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` (written at once when nothing is before it); `NotSent` once closed.
    pub(super) fn push(&self, frame: Vec<u8>) -> Result<(), NotSent> {
        self.push_held(frame, None)
    }

    /// [`Outbox::push`], `held` given back once `frame` is written whole (or dropped).
    pub(super) fn push_held(&self, frame: Vec<u8>, held: Option<Held>) -> Result<(), NotSent> {
        let mut state = self.state();
        if state.closed {
            return Err(NotSent);
        }
        let at = if state.queue.is_empty() && !state.writing {
            match write_now(&self.half, &frame) {
                Some(at) if at == frame.len() => return Ok(()),
                Some(at) => at,
                None => 0, // the writer task meets the error again and reports it
            }
        } else {
            0
        };
        state.queue.push_back((frame, at, held));
        drop(state);
        self.queued.notify_one();
        Ok(())
    }

    /// The writer task: writes what senders left in the queue, in order, until a write fails
    /// (the error) or the outbox is closed (`Ok`).
    pub(super) async fn drain(&self) -> std::io::Result<()> {
        loop {
            let (frame, mut at, _held) = loop {
                {
                    let mut state = self.state();
                    if state.closed {
                        return Ok(());
                    }
                    if let Some(next) = state.queue.pop_front() {
                        state.writing = true;
                        break next;
                    }
                    state.writing = false;
                }
                // A frame queued after the look above stored a wake-up: none is lost.
                self.queued.notified().await;
            };
            while at < frame.len() {
                self.half.writable().await?;
                match self.half.try_write(&frame[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.close();
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Accepts and writes nothing more, and shuts the socket's writing direction down
    /// (idempotent).
    pub(super) fn close(&self) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        state.closed = true;
        state.queue.clear();
        drop(state);
        self.queued.notify_one();
        let fd = self.half.as_ref().as_raw_fd();
        // SAFETY: `fd` is the link's socket, open for as long as `self.half` lives (it is
        // borrowed here); shutdown(2) takes no pointers and only ends the writing direction (a
        // write the writer task still has under way fails with EPIPE, which it reports).
        unsafe {
            libc::shutdown(fd, libc::SHUT_WR);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;

    use super::*;

    /// Frame `i`: its index, then `len` bytes of its low byte.
    fn frame(i: u32, len: usize) -> Vec<u8> {
        let mut f = i.to_le_bytes().to_vec();
        f.extend(std::iter::repeat_n(i as u8, len));
        f
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_larger_than_the_socket_takes_arrive_whole_and_in_order() {
        let (ours, mut theirs) = UnixStream::pair().expect("pair");
        let (_read, write) = ours.into_split();
        let outbox = Arc::new(Outbox::new(write));
        let writer = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.drain().await }
        });
        // Big frames fill the socket buffer (a few hundred KiB) and the reader drains it
        // meanwhile, so the small ones behind a big one find room in the socket while the big
        // one is half written: they must wait in the queue rather than be written in place.
        let sizes: Vec<usize> = (0..200u32)
            .map(|i| if i % 7 == 0 { 1 << 20 } else { 16 })
            .collect();
        let expected: Vec<u8> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, &len)| frame(i as u32, len))
            .collect();
        let total = expected.len();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; total];
            theirs.read_exact(&mut got).await.expect("every byte");
            (got, theirs)
        });
        for (i, &len) in sizes.iter().enumerate() {
            outbox.push(frame(i as u32, len)).expect("open");
            tokio::task::yield_now().await;
        }
        let (got, mut theirs) = reader.await.expect("reader");
        assert!(got == expected, "the bytes arrive as queued");
        outbox.close();
        assert_eq!(outbox.push(frame(99, 1)), Err(NotSent));
        let mut rest = Vec::new();
        theirs.read_to_end(&mut rest).await.expect("the end");
        assert!(
            rest.is_empty(),
            "nothing after close, and the reader sees the end"
        );
        assert!(writer.await.expect("writer").is_ok());
    }

    /// The case the queue exists for, step by step on one thread: a frame the socket took
    /// in part, room made in the socket, then a small frame. It must not overtake the rest of
    /// the first.
    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_never_overtakes_the_rest_of_one_written_in_part() {
        use std::io::Read;
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let ours = UnixStream::from_std(ours).expect("tokio");
        ours.writable().await.expect("writable");
        let (_read, write) = ours.into_split();
        let outbox = Arc::new(Outbox::new(write));
        let big = frame(1, 4 << 20);
        outbox.push(big.clone()).expect("open");
        assert!(
            !outbox.state().queue.is_empty(),
            "the socket took only part of 4 MiB"
        );
        // Everything written so far, which empties the socket.
        theirs.set_nonblocking(true).expect("nonblocking");
        let mut first = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            match theirs.read(&mut chunk) {
                Ok(n) if n > 0 => first.extend_from_slice(&chunk[..n]),
                Ok(_) => panic!("the end, too early"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        theirs.set_nonblocking(false).expect("blocking");
        assert!(!first.is_empty() && first.len() < big.len());
        // Let the runtime see the socket writable again, so a write in place would succeed.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        outbox.push(frame(2, 16)).expect("open");
        let writer = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.drain().await }
        });
        let rest_len = big.len() + 20 - first.len();
        let reader = std::thread::spawn(move || {
            let mut rest = vec![0u8; rest_len];
            theirs.read_exact(&mut rest).expect("the rest");
            rest
        });
        let rest = tokio::task::spawn_blocking(move || reader.join().expect("reader"))
            .await
            .expect("join");
        let got: Vec<u8> = first.into_iter().chain(rest).collect();
        let expected: Vec<u8> = big.into_iter().chain(frame(2, 16)).collect();
        assert!(
            got == expected,
            "the small frame came after the whole big one"
        );
        outbox.close();
        assert!(writer.await.expect("writer").is_ok());
    }

    #[tokio::test]
    async fn a_write_to_a_closed_peer_is_the_writer_tasks_error() {
        let (ours, theirs) = UnixStream::pair().expect("pair");
        let (_read, write) = ours.into_split();
        drop(theirs);
        let outbox = Arc::new(Outbox::new(write));
        let writer = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.drain().await }
        });
        outbox
            .push(frame(1, 16))
            .expect("accepted: the error is reported by the writer");
        let error = writer.await.expect("writer").expect_err("a broken pipe");
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(
            outbox.push(frame(2, 16)),
            Err(NotSent),
            "closed by the error"
        );
    }
}
