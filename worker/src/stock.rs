//! Fresh isolates for Code Mode, made between requests.
//!
//! Every snippet runs in an isolate nothing has run in before. Creating one costs most of a
//! snippet's time (V8 deserialises its startup snapshot), so the worker keeps one spare, made
//! right after it has answered the previous request, when it would otherwise wait on its socket;
//! and it disposes the used one at that time too. The spare is handed out only to a request with
//! the same limits it was made with (the heap limit is fixed at creation); otherwise a new one is
//! made on the spot. Nothing about a spare is tenant-specific: it has run no code at all.

use stockade_isolate::{Engine, RunError, Worker};

use super::serve::engine_limits;

#[derive(Default)]
pub struct IsolateStock {
    spare: Option<(stockade_ipc::Limits, Worker)>,
    used: Option<Worker>,
    last_limits: Option<stockade_ipc::Limits>,
}

impl IsolateStock {
    /// A never-used isolate with `limits`.
    pub fn take(
        &mut self,
        engine: &'static Engine,
        limits: &stockade_ipc::Limits,
    ) -> Result<Worker, RunError> {
        self.last_limits = Some(*limits);
        match self.spare.take() {
            Some((made_with, worker)) if made_with == *limits => Ok(worker),
            _ => Worker::new(engine, engine_limits(limits)),
        }
    }

    /// Keeps a used isolate until `refill`, so its disposal is off the request's latency.
    pub fn retire(&mut self, worker: Worker) {
        self.used = Some(worker);
    }

    /// After an answer has been sent: dispose the used isolate and make the next spare.
    pub fn refill(&mut self, engine: &'static Engine) {
        self.used = None;
        if self.spare.is_none() {
            if let Some(limits) = self.last_limits {
                // A failure here is not a request's failure: `take` will try again and report it.
                self.spare = Worker::new(engine, engine_limits(&limits))
                    .ok()
                    .map(|w| (limits, w));
            }
        }
    }
}
