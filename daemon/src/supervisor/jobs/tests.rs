//! Unit tests of jobs against a hand-driven worker: loads shared, retried, refused; jobs handed back.

use tokio::sync::Semaphore;

use super::*;
use crate::supervisor::fake_worker::{pair, FakeWorker};
use crate::supervisor::host_calls::HostCalls;
use crate::supervisor::link::{Lease, Link};
use stockade_cordon::TenantId;
use stockade_ipc::ErrorKind;

const T: TenantId = TenantId(2);

fn runner() -> (Arc<Runner>, FakeWorker) {
    let (reader, writer, worker) = pair();
    let (link, _end) = Link::start(reader, writer, Arc::new(HostCalls::default()));
    let conduct = Conduct {
        profile: stockade_ipc::Profile::Standard,
        caps: None,
    };
    let runner = Runner::new(Arc::new(ProcessInfo::new(0)), link, conduct);
    (Arc::new(runner), worker)
}

fn lease() -> Lease {
    Arc::new(
        Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("permit"),
    )
}

fn def() -> Arc<WorkerDef> {
    def_with(None)
}

/// [`def`] with its own `limits.eventWallMs`.
fn def_with(event_wall_ms: Option<u32>) -> Arc<WorkerDef> {
    Arc::new(WorkerDef {
        id: WorkerId([9; 32]),
        tenant: "t".into(),
        name: None,
        main_module: "main.js".into(),
        modules: vec![],
        env: vec![],
        bindings: Default::default(),
        limits: stockade_ipc::Limits::default(),
        event_wall_ms,
        compatibility_date: None,
        compatibility_flags: vec![],
        features: Default::default(),
        outbound: Default::default(),
        crons: Vec::new(),
        queues: Vec::new(),
        deleted: Default::default(),
    })
}

fn call(def: &Arc<WorkerDef>, n: u8) -> Job {
    Job::Call {
        def: Arc::clone(def),
        call: Call::Default {
            arg_json: vec![b'0' + n],
        },
        streams: Streams::default(),
    }
}

fn spawn_job(runner: &Arc<Runner>, job: Job) -> tokio::task::JoinHandle<Result<Outcome, Failure>> {
    let runner = Arc::clone(runner);
    tokio::spawn(async move { serve_job(&runner, job, T, &lease()).await })
}

fn json(result: Result<Outcome, Failure>) -> String {
    match result {
        Ok(Outcome {
            result: Ok(stockade_ipc::Reply::Json(json)),
            ..
        }) => String::from_utf8(json).expect("utf8"),
        Ok(other) => panic!("expected JSON, got {other:?}"),
        Err(_) => panic!("the job failed"),
    }
}

