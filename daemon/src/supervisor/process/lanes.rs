//! The places for jobs in one worker process: one pool of `per_depth` places per depth of a
//! chain of binding calls (0: a client's request; a service or Loader call is one deeper than the
//! request that made it).
//!
//! Guarantees: a job waits for a place among the jobs of its own depth only. A caller waits for
//! its callees, which are one deeper, and the deepest calls (at `max_binding_depth`) can make no
//! binding call; so, from the deepest up, every depth's jobs finish without a place of another
//! depth, and callers filling every place of their depth never starve the calls they wait for.
//! At most `per_depth` jobs of one depth run at once in the process. Trusts: the chain depth the
//! supervisor attached to the job (`Chain::depth`, never the worker's word).

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

/// The deepest chain the configuration allows (`limits.max_binding_depth` is 1 to 64); deeper
/// depths, which the supervisor refuses anyway, would share the last lane.
const MAX_DEPTH: u32 = 64;

pub struct Lanes {
    per_depth: usize,
    /// By depth, made on first use; whether they are closed.
    lanes: Mutex<(Vec<Arc<Semaphore>>, bool)>,
}

impl Lanes {
    pub fn new(per_depth: usize) -> Lanes {
        Lanes {
            per_depth: per_depth.max(1),
            lanes: Mutex::new((Vec::new(), false)),
        }
    }

    /// The places of jobs `depth` deep (closed ones, once [`Lanes::close`] was called).
    pub fn of(&self, depth: u32) -> Arc<Semaphore> {
        let index = depth.min(MAX_DEPTH) as usize;
        let mut guard = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let (lanes, closed) = &mut *guard;
        while lanes.len() <= index {
            let lane = Semaphore::new(self.per_depth);
            if *closed {
                lane.close();
            }
            lanes.push(Arc::new(lane));
        }
        Arc::clone(&lanes[index])
    }

    /// No job starts any more, at any depth: the ones waiting for a place are handed back.
    pub fn close(&self) {
        let mut guard = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 = true;
        for lane in guard.0.iter() {
            lane.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_depth_has_places_of_its_own_and_closing_refuses_every_waiter() {
        let lanes = Lanes::new(2);
        let callers: Vec<_> = (0..2)
            .map(|_| lanes.of(0).try_acquire_owned().expect("a place"))
            .collect();
        assert!(lanes.of(0).try_acquire_owned().is_err(), "depth 0 is full");
        let callee = lanes.of(1).try_acquire_owned();
        assert!(callee.is_ok(), "a call one deeper still finds a place");
        assert!(
            Arc::ptr_eq(&lanes.of(64), &lanes.of(1000)),
            "depths past the maximum share one"
        );
        drop(callers);
        lanes.close();
        assert!(lanes.of(0).try_acquire_owned().is_err());
        assert!(lanes.of(1).try_acquire_owned().is_err());
        assert!(
            lanes.of(5).try_acquire_owned().is_err(),
            "a depth first asked for after the close is closed too"
        );
    }
}
