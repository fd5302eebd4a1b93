//! Unit tests of a life's verdicts: blame, answers of failed jobs, exit statuses.

use super::*;
use crate::supervisor::jobs::JobError;
use crate::supervisor::link::InFlight;
use stockade_ipc::RequestId;

fn death(killed_externally: bool, limit: Option<ErrorKind>) -> Death {
    Death {
        how: "killed by signal 11".into(),
        by_seccomp: false,
        limit,
        killed_externally,
        process_memory: None,
    }
}

#[test]
fn one_tenant_in_flight_is_the_culprit_several_are_suspects_only() {
    let crash = death(false, None);
    let (a, b) = (TenantId(3), TenantId(1));
    assert_eq!(crash.blame(&BTreeSet::new()), Blame::Nobody);
    assert_eq!(crash.blame(&[a].into()), Blame::Tenant(a));
    assert_eq!(crash.blame(&[a, b].into()), Blame::Unknown(vec![b, a]));
    // Neither a kill from outside nor a limit exit is evidence against anyone.
    for innocent in [death(true, None), death(false, Some(ErrorKind::CpuLimit))] {
        assert_eq!(innocent.blame(&[a].into()), Blame::Nobody);
        assert_eq!(innocent.blame(&[a, b].into()), Blame::Nobody);
    }
}

fn in_flight(n: u64) -> Vec<InFlight> {
    (1..=n)
        .map(|i| InFlight {
            id: RequestId(i),
            tenant: TenantId(i),
            runs_code: true,
            called: false,
        })
        .collect()
}

fn died() -> Failure {
    Failure::Error(JobError::WorkerDied("socket closed".into()))
}

#[test]
fn a_limit_exit_answers_the_one_request_in_flight_with_its_limit() {
    let limit = death(false, Some(ErrorKind::MemoryLimit));
    let Answer::Done(Ok(outcome)) =
        Verdict::of(&limit, &in_flight(1), None).answer(died(), false, &|_| Ran::Outside)
    else {
        panic!("expected the limit's outcome");
    };
    assert_eq!(outcome.request_id, RequestId(1));
    assert!(matches!(&outcome.result, Err(e) if e.kind == ErrorKind::MemoryLimit));

    let Answer::Done(Err(JobError::WorkerDied(why))) =
        Verdict::of(&limit, &in_flight(3), None).answer(died(), false, &|_| Ran::Outside)
    else {
        panic!("expected WorkerDied");
    };
    assert!(
        why.contains("memory limit of one of the 3 requests"),
        "{why}"
    );
}

#[test]
fn a_crash_answers_worker_died_with_how_and_keeps_timeouts_and_unsent_jobs() {
    let crash = death(false, None);
    let verdict = Verdict::of(&crash, &in_flight(2), None);
    let Answer::Done(Err(JobError::WorkerDied(why))) =
        verdict.answer(died(), false, &|_| Ran::Outside)
    else {
        panic!("expected WorkerDied");
    };
    assert_eq!(why, "killed by signal 11");
    assert!(matches!(
        verdict.answer(Failure::Error(JobError::Timeout), false, &|_| Ran::Outside),
        Answer::Done(Err(JobError::Timeout))
    ));
    let unsent = Failure::NotSent(Job::Dispose {
        worker_id: stockade_ipc::WorkerId([1; 32]),
    });
    assert!(matches!(
        verdict.answer(unsent, true, &|_| Ran::Outside),
        Answer::NotStarted(_)
    ));
}

fn unstarted() -> Failure {
    Failure::Unstarted(Job::Dispose {
        worker_id: stockade_ipc::WorkerId([2; 32]),
    })
}

#[test]
fn a_call_that_never_ran_is_placed_again_unless_its_tenant_is_suspected() {
    for death in [death(false, None), death(true, None)] {
        let verdict = Verdict::of(&death, &in_flight(2), None);
        assert!(matches!(
            verdict.answer(unstarted(), false, &|_| Ran::Outside),
            Answer::NotStarted(_)
        ));
        assert!(matches!(
            verdict.answer(unstarted(), true, &|_| Ran::Outside),
            Answer::Done(Err(JobError::WorkerDied(_)))
        ));
    }
    // The process ended itself for the limit of the one request it had (the load this call
    // waited for): that limit is the call's answer, not a retry.
    let limit = death(false, Some(ErrorKind::CpuLimit));
    let answer =
        Verdict::of(&limit, &in_flight(1), None).answer(unstarted(), false, &|_| Ran::Outside);
    assert!(matches!(answer, Answer::Done(Ok(_))));
}

