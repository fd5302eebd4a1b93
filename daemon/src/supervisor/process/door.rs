//! How a job reaches its process. While the process serves, its life keeps a *door* open, and a
//! job goes through it and runs in its caller's own task (the HTTP handler's, or the host call's
//! of a binding call): no hand-off to the life's task and on to a task of the job's own, and
//! back, for every request. Before the process serves (or once it no longer does) the job is
//! queued for the life instead, which runs it the same way, in a task, once it can, or hands it
//! back unstarted.
//!
//! Guarantees: a job runs the same code whichever way it came ([`Entry::run`]: a place in its
//! depth's lane, then `job_task`), so it is capped, cancelled with its caller, counted in
//! `in_flight` and answered exactly as the life's own jobs are. A job that ends the process, or
//! never started, is handed to the life ([`Entry::ends`]), which answers it after the death is
//! recorded. The life closes the door before it retires or handles a death, and then waits
//! until every job that went through is over (each holds an [`Entry`], and so a sender of
//! `ends`), so none is left behind. Trusts: its life to open and close the door.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use stockade_cordon::TenantId;
use tokio::sync::{mpsc, oneshot};

use super::job::{queued_job, JobEnd};
use super::lanes::Lanes;
use super::{Answer, Envelope};
use crate::supervisor::jobs::{Job, JobError, ProcessInfo, Runner};

/// What a job needs to run in its caller's task; kept in the door while the process serves.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) runner: Arc<Runner>,
    pub(super) lanes: Arc<Lanes>,
    /// Where a job that failed the process, or never started, goes for the life to answer.
    pub(super) ends: mpsc::UnboundedSender<JobEnd>,
}

impl Entry {
    /// Runs one job to its end. Its answer goes to its envelope's `reply`: from the job itself,
    /// or from the life for one that failed the process or never started.
    pub(super) async fn run(self, envelope: Envelope) {
        let lane = self.lanes.of(envelope.job.depth());
        match queued_job(Arc::clone(&self.runner), envelope, lane).await {
            JobEnd::Over => {}
            end => {
                let _ = self.ends.send(end); // the life waits for every `ends` sender
            }
        }
    }
}

/// The door: open (an [`Entry`]) while the process serves.
#[derive(Default)]
pub(super) struct Door(Mutex<Option<Entry>>);

impl Door {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn open(&self, entry: Entry) {
        *self.lock() = Some(entry);
    }

    pub(super) fn close(&self) {
        self.lock().take();
    }

    pub(super) fn entry(&self) -> Option<Entry> {
        self.lock().clone()
    }
}

/// The pool's handle on one life's jobs. When every clone is gone, the life is retired: it
/// finishes what it has and asks its process to shut down.
#[derive(Clone)]
pub struct Jobs {
    pub(super) queue: mpsc::Sender<Envelope>,
    pub(super) door: Arc<Door>,
    pub(super) info: Arc<ProcessInfo>,
}

