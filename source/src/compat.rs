//! Cloudflare's compatibility dates and flags, as Stockade honours them: which dates and flags a
//! worker definition may name, and which runtime behaviours they switch on ([`Features`]).
//!
//! Guarantees: [`Compat::parse`] accepts a date only as `YYYY-MM-DD` naming a real calendar day
//! no later than [`SUPPORTED_DATE`], and flags only from [`KNOWN_FLAGS`] (a flag and its `no_`
//! opposite together are refused); anything else is an error message fit for a 400. The
//! supervisor validates with it and the worker interprets with it, so both read a definition the
//! same way. Pure functions, no I/O.
//!
//! What depends on what (the README's table says the same):
//! - `nodejs_compat`: the `node:*` modules Stockade implements ([`crate::builtins`]).
//! - `nodejs_compat_v2`, or `nodejs_compat` with a date on or after [`NODEJS_COMPAT_V2_DATE`]
//!   (or no date): also the `Buffer` and `process` globals and the bare specifiers (`buffer`,
//!   `events`, ...); `no_nodejs_compat_v2` turns this off again.
//! - `process.env` holds the worker's string bindings with `nodejs_compat` from
//!   [`POPULATE_PROCESS_ENV_DATE`] (or with `nodejs_compat_populate_process_env`;
//!   `nodejs_compat_do_not_populate_process_env` turns it off); otherwise it is empty.
//! - `nodejs_als`: `node:async_hooks` alone, without the rest of `nodejs_compat`.
//!
//! Nothing else changes with the date yet.

/// The newest compatibility date this build knows; later dates are refused.
pub const SUPPORTED_DATE: &str = "2026-12-01";
/// From this date, `nodejs_compat` implies `nodejs_compat_v2` (as on Cloudflare).
pub const NODEJS_COMPAT_V2_DATE: &str = "2024-09-23";
/// From this date, `nodejs_compat` fills `process.env` (as on Cloudflare).
pub const POPULATE_PROCESS_ENV_DATE: &str = "2025-04-01";

/// Every flag a definition may name, with what it does.
pub const KNOWN_FLAGS: &[(&str, &str)] = &[
    ("nodejs_compat", "the node:* modules Stockade implements"),
    (
        "nodejs_compat_v2",
        "nodejs_compat, plus the Buffer and process globals and bare specifiers, whatever the date",
    ),
    (
        "no_nodejs_compat_v2",
        "nodejs_compat without the v2 globals and bare specifiers",
    ),
    ("nodejs_als", "node:async_hooks (AsyncLocalStorage) alone"),
    (
        "nodejs_compat_populate_process_env",
        "process.env holds the worker's string bindings, whatever the date",
    ),
    (
        "nodejs_compat_do_not_populate_process_env",
        "process.env stays empty",
    ),
];

/// The runtime behaviours a date and flags switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// The `node:*` modules.
    pub nodejs: bool,
    /// The `Buffer` and `process` globals and bare specifiers (`buffer`, `events`, ...).
    pub node_globals: bool,
    /// `node:async_hooks` (implied by `nodejs`).
    pub async_hooks: bool,
    /// `process.env` holds the worker's string bindings.
    pub populate_process_env: bool,
}

/// A validated compatibility date and flag list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compat {
    /// `YYYY-MM-DD`, or `None` when the definition gave no date (it then behaves as of
    /// [`SUPPORTED_DATE`]).
    pub date: Option<String>,
    /// The flags, as given (duplicates removed).
    pub flags: Vec<String>,
    /// What they switch on.
    pub features: Features,
}

