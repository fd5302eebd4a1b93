//! Runs one test file in a fresh Stockade isolate through the engine's public task API, and the
//! whole collection on a few threads.
//!
//! Guarantees: every file gets a new [`Worker`] (nothing leaks from one file to the next); its
//! load and its run are tasks under [`limits`] (the engine enforces CPU, memory and a wall limit
//! per task, [`WALL`] unless the caller asks for another) and this loop gives up on a file that
//! limit + 5 s after it started whatever the engine does; a file whose harness did not report `OK` is marked so, with the
//! reason (harness status, limit, exception), and then counts all its subtests as failed.
//! Trusts: the engine's limits; the JSON the runner's own main module answers (built from
//! module-private state, see `js/main.js`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use stockade_isolate::{Answer, Engine, Limits, MpkMode, RunError, TaskEvent, TaskId, Worker};

use crate::bundle::{self, Scripts};
use crate::collect::TestFile;
use crate::serve;

/// The default wall limit of one file's run (the engine's, per task) and, plus 5 s, of this loop's.
pub const WALL: Duration = Duration::from_secs(240);

/// Generous limits: WPT files are big (url-constructor has ~900 subtests and a 222 KB data file).
/// CPU time may use all of the wall time.
pub fn limits(wall: Duration) -> Limits {
    Limits {
        cpu: wall,
        wall,
        memory_bytes: 512 << 20,
        output_bytes: 16 << 20,
        sub_requests: 1000,
        ..Limits::default()
    }
}

/// How a subtest ended (testharness.js's statuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtest {
    pub name: String,
    pub status: u8,
    pub message: Option<String>,
}

impl Subtest {
    pub fn passed(&self) -> bool {
        self.status == 0
    }
    pub fn status_name(&self) -> &'static str {
        match self.status {
            0 => "PASS",
            1 => "FAIL",
            2 => "TIMEOUT",
            3 => "NOTRUN",
            4 => "PRECONDITION_FAILED",
            _ => "UNKNOWN",
        }
    }
}

/// One file's outcome.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub test: TestFile,
    /// `None` when the harness completed with `OK`; otherwise why the file as a whole failed
    /// (`ERROR: ...`, `TIMEOUT`, `limit: cpu`, `load: ...`).
    pub harness_error: Option<String>,
    /// The subtests reported, in order.
    pub subtests: Vec<Subtest>,
    pub elapsed: Duration,
    /// Console output of the test, for `STOCKADE_WPT_VERBOSE`.
    pub logs: Vec<String>,
}

impl FileResult {
    /// Whether `subtest` counts as passed: it passed and the file's harness completed `OK`.
    pub fn counts_as_passed(&self, subtest: &Subtest) -> bool {
        self.harness_error.is_none() && subtest.passed()
    }
}

/// Runs `tests` on `jobs` threads, each file under the wall limit `wall`; results in the order
/// of `tests`.
pub fn run_all(
    scripts: &Scripts,
    tests: &[TestFile],
    jobs: usize,
    wall: Duration,
) -> Vec<FileResult> {
    let engine = match Engine::init(stockade_isolate::V8Profile::Standard) {
        Ok(engine) => engine,
        Err(e) => {
            return tests
                .iter()
                .map(|t| failed(t, format!("V8 did not initialise: {e}"), Instant::now()))
                .collect()
        }
    };
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<FileResult>>> = Mutex::new(vec![None; tests.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let builder = std::thread::Builder::new()
                .name("wpt".into())
                .stack_size(16 << 20);
            let spawned = builder.spawn_scoped(scope, || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(test) = tests.get(i) else { break };
                let result = run_file(engine, scripts, test, wall);
                let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(result);
                }
            });
            if let Err(e) = spawned {
                eprintln!("stockade-wpt: cannot start a thread: {e}");
            }
        }
    });
    let mut slots = slots.into_inner().unwrap_or_else(PoisonError::into_inner);
    tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            slots
                .get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(|| failed(t, "runner: never ran".into(), Instant::now()))
        })
        .collect()
}

fn failed(test: &TestFile, why: String, started: Instant) -> FileResult {
    FileResult {
        test: test.clone(),
        harness_error: Some(why),
        subtests: Vec::new(),
        elapsed: started.elapsed(),
        logs: Vec::new(),
    }
}

