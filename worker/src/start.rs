//! How an isolate thread starts a request: a Code Mode snippet in a never-used isolate from the
//! stock, a Loader worker's load (once per definition: its id hashes the whole definition), and
//! a call into a loaded worker. Each becomes a task of its isolate (`stockade_isolate::TaskId`)
//! that `thread.rs` then drives and answers.
//!
//! Guarantees: a request that cannot start is answered at once with a typed error; a debug build
//! started with `--test-hooks` gives every isolate the test host call, and no other build does.
//! Trusts: the inbox's routing (a Loader worker's calls reach the thread that loaded it).

use stockade_ipc::{Call, ErrorKind, LoadWorker, RequestId, ToSupervisor, WorkerId};
use stockade_isolate::{FetchRequest, LoadOptions, Module, ModuleSet, Worker};

use super::convert::{self, Spent};
use super::thread::{Purpose, Role, Thread};

impl Thread {
    /// Debug builds with `--test-hooks`: every isolate gets the test host call.
    pub(super) fn prepare(&self, worker: &mut Worker) -> Result<(), String> {
        #[cfg(debug_assertions)]
        if self.test_hooks {
            worker.install_test_host_call().map_err(|e| e.to_string())?;
        }
        let _ = (worker, self.test_hooks);
        Ok(())
    }

