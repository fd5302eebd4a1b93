//! Where an isolate thread takes its work from: its own queue, or the supervisor's socket, which
//! the threads read themselves (leader/followers: no dispatcher thread). A thread that goes
//! back to its inbox between two tasks reads whatever the socket holds, keeps what is its own
//! and queues the rest for the threads it belongs to (`router.rs`); only the last thread to run
//! out of work waits on the socket (it *watches*), the others sleep until a reader queues them
//! something. So a message wakes at most the thread that runs it, and a busy process reads its
//! socket in batches between tasks without waking anybody (a dispatcher thread woke for every
//! message, and woke the isolate thread after it).
//!
//! Guarantees:
//! - every message is routed once, by the one thread holding the reader, in the order it was
//!   written; each thread's work comes out of its queue in the order it was routed;
//! - a message does not wait for a busy thread when another is idle: a thread about to start long
//!   work (a snippet, a load, a chore) asks a sleeping thread to watch the socket in its place
//!   (`before_long_work`); a watcher that leaves to run its own work wakes a thread that sleeps
//!   because it was watching; and a thread that sleeps while another runs looks at the socket
//!   every [`STALE`] (the running thread may be in long JavaScript);
//! - a wait returns by its deadline when nothing arrives; no wake-up is lost (a thread marks
//!   itself asleep under its queue's lock and checks the queue under it; a reader queues under
//!   the same lock and wakes whoever it finds asleep);
//! - the socket's end, a `Shutdown`, a decode error or a confused message closes every inbox
//!   once the thread's queue is empty, and [`Hall::ended`] returns why;
//! - a thread waiting inside an entry for a synchronous host call's answer
//!   ([`ThreadInbox::wait_for_reply`]) reads as it would between two tasks (the same counting of
//!   running threads, the same watch and sleep), and keeps the other work it takes, in order,
//!   handed out before anything newer once the entry is over.
//!
//! Trusts: the supervisor to write each frame whole (a frame begun is read to its end,
//! blocking), and the decoder (size-capped, as the supervisor's).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use stockade_ipc::{read_frame, ToWorker};

use super::router::{Routed, Router};
use super::shared::Shared;
use super::thread::Work;

/// What one look at an inbox found.
// Returned and consumed at once: boxing the work would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Work(Work),
    /// Nothing arrived (at once, or by the deadline).
    Empty,
    /// Nothing will ever arrive: the thread's loop ends.
    Closed,
}

/// How long a thread that sleeps while another runs leaves the socket to the running one before
/// it looks itself: the bound on how long a message waits behind a task that turned out long
/// (JavaScript a Loader worker runs for milliseconds) while a thread is free. A sleeping thread
/// wakes at most this often, and only while another thread runs and nobody watches.
pub const STALE: Duration = Duration::from_millis(1);

/// The socket's read side, with the router: held by the one thread that reads.
struct Reader {
    socket: BufReader<Stream>,
    router: Router,
}

