//! Native state that outlives one op: a compressor between two chunks of a CompressionStream, a
//! legacy TextDecoder between two `decode(…, {stream: true})` calls. It lives in one [`OpState`]
//! per isolate (owned by the isolate's host state, so it is dropped with the isolate) and the
//! prelude addresses it by handle, a number it keeps in a closure tenant code cannot reach.
//!
//! Guarantees:
//! - Bounded: an isolate holds at most [`MAX_HANDLES`] handles and [`MAX_STATE_BYTES`] of their
//!   declared cost (each family declares what one of its objects holds, measured); past either the
//!   op fails with a QuotaExceededError. The prelude frees a handle when its stream ends, errors
//!   or is cancelled; what a tenant abandons is freed with the isolate at the latest.
//! - Typed: a handle of one kind used as another, an unknown or freed handle is a TypeError.
//! - Re-entrancy safe: an op takes its object out of the table ([`OpState::take`]) for the time it
//!   works on it and puts it back after ([`OpState::put`]); the table is borrowed only inside
//!   these calls, so an op that calls back into JavaScript (which may run ops again) never holds
//!   a borrow across the call, and a nested op on a handle in use finds it busy (a TypeError).
//!
//! Trusts: nothing; it is bookkeeping.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use crate::{ErrorKind, OpError, OpResult};

/// The most handles one isolate may hold at once.
pub const MAX_HANDLES: usize = 4096;
/// The most native memory (declared cost) one isolate's handles may hold.
pub const MAX_STATE_BYTES: usize = 32 << 20;

enum Slot {
    Ready(Box<dyn Any>),
    /// Taken by a running op.
    Busy,
}

struct Entry {
    slot: Slot,
    cost: usize,
}

#[derive(Default)]
struct Table {
    next: u32,
    items: HashMap<u32, Entry>,
    bytes: usize,
}

fn quota_exceeded() -> OpError {
    OpError::new(
        ErrorKind::QuotaExceeded,
        "too many native objects (streams, decoders) are open in this worker",
    )
}

/// One isolate's native objects, by handle.
#[derive(Default)]
pub struct OpState {
    table: RefCell<Table>,
}

