//! Fuzzes the cron expressions tenants give their workers' triggers (`daemon/src/scheduled/cron.rs`,
//! compiled here by path): tenant input that the supervisor parses and evaluates.
//!
//! Checks, for every input: `CronExpr::parse` never panics, on the raw text and on an expression
//! assembled from the bytes (five fields drawn from the syntax's pieces, so that most inputs
//! parse); and for one that parses, its guarantee: from instants drawn across 1970-3999, the next
//! fire time exists, is strictly later, falls on a whole minute and is a fire time. A hang (a
//! search that does not end) is a libFuzzer timeout.

#![no_main]

#[path = "../../daemon/src/scheduled/cron.rs"]
#[allow(dead_code)]
mod cron;

use cron::CronExpr;
use libfuzzer_sys::fuzz_target;

const PIECES: &[&str] = &[
    "*", "*/", "-", ",", "/", "L", "W", "#", "?", "0", "1", "2", "5", "7", "12", "15", "23", "28",
    "29", "30", "31", "59", "60", "JAN", "feb", "DEC", "SUN", "mon", "sat", "LW", "5L", "6#5",
    "1-7", "31W", "2/3", "*/61", "L-3", " ",
];

/// 1970-01-01 to 3999-12-31, ms.
const LAST_MS: i64 = 64_060_502_400_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text, data);
    }
    // Five fields of one to four pieces each, from the bytes.
    let mut bytes = data.iter().copied();
    let mut text = String::new();
    for field in 0..5 {
        if field > 0 {
            text.push(' ');
        }
        let n = 1 + usize::from(bytes.next().unwrap_or(0) % 4);
        for _ in 0..n {
            text.push_str(PIECES[usize::from(bytes.next().unwrap_or(0)) % PIECES.len()]);
        }
    }
    check(&text, data);
});

fn check(text: &str, data: &[u8]) {
    let Ok(expr) = CronExpr::parse(text) else {
        return;
    };
    for chunk in data.chunks(8).take(4) {
        let mut raw = [0u8; 8];
        raw[..chunk.len()].copy_from_slice(chunk);
        let now = i64::from_le_bytes(raw).rem_euclid(LAST_MS);
        let next = expr
            .next_after(now)
            .unwrap_or_else(|| panic!("{text:?} parsed but does not fire after {now}"));
        assert!(next > now, "{text:?}: {next} is not after {now}");
        assert_eq!(next % 60_000, 0, "{text:?}: {next} is not a whole minute");
        assert!(expr.matches(next), "{text:?}: {next} is not a fire time");
    }
}
