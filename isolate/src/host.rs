//! The host side of the isolate: the functions its runtime script may call (console output,
//! random bytes, timers, module resolution), each bounded.
//!
//! Guarantees: every callback checks its pointers and sizes, never panics across the FFI
//! boundary (a panic would abort), and enforces its budget (output bytes, pending timers).

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::time::{Duration, Instant};

use crate::ffi;
use crate::modules;
use crate::worker::{LogLevel, LogLine};

/// Per-isolate state the callbacks reach through `userdata`. Lives in a `Box` owned by the
/// worker, so its address is stable for the isolate's lifetime.
pub(crate) struct HostState {
    pub logs: Vec<LogLine>,
    pub log_bytes: usize,
    pub log_limit: usize,
    /// Pending timers by due time (ties broken by arming order).
    pub timers: BTreeMap<(Instant, u64), u32>,
    pub timer_keys: HashMap<u32, (Instant, u64)>,
    pub timer_seq: u64,
    pub timer_limit: usize,
    /// Module names by bridge index, and the reverse.
    pub module_names: Vec<String>,
    pub module_index: HashMap<String, i32>,
}

impl HostState {
    pub(crate) fn new(log_limit: usize, timer_limit: usize) -> Self {
        HostState {
            logs: Vec::new(),
            log_bytes: 0,
            log_limit,
            timers: BTreeMap::new(),
            timer_keys: HashMap::new(),
            timer_seq: 0,
            timer_limit,
            module_names: Vec::new(),
            module_index: HashMap::new(),
        }
    }

    pub(crate) fn callbacks(self: &mut Box<Self>) -> ffi::StkHost {
        ffi::StkHost {
            userdata: (&mut **self as *mut HostState).cast(),
            log: host_log,
            random_fill: host_random_fill,
            set_timer: host_set_timer,
            clear_timer: host_clear_timer,
            resolve: host_resolve,
        }
    }

    /// Removes and returns the earliest timer.
    pub(crate) fn next_timer(&mut self) -> Option<(Instant, u32)> {
        let (&key, &id) = self.timers.iter().next()?;
        self.timers.remove(&key);
        self.timer_keys.remove(&id);
        Some((key.0, id))
    }

    pub(crate) fn resolve_name(&self, referrer: i32, specifier: &str) -> Option<String> {
        let from = usize::try_from(referrer)
            .ok()
            .and_then(|i| self.module_names.get(i));
        modules::resolve(from.map_or("", String::as_str), specifier)
    }
}

/// # Safety
/// `ud` must be the `HostState` registered with the isolate making the call.
unsafe fn state<'a>(ud: *mut c_void) -> &'a mut HostState {
    // SAFETY: guaranteed by the caller (the bridge passes back the userdata we registered, on
    // the isolate's thread, while the owning Worker is alive and not otherwise borrowed).
    unsafe { &mut *ud.cast::<HostState>() }
}

unsafe extern "C" fn host_log(ud: *mut c_void, level: i32, text: *const u8, len: usize) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    let bytes = if text.is_null() || len == 0 {
        &[][..]
    } else {
        // SAFETY: the bridge passes a buffer of `len` bytes valid for this call.
        unsafe { std::slice::from_raw_parts(text, len) }
    };
    st.log_bytes = st.log_bytes.saturating_add(len + 1);
    if st.log_bytes > st.log_limit {
        return 1;
    }
    let level = match level {
        0 => LogLevel::Debug,
        2 => LogLevel::Warn,
        3 => LogLevel::Error,
        _ => LogLevel::Log,
    };
    st.logs.push(LogLine {
        level,
        text: String::from_utf8_lossy(bytes).into_owned(),
    });
    0
}

unsafe extern "C" fn host_random_fill(_ud: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    if buf.is_null() {
        return -1;
    }
    let mut filled = 0;
    while filled < len {
        // SAFETY: buf has `len` writable bytes (bridge contract); we write inside [filled, len).
        let n = unsafe { libc::getrandom(buf.add(filled).cast(), len - filled, 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return -1;
        }
        filled += n as usize;
    }
    0
}

unsafe extern "C" fn host_set_timer(ud: *mut c_void, id: u32, delay_ms: f64) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    if let Some(key) = st.timer_keys.remove(&id) {
        st.timers.remove(&key);
    }
    if st.timers.len() >= st.timer_limit {
        return 1;
    }
    let delay = Duration::from_secs_f64((delay_ms.clamp(0.0, 1e12)) / 1000.0);
    st.timer_seq += 1;
    let key = (Instant::now() + delay, st.timer_seq);
    st.timers.insert(key, id);
    st.timer_keys.insert(id, key);
    0
}

unsafe extern "C" fn host_clear_timer(ud: *mut c_void, id: u32) {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    if let Some(key) = st.timer_keys.remove(&id) {
        st.timers.remove(&key);
    }
}

unsafe extern "C" fn host_resolve(
    ud: *mut c_void,
    referrer: i32,
    spec: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    if spec.is_null() {
        return -1;
    }
    // SAFETY: the bridge passes a buffer of `len` bytes valid for this call.
    let bytes = unsafe { std::slice::from_raw_parts(spec, len) };
    let Ok(specifier) = std::str::from_utf8(bytes) else {
        return -1;
    };
    st.resolve_name(referrer, specifier)
        .and_then(|name| st.module_index.get(&name).copied())
        .unwrap_or(-1)
}
