//! A bound on how deeply a recursive-descent parser (and the AST visitors after it) recurses on a
//! JavaScript or TypeScript source, computed in one linear pass before parsing. oxc has no depth
//! guard: 10,000 nested parentheses overflow any thread's stack and abort the process.
//!
//! Guarantees: [`check`] refuses (never panics, never recurses) every source whose estimate
//! exceeds the given maximum. The estimate is an upper bound of the parser's recursion depth for
//! every construct that recurses: brackets, template substitutions, prefix and right-associative
//! operators (unary operators, assignment, `?:`, `=>`, `**`, `new`, `await`, ...), binary
//! operators (a chain of them is a left-deep tree that every AST visitor recurses into), type
//! arguments (`<` minus `>`), and statements nested without braces (`if`, `else`, loops, labels).
//! Counts only drop where the recursion they stand for certainly ends: at the bracket that
//! closes them, at `,` and `;` (expression counts), at a statement end not followed by `else`
//! (statement counts), and at a line break that automatic semicolon insertion must turn into a
//! statement end (an expression ended before it and a word that cannot continue one follows).
//!
//! Trusts: its own lexing of comments, strings, template literals and regular-expression
//! literals. A `/` is a regular expression or a division by the token before it, as parsers
//! decide it, except after `}` and after contextual keywords (`of`, `async`, ...), where only the
//! parser's state could tell: there both readings are counted, and a source whose two readings
//! would lex differently (a quote, backtick or comment start inside the would-be expression) is
//! refused as ambiguous. The caller runs the parser on a stack several times larger than the
//! maximum needs, as a margin for any construct this estimate underrates.

#[cfg(test)]
mod depth_tests;
mod keywords;
mod lex;
#[cfg(test)]
mod tests;
mod tokens;

use keywords::*;

/// The deepest nesting [`check`] lets through to oxc, in the engine and in the CLI's import scan.
pub const MAX_NESTING: u32 = 4000;
/// The stack of the thread oxc parses on: room for about 20,000 levels of the costliest construct
/// in an unoptimised build, five times [`MAX_NESTING`]. Only the pages a parse touches are
/// committed.
pub const STACK_BYTES: usize = 64 << 20;

/// Why [`check`] refused a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The estimated nesting depth exceeds the maximum at this byte offset.
    TooDeep { offset: usize },
    /// A `/` at this byte offset could start a regular expression or be a division, and the two
    /// readings would lex the rest of the line differently.
    AmbiguousSlash { offset: usize },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Paren { head: bool },
    Square,
    Brace { block: bool },
    Substitution,
}

/// One open bracket and the recursion counted inside it since it opened.
struct Frame {
    kind: Kind,
    /// Operators since the last `,` or `;` at this level.
    expr: u32,
    /// Unclosed `<` since the last `;` at this level.
    angle: u32,
    /// Statements nested without braces (and `else` chains) since the last statement end.
    stmt: u32,
}

impl Frame {
    fn new(kind: Kind) -> Frame {
        Frame {
            kind,
            expr: 0,
            angle: 0,
            stmt: 0,
        }
    }
    fn weight(&self) -> u64 {
        u64::from(self.kind != Kind::File)
            + u64::from(self.expr)
            + u64::from(self.angle)
            + u64::from(self.stmt)
    }
}

/// What the previous significant token leaves the parser expecting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// An operand (a `/` starts a regular expression).
    Operator,
    /// An operator (a `/` divides).
    Operand,
    /// Only the parser's state can tell.
    Either,
}

struct Scan<'s> {
    b: &'s [u8],
    i: usize,
    stack: Vec<Frame>,
    total: u64,
    max: u64,
    prev: Prev,
    /// A line terminator since the previous significant token.
    newline: bool,
    /// `if`/`while`/`for`/`with`/`switch`/`catch` seen: the next `(` is a statement head.
    pending_head: bool,
    /// The previous token closed a statement head, or was `else`/`do`/`try`/`finally`: a `{` is
    /// a block.
    block_next: bool,
    /// The previous token was `.` or `?.`: a word is a property name.
    after_dot: bool,
    /// A statement just ended at the top frame (`;`, a block's `}`, or a line break that ends it).
    stmt_end: bool,
    /// While lexing the division reading of an ambiguous `/`: closers at or below this stack
    /// length, before this offset, are ignored (the regular-expression reading has none).
    floor: Option<(usize, usize)>,
}

/// Checks that the nesting depth of `source` stays within `max`; see the module documentation.
pub fn check(source: &str, max: u32) -> Result<(), Refusal> {
    let mut scan = Scan {
        b: source.as_bytes(),
        i: 0,
        stack: vec![Frame::new(Kind::File)],
        total: 0,
        max: u64::from(max),
        prev: Prev::Operator,
        newline: true,
        pending_head: false,
        block_next: false,
        after_dot: false,
        stmt_end: false,
        floor: None,
    };
    scan.run()
}

fn is_line_terminator_at(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'\n' | b'\r' => 1,
        // U+2028, U+2029
        0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
        _ => 0,
    }
}

/// The character whose UTF-8 encoding starts at `i`, if one does.
fn char_at(b: &[u8], i: usize) -> Option<char> {
    let len = match b[i] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    std::str::from_utf8(b.get(i..i + len)?).ok()?.chars().next()
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'\\' || c >= 0x80
}

