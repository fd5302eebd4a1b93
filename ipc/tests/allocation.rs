//! Allocation accounting under hostile input, measured by a counting global allocator (this test
//! binary's own): lengths a peer merely *claims* must cost nothing; the bytes it actually sends
//! bound what is allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Read};

use stockade_ipc::limits::{MAX_MODULES, PROTOCOL_VERSION};
use stockade_ipc::{
    decode_frame, read_frame, DecodeError, Decoded, LoadWorker, LogLine, MessageKind, Module,
    ReadError, ToSupervisor, ToWorker, READ_CHUNK,
};

/// Per-thread counters, so tests running in parallel do not see each other's allocations.
struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: allocations during thread teardown are simply not counted.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = TOTAL.try_with(|t| t.set(t.get() + size));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the bookkeeping touches only const-initialised thread-locals, which do not
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as our caller's: `layout` has non-zero size.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as our caller's: `layout` has non-zero size.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `System`)
        // with `layout`, and that `new_size` is valid for `layout.align()`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `System`)
        // with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Largest single allocation and total bytes allocated by `f` on this thread.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LARGEST.with(|l| l.set(0));
    TOTAL.with(|t| t.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get), TOTAL.with(Cell::get))
}

fn header(kind: MessageKind, len: u32) -> Vec<u8> {
    let mut frame = vec![b'S', b'K', PROTOCOL_VERSION, kind.code()];
    frame.extend_from_slice(&len.to_le_bytes());
    frame
}

#[test]
fn claimed_lengths_cost_nothing() {
    let huge = header(MessageKind::Outcome, u32::MAX);
    let (result, _, total) = measure(|| decode_frame::<ToSupervisor>(&huge));
    assert!(matches!(result, Err(DecodeError::FrameTooLarge { .. })));
    assert_eq!(total, 0);

    let max = u32::try_from(MessageKind::Outcome.max_payload()).expect("fits");
    let pending = header(MessageKind::Outcome, max);
    let (result, _, total) = measure(|| decode_frame::<ToSupervisor>(&pending));
    assert_eq!(result, Ok(Decoded::NeedMore(max as usize)));
    assert_eq!(total, 0);

    // A complete 12-byte RunSnippet payload whose code claims 4 GiB.
    let mut frame = header(MessageKind::RunSnippet, 12);
    frame.extend_from_slice(&[0; 8]);
    frame.extend_from_slice(&u32::MAX.to_le_bytes());
    let (result, _, total) = measure(|| decode_frame::<ToWorker>(&frame));
    assert!(matches!(result, Err(DecodeError::Limit(_))));
    assert_eq!(total, 0);

    // A complete 16-byte HostCall payload (the hostile direction) whose name claims 4 GiB.
    let mut frame = header(MessageKind::HostCall, 16);
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&u32::MAX.to_le_bytes());
    let (result, _, total) = measure(|| decode_frame::<ToSupervisor>(&frame));
    assert!(matches!(result, Err(DecodeError::Limit(_))));
    assert_eq!(total, 0);
}

/// A list count is believed only as far as the remaining bytes could hold items.
#[test]
fn list_capacity_bounded_by_bytes_present() {
    // Outcome(Ok(Loaded)) claiming 1024 log lines, followed by 16 bytes: at most 3 lines
    // (5 bytes each, minimum) could fit; the first has an invalid level.
    let mut payload = vec![0; 8];
    payload.extend_from_slice(&[1, 1]);
    payload.extend_from_slice(&1024u32.to_le_bytes());
    payload.extend_from_slice(&[0; 16]);
    let mut frame = header(MessageKind::Outcome, payload.len() as u32);
    frame.extend_from_slice(&payload);
    let (result, largest, _) = measure(|| decode_frame::<ToSupervisor>(&frame));
    assert!(matches!(result, Err(DecodeError::InvalidTag { .. })));
    assert!(
        largest <= 3 * size_of::<LogLine>(),
        "reserved {largest} bytes for a claimed list"
    );
}

/// What a valid frame decodes to stays within a small multiple of its payload, even for the
/// most inflating shape (a maximal list of empty modules).
#[test]
fn decoded_size_bounded_by_payload() {
    let load = ToWorker::LoadWorker(LoadWorker {
        request_id: stockade_ipc::RequestId(1),
        worker_id: stockade_ipc::WorkerId([0; 32]),
        tenant: String::new(),
        main_module: String::new(),
        modules: vec![
            Module {
                name: String::new(),
                kind: stockade_ipc::ModuleKind::Js,
                bytes: Vec::new(),
            };
            MAX_MODULES
        ],
        env: vec![],
        limits: stockade_ipc::Limits::default(),
        profile: stockade_ipc::Profile::Standard,
        compatibility_date: String::new(),
        compatibility_flags: vec![],
    });
    let frame = stockade_ipc::encode_to_vec(&load).expect("encodes");
    let (result, _, total) = measure(|| decode_frame::<ToWorker>(&frame));
    assert!(matches!(result, Ok(Decoded::Frame { .. })));
    let payload = frame.len() - 8;
    assert!(
        total <= 8 * payload,
        "decoding {payload} payload bytes allocated {total}"
    );
    // The worst case in absolute terms: the cap on items times the item size.
    assert!(total <= MAX_MODULES * size_of::<Module>());
}

/// A reader that yields `data`, then reports end of stream.
struct Trickle {
    data: Cursor<Vec<u8>>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Small reads, like a slow socket.
        let n = buf.len().min(7);
        self.data.read(&mut buf[..n])
    }
}

/// A peer that announces a maximal frame and then hangs up costs one chunk, not the frame.
#[test]
fn read_frame_grows_with_bytes_received() {
    let max = u32::try_from(MessageKind::Outcome.max_payload()).expect("fits");
    let mut data = header(MessageKind::Outcome, max);
    data.extend_from_slice(&[0; 100]);
    let mut peer = Trickle {
        data: Cursor::new(data),
    };
    let (result, largest, total) = measure(|| read_frame::<ToSupervisor, _>(&mut peer));
    assert!(matches!(
        result,
        Err(ReadError::UnexpectedEof { got: 108, expected }) if expected == 8 + max as usize
    ));
    assert!(
        largest <= READ_CHUNK,
        "allocated {largest} bytes for 100 received"
    );
    assert!(total <= READ_CHUNK);

    // 3 MB received out of 18: growth stays within twice what arrived.
    let mut data = header(MessageKind::Outcome, max);
    data.extend_from_slice(&vec![0; 3_000_000]);
    let mut peer = Cursor::new(data);
    let (result, largest, _) = measure(|| read_frame::<ToSupervisor, _>(&mut peer));
    assert!(matches!(result, Err(ReadError::UnexpectedEof { .. })));
    assert!(
        largest <= 2 * 3_000_000,
        "allocated {largest} for 3 MB received"
    );
}