/// Answers every `Invoke` with its argument; counts `LoadWorker`s (answered `Loaded`).
async fn serve(worker: &mut FakeWorker, messages: usize, unknown_first: bool) -> usize {
    let mut loads = 0;
    let mut refused = !unknown_first;
    for _ in 0..messages {
        match worker.expect().await {
            ToWorker::LoadWorker(load) => {
                loads += 1;
                let loaded = crate::supervisor::fake_worker::outcome(
                    load.request_id,
                    Ok(stockade_ipc::Reply::Loaded),
                );
                worker.send(&loaded).await;
            }
            ToWorker::Invoke {
                request_id,
                call: Call::Default { arg_json },
                ..
            } => {
                if refused {
                    let arg = String::from_utf8(arg_json).expect("utf8");
                    worker.answer(request_id, &arg).await;
                } else {
                    refused = true;
                    worker.fail(request_id, ErrorKind::UnknownWorker).await;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    loads
}

#[tokio::test]
async fn requests_arriving_together_load_their_worker_once() {
    let (runner, mut worker) = runner();
    let def = def();
    let jobs: Vec<_> = (1..=3).map(|n| spawn_job(&runner, call(&def, n))).collect();
    // One load, then three invokes.
    assert_eq!(serve(&mut worker, 4, false).await, 1);
    for (n, job) in (1..=3).zip(jobs) {
        assert_eq!(json(job.await.expect("task")), n.to_string());
    }
    assert!(runner.info.has_loaded(&def.id));
    // Loaded: the next call sends only its invoke.
    let job = spawn_job(&runner, call(&def, 4));
    assert_eq!(serve(&mut worker, 1, false).await, 0);
    assert_eq!(json(job.await.expect("task")), "4");
}

#[tokio::test]
async fn an_unknown_worker_is_loaded_again_and_the_call_retried_once() {
    let (runner, mut worker) = runner();
    let def = def();
    let job = spawn_job(&runner, call(&def, 1));
    // Load, invoke (UnknownWorker), load again, invoke.
    assert_eq!(serve(&mut worker, 4, true).await, 2);
    assert_eq!(json(job.await.expect("task")), "1");
}

#[tokio::test]
async fn a_refused_load_answers_every_request_waiting_for_it() {
    let (runner, mut worker) = runner();
    let def = def();
    let jobs: Vec<_> = (1..=2).map(|n| spawn_job(&runner, call(&def, n))).collect();
    let ToWorker::LoadWorker(load) = worker.expect().await else {
        panic!("expected the load");
    };
    worker.fail(load.request_id, ErrorKind::CompileError).await;
    for job in jobs {
        match job.await.expect("task") {
            Ok(Outcome { result: Err(e), .. }) => assert_eq!(e.kind, ErrorKind::CompileError),
            _ => panic!("expected the load's error"),
        }
    }
    assert!(!runner.info.has_loaded(&def.id));
    assert!(worker.silent_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn a_job_on_a_closed_link_is_handed_back_whole() {
    let (runner, worker) = runner();
    drop(worker);
    runner.link.close("test");
    let job = Job::Run {
        code: "export default () => 1".into(),
        arg_json: b"7".to_vec(),
        limits: stockade_ipc::Limits::default(),
    };
    match serve_job(&runner, job, T, &lease()).await {
        Err(Failure::NotSent(Job::Run { arg_json, .. })) => assert_eq!(arg_json, b"7"),
        _ => panic!("expected NotSent with the job"),
    }
    // A call's queueing signal stays with it, untold, to be told wherever it is placed next.
    let (queued, mut told) = crate::supervisor::Queued::new();
    let Job::Call { def, call, .. } = call(&def(), 1) else {
        unreachable!("a call")
    };
    let streams = Streams {
        queued: Some(queued),
        ..Streams::default()
    };
    match serve_job(&runner, Job::Call { def, call, streams }, T, &lease()).await {
        Err(Failure::NotSent(Job::Call { streams, .. })) => {
            assert!(
                streams.queued.is_some(),
                "the signal goes back with the job"
            );
            assert!(matches!(
                told.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ));
        }
        _ => panic!("expected NotSent with the job"),
    }
}

#[tokio::test]
async fn a_calls_queueing_is_told_once_its_invoke_is_queued_before_its_answer() {
    let (runner, mut worker) = runner();
    let def = def();
    let (queued, told) = crate::supervisor::Queued::new();
    let Job::Call { call, .. } = call(&def, 5) else {
        unreachable!("a call")
    };
    let streams = Streams {
        queued: Some(queued),
        ..Streams::default()
    };
    let job = spawn_job(&runner, Job::Call { def, call, streams });
    // The load, then the invoke: told by then, with the answer still to come.
    match worker.expect().await {
        ToWorker::LoadWorker(load) => {
            let loaded = crate::supervisor::fake_worker::outcome(
                load.request_id,
                Ok(stockade_ipc::Reply::Loaded),
            );
            worker.send(&loaded).await;
        }
        other => panic!("unexpected {other:?}"),
    }
    let ToWorker::Invoke { request_id, .. } = worker.expect().await else {
        panic!("an invoke")
    };
    tokio::time::timeout(Duration::from_secs(5), told)
        .await
        .expect("told in time")
        .expect("told, not dropped");
    assert!(!job.is_finished());
    worker.answer(request_id, "5").await;
    assert_eq!(json(job.await.expect("task")), "5");
}

#[test]
fn forgetting_an_old_load_keeps_a_newer_one() {
    let info = ProcessInfo::new(0);
    let def = def();
    let worker = def.id;
    let old = info.mark_loaded(&def, T, 1 << 20);
    let new = info.mark_loaded(&def, T, 2 << 20);
    info.forget(&worker, old);
    assert!(info.has_loaded(&worker));
    assert_eq!(info.loaded_defs().len(), 1);
    // What its isolate reports holding is the tenant's holding in the process.
    assert_eq!(info.holdings().get(&T), Some(&(2 << 20)));
    info.note_memory(&worker, 300 << 20);
    assert_eq!(info.holdings().get(&T), Some(&(300 << 20)));
    info.forget(&worker, new);
    assert!(!info.has_loaded(&worker));
    assert!(
        info.holdings().is_empty(),
        "a forgotten isolate holds nothing"
    );
    // A definition nobody holds any more (deleted) is not reloaded.
    info.mark_loaded(&def, T, 0);
    drop(def);
    assert!(info.loaded_defs().is_empty());
}

/// The `wall_ms` that `call` of a worker whose `limits.eventWallMs` is `event_wall_ms` reaches
/// the worker with.
async fn sent_wall(event_wall_ms: Option<u32>, call: Call) -> u32 {
    let (runner, mut worker) = runner();
    let def = def_with(event_wall_ms);
    let job = spawn_job(
        &runner,
        Job::Call {
            def: Arc::clone(&def),
            call,
            streams: Streams::default(),
        },
    );
    let ToWorker::LoadWorker(load) = worker.expect().await else {
        panic!("expected the load");
    };
    let loaded =
        crate::supervisor::fake_worker::outcome(load.request_id, Ok(stockade_ipc::Reply::Loaded));
    worker.send(&loaded).await;
    let ToWorker::Invoke {
        request_id, call, ..
    } = worker.expect().await
    else {
        panic!("expected the invoke");
    };
    worker.answer(request_id, "{\"ok\":null}").await;
    json(job.await.expect("task"));
    call.own_wall_ms().unwrap_or(0)
}

#[tokio::test]
async fn an_event_call_runs_under_the_workers_event_wall_when_it_set_one() {
    let alarm = |wall_ms| Call::Alarm {
        entrypoint: "C".into(),
        args_json: b"[]".to_vec(),
        wall_ms,
    };
    let scheduled = |wall_ms| Call::Scheduled {
        cron: "* * * * *".into(),
        scheduled_time_ms: 0,
        wall_ms,
    };
    // The daemon's 900 s: lowered to the worker's 2 s; kept when it set none, or a larger one.
    assert_eq!(sent_wall(Some(2000), alarm(900_000)).await, 2000);
    assert_eq!(sent_wall(Some(2000), scheduled(900_000)).await, 2000);
    assert_eq!(sent_wall(None, alarm(900_000)).await, 900_000);
    assert_eq!(sent_wall(Some(5000), scheduled(3000)).await, 3000);
}
