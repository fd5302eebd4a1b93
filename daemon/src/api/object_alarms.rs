//! Firing Durable Object alarms (`ctx.storage.setAlarm`): the schedule (`objects::alarms`) says
//! which are due; each is fired here as a call of its object.
//!
//! Guarantees:
//! - a firing is a call of the object like any other: the object's worker is found again (gone
//!   or deleted: the alarm is dropped, counted `gone`), the tenant's quotas admit it (its permit
//!   held for the run), the directory gives its one live incarnation (constructed if it is not
//!   live, within the live caps, its `ctx.id.name` the name its file keeps, `objects/name.rs`),
//!   and the class's `alarm({retryCount, isRetry})` runs behind the object's gates
//!   (`durable.js`), as a `Call::Alarm`: under the worker's CPU and memory limits and the event
//!   wall-clock limit (`[limits] event_wall_ms`, Cloudflare's 15 minutes, which the pool lowers
//!   to the worker's `limits.eventWallMs`), not the worker's `wallMs`, which the object's fetch
//!   and RPC calls keep; its console lines go to the worker's log ring, as does a
//!   line for each failed run;
//! - the object's own file is read first: an alarm deleted or moved since is not run for the
//!   old time;
//! - when `alarm()` resolves, the alarm is cleared only if it is still the time that fired (one
//!   set again from within `alarm()` stays set); when it throws (or cannot run: a quota, the
//!   live cap, the process), it runs again after `alarm_retry_ms`, then twice that..., at most
//!   [`MAX_RETRIES`] times, and is then cleared (logged, counted `gave_up`); a set or delete in
//!   the meantime ends the retries;
//! - one firing per object at a time (`objects::alarms`' `running`).
//!
//! Trusts: the keys in the daemon's alarm index (written only by `objects::alarms`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use stockade_ipc::{Call, LogLevel, LogLine, Reply};

use crate::api::AppState;
use crate::objects::db::{Done, Work};
use crate::objects::directory::ObjectKey;
use crate::objects::Objects;
use crate::supervisor::{Job, Streams};

/// Runs after the first before an alarm is given up (Cloudflare's).
pub const MAX_RETRIES: u32 = 6;

/// The longest the schedule sleeps without looking again.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What one run came to.
enum Attempt {
    Ran,
    /// The worker is gone.
    Gone,
    /// The object's file holds no alarm for this time (deleted or set again since; the schedule
    /// and the index now say what it holds).
    Moved,
    Failed(String),
}