impl OpState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `object`, which holds about `cost` bytes, and returns its handle (never 0).
    pub fn insert<T: Any>(&self, object: Box<T>, cost: usize) -> OpResult<u32> {
        let mut t = self.borrow()?;
        if t.items.len() >= MAX_HANDLES || t.bytes.saturating_add(cost) > MAX_STATE_BYTES {
            return Err(quota_exceeded());
        }
        let mut id = t.next.wrapping_add(1).max(1);
        while t.items.contains_key(&id) {
            id = id.wrapping_add(1).max(1);
        }
        t.next = id;
        t.bytes += cost;
        t.items.insert(
            id,
            Entry {
                slot: Slot::Ready(object),
                cost,
            },
        );
        Ok(id)
    }

    /// Takes object `id` of type `T` out for an op to work on; `put` or `free` it after.
    pub fn take<T: Any>(&self, id: u32) -> OpResult<Box<T>> {
        let mut t = self.borrow()?;
        let entry = t
            .items
            .get_mut(&id)
            .ok_or_else(|| OpError::type_error("the native object is closed"))?;
        match std::mem::replace(&mut entry.slot, Slot::Busy) {
            Slot::Busy => Err(OpError::type_error("the native object is in use")),
            Slot::Ready(object) => match object.downcast::<T>() {
                Ok(object) => Ok(object),
                Err(object) => {
                    entry.slot = Slot::Ready(object);
                    Err(OpError::type_error("the native object has another type"))
                }
            },
        }
    }

    /// Puts back object `id` taken by [`take`](Self::take). If JavaScript freed the handle while
    /// the op held it (a handler the op called closed its own object), the object is dropped
    /// and the op learns so as a TypeError.
    pub fn put<T: Any>(&self, id: u32, object: Box<T>) -> OpResult<()> {
        let mut t = self.borrow()?;
        match t.items.get_mut(&id) {
            Some(entry) if matches!(entry.slot, Slot::Busy) => {
                entry.slot = Slot::Ready(object);
                Ok(())
            }
            Some(_) => Err(OpError::operation("a native object was put back twice")),
            None => {
                drop(t);
                drop(object); // outside the table's borrow: its drop may free others
                Err(OpError::type_error(
                    "the native object was closed while in use",
                ))
            }
        }
    }

    /// Declares that object `id` (busy or not) now holds about `cost` bytes; past
    /// [`MAX_STATE_BYTES`] with the others, a QuotaExceededError and the old cost stays.
    pub fn recost(&self, id: u32, cost: usize) -> OpResult<()> {
        let mut t = self.borrow()?;
        let t = &mut *t;
        let entry = t
            .items
            .get_mut(&id)
            .ok_or_else(|| OpError::type_error("the native object is closed"))?;
        let others = t.bytes - entry.cost;
        if others.saturating_add(cost) > MAX_STATE_BYTES {
            return Err(quota_exceeded());
        }
        t.bytes = others + cost;
        entry.cost = cost;
        Ok(())
    }

    /// Frees handle `id` (busy or not); unknown handles are a no-op. Returns whether it existed.
    pub fn free(&self, id: u32) -> OpResult<bool> {
        let mut t = self.borrow()?;
        let Some(entry) = t.items.remove(&id) else {
            return Ok(false);
        };
        t.bytes -= entry.cost;
        drop(t);
        drop(entry); // the object's destructor runs with the table released
        Ok(true)
    }

    /// Handles held, and their declared bytes.
    pub fn usage(&self) -> (usize, usize) {
        self.table
            .try_borrow()
            .map(|t| (t.items.len(), t.bytes))
            .unwrap_or((0, 0))
    }

    fn borrow(&self) -> OpResult<std::cell::RefMut<'_, Table>> {
        self.table
            .try_borrow_mut()
            .map_err(|_| OpError::operation("the native object table is in use"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_put_free_and_types() {
        let st = OpState::new();
        let a = st.insert(Box::new(5u32), 100).expect("insert");
        assert_ne!(a, 0);
        assert!(st.take::<String>(a).is_err(), "wrong type");
        let v = st.take::<u32>(a).expect("take");
        assert!(st.take::<u32>(a).is_err(), "busy");
        st.put(a, v).expect("put");
        assert_eq!(*st.take::<u32>(a).expect("again"), 5);
        assert!(st.free(a).expect("free"));
        assert!(st.take::<u32>(a).is_err(), "freed");
        assert_eq!(st.usage(), (0, 0));
    }

    #[test]
    fn an_object_freed_while_taken_is_dropped_when_put_back() {
        let st = OpState::new();
        let held = std::rc::Rc::new(());
        let a = st
            .insert(Box::new(std::rc::Rc::clone(&held)), 1)
            .expect("insert");
        let taken = st.take::<std::rc::Rc<()>>(a).expect("take");
        assert!(st.free(a).expect("free"), "freed while busy");
        let e = st.put(a, taken).expect_err("its handle is gone");
        assert_eq!(e.kind, ErrorKind::TypeError);
        assert_eq!(e.message, "the native object was closed while in use");
        assert_eq!(
            std::rc::Rc::strong_count(&held),
            1,
            "the object was dropped"
        );
        assert_eq!(st.usage(), (0, 0));
    }

    #[test]
    fn caps_hold() {
        let st = OpState::new();
        assert!(st.insert(Box::new(()), MAX_STATE_BYTES + 1).is_err());
        for _ in 0..MAX_HANDLES {
            st.insert(Box::new(()), 1).expect("room");
        }
        let e = st.insert(Box::new(()), 1).expect_err("full");
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    }

    #[test]
    fn a_recost_counts_and_holds_the_cap() {
        let st = OpState::new();
        let a = st.insert(Box::new(1u8), 10).expect("insert");
        let b = st.insert(Box::new(2u8), 20).expect("insert");
        let busy = st.take::<u8>(b).expect("take");
        st.recost(b, 200).expect("a busy object is recosted too");
        assert_eq!(st.usage(), (2, 210));
        let e = st
            .recost(a, MAX_STATE_BYTES - 199)
            .expect_err("past the cap");
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
        assert_eq!(st.usage(), (2, 210), "the old cost stays");
        st.recost(a, MAX_STATE_BYTES - 200).expect("up to the cap");
        st.put(b, busy).expect("put");
        assert!(st.free(b).expect("free"));
        assert_eq!(st.usage(), (1, MAX_STATE_BYTES - 200));
        assert!(st.recost(b, 1).is_err(), "a freed handle");
    }
}