    pub(super) fn snippet(
        &mut self,
        id: RequestId,
        code: String,
        arg_json: Vec<u8>,
        limits: &stockade_ipc::Limits,
    ) {
        #[cfg(debug_assertions)]
        if self.test_hooks && code == super::test_hooks::FORBIDDEN_SYSCALL {
            let message = super::test_hooks::forbidden_syscall();
            return self.fail(id, ErrorKind::Internal, message);
        }
        let Ok(arg) = String::from_utf8(arg_json) else {
            return self.fail(
                id,
                ErrorKind::InvalidInput,
                "the argument is not UTF-8".into(),
            );
        };
        let mut worker = match self.stock.take(self.engine, limits) {
            Ok(w) => w,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        if let Err(e) = self.prepare(&mut worker) {
            return self.fail(id, ErrorKind::Internal, e);
        }
        let Ok(mut set) = ModuleSet::new([Module::new("main.ts", code.into_bytes())]) else {
            return self.fail(id, ErrorKind::Internal, "snippet module".into());
        };
        worker.set_tag(id.0);
        let task = worker.start_load("main.ts", &mut set);
        let slot = self.host(worker, Role::Snippet);
        self.track(slot, task, Purpose::SnippetLoad { request: id, arg });
        self.after(slot);
    }

    pub(super) fn load(&mut self, load: LoadWorker) {
        let id = load.request_id;
        if let Some(&slot) = self.loaders.get(&load.worker_id) {
            let healthy = self
                .isolates
                .get(&slot)
                .is_some_and(|h| !h.dropping && h.worker.poisoned().is_none());
            if healthy {
                // The id is a hash of the whole definition: this very worker is loaded already.
                let spent = Spent {
                    logs: Vec::new(),
                    cpu: std::time::Duration::ZERO,
                    wall: std::time::Duration::ZERO,
                };
                let outcome = convert::outcome(
                    id,
                    Ok(stockade_isolate::Answer::Loaded),
                    spent,
                    self.seen(slot),
                    false,
                );
                return self
                    .shared
                    .answer(self.index, id, &ToSupervisor::Outcome(outcome));
            }
        }
        let modules = load.modules.into_iter().map(|m| Module {
            name: m.name,
            kind: convert::module_kind(m.kind),
            bytes: m.bytes,
        });
        let mut set = match ModuleSet::new(modules) {
            Ok(s) => s,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        let compat = match convert::compat(&load.compatibility_date, &load.compatibility_flags) {
            Ok(c) => c,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        let mut worker = match self.stock.take_if_spare(self.engine, &load.limits) {
            Ok(w) => w,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        if let Err(e) = self.prepare(&mut worker) {
            return self.fail(id, ErrorKind::Internal, e);
        }
        let env = serde_json::Value::Object(
            load.env
                .into_iter()
                // Values are JSON text (the Loader API sends any JSON value).
                .map(|(k, v)| {
                    let value = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                    (k, value)
                })
                .collect(),
        );
        let options = LoadOptions {
            compat,
            env: env.clone(),
        };
        worker.set_tag(id.0);
        let task = worker.start_load_with(&load.main_module, &mut set, &options);
        let slot = self.host(
            worker,
            Role::Loader {
                id: load.worker_id,
                env,
            },
        );
        self.track(
            slot,
            task,
            Purpose::Load {
                request: id,
                worker_id: load.worker_id,
            },
        );
        self.after(slot);
    }

    pub(super) fn invoke(&mut self, id: RequestId, worker_id: WorkerId, call: Call) {
        let Some(&slot) = self.loaders.get(&worker_id) else {
            return self.fail(
                id,
                ErrorKind::UnknownWorker,
                "this worker is not loaded in this process".into(),
            );
        };
        let Some(h) = self.isolates.get_mut(&slot) else {
            return self.fail(id, ErrorKind::UnknownWorker, "this worker is gone".into());
        };
        // A binding's method call: its caller waits on it, and usually makes another.
        let rpc = matches!(call, Call::Rpc { .. });
        // The task's limits are this request's: if the process must end to enforce one, it names
        // this request as the culprit (shared.rs, `blame`).
        h.worker.set_tag(id.0);
        let task = match call {
            Call::Default { arg_json } => match String::from_utf8(arg_json) {
                Ok(arg) => h.worker.start_call(&arg),
                Err(_) => {
                    return self.fail(
                        id,
                        ErrorKind::InvalidInput,
                        "the argument is not UTF-8".into(),
                    )
                }
            },
            Call::Fetch {
                method,
                url,
                headers,
                body,
                body_streamed,
                entrypoint,
                encode_body,
                props_json,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                let Ok(props) = String::from_utf8(props_json) else {
                    return self.fail(id, ErrorKind::InvalidInput, "ctx.props is not UTF-8".into());
                };
                h.worker.start_fetch_with(
                    &entrypoint,
                    &FetchRequest {
                        method,
                        url,
                        headers,
                        body,
                        body_streamed,
                        encode_body,
                        env,
                    },
                    &props,
                )
            }
            Call::Rpc {
                entrypoint,
                method,
                args_json,
                props_json,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                match (String::from_utf8(args_json), String::from_utf8(props_json)) {
                    (Ok(args), Ok(props)) => {
                        h.worker
                            .start_rpc_with(&entrypoint, &method, &args, &env, &props)
                    }
                    _ => {
                        return self.fail(
                            id,
                            ErrorKind::InvalidInput,
                            "the RPC arguments or ctx.props are not UTF-8".into(),
                        )
                    }
                }
            }
            // An event's own wall-clock limit (0: the worker's) bounds its task instead of the
            // worker's: `[limits] event_wall_ms`, as Cloudflare gives cron and queue handlers.
            Call::Scheduled {
                cron,
                scheduled_time_ms,
                wall_ms,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                let wall = convert::event_wall(wall_ms, h.worker.limits());
                h.worker
                    .within(wall, |w| w.start_scheduled(&cron, scheduled_time_ms, &env))
            }
            Call::Queue {
                queue,
                messages_json,
                bodies,
                wall_ms,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                let wall = convert::event_wall(wall_ms, h.worker.limits());
                h.worker.within(wall, |w| {
                    w.start_queue(&queue, &messages_json, &bodies, &env)
                })
            }
            // A Durable Object's alarm: its class's `alarm(info)`, called as an RPC method is,
            // under the event's wall-clock limit.
            Call::Alarm {
                entrypoint,
                args_json,
                wall_ms,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                let Ok(args) = String::from_utf8(args_json) else {
                    return self.fail(
                        id,
                        ErrorKind::InvalidInput,
                        "the alarm's arguments are not UTF-8".into(),
                    );
                };
                let wall = convert::event_wall(wall_ms, h.worker.limits());
                h.worker.within(wall, |w| {
                    w.start_rpc(&entrypoint, stockade_ipc::ALARM_METHOD, &args, &env)
                })
            }
        };
        self.track(slot, task, Purpose::Invoke { request: id, rpc });
        self.after(slot);
    }
}
