//! The estimate against the parser: sources built by nesting constructs whose brackets hide in
//! strings, comments, regular expressions and templates, or whose recursion has no bracket at
//! all; whatever [`check`] lets through must parse into a tree no deeper than a fixed multiple
//! of the estimate's maximum. A lexing slip (a `(` counted that the parser never sees is
//! harmless; one the parser sees and the estimate missed is a stack overflow at 4,000 levels)
//! shows here as a deep tree under a small maximum.
use oxc::allocator::Allocator;
use oxc::ast::AstKind;
use oxc::ast_visit::Visit;
use oxc::parser::Parser;
use oxc::span::SourceType;
use proptest::prelude::*;

use super::*;

/// (prefix, suffix) of one level; the next level goes between them.
const WRAPPERS: &[(&str, &str)] = &[
    ("(", ")"),
    ("[", "]"),
    ("{ a: ", " }"),
    ("`${", "}`"),
    ("f(/* ) */ ", ")"),
    ("f(')', ", ")"),
    ("f(/[)]/, ", ")"),
    ("f(`)`, ", ")"),
    ("f(// )\n", ")"),
    ("(a / ", " / b)"),
    ("!", ""),
    ("a = ", ""),
    ("a ? ", " : b"),
    ("x => ", ""),
    ("async () => ", ""),
    ("typeof ", ""),
    ("new ", ""),
    ("a ** ", ""),
    ("1 + ", ""),
    ("<T>", ""),
    ("(a as any) + (", ")"),
    ("(function () { return ", " })"),
    ("(() => { if (a) return ", "; })"),
    ("(class { m() { return ", " } })"),
    ("{ b: a\n, c: ", " }"),
    ("a\n? b\n: ", ""),
    ("[function () {} / 2, ", "]"),
    ("f({} / 2, ", ")"),
    ("`${'`'}${", "}`"),
];

/// Statement-level wrappers: a level is a statement around the next.
const STATEMENTS: &[(&str, &str)] = &[
    ("if (a) ", ""),
    ("if (a) b; else ", ""),
    ("while (a) ", ""),
    ("for (;;) ", ""),
    ("l: ", ""),
    ("{ ", " }"),
    ("if (a) { ", " } else b"),
    ("function g() { ", " }"),
    ("a\n", ""),
];

/// The deepest chain of AST nodes below the program.
#[derive(Default)]
struct Depth {
    now: usize,
    max: usize,
}

impl<'a> Visit<'a> for Depth {
    fn enter_node(&mut self, _kind: AstKind<'a>) {
        self.now += 1;
        self.max = self.max.max(self.now);
    }
    fn leave_node(&mut self, _kind: AstKind<'a>) {
        self.now -= 1;
    }
}

/// The source's tree depth, parsed as TypeScript on a stack large enough for any source here;
/// `None` when it is not valid TypeScript.
fn tree_depth(source: &str) -> Option<usize> {
    let source = source.to_string();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let arena = Allocator::default();
            let parsed = Parser::new(&arena, &source, SourceType::ts().with_module(true)).parse();
            if !parsed.diagnostics.is_empty() || parsed.panicked {
                return None;
            }
            let mut depth = Depth::default();
            depth.visit_program(&parsed.program);
            Some(depth.max)
        })
        .expect("a parser thread")
        .join()
        .expect("the parser thread")
}

const MAX: u32 = 40;
/// Tree nodes one counted level may stand for (a statement around an expression around a
/// bracket...), and the program's own few.
const NODES_PER_LEVEL: usize = 4;
const BASE: usize = 32;

fn build(levels: &[(bool, usize)], statement_first: bool) -> String {
    let (mut head, mut tail) = (String::new(), String::new());
    if !statement_first {
        head.push_str("x = ");
    }
    for &(statement, pick) in levels {
        let (open, close) = if statement && statement_first {
            STATEMENTS[pick % STATEMENTS.len()]
        } else {
            WRAPPERS[pick % WRAPPERS.len()]
        };
        head.push_str(open);
        tail.insert_str(0, close);
    }
    let core = if statement_first { "a;" } else { "1" };
    format!("{head}{core}{tail};\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn what_the_estimate_lets_through_parses_no_deeper_than_it_says(
        kinds in proptest::collection::vec((any::<bool>(), 0..64usize), 1..4),
        order in proptest::collection::vec(0..4usize, 1..1000),
        statement_first in any::<bool>(),
    ) {
        // A few kinds of level, repeated in any order: deep sources that still parse.
        let levels: Vec<(bool, usize)> = order.iter().map(|&i| kinds[i % kinds.len()]).collect();
        let source = build(&levels, statement_first);
        if check(&source, MAX).is_err() {
            return Ok(());
        }
        let Some(depth) = tree_depth(&source) else {
            return Ok(());
        };
        prop_assert!(
            depth <= NODES_PER_LEVEL * MAX as usize + BASE,
            "a tree {depth} deep passed a maximum of {MAX}:\n{source}"
        );
    }
}

/// Each kind of level alone, 1000 deep, is valid TypeScript, and refused unless its tree is shallow
/// (a line break is no level).
#[test]
fn every_kind_of_level_alone_is_counted() {
    for statement_first in [false, true] {
        let kinds = if statement_first {
            STATEMENTS
        } else {
            WRAPPERS
        };
        for (pick, kind) in kinds.iter().enumerate() {
            let source = build(&[(statement_first, pick); 1000], statement_first);
            let Some(depth) = tree_depth(&source) else {
                panic!("{kind:?} 1000 deep is not TypeScript");
            };
            assert!(
                check(&source, MAX).is_err() || depth <= NODES_PER_LEVEL * MAX as usize + BASE,
                "{kind:?} passed at depth {depth}"
            );
        }
    }
    // Types nest too: generic arguments, object types, parenthesised unions, function types.
    for (open, close) in [("A<", ">"), ("{ a: ", " }"), ("(1 | ", ")"), ("() => ", "")] {
        let source = format!("let t: {}1{};\n", open.repeat(1000), close.repeat(1000));
        let depth = tree_depth(&source);
        assert!(depth.is_some(), "{open:?} 1000 deep is not TypeScript");
        assert!(
            check(&source, MAX).is_err(),
            "{open:?} passed at depth {depth:?}"
        );
    }
}
