//! Inside the task loop: entering the isolate for one task under what is left of its budgets,
//! then reading every task's promise, and turning what settled into answers and ends (a fetch's
//! head and body parsed here), poisoning the isolate on a limit hit while JavaScript ran, and
//! answering `NeverSettled` to tasks nothing can wake. The guarantees are the module's above.
//! Trusts: the bridge to report settled invocations under the ids it was given.

use super::*;

impl Worker {
    /// Runs `f` (a bridge call that starts or continues `task`'s JavaScript) and the microtasks
    /// it leaves, under `task`'s remaining budgets; then looks at every task's promise.
    pub(super) fn enter(
        &mut self,
        task: u32,
        f: impl FnOnce(*mut ffi::StkIsolate, *mut ffi::StkOutcome) -> i32,
    ) {
        let Some((status, out)) = self.entry(task, true, f) else {
            return;
        };
        if status != ffi::STK_OK {
            match self.classify(status, &out, None) {
                e @ RunError::Limit(_) => return self.poison(e),
                e => self.fail(task, e),
            }
        }
        self.poll_all();
        self.reap_stuck();
    }

    /// One entry into the isolate for `task`: `f`, and then, with `pump`, the microtasks it
    /// leaves, under what is left of the task's budgets and charged to it. `f`'s status and
    /// outcome; `None` when the task is gone, or failed because its watch could not start, or
    /// a limit was hit (the isolate is then poisoned).
    fn entry(
        &mut self,
        task: u32,
        pump: bool,
        f: impl FnOnce(*mut ffi::StkIsolate, *mut ffi::StkOutcome) -> i32,
    ) -> Option<(i32, Outcome)> {
        let t = self.tasks.get(&task)?;
        let cpu_left = self.limits.cpu.saturating_sub(t.cpu);
        let wall_left = t.deadline.saturating_duration_since(Instant::now());
        let (tag, t_deadline) = (t.tag, t.deadline);
        let guard = match self.watch(tag, cpu_left, wall_left) {
            Ok(g) => g,
            Err(e) => {
                self.fail(task, e);
                return None;
            }
        };
        self.host().current = task;
        // A synchronous host call made during the entry waits under this watch (`host/sync.rs`).
        self.host().entry = Some(crate::host::EntryBudget {
            guard: &guard,
            cpu: cpu_left,
            deadline: t_deadline,
        });
        let mut out = Outcome::new();
        let mut pumped = Outcome::new();
        let (status, pump) = self.call_at_now(|raw| {
            // SAFETY: raw is our live isolate. The entry's code and the promise reactions it
            // creates belong to `task`; reactions created earlier keep their own task. The tag
            // names the task to an out-of-memory exit.
            unsafe {
                ffi::stk_set_entry_tag(raw, tag);
                ffi::stk_enter_task(raw, task);
            }
            let status = f(raw, &mut out.0);
            let pump = if status == ffi::STK_TERMINATED || !pump {
                status
            } else {
                // SAFETY: raw is our live isolate; pumped is valid.
                unsafe { ffi::stk_pump(raw, &mut pumped.0) }
            };
            // SAFETY: as above; nothing runs for a task outside its entries.
            unsafe { ffi::stk_enter_task(raw, 0) };
            (status, pump)
        });
        self.host().current = 0;
        self.host().entry = None;
        let fired = guard.fired();
        let spent = guard.cpu_spent();
        drop(guard);
        if let Some(t) = self.tasks.get_mut(&task) {
            t.cpu += spent;
        }
        if status == ffi::STK_TERMINATED || pump == ffi::STK_TERMINATED || fired.is_some() {
            let error = self.classify(ffi::STK_TERMINATED, &out, fired);
            self.poison(error);
            return None;
        }
        Some((status, out))
    }

