//! Types used by both directions: request and worker identifiers, resource limits, HTTP header
//! lists, and their encodings.
//!
//! Guarantees: header lists are capped in count, per-name, per-value and total bytes, on encode
//! and decode alike. Trusts: nothing.

use std::fmt;

use crate::error::{DecodeError, LimitExceeded};
use crate::limits::{Field, MAX_HEADERS, MAX_HEADER_TOTAL};
use crate::wire::{wire_enum, Budget, Reader, Writer};

/// Correlates a request with its single reply. Chosen by the supervisor, echoed by the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Content hash identifying a loaded worker (the code bundle), 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub [u8; 32]);

impl WorkerId {
    /// The id as 64 lower-case hex digits, as the API shows it.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkerId(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// Resource limits for one isolate. The worker enforces them; the codec only carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Limits {
    /// CPU time per call, milliseconds.
    pub cpu_ms: u32,
    /// Wall-clock time per call, milliseconds.
    pub wall_ms: u32,
    /// Isolate heap, MiB.
    pub memory_mb: u32,
    /// JS stack, KiB.
    pub stack_kb: u32,
    /// Outbound sub-requests per call.
    pub sub_requests: u32,
    /// Largest result (JSON or body) the script may return, bytes. Capped by the protocol anyway.
    pub result_bytes: u32,
    /// Largest total log output per call, bytes. Capped by the protocol anyway.
    pub log_bytes: u32,
}

/// Encoded size of [`Limits`].
pub(crate) const LIMITS_LEN: usize = 7 * 4;

impl Limits {
    /// The seven figures in wire order: cpu, wall, memory, stack, sub-requests, result bytes,
    /// log bytes (the one place that order is written; the store and the worker id use it too).
    #[must_use]
    pub fn to_array(&self) -> [u32; 7] {
        [
            self.cpu_ms,
            self.wall_ms,
            self.memory_mb,
            self.stack_kb,
            self.sub_requests,
            self.result_bytes,
            self.log_bytes,
        ]
    }

    /// The inverse of [`Limits::to_array`].
    #[must_use]
    pub fn from_array(a: [u32; 7]) -> Limits {
        let [cpu_ms, wall_ms, memory_mb, stack_kb, sub_requests, result_bytes, log_bytes] = a;
        Limits {
            cpu_ms,
            wall_ms,
            memory_mb,
            stack_kb,
            sub_requests,
            result_bytes,
            log_bytes,
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        for v in self.to_array() {
            w.u32(v);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut a = [0u32; 7];
        for v in &mut a {
            *v = r.u32()?;
        }
        Ok(Limits::from_array(a))
    }
}

wire_enum! {
    /// Isolation profile of a worker's isolates.
    pub enum Profile {
        /// Default hardening.
        Standard = 1,
        /// Extra hardening (e.g. no JIT), for code the operator trusts least.
        Strict = 2,
    }
}

/// An ordered list of `(name, value)` HTTP headers. Names and values are UTF-8 but otherwise
/// unvalidated: the integrator must check them against HTTP token rules before use.
pub type Headers = Vec<(String, String)>;

/// Largest encoding of a header list.
pub(crate) const HEADERS_MAX: usize = 4 + MAX_HEADERS * 8 + MAX_HEADER_TOTAL;

pub(crate) fn encode_headers(
    w: &mut Writer<'_>,
    headers: &[(String, String)],
) -> Result<(), LimitExceeded> {
    w.count(Field::Headers, headers.len())?;
    let mut total = Budget::new(Field::HeaderTotal);
    for (name, value) in headers {
        w.str_in(Field::HeaderName, name, &mut total)?;
        w.str_in(Field::HeaderValue, value, &mut total)?;
    }
    Ok(())
}

pub(crate) fn decode_headers(r: &mut Reader<'_>) -> Result<Headers, DecodeError> {
    let count = r.count(Field::Headers)?;
    let mut headers = Vec::with_capacity(r.list_capacity(count, 8));
    let mut total = Budget::new(Field::HeaderTotal);
    for _ in 0..count {
        let name = r.string_in(Field::HeaderName, &mut total)?;
        let value = r.string_in(Field::HeaderValue, &mut total)?;
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::WorkerId;

    #[test]
    fn a_worker_id_is_64_lower_case_hex_digits_in_byte_order_as_its_debug_form_shows() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xa5;
        }
        let id = WorkerId(bytes);
        let hex = id.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert!(hex.starts_with("a580"), "{hex}");
        assert_eq!(format!("{id:?}"), format!("WorkerId({hex})"));
    }
}
