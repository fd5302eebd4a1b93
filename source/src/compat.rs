//! Cloudflare's compatibility dates and flags, as Stockade honours them: which dates and flags a
//! worker definition may name, and which runtime behaviours they switch on ([`Features`]).
//!
//! Guarantees: [`Compat::parse`] accepts a date only as `YYYY-MM-DD` naming a real calendar day
//! no later than [`SUPPORTED_DATE`], and flags only from [`KNOWN_FLAGS`] (a flag and its `no_`
//! opposite together are refused); anything else is an error message fit for a 400 that names
//! the flag (and, for one of [`REFUSED_FLAGS`], why). The
//! supervisor validates with it and the worker interprets with it, so both read a definition the
//! same way. Pure functions, no I/O.
//!
//! What depends on what (the README's table says the same):
//! - `nodejs_compat`: the `node:*` modules Stockade implements ([`crate::builtins`]). From
//!   [`NODEJS_COMPAT_DEFAULT_DATE`] (or with no date) it and `nodejs_compat_v2` are defaults,
//!   each turned off by its `no_` flag; v2 brings `nodejs_compat`, so only both `no_` flags leave
//!   a worker without Node.js (as workerd).
//! - `nodejs_compat_v2`, or `nodejs_compat` with a date on or after [`NODEJS_COMPAT_V2_DATE`]
//!   (or no date): also the `Buffer` and `process` globals and the bare specifiers (`buffer`,
//!   `events`, ...); `no_nodejs_compat_v2` turns this off again.
//! - `process.env` holds the worker's string bindings with `nodejs_compat` from
//!   [`POPULATE_PROCESS_ENV_DATE`] (or with `nodejs_compat_populate_process_env`;
//!   `nodejs_compat_do_not_populate_process_env` turns it off); otherwise it is empty.
//! - `node:fs` and `node:fs/promises` (an in-memory virtual file system) with `nodejs_compat` from
//!   [`NODEJS_FS_DATE`] (or no date), or with `enable_nodejs_fs_module`;
//!   `disable_nodejs_fs_module` turns them off.
//! - `nodejs_als`: `node:async_hooks` alone, without the rest of `nodejs_compat`.
//! - The modules of [`crate::node_dated::DATED`] (`node:tty`, `node:worker_threads`, ...) with
//!   `nodejs_compat` from each one's date (or no date), or with its `enable_nodejs_*_module`
//!   flag; its `disable_nodejs_*_module` flag turns it off.
//! - The other accepted flags change nothing: Stockade always behaves as they ask (their
//!   descriptions in [`KNOWN_FLAGS`] say why). Cloudflare flags that ask for what Stockade does
//!   not have, or to turn off what it cannot, are refused with the reason ([`REFUSED_FLAGS`]).
//!
//! Nothing else changes with the date yet.

/// The newest compatibility date this build knows; later dates are refused.
pub const SUPPORTED_DATE: &str = "2026-12-01";
/// From this date, `nodejs_compat` implies `nodejs_compat_v2` (as on Cloudflare).
pub const NODEJS_COMPAT_V2_DATE: &str = "2024-09-23";
/// From this date, `nodejs_compat` fills `process.env` (as on Cloudflare).
pub const POPULATE_PROCESS_ENV_DATE: &str = "2025-04-01";
/// From this date, `nodejs_compat` brings `node:fs` (as on Cloudflare).
pub const NODEJS_FS_DATE: &str = "2025-09-01";
/// From this date, `nodejs_compat` and `nodejs_compat_v2` are on without the flags (as on
/// Cloudflare; only `no_nodejs_compat` with `no_nodejs_compat_v2` turns Node.js off).
pub const NODEJS_COMPAT_DEFAULT_DATE: &str = "2026-08-04";

/// The start of a [`KNOWN_FLAGS`] description for a flag whose behaviour Stockade always has (so
/// naming it changes nothing); the rest of the description says why it is already true.
pub const ALREADY_TRUE: &str = "already true: ";