    /// Reads the state of every live task's promise and acts on the settled ones; ends the
    /// lingering tasks nothing keeps alive any more.
    pub(super) fn poll_all(&mut self) {
        let ids: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.lingering)
            .map(|(id, _)| *id)
            .collect();
        let mut settled = Vec::new();
        self.iso.call(|raw| {
            for id in ids {
                let mut out = Outcome::new();
                // SAFETY: raw is our live isolate; out is valid.
                let status = unsafe { ffi::stk_poll(raw, id, &mut out.0) };
                if status != ffi::STK_PENDING {
                    settled.push((id, status, out));
                }
            }
        });
        for (id, status, out) in settled {
            if self.poisoned.is_some() {
                return;
            }
            if status == ffi::STK_REJECTED {
                self.rejected(id);
            } else {
                self.settled(id, status, &out);
            }
        }
        if !self.object {
            return; // only an object's tasks linger
        }
        let over: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(id, t)| t.lingering && !self.host_ref().task_has_work(**id))
            .map(|(id, _)| *id)
            .collect();
        for id in over {
            self.end(id, true, None, true);
        }
    }

    /// Ends answered task `id`, whose own promise (and `waitUntil` work) is over, unless it is a
    /// Durable Object's and still has timers armed or host calls made: an object's timers fire
    /// while it is in memory, as Cloudflare's do, here within the wall limit of the call that
    /// armed them. The task then lingers, polled no more, and `poll_all` ends it when the last
    /// is gone (a timer fired or cleared, a call answered). What it does meanwhile is still
    /// its own: its console lines, its CPU and its host calls, for its request.
    pub(super) fn finish(&mut self, id: u32) {
        if self.object && self.host_ref().task_has_work(id) {
            if let Some(t) = self.tasks.get_mut(&id) {
                t.lingering = true;
            }
            return;
        }
        self.end(id, true, None, true);
    }

    /// Task `id`'s promise was rejected. Describing the reason may run tenant code (a `stack`
    /// getter, `Error.prepareStackTrace`), so it is an entry of the task's own, under what is
    /// left of its budgets, like any other; a limit hit there poisons the isolate.
    fn rejected(&mut self, id: u32) {
        if self.tasks.get(&id).is_some_and(|t| t.answered) {
            // Its background work failed: the runtime reported it already (see `settled`).
            return self.finish(id);
        }
        // SAFETY: raw is our live isolate; out is valid.
        let described = self.entry(id, false, |raw, out| unsafe {
            ffi::stk_describe_rejection(raw, id, out)
        });
        if let Some((status, out)) = described {
            self.settled(id, status, &out);
        }
    }

    pub(super) fn settled(&mut self, id: u32, status: i32, out: &Outcome) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        if task.answered {
            // Its background work settled (its failures are reported by the runtime itself,
            // e.g. a streamed body ended with an error).
            return self.finish(id);
        }
        let kind = task.kind;
        if status == ffi::STK_TERMINATED {
            let error = self.classify(status, out, None);
            return self.poison(error);
        }
        if status == ffi::STK_TOO_LARGE {
            return self.poison(RunError::Limit(LimitKind::Result));
        }
        if status != ffi::STK_OK {
            return match self.classify(status, out, None) {
                e @ RunError::Limit(_) => self.poison(e),
                // A call that threw: answered so; a Durable Object's timers it armed go on.
                e => {
                    self.answer(id, Err(e));
                    self.finish(id)
                }
            };
        }
        let result = match kind {
            Kind::Load { main } => {
                self.main = Some(main);
                Ok(Answer::Loaded)
            }
            Kind::Call => {
                let json = out.value();
                if json.len() > self.limits.result_bytes {
                    return self.poison(RunError::Limit(LimitKind::Result));
                }
                Ok(Answer::Json(json))
            }
            Kind::Fetch => parse_head(&out.value(), out.body()).map(Answer::Response),
        };
        self.answer(id, result);
        if out.0.flags & ffi::STK_FLAG_BACKGROUND == 0 {
            self.finish(id);
        }
    }

    /// Emits `task`'s answer (once) with its console lines and what it spent.
    pub(super) fn answer(&mut self, id: u32, result: Result<Answer, RunError>) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        if task.answered {
            return;
        }
        task.answered = true;
        let (cpu, wall) = (task.cpu, task.started.elapsed());
        let logs = self.host().take_logs(id);
        self.events.push(TaskEvent::Answered(Answered {
            task: TaskId(id),
            result,
            logs,
            cpu,
            wall,
        }));
    }

    /// Answers `task` with `error` (unless it answered already) and ends it.
    pub(super) fn fail(&mut self, id: u32, error: RunError) {
        let answered = self.tasks.get(&id).is_some_and(|t| t.answered);
        self.answer(id, Err(error.clone()));
        self.end(id, true, answered.then_some(error), false);
    }

    /// Forgets `task` everywhere (promise, timers, host calls); `Ended` when `report`. A task
    /// that ended `well` still sends the host calls it made (see `HostState::end_task`).
    pub(super) fn end(&mut self, id: u32, report: bool, error: Option<RunError>, well: bool) {
        if self.tasks.remove(&id).is_none() {
            return;
        }
        let logs = self.host().take_logs(id);
        let calls = self.host().end_task(id, well);
        self.iso.call(|raw| {
            // SAFETY: raw is our live isolate.
            unsafe { ffi::stk_forget(raw, id) };
            for call in calls {
                // SAFETY: as above.
                unsafe { ffi::stk_host_forget(raw, call) };
            }
        });
        if report {
            self.events.push(TaskEvent::Ended {
                task: TaskId(id),
                error,
                logs,
            });
        }
    }

    /// A limit hit while JavaScript ran: the isolate is done; every live task gets `error`.
    pub(super) fn poison(&mut self, error: RunError) {
        if self.poisoned.is_none() {
            self.poisoned = Some(error.clone());
        }
        let ids: Vec<u32> = self.tasks.keys().copied().collect();
        for id in ids {
            self.fail(id, error.clone());
        }
    }

    /// Tasks nothing can wake any more: no timer is armed and no host call is in flight in the
    /// isolate. Running ones never settle; background ones are over.
    pub(super) fn reap_stuck(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        let host = self.host();
        if !host.timers.is_empty() || host.calls_outstanding() {
            return;
        }
        let ids: Vec<u32> = self.tasks.keys().copied().collect();
        for id in ids {
            self.fail(id, RunError::NeverSettled);
        }
    }
}

