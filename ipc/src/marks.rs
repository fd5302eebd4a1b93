//! Which requests a worker process had started when it died. The supervisor makes a small shared
//! memory file per process ([`Marks::create`]) and passes it with `Hello` ([`send_with_fd`]); the
//! worker maps it ([`Marks::map`]) and marks each request ([`Marks::mark`]) before it runs any of
//! its code. When the process dies, a request in flight whose mark is missing never ran: the
//! supervisor places it again elsewhere instead of failing it with the process.
//!
//! A request's id names its slot (low [`SLOT_BITS`] bits; see [`request_id`]), which the
//! supervisor gives to one request in flight at a time. The worker raises the slot to the id
//! (`fetch_max`): ids only grow, so a request that started after its slot was given to a newer
//! one (cancelled, then run late) cannot hide the newer one's mark. Slot 0 is no slot: such a
//! request is never marked and counts as started; its word holds [`MAPPED`] once the worker has
//! mapped the file, and without it every request counts as started (a worker that could not
//! map it marks nothing, which must not read as "nothing started").
//!
//! One more word names the culprit when the process ends itself for a limit of one request
//! (`crate::exit`) while others run beside it: the worker writes that request's id
//! ([`Marks::blame`]) just before it exits, and the supervisor answers that request with its
//! limit ([`Marks::culprit`]) and the others as lost with the process.
//!
//! Guarantees: the file is exactly [`LEN`] bytes and sealed against shrinking and growing before
//! the worker gets it, so no worker can make the supervisor's mapping fault; the supervisor only
//! compares the 64-bit words it reads. A mark is one atomic operation on one word, visible to
//! the supervisor once the worker died.
//! Trusts: the worker's marks as far as its own requests go: a compromised worker can leave a
//! started request unmarked (it is then run again elsewhere) or mark one that never ran. It
//! hosts those requests anyway (it could forge their answers and their host calls). The culprit
//! it names must be one of its requests in flight, which it could fail anyway: it decides that
//! request's answer and the weak `cpu_limit_hit`/`memory_limit_hit` signal an answered limit
//! gives its tenant, not crash blame.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::RequestId;

/// Bits of a request id that name its slot.
pub const SLOT_BITS: u32 = 12;
/// Slots, slot 0 (no slot) included.
pub const SLOTS: usize = 1 << SLOT_BITS;
/// The word after the slots': the culprit's id (see [`Marks::blame`]), 0 for none.
const CULPRIT: usize = SLOTS;
/// 64-bit words of the shared file: one per slot, and the culprit's.
const WORDS: usize = SLOTS + 1;
/// Bytes of the shared file.
pub const LEN: usize = WORDS * 8;
/// The slot of requests that have none (more requests in flight than slots). Its word holds
/// [`MAPPED`] once the worker has mapped the file.
pub const NO_SLOT: u16 = 0;
/// What the worker writes in slot 0's word once it has mapped the file: until then (a worker
/// that failed to map it, or never got it), every request counts as started.
pub const MAPPED: u64 = u64::from_le_bytes(*b"stkmarks");

/// The id of the `seq`-th request of a process, in `slot` (`seq` from 1).
pub fn request_id(seq: u64, slot: u16) -> RequestId {
    RequestId(seq << SLOT_BITS | u64::from(slot) & (SLOTS as u64 - 1))
}

/// The slot `id` names.
pub fn slot_of(id: RequestId) -> usize {
    (id.0 & (SLOTS as u64 - 1)) as usize
}

/// One process's marks, mapped shared.
pub struct Marks {
    words: NonNull<AtomicU64>,
}

// SAFETY: the mapping is only reached through atomics, from any thread; it lives until drop.
unsafe impl Send for Marks {}
// SAFETY: as above: every access is an atomic operation on a word of the mapping.
unsafe impl Sync for Marks {}

impl Marks {
    /// The supervisor's side: a new sealed file of [`LEN`] zero bytes, mapped, and the
    /// descriptor to pass to the worker (close-on-exec).
    pub fn create() -> std::io::Result<(Marks, OwnedFd)> {
        let fd = rustix::fs::memfd_create(
            "stockade-marks",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        rustix::fs::ftruncate(&fd, LEN as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let marks = Marks::map_only(fd.as_fd())?;
        Ok((marks, fd))
    }

    /// The worker's side: maps the file the supervisor passed (the descriptor may be closed
    /// afterwards) and says so in it (see [`MAPPED`]).
    pub fn map(fd: BorrowedFd<'_>) -> std::io::Result<Marks> {
        let marks = Marks::map_only(fd)?;
        marks
            .word(usize::from(NO_SLOT))
            .store(MAPPED, Ordering::Release);
        Ok(marks)
    }

    fn map_only(fd: BorrowedFd<'_>) -> std::io::Result<Marks> {
        // SAFETY: a fresh shared mapping of LEN bytes of a file at least that long (sealed so
        // by the supervisor), at an address the kernel picks; nothing else refers to it.
        let at = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let words = NonNull::new(at.cast::<AtomicU64>())
            .ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Marks { words })
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        debug_assert!(index < WORDS);
        // SAFETY: index % WORDS < WORDS, so the word lies inside the LEN-byte mapping
        // (page-aligned, hence 8-byte aligned), which lives as long as `self`; AtomicU64 has
        // u64's layout.
        unsafe { &*self.words.as_ptr().add(index % WORDS) }
    }

    /// The worker's side: `id` is about to run.
    pub fn mark(&self, id: RequestId) {
        let slot = slot_of(id);
        if slot != usize::from(NO_SLOT) {
            self.word(slot).fetch_max(id.0, Ordering::Release);
        }
    }

    /// The supervisor's side, once the worker is gone: whether `id` may have run (a request
    /// without a slot may have, and so may any of a worker that never mapped the file).
    pub fn started(&self, id: RequestId) -> bool {
        let slot = slot_of(id);
        slot == usize::from(NO_SLOT)
            || self.word(usize::from(NO_SLOT)).load(Ordering::Acquire) != MAPPED
            || self.word(slot).load(Ordering::Acquire) == id.0
    }
}

impl Marks {
    /// The worker's side, as it ends itself to enforce a limit of request `id`: names it. One
    /// atomic store, safe from any thread while the process is going down.
    pub fn blame(&self, id: RequestId) {
        self.word(CULPRIT).store(id.0, Ordering::Release);
    }

