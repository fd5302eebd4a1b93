//! Telling the service manager (systemd's `Type=notify`, or anything speaking `sd_notify(3)`) how
//! the daemon is: `READY=1` once it listens (after `--address-file` is written), `RELOADING=1`
//! with the monotonic clock while a `SIGHUP` reload runs and `READY=1` after it (so a
//! `Type=notify-reload` unit works too), `STOPPING=1` when it begins to drain.
//!
//! Guarantees: nothing is sent without `NOTIFY_SOCKET` in the environment; a notification that
//! cannot be sent is logged and changes nothing else (the daemon serves on). The variable stays
//! set (each notification needs it); worker processes never see it, as they start with an empty
//! environment (`supervisor/spawn.rs`).
//!
//! Trusts: the service manager that set `NOTIFY_SOCKET`.

use sd_notify::NotifyState;

fn send(what: &str, states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("cannot tell the service manager the daemon is {what}: {e}");
    }
}

/// The daemon listens at `api` (`http://ip:port` or `unix:/path`) and serves.
pub fn ready(api: &str) {
    let status = format!("listening on {api}");
    send("ready", &[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// A reload begins.
pub fn reloading() {
    let now = NotifyState::monotonic_usec_now();
    match now {
        Ok(now) => send("reloading", &[NotifyState::Reloading, now]),
        Err(e) => tracing::warn!("cannot read the monotonic clock for the service manager: {e}"),
    }
}

/// A reload ended (applied or refused): the daemon serves on.
pub fn reloaded() {
    send("ready again", &[NotifyState::Ready]);
}

/// The daemon stops accepting and drains.
pub fn stopping() {
    send("stopping", &[NotifyState::Stopping]);
}
