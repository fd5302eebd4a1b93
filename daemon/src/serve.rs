//! `stockade serve`: the supervisor daemon. Owns the API, the tenants and the pool of jailed
//! worker processes; never runs tenant code itself.
//!
//! Guarantees:
//! - the configuration is checked whole before anything starts (`stockade check-config` runs the
//!   same checks); a configuration without an operator is refused;
//! - the soft file-descriptor limit is raised to the hard one at start, and the HTTP server's
//!   connection cap is kept below it (`http`);
//! - `SIGHUP` reloads the configuration file's tenants (new ones, trust and account facts),
//!   tokens (the operator's included), quotas, capabilities, and egress rules and secrets (the
//!   secrets stored through the API kept over the file's, then read again from the store), atomically for
//!   each, without dropping a connection or a worker; a file that no longer parses or checks is
//!   refused whole (logged) and the running configuration stays. Other settings (listen
//!   addresses, `[limits]`, `[cordon]`, `[http]`, `[egress]`) take a restart;
//! - with a PostgreSQL store, the secrets set or deleted through any daemon sharing it reach this
//!   one's egress within `[store] secrets_poll_ms` (`follow_stored_secrets`), swapped whole; a
//!   store that is down leaves the set in force (logged, tried again);
//! - `SIGTERM`/`SIGINT` stop accepting, let the requests in progress finish, then stop the
//!   workers;
//! - under a service manager (`NOTIFY_SOCKET`), it says when it is ready, reloading and stopping
//!   (`serve/service_manager.rs`), and serves on the sockets it passed, if any
//!   (`serve/listeners.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::TenantSnapshot;

use crate::api::{metrics_only_router, router, AppState};
use crate::capabilities::Capabilities;
use crate::config::{Config, ListenAddr, LogFormat};
use crate::egress::Egress;
use crate::http::{connection_cap, raise_nofile, ConnectionStats, Limits, Listener};
use crate::storage::cache::Caches;
use crate::storage::Storage;
use crate::store::Store;
use crate::supervisor::{HostCalls, Pool, SpawnConfig};

mod daemon_id;
mod data_dir_lock;
mod listeners;
mod service_manager;
mod start_error;
pub use start_error::{SecretsError, StartError};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration; embedded defaults when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address (overrides the config), e.g. 127.0.0.1:8787 or unix:/run/stockade/api.sock.
    #[arg(long)]
    pub listen: Option<crate::config::ListenAddr>,
    /// Run workers without the jail (debugging only).
    #[arg(long)]
    pub no_jail: bool,
    /// Once listening, write the API's address (`http://ip:port`, or `unix:/path` for a Unix
    /// socket a service manager passed) to this file, and the metrics address on a second line
    /// when there is one: how whoever started the daemon on port 0 learns the port it got.
    /// Written whole (a temporary file renamed over it).
    #[arg(long)]
    pub address_file: Option<PathBuf>,
}

/// Starts logging: `tracing` to stderr, as text or JSON (`log_format`, or
/// `STOCKADE_LOG_FORMAT=json`), filtered by `STOCKADE_LOG` (default `info`).
fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let json = format == LogFormat::Json
        || std::env::var("STOCKADE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let filter = EnvFilter::try_from_env("STOCKADE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    if let Err(e) = result {
        eprintln!("stockade: cannot start logging: {e}");
    }
}

pub fn main(args: ServeArgs) -> ExitCode {
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stockade: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.no_jail {
        config.jail = false;
    }
    init_logs(config.log_format);
    // Before any thread starts: it edits the environment.
    let passed = match listeners::take() {
        Ok(passed) => passed,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(4);
        }
    };
    let spin = std::time::Duration::from_micros(config.supervisor_spin_us.into());
    if let Err(e) = crate::supervisor::lookout::start(spin) {
        tracing::error!("{}", StartError::Lookout(e));
        return ExitCode::from(4);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.supervisor_threads)
        .on_thread_park(crate::supervisor::lookout::before_park)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{}", StartError::Runtime(e));
            return ExitCode::from(4);
        }
    };
    match runtime.block_on(serve(config, args.config, args.address_file, passed)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(4)
        }
    }
}