#[test]
fn signals_from_outside_are_evidence_against_nobody_and_crashes_are() {
    use std::os::unix::process::ExitStatusExt;
    let of = |raw: i32| Death::from_status(Ok(std::process::ExitStatus::from_raw(raw)));
    let a = TenantId(1);
    for signal in EXTERNAL_SIGNALS {
        let death = of(signal);
        assert!(death.killed_externally, "{}", death.how);
        assert_eq!(death.blame(&[a].into()), Blame::Nobody);
    }
    // The reaper's fallback: exit status 128 + the signal.
    assert!(of((128 + libc::SIGKILL) << 8).killed_externally);
    for signal in [libc::SIGSEGV, libc::SIGABRT, libc::SIGBUS, libc::SIGSYS] {
        let death = of(signal);
        assert!(!death.killed_externally, "{}", death.how);
        assert_eq!(death.blame(&[a].into()), Blame::Tenant(a));
    }
    assert!(of(libc::SIGSYS).by_seccomp);
    assert_eq!(of(70 << 8).blame(&[a].into()), Blame::Tenant(a));
}

#[test]
fn a_memory_cap_kill_blames_nobody_and_answers_process_memory_limit() {
    let (a, b) = (TenantId(1), TenantId(2));
    let mut capped = death(false, None);
    capped.how = "killed for exceeding the worker process memory cap of 256 MiB (cgroup v1)".into();
    capped.process_memory = Some(vec![a]);
    // Not a crash: no culprit, no suspects, even with the grower alone in flight.
    assert_eq!(capped.blame(&[a].into()), Blame::Nobody);
    assert_eq!(capped.blame(&[a, b].into()), Blame::Nobody);
    let verdict = Verdict::of(&capped, &in_flight(1), None);
    let Answer::Done(Err(error @ JobError::ProcessMemory(_))) =
        verdict.answer(died(), true, &|_| Ran::Outside)
    else {
        panic!("expected ProcessMemory");
    };
    assert_eq!(
        error.to_string(),
        "the worker process running this request was killed for exceeding the worker process \
         memory cap of 256 MiB (cgroup v1); it has been replaced"
    );
    // A call still waiting for its load is placed again, unless its tenant is charged.
    assert!(matches!(
        verdict.answer(unstarted(), false, &|_| Ran::Outside),
        Answer::NotStarted(_)
    ));
    assert!(matches!(
        verdict.answer(unstarted(), true, &|_| Ran::Outside),
        Answer::Done(Err(JobError::ProcessMemory(_)))
    ));
    assert!(matches!(
        verdict.answer(Failure::Error(JobError::Timeout), true, &|_| Ran::Outside),
        Answer::Done(Err(JobError::Timeout))
    ));
}

fn sent(request: u64) -> Failure {
    Failure::Sent {
        job: Job::Dispose {
            worker_id: stockade_ipc::WorkerId([0; 32]),
        },
        request: RequestId(request),
        why: "the worker's socket closed".into(),
    }
}

#[test]
fn a_sent_request_the_worker_never_started_runs_elsewhere_one_it_started_fails() {
    let crash = death(false, None);
    let verdict = Verdict::of(&crash, &in_flight(2), None);
    let started_only_1 = |id: RequestId| {
        if id == RequestId(1) {
            Ran::Outside
        } else {
            Ran::NotStarted
        }
    };
    assert!(matches!(
        verdict.answer(sent(1), true, &started_only_1),
        Answer::Done(Err(JobError::WorkerDied(_)))
    ));
    // Not started: placed again, even when its tenant is a suspect (its code never ran here).
    for suspect in [false, true] {
        assert!(matches!(
            verdict.answer(sent(2), suspect, &started_only_1),
            Answer::NotStarted(Job::Dispose { .. })
        ));
    }
    // The process ended itself for this request's limit: that limit is its answer, whatever
    // the marks say.
    let limit = death(false, Some(ErrorKind::CpuLimit));
    let one = Verdict::of(&limit, &in_flight(1), None);
    let Answer::Done(Ok(outcome)) = one.answer(sent(1), false, &|_| Ran::NotStarted) else {
        panic!("expected the limit's outcome");
    };
    assert!(matches!(&outcome.result, Err(e) if e.kind == ErrorKind::CpuLimit));
    // Another request's limit: an unstarted one runs elsewhere.
    assert!(matches!(
        one.answer(sent(2), false, &|_| Ran::NotStarted),
        Answer::NotStarted(_)
    ));
}

