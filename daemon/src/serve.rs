//! `stockade serve`: the supervisor daemon. Owns the API, the tenants and the pool of jailed
//! worker processes; never runs tenant code itself.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::api::{router, AppState};
use crate::config::Config;
use crate::egress::Egress;
use crate::storage::Storage;
use crate::store::Store;
use crate::supervisor::{HostCalls, Pool, SpawnConfig};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration; embedded defaults when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address (overrides the config), e.g. 127.0.0.1:8787.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Run workers without the jail (debugging only).
    #[arg(long)]
    pub no_jail: bool,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stockade: cannot start the runtime: {e}");
            return ExitCode::from(4);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stockade: {e}");
            ExitCode::from(4)
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let spawn = SpawnConfig {
        runtime: crate::supervisor::WorkerRuntime::locate()?,
        timezone: config.timezone.clone(),
        jail: config.jail,
        profile: "standard",
        test_hooks: test_hooks_enabled(),
        threads: config.worker_threads,
    };
    if !config.jail {
        eprintln!("stockade: WARNING: workers run WITHOUT the jail (--no-jail)");
    }
    if spawn.test_hooks {
        eprintln!("stockade: WARNING: test hooks are on (debug build, STOCKADE_TEST_HOOKS=1)");
    }
    let store = Store::open(&config.store_settings())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("stockade: store: {}", store.backend_name());
    let egress = Arc::new(Egress::new(&config)?);
    load_secrets(&store, &egress).await?;
    let mut host_calls = HostCalls::standard();
    egress.register(&mut host_calls);
    let tenants = config.tenants.iter().map(|t| t.id.clone()).collect();
    Storage::new(store.clone(), tenants).register(&mut host_calls);
    sweep_expired_keys(store.clone());
    let pool = Pool::start(&config, spawn, host_calls)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "stockade: listening on http://{local} with {} warm worker processes",
        config.workers
    );
    let state = Arc::new(AppState::new(config, pool, Arc::clone(&egress), store));
    egress.set_worker_dispatch(crate::api::outbound_dispatch(Arc::downgrade(&state)));
    let app = router(Arc::clone(&state));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("stockade: drained; stopping workers");
    drop(state);
    Ok(())
}

/// Hands the secrets set through the API (sealed in the store) to the egress gateway; those of
/// tenants no longer configured stay stored, unused.
async fn load_secrets(store: &Store, egress: &Egress) -> Result<(), String> {
    let all = store
        .tx(crate::store::secrets::all)
        .await
        .map_err(|e| e.to_string())?;
    for (tenant, name, sealed) in all {
        let value = store
            .sealer
            .open(&tenant, &name, &sealed)
            .map_err(|e| format!("{e} (is [store] secret_key_file the key it was sealed with?)"))?;
        let value = String::from_utf8(value).map_err(|_| format!("secret {name} is not text"))?;
        match egress.set_secret(&tenant, &name, value) {
            Ok(()) | Err(crate::egress::SecretError::NoTenant) => {}
            Err(e) => eprintln!("stockade: stored secret {name} of {tenant}: {e}"),
        }
    }
    Ok(())
}

/// Every minute, deletes the key-value entries that have expired (reads never return them).
fn sweep_expired_keys(store: Store) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let now = crate::store::now_ms();
            if let Err(e) = store.tx(move |tx| crate::store::kv::sweep(tx, now)).await {
                eprintln!("stockade: store: sweeping expired keys: {e}");
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
}