async fn serve(
    config: Config,
    path: Option<PathBuf>,
    address_file: Option<PathBuf>,
    passed: listeners::Passed,
) -> Result<(), StartError> {
    let nofile = raise_nofile();
    let spawn = SpawnConfig {
        runtime: crate::supervisor::WorkerRuntime::locate().map_err(StartError::WorkerRuntime)?,
        timezone: config.timezone.clone(),
        jail: config.jail,
        profile: "standard",
        test_hooks: test_hooks_enabled(),
        threads: config.worker_threads,
        reply_spin_us: config.worker_reply_spin_us,
        renew_after: config.worker_renew_after,
        memory: Some(Arc::new(
            crate::supervisor::MemoryCap::start(
                config.limits.worker_process_memory_mb,
                config.limits.worker_process_memory_enforcement,
            )
            .map_err(StartError::MemoryCap)?,
        )),
    };
    if !config.jail {
        tracing::warn!("workers run WITHOUT the jail (--no-jail)");
    }
    if spawn.test_hooks {
        tracing::warn!("test hooks are on (debug build, STOCKADE_TEST_HOOKS=1)");
    }
    // Held until `serve` returns: one daemon per data_dir.
    let _data_dir =
        data_dir_lock::DataDirLock::take(&config.data_dir).map_err(StartError::DataDir)?;
    // Under the lock: whoever held this id before is dead (`serve/daemon_id.rs`).
    let daemon_id = daemon_id::load_or_create(&config.data_dir).map_err(StartError::DaemonId)?;
    let store = Store::open(&config.store_settings())
        .await
        .map_err(StartError::Store)?;
    tracing::info!("store: {}", store.backend_name());
    let egress = Arc::new(Egress::new(&config).map_err(StartError::Egress)?);
    let secrets_seen = load_secrets(&store, &egress)
        .await
        .map_err(StartError::Secrets)?;
    if store.shared() {
        egress.secrets_follow().start(secrets_seen);
        follow_stored_secrets(
            store.clone(),
            Arc::downgrade(&egress),
            Duration::from_millis(config.store.secrets_poll_ms),
            secrets_seen,
        );
    }
    let mut host_calls = HostCalls::standard();
    host_calls.set_budget_mb(
        config.limits.host_call_memory_mb,
        config.limits.host_call_memory_per_tenant_mb,
    );
    let host_call_budget = Arc::clone(host_calls.budget());
    egress.register(&mut host_calls);
    let storage = Storage::new(store.clone(), config.d1_settings(), config.r2_settings());
    storage.register(&mut host_calls);
    let queues = crate::queues::Queues::new(store.clone(), daemon_id);
    queues.register(&mut host_calls);
    // Before the dispatcher starts: the batches a killed predecessor held go out again now.
    if let Err(e) = queues.release_held().await {
        tracing::warn!(
            "queues: cannot release a previous daemon's leases (they end by themselves): {e}"
        );
    }
    let cache_budgets = config
        .tenants
        .iter()
        .map(|t| config.quotas_for(t).cache_bytes)
        .collect();
    Caches::new(cache_budgets, config.quotas.cache_bytes).register(&mut host_calls);
    let capabilities = Capabilities::new(&config, store.clone(), Arc::clone(&egress));
    capabilities.register(&mut host_calls);
    let services = crate::api::Services::new();
    services.register(&mut host_calls);
    let objects = crate::objects::Objects::new(config.durable_objects.settings(&config.data_dir));
    objects.register(&mut host_calls);
    let object_calls = crate::api::ObjectCalls::new(objects);
    object_calls.register(&mut host_calls);
    sweep_expired_keys(store.clone());
    let pool = Pool::start(&config, spawn, host_calls).map_err(StartError::Pool)?;
    storage.resolve_tenants_with(pool.tenant_names());
    queues.resolve_tenants_with(pool.tenant_names());
    capabilities.resolve_tenants_with(pool.tenant_names());
    keep_risk_history(&store, &pool).await?;
    let addr = config.listen.clone();
    let listen = |source| StartError::Listen {
        addr: addr.clone(),
        source,
    };
    // The Unix socket files the daemon makes go when it stops (a passed one is the manager's).
    let mut made_sockets: Vec<PathBuf> = made_here(&passed.api, &addr).into_iter().collect();
    let listener = listen_on(passed.api, &addr, listen).await?;
    let local = listener.describe().map_err(listen)?;
    let limits = Limits {
        header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(config.http.idle_timeout_ms(config.limits.wall_ms)),
        max_connections: connection_cap(config.http.max_connections, nofile),
    };
    tracing::info!(
        "listening on {local} with {} warm worker processes (at most {} connections, \
         {nofile} file descriptors)",
        config.workers,
        limits.max_connections
    );
    let connections = Arc::new(ConnectionStats::default());
    let drain_wall_ms = config.limits.wall_ms;
    let metrics_listen = config.metrics_listen.clone();
    let state = Arc::new(AppState::new(
        config,
        pool,
        Arc::clone(&egress),
        Arc::clone(&connections),
        store,
        capabilities,
        host_call_budget,
        Arc::clone(&queues),
    ));
    egress.set_worker_dispatch(crate::api::outbound_dispatch(Arc::downgrade(&state)));
    services.attach(Arc::downgrade(&state));
    object_calls.attach(Arc::downgrade(&state));
    // Cron triggers of every tenant's stored workers (`scheduled`).
    crate::scheduled::start(Arc::downgrade(&state));
    // Batches of every tenant's queues to their consumers (`queues`).
    crate::queues::start(Arc::downgrade(&state), queues);
    let mut metrics_local = None;
    // A passed metrics socket serves the metrics whatever `metrics_listen` says; nothing is bound
    // then, and `addr` only names the listener in an error.
    if passed.metrics.is_some() || metrics_listen.is_some() {
        let addr = metrics_listen.unwrap_or(ListenAddr::Tcp(std::net::SocketAddr::from((
            [0, 0, 0, 0],
            0,
        ))));
        made_sockets.extend(made_here(&passed.metrics, &addr));
        let metrics = |source| StartError::MetricsListen {
            addr: addr.clone(),
            source,
        };
        let listener = listen_on(passed.metrics, &addr, metrics).await?;
        let described = listener.describe().map_err(metrics)?;
        tracing::info!("metrics on {described} (/metrics)");
        metrics_local = Some(described);
        let app = metrics_only_router(Arc::clone(&state));
        let stats = Arc::new(ConnectionStats::default());
        let small = Limits {
            max_connections: 64,
            ..limits
        };
        tokio::spawn(crate::http::serve(
            listener,
            app,
            small,
            stats,
            std::future::pending(),
            Duration::ZERO, // never drains: it answers until the daemon ends
        ));
    }
    if let Some(file) = &address_file {
        write_address_file(file, &local, metrics_local.as_deref())?;
    }
    service_manager::ready(&local);
    if let Some(path) = path {
        tokio::spawn(reload_on_hangup(path, Arc::downgrade(&state)));
    }
    let app = router(Arc::clone(&state));
    let drain = Arc::clone(&state);
    let stop = async move {
        shutdown_signal().await;
        drain
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    };
    // A request in progress may run for its wall limit (a streamed body, `waitUntil` work
    // included): the drain waits that long, and 5 s more, at least 30 s.
    let drain_for =
        Duration::from_millis(u64::from(drain_wall_ms)).saturating_add(Duration::from_secs(5));
    let drain_for = drain_for.max(Duration::from_secs(30));
    crate::http::serve(listener, app, limits, connections, stop, drain_for).await;
    for path in made_sockets {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("drained; stopping workers");
    drop(state);
    Ok(())
}

/// The Unix socket file the daemon makes for `addr`, unless the service manager passed a socket.
fn made_here(passed: &Option<listeners::Socket>, addr: &ListenAddr) -> Option<PathBuf> {
    match (passed, addr) {
        (None, ListenAddr::Unix(path)) => Some(path.clone()),
        _ => None,
    }
}

/// The socket the service manager passed for this use (`listeners.rs`), else one bound at `addr`
/// (`bind_error` says which listener failed).
async fn listen_on(
    passed: Option<listeners::Socket>,
    addr: &ListenAddr,
    bind_error: impl Fn(std::io::Error) -> StartError,
) -> Result<Listener, StartError> {
    if let Some(socket) = passed {
        return socket.listener().map_err(StartError::PassedUnusable);
    }
    let bound = match addr {
        ListenAddr::Tcp(addr) => tokio::net::TcpListener::bind(addr).await.map(Listener::Tcp),
        ListenAddr::Unix(path) => listeners::bind_unix(path).map(Listener::Unix),
    };
    bound.map_err(bind_error)
}

/// Writes the addresses the daemon listens on to `file` (see `--address-file`): to a temporary
/// beside it first, then renamed, so a reader never sees half of it.
fn write_address_file(
    file: &std::path::Path,
    api: &str,
    metrics: Option<&str>,
) -> Result<(), StartError> {
    let mut text = format!("{api}\n");
    if let Some(metrics) = metrics {
        text.push_str(&format!("{metrics}\n"));
    }
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|source| StartError::AddressFile {
            path: file.to_path_buf(),
            source,
        })
}