/// Fires due alarms until the daemon stops.
pub(super) async fn run(state: Weak<AppState>, objects: Arc<Objects>) {
    loop {
        if state.strong_count() == 0 {
            return;
        }
        let (due, next) = objects.db.alarms.take_due(now_ms());
        for (key, at) in due {
            tokio::spawn(fire(state.clone(), Arc::clone(&objects), key, at));
        }
        let wait = next.map_or(MAX_WAIT, |n| {
            Duration::from_millis(u64::try_from(n.saturating_sub(now_ms())).unwrap_or(0))
                .min(MAX_WAIT)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = objects.db.alarms.changed.notified() => {}
        }
    }
}

/// Fires `key`'s alarm set for `at`, with its retries.
async fn fire(state: Weak<AppState>, objects: Arc<Objects>, key: ObjectKey, at: i64) {
    let alarms = &objects.db.alarms;
    let counts = &alarms.counts;
    let mut retry = 0u32;
    loop {
        let Some(app) = state.upgrade() else {
            return;
        };
        match attempt(&app, &objects, &key, at, retry).await {
            Attempt::Ran => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Attempt::Gone => {
                counts.gone.fetch_add(1, Ordering::Relaxed);
                alarms.forget(&key);
                return;
            }
            Attempt::Moved => break,
            Attempt::Failed(why) => {
                counts.error.fetch_add(1, Ordering::Relaxed);
                let what = format!("the alarm() of Durable Object {} {}", key.class, key.id);
                if retry >= MAX_RETRIES {
                    counts.gave_up.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(tenant = %key.tenant, worker = %key.worker, "{what} failed {} times; given up: {why}", retry + 1);
                    let text = format!("{what} failed {} times and is given up: {why}", retry + 1);
                    app.logs.record(
                        &key.log_ring(),
                        &[LogLine {
                            level: LogLevel::Error,
                            text,
                        }],
                    );
                    let _ = objects.db.submit(&key, Work::DeleteAlarm(Some(at))).await;
                    break;
                }
                let wait = objects.settings.alarm_retry * 2u32.pow(retry);
                retry += 1;
                let text = format!(
                    "{what} failed: {why} (retry {retry} of {MAX_RETRIES} in {} ms)",
                    wait.as_millis()
                );
                app.logs.record(
                    &key.log_ring(),
                    &[LogLine {
                        level: LogLevel::Warn,
                        text,
                    }],
                );
                drop(app);
                tokio::time::sleep(wait).await;
                if alarms.current(&key) != Some(at) {
                    break; // set again or deleted meanwhile
                }
            }
        }
    }
    alarms.finished(&key);
}

/// One run of `key`'s `alarm()`.
async fn attempt(
    state: &AppState,
    objects: &Arc<Objects>,
    key: &ObjectKey,
    at: i64,
    retry: u32,
) -> Attempt {
    let parent = match super::version_of(state, key).await {
        Ok(version) if !version.def.deleted.load(Ordering::Relaxed) => version,
        Ok(_) | Err(crate::api::error::ApiError::NotFound(_)) => return Attempt::Gone,
        // The store failed to say (a moment's error): tried again, as a failed run is.
        Err(e) => return Attempt::Failed(format!("its worker could not be read: {e}")),
    };
    // The object's file is the truth (the index may hold more: a crash between their writes).
    // (Read with SyncAlarm, not getAlarm's GetAlarm, which hides the time that is firing.)
    match objects.db.submit(key, Work::SyncAlarm).await {
        Ok(Done::Alarm(Some(t))) if t == at => {}
        Ok(Done::Alarm(_)) => return Attempt::Moved,
        Ok(_) => return Attempt::Failed("the object's storage gave no alarm".into()),
        Err(e) => return Attempt::Failed(e.0),
    }
    // A run is a request of the tenant: its permit is held until the run is over.
    let _permit = match state.quotas.admit(&key.tenant) {
        Ok(Some(permit)) => permit,
        Ok(None) => return Attempt::Failed("the tenant is not configured".into()),
        Err(refusal) => {
            return Attempt::Failed(format!("the tenant's quotas: {}", refusal.message))
        }
    };
    let settings = &objects.settings;
    let caps = (settings.max_live_per_tenant, settings.max_live);
    let entered = objects.enter_unnamed(key, &parent, caps).await;
    let def = match entered {
        Ok(def) => def,
        Err(full) => return Attempt::Failed(full.0),
    };
    let in_flight = super::InFlight::held(objects, key, &def);
    let info = json!([{ "retryCount": retry, "isRetry": retry > 0 }]);
    let call = Call::Alarm {
        entrypoint: key.class.clone(),
        args_json: info.to_string().into_bytes(),
        wall_ms: state.config.limits.event_wall_ms,
    };
    let streams = Streams {
        after_logs: Some(state.logs.after_answer(&key.log_ring())),
        keep: Some(in_flight),
        ..Streams::default()
    };
    let answered = match state
        .pool
        .submit(&key.tenant, Job::Call { def, call, streams })
        .await
    {
        Ok(outcome) => {
            state.logs.record(&key.log_ring(), &outcome.logs);
            match outcome.result {
                Ok(Reply::Json(answer)) => threw(&answer),
                Ok(_) => Some("the object gave no RPC answer".to_owned()),
                Err(e) => Some(format!("{:?}: {}", e.kind, e.message)),
            }
        }
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = answered {
        return Attempt::Failed(why);
    }
    // Cleared only if it is still this time: one set again from within alarm() stays.
    match objects.db.submit(key, Work::DeleteAlarm(Some(at))).await {
        Ok(_) => Attempt::Ran,
        Err(e) => Attempt::Failed(format!("clearing the alarm: {}", e.0)),
    }
}

/// What `alarm()` threw, from its RPC answer (`{"ok"}` or `{"error": {name, message}}`).
fn threw(answer: &[u8]) -> Option<String> {
    let answer: Value = match serde_json::from_slice(answer) {
        Ok(v) => v,
        Err(e) => return Some(format!("the answer is not JSON: {e}")),
    };
    if answer.get("ok").is_some() {
        return None;
    }
    let error = answer.get("error").unwrap_or(&Value::Null);
    let part = |f: &str| {
        error
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some(format!("{}: {}", part("name"), part("message")))
}
