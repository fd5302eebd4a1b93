//! Why `stockade serve` could not start: one variant per step of the start, in the order
//! `serve::main` takes them, each naming what it was doing and carrying what failed. The daemon
//! logs it and exits with status 4 (a configuration that does not load or check exits 2 before
//! any of these steps).

use std::path::PathBuf;

use crate::config::ListenAddr;
use crate::store::StoreError;
use crate::supervisor::{CgroupRequired, LocateError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The service manager's `LISTEN_FDS` could not be read.
    #[error("the sockets the service manager passed (LISTEN_FDS): {0}")]
    Passed(std::io::Error),
    /// A passed descriptor is not a listening TCP socket.
    #[error(
        "the socket the service manager passed as descriptor {fd} ({name}) is not a listening TCP \
         or Unix stream socket"
    )]
    PassedSocket { fd: i32, name: String },
    /// A passed socket the runtime could not take (`set_nonblocking`, registering it).
    #[error("cannot serve on a socket the service manager passed: {0}")]
    PassedUnusable(std::io::Error),
    /// Two passed sockets for the same use (the API, or `metrics`).
    #[error("the service manager passed more than one socket for {name:?}; one serves the API, one named \"metrics\" the metrics")]
    PassedTwice { name: String },
    /// The supervisor's lookout thread (`supervisor::link::lookout`).
    #[error("cannot start the supervisor's lookout: {0}")]
    Lookout(std::io::Error),
    /// The tokio runtime.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The worker processes' V8 runtime root, beside the binary or under `STOCKADE_V8_ROOT`.
    #[error("{0}")]
    WorkerRuntime(LocateError),
    /// The worker processes' memory cap (`limits.worker_process_memory_mb`).
    #[error("worker process memory cap: {0}")]
    MemoryCap(CgroupRequired),
    /// `data_dir`'s lock: another daemon serves the folder (`serve/data_dir_lock.rs`).
    #[error("{0}")]
    DataDir(super::data_dir_lock::DataDirError),
    /// The daemon's id, `data_dir/daemon.id` (`serve/daemon_id.rs`).
    #[error("{0}")]
    DaemonId(super::daemon_id::DaemonIdError),
    /// The store (SQLite or PostgreSQL), opened and migrated.
    #[error("{0}")]
    Store(StoreError),
    /// The egress gateway, from `[egress]` and the tenants' rules.
    #[error("egress: {0}")]
    Egress(crate::egress::EgressError),
    /// The secrets set through the API, read from the store and unsealed.
    #[error("the stored secrets: {0}")]
    Secrets(SecretsError),
    /// The pool of warm worker processes.
    #[error("the worker pool: cordon: {0}")]
    Pool(stockade_cordon::CordonError),
    /// The tenants' stored risk histories.
    #[error("reading risk histories: {0}")]
    RiskHistory(StoreError),
    /// The API's listening socket (`listen`, or `--listen`).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: ListenAddr,
        source: std::io::Error,
    },
    /// The metrics listener (`metrics_listen`).
    #[error("cannot listen on {addr} (metrics_listen): {source}")]
    MetricsListen {
        addr: ListenAddr,
        source: std::io::Error,
    },
    /// `--address-file`.
    #[error("cannot write the address file {}: {source}", path.display())]
    AddressFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why the secrets stored through the API could not be handed to the egress gateway.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{0}")]
    Read(StoreError),
    #[error("{0} (is [store] secret_key_file the key it was sealed with?)")]
    Unseal(StoreError),
    #[error("secret {0} is not text")]
    NotText(String),
}