/// Reloads tenants, tokens and quotas from `path` on every `SIGHUP` (see the module docs).
async fn reload_on_hangup(path: PathBuf, state: std::sync::Weak<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot watch SIGHUP: configuration reloads are off");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(state) = state.upgrade() else {
            return;
        };
        service_manager::reloading();
        match Config::load(Some(&path)) {
            Ok(config) => {
                state.pool.reload_tenants(&config.tenants);
                state.reload(&config);
                // Egress rules and the file's secrets, then the API's stored secrets again
                // (they win over the file's, as at start).
                let pool = &state.pool;
                match state.egress.reload(&config, |name| pool.tenant_id(name)) {
                    Ok(()) => {
                        if let Err(e) = load_secrets(&state.store, &state.egress).await {
                            tracing::error!("reload: the stored secrets: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::error!("reload: egress rules refused, the running ones stay: {e}")
                    }
                }
                tracing::info!(
                    "reloaded {}: {} tenants",
                    path.display(),
                    config.tenants.len()
                );
            }
            Err(e) => tracing::error!("reload refused, the running configuration stays: {e}"),
        }
        service_manager::reloaded();
    }
}

/// Hands the secrets set through the API (sealed in the store) to the egress gateway, replacing
/// those it had from the store whole (one swap: a request injects the old set or the new, and a
/// secret deleted from the store goes, the configuration file's value coming back if it gives
/// one); those of tenants no longer configured stay stored, unused. Nothing changes when the
/// store cannot be read or a value does not open: the set in force stays. Answers the store's
/// change counter the set was read at (`store::secrets::snapshot`).
async fn load_secrets(store: &Store, egress: &Egress) -> Result<i64, SecretsError> {
    let _held = store.secrets_lock.lock().await;
    let (generation, all) = store
        .tx(crate::store::secrets::snapshot)
        .await
        .map_err(SecretsError::Read)?;
    let mut values = Vec::with_capacity(all.len());
    for (tenant, name, sealed) in all {
        let value = store
            .sealer
            .open(&tenant, &name, &sealed)
            .map_err(SecretsError::Unseal)?;
        let value = String::from_utf8(value).map_err(|_| SecretsError::NotText(name.clone()))?;
        values.push((tenant, name, value));
    }
    for (tenant, name, why) in egress.replace_stored_secrets(values) {
        tracing::warn!("stored secret {name} of {tenant}: {why}");
    }
    Ok(generation)
}

