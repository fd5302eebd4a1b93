//! The Node.js modules `nodejs_compat` brings from a compatibility date, as workerd does (its
//! `enable_nodejs_*_module` flags, each implied by `nodejs_compat` after a date): mostly stubs
//! whose import succeeds, so that npm code importing `node:tty` or `node:worker_threads` at its
//! top level loads, and whose unimplementable functions throw `ERR_METHOD_NOT_IMPLEMENTED`
//! (`isolate/js/node-stubs.js`). The dates and flag names are workerd's (read from the
//! `workerd 2026-11-17` binary's compatibility-date schema, and checked against it by importing
//! each module before and after its date).
//!
//! Guarantees: each module is in one entry; an entry's modules are on with `nodejs_compat` when
//! the date is on or after its date (or no date is given) unless its disable flag is given, or
//! when its enable flag is given. Pure data and functions.

/// One entry: modules (without `node:`) that come together, their flags, and their date.
#[derive(Debug)]
pub struct Dated {
    pub modules: &'static [&'static str],
    pub enable: &'static str,
    pub disable: &'static str,
    /// The first compatibility date on which `nodejs_compat` brings them.
    pub date: &'static str,
}

const fn dated(
    modules: &'static [&'static str],
    enable: &'static str,
    disable: &'static str,
    date: &'static str,
) -> Dated {
    Dated {
        modules,
        enable,
        disable,
        date,
    }
}

/// The entries, in workerd's order of dates.
pub const DATED: &[Dated] = &[
    dated(
        &["http2"],
        "enable_nodejs_http2_module",
        "disable_nodejs_http2_module",
        "2025-09-01",
    ),
    dated(
        &["console"],
        "enable_nodejs_console_module",
        "disable_nodejs_console_module",
        "2025-09-21",
    ),
    dated(
        &["vm"],
        "enable_nodejs_vm_module",
        "disable_nodejs_vm_module",
        "2025-10-01",
    ),
    dated(
        &["domain"],
        "enable_nodejs_domain_module",
        "disable_nodejs_domain_module",
        "2025-12-04",
    ),
    dated(
        &["cluster"],
        "enable_nodejs_cluster_module",
        "disable_nodejs_cluster_module",
        "2025-12-04",
    ),
    dated(
        &["wasi"],
        "enable_nodejs_wasi_module",
        "disable_nodejs_wasi_module",
        "2025-12-04",
    ),
    dated(
        &["trace_events"],
        "enable_nodejs_trace_events_module",
        "disable_nodejs_trace_events_module",
        "2025-12-04",
    ),
    dated(
        &["dgram"],
        "enable_nodejs_dgram_module",
        "disable_nodejs_dgram_module",
        "2026-01-29",
    ),
    dated(
        &["inspector", "inspector/promises"],
        "enable_nodejs_inspector_module",
        "disable_nodejs_inspector_module",
        "2026-01-29",
    ),
    dated(
        &["sqlite"],
        "enable_nodejs_sqlite_module",
        "disable_nodejs_sqlite_module",
        "2026-01-29",
    ),
    dated(
        &["perf_hooks"],
        "enable_nodejs_perf_hooks_module",
        "disable_nodejs_perf_hooks_module",
        "2026-03-17",
    ),
    dated(
        &["v8"],
        "enable_nodejs_v8_module",
        "disable_nodejs_v8_module",
        "2026-03-17",
    ),
    dated(
        &["tty"],
        "enable_nodejs_tty_module",
        "disable_nodejs_tty_module",
        "2026-03-17",
    ),
    dated(
        &["child_process"],
        "enable_nodejs_child_process_module",
        "disable_nodejs_child_process_module",
        "2026-03-17",
    ),
    dated(
        &["worker_threads"],
        "enable_nodejs_worker_threads_module",
        "disable_nodejs_worker_threads_module",
        "2026-03-17",
    ),
    dated(
        &["readline", "readline/promises"],
        "enable_nodejs_readline_module",
        "disable_nodejs_readline_module",
        "2026-03-17",
    ),
    dated(
        &["repl"],
        "enable_nodejs_repl_module",
        "disable_nodejs_repl_module",
        "2026-03-17",
    ),
];

/// The entry (and its index) that holds Node.js module `name`, if one does.
pub fn entry_of(name: &str) -> Option<(usize, &'static Dated)> {
    DATED
        .iter()
        .enumerate()
        .find(|(_, d)| d.modules.contains(&name))
}

/// Whether `flag` is one of the entries' flags.
pub fn is_flag(flag: &str) -> bool {
    DATED.iter().any(|d| d.enable == flag || d.disable == flag)
}

/// A flag of [`DATED`] and its opposite, if `flag` is one.
pub fn contradiction(has: impl Fn(&str) -> bool) -> Option<(&'static str, &'static str)> {
    DATED
        .iter()
        .find(|d| has(d.enable) && has(d.disable))
        .map(|d| (d.enable, d.disable))
}

/// The entries that are on, a bit per index of [`DATED`], for a worker with `nodejs_compat`
/// (`nodejs`), behaving as of `as_of`, with the flags `has` says it gave.
pub fn enabled(nodejs: bool, as_of: &str, has: impl Fn(&str) -> bool) -> u32 {
    if !nodejs {
        return 0;
    }
    DATED
        .iter()
        .enumerate()
        .filter(|(_, d)| has(d.enable) || (as_of >= d.date && !has(d.disable)))
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_consistent_and_fit_the_bits() {
        assert!(DATED.len() <= 32);
        let mut modules: Vec<&str> = DATED
            .iter()
            .flat_map(|d| d.modules.iter().copied())
            .collect();
        let count = modules.len();
        modules.sort();
        modules.dedup();
        assert_eq!(modules.len(), count, "a module is in two entries");
        for d in DATED {
            assert!(d.enable.starts_with("enable_nodejs_") && d.disable.starts_with("disable_"));
            assert_eq!(
                d.enable.trim_start_matches("enable_"),
                d.disable.trim_start_matches("disable_")
            );
        }
        assert!(
            DATED.windows(2).all(|w| w[0].date <= w[1].date),
            "in date order"
        );
    }

    #[test]
    fn dates_and_flags_decide() {
        let none = |_: &str| false;
        let (tty, _) = entry_of("tty").expect("tty");
        let (http2, _) = entry_of("http2").expect("http2");
        assert_eq!(enabled(false, "2026-12-01", none), 0);
        assert_eq!(enabled(true, "2025-08-31", none), 0);
        let later = enabled(true, "2026-03-17", none);
        assert_eq!(
            later,
            (1 << DATED.len()) - 1,
            "every entry by its last date"
        );
        let early = enabled(true, "2025-09-01", none);
        assert_eq!(early, 1 << http2);
        let flagged = enabled(true, "2025-06-01", |f| f == "enable_nodejs_tty_module");
        assert_eq!(flagged, 1 << tty);
        let off = enabled(true, "2026-11-01", |f| f == "disable_nodejs_tty_module");
        assert_eq!(off & (1 << tty), 0);
        assert_ne!(off & (1 << http2), 0);
        assert!(is_flag("enable_nodejs_repl_module") && !is_flag("enable_nodejs_fs_module"));
        assert_eq!(
            contradiction(|f| f == "enable_nodejs_v8_module" || f == "disable_nodejs_v8_module"),
            Some(("enable_nodejs_v8_module", "disable_nodejs_v8_module"))
        );
    }
}
