//! Cron triggers of stored workers (`triggers.crons` of `POST /v1/workers`) and the scheduler
//! that fires them.
//!
//! - `cron`: one expression, Cloudflare's syntax, its next fire times in UTC (`croner`);
//! - `schedule`: next fire times, what is due at an instant, the runs in flight (no clock);
//! - `scheduler`: the supervisor's task that ticks each minute over the store's triggers of
//!   every tenant and fires what is due (`api::scheduled::fire`, one run a request of the
//!   worker's tenant).
//!
//! Guarantees: at most one run per (worker, cron) is in flight in a daemon (a run still going
//! when its next time comes is skipped and counted); daemons sharing a store run each due time
//! once (`store::triggers::claim`); runs missed while no daemon ran are not replayed; a deleted
//! worker's triggers fire no more (they leave the store with it). Trusts: the store's rows.

pub mod cron;
mod schedule;
mod scheduler;

use std::collections::BTreeMap;
use std::sync::Mutex;

pub use scheduler::start;

use crate::metrics::{header, sample};
use cron::CronExpr;

/// The outcomes a run is counted under (the API's `Report::outcome`).
const OUTCOMES: [&str; 8] = [
    "ok",
    "exception",
    "noHandler",
    "exceededCpu",
    "exceededMemory",
    "exceededWall",
    "canceled",
    "unknown",
];

/// `triggers.crons` of a new definition, checked: each parses, none twice, at most `max`, none
/// for a Loader child (`child`). The error says which and why.
pub fn check_crons(crons: Vec<String>, max: usize, child: bool) -> Result<Vec<String>, String> {
    if crons.is_empty() {
        return Ok(crons);
    }
    if child {
        return Err("triggers: a worker made through a Loader binding has no cron triggers".into());
    }
    if crons.len() > max {
        return Err(format!(
            "triggers.crons: at most {max} cron triggers per worker (this daemon's [limits] \
             max_crons_per_worker)"
        ));
    }
    for (i, cron) in crons.iter().enumerate() {
        CronExpr::parse(cron).map_err(|e| format!("triggers.crons[{i}]: {e}"))?;
        if crons[..i].contains(cron) {
            return Err(format!("triggers.crons[{i}]: {cron:?} is given twice"));
        }
    }
    Ok(crons)
}

/// The scheduled runs' counters (`/metrics`).
#[derive(Default)]
pub struct Counters {
    /// (trigger: `cron` or `manual`, outcome) -> runs.
    runs: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// reason (`running`, `quota`) -> runs not started.
    skipped: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    /// One run, started by `trigger` (`cron` or `manual`), ended with `outcome`.
    pub fn ran(&self, trigger: &'static str, outcome: &str) {
        let outcome = OUTCOMES
            .iter()
            .copied()
            .find(|o| *o == outcome)
            .unwrap_or("unknown");
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        *runs.entry((trigger, outcome)).or_default() += 1;
    }

    /// One due run not started, for `reason`.
    pub fn skipped(&self, reason: &'static str) {
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        *skipped.entry(reason).or_default() += 1;
    }

    pub fn render(&self, out: &mut String) {
        header(
            out,
            "stockade_scheduled_runs_total",
            "counter",
            "Runs of workers' scheduled handlers, by what started them (cron, manual) and outcome.",
        );
        for ((trigger, outcome), n) in self.runs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let labels = [("trigger", *trigger), ("outcome", *outcome)];
            sample(out, "stockade_scheduled_runs_total", &labels, *n as f64);
        }
        header(
            out,
            "stockade_scheduled_skipped_total",
            "counter",
            "Due cron runs not started: the previous run of the trigger still going (running), \
             or the tenant's quotas refused it (quota).",
        );
        for (reason, n) in self
            .skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            sample(
                out,
                "stockade_scheduled_skipped_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crons_are_checked_as_a_definition_gives_them() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_crons(list(&["*/5 * * * *", "0 0 * * MON"]), 5, false),
            Ok(list(&["*/5 * * * *", "0 0 * * MON"]))
        );
        let e = check_crons(list(&["* * * * *", "61 * * * *"]), 5, false).expect_err("bad");
        assert!(
            e.contains("triggers.crons[1]") && e.contains("\"61 * * * *\""),
            "{e}"
        );
        assert!(check_crons(list(&["* * * * *", "* * * * *"]), 5, false).is_err());
        assert!(check_crons(list(&["* * * * *"; 1]), 0, false).is_err());
        assert!(check_crons(list(&["* * * * *"]), 5, true).is_err());
        assert_eq!(check_crons(Vec::new(), 0, true), Ok(Vec::new()));
    }

    #[test]
    fn counters_render_with_bounded_labels() {
        let c = Counters::default();
        c.ran("cron", "ok");
        c.ran("cron", "ok");
        c.ran("manual", "something a worker said");
        c.skipped("running");
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("stockade_scheduled_runs_total{trigger=\"cron\",outcome=\"ok\"} 2"));
        assert!(
            out.contains("stockade_scheduled_runs_total{trigger=\"manual\",outcome=\"unknown\"} 1")
        );
        assert!(out.contains("stockade_scheduled_skipped_total{reason=\"running\"} 1"));
    }
}