    /// The supervisor's side, once the worker ended itself for a limit: the request it named,
    /// if it named one.
    pub fn culprit(&self) -> Option<RequestId> {
        match self.word(CULPRIT).load(Ordering::Acquire) {
            0 => None,
            id => Some(RequestId(id)),
        }
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, LEN bytes; no reference to it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.words.as_ptr().cast(), LEN) };
    }
}

/// Sends `bytes` on `socket` with `fd` attached (`SCM_RIGHTS`); the bytes sent (the descriptor
/// travels with the first of them).
pub fn send_with_fd(
    socket: BorrowedFd<'_>,
    bytes: &[u8],
    fd: BorrowedFd<'_>,
) -> std::io::Result<usize> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptor"));
    }
    Ok(rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?)
}

/// Receives into `buf` from `socket`, blocking; the bytes read and the first descriptor that
/// came with them, if any (close-on-exec; any others are closed).
pub fn recv_with_fd(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut passed = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                if passed.is_none() {
                    passed = Some(fd);
                }
            }
        }
    }
    Ok((got.bytes, passed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn ids_name_their_slot_and_slots_wrap_into_range() {
        let id = request_id(7, 5);
        assert_eq!(slot_of(id), 5);
        assert_eq!(id.0 >> SLOT_BITS, 7);
        assert!(request_id(1, 1) < request_id(2, 0), "ids grow with seq");
        assert_eq!(slot_of(RequestId(u64::MAX)), SLOTS - 1);
    }

    #[test]
    fn a_mark_made_through_a_passed_descriptor_is_seen_and_stale_marks_hide_nothing() {
        let (ours, theirs) = UnixStream::pair().expect("pair");
        let (supervisor, fd) = Marks::create().expect("create");
        assert!(
            supervisor.started(request_id(1, 3)),
            "before the worker maps the file, everything may have started"
        );
        let sent = send_with_fd(ours.as_fd(), b"hi", fd.as_fd()).expect("send");
        assert_eq!(sent, 2);
        drop(fd);
        let mut buf = [0u8; 8];
        let (got, passed) = recv_with_fd(theirs.as_fd(), &mut buf).expect("recv");
        assert_eq!(&buf[..got], b"hi");
        let passed = passed.expect("a descriptor came");
        let worker = Marks::map(passed.as_fd()).expect("map");
        drop(passed);

        let (old, new, never) = (request_id(1, 9), request_id(2, 9), request_id(3, 10));
        worker.mark(new);
        worker.mark(old); // the slot's previous holder, run late: cannot hide `new`
        assert!(supervisor.started(new));
        assert!(!supervisor.started(old));
        assert!(!supervisor.started(never));
        let unslotted = request_id(4, NO_SLOT);
        assert!(supervisor.started(unslotted), "no slot: may have run");
    }

    #[test]
    fn the_culprit_the_worker_names_is_the_one_the_supervisor_reads() {
        let (supervisor, fd) = Marks::create().expect("create");
        let worker = Marks::map(fd.as_fd()).expect("map");
        assert_eq!(supervisor.culprit(), None, "none named");
        let (culprit, beside) = (request_id(5, SLOTS as u16 - 1), request_id(6, 1));
        worker.mark(culprit);
        worker.mark(beside);
        worker.blame(culprit);
        assert_eq!(supervisor.culprit(), Some(culprit));
        // The culprit's word is its own: the last slot's mark is untouched by it.
        assert!(supervisor.started(culprit) && supervisor.started(beside));
    }

    #[test]
    fn the_file_cannot_be_shrunk_or_grown() {
        let (_marks, fd) = Marks::create().expect("create");
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
        assert!(rustix::fs::ftruncate(&fd, (LEN * 2) as u64).is_err());
        assert_eq!(rustix::fs::fstat(&fd).expect("stat").st_size, LEN as i64);
    }
}