/// Every flag a definition may name, with what it does. Cloudflare flags whose behaviour is
/// Stockade's anyway (on Cloudflare most are on by default from a date) are accepted, and say
/// why they are already true (each is checked in a real isolate by
/// `isolate/tests/compat_flags.rs`, or through the daemon by `daemon/tests/e2e_compat_flags.rs`).
pub const KNOWN_FLAGS: &[(&str, &str)] = &[
    ("nodejs_compat", "the node:* modules Stockade implements"),
    (
        "no_nodejs_compat",
        "from 2026-08-04 (when nodejs_compat is the default), none of it unless nodejs_compat_v2 brings it (no_nodejs_compat_v2 too: no Node.js at all)",
    ),
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
        "enable_nodejs_fs_module",
        "node:fs and node:fs/promises (with nodejs_compat), whatever the date",
    ),
    (
        "disable_nodejs_fs_module",
        "no node:fs, whatever the date",
    ),
    (
        "nodejs_compat_populate_process_env",
        "process.env holds the worker's string bindings, whatever the date",
    ),
    (
        "nodejs_compat_do_not_populate_process_env",
        "process.env stays empty",
    ),
    (
        "formdata_parser_supports_files",
        "already true: formData() gives a File for every part with a filename",
    ),
    (
        "fetch_refuses_unknown_protocols",
        "already true: the egress gateway refuses a fetch() of any scheme but http and https",
    ),
    (
        "fetch_standard_url",
        "already true: fetch() and Request parse URLs with the WHATWG parser",
    ),
    (
        "url_standard",
        "already true: URL and URLSearchParams are the WHATWG URL Standard's",
    ),
    (
        "response_redirect_url_standard",
        "already true: Response.redirect() parses its URL with the WHATWG parser",
    ),
    (
        "urlsearchparams_delete_has_value_arg",
        "already true: URLSearchParams.delete() and has() take the optional value argument",
    ),
    (
        "streams_enable_constructors",
        "already true: ReadableStream and WritableStream are constructible from JavaScript sources and sinks",
    ),
    (
        "transformstream_enable_standard_constructor",
        "already true: TransformStream's constructor is the Streams Standard's (transform, flush)",
    ),
    (
        "streams_byob_reader_detaches_buffer",
        "already true: a BYOB reader's read(view) transfers (detaches) the view's buffer",
    ),
    (
        "export_commonjs_default",
        "already true: a CommonJS module's default export is its module.exports",
    ),
    (
        "global_fetch_strictly_public",
        "already true: global fetch() always goes through the egress gateway as to the public \
         internet (the tenant's rules, private addresses refused); there is no zone origin to reach",
    ),
    (
        "global_navigator",
        "already true: the navigator global exists",
    ),
    (
        "http_headers_getsetcookie",
        "already true: Headers has getSetCookie(), and iteration yields each Set-Cookie apart",
    ),
    (
        "workers_api_getters_setters_on_prototype",
        "already true: the runtime's classes keep their accessors on the prototype (subclassable)",
    ),
    (
        "set_tostring_tag",
        "already true: the runtime's objects carry Symbol.toStringTag",
    ),
    (
        "no_global_importscripts",
        "already true: there is no importScripts global",
    ),
    (
        "enable_weak_ref",
        "already true: WeakRef and FinalizationRegistry exist",
    ),
    (
        "rpc",
        "already true: service and Loader bindings take RPC method calls (env.SVC.method(...))",
    ),
    (
        "fetcher_no_get_put_delete",
        "already true: a binding's get/put/delete are RPC methods, not fetch() shortcuts",
    ),
    (
        "enable_nodejs_os_module",
        "already true: with nodejs_compat, node:os (workerd's stub) is there whatever the date",
    ),
    (
        "enable_nodejs_http_modules",
        "already true: with nodejs_compat, node:http and node:https (and cloudflare:node's \
         httpServerHandler) are there whatever the date",
    ),
    (
        "no_web_socket_compression",
        "already true: Stockade's WebSockets never negotiate compression",
    ),
];

