//! The process-wide V8 engine: flags, the platform, the watchdog thread and the runtime script.
//!
//! Initialise it once, before any sandbox closes (it maps V8's snapshot and takes the process's
//! memory protection keys, see [`crate::protection`]); after that, creating isolates needs no
//! file or network access.

use std::ffi::CStr;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::RunError;
use crate::ffi;
use crate::protection::{EngineKeys, MpkStats};
use crate::watchdog::{Unresponsive, Watchdog};
use crate::{EngineMemory, RenewalCounters};

/// Which V8 a process runs. Every isolate of a process shares it (V8 flags are per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V8Profile {
    /// JIT on, WebAssembly allowed.
    #[default]
    Standard,
    /// For the riskiest tenants: interpreter only (`--jitless`), no WebAssembly.
    Strict,
}

impl V8Profile {
    fn flags(self) -> &'static str {
        // --single-threaded: no V8 worker threads, so every heap page is allocated on the
        // isolate's own thread (the MPK tagging relies on it) and the jail can stay tight.
        // --no-memory-protection-keys: V8 13.6 would otherwise take a protection key of its own
        // and write PKRU beside crate::protection; Engine::init also takes every free key before
        // V8 starts. Tried the other way (one key left to V8, guards keeping it read-only): this
        // build (no V8 sandbox) took the key but still mapped its code range RWX under key 0, and
        // heap pages went astray, so V8 gets none. The price: JIT code (JavaScript and
        // WebAssembly) is read-write-execute under key 0, as in Node 24 on a CPU without PKU;
        // the strict profile has no JIT and no WebAssembly. See SECURITY.md.
        // --enable-sharedarraybuffer-per-context: the SharedArrayBuffer constructor exists only
        // where the embedder's callback says so; we install none (V8 13.6 removed the flag that
        // turned it off globally).
        match self {
            V8Profile::Standard => {
                "--single-threaded --no-memory-protection-keys --enable-sharedarraybuffer-per-context --no-verify-snapshot-checksum"
            }
            V8Profile::Strict => {
                "--single-threaded --no-memory-protection-keys --enable-sharedarraybuffer-per-context --no-verify-snapshot-checksum --jitless"
            }
        }
    }
}

/// Fresh isolates after which renewing V8's shared heap ([`Engine::renew_shared_heap`]) is worth
/// an anchor isolate's creation: about 9 MiB of it accumulated (measured 450 bytes an isolate).
pub const RENEW_SHARED_HEAP_AFTER: u64 = 20_000;

/// The initialised engine. Obtain it with [`Engine::init`].
pub struct Engine {
    profile: V8Profile,
    pub(crate) watchdog: Watchdog,
    pub(crate) keys: &'static EngineKeys,
}

static ENGINE: OnceLock<Engine> = OnceLock::new();
static KEYS: OnceLock<EngineKeys> = OnceLock::new();
/// Held while [`Engine::init`] makes the engine.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The runtime script and the prelude's lazy groups (see [`crate::lazy`]): `runtime.js` in a
/// closure that receives the host object (so it never becomes a global), the WebAssembly
/// shared-memory guard (`no-shared-memory.js`), then the prelude's eager parts, whose completion
/// value (its private exports) the bridge hands to the runtime's `attach`.
fn runtime_script() -> Result<crate::lazy::Assembled, String> {
    let mut js = String::from("(function (__stockade_host) {\n'use strict';\n");
    // Debug builds expose the host-call road to tests (`__stockadeTestHostCall`); release builds
    // have no such global.
    js.push_str(if cfg!(debug_assertions) {
        "const STOCKADE_TEST_HOST_CALLS = true;\n"
    } else {
        "const STOCKADE_TEST_HOST_CALLS = false;\n"
    });
    js.push_str(include_str!("../js/runtime.js"));
    js.push_str("\n})(globalThis.__stockade_host);\n");
    js.push_str(include_str!("../js/no-shared-memory.js"));
    js.push('\n');
    crate::lazy::assemble(
        &js,
        crate::PRELUDE_PARTS,
        crate::lazy::LAZY_GROUPS,
        print_compact,
    )
}