/// With a store daemons share (PostgreSQL), every `every` reads the secrets' change counter and,
/// when it moved (a secret set or deleted through any daemon's API, this one's included), loads
/// the stored secrets again (`load_secrets`): a change reaches this daemon's egress within
/// `every` plus the reload. A store that cannot be read, or a set that does not load, is logged
/// (once, then again when it recovers) and tried again at the next tick; the set in force stays
/// meanwhile. `seen` is the counter the set in force was read at.
fn follow_stored_secrets(
    store: Store,
    egress: std::sync::Weak<Egress>,
    every: Duration,
    seen: i64,
) {
    tokio::spawn(async move {
        let mut seen = seen;
        let mut failing = false;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(egress) = egress.upgrade() else {
                return;
            };
            let result = match store.tx(crate::store::secrets::generation).await {
                Ok(generation) if generation == seen => Ok(None),
                Ok(_) => load_secrets(&store, &egress).await.map(Some),
                Err(e) => Err(SecretsError::Read(e)),
            };
            let follow = egress.secrets_follow();
            match &result {
                Ok(changed) => follow.polled(changed.unwrap_or(seen), changed.is_some()),
                Err(_) => follow.failed(),
            }
            match result {
                Ok(changed) => {
                    if failing {
                        failing = false;
                        tracing::info!("secrets: following the stored secrets' changes again");
                    }
                    if let Some(generation) = changed {
                        tracing::info!(
                            "secrets: reloaded the stored secrets (change {seen} -> {generation}, \
                             made through this or another daemon sharing the store)"
                        );
                        seen = generation;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(
                            "secrets: cannot follow the stored secrets' changes (tried again \
                             every {} ms; the secrets in force stay): {e}",
                            every.as_millis()
                        );
                    }
                    failing = true;
                }
            }
        }
    });
}

