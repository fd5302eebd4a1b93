//! How a worker's failed bridge call becomes the error its tenant sees: the limit it hit (the
//! watchdog's, else the isolate's own limit flags), or the exception, with its position in the
//! module as written (TypeScript positions mapped back through the transform's source maps, in
//! the message and in every stack line; the runtime's own frames dropped).
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
                    stack: self.remap_stack(&out.stack()),
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
        let (line, column) = match self.maps.get(&module) {
            Some(map) => map.original(line, column).unwrap_or((line, column)),
            None => (line, column),
        };
        Some(SourceLocation {
            module,
            line,
            column,
        })
    }

    /// Rewrites `name:line:col` positions of TypeScript modules in a stack trace and drops the
    /// runtime's own frames (they say nothing about the tenant's code).
    pub(super) fn remap_stack(&self, stack: &str) -> String {
        let mut out = String::with_capacity(stack.len());
        for line in stack.lines().filter(|l| !l.contains("(stockade:runtime:")) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&remap_line(line, &self.maps));
        }
        out
    }
}

fn remap_line(line: &str, maps: &HashMap<String, SourceMap>) -> String {
    for (name, map) in maps {
        let pat = format!("{name}:");
        if let Some(pos) = line.find(&pat) {
            let rest = &line[pos + pat.len()..];
            let mut nums = rest.splitn(3, |c: char| !c.is_ascii_digit());
            let (Some(l), Some(c)) = (nums.next(), nums.next()) else {
                continue;
            };
            let (Ok(l), Ok(c)) = (l.parse::<u32>(), c.parse::<u32>()) else {
                continue;
            };
            if let Some((sl, sc)) = map.original(l, c) {
                let consumed = l.to_string().len() + 1 + c.to_string().len();
                return format!("{}{pat}{sl}:{sc}{}", &line[..pos], &rest[consumed..]);
            }
        }
    }
    line.to_string()
}