/// Cloudflare flags Stockade knows but refuses, with why: each asks for a behaviour Stockade
/// does not have, or to turn off one it cannot turn off.
pub const REFUSED_FLAGS: &[(&str, &str)] = &[
    (
        "formdata_parser_converts_files_to_strings",
        "Stockade cannot turn off File parts: formData() always gives a File for a part with a filename",
    ),
    (
        "fetch_treats_unknown_protocols_as_http",
        "Stockade cannot treat other schemes as http: the egress gateway refuses them",
    ),
    (
        "fetch_legacy_url",
        "Stockade cannot turn off the WHATWG URL parser of fetch()",
    ),
    (
        "url_original",
        "Stockade has only the WHATWG URL Standard's parser",
    ),
    (
        "response_redirect_url_original",
        "Stockade cannot turn off the WHATWG URL parser of Response.redirect()",
    ),
    (
        "no_urlsearchparams_delete_has_value_arg",
        "Stockade cannot turn off the value argument of URLSearchParams.delete() and has()",
    ),
    (
        "streams_disable_constructors",
        "Stockade cannot turn off the ReadableStream and WritableStream constructors",
    ),
    (
        "transformstream_disable_standard_constructor",
        "Stockade has only the standard TransformStream constructor",
    ),
    (
        "streams_byob_reader_does_not_detach_buffer",
        "Stockade cannot turn off the detaching of a BYOB read's buffer",
    ),
    (
        "export_commonjs_namespace",
        "Stockade cannot export a CommonJS module's namespace as its default: the default export is module.exports",
    ),
    (
        "global_fetch_private_origin",
        "Stockade has no zone origin: global fetch() always goes through the egress gateway",
    ),
    (
        "no_global_navigator",
        "Stockade cannot remove the navigator global",
    ),
    (
        "no_http_headers_getsetcookie",
        "Stockade cannot turn off Headers.getSetCookie()",
    ),
    (
        "workers_api_getters_setters_on_instance",
        "Stockade cannot move the runtime's accessors onto instances",
    ),
    (
        "do_not_set_tostring_tag",
        "Stockade cannot remove Symbol.toStringTag from the runtime's objects",
    ),
    (
        "global_importscripts",
        "Stockade has no importScripts",
    ),
    (
        "disable_weak_ref",
        "Stockade cannot remove WeakRef and FinalizationRegistry",
    ),
    (
        "no_rpc",
        "Stockade cannot turn off RPC on service and Loader bindings",
    ),
    (
        "fetcher_has_get_put_delete",
        "Stockade's bindings have no get/put/delete fetch() shortcuts (those names are RPC methods)",
    ),
    (
        "web_socket_compression",
        "Stockade's WebSockets do not negotiate compression (permessage-deflate)",
    ),
    (
        "no_nodejs_als",
        "leave out nodejs_als instead",
    ),
    (
        "disable_nodejs_os_module",
        "Stockade cannot remove node:os from nodejs_compat",
    ),
    (
        "allow_eval_during_startup",
        "Stockade never allows eval() or new Function()",
    ),
    (
        "disallow_importable_env",
        "Stockade cannot hide env from `import { env } from \"cloudflare:workers\"`",
    ),
];
/// The flags of [`KNOWN_FLAGS`] whose behaviour Stockade always has.
pub fn already_true_flags() -> impl Iterator<Item = &'static str> {
    KNOWN_FLAGS
        .iter()
        .filter(|(_, what)| what.starts_with(ALREADY_TRUE))
        .map(|(name, _)| *name)
}

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
    /// `node:fs` and `node:fs/promises`.
    pub fs: bool,
    /// The entries of [`crate::node_dated::DATED`] that are on, a bit per index.
    pub dated: u32,
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
            if let Some((_, why)) = REFUSED_FLAGS.iter().find(|(name, _)| name == flag) {
                return Err(format!(
                    "compatibility flag {flag:?} is not supported: {why}"
                ));
            }
            if !KNOWN_FLAGS.iter().any(|(name, _)| name == flag)
                && !crate::node_dated::is_flag(flag)
            {
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
            ("nodejs_compat", "no_nodejs_compat"),
            ("nodejs_compat_v2", "no_nodejs_compat_v2"),
            (
                "nodejs_compat_populate_process_env",
                "nodejs_compat_do_not_populate_process_env",
            ),
            ("enable_nodejs_fs_module", "disable_nodejs_fs_module"),
        ] {
            if has(on) && has(off) {
                return Err(format!(
                    "compatibility flags {on:?} and {off:?} contradict each other"
                ));
            }
        }
        if let Some((on, off)) = crate::node_dated::contradiction(has) {
            return Err(format!(
                "compatibility flags {on:?} and {off:?} contradict each other"
            ));
        }
        let as_of = date.as_deref().unwrap_or(SUPPORTED_DATE);
        // From NODEJS_COMPAT_DEFAULT_DATE both flags are defaults, each turned off by its own
        // `no_` flag, and v2 brings nodejs_compat with it (as workerd 2026-11-17 does: only
        // both `no_` flags leave a worker without Node.js).
        let by_default = as_of >= NODEJS_COMPAT_DEFAULT_DATE;
        let v2 = has("nodejs_compat_v2") || (by_default && !has("no_nodejs_compat_v2"));
        let nodejs = has("nodejs_compat") || v2 || (by_default && !has("no_nodejs_compat"));
        let node_globals =
            nodejs && (v2 || (as_of >= NODEJS_COMPAT_V2_DATE && !has("no_nodejs_compat_v2")));
        let populate_process_env = nodejs
            && (has("nodejs_compat_populate_process_env")
                || (as_of >= POPULATE_PROCESS_ENV_DATE
                    && !has("nodejs_compat_do_not_populate_process_env")));
        let dated = crate::node_dated::enabled(nodejs, as_of, has);
        let fs = nodejs
            && (has("enable_nodejs_fs_module")
                || (as_of >= NODEJS_FS_DATE && !has("disable_nodejs_fs_module")));
        Ok(Compat {
            date,
            flags: seen.clone(),
            features: Features {
                nodejs,
                node_globals,
                async_hooks: nodejs || has("nodejs_als"),
                populate_process_env,
                fs,
                dated,
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
    fn flag_lists_are_consistent() {
        let mut names: Vec<&str> = KNOWN_FLAGS
            .iter()
            .chain(REFUSED_FLAGS)
            .map(|(n, _)| *n)
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a flag is listed twice");
        let always: Vec<&str> = already_true_flags().collect();
        assert!(always.contains(&"url_standard") && !always.contains(&"nodejs_compat"));
        for (name, what) in KNOWN_FLAGS.iter().chain(REFUSED_FLAGS) {
            assert!(!what.is_empty() && !what.contains('\n'), "{name}: one line");
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
                populate_process_env: true,
                fs: false,
                dated: 0,
            }
        );
        // node:tty by its date (2026-03-17), or by its flag; the flag and its opposite refused.
        let (tty, _) = crate::node_dated::entry_of("tty").expect("tty");
        let dated =
            |date: &str, f: &[&str]| Compat::parse(date, &flags(f)).map(|c| c.features.dated);
        assert_eq!(
            dated("2026-03-16", &["nodejs_compat"]).map(|d| d & (1 << tty)),
            Ok(0)
        );
        assert_ne!(
            dated("2026-03-17", &["nodejs_compat"]).map(|d| d & (1 << tty)),
            Ok(0)
        );
        assert_eq!(dated("2026-03-17", &[]), Ok(0), "only with nodejs_compat");
        let flagged = dated("2025-06-01", &["nodejs_compat", "enable_nodejs_tty_module"]);
        assert_eq!(flagged, Ok(1 << tty));
        let off = dated("", &["nodejs_compat", "disable_nodejs_tty_module"]);
        assert_eq!(off.map(|d| d & (1 << tty)), Ok(0));
        assert!(dated(
            "",
            &["enable_nodejs_tty_module", "disable_nodejs_tty_module"]
        )
        .is_err());
        let old = Compat::parse("2024-01-01", &flags(&["nodejs_compat"])).expect("ok");
        assert!(old.features.nodejs && !old.features.node_globals);
        assert!(!old.features.populate_process_env);
        let v2 = Compat::parse("2024-01-01", &flags(&["nodejs_compat_v2"])).expect("ok");
        assert!(v2.features.nodejs && v2.features.node_globals);
        let opted_out =
            Compat::parse("", &flags(&["nodejs_compat", "no_nodejs_compat_v2"])).expect("ok");
        assert!(opted_out.features.nodejs && !opted_out.features.node_globals);
        // Flags Stockade's behaviour already satisfies change nothing.
        let wrangler = flags(&[
            "nodejs_compat",
            "url_standard",
            "streams_enable_constructors",
            "transformstream_enable_standard_constructor",
            "formdata_parser_supports_files",
            "export_commonjs_default",
            "global_fetch_strictly_public",
            "fetch_refuses_unknown_protocols",
            "rpc",
        ]);
        let with = Compat::parse("2025-06-01", &wrangler).expect("accepted");
        assert_eq!(with.features, recent.features);
        assert_eq!(with.flags, wrangler);
        // Their opposites, and what Stockade does not have, are refused with the reason.
        for (flag, needle) in [
            ("url_original", "WHATWG"),
            ("export_commonjs_namespace", "module.exports"),
            ("no_rpc", "RPC"),
            ("web_socket_compression", "WebSocket"),
            ("streams_disable_constructors", "cannot turn off"),
        ] {
            let err = Compat::parse("", &flags(&["nodejs_compat", flag])).expect_err(flag);
            assert!(err.contains(flag) && err.contains(needle), "{err}");
            assert!(!err.contains("unknown"), "{err}");
        }
        // node:fs: on from 2025-09-01 with nodejs_compat (as on Cloudflare), or by flag.
        let fs = |date: &str, f: &[&str]| Compat::parse(date, &flags(f)).expect("ok").features.fs;
        assert!(fs("2025-09-01", &["nodejs_compat"]) && fs("", &["nodejs_compat"]));
        assert!(!fs("2025-08-31", &["nodejs_compat"]) && !fs("2025-09-01", &[]));
        assert!(fs(
            "2024-01-01",
            &["nodejs_compat", "enable_nodejs_fs_module"]
        ));
        assert!(!fs(
            "2025-09-01",
            &["nodejs_compat", "disable_nodejs_fs_module"]
        ));
        assert!(!fs("2025-09-01", &["enable_nodejs_fs_module"]));
        assert!(Compat::parse(
            "",
            &flags(&["enable_nodejs_fs_module", "disable_nodejs_fs_module"])
        )
        .is_err());
        let als = Compat::parse("2025-06-01", &flags(&["nodejs_als", "nodejs_als"])).expect("ok");
        assert_eq!(als.flags, ["nodejs_als"]);
        assert!(als.features.async_hooks && !als.features.nodejs);
        // nodejs_compat and nodejs_compat_v2 are defaults from 2026-08-04 (and with no date),
        // each turned off by its no_ flag, v2 bringing nodejs_compat: (modules, globals) as
        // workerd 2026-11-17 gives them at 2026-11-01 for each flag set.
        let node = |date: &str, f: &[&str]| {
            Compat::parse(date, &flags(f)).map(|c| (c.features.nodejs, c.features.node_globals))
        };
        assert_eq!(node("2026-08-03", &[]), Ok((false, false)));
        assert_eq!(node("2026-08-04", &[]), Ok((true, true)));
        assert_eq!(node("", &[]), Ok((true, true)));
        assert_eq!(node("2026-11-01", &["no_nodejs_compat"]), Ok((true, true)));
        assert_eq!(
            node("2026-11-01", &["no_nodejs_compat_v2"]),
            Ok((true, false))
        );
        let neither = ["no_nodejs_compat", "no_nodejs_compat_v2"];
        assert_eq!(node("2026-11-01", &neither), Ok((false, false)));
        assert_eq!(
            node("2025-06-01", &["no_nodejs_compat"]),
            Ok((false, false))
        );
        assert!(node("", &["nodejs_compat", "no_nodejs_compat"]).is_err());
        let default = Compat::parse("2026-11-01", &[]).expect("ok").features;
        assert!(
            default.node_globals
                && default.fs
                && default.populate_process_env
                && default.async_hooks
        );
    }
}
