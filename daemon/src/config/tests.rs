//! Unit tests of the configuration: parsing, defaults, bounds, operators, quotas, `[http]`.

use super::*;

/// `text` with an operator token (unless it names its operator), parsed and checked.
fn parse(text: &str) -> Result<Config, String> {
    let text = if text.contains("operator") {
        text.to_string()
    } else {
        format!("operator_token = \"operator-token-0123456789\"\n{text}")
    };
    parse_exactly(&text)
}

fn parse_exactly(text: &str) -> Result<Config, String> {
    let config = toml::from_str::<Config>(text).map_err(|e| e.to_string())?;
    config.validate()?;
    Ok(config)
}

const TENANT: &str = "[[tenants]]\nid = \"a\"\ntoken = \"0123456789abcdef\"\n";

#[test]
fn without_an_operator_token_a_tenant_must_be_marked_operator() {
    let err = parse_exactly(TENANT).expect_err("no operator");
    assert!(err.contains("no operator"), "{err}");
    let c = parse_exactly(&format!("{TENANT}operator = true\n")).expect("marked");
    assert!(c.tenants[0].operator);
    let c = parse_exactly(&format!(
        "operator_token = \"op-0123456789abcdef\"\n{TENANT}"
    ))
    .expect("token");
    assert!(!c.tenants[0].operator);
    assert!(parse_exactly(&format!("operator_token = \"short\"\n{TENANT}")).is_err());
    // No tenants at all: the embedded default tenant is the operator.
    let c = Config::load(None).expect("defaults");
    assert_eq!(c.tenants.len(), 1);
    assert!(c.tenants[0].operator);
}

#[test]
fn quotas_have_defaults_and_tenants_override_them() {
    let text = format!(
        "[quotas]\nrequests_per_second = 10\n{TENANT}[tenants.quotas]\nburst = 3\nmax_workers = 1\n"
    );
    let c = parse(&text).expect("valid");
    let q = c.quotas_for(&c.tenants[0]);
    assert_eq!(
        (q.requests_per_second, q.burst, q.max_workers),
        (10.0, 3, 1)
    );
    assert_eq!(
        q.max_concurrent_requests,
        Quotas::default().max_concurrent_requests
    );
    let bad = format!("{TENANT}[tenants.quotas]\nrequests_per_second = -2\n");
    assert!(parse(&bad)
        .expect_err("negative")
        .contains("tenant a: quotas"));
    assert!(parse(&format!("{TENANT}[tenants.quotas]\nrps = 2\n")).is_err());
}

#[test]
fn http_limits_have_defaults_and_bounds() {
    let c = parse("").expect("valid");
    assert_eq!(c.http, HttpSettings::default());
    let c = parse("[http]\nheader_read_timeout_ms = 500\nmax_connections = 10\n").expect("valid");
    assert_eq!(
        (c.http.header_read_timeout_ms, c.http.max_connections),
        (500, 10)
    );
    assert!(parse("[http]\nmax_connections = 0\n").is_err());
    assert!(parse("[http]\nheader_read_timeout_ms = 1\n").is_err());
    // Below the wall limit it is raised at start (a request may be silent that long), not refused.
    let c = parse("[http]\nidle_timeout_ms = 20000\n[limits]\nwall_ms = 30000\n").expect("valid");
    assert_eq!(c.http.idle_timeout_ms(c.limits.wall_ms), 35_000);
    assert_eq!(HttpSettings::default().idle_timeout_ms(30_000), 60_000);
    assert_eq!(
        parse("log_format = \"json\"\n").expect("json").log_format,
        LogFormat::Json
    );
    assert!(parse("log_format = \"xml\"\n").is_err());
}

#[test]
fn event_wall_ms_has_cloudflares_default_and_bounds() {
    assert_eq!(parse("").expect("valid").limits.event_wall_ms, 900_000);
    let c = parse("[limits]\nevent_wall_ms = 120000\n").expect("valid");
    assert_eq!(c.limits.event_wall_ms, 120_000);
    assert!(parse("[limits]\nevent_wall_ms = 86400000\n").is_ok());
    for bad in ["0", "999", "86400001"] {
        let err = parse(&format!("[limits]\nevent_wall_ms = {bad}\n")).expect_err(bad);
        assert!(err.contains("limits.event_wall_ms"), "{err}");
    }
}

