//! The scheduler's bookkeeping, free of clocks and I/O: each trigger's next fire time, which runs
//! are due at an instant the caller gives, and which runs are still going.
//!
//! Guarantees: a trigger first seen at a refresh fires at its first time strictly after the
//! previous tick (so nothing before the scheduler started, or before the trigger existed, is
//! replayed); at one tick a trigger is due at most once, at the latest of its times that have
//! come (times missed while the process was stalled are dropped, not run one after another);
//! a trigger gone from the store at a refresh is never due again; at most one run per trigger is
//! in flight ([`Running::start`] says `None` while one is). Trusts: the expressions given (parsed).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use super::cron::CronExpr;
use crate::store::triggers::StoredTrigger;

/// Next fire times of the known triggers.
pub struct Schedule {
    /// Each trigger, its parsed expression and its next fire time (None: it never fires again).
    next: BTreeMap<StoredTrigger, (CronExpr, Option<i64>)>,
    /// The last instant ticked (or the start).
    cursor: i64,
}

impl Schedule {
    /// An empty schedule whose first tick may fire times strictly after `now_ms`.
    pub fn new(now_ms: i64) -> Schedule {
        Schedule {
            next: BTreeMap::new(),
            cursor: now_ms,
        }
    }

    /// Makes `listed` the known triggers: new ones are due at their first time after the last
    /// tick; ones no longer listed are dropped. An expression that does not parse (a row this
    /// daemon did not write) is skipped and named in the answer.
    pub fn refresh(&mut self, listed: Vec<StoredTrigger>) -> Vec<String> {
        let mut bad = Vec::new();
        let mut next = BTreeMap::new();
        for trigger in listed {
            if let Some(known) = self.next.remove(&trigger) {
                next.insert(trigger, known);
                continue;
            }
            match CronExpr::parse(&trigger.cron) {
                Ok(expr) => {
                    let at = expr.next_after(self.cursor);
                    next.insert(trigger, (expr, at));
                }
                Err(e) => bad.push(e),
            }
        }
        self.next = next;
        bad
    }

    /// The triggers due at `now_ms`, each with its fire time (the latest that has come); their
    /// next times move past `now_ms`.
    pub fn due(&mut self, now_ms: i64) -> Vec<(StoredTrigger, i64)> {
        let mut due = Vec::new();
        for (trigger, (expr, at)) in self.next.iter_mut() {
            let Some(first) = *at else { continue };
            if first > now_ms {
                continue;
            }
            // The latest fire time at or before now: a stall fires once, late, not many times.
            due.push((trigger.clone(), expr.latest_at_or_before(first, now_ms)));
            *at = expr.next_after(now_ms);
        }
        self.cursor = self.cursor.max(now_ms);
        due
    }

    /// The earliest next fire time of any trigger.
    #[cfg(test)]
    pub fn next_wake(&self) -> Option<i64> {
        self.next.values().filter_map(|(_, at)| *at).min()
    }

    /// How many triggers are known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.next.len()
    }
}

/// The runs in flight, one at most per trigger.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<HashSet<StoredTrigger>>>);

/// A run in flight; its trigger may run again once this is dropped.
pub struct RunGuard {
    running: Running,
    trigger: StoredTrigger,
}

impl Running {
    /// A guard for a new run of `trigger`, or None while one is still going (skip this one).
    pub fn start(&self, trigger: &StoredTrigger) -> Option<RunGuard> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !set.insert(trigger.clone()) {
            return None;
        }
        Some(RunGuard {
            running: self.clone(),
            trigger: trigger.clone(),
        })
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let mut set = self.running.0.lock().unwrap_or_else(|e| e.into_inner());
        set.remove(&self.trigger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;

    fn trigger(worker: &str, cron: &str) -> StoredTrigger {
        StoredTrigger {
            tenant: "t0".into(),
            worker: worker.into(),
            cron: cron.into(),
        }
    }

    #[test]
    fn a_trigger_fires_at_each_of_its_times_and_never_for_the_past() {
        // The scheduler starts at 00:00:30: the 00:00 run is not replayed.
        let mut s = Schedule::new(T0 + 30_000);
        assert!(s
            .refresh(vec![trigger("a", "* * * * *"), trigger("b", "*/5 * * * *")])
            .is_empty());
        assert_eq!(s.next_wake(), Some(T0 + MINUTE));
        assert!(s.due(T0 + 59_999).is_empty());
        assert_eq!(
            s.due(T0 + MINUTE),
            [(trigger("a", "* * * * *"), T0 + MINUTE)]
        );
        assert!(s.due(T0 + MINUTE).is_empty(), "once per fire time");
        let at5 = s.due(T0 + 5 * MINUTE + 10);
        assert_eq!(
            at5,
            [
                (trigger("a", "* * * * *"), T0 + 5 * MINUTE),
                (trigger("b", "*/5 * * * *"), T0 + 5 * MINUTE)
            ],
            "a stall from 00:01 to 00:05 runs each trigger once, at its latest time"
        );
        assert_eq!(s.next_wake(), Some(T0 + 6 * MINUTE));
    }

    #[test]
    fn triggers_follow_the_store() {
        let mut s = Schedule::new(T0);
        s.refresh(vec![trigger("a", "* * * * *")]);
        assert_eq!(s.due(T0 + MINUTE).len(), 1);
        // b appears at 00:01:30 (made after the 00:01 tick): its first run is 00:02, not 00:01.
        s.refresh(vec![trigger("a", "* * * * *"), trigger("b", "* * * * *")]);
        assert_eq!(s.due(T0 + 2 * MINUTE).len(), 2);
        // a is deleted: never due again.
        s.refresh(vec![trigger("b", "* * * * *")]);
        assert_eq!(
            s.due(T0 + 3 * MINUTE),
            [(trigger("b", "* * * * *"), T0 + 3 * MINUTE)]
        );
        // A row that does not parse is named and skipped.
        let bad = s.refresh(vec![trigger("c", "nonsense")]);
        assert_eq!(bad.len(), 1);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_run_still_going_makes_the_next_one_skip() {
        let running = Running::default();
        let a = trigger("a", "* * * * *");
        let first = running.start(&a).expect("the first run starts");
        assert!(running.start(&a).is_none(), "skipped while the first runs");
        assert!(
            running.start(&trigger("a", "*/5 * * * *")).is_some(),
            "another cron of the same worker is another trigger"
        );
        drop(first);
        assert!(
            running.start(&a).is_some(),
            "runs again once the first ended"
        );
    }
}