/// Restores each tenant's stored risk history (signals, quarantine latch, operator pin: a
/// restart must not free a quarantined tenant), then stores every change from now on, in order,
/// on a task of its own. A change the store refuses (it is down) is logged and stored again
/// every second until it is (a newer change of the tenant replaces it); the history in memory
/// stays in force meanwhile.
async fn keep_risk_history(store: &Store, pool: &Pool) -> Result<(), StartError> {
    let stored = store
        .tx(crate::store::risk::all)
        .await
        .map_err(StartError::RiskHistory)?;
    for (tenant, snapshot, taken_ms) in stored {
        pool.restore_history(&tenant, &snapshot, taken_ms);
    }
    let (sink, changes) = tokio::sync::mpsc::unbounded_channel();
    pool.persist_history(sink);
    let store = store.clone();
    tokio::spawn(store_risk_changes(store, changes));
    Ok(())
}

/// Stores each risk history change in order; one the store refuses is tried again every second
/// until it is stored (a newer change of the same tenant replaces it).
async fn store_risk_changes(
    store: Store,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<(String, TenantSnapshot, u64)>,
) {
    let mut unstored: BTreeMap<String, (TenantSnapshot, u64)> = BTreeMap::new();
    loop {
        let change = if unstored.is_empty() {
            changes.recv().await
        } else {
            tokio::select! {
                change = changes.recv() => change,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    for (tenant, (snapshot, taken_ms)) in unstored.clone() {
                        if store_history(&store, &tenant, &snapshot, taken_ms).await.is_ok() {
                            unstored.remove(&tenant);
                        }
                    }
                    continue;
                }
            }
        };
        let Some((tenant, snapshot, taken_ms)) = change else {
            break;
        };
        match store_history(&store, &tenant, &snapshot, taken_ms).await {
            Ok(()) => {
                unstored.remove(&tenant);
            }
            Err(e) => {
                if unstored.is_empty() {
                    tracing::error!(
                        "store: keeping {tenant}'s risk history (tried again every second until \
                         the store takes it): {e}"
                    );
                }
                unstored.insert(tenant, (snapshot, taken_ms));
            }
        }
    }
}

/// Stores one tenant's risk history.
async fn store_history(
    store: &Store,
    tenant: &str,
    snapshot: &TenantSnapshot,
    taken_ms: u64,
) -> Result<(), crate::store::StoreError> {
    let (who, kept) = (tenant.to_owned(), snapshot.clone());
    store
        .tx(move |tx| crate::store::risk::put(tx, &who, &kept, taken_ms))
        .await
}

/// Every minute, deletes the key-value entries that have expired (reads never return them).
fn sweep_expired_keys(store: Store) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let now = crate::store::now_ms();
            if let Err(e) = store.tx(move |tx| crate::store::kv::sweep(tx, now)).await {
                tracing::warn!("store: sweeping expired keys: {e}");
            }
        }
    });
}

/// Test-only worker hooks (`worker::test_hooks`): debug builds only, and only when the
/// environment asks for them. Release builds do not contain the hooks at all.
fn test_hooks_enabled() -> bool {
    cfg!(debug_assertions) && std::env::var("STOCKADE_TEST_HOOKS").is_ok_and(|v| v == "1")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    service_manager::stopping();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change the store refuses (here: its table is gone for a while) is stored once the store
    /// takes it again, with no newer change to carry it (before, it was lost: an operator's pin
    /// made while the store was down did not survive a restart).
    #[tokio::test]
    async fn a_risk_history_the_store_refused_is_stored_once_it_takes_it() {
        let dir = std::env::temp_dir().join(format!("stockade-risk-retry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let settings = crate::store::StoreSettings {
            url: format!("sqlite://{}", dir.join("store.db").display()),
            key_file: dir.join("secret.key"),
            generate_key: true,
            quotas: crate::store::Quotas {
                bytes: 1 << 20,
                files: 100,
            },
        };
        let store = Store::open(&settings).await.expect("store");
        store
            .tx(|tx| tx.exec("ALTER TABLE risk_history RENAME TO risk_history_away", &[]))
            .await
            .expect("take the table away");
        let (sink, changes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(store_risk_changes(store.clone(), changes));
        let pinned = TenantSnapshot {
            counts: Vec::new(),
            latch_ms: None,
            pin: Some(stockade_cordon::persist::Pin::Tier(
                stockade_cordon::RiskTier::Quarantine,
            )),
        };
        sink.send(("acme".into(), pinned.clone(), 1)).expect("send");
        tokio::time::sleep(Duration::from_millis(300)).await;
        store
            .tx(|tx| tx.exec("ALTER TABLE risk_history_away RENAME TO risk_history", &[]))
            .await
            .expect("bring the table back");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stored = store.tx(crate::store::risk::all).await.expect("read");
            if let Some((_, snapshot, _)) = stored.iter().find(|(t, _, _)| t == "acme") {
                assert_eq!(*snapshot, pinned);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never stored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