#[test]
fn egress_rules_secrets_and_allow_private_parse_and_are_checked() {
    let text = r#"
[egress]
allow_private = ["127.0.0.0/8", "::1/128"]
[[tenants]]
id = "acme"
token = "0123456789abcdef"
[tenants.secrets]
api_key = "s3cr3t-value"
[[tenants.egress]]
host = "api.example.com"
ports = [443]
methods = ["GET", "POST"]
path_prefix = "/v1/"
inject_headers = { "X-Api-Key" = "api_key" }
[[tenants.egress]]
host = "*.example.org"
"#;
    let c = parse(text).expect("valid");
    assert_eq!(c.egress.allow_private_nets().expect("nets").len(), 2);
    let t = &c.tenants[0];
    assert_eq!(t.egress.len(), 2);
    assert_eq!(t.egress[0].inject_headers["X-Api-Key"], "api_key");
    assert!(
        !format!("{c:?}").contains("s3cr3t-value"),
        "Debug hides secrets"
    );
    let tenant = "[[tenants]]\nid = \"a\"\ntoken = \"0123456789abcdef\"\n";
    for (bad, why) in [
        (
            "[egress]\nallow_private = [\"127.0.0.1/33\"]\n",
            "allow_private",
        ),
        (
            "[egress]\nallow_private = [\"localhost\"]\n",
            "allow_private",
        ),
        ("[[tenants.egress]]\nhost = \"\"\n", "egress rule 1"),
        ("[[tenants.egress]]\nhost = \"a.*.com\"\n", "egress rule 1"),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\nports = [0]\n",
            "egress rule 1",
        ),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\nmethods = [\"get\"]\n",
            "egress rule 1",
        ),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\npath_prefix = \"v1\"\n",
            "egress rule 1",
        ),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\ninject_headers = { \"Bad Name\" = \"k\" }\n",
            "egress rule 1",
        ),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\ninject_headers = { \"Host\" = \"k\" }\n",
            "egress rule 1",
        ),
        (
            "[[tenants.egress]]\nhost = \"x.com\"\nschemes = [\"ftp\"]\n",
            "unknown field",
        ),
        ("[tenants.secrets]\n\"bad name\" = \"v\"\n", "secret"),
        ("[tenants.secrets]\nk = \"\"\n", "secret"),
    ] {
        let text = if bad.starts_with("[egress]") {
            format!("{bad}{tenant}")
        } else {
            format!("{tenant}{bad}")
        };
        let err = parse(&text).expect_err(bad);
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn min_processes_default_to_the_cores_for_standard_and_one_elsewhere() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    // The section absent, and present without the keys: the same defaults.
    for text in ["", "[cordon]\nstandard_capacity = 8\n"] {
        let c = parse(text).expect("valid").cordon;
        assert_eq!(
            (
                c.trusted_min_processes,
                c.standard_min_processes,
                c.untrusted_min_processes
            ),
            (1, cores.min(MAX_MIN_PROCESSES), 1),
            "{text:?}"
        );
    }
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_are_bounded() {
    assert_eq!(parse("").expect("valid").worker_threads, 0);
    assert_eq!(
        parse("worker_threads = 4\n").expect("valid").worker_threads,
        4
    );
    assert!(parse("worker_threads = 17\n").is_err());
}

#[test]
fn the_spins_default_to_150_us_and_are_bounded() {
    let spins = |c: &Config| [c.worker_reply_spin_us, c.supervisor_spin_us];
    assert_eq!(spins(&parse("").expect("valid")), [150, 150]);
    for (i, key) in ["worker_reply_spin_us", "supervisor_spin_us"]
        .iter()
        .enumerate()
    {
        let off = parse(&format!("{key} = 0\n")).expect("valid");
        assert_eq!(spins(&off)[i], 0, "{key}");
        let err = parse(&format!("{key} = 1001\n")).expect_err("out of range");
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn the_renewal_threshold_defaults_to_20000_isolates_and_is_bounded() {
    assert_eq!(parse("").expect("valid").worker_renew_after, 20_000);
    assert_eq!(
        parse("worker_renew_after = 50\n")
            .expect("valid")
            .worker_renew_after,
        50
    );
    for bad in ["49", "1000001"] {
        let err = parse(&format!("worker_renew_after = {bad}\n")).expect_err("out of range");
        assert!(err.contains("worker_renew_after"), "{err}");
    }
}

#[test]
fn supervisor_threads_default_to_two_and_are_bounded() {
    assert_eq!(parse("").expect("valid").supervisor_threads, 2);
    assert_eq!(
        parse("supervisor_threads = 1\n")
            .expect("valid")
            .supervisor_threads,
        1
    );
    for bad in [0, 65] {
        let err = parse(&format!("supervisor_threads = {bad}\n")).expect_err("out of range");
        assert!(err.contains("supervisor_threads"), "{err}");
    }
}

#[test]
fn max_in_flight_per_worker_defaults_to_256_and_is_bounded() {
    assert_eq!(parse("").expect("valid").max_in_flight_per_worker, 256);
    let c = parse("max_in_flight_per_worker = 1\n").expect("valid");
    assert_eq!(c.max_in_flight_per_worker, 1);
    for bad in [0, MAX_IN_FLIGHT_PER_WORKER + 1] {
        let err = parse(&format!("max_in_flight_per_worker = {bad}\n")).expect_err("refused");
        assert!(
            err.contains("max_in_flight_per_worker must be 1 to"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn min_processes_are_configurable_per_tier_and_bounded() {
    let c = parse(
        "[cordon]\ntrusted_min_processes = 2\nstandard_min_processes = 5\nuntrusted_min_processes = 3\n",
    )
    .expect("valid")
    .cordon;
    assert_eq!(
        (
            c.trusted_min_processes,
            c.standard_min_processes,
            c.untrusted_min_processes
        ),
        (2, 5, 3)
    );
    for key in [
        "trusted_min_processes",
        "standard_min_processes",
        "untrusted_min_processes",
    ] {
        for bad in [0, MAX_MIN_PROCESSES + 1] {
            let err = parse(&format!("[cordon]\n{key} = {bad}\n")).expect_err("refused");
            assert!(
                err.contains("min_processes must be 1 to"),
                "{key} = {bad}: {err}"
            );
        }
    }
    assert!(parse("[cordon]\nquarantine_min_processes = 2\n").is_err());
}

#[test]
fn tenant_capabilities_parse_and_are_checked() {
    let ok = format!(
        "{TENANT}[[tenants.capabilities]]\nname = \"calc\"\nkind = \"http\"\nurl = \"https://calc.example/rpc\"\n\
         types = \"interface Methods {{ add(a: number, b: number): Promise<number>; }}\"\n\
         [[tenants.capabilities]]\nname = \"weather\"\nkind = \"mcp\"\nurl = \"https://weather.example/mcp\"\n"
    );
    let config = parse(&ok).expect("valid");
    let caps = &config.tenants[0].capabilities;
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[1].kind, crate::capabilities::Kind::Mcp);
    for bad in [
        "name = \"a b\"\nkind = \"mcp\"\nurl = \"https://x/\"",
        "name = \"a\"\nkind = \"smtp\"\nurl = \"https://x/\"",
        "name = \"a\"\nkind = \"mcp\"\nurl = \"file:///etc/passwd\"",
        "name = \"a\"\nkind = \"mcp\"\nurl = \"https://x/\"\ntypes = \"interface Methods {}\"",
        "name = \"a\"\nkind = \"http\"\nurl = \"https://x/\"\nextra = 1",
    ] {
        let text = format!("{TENANT}[[tenants.capabilities]]\n{bad}\n");
        assert!(parse(&text).is_err(), "{bad}");
    }
    let twice = format!(
        "{TENANT}[[tenants.capabilities]]\nname = \"a\"\nkind = \"mcp\"\nurl = \"https://x/\"\n\
         [[tenants.capabilities]]\nname = \"a\"\nkind = \"mcp\"\nurl = \"https://y/\"\n"
    );
    assert!(parse(&twice).is_err(), "a name declared twice is refused");
}

#[test]
fn binding_call_budgets_have_defaults_and_bounds() {
    let config = parse("").expect("defaults");
    assert_eq!(config.limits.max_binding_calls, 1000);
    assert_eq!(config.limits.max_binding_depth, 8);
    let config = parse("[limits]\nmax_binding_calls = 5\nmax_binding_depth = 2\n").expect("set");
    assert_eq!(
        (
            config.limits.max_binding_calls,
            config.limits.max_binding_depth
        ),
        (5, 2)
    );
    assert!(parse("[limits]\nmax_binding_calls = 0\n").is_err());
    assert!(parse("[limits]\nmax_binding_depth = 0\n").is_err());
    assert!(parse("[limits]\nmax_binding_depth = 65\n").is_err());
}

#[test]
fn the_worker_process_memory_cap_has_a_default_an_off_switch_and_a_floor() {
    let config = parse("").expect("defaults");
    assert_eq!(config.limits.worker_process_memory_mb, 1024);
    assert_eq!(
        config.limits.worker_process_memory_enforcement,
        MemoryEnforcement::Auto
    );
    let config = parse(
        "[limits]\nworker_process_memory_mb = 0\nworker_process_memory_enforcement = \"poll\"\n",
    )
    .expect("off");
    assert_eq!(config.limits.worker_process_memory_mb, 0);
    assert_eq!(
        config.limits.worker_process_memory_enforcement,
        MemoryEnforcement::Poll
    );
    let config =
        parse("[limits]\nworker_process_memory_enforcement = \"cgroup\"\n").expect("cgroup");
    assert_eq!(
        config.limits.worker_process_memory_enforcement,
        MemoryEnforcement::Cgroup
    );
    assert!(parse("[limits]\nworker_process_memory_mb = 63\n").is_err());
    assert!(parse("[limits]\nworker_process_memory_enforcement = \"rlimit\"\n").is_err());
}

#[test]
fn the_host_call_budget_and_a_tenants_share_have_defaults_and_bounds() {
    let config = parse("").expect("defaults");
    assert_eq!(config.limits.host_call_memory_mb, 512);
    assert_eq!(config.limits.host_call_memory_per_tenant_mb, 128);
    let config = parse("[limits]\nhost_call_memory_mb = 64\nhost_call_memory_per_tenant_mb = 64\n")
        .expect("the smallest");
    assert_eq!(config.limits.host_call_memory_mb, 64);
    for bad in [
        "host_call_memory_mb = 63\nhost_call_memory_per_tenant_mb = 63\n",
        "host_call_memory_mb = 1048577\n",
        "host_call_memory_per_tenant_mb = 63\n",
        "host_call_memory_per_tenant_mb = 513\n",
    ] {
        let e = parse(&format!("[limits]\n{bad}")).expect_err(bad);
        assert!(e.contains("host_call_memory"), "{bad}: {e}");
    }
}

#[test]
fn the_store_url_names_a_backend_the_daemon_has() {
    for ok in [
        "sqlite:///tmp/x.db",
        "postgres://u@h/db",
        "postgresql://u@h/db",
    ] {
        parse(&format!("[store]\nurl = \"{ok}\"\n")).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["mysql://x", "/tmp/x.db", ""] {
        let err = parse(&format!("[store]\nurl = \"{bad}\"\n")).expect_err(bad);
        assert!(err.contains("store.url"), "{bad}: {err}");
    }
}

#[test]
fn the_secrets_poll_interval_is_bounded() {
    let default = parse("").expect("default");
    assert_eq!(default.store.secrets_poll_ms, 2_000);
    for ok in [100, 2_000, 600_000] {
        let c = parse(&format!("[store]\nsecrets_poll_ms = {ok}\n"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(c.store.secrets_poll_ms, ok);
    }
    for bad in ["0", "99", "600001"] {
        let err = parse(&format!("[store]\nsecrets_poll_ms = {bad}\n")).expect_err(bad);
        assert!(err.contains("store.secrets_poll_ms"), "{bad}: {err}");
    }
    assert!(parse("[store]\nsecrets_poll_ms = -1\n").is_err());
}

#[test]
fn the_d1_size_cap_and_time_budget_are_bounded() {
    let default = parse("").expect("default");
    assert_eq!(default.store.d1_max_bytes, 100 << 20);
    assert_eq!(default.store.d1_query_ms, 30_000);
    assert_eq!(default.store.d1_tenant_max_bytes, 256 << 20);
    let d1 = default.d1_settings();
    assert!(d1.dir.ends_with("d1"), "{}", d1.dir.display());
    let c = parse("[store]\nd1_max_bytes = 1048576\nd1_query_ms = 10\n").expect("valid");
    assert_eq!((c.store.d1_max_bytes, c.store.d1_query_ms), (1 << 20, 10));
    let c = parse("[store]\nd1_tenant_max_bytes = 1099511627776\n").expect("valid");
    assert_eq!(c.d1_settings().tenant_max_bytes, 1 << 40);
    for (field, bad) in [
        ("d1_max_bytes", "1048575"),
        ("d1_max_bytes", "10737418241"),
        ("d1_query_ms", "9"),
        ("d1_query_ms", "300001"),
        ("d1_tenant_max_bytes", "1048575"),
        ("d1_tenant_max_bytes", "1099511627777"),
    ] {
        let err = parse(&format!("[store]\n{field} = {bad}\n")).expect_err(bad);
        assert!(err.contains(&format!("store.{field}")), "{bad}: {err}");
    }
}

#[test]
fn a_time_zone_must_be_one_of_the_hosts_database() {
    let dir = std::env::temp_dir().join(format!("stockade-zoneinfo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("Europe")).expect("mkdir");
    std::fs::create_dir_all(dir.join("posix/Europe")).expect("mkdir");
    std::fs::write(dir.join("Europe/Berlin"), b"TZif").expect("zone");
    std::fs::write(dir.join("EST5EDT"), b"TZif").expect("zone");
    std::fs::write(dir.join("posix/Europe/Berlin"), b"TZif").expect("zone");
    // Files of the folder that are not zones, and paths out of it.
    std::fs::write(dir.join("zone.tab"), b"# tz zone descriptions").expect("table");
    std::fs::write(dir.join("localtime"), b"TZif").expect("link");
    std::fs::write(dir.join("posixrules"), b"TZif").expect("link");
    for ok in ["UTC", "Europe/Berlin", "EST5EDT"] {
        known_zone(ok, &dir).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // Unknown names, a folder, the alias trees and POSIX rules: V8's ICU would leave the zone
    // undefined or silently use UTC.
    for bad in [
        "Mars/Olympus",
        "Europe",
        "posix/Europe/Berlin",
        "EST5EDT,M3.2.0,M11.1.0",
        "<+03>-3",
        "zone.tab",
        "localtime",
        "posixrules",
        "/etc/localtime",
        "Europe/../Europe/Berlin",
    ] {
        let err = known_zone(bad, &dir).expect_err(bad);
        assert!(err.contains("not a zone"), "{bad}: {err}");
    }
    // A host without the database: the name's shape alone was checked.
    known_zone("Europe/Berlin", &dir.join("absent")).expect("no database");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_operator_token_may_not_be_a_tenants_token() {
    let same = "operator_token = \"0123456789abcdef\"\n";
    let err = parse_exactly(&format!("{same}{TENANT}")).expect_err("shared token");
    assert!(
        err.contains("tenant a") && err.contains("operator = true"),
        "{err}"
    );
    assert!(!err.contains("0123456789abcdef"), "{err}");
    // The documented way to make a tenant the operator.
    let c = parse_exactly(&format!("{TENANT}operator = true\n")).expect("marked");
    assert!(c.tenants[0].operator);
}

#[test]
fn tokens_that_no_request_could_present_are_refused() {
    for token in [
        " 0123456789abcdef",
        "0123456789abcdef ",
        "0123456789abcdef\t",
    ] {
        let tenant = format!("[[tenants]]\nid = \"a\"\ntoken = {token:?}\n");
        let err = parse(&tenant).expect_err(token);
        assert!(
            err.contains("tenant a: token") && err.contains("whitespace"),
            "{err}"
        );
        let operator = format!("operator_token = {token:?}\n{TENANT}");
        let err = parse_exactly(&operator).expect_err(token);
        assert!(
            err.contains("operator_token") && err.contains("whitespace"),
            "{err}"
        );
    }
    let err = parse("[[tenants]]\nid = \"a\"\ntoken = \"0123456789abcdéf\"\n").expect_err("utf8");
    assert!(err.contains("printable ASCII"), "{err}");
    // Inner spaces reach the daemon intact: such a token works, and is taken.
    parse("[[tenants]]\nid = \"a\"\ntoken = \"0123456789 abcdef\"\n").expect("inner space");
}

#[test]
fn parse_errors_say_where_without_quoting_the_file() {
    let head = "operator_token = \"operator-token-0123456789\"\n";
    for (text, line) in [
        // An unterminated string on a secret's line.
        (
            format!("{head}{TENANT}[tenants.secrets]\napi_key = \"TOPSECRET-VALUE\n"),
            6,
        ),
        // A value of the wrong type, which serde's message would quote.
        (
            format!("{head}{TENANT}[tenants.secrets]\napi_key = 42424242\n"),
            6,
        ),
        (format!("{head}workers = \"TOPSECRET-VALUE\"\n"), 2),
        (
            format!("{head}{TENANT}[tenants.secrets]\napi_key = TOPSECRET-VALUE\n"),
            6,
        ),
    ] {
        let err = Config::parse_text(&text).expect_err(&text);
        assert!(
            !err.contains("TOPSECRET") && !err.contains("42424242"),
            "{err}"
        );
        assert!(err.contains(&format!("line {line}, column ")), "{err}");
        assert!(!err.contains('\n') || !err.contains('|'), "{err}");
    }
    assert_eq!(
        redacted_message("invalid type: string \"a, expected b\", expected usize"),
        "invalid type: string, expected usize"
    );
    assert_eq!(
        redacted_message("invalid value: integer `7`, expected a port"),
        "invalid value: integer, expected a port"
    );
    assert_eq!(
        redacted_message("unknown field `x`, expected `y`"),
        "unknown field `x`, expected `y`"
    );
}

#[test]
fn a_tenant_named_like_no_tenant_and_one_address_for_two_listeners_are_refused() {
    let err = parse("[[tenants]]\nid = \"-\"\ntoken = \"0123456789abcdef\"\noperator = true\n")
        .expect_err("the id of no tenant");
    assert!(err.contains("reserved"), "{err}");
    let err = parse(&format!(
        "listen = \"127.0.0.1:8787\"\nmetrics_listen = \"127.0.0.1:8787\"\n{TENANT}operator = true\n"
    ))
    .expect_err("one address twice");
    assert!(err.contains("metrics_listen must differ"), "{err}");
    parse(&format!(
        "listen = \"127.0.0.1:8787\"\nmetrics_listen = \"127.0.0.1:9090\"\n{TENANT}operator = true\n"
    ))
    .expect("two addresses");
    // Port 0 twice: the kernel picks a port for each.
    parse(&format!(
        "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n{TENANT}operator = true\n"
    ))
    .expect("two ports the kernel picks");
}

#[test]
fn the_r2_caps_are_bounded() {
    let default = parse("").expect("default");
    assert_eq!(default.store.r2_max_object_bytes, 100 << 20);
    assert_eq!(default.store.r2_tenant_max_bytes, 1 << 30);
    let r2 = default.r2_settings();
    assert!(r2.dir.ends_with("r2"), "{}", r2.dir.display());
    assert_eq!(r2.multipart_expiry.as_secs(), 7 * 24 * 3600, "R2's 7 days");
    let c = parse("[store]\nr2_multipart_expiry_secs = 60\n").expect("valid");
    assert_eq!(c.r2_settings().multipart_expiry.as_secs(), 60);
    let c =
        parse("[store]\nr2_max_object_bytes = 1000\nr2_tenant_max_bytes = 5000\n").expect("valid");
    assert_eq!(
        (
            c.r2_settings().max_object_bytes,
            c.r2_settings().tenant_max_bytes
        ),
        (1000, 5000)
    );
    for (field, bad) in [
        ("r2_max_object_bytes", "0"),
        ("r2_max_object_bytes", "5368709121"),
        ("r2_tenant_max_bytes", "0"),
        ("r2_tenant_max_bytes", "-1"),
        ("r2_multipart_expiry_secs", "0"),
        ("r2_multipart_expiry_secs", "31536001"),
    ] {
        assert!(
            parse(&format!("[store]\n{field} = {bad}\n")).is_err(),
            "{field} = {bad}"
        );
    }
}