#[test]
fn a_limit_exit_among_several_answers_the_culprit_the_worker_named_with_its_limit() {
    let limit = death(false, Some(ErrorKind::CpuLimit));
    let three = in_flight(3);
    let started_all = |_: RequestId| Ran::Outside;
    let verdict = Verdict::of(&limit, &three, Some(RequestId(2)));
    let Answer::Done(Ok(outcome)) = verdict.answer(sent(2), false, &started_all) else {
        panic!("expected the culprit's limit");
    };
    assert_eq!(outcome.request_id, RequestId(2));
    assert!(matches!(&outcome.result, Err(e) if e.kind == ErrorKind::CpuLimit));
    // The others it ran are lost with the process, and told whose limit it was not.
    let Answer::Done(Err(JobError::WorkerDied(why))) = verdict.answer(sent(1), false, &started_all)
    else {
        panic!("expected WorkerDied");
    };
    assert!(why.contains("cpu") || why.contains("CPU"), "{why}");
    assert!(why.contains("another of the 3 requests"), "{why}");
    // One it never started still runs elsewhere.
    assert!(matches!(
        verdict.answer(sent(3), false, &|_| Ran::NotStarted),
        Answer::NotStarted(_)
    ));
    // A culprit that is not in flight (a confused or lying worker) names nobody.
    let stray = Verdict::of(&limit, &three, Some(RequestId(9)));
    assert!(matches!(
        stray.answer(sent(2), false, &started_all),
        Answer::Done(Err(JobError::WorkerDied(why))) if why.contains("one of the 3 requests")
    ));
}

#[test]
fn a_request_that_acted_only_in_its_isolate_runs_again_unless_it_may_be_the_culprit() {
    let inside = |_: RequestId| Ran::Inside;
    let replayed = |answer: Answer| matches!(answer, Answer::NotStarted(Job::Dispose { .. }));
    // A neighbour's named limit: the bystander runs elsewhere; the culprit gets its limit.
    let limit = death(false, Some(ErrorKind::CpuLimit));
    let named = Verdict::of(&limit, &in_flight(3), Some(RequestId(2)));
    assert!(replayed(named.answer(sent(1), false, &inside)));
    assert!(matches!(
        named.answer(sent(2), false, &inside),
        Answer::Done(Ok(outcome)) if outcome.request_id == RequestId(2)
    ));
    // A limit of an unnamed one of several: any of them may be it, so none runs again.
    let unnamed = Verdict::of(&limit, &in_flight(3), None);
    assert!(matches!(
        unnamed.answer(sent(1), false, &inside),
        Answer::Done(Err(JobError::WorkerDied(_)))
    ));
    // A crash: its suspects do not run again (they could crash the next process); a kill from
    // outside blames nobody, so everyone runs again.
    let crash = Verdict::of(&death(false, None), &in_flight(2), None);
    assert!(matches!(
        crash.answer(sent(1), true, &inside),
        Answer::Done(Err(JobError::WorkerDied(_)))
    ));
    let killed = Verdict::of(&death(true, None), &in_flight(2), None);
    assert!(replayed(killed.answer(sent(1), false, &inside)));
    // The memory cap: the tenants it charged fail, the others run again.
    let mut capped = death(false, None);
    capped.process_memory = Some(vec![TenantId(1)]);
    let capped = Verdict::of(&capped, &in_flight(2), None);
    assert!(matches!(
        capped.answer(sent(1), true, &inside),
        Answer::Done(Err(JobError::ProcessMemory(_)))
    ));
    assert!(replayed(capped.answer(sent(2), false, &inside)));
    // A request that made a host call never runs twice, whoever the culprit.
    for verdict in [&named, &killed, &capped] {
        assert!(matches!(
            verdict.answer(sent(1), false, &|_| Ran::Outside),
            Answer::Done(Err(_))
        ));
    }
}

#[test]
fn the_links_record_of_host_calls_overrules_the_workers_marks() {
    let mut flight = in_flight(3);
    flight[1].called = true;
    let marks = |id: RequestId| id != RequestId(3);
    assert_eq!(Ran::of(RequestId(1), &flight, marks), Ran::Inside);
    // The marks say it never started, but it made a host call: it acted.
    assert_eq!(Ran::of(RequestId(2), &flight, |_| false), Ran::Outside);
    assert_eq!(Ran::of(RequestId(2), &flight, marks), Ran::Outside);
    assert_eq!(Ran::of(RequestId(3), &flight, marks), Ran::NotStarted);
    // A request the link does not list is taken to have acted.
    assert_eq!(Ran::of(RequestId(9), &flight, |_| false), Ran::Outside);
}
