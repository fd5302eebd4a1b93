//! Positions in generated JavaScript mapped back to the module the tenant wrote: oxc's
//! mappings (TypeScript → JavaScript), swc's (decorators lowered), and the two composed.
//!
//! Guarantees: lookups never panic, whatever the position asked (an unmapped position is
//! `None`); columns are UTF-16 units, as V8 counts them. Trusts: the mappings the transformers
//! report (a wrong one only misplaces a reported position).

/// One generated-position → source-position pair (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    pub dst_line: u32,
    pub dst_col: u32,
    pub src_line: u32,
    pub src_col: u32,
}

/// Maps positions in generated JavaScript back to the source.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    /// Sorted by generated position.
    mappings: Vec<Mapping>,
}

impl SourceMap {
    /// A map of these mappings (in any order).
    pub fn new(mut mappings: Vec<Mapping>) -> SourceMap {
        mappings.sort_unstable();
        SourceMap { mappings }
    }

    /// Whether the map has no mapping at all (the module kept its positions: see `blank`).
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// Maps a 1-based generated (line, column) to the 1-based source (line, column): the
    /// nearest mapping at or before the position on the same line.
    pub fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let (line0, col0) = (line.checked_sub(1)?, column.saturating_sub(1));
        let idx = self
            .mappings
            .partition_point(|m| (m.dst_line, m.dst_col) <= (line0, col0));
        let m = self.mappings.get(idx.checked_sub(1)?)?;
        (m.dst_line == line0).then(|| (m.src_line + 1, m.src_col + 1 + (col0 - m.dst_col)))
    }

    /// The map of a second transformation applied to this one's output: `later` maps its
    /// output to positions in this map's generated code; the result maps it to this map's
    /// source. Positions this map does not know are dropped.
    pub fn then(&self, later: Vec<Mapping>) -> SourceMap {
        let composed = later
            .into_iter()
            .filter_map(|m| {
                let (line, col) = self.original(m.src_line + 1, m.src_col + 1)?;
                Some(Mapping {
                    dst_line: m.dst_line,
                    dst_col: m.dst_col,
                    src_line: line - 1,
                    src_col: col - 1,
                })
            })
            .collect();
        SourceMap::new(composed)
    }
}

/// 1-based line and column (in UTF-16 units, as V8 counts) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].encode_utf16().count() as u32 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(dst_line: u32, dst_col: u32, src_line: u32, src_col: u32) -> Mapping {
        Mapping {
            dst_line,
            dst_col,
            src_line,
            src_col,
        }
    }

    #[test]
    fn composes_two_maps() {
        // TypeScript line 5 → JavaScript line 2; the second stage moves line 2 to line 40.
        let first = SourceMap::new(vec![m(1, 0, 4, 0), m(1, 6, 4, 14)]);
        let both = first.then(vec![m(39, 2, 1, 0), m(39, 8, 1, 6), m(10, 0, 7, 0)]);
        assert_eq!(both.original(40, 3), Some((5, 1)));
        assert_eq!(both.original(40, 10), Some((5, 16)));
        // Line 8 of the intermediate code is unknown to the first map: dropped.
        assert_eq!(both.original(11, 1), None);
        assert_eq!(both.original(0, 0), None);
    }
}