impl Compat {
    /// Validates `date` (empty: none) and `flags`.
    pub fn parse(date: &str, flags: &[String]) -> Result<Compat, String> {
        let date = if date.is_empty() {
            None
        } else {
            check_date(date)?;
            Some(date.to_string())
        };
        let mut seen: Vec<String> = Vec::new();
        for flag in flags {
            if !KNOWN_FLAGS.iter().any(|(name, _)| name == flag) {
                let known: Vec<&str> = KNOWN_FLAGS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown compatibility flag {flag:?}; this build knows {}",
                    known.join(", ")
                ));
            }
            if !seen.contains(flag) {
                seen.push(flag.clone());
            }
        }
        let has = |f: &str| seen.iter().any(|s| s == f);
        for (on, off) in [
            ("nodejs_compat_v2", "no_nodejs_compat_v2"),
            (
                "nodejs_compat_populate_process_env",
                "nodejs_compat_do_not_populate_process_env",
            ),
        ] {
            if has(on) && has(off) {
                return Err(format!(
                    "compatibility flags {on:?} and {off:?} contradict each other"
                ));
            }
        }
        let as_of = date.as_deref().unwrap_or(SUPPORTED_DATE);
        let nodejs = has("nodejs_compat") || has("nodejs_compat_v2");
        let node_globals = nodejs
            && (has("nodejs_compat_v2")
                || (as_of >= NODEJS_COMPAT_V2_DATE && !has("no_nodejs_compat_v2")));
        let populate_process_env = nodejs
            && (has("nodejs_compat_populate_process_env")
                || (as_of >= POPULATE_PROCESS_ENV_DATE
                    && !has("nodejs_compat_do_not_populate_process_env")));
        Ok(Compat {
            date,
            flags: seen.clone(),
            features: Features {
                nodejs,
                node_globals,
                async_hooks: nodejs || has("nodejs_als"),
                populate_process_env,
            },
        })
    }
}

/// Checks that `date` is `YYYY-MM-DD`, a real day, and not after [`SUPPORTED_DATE`].
fn check_date(date: &str) -> Result<(), String> {
    let bad = || format!("compatibilityDate {date:?} is not a date of the form YYYY-MM-DD");
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let s = &date[r];
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u32>().map_err(|_| bad())
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > days || y < 2000 {
        return Err(bad());
    }
    if date > SUPPORTED_DATE {
        return Err(format!(
            "compatibilityDate {date:?} is later than {SUPPORTED_DATE}, the newest date this \
             build of Stockade supports"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dates_are_checked() {
        for good in ["2024-01-31", "2024-02-29", "2021-11-03", SUPPORTED_DATE, ""] {
            assert!(Compat::parse(good, &[]).is_ok(), "{good}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-32",
            "2024-01-1x",
            "+024-01-01",
            "9999-01-01",
            "2026-12-02",
        ] {
            assert!(Compat::parse(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_are_checked_and_switch_features() {
        let err = Compat::parse("", &flags(&["nodejs_compat", "warp_drive"])).expect_err("unknown");
        assert!(
            err.contains("warp_drive") && err.contains("nodejs_compat"),
            "{err}"
        );
        assert!(Compat::parse("", &flags(&["nodejs_compat_v2", "no_nodejs_compat_v2"])).is_err());
        let none = Compat::parse("2025-01-01", &[]).expect("ok").features;
        assert_eq!(none, Features::default());
        let recent = Compat::parse("2025-06-01", &flags(&["nodejs_compat"])).expect("ok");
        assert_eq!(
            recent.features,
            Features {
                nodejs: true,
                node_globals: true,
                async_hooks: true,
                populate_process_env: true
            }
        );
        let old = Compat::parse("2024-01-01", &flags(&["nodejs_compat"])).expect("ok");
        assert!(old.features.nodejs && !old.features.node_globals);
        assert!(!old.features.populate_process_env);
        let v2 = Compat::parse("2024-01-01", &flags(&["nodejs_compat_v2"])).expect("ok");
        assert!(v2.features.nodejs && v2.features.node_globals);
        let opted_out =
            Compat::parse("", &flags(&["nodejs_compat", "no_nodejs_compat_v2"])).expect("ok");
        assert!(opted_out.features.nodejs && !opted_out.features.node_globals);
        let als = Compat::parse("", &flags(&["nodejs_als", "nodejs_als"])).expect("ok");
        assert_eq!(als.flags, ["nodejs_als"]);
        assert!(als.features.async_hooks && !als.features.nodejs);
    }
}