impl Jobs {
    /// Runs `job` for `tenant` in this process and waits for its answer: through the door, in
    /// this task, while the process serves; else queued for its life. `NotStarted` when the
    /// process is gone (or goes before the job starts): it can run elsewhere.
    pub async fn run(&self, job: Job, tenant: TenantId) -> Answer {
        let (reply, answer) = oneshot::channel();
        if let Some(entry) = self.door.entry() {
            self.info.in_flight.fetch_add(1, Ordering::Relaxed);
            entry.run(Envelope { job, tenant, reply }).await;
        } else {
            // A slot first, so that a caller going away while the queue is full leaves nothing
            // counted: between the count and the send there is no await.
            match self.queue.reserve().await {
                Ok(slot) => {
                    self.info.in_flight.fetch_add(1, Ordering::Relaxed);
                    slot.send(Envelope { job, tenant, reply });
                }
                Err(_) => return Answer::NotStarted(job), // the process is gone
            }
        }
        answer
            .await
            .unwrap_or(Answer::Done(Err(JobError::Unavailable)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stockade_ipc::{Reply, ToWorker};

    use super::*;
    use crate::supervisor::fake_worker::{pair, FakeWorker};
    use crate::supervisor::host_calls::HostCalls;
    use crate::supervisor::jobs::Conduct;
    use crate::supervisor::link::Link;

    const T: TenantId = TenantId(3);

    struct Rig {
        jobs: Jobs,
        queue: mpsc::Receiver<Envelope>,
        ends: mpsc::UnboundedReceiver<JobEnd>,
        lanes: Arc<Lanes>,
        worker: FakeWorker,
    }

    /// A process's door, open, over a hand-driven worker; one place per depth.
    fn rig() -> Rig {
        let (reader, writer, worker) = pair();
        let (link, _end) = Link::start(reader, writer, Arc::new(HostCalls::default()));
        let info = Arc::new(ProcessInfo::new(0));
        let conduct = Conduct {
            profile: stockade_ipc::Profile::Standard,
            caps: None,
        };
        let runner = Arc::new(Runner::new(Arc::clone(&info), link, conduct));
        let lanes = Arc::new(Lanes::new(1));
        let (ends_tx, ends) = mpsc::unbounded_channel();
        let door = Arc::new(Door::default());
        door.open(Entry {
            runner,
            lanes: Arc::clone(&lanes),
            ends: ends_tx,
        });
        let (queue_tx, queue) = mpsc::channel(8);
        let jobs = Jobs {
            queue: queue_tx,
            door,
            info,
        };
        Rig {
            jobs,
            queue,
            ends,
            lanes,
            worker,
        }
    }

    fn snippet() -> Job {
        Job::Run {
            code: "export default () => 1".into(),
            arg_json: b"null".to_vec(),
            limits: stockade_ipc::Limits::default(),
        }
    }

    fn in_flight(jobs: &Jobs) -> usize {
        jobs.info.in_flight.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_job_goes_through_the_open_door_in_its_callers_task_and_is_answered() {
        let mut rig = rig();
        let jobs = rig.jobs.clone();
        let caller = tokio::spawn(async move { jobs.run(snippet(), T).await });
        let ToWorker::RunSnippet { request_id, .. } = rig.worker.expect().await else {
            panic!("expected the snippet");
        };
        assert_eq!(in_flight(&rig.jobs), 1, "counted while it runs");
        rig.worker.answer(request_id, "1").await;
        match caller.await.expect("caller") {
            Answer::Done(Ok(outcome)) => {
                assert_eq!(outcome.result, Ok(Reply::Json(b"1".to_vec())));
            }
            _ => panic!("expected the worker's answer"),
        }
        assert_eq!(in_flight(&rig.jobs), 0);
        assert!(
            rig.queue.try_recv().is_err(),
            "nothing went through the life"
        );
    }

    #[tokio::test]
    async fn a_caller_gone_while_its_job_waits_for_a_place_leaves_nothing_counted_or_sent() {
        let mut rig = rig();
        let place = rig.lanes.of(0).try_acquire(T).expect("the only place");
        let jobs = rig.jobs.clone();
        let caller = tokio::spawn(async move { jobs.run(snippet(), T).await });
        while in_flight(&rig.jobs) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        caller.abort();
        assert!(caller.await.is_err(), "aborted");
        assert_eq!(in_flight(&rig.jobs), 0, "the count went with the caller");
        drop(place);
        let sent = tokio::time::timeout(Duration::from_millis(100), rig.worker.expect()).await;
        assert!(sent.is_err(), "nothing reached the worker");
    }

    #[tokio::test]
    async fn a_job_that_finds_its_lanes_closed_is_handed_to_the_life_uncounted() {
        let mut rig = rig();
        rig.lanes.close();
        let jobs = rig.jobs.clone();
        let caller = tokio::spawn(async move { jobs.run(snippet(), T).await });
        let Some(JobEnd::Unstarted(envelope)) = rig.ends.recv().await else {
            panic!("expected the unstarted job at the life");
        };
        assert_eq!(in_flight(&rig.jobs), 0);
        let _ = envelope.reply.send(Answer::NotStarted(envelope.job));
        assert!(matches!(
            caller.await.expect("caller"),
            Answer::NotStarted(Job::Run { .. })
        ));
    }

    #[tokio::test]
    async fn a_closed_door_queues_the_job_for_the_life_and_a_gone_life_hands_it_back() {
        let mut rig = rig();
        rig.jobs.door.close();
        let jobs = rig.jobs.clone();
        let caller = tokio::spawn(async move { jobs.run(snippet(), T).await });
        let envelope = rig.queue.recv().await.expect("queued");
        assert_eq!(in_flight(&rig.jobs), 1, "counted while queued");
        drop(envelope); // the life went away without answering
        assert!(matches!(
            caller.await.expect("caller"),
            Answer::Done(Err(JobError::Unavailable))
        ));
        drop(rig.queue); // the process is gone
        assert!(matches!(
            rig.jobs.run(snippet(), T).await,
            Answer::NotStarted(Job::Run { .. })
        ));
    }
}
