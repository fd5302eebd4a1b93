//! The bound on oxc's enum folding: string enum members are folded into literals
//! (`B = A + A`), which can double per member, so a module whose members could fold to more
//! than the budget is refused before oxc folds anything.
//!
//! Guarantees: read-only over the AST; an over-estimate, never an under-estimate, of what oxc
//! folds (the expressions oxc folds are counted, anything else counts nothing because oxc leaves
//! it alone). Trusts: that oxc folds only the expression forms listed on [`EnumFolding`].

use oxc::ast::ast::{Expression, TSEnumDeclaration, TSEnumMemberName};
use oxc::ast_visit::{walk, Visit};

/// An upper bound of the string bytes oxc's enum evaluation (`with_enum_eval`) folds, computed
/// over the AST in the order oxc evaluates enums: literals count their length, `+` and template
/// literals the sum of their parts, a reference to a member (`A`, `E.A`, `E["A"]`) the largest
/// value of any member of that name seen so far, numbers 32 bytes, anything else nothing (oxc
/// does not fold it).
pub struct EnumFolding {
    budget: usize,
    total: usize,
    by_name: std::collections::HashMap<String, usize>,
    /// Where the budget ran out (a byte offset).
    pub exceeded: Option<u32>,
}

impl EnumFolding {
    const NUMBER: usize = 32;

    pub fn new(budget: usize) -> EnumFolding {
        EnumFolding {
            budget,
            total: 0,
            by_name: std::collections::HashMap::new(),
            exceeded: None,
        }
    }

    fn named(&self, name: &str) -> usize {
        self.by_name.get(name).copied().unwrap_or(0)
    }

    fn bound(&self, expr: &Expression<'_>) -> usize {
        match expr {
            Expression::StringLiteral(lit) => lit.value.len(),
            Expression::NumericLiteral(_) | Expression::UnaryExpression(_) => Self::NUMBER,
            Expression::TemplateLiteral(lit) => {
                let text: usize = lit
                    .quasis
                    .iter()
                    .map(|q| q.value.cooked.as_ref().unwrap_or(&q.value.raw).len())
                    .sum();
                lit.expressions
                    .iter()
                    .fold(text, |sum, e| sum.saturating_add(self.bound(e)))
            }
            Expression::Identifier(ident) => self.named(ident.name.as_str()).max(Self::NUMBER),
            Expression::StaticMemberExpression(member) => {
                self.named(member.property.name.as_str()).max(Self::NUMBER)
            }
            Expression::ComputedMemberExpression(member) => match &member.expression {
                Expression::StringLiteral(lit) => self.named(lit.value.as_str()).max(Self::NUMBER),
                _ => 0,
            },
            Expression::BinaryExpression(binary) => self
                .bound(&binary.left)
                .saturating_add(self.bound(&binary.right))
                .max(Self::NUMBER),
            Expression::ParenthesizedExpression(paren) => self.bound(&paren.expression),
            _ => 0,
        }
    }
}

impl<'a> Visit<'a> for EnumFolding {
    fn visit_ts_enum_declaration(&mut self, decl: &TSEnumDeclaration<'a>) {
        for member in &decl.body.members {
            let value = member
                .initializer
                .as_ref()
                .map_or(Self::NUMBER, |init| self.bound(init));
            self.total = self.total.saturating_add(value);
            if self.total > self.budget && self.exceeded.is_none() {
                self.exceeded = Some(member.span.start);
            }
            let name = match &member.id {
                TSEnumMemberName::Identifier(ident) => Some(ident.name.as_str()),
                TSEnumMemberName::String(lit) | TSEnumMemberName::ComputedString(lit) => {
                    Some(lit.value.as_str())
                }
                TSEnumMemberName::ComputedTemplateString(_) => None,
            };
            if let Some(name) = name {
                let entry = self.by_name.entry(name.to_string()).or_insert(0);
                *entry = (*entry).max(value);
            }
        }
        walk::walk_ts_enum_declaration(self, decl);
    }
}