impl Scan<'_> {
    fn run(&mut self) -> Result<(), Refusal> {
        if self.b.starts_with(b"#!") {
            self.skip_line();
        }
        while self.i < self.b.len() {
            if let Some((_, until)) = self.floor {
                if self.i >= until {
                    self.floor = None;
                    self.prev = Prev::Either;
                }
            }
            let c = self.b[self.i];
            let nl = is_line_terminator_at(self.b, self.i);
            if nl > 0 {
                self.newline = true;
                self.i += nl;
                continue;
            }
            if c == b' ' || c == b'\t' || c == 0x0B || c == 0x0C {
                self.i += 1;
                continue;
            }
            if c >= 0x80 {
                // Non-ASCII: whitespace (NBSP, BOM, ...) or part of a word.
                if let Some(ch) = char_at(self.b, self.i) {
                    if ch.is_whitespace() || ch == '\u{FEFF}' {
                        self.i += ch.len_utf8();
                        continue;
                    }
                }
                self.word()?;
                continue;
            }
            match c {
                b'/' => self.slash()?,
                b'\'' | b'"' => {
                    self.token_start(None);
                    self.skip_string(c);
                    self.prev = Prev::Operand;
                }
                b'`' => {
                    self.token_start(None);
                    self.i += 1;
                    self.template()?;
                }
                b'(' => {
                    let head = std::mem::take(&mut self.pending_head);
                    self.token_start(None);
                    self.open(Kind::Paren { head })?;
                }
                b'[' => {
                    self.token_start(None);
                    self.open(Kind::Square)?;
                }
                b'{' => {
                    let block = self.block_next;
                    self.token_start(None);
                    self.open(Kind::Brace { block })?;
                }
                b')' | b']' | b'}' => {
                    self.token_start(None);
                    self.i += 1;
                    if self.close(c)? {
                        // A template substitution ended: back to the template's text.
                        self.template()?;
                    }
                }
                b';' => {
                    self.token_start(None);
                    self.i += 1;
                    self.reset_expr(true);
                    self.stmt_end = true;
                    self.prev = Prev::Operator;
                }
                b',' => {
                    self.token_start(None);
                    self.i += 1;
                    self.reset_expr(false);
                    self.prev = Prev::Operator;
                }
                b'.' => {
                    self.token_start(None);
                    if self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
                        self.number();
                    } else if self.b[self.i..].starts_with(b"...") {
                        self.i += 3;
                        self.count(1)?;
                        self.prev = Prev::Operator;
                    } else {
                        self.i += 1;
                        self.after_dot = true;
                        self.prev = Prev::Operator;
                    }
                }
                b'0'..=b'9' => {
                    self.token_start(None);
                    self.number();
                }
                _ if is_ident_byte(c) || c == b'#' => self.word()?,
                _ => self.punctuator()?,
            }
        }
        Ok(())
    }

    /// Bookkeeping at the start of every significant token: statement ends not followed by a
    /// word that continues the statement reset the statement count; line breaks that end an
    /// expression reset the expression counts.
    fn token_start(&mut self, word: Option<&str>) {
        if std::mem::take(&mut self.newline)
            && self.prev == Prev::Operand
            && word.is_some_and(|w| !CONTINUING.contains(&w))
        {
            // Automatic semicolon insertion: `a \n b` is two statements.
            self.reset_expr(true);
            self.stmt_end = true;
        }
        if std::mem::take(&mut self.stmt_end)
            && !word.is_some_and(|w| CONTINUING_STATEMENT.contains(&w))
        {
            let top = self.top();
            let dropped = u64::from(std::mem::take(&mut top.stmt));
            self.total -= dropped;
        }
        if word.is_none() {
            self.after_dot = false;
        }
        if word != Some("await") {
            self.pending_head = false;
        }
        self.block_next = false;
    }

    fn top(&mut self) -> &mut Frame {
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn count(&mut self, n: u32) -> Result<(), Refusal> {
        self.top().expr = self.top().expr.saturating_add(n);
        self.grow(u64::from(n))
    }

    fn grow(&mut self, n: u64) -> Result<(), Refusal> {
        self.total += n;
        if self.total > self.max {
            return Err(Refusal::TooDeep { offset: self.i });
        }
        Ok(())
    }

    fn reset_expr(&mut self, with_angle: bool) {
        let top = self.top();
        let mut dropped = u64::from(std::mem::take(&mut top.expr));
        if with_angle {
            dropped += u64::from(std::mem::take(&mut top.angle));
        }
        self.total -= dropped;
    }

    fn open(&mut self, kind: Kind) -> Result<(), Refusal> {
        self.i += 1;
        self.stack.push(Frame::new(kind));
        self.prev = Prev::Operator;
        self.grow(1)
    }

    /// Closes the innermost bracket; true when it was a template substitution.
    fn close(&mut self, c: u8) -> Result<bool, Refusal> {
        if self.stack.len() == 1 {
            self.prev = Prev::Operand;
            return Ok(false); // unbalanced: the parser reports it
        }
        if let Some((floor, _)) = self.floor {
            if self.stack.len() <= floor {
                self.prev = Prev::Operand;
                return Ok(false);
            }
        }
        let Some(frame) = self.stack.pop() else {
            return Ok(false);
        };
        self.total -= frame.weight();
        match (c, frame.kind) {
            (b'}', Kind::Substitution) => return Ok(true),
            (b')', Kind::Paren { head: true }) => {
                self.prev = Prev::Operator;
                self.block_next = true;
            }
            (b'}', Kind::Brace { block }) => {
                self.prev = Prev::Either;
                self.stmt_end |= block;
            }
            (b'}', _) => self.prev = Prev::Either,
            _ => self.prev = Prev::Operand,
        }
        Ok(false)
    }
}
