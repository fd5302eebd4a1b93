//! TypeScript → JavaScript with oxc: types stripped, enums, namespaces, parameter properties and
//! the other TS-only syntax lowered; nothing else changed (the target is V8 10.2's ES2022, so no
//! down-levelling). Each transformed module keeps a line/column map back to its TypeScript source,
//! so errors point at the file, line and column the tenant wrote.
//!
//! Trusts: oxc's parser and transformer (memory-safe Rust; a panic inside it is caught by the
//! caller's `catch_unwind` and reported as a syntax error).

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{TransformOptions, Transformer};

use crate::error::SourceLocation;

/// One generated-position → source-position pair (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mapping {
    dst_line: u32,
    dst_col: u32,
    src_line: u32,
    src_col: u32,
}

/// Maps positions in generated JavaScript back to the TypeScript source.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    mappings: Vec<Mapping>,
}

impl SourceMap {
    /// Maps a 1-based generated (line, column) to the 1-based source (line, column): the
    /// nearest mapping at or before the position on the same line.
    pub fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let (line0, col0) = (line.checked_sub(1)?, column.saturating_sub(1));
        let idx = self
            .mappings
            .partition_point(|m| (m.dst_line, m.dst_col) <= (line0, col0));
        let m = self.mappings.get(idx.checked_sub(1)?)?;
        (m.dst_line == line0).then_some((m.src_line + 1, m.src_col + 1 + (col0 - m.dst_col)))
    }
}

/// The transformed module.
#[derive(Debug)]
pub struct Transpiled {
    pub code: String,
    pub map: SourceMap,
}

/// Transforms one TypeScript module. Errors carry the TypeScript position.
pub fn transpile(name: &str, source: &str) -> Result<Transpiled, (String, Option<SourceLocation>)> {
    let allocator = Allocator::default();
    let path = Path::new(name);
    let source_type = SourceType::ts().with_module(true);
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(first) = parsed.diagnostics.first() {
        return Err((first.message.to_string(), locate(name, source, first)));
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new().with_enum_eval(true).build(&program);
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions::default();
    let transformed =
        Transformer::new(&allocator, path, &options).build_with_scoping(scoping, &mut program);
    if let Some(first) = transformed.diagnostics.first() {
        return Err((first.message.to_string(), locate(name, source, first)));
    }
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let mut mappings: Vec<Mapping> = generated
        .map
        .map(|m| {
            m.get_tokens()
                .map(|t| Mapping {
                    dst_line: t.get_dst_line(),
                    dst_col: t.get_dst_col(),
                    src_line: t.get_src_line(),
                    src_col: t.get_src_col(),
                })
                .collect()
        })
        .unwrap_or_default();
    mappings.sort_unstable();
    Ok(Transpiled {
        code: generated.code,
        map: SourceMap { mappings },
    })
}

fn locate(
    name: &str,
    source: &str,
    diag: &oxc::diagnostics::OxcDiagnostic,
) -> Option<SourceLocation> {
    let offset = diag.labels.first()?.offset() as usize;
    let (line, column) = line_column(source, offset);
    Some(SourceLocation {
        module: name.to_string(),
        line,
        column,
    })
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

    #[test]
    fn strips_types_and_lowers_enums() {
        let out = transpile(
            "main.ts",
            "enum Color { Red, Green }\ninterface P { x: number }\nexport default (p: P): number => p.x + Color.Green;\n",
        )
        .expect("valid TypeScript");
        assert!(!out.code.contains("interface"), "{}", out.code);
        assert!(out.code.contains("Color"), "{}", out.code);
        assert!(!out.code.contains(": number"), "{}", out.code);
    }

    #[test]
    fn syntax_errors_point_at_the_typescript_position() {
        let (msg, loc) =
            transpile("bad.ts", "let a: number = 1;\nlet b = ;\n").expect_err("invalid");
        let loc = loc.expect("a location");
        assert_eq!((loc.module.as_str(), loc.line), ("bad.ts", 2), "{msg}");
    }

    #[test]
    fn positions_map_back_through_removed_types() {
        let src = "type T = {\n  a: string;\n};\nconst x: T = { a: 'q' };\nthrow new Error(x.a);\n";
        let out = transpile("m.ts", src).expect("valid");
        let gen_line = out
            .code
            .lines()
            .position(|l| l.contains("throw"))
            .expect("throw kept") as u32
            + 1;
        let col = out
            .code
            .lines()
            .nth(gen_line as usize - 1)
            .and_then(|l| l.find("throw"))
            .expect("col") as u32
            + 1;
        assert_eq!(out.map.original(gen_line, col), Some((5, 1)));
    }
}
