//! One cron expression as Cloudflare's Cron Triggers take it: five fields (minute, hour, day of
//! month, month, day of week), UTC, month and weekday names (`JAN`, `mon`), `*`, `,`, `-`, `/`,
//! `L` and `W` in the day of month, `L` and `#` in the day of week, weekdays 1-7 from Sunday (as
//! Quartz, which Cloudflare follows: `0 17 * * 1` is Sunday 5 PM). Parsed and evaluated by the
//! `croner` crate (its Quartz weekday mode); a day of month and a day of week both given match
//! when either does, as Vixie cron does.
//!
//! Guarantees: an expression that parses has a next fire time strictly after any instant this
//! side of year 4000 (one that never fires, such as `0 0 30 2 *`, is refused); fire times fall on
//! whole minutes; the error of a refused expression names it. Trusts: nothing (the text is
//! tenant input).

use chrono::{DateTime, Utc};

/// The longest expression taken, bytes (it crosses to the worker with the event).
pub const MAX_CRON_LEN: usize = 100;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    cron: croner::Cron,
}

impl CronExpr {
    /// Parses `text`; the error names it and says why.
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let bad = |why: &str| format!("cron {text:?}: {why}");
        if text.len() > MAX_CRON_LEN {
            return Err(bad(&format!("longer than {MAX_CRON_LEN} bytes")));
        }
        if text.split_whitespace().count() != 5 {
            return Err(bad(
                "give five fields: minute, hour, day of month, month, day of week",
            ));
        }
        if text.contains('@') {
            return Err(bad("nicknames such as @hourly are not taken"));
        }
        let cron = croner::Cron::new(text)
            .with_alternative_weekdays()
            .parse()
            .map_err(|e| bad(&e.to_string()))?;
        // A minute, hour or month field that names no value (croner takes `L` there and sets
        // none) never fires; said before any search, which would step through every hour or day
        // up to croner's year 5000 first (41 s for `L * * * *` in a test build; found by
        // fuzz/cron.rs).
        let p = &cron.pattern;
        for (field, named) in [
            (
                "minute",
                (0..=59).any(|v| p.minute_match(v).unwrap_or(false)),
            ),
            ("hour", (0..=23).any(|v| p.hour_match(v).unwrap_or(false))),
            ("month", (1..=12).any(|v| p.month_match(v).unwrap_or(false))),
        ] {
            if !named {
                return Err(bad(&format!("the {field} field names no {field}")));
            }
        }
        // Nor one whose day fields match no day (`0 0 30 2 *`, or `* * , * *`: croner takes an
        // empty list), said without a search, which steps through every day up to year 5000. The
        // 28 years from 2000 hold every kind of Gregorian year (leap or not, each weekday of 1
        // January), so an expression that matches a day ever matches one of theirs; and one
        // that does, matches again within a few decades of any instant, so croner's searches
        // below stay short.
        let some_day = (2000..2028).any(|y| {
            (1..=12).any(|m| {
                p.month_match(m).unwrap_or(false)
                    && (1..=31).any(|d| p.day_match(y, m, d).unwrap_or(false))
            })
        });
        if !some_day {
            return Err(bad(
                "it never fires: no day matches its day and month fields",
            ));
        }
        let expr = CronExpr { cron };
        // The search itself, as a last word on whether it ever fires (the checks above make it
        // short).
        if expr.next_after(0).is_none() {
            return Err(bad("it never fires"));
        }
        Ok(expr)
    }

    /// The first fire time strictly after `after_ms` (ms since the Unix epoch, UTC), if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        // Whole seconds: croner steps by seconds from the instant it is given.
        let start = DateTime::<Utc>::from_timestamp(after_ms.div_euclid(1000), 0)?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        let ms = next.timestamp().checked_mul(1000)?;
        (ms > after_ms).then_some(ms)
    }

    /// The latest fire time at or before `now_ms`, given `first`, a fire time at or before it
    /// (a scheduler that stalled from `first` to `now_ms`). Found from the end: windows ending at
    /// `now_ms` that double from a minute until one holds a fire time, then a walk through that
    /// window only, so a stall of years costs a few dozen searches, not one per missed time.
    pub fn latest_at_or_before(&self, first: i64, now_ms: i64) -> i64 {
        let mut from = first;
        let mut span: i64 = 60_000;
        while now_ms - span > first {
            if let Some(t) = self.next_after(now_ms - span).filter(|t| *t <= now_ms) {
                from = t;
                break;
            }
            span = span.saturating_mul(2);
        }
        let mut latest = from;
        while let Some(t) = self.next_after(latest).filter(|t| *t <= now_ms) {
            latest = t;
        }
        latest
    }

    /// Whether `at_ms` is a fire time.
    #[cfg(any(test, fuzzing))]
    pub fn matches(&self, at_ms: i64) -> bool {
        if at_ms.rem_euclid(60_000) != 0 {
            return false;
        }
        DateTime::<Utc>::from_timestamp_millis(at_ms)
            .is_some_and(|t| self.cron.is_time_matching(&t).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `YYYY-MM-DDTHH:MM:SSZ` as ms.
    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("a date")
            .timestamp_millis()
    }

    fn next(expr: &str, after: &str) -> String {
        let ms = CronExpr::parse(expr)
            .expect("parses")
            .next_after(at(after))
            .expect("fires");
        DateTime::<Utc>::from_timestamp_millis(ms)
            .expect("a time")
            .format("%Y-%m-%dT%H:%M:%SZ %a")
            .to_string()
    }

    #[test]
    fn cloudflare_examples_fire_when_its_documentation_says() {
        // 2026-03-04 is a Wednesday.
        let now = "2026-03-04T10:07:30Z";
        assert_eq!(next("* * * * *", now), "2026-03-04T10:08:00Z Wed");
        assert_eq!(next("*/30 * * * *", now), "2026-03-04T10:30:00Z Wed");
        assert_eq!(next("45 * * * *", now), "2026-03-04T10:45:00Z Wed");
        // 5 PM on Sunday, by name or as day 1.
        assert_eq!(next("0 17 * * sun", now), "2026-03-08T17:00:00Z Sun");
        assert_eq!(next("0 17 * * 1", now), "2026-03-08T17:00:00Z Sun");
        // 7:10 AM on weekdays: mon-fri is 2-6.
        assert_eq!(next("10 7 * * mon-fri", now), "2026-03-05T07:10:00Z Thu");
        assert_eq!(next("10 7 * * 2-6", now), "2026-03-05T07:10:00Z Thu");
        assert_eq!(next("0 15 1 * *", now), "2026-04-01T15:00:00Z Wed");
        // The last Friday of the month (6L, friL).
        assert_eq!(next("0 18 * * 6L", now), "2026-03-27T18:00:00Z Fri");
        assert_eq!(next("0 18 * * friL", now), "2026-03-27T18:00:00Z Fri");
        // The last day of the month; the second Monday (MON#2 is 2#2).
        assert_eq!(next("59 23 L * *", now), "2026-03-31T23:59:00Z Tue");
        assert_eq!(next("0 10 * * MON#2", now), "2026-03-09T10:00:00Z Mon");
        // Month names; the weekday nearest the 15th (15 March 2026 is a Sunday: Monday 16th).
        assert_eq!(next("0 0 1 JAN *", now), "2027-01-01T00:00:00Z Fri");
        assert_eq!(next("0 9 15W * *", now), "2026-03-16T09:00:00Z Mon");
    }

    #[test]
    fn a_bad_expression_is_refused_with_its_text() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "61 * * * *",
            "* 24 * * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 9",
            "@hourly",
            "0 0 30 2 *",
            "x * * * *",
            "L * * * *",
            "0 L * * *",
            "0 0 * L *",
        ] {
            let e = CronExpr::parse(bad).expect_err(bad);
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        // A field that names nothing is refused as such, before any search for a fire time
        // (which took 41 s for the first in a test build: fuzz/cron.rs found it).
        for (bad, field) in [
            ("L * * * *", "minute"),
            ("0 L * * *", "hour"),
            ("0 0 * L *", "month"),
        ] {
            let e = CronExpr::parse(bad).expect_err(bad);
            assert!(
                e.contains(&format!("the {field} field names no {field}")),
                "{e}"
            );
        }
        for bad in [
            "* * , * *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 30W 2 *",
        ] {
            let e = CronExpr::parse(bad).expect_err(bad);
            assert!(e.contains("no day matches"), "{e}");
        }
        let long = format!("{} * * * *", "1,".repeat(60));
        assert!(CronExpr::parse(&long).is_err());
    }

    #[test]
    fn matches_only_fire_times() {
        let e = CronExpr::parse("*/15 3 * * *").expect("parses");
        assert!(e.matches(at("2026-01-01T03:45:00Z")));
        assert!(!e.matches(at("2026-01-01T03:46:00Z")));
        assert!(!e.matches(at("2026-01-01T04:45:00Z")));
        assert!(!e.matches(at("2026-01-01T03:45:00Z") + 1));
    }

    fn expressions() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "* * * * *",
            "*/7 * * * *",
            "5,35 */2 * * *",
            "0 0 * * SUN",
            "30 12 1-7 * 2",
            "0 0 L * *",
            "15 10 * * 6L",
            "0 8 * JAN,JUL MON#1",
            "0 12 15W * *",
            "59 23 29 2 *",
        ])
        .prop_map(str::to_owned)
    }

    #[test]
    fn the_latest_time_after_a_long_stall_is_found_from_the_end() {
        // Ten years stalled: the answers are the last whole hour and the last 17:00 of a Sunday.
        let first = at("2016-03-04T10:00:00Z");
        let now = at("2026-03-04T10:07:30Z");
        let hourly = CronExpr::parse("0 * * * *").expect("parses");
        assert_eq!(
            hourly.latest_at_or_before(first, now),
            at("2026-03-04T10:00:00Z")
        );
        let sunday = CronExpr::parse("0 17 * * sun").expect("parses");
        let first = sunday.next_after(first).expect("fires");
        assert_eq!(
            sunday.latest_at_or_before(first, now),
            at("2026-03-01T17:00:00Z")
        );
        // No stall: the first time itself.
        assert_eq!(
            hourly.latest_at_or_before(now - 450_000, now),
            now - 450_000
        );
    }

    proptest! {
        /// The same answer as walking every missed time from the first (the scheduler's old way).
        #[test]
        fn the_latest_time_is_the_one_a_walk_finds(
            expr in expressions(),
            start in 0i64..4_102_444_800_000,
            stall in 0i64..(3 * 24 * 3_600_000),
        ) {
            let e = CronExpr::parse(&expr).expect("parses");
            let first = e.next_after(start).expect("fires");
            let now = first + stall;
            let mut walked = first;
            while let Some(t) = e.next_after(walked).filter(|t| *t <= now) {
                walked = t;
            }
            prop_assert_eq!(e.latest_at_or_before(first, now), walked, "{} from {}", expr, first);
        }

        #[test]
        fn the_next_fire_time_is_strictly_after_now_and_matches(
            expr in expressions(),
            now in 0i64..4_102_444_800_000, // 1970 to 2100
        ) {
            let e = CronExpr::parse(&expr).expect("parses");
            let next = e.next_after(now).expect("fires");
            prop_assert!(next > now);
            prop_assert_eq!(next % 60_000, 0);
            prop_assert!(e.matches(next), "{} at {}", expr, next);
            // Nothing in between fires: the minute before the next one, if after now, does not.
            let before = next - 60_000;
            if before > now {
                prop_assert!(!e.matches(before));
                prop_assert_eq!(e.next_after(before), Some(next));
            }
        }
    }
}
