//! How a worker's failed bridge call becomes the error its tenant sees: the limit it hit (the
//! watchdog's, else the isolate's own limit flags), or the exception, with its position in the
//! module as written (TypeScript positions mapped back through the transform's source maps). Its
//! stack is the error's `stack` as the bridge formats it (bridge/callbacks.cc,
//! PrepareStackTrace: positions mapped back, the runtime's own frames left out), untouched here.
//!
//! Guarantees: a limit is never reported as an exception. Trusts: the bridge's outcome.

use super::*;

impl Worker {
    /// Turns a failed bridge status into the error the tenant sees.
    pub(crate) fn classify(
        &self,
        status: i32,
        out: &Outcome,
        fired: Option<LimitKind>,
    ) -> RunError {
        // SAFETY: raw is our live isolate.
        let flags = self.iso.call(|raw| unsafe { ffi::stk_isolate_limits(raw) });
        let limit = fired.or(if flags & ffi::STK_LIMIT_HEAP != 0 {
            Some(LimitKind::Heap)
        } else if flags & ffi::STK_LIMIT_LOG != 0 {
            Some(LimitKind::Output)
        } else if flags & ffi::STK_LIMIT_EXTERNAL != 0 {
            Some(LimitKind::ExternalMemory)
        } else if flags & ffi::STK_LIMIT_TIMERS != 0 {
            Some(LimitKind::Timers)
        } else {
            None
        });
        match status {
            ffi::STK_TERMINATED => RunError::Limit(limit.unwrap_or(LimitKind::Cpu)),
            ffi::STK_EXCEPTION if limit.is_some() => {
                RunError::Limit(limit.unwrap_or(LimitKind::Cpu))
            }
            ffi::STK_EXCEPTION => {
                let location = self.location(out);
                RunError::Threw {
                    message: out.value(),
                    stack: out.stack(),
                    location,
                }
            }
            ffi::STK_INTERNAL => RunError::Internal(out.value()),
            other => {
                RunError::Internal(format!("unexpected bridge status {other}: {}", out.value()))
            }
        }
    }

    pub(super) fn location(&self, out: &Outcome) -> Option<SourceLocation> {
        let module = out.resource();
        if module.is_empty() || out.0.line <= 0 {
            return None;
        }
        let (line, column) = (out.0.line as u32, out.0.column.max(1) as u32);
        let (line, column) = self
            .maps
            .original(&module, line, column)
            .unwrap_or((line, column));
        Some(SourceLocation {
            module,
            line,
            column,
        })
    }
}