/// The shared socket, readable through the `Arc` (`&UnixStream` implements `Read`).
struct Stream {
    shared: Arc<Shared>,
    /// The next read returns at once (`WouldBlock` when nothing is there): one `recv` with
    /// `MSG_DONTWAIT` instead of a `poll` and a `recv` for a look between two tasks.
    dontwait: bool,
    /// The last read returned less than it could take: the socket held nothing more then (a
    /// stream socket's `recv` takes from every queued buffer until it has `len` bytes).
    emptied: bool,
    /// Reads made (tests count them).
    #[cfg(test)]
    reads: usize,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut stream: &std::os::unix::net::UnixStream = self.shared.stream();
        #[cfg(test)]
        {
            self.reads += 1;
        }
        if !self.dontwait {
            let n = stream.read(buf)?;
            self.emptied = n < buf.len();
            return Ok(n);
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call;
        // the descriptor is the shared socket, open for the life of `shared`.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
        self.emptied = n < buf.len();
        Ok(n)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sleep {
    Awake,
    /// Asleep while another thread runs and nobody watches: looks again after [`STALE`].
    Light,
    /// Asleep while a thread watches: until its own deadline or until it is woken.
    Deep,
}

struct Desk {
    queue: VecDeque<Work>,
    sleep: Sleep,
    /// Asked to watch the socket (`before_long_work`) when it next runs out of work.
    watch: bool,
}

/// One thread's place: its queue and whether it sleeps, under one lock.
struct Seat {
    desk: Mutex<Desk>,
    thread: OnceLock<std::thread::Thread>,
}

/// What the isolate threads of one process share to take their work.
pub struct Hall {
    reader: Mutex<Reader>,
    seats: Vec<Seat>,
    /// Threads neither asleep nor watching (a thread woken counts from when it is woken).
    running: AtomicUsize,
    /// A thread waits on the socket, holding the reader.
    watching: AtomicBool,
    closed: AtomicBool,
    ended: Mutex<Option<Result<(), String>>>,
    end_signal: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hall {
    /// A hall for `threads` isolate threads reading `shared`'s socket through a buffer of
    /// `buffer` bytes (frames arrive whole in one read when they fit).
    pub fn new(shared: Arc<Shared>, threads: usize, buffer: usize) -> Arc<Hall> {
        let threads = threads.max(1);
        Arc::new(Hall {
            reader: Mutex::new(Reader {
                socket: BufReader::with_capacity(
                    buffer,
                    Stream {
                        shared: Arc::clone(&shared),
                        dontwait: false,
                        emptied: false,
                        #[cfg(test)]
                        reads: 0,
                    },
                ),
                router: Router::new(shared),
            }),
            seats: (0..threads)
                .map(|_| Seat {
                    desk: Mutex::new(Desk {
                        queue: VecDeque::new(),
                        sleep: Sleep::Awake,
                        watch: false,
                    }),
                    thread: OnceLock::new(),
                })
                .collect(),
            running: AtomicUsize::new(threads),
            watching: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            ended: Mutex::new(None),
            end_signal: Condvar::new(),
        })
    }

    /// Thread `index`'s inbox; call on that thread (it is woken through its handle).
    pub fn inbox(self: &Arc<Hall>, index: usize) -> ThreadInbox {
        if let Some(seat) = self.seats.get(index) {
            let _ = seat.thread.set(std::thread::current());
        }
        ThreadInbox {
            hall: Arc::clone(self),
            me: index.min(self.seats.len() - 1),
            held: Rc::default(),
        }
    }

    /// Blocks until the inbox closes; why: `Ok` for a `Shutdown` or the socket's end.
    pub fn ended(&self) -> Result<(), String> {
        let mut ended = lock(&self.ended);
        loop {
            if let Some(why) = ended.clone() {
                return why;
            }
            ended = self
                .end_signal
                .wait(ended)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn end(&self, why: Result<(), String>) {
        lock(&self.ended).get_or_insert(why);
        self.closed.store(true, Ordering::SeqCst);
        self.end_signal.notify_all();
        for seat in &self.seats {
            let mut desk = lock(&seat.desk);
            self.wake(seat, &mut desk);
        }
    }

    /// Wakes the seat's thread if it sleeps (under its desk's lock); it counts as running from
    /// here.
    fn wake(&self, seat: &Seat, desk: &mut Desk) -> bool {
        if desk.sleep == Sleep::Awake {
            return false;
        }
        desk.sleep = Sleep::Awake;
        self.running.fetch_add(1, Ordering::SeqCst);
        if let Some(thread) = seat.thread.get() {
            thread.unpark();
        }
        true
    }

    fn deliver(&self, to: usize, work: Work) {
        let Some(seat) = self.seats.get(to) else {
            return;
        };
        let mut desk = lock(&seat.desk);
        desk.queue.push_back(work);
        self.wake(seat, &mut desk);
    }

    /// Reads and routes the frames there by `deadline` (`Some(now)`: those already there),
    /// until the socket has nothing more at once.
    fn read(&self, reader: &mut Reader, deadline: Option<Instant>) {
        let mut wait = deadline;
        let mut filled_here = false;
        while !self.closed.load(Ordering::SeqCst) {
            // Filling the buffer reads whatever the supervisor has written (several frames,
            // often); the frame's decoder then reads its rest, if any, blocking. A look that
            // must not wait reads without waiting; a wait polls first.
            if reader.socket.buffer().is_empty() {
                // The frames this look read are routed and their last read emptied the
                // socket: a second read would find nothing (a `recv` answering EAGAIN per
                // message); what arrives from now on is the next look's.
                if filled_here && reader.socket.get_ref().emptied {
                    return;
                }
                let at_once = wait.is_some_and(|w| w <= Instant::now());
                if !at_once && !readable_by(&reader.socket, wait) {
                    return;
                }
                reader.socket.get_mut().dontwait = at_once;
                let filled = reader.socket.fill_buf().map(<[u8]>::len);
                reader.socket.get_mut().dontwait = false;
                match filled {
                    Ok(0) => return self.end(Ok(())),
                    Ok(_) => filled_here = true,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return self.end(Err(format!("read: {e}"))),
                }
            }
            wait = Some(Instant::now());
            let message = match read_frame::<ToWorker, _>(&mut reader.socket) {
                Ok(Some(m)) => m,
                Ok(None) => return self.end(Ok(())),
                Err(e) => return self.end(Err(format!("read: {e}"))),
            };
            match reader.router.route(message) {
                Routed::Give(thread, work) => self.deliver(thread, work),
                Routed::Done => {}
                Routed::Stop(why) => return self.end(why),
            }
        }
    }
}

/// Whether the socket is readable by `deadline` (the buffer is empty).
fn readable_by(socket: &BufReader<Stream>, deadline: Option<Instant>) -> bool {
    loop {
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Rounded up: a wake a little late is better than a busy loop of zero waits.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut fd = libc::pollfd {
            fd: socket.get_ref().shared.stream().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; poll writes only revents.
        let ready = unsafe { libc::poll(&mut fd, 1, timeout) };
        if ready > 0 {
            // Readable, or hung up / in error: the read that follows says which.
            return true;
        }
        if ready == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // poll itself failed: let the read report the socket's state.
            return true;
        }
    }
}

/// One isolate thread's inbox.
pub struct ThreadInbox {
    hall: Arc<Hall>,
    me: usize,
    /// Work taken while the thread waited inside an entry for a synchronous host call's answer
    /// ([`ThreadInbox::wait_for_reply`]), in the order it came: handed out before anything new.
    /// Shared by the thread's handles ([`ThreadInbox::handle`]), all on this thread.
    held: Rc<RefCell<VecDeque<Work>>>,
}

/// How a wait for a synchronous host call's answer ended.
pub enum Reply {
    /// The answer, and the supervisor's CPU spent on it.
    Answered(Result<Vec<u8>, String>, std::time::Duration),
    /// Its deadline passed.
    TimedOut,
    /// The request was cancelled.
    Cancelled,
    /// The inbox closed (the socket's end, a `Shutdown`).
    Closed,
}

impl ThreadInbox {
    fn seat(&self) -> &Seat {
        &self.hall.seats[self.me]
    }

    fn pop(&self) -> Option<Work> {
        lock(&self.seat().desk).queue.pop_front()
    }

    /// Watches the socket until something arrives or `deadline`, if nobody else holds the
    /// reader; whether it did. Called with this thread counted as not running.
    fn watch(&self, deadline: Option<Instant>) -> bool {
        let hall = &*self.hall;
        let Ok(mut reader) = hall.reader.try_lock() else {
            return false;
        };
        hall.watching.store(true, Ordering::SeqCst);
        // Work queued before this thread took the reader is not missed: nobody can queue any
        // while it holds it, and what was queued is looked at first.
        let wait = if lock(&self.seat().desk).queue.is_empty() {
            deadline
        } else {
            Some(Instant::now())
        };
        hall.read(&mut reader, wait);
        hall.watching.store(false, Ordering::SeqCst);
        hall.running.fetch_add(1, Ordering::SeqCst);
        drop(reader);
        // Leaving the watch to run something (its own work, or its timers): a thread that
        // sleeps deeply because this one watched would not look at the socket meanwhile; wake
        // one, which sleeps lightly after.
        let due = deadline.is_some_and(|d| Instant::now() >= d);
        if due || !lock(&self.seat().desk).queue.is_empty() {
            for (i, seat) in hall.seats.iter().enumerate() {
                if i != self.me {
                    let mut desk = lock(&seat.desk);
                    if desk.sleep == Sleep::Deep && hall.wake(seat, &mut desk) {
                        break;
                    }
                }
            }
        }
        true
    }

    /// Sleeps until woken or `until`; the thread counts as not running meanwhile.
    fn sleep(&self, until: Option<Instant>) {
        let hall = &*self.hall;
        let deep = hall.watching.load(Ordering::SeqCst);
        let wake = if deep {
            until
        } else {
            let stale = Instant::now() + STALE;
            Some(until.map_or(stale, |u| u.min(stale)))
        };
        {
            let mut desk = lock(&self.seat().desk);
            if !desk.queue.is_empty() || hall.closed.load(Ordering::SeqCst) {
                hall.running.fetch_add(1, Ordering::SeqCst);
                return;
            }
            desk.sleep = if deep { Sleep::Deep } else { Sleep::Light };
        }
        match wake {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
        let mut desk = lock(&self.seat().desk);
        if desk.sleep != Sleep::Awake {
            // Woke by itself (its time, or spuriously): nobody counted it as running.
            desk.sleep = Sleep::Awake;
            hall.running.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Another handle of this thread's inbox (same queue, same held work), for the wait inside
    /// an entry ([`ThreadInbox::wait_for_reply`]). Stays on this thread.
    pub fn handle(&self) -> ThreadInbox {
        ThreadInbox {
            hall: Arc::clone(&self.hall),
            me: self.me,
            held: Rc::clone(&self.held),
        }
    }

    fn take_held(&self) -> Option<Work> {
        self.held.borrow_mut().pop_front()
    }

    /// Work that is already there, without waiting.
    pub fn try_next(&mut self) -> Next {
        match self.take_held() {
            Some(work) => Next::Work(work),
            None => self.try_fresh(),
        }
    }

    /// Work that is already there and was not held, without waiting.
    fn try_fresh(&mut self) -> Next {
        if let Ok(mut reader) = self.hall.reader.try_lock() {
            self.hall.read(&mut reader, Some(Instant::now()));
        }
        if let Some(work) = self.pop() {
            return Next::Work(work);
        }
        if self.hall.closed.load(Ordering::SeqCst) {
            return Next::Closed;
        }
        Next::Empty
    }

    /// Work, waiting for it until `deadline` (for ever when `None`).
    pub fn next_until(&mut self, deadline: Option<Instant>) -> Next {
        match self.take_held() {
            Some(work) => Next::Work(work),
            None => self.fresh_until(deadline),
        }
    }

    /// Waits, inside an entry, for the answer to host call `call` of request `request` until
    /// `deadline`: the thread reads its inbox as it would between two tasks (it may hold the
    /// reader and route for the others, the leader/followers protocol unchanged), and keeps
    /// every other piece of work it takes, in order, for after ([`ThreadInbox::next_until`]
    /// hands it out first). A `Cancel` of the request ends the wait (and is kept too).
    pub fn wait_for_reply(
        &mut self,
        request: stockade_ipc::RequestId,
        call: u32,
        deadline: Instant,
    ) -> Reply {
        let cancelled = |w: &Work| matches!(w, Work::Cancel(id) if *id == request);
        if self.held.borrow().iter().any(cancelled) {
            return Reply::Cancelled;
        }
        loop {
            match self.fresh_until(Some(deadline)) {
                Next::Work(Work::HostReply {
                    id,
                    call: answered,
                    cpu_us,
                    result,
                }) if id == request && answered == call => {
                    let spent = std::time::Duration::from_micros(u64::from(cpu_us));
                    return Reply::Answered(result, spent);
                }
                Next::Work(work) => {
                    let cancel = cancelled(&work);
                    self.held.borrow_mut().push_back(work);
                    if cancel {
                        return Reply::Cancelled;
                    }
                }
                Next::Closed => return Reply::Closed,
                Next::Empty if Instant::now() >= deadline => return Reply::TimedOut,
                Next::Empty => {}
            }
        }
    }

    /// New work (not held), waiting for it until `deadline` (for ever when `None`).
    fn fresh_until(&mut self, deadline: Option<Instant>) -> Next {
        loop {
            match self.try_fresh() {
                Next::Empty => {}
                found => return found,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Next::Empty;
            }
            let hall = &*self.hall;
            // Out of work: the last thread to run out watches the socket (so does one asked to).
            let last = hall.running.fetch_sub(1, Ordering::SeqCst) == 1;
            let asked = std::mem::take(&mut lock(&self.seat().desk).watch);
            if (last || asked) && self.watch(deadline) {
                continue;
            }
            self.sleep(deadline);
        }
    }

    /// The thread is about to be busy for a while (milliseconds): a sleeping thread is asked
    /// to watch the socket in its place, unless one already does.
    pub fn before_long_work(&mut self) {
        let hall = &*self.hall;
        if hall.watching.load(Ordering::SeqCst) {
            return;
        }
        for (i, seat) in hall.seats.iter().enumerate() {
            if i != self.me {
                let mut desk = lock(&seat.desk);
                if desk.sleep != Sleep::Awake {
                    desk.watch = true;
                    hall.wake(seat, &mut desk);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
mod tests;