/// Runtime functions compiled with the runtime script, so that the snapshot holds their bytecode
/// although nothing runs them while it is made: what building a lazy group (`crate::lazy`) and an
/// op call (`callOp`) go through. Without this, every isolate that used a lazy group or an op
/// compiled them from source (seen with V8's `--log-function-events`); with it (valgrind,
/// instructions per isolate, `isolate-churn`): 17.07 → 16.40 M with `--urlpattern --warm-up`
/// (-3.9%), 13.93 → 13.99 M for a plain one (+0.4%: their bytecode is deserialised with every
/// isolate). Top-level function declarations, whose names the printer keeps.
const EAGER_IN_SNAPSHOT: [&str; 7] = [
    "callOp",
    "packFields",
    "unpackFields",
    "fieldU32",
    "exposeInterface",
    "addPlatformBrand",
    "buildLazyPart",
];

/// Where V8 asks about each of `names`' declarations in `script` (the opening parenthesis of its
/// parameters; the script is ASCII, so a byte offset is V8's UTF-16 position).
fn eager_positions(script: &str, names: &[&str]) -> Result<Vec<i32>, String> {
    names
        .iter()
        .map(|name| {
            let needle = format!("function {name}(");
            let mut found = script.match_indices(&needle);
            match (found.next(), found.next()) {
                (Some((at, _)), None) => i32::try_from(at + needle.len() - 1)
                    .map_err(|_| "the runtime script is too long".to_string()),
                (None, _) => Err(format!("no declaration of {name} in the runtime script")),
                (Some(_), Some(_)) => {
                    Err(format!("{name} is declared twice in the runtime script"))
                }
            }
        })
        .collect()
}

/// The lazy groups' sources and names, kept for the life of the process: isolates compile them
/// in place (the bridge holds pointers into them).
static LAZY: OnceLock<Vec<crate::lazy::LazyUnit>> = OnceLock::new();

/// The runtime script as small as it can be while meaning the same: every isolate deserialises
/// its source with the snapshot (V8 needs it to compile functions on first call). oxc prints it
/// without comments and layout (571 to 390 kB; heap of a fresh isolate 2,095 to 1,742 KiB, CPU to
/// create and dispose one about 10% less), with local bindings renamed to short names (311 to
/// 253 kB; idle isolate 1.945 to 1.877 MiB RSS). Function and class names are kept (`name`,
/// stack frames and inspection show them), and so are the names of each script's top level
/// (a lazy group receives the prelude's bindings by position, so their names inside it do not
/// matter). Stack frames inside the runtime name positions in the printed text. The original is
/// used if oxc cannot parse it (`runtime_script_is_printed_whole` keeps that from happening
/// unseen).
fn print_compact(js: String) -> String {
    use oxc::allocator::Allocator;
    use oxc::codegen::{Codegen, CodegenOptions};
    use oxc::mangler::{MangleOptions, MangleOptionsKeepNames, Mangler};
    use oxc::parser::Parser;
    use oxc::span::SourceType;
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, &js, SourceType::cjs()).parse();
    if !parsed.diagnostics.is_empty() || parsed.panicked {
        return js;
    }
    let renamed = Mangler::new()
        .with_options(MangleOptions {
            top_level: Some(false),
            keep_names: MangleOptionsKeepNames::all_true(),
            ..MangleOptions::default()
        })
        .build(&parsed.program)
        .scoping;
    let printed = Codegen::new()
        .with_options(CodegenOptions::minify())
        .with_scoping(Some(renamed))
        .build(&parsed.program)
        .code;
    escape_non_ascii(&printed)
}

/// `js` with every character outside ASCII written as `\u` escapes (one per UTF-16 unit). V8 keeps
/// a source with any character above U+00FF as a two-byte string, so a single one (the printer
/// writes `"\uFFFD"` as the character itself) doubled the source every isolate deserialises
/// (measured: 311 kB of script, 623 kB of heap). The printed script has no comments, so such a
/// character sits in a string, template or regular-expression literal, or an identifier, where
/// the escape means the same (a template's raw text aside: the runtime reads no raw text of its
/// own templates). One after a backslash is left alone (an escape of its own);
/// `runtime_script_is_printed_whole` checks that the whole script comes out ASCII.
fn escape_non_ascii(js: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(js.len());
    let mut backslashes = 0usize;
    for c in js.chars() {
        if c.is_ascii() || backslashes % 2 == 1 {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04X}");
            }
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    out
}

