//! The marks slots of one link's requests (`stockade_ipc::marks`): each request in flight holds
//! one, named in the low bits of its id, until its entry leaves the link's table; with more
//! requests in flight than slots, a request gets none (it then counts as started if the process
//! dies: failed, as before marks existed, never run twice).
//!
//! Guarantees: no two live [`Slot`]s hold the same slot number (other than `NO_SLOT`); a slot
//! returns to the free list exactly once, when its holder drops. Trusts nothing.

use std::sync::{Arc, Mutex};

use stockade_ipc::marks::{request_id, NO_SLOT, SLOTS};
use stockade_ipc::RequestId;

/// The free slots of one link.
#[derive(Debug)]
pub(super) struct RequestSlots(Arc<Mutex<Vec<u16>>>);

impl RequestSlots {
    pub(super) fn new() -> RequestSlots {
        // Popped from the end: slot 1 first.
        RequestSlots(Arc::new(Mutex::new((1..SLOTS as u16).rev().collect())))
    }

    /// A slot for the `seq`-th request, and its id.
    pub(super) fn take(&self, seq: u64) -> (Slot, RequestId) {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or(NO_SLOT);
        let holder = Slot {
            free: (slot != NO_SLOT).then(|| Arc::clone(&self.0)),
            slot,
        };
        (holder, request_id(seq, slot))
    }
}

/// One request's slot, given back when it drops.
#[derive(Debug)]
pub(super) struct Slot {
    free: Option<Arc<Mutex<Vec<u16>>>>,
    slot: u16,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(free) = &self.free {
            free.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_ipc::marks::slot_of;

    #[test]
    fn slots_in_use_are_never_shared_and_come_back_when_dropped() {
        let slots = RequestSlots::new();
        let held: Vec<(Slot, RequestId)> = (1..SLOTS as u64).map(|seq| slots.take(seq)).collect();
        let mut seen: Vec<usize> = held.iter().map(|(_, id)| slot_of(*id)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), SLOTS - 1, "every slot but NO_SLOT, once");
        assert!(!seen.contains(&usize::from(NO_SLOT)));
        // All taken: the next request has none.
        let (none, id) = slots.take(SLOTS as u64);
        assert_eq!(slot_of(id), usize::from(NO_SLOT));
        drop(none); // gives nothing back
        drop(held);
        let (_again, id) = slots.take(SLOTS as u64 + 1);
        assert_ne!(slot_of(id), usize::from(NO_SLOT));
        assert_eq!(slots.0.lock().expect("lock").len(), SLOTS - 2);
    }
}
