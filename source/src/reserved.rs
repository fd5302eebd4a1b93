//! The names the runtime reserves in a worker's `env`: keys a tenant cannot give (each starts
//! with a NUL, which `api::loader` refuses at the start of a tenant's key), read by the runtime
//! and taken out before tenant code sees `env`.
//!
//! Guarantees: each name is defined here once, for the supervisor that writes it and the engine
//! that reads it. Trusts: nothing.

/// The key under which a Durable Object incarnation's definition says which object it is
/// (`{"class", "id", "name"}`; `isolate/js/builtins.js` takes it out of `env`). Its presence
/// also makes the isolate an object's: a call's timers outlive its answer (`isolate/src/tasks.rs`).
pub const OBJECT_ENV_KEY: &str = "\u{0}stockade:object";