impl Engine {
    /// Initialises V8 for this process with `profile`, or returns the engine already
    /// initialised. Asking for another profile than the first is an error: V8's flags are
    /// process-wide, which is why risk tiers never share a process.
    pub fn init(profile: V8Profile) -> Result<&'static Engine, RunError> {
        if let Some(engine) = ENGINE.get() {
            return engine.check(profile);
        }
        // One initialisation at a time: threads that start at once (a worker's isolate threads,
        // a test binary's tests) would otherwise each make a snapshot and hand the bridge its
        // lazy parts concurrently (seen: a double free, and lazy groups compiled with another
        // group's parameters). The later ones wait here and find the engine made.
        let _initialising = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(engine) = ENGINE.get() {
            return engine.check(profile);
        }
        // Every free protection key, before V8 initialises (see V8Profile::flags) and before
        // any sandbox closes; once per process.
        let keys = KEYS.get_or_init(EngineKeys::allocate);
        let flags = profile.flags();
        // SAFETY: flags is a valid buffer of flags.len() bytes for the duration of the call.
        let rc = unsafe { ffi::stk_engine_init(flags.as_ptr().cast(), flags.len()) };
        if rc != 0 {
            return Err(RunError::Internal(
                "V8 was initialised with other flags".into(),
            ));
        }
        // The runtime and the web prelude are evaluated once, into a startup snapshot every
        // isolate starts from: a new isolate deserialises them instead of running ~2,500 lines.
        let assembled = runtime_script().map_err(|e| {
            RunError::Internal(format!("the runtime script cannot be assembled: {e}"))
        })?;
        let js = assembled.script;
        let eager = eager_positions(&js, &EAGER_IN_SNAPSHOT).map_err(RunError::Internal)?;
        let lazy = LAZY.get_or_init(|| assembled.lazy);
        let parts: Vec<ffi::StkLazyPart> = lazy
            .iter()
            .map(|unit| ffi::StkLazyPart {
                origin: unit.origin.as_ptr().cast(),
                origin_len: unit.origin.len(),
                source: unit.source.as_ptr().cast(),
                source_len: unit.source.len(),
                params: unit.params.as_ptr().cast(),
                params_len: unit.params.len(),
            })
            .collect();
        let mut out = ffi::StkOutcome::new();
        // SAFETY: js, parts, eager and out are valid for the call, and the bytes parts point to
        // live in LAZY for the life of the process; V8 is initialised just above.
        let rc = unsafe {
            ffi::stk_engine_snapshot(
                js.as_ptr().cast(),
                js.len(),
                parts.as_ptr(),
                parts.len(),
                eager.as_ptr(),
                eager.len(),
                &mut out,
            )
        };
        if rc != ffi::STK_OK {
            let text = |p: *mut std::ffi::c_char, n: usize| {
                if p.is_null() {
                    return String::new();
                }
                // SAFETY: the bridge set p to a buffer of n bytes.
                String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) })
                    .into_owned()
            };
            let msg = format!(
                "{} {}",
                text(out.value, out.value_len),
                text(out.stack, out.stack_len)
            );
            // SAFETY: out's strings were malloc'd by the bridge.
            unsafe { ffi::stk_outcome_clear(&mut out) };
            return Err(RunError::Internal(format!(
                "the runtime snapshot failed: {msg}"
            )));
        }
        // The watchdog thread starts on first use (see watchdog.rs).
        let watchdog = Watchdog::new();
        // The watchdog thread starts later, on the first `arm`, which runs outside any
        // PkeyGuard: it inherits the default PKRU (key 0 only), never a tenant's key (the keys
        // were allocated on a helper thread, see protection.rs).
        let engine = ENGINE.get_or_init(|| Engine {
            profile,
            watchdog,
            keys,
        });
        engine.check(profile)
    }

    fn check(&'static self, profile: V8Profile) -> Result<&'static Engine, RunError> {
        if self.profile == profile {
            Ok(self)
        } else {
            Err(RunError::Internal(format!(
                "this process runs the {:?} V8 profile; {profile:?} needs its own process",
                self.profile
            )))
        }
    }

    /// The size in bytes of the code cache the lazy group `group` (`node`, `streams`, ...; see
    /// `lazy::LAZY_GROUPS`) left for this process's isolates; 0 while it has none, or for a name
    /// that is no group.
    pub fn lazy_cache_bytes(&self, group: &str) -> usize {
        match crate::lazy::LAZY_GROUPS
            .iter()
            .position(|g| g.name == group)
        {
            // SAFETY: reads a process-wide table under its lock; any index is checked there.
            Some(index) => unsafe { ffi::stk_lazy_cache_bytes(index as u32) },
            None => 0,
        }
    }

    /// The profile this process runs.
    pub fn profile(&self) -> V8Profile {
        self.profile
    }

    /// What the watchdog does when an isolate keeps running `grace` of CPU time after it was
    /// terminated for a limit: V8 does not interrupt some builtins (see [`Unresponsive`]). The
    /// default is [`Unresponsive::Report`] after [`crate::DEFAULT_GRACE`]; only ending the process
    /// ([`Unresponsive::ExitProcess`]) bounds such an isolate's CPU time.
    pub fn set_unresponsive_policy(&self, policy: Unresponsive, grace: Duration) {
        self.watchdog.set_policy(policy, grace);
    }

    /// When an isolate terminated for its heap limit keeps allocating past the margin inside an
    /// operation V8 cannot interrupt, V8 can only end the process: end it with exit status
    /// `code` instead of V8's abort, so that a supervisor can tell that request's memory limit
    /// from a crash. 0 restores V8's abort.
    pub fn set_out_of_memory_exit(&self, code: i32) {
        // SAFETY: stores an integer in an atomic; callable from any thread.
        unsafe { ffi::stk_engine_set_oom_exit(code) }
    }

    /// Called just before the process ends itself for a limit (under
    /// [`Unresponsive::ExitProcess`], or the out-of-memory exit above) with the tag of the task
    /// whose limit it enforces ([`crate::Worker::set_tag`]; 0 for a task started untagged). It
    /// runs while the process goes down, on the watchdog's thread or the isolate's: it must only
    /// store to memory (no locks, no allocation, no I/O that can block).
    pub fn set_limit_exit_hook(&self, hook: extern "C" fn(u64)) {
        self.watchdog.set_exit_hook(hook);
        // SAFETY: stores a function pointer in an atomic; callable from any thread.
        unsafe { ffi::stk_engine_set_limit_exit_hook(Some(hook)) }
    }

    /// Isolates that ran the grace period past their termination, since the process started
    /// (export it as a metric).
    pub fn unresponsive_isolates(&self) -> u64 {
        self.watchdog.unresponsive()
    }

    /// Whether memory protection keys separate this process's isolates, and if not why. Export
    /// it as a metric (`status.metric_label()`); see [`crate::protection`].
    pub fn mpk_status(&self) -> stockade_mpk::MpkStatus {
        self.keys.status()
    }

    /// Keys, isolates and the probability that two live isolates are not separated by MPK.
    pub fn mpk_stats(&self) -> MpkStats {
        self.keys.stats()
    }

    /// Probability that two of `isolates` isolates spread over this process's keys share one
    /// (1 for two or more isolates without MPK): the figure for capacity planning.
    pub fn mpk_sharing_probability_for(&self, isolates: u64) -> f64 {
        stockade_mpk::pair_sharing_probability(isolates, self.keys.stats().keys as u64)
    }

    /// Page allocations V8 made on a thread working for no isolate (so tagged with no key) since
    /// the process started; 0 unless the single-threaded invariant of [`crate::protection`]
    /// broke.
    pub fn pages_allocated_outside_isolates(&self) -> u64 {
        // SAFETY: reads an atomic counter; callable from any thread.
        unsafe { ffi::stk_pages_allocated_outside_isolates() }
    }

    /// Tenant isolates alive and created, and the size of the bridge's range registry: for
    /// memory accounting and for tests that check nothing is left behind.
    pub fn memory(&self) -> EngineMemory {
        let mut out = EngineMemory::default();
        // SAFETY: fills a plain struct of counters; callable from any thread.
        unsafe { ffi::stk_engine_memory_stats(&mut out) };
        out
    }

    /// The renewal counters of [`Engine::memory`] alone, from two atomic loads and no lock: for
    /// a loop that polls them on every pass (a worker's isolate stock). `memory` also counts the
    /// range registry, under its mutex.
    pub fn renewal_counters(&self) -> RenewalCounters {
        let mut out = RenewalCounters::default();
        // SAFETY: fills a plain struct from two atomic counters; callable from any thread.
        unsafe { ffi::stk_engine_renewal_counters(&mut out) };
        out
    }

    /// Renews V8's shared read-only heap, which V8 13.6 as Debian builds it (no static roots)
    /// grows by about 450 bytes for every isolate created, freed only with the heap (when no
    /// isolate is left; the engine's anchor isolate keeps it alive): a process creating fresh
    /// isolates would grow without bound. Renewal happens only when no isolate this engine
    /// created lives and at least `min_created` were created since the last one (see
    /// [`RENEW_SHARED_HEAP_AFTER`]); `Ok(false)` otherwise. Costs one isolate creation
    /// (the anchor's, a few milliseconds). An error means the engine can create no isolate from
    /// then on.
    pub fn renew_shared_heap(&self, min_created: u64) -> Result<bool, RunError> {
        // SAFETY: the bridge serialises renewal against isolate creation itself.
        match unsafe { ffi::stk_engine_renew_shared_heap(min_created) } {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(RunError::Internal(
                "V8's shared heap could not be renewed: no anchor isolate".to_string(),
            )),
        }
    }

    /// Unmaps the pages disposed isolates left in the platform's page allocator for the next
    /// isolates (at most 8 MiB per process, resident; see `bridge/memory.h`) and the freed
    /// ArrayBuffer stores live isolates keep for their next ones (at most 8 MiB each), and
    /// returns how many bytes that was. The next isolates and stores then map fresh pages, as
    /// the first ones did: for a process that has been idle a while (a worker's isolate threads
    /// call it then).
    pub fn release_page_pool(&self) -> u64 {
        // SAFETY: takes no arguments; the bridge locks the pool itself. Any thread.
        unsafe { ffi::stk_engine_release_page_pool() }
    }

    /// The V8 version linked, e.g. `13.6.233.17-node.37`.
    pub fn v8_version() -> String {
        // SAFETY: V8 returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(ffi::stk_v8_version()) }
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_outside_ascii_become_escapes() {
        assert_eq!(escape_non_ascii("x=`\u{FFFD}`"), "x=`\\uFFFD`");
        assert_eq!(escape_non_ascii("'\u{1F600}é'"), "'\\uD83D\\uDE00\\u00E9'");
        // After a backslash the character is an escape of its own; after two it is not.
        assert_eq!(escape_non_ascii("'\\é'"), "'\\é'");
        assert_eq!(escape_non_ascii("'\\\\é'"), "'\\\\\\u00E9'");
    }

    /// Every function the snapshot keeps compiled is declared once in the printed runtime, and
    /// its position is where V8 asks (a name the printer changed, or a second declaration, is an
    /// error at start, not a silently lazy function).
    #[test]
    fn the_functions_kept_compiled_are_found_in_the_runtime() {
        let script = runtime_script()
            .expect("the runtime script assembles")
            .script;
        let positions = eager_positions(&script, &EAGER_IN_SNAPSHOT).expect("all found");
        for (name, at) in EAGER_IN_SNAPSHOT.iter().zip(positions) {
            let at = at as usize;
            assert_eq!(&script[at..=at], "(", "{name}");
            assert!(
                script[..at].ends_with(&format!("function {name}")),
                "{name}"
            );
        }
        assert!(eager_positions(&script, &["noSuchFunction"]).is_err());
        assert!(eager_positions("function a(){} function a(){}", &["a"]).is_err());
    }

    /// The printer sees every part of the runtime (a syntax oxc cannot parse would silently
    /// keep the whole source in every isolate) and keeps every line of code, dropping comments.
    #[test]
    fn runtime_script_is_printed_whole() {
        let mut original = String::new();
        original.push_str(include_str!("../js/runtime.js"));
        for part in crate::PRELUDE_PARTS {
            original.push_str(part);
        }
        let assembled = runtime_script().expect("the runtime script assembles");
        let printed: String = std::iter::once(assembled.script.as_str())
            .chain(assembled.lazy.iter().map(|u| u.source.as_str()))
            .collect();
        assert!(
            printed.len() * 4 < original.len() * 3,
            "printed {} of {} bytes: did oxc refuse the runtime script?",
            printed.len(),
            original.len()
        );
        assert!(!printed.contains("// ---- "), "part headers are comments");
        // The streams are a lazy group: a fresh isolate does not deserialise them.
        assert!(!assembled.script.contains("class ReadableStream"));
        assert!(assembled
            .lazy
            .iter()
            .any(|u| u.source.contains("class ReadableStream")));
        // One character above U+00FF would make V8 keep the source as a two-byte string.
        assert!(
            printed.is_ascii(),
            "the printed runtime has a character outside ASCII"
        );
        for name in [
            "setInvoker",
            "guardWebAssembly",
            "randomUUID",
            "HTMLRewriter",
        ] {
            assert!(printed.contains(name), "{name} missing");
        }
    }
}