/// The response head the runtime's invoker writes (`js/runtime.js`, `invokeFetch`).
#[derive(serde::Deserialize)]
struct ResponseHead {
    status: u16,
    /// Flat `[name, value, ...]`.
    headers: Vec<String>,
    #[serde(default)]
    streamed: bool,
    /// A streamed body's length the runtime vouches for (a `FixedLengthStream`'s).
    #[serde(default)]
    length: Option<u64>,
    /// The response carries a WebSocket whose other end the task drives (`js/websocket.js`).
    #[serde(default, rename = "webSocket")]
    web_socket: bool,
}

/// The response head the runtime's invoker wrote (`{"status", "headers"}`) and the body bytes.
fn parse_head(text: &str, body: Vec<u8>) -> Result<FetchResponse, RunError> {
    let malformed = |why: String| {
        RunError::Internal(format!("malformed response head from the runtime: {why}"))
    };
    let head: ResponseHead = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    if !head.headers.len().is_multiple_of(2) {
        return Err(malformed("an odd number of header fields".into()));
    }
    let mut fields = head.headers.into_iter();
    let mut headers = Vec::with_capacity(fields.len() / 2);
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        headers.push((name, value));
    }
    Ok(FetchResponse {
        status: head.status,
        headers,
        body,
        streamed: head.streamed,
        // Only a streamed body has a length apart from its bytes.
        length: head.length.filter(|_| head.streamed),
        web_socket: head.web_socket,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_head;

    #[test]
    fn the_response_head_s_flat_headers_become_pairs_and_an_odd_list_is_refused() {
        let head = r#"{"status":201,"headers":["content-type","text/plain","set-cookie","a"]}"#;
        let response = parse_head(head, b"hi".to_vec()).expect("a head");
        assert_eq!(response.status, 201);
        assert_eq!(
            response.headers,
            [
                ("content-type".to_string(), "text/plain".to_string()),
                ("set-cookie".to_string(), "a".to_string())
            ]
        );
        assert_eq!(response.body, b"hi");
        assert!(!response.streamed);
        let streamed = parse_head(r#"{"status":200,"headers":[],"streamed":true}"#, Vec::new());
        assert!(streamed.expect("a head").streamed);
        for bad in [
            r#"{"status":200,"headers":["x"]}"#,
            r#"{"status":200,"headers":[["x","1"]]}"#,
            r#"{"status":70000,"headers":[]}"#,
            "not json",
        ] {
            assert!(parse_head(bad, Vec::new()).is_err(), "{bad}");
        }
    }
}
