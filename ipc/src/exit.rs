//! Exit statuses of a worker process that ended itself to enforce a limit V8 could not enforce
//! in-process: the contract between the worker (which asks the engine for them) and the
//! supervisor (which answers the request that was running with that limit, instead of
//! `worker_crashed`, and does not count it as a crash of the tenant).

/// The isolate kept running a grace period past its CPU limit inside a V8 builtin that ignores
/// termination (see the engine's watchdog).
pub const CPU_LIMIT: i32 = 86;

/// The isolate, terminated for its heap limit, kept allocating past the margin V8 was given inside
/// an operation it cannot interrupt; V8's only other answer was to abort the process.
pub const MEMORY_LIMIT: i32 = 87;