/// Runs one test file in a fresh isolate under the wall limit `wall`.
pub fn run_file(
    engine: &'static Engine,
    scripts: &Scripts,
    test: &TestFile,
    wall: Duration,
) -> FileResult {
    let started = Instant::now();
    let deadline = started + wall + Duration::from_secs(5);
    let mut set = match bundle::module_set(scripts, test) {
        Ok(set) => set,
        Err(e) => return failed(test, format!("runner: {e}"), started),
    };
    // Without a protection key: this runs isolates on several threads of one process, which
    // keyed isolates do not support (see the worker's thread model); conformance, not isolation,
    // is what is measured here.
    let mut worker = match Worker::with_mpk(engine, limits(wall), MpkMode::Off) {
        Ok(w) => w,
        Err(e) => return failed(test, format!("isolate: {e}"), started),
    };
    let mut logs = Vec::new();
    let load = worker.start_load(bundle::MAIN, &mut set);
    match drive(&mut worker, scripts, load, deadline, &mut logs) {
        Ok(_) => {}
        Err(e) => {
            let mut r = failed(test, format!("load: {}", describe(&e)), started);
            r.logs = logs;
            return r;
        }
    }
    let run = worker.start_call("\"run\"");
    let (answer, cut_short) = match drive(&mut worker, scripts, run, deadline, &mut logs) {
        Ok(json) => (Some(json), None),
        Err(e) => {
            // Ask what was reported before the run was cut short, if the isolate still runs.
            let partial = if worker.poisoned().is_none() && Instant::now() < deadline {
                let results = worker.start_call("\"results\"");
                let until = Instant::now() + Duration::from_secs(5);
                drive(&mut worker, scripts, results, until, &mut logs).ok()
            } else {
                None
            };
            (partial, Some(describe(&e)))
        }
    };
    let (mut harness_error, subtests) = match answer.as_deref().map(parse_answer) {
        Some(Ok(parsed)) => parsed,
        Some(Err(e)) => (Some(format!("runner: {e}")), Vec::new()),
        None => (None, Vec::new()),
    };
    if let Some(why) = cut_short {
        harness_error = Some(match harness_error {
            Some(h) => format!("{why} ({h})"),
            None => why,
        });
    }
    FileResult {
        test: test.clone(),
        harness_error,
        subtests,
        elapsed: started.elapsed(),
        logs,
    }
}

fn describe(e: &RunError) -> String {
    match e {
        RunError::Limit(kind) => format!("limit: {kind:?}"),
        RunError::NeverSettled => {
            "TIMEOUT (the harness waits for something that never comes)".into()
        }
        RunError::Threw { message, .. } => format!("uncaught exception: {message}"),
        other => other.to_string(),
    }
}

/// `{harness: {status, message} | null, results: [{name, status, message}]}` from `js/main.js`.
fn parse_answer(json: &str) -> Result<(Option<String>, Vec<Subtest>), String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let harness = match &v["harness"] {
        serde_json::Value::Null => Some("TIMEOUT (the harness did not complete)".to_string()),
        h => match h["status"].as_u64() {
            Some(0) => None,
            status => {
                let name = match status {
                    Some(1) => "ERROR",
                    Some(2) => "TIMEOUT",
                    Some(3) => "PRECONDITION_FAILED",
                    _ => "UNKNOWN",
                };
                let message = h["message"].as_str().unwrap_or("");
                Some(if message.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}: {message}")
                })
            }
        },
    };
    let subtests = v["results"]
        .as_array()
        .ok_or("no results array")?
        .iter()
        .map(|r| Subtest {
            name: r["name"].as_str().unwrap_or("").to_string(),
            status: r["status"]
                .as_u64()
                .and_then(|s| u8::try_from(s).ok())
                .unwrap_or(u8::MAX),
            message: r["message"].as_str().map(str::to_string),
        })
        .collect();
    Ok((harness, subtests))
}

/// Runs the worker's loop until `task` is answered: its JSON, or why it failed. Host calls are
/// answered from the WPT folder at once.
fn drive(
    worker: &mut Worker,
    scripts: &Scripts,
    task: TaskId,
    deadline: Instant,
    logs: &mut Vec<String>,
) -> Result<String, RunError> {
    loop {
        let calls = worker.take_host_calls();
        let answered_calls = !calls.is_empty();
        for call in calls {
            let reply = serve::host_call(scripts.root(), &call.name, &call.payload);
            worker.host_reply(call.call, reply);
        }
        for event in worker.drain_events() {
            if let TaskEvent::Answered(a) = event {
                logs.extend(
                    a.logs
                        .into_iter()
                        .map(|l| format!("{:?}: {}", l.level, l.text)),
                );
                if a.task == task {
                    return match a.result {
                        Ok(Answer::Json(json)) => Ok(json),
                        Ok(_) => Ok(String::new()),
                        Err(e) => Err(e),
                    };
                }
            }
        }
        if answered_calls {
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(RunError::Limit(stockade_isolate::LimitKind::Wall));
        }
        let Some(wake) = worker.next_wake() else {
            return Err(RunError::Internal("the task vanished unanswered".into()));
        };
        std::thread::sleep(wake.min(deadline).saturating_duration_since(now));
        worker.advance(Instant::now());
    }
}
