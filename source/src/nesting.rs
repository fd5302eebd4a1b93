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

const KEYWORDS_TAKING_OPERAND: &[&str] = &[
    "return",
    "typeof",
    "void",
    "delete",
    "throw",
    "new",
    "case",
    "in",
    "instanceof",
    "yield",
    "await",
    "extends",
    "default",
    "export",
    "import",
    "const",
    "let",
    "var",
    "class",
    "function",
    "enum",
    "interface",
    "break",
    "continue",
    "debugger",
    "implements",
    "package",
    "private",
    "protected",
    "public",
    "static",
];
/// Keywords that are recursion levels of their own (prefix or binary-like operators).
const COUNTED_KEYWORDS: &[&str] = &[
    "typeof",
    "void",
    "delete",
    "new",
    "yield",
    "await",
    "in",
    "instanceof",
    "extends",
    "keyof",
    "infer",
    "readonly",
    "unique",
    "asserts",
    "is",
    "as",
    "satisfies",
    "of",
];
/// Words that may be identifiers or keywords: a `/` after them is ambiguous.
const CONTEXTUAL: &[&str] = &[
    "of",
    "async",
    "get",
    "set",
    "type",
    "declare",
    "abstract",
    "namespace",
    "module",
    "readonly",
    "keyof",
    "infer",
    "is",
    "asserts",
    "unique",
    "satisfies",
    "as",
    "accessor",
    "override",
    "global",
    "out",
];
/// Words that continue an expression after a line break (so the break ends no statement).
const CONTINUING: &[&str] = &[
    "in",
    "instanceof",
    "as",
    "satisfies",
    "of",
    "extends",
    "implements",
    "is",
];
/// Words that continue the statement a block or statement end closed.
const CONTINUING_STATEMENT: &[&str] = &["else", "catch", "finally", "while"];

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

    fn skip_line(&mut self) {
        while self.i < self.b.len() && is_line_terminator_at(self.b, self.i) == 0 {
            self.i += 1;
        }
    }

    fn skip_string(&mut self, quote: u8) {
        self.i += 1;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\\' {
                self.i += 2;
                continue;
            }
            if c == quote || is_line_terminator_at(self.b, self.i) > 0 {
                self.i += 1;
                return;
            }
            self.i += 1;
        }
    }

    /// Scans template text from `i` (after `` ` `` or a substitution's `}`) to the closing
    /// backtick or the next `${`, which opens a substitution frame.
    fn template(&mut self) -> Result<(), Refusal> {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'`' => {
                    self.i += 1;
                    self.prev = Prev::Operand;
                    return Ok(());
                }
                b'$' if self.b.get(self.i + 1) == Some(&b'{') => {
                    self.i += 1;
                    return self.open(Kind::Substitution);
                }
                _ => self.i += 1,
            }
        }
        Ok(())
    }

    fn number(&mut self) {
        while self.i < self.b.len()
            && (self.b[self.i].is_ascii_alphanumeric() || matches!(self.b[self.i], b'_' | b'.'))
        {
            self.i += 1;
        }
        self.prev = Prev::Operand;
    }

    /// The end of a regular-expression literal starting at `start` (its `/`), flags included,
    /// if one ends on this line.
    fn regex_end(&self, start: usize) -> Option<usize> {
        let b = self.b;
        let mut i = start + 1;
        let mut class = false;
        while i < b.len() {
            if is_line_terminator_at(b, i) > 0 {
                return None;
            }
            match b[i] {
                b'\\' => {
                    if b.get(i + 1).is_none() || is_line_terminator_at(b, i + 1) > 0 {
                        return None;
                    }
                    i += 2;
                    continue;
                }
                b'[' => class = true,
                b']' => class = false,
                b'/' if !class => {
                    i += 1;
                    while i < b.len() && is_ident_byte(b[i]) && b[i] != b'\\' {
                        i += 1;
                    }
                    return Some(i);
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    fn slash(&mut self) -> Result<(), Refusal> {
        match self.b.get(self.i + 1) {
            Some(b'/') => {
                self.skip_line();
                return Ok(());
            }
            Some(b'*') => {
                let body = &self.b[self.i + 2..];
                let len = body.windows(2).position(|w| w == b"*/");
                let end = len.map_or(self.b.len(), |n| self.i + 2 + n + 2);
                if (self.i..end).any(|j| is_line_terminator_at(self.b, j) > 0) {
                    self.newline = true;
                }
                self.i = end;
                return Ok(());
            }
            _ => {}
        }
        self.token_start(None);
        match self.prev {
            Prev::Operator => {
                match self.regex_end(self.i) {
                    Some(end) => self.i = end,
                    None => self.skip_line(), // unterminated: the parser reports it
                }
                self.prev = Prev::Operand;
                Ok(())
            }
            Prev::Operand => self.division(),
            Prev::Either => {
                let Some(end) = self.regex_end(self.i) else {
                    return self.division();
                };
                let body = &self.b[self.i + 1..end];
                let diverges = body.iter().any(|&c| matches!(c, b'\'' | b'"' | b'`'))
                    || body.windows(2).any(|w| w == b"/*" || w == b"//");
                if diverges {
                    return Err(Refusal::AmbiguousSlash { offset: self.i });
                }
                // Count the division reading, without letting its closers lower the depth the
                // regular-expression reading keeps.
                self.floor = Some((self.stack.len(), end));
                self.division()
            }
        }
    }

    fn division(&mut self) -> Result<(), Refusal> {
        self.i += 1;
        if self.b.get(self.i) == Some(&b'=') {
            self.i += 1;
        }
        self.prev = Prev::Operator;
        self.count(1)
    }

    fn word(&mut self) -> Result<(), Refusal> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() && is_ident_byte(self.b[self.i]) {
            if self.b[self.i] == b'\\' {
                self.i += 1; // \uXXXX: the escaped character belongs to the word
            }
            self.i += 1;
        }
        let end = self.i.min(self.b.len());
        let word = std::str::from_utf8(&self.b[start..end]).unwrap_or("");
        let property = std::mem::take(&mut self.after_dot);
        self.token_start(Some(word));
        if property {
            self.prev = Prev::Operand;
            return Ok(());
        }
        match word {
            "if" | "while" | "for" | "with" | "switch" | "catch" => {
                self.pending_head = true;
                self.prev = Prev::Operator;
                self.stmt(1)
            }
            "else" | "do" | "try" | "finally" => {
                self.prev = Prev::Operator;
                self.stmt(1)?;
                self.block_next = true;
                Ok(())
            }
            "this" | "super" | "null" | "true" | "false" => {
                self.prev = Prev::Operand;
                Ok(())
            }
            _ => {
                if COUNTED_KEYWORDS.contains(&word) {
                    self.count(1)?;
                }
                self.prev = if CONTEXTUAL.contains(&word) {
                    Prev::Either
                } else if KEYWORDS_TAKING_OPERAND.contains(&word) {
                    Prev::Operator
                } else {
                    Prev::Operand
                };
                Ok(())
            }
        }
    }

    fn stmt(&mut self, n: u32) -> Result<(), Refusal> {
        self.top().stmt = self.top().stmt.saturating_add(n);
        self.grow(u64::from(n))
    }

    fn punctuator(&mut self) -> Result<(), Refusal> {
        self.token_start(None);
        let b = self.b;
        let c = b[self.i];
        let next = b.get(self.i + 1).copied();
        let run = |ch: u8| b[self.i..].iter().take_while(|&&x| x == ch).count();
        match c {
            b'=' if next == Some(b'>') => {
                self.i += 2;
                self.prev = Prev::Operator;
                self.count(1)
            }
            b'<' => {
                let n = run(b'<');
                self.i += n;
                if b.get(self.i) == Some(&b'=') {
                    self.i += 1;
                    self.prev = Prev::Operator;
                    return self.count(1);
                }
                // Type arguments nest one level per `<`; as comparisons they cost nothing more.
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                self.top().angle = self.top().angle.saturating_add(n);
                self.prev = Prev::Operator;
                self.grow(u64::from(n))
            }
            b'>' => {
                let n = run(b'>');
                self.i += n;
                if b.get(self.i) == Some(&b'=') {
                    self.i += 1;
                }
                let top = self.top();
                let closed = top.angle.min(u32::try_from(n).unwrap_or(u32::MAX));
                top.angle -= closed;
                self.total -= u64::from(closed);
                self.prev = Prev::Operator;
                self.count(1)
            }
            b'!' => {
                self.i += 1;
                if b.get(self.i) == Some(&b'=') {
                    self.i += 1 + usize::from(b.get(self.i + 1) == Some(&b'='));
                    self.prev = Prev::Operator;
                    return self.count(1);
                }
                match self.prev {
                    Prev::Operand => Ok(()), // TypeScript's non-null assertion `x!`
                    Prev::Either => self.count(1),
                    Prev::Operator => self.count(1),
                }
            }
            b'+' | b'-' if next == Some(c) => {
                self.i += 2;
                if self.prev == Prev::Operand {
                    // Postfix, or prefix after a line break: only the parser knows.
                    self.prev = Prev::Either;
                    Ok(())
                } else {
                    self.prev = Prev::Operator;
                    self.count(1)
                }
            }
            b'?' => {
                self.i += 1;
                if next == Some(b'.') && !b.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                    self.after_dot = true;
                    self.prev = Prev::Operator;
                    return Ok(());
                }
                while self.i < b.len() && matches!(b[self.i], b'?' | b'=') {
                    self.i += 1;
                }
                self.prev = Prev::Operator;
                self.count(1)
            }
            b'@' => {
                self.i += 1;
                self.prev = Prev::Operator;
                Ok(())
            }
            _ => {
                // Any other operator (`=`, `==`, `+=`, `*`, `**`, `&&`, `:`, `~`, ...): one level.
                let start = self.i;
                while self.i < b.len()
                    && matches!(
                        b[self.i],
                        b'=' | b'*' | b'%' | b'&' | b'|' | b'^' | b'+' | b'-' | b':' | b'~'
                    )
                    && (self.i == start || b[self.i] == b'=' || b[self.i] == b[start])
                {
                    self.i += 1;
                }
                if self.i == start {
                    self.i += 1; // a character no token starts with: the parser reports it
                }
                self.prev = Prev::Operator;
                self.count(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(src: &str, max: u32) -> bool {
        check(src, max).is_ok()
    }

    #[test]
    fn nested_brackets_are_counted_and_closing_them_gives_the_depth_back() {
        let deep = format!("x = {}1{};", "(".repeat(100), ")".repeat(100));
        assert!(!depth_ok(&deep, 50));
        assert!(depth_ok(&deep, 200));
        let wide: String = (0..10_000).map(|_| "f((a), [b], {c: 1});\n").collect();
        assert!(depth_ok(&wide, 20), "siblings do not add up");
        let tpl = format!("x = {}1{};", "`${".repeat(100), "}`".repeat(100));
        assert!(!depth_ok(&tpl, 50));
    }

    #[test]
    fn operator_chains_count_until_a_comma_semicolon_or_statement_end() {
        for chain in [
            "!", "- ", "a = ", "a ? b : ", "a => ", "typeof ", "await ", "1 + ",
        ] {
            let src = format!("x = {}1;", chain.repeat(300));
            assert!(!depth_ok(&src, 200), "{chain}");
        }
        let statements: String = (0..5000)
            .map(|i| format!("let a{i} = b + c * d;\n"))
            .collect();
        assert!(depth_ok(&statements, 20));
        let asi: String = (0..5000).map(|i| format!("const a{i} = b + c\n")).collect();
        assert!(
            depth_ok(&asi, 20),
            "line breaks that end statements end the count"
        );
        let args: String = format!(
            "f({});",
            (0..5000)
                .map(|i| format!("a{i} = 1"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(depth_ok(&args, 20));
    }

    #[test]
    fn unbraced_statements_and_else_chains_count() {
        let ifs = format!("{}x;", "if (a) ".repeat(300));
        assert!(!depth_ok(&ifs, 200));
        let chain = format!("if (a) x; {}", "else if (a) x; ".repeat(300));
        assert!(!depth_ok(&chain, 200));
        let braced: String = (0..5000)
            .map(|_| "if (a) { x(); } else { y(); }\n")
            .collect();
        assert!(
            depth_ok(&braced, 20),
            "complete if statements end their count"
        );
    }

    #[test]
    fn type_arguments_count_until_closed() {
        let deep = format!("type T = {}number{};", "A<".repeat(300), ">".repeat(300));
        assert!(!depth_ok(&deep, 200));
        let wide: String = (0..5000)
            .map(|i| format!("let m{i}: Map<string, Array<T>> = x;\n"))
            .collect();
        assert!(depth_ok(&wide, 20));
        let comma = format!("let t: {}number;", "A<x, ".repeat(300));
        assert!(
            !depth_ok(&comma, 200),
            "commas inside type arguments do not end them"
        );
    }

    #[test]
    fn strings_comments_templates_and_regexes_hide_nothing_real() {
        let quoted = format!(
            "x = \"{}\"; y = '{}'; // {}\n/* {} */",
            "(".repeat(500),
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500)
        );
        assert!(depth_ok(&quoted, 20));
        let regex = format!(
            "x = /{}/g.test(s); if (a) /[(]{}/.test(s);",
            "\\(".repeat(500),
            "\\(".repeat(500)
        );
        assert!(depth_ok(&regex, 20));
        let division = format!("x = (a) / {}1{} / 2;", "(".repeat(300), ")".repeat(300));
        assert!(
            !depth_ok(&division, 200),
            "a division after `)` is code, not a regex"
        );
    }

    #[test]
    fn an_ambiguous_slash_counts_both_readings_or_is_refused() {
        // After `}`, the parser alone knows: both readings are counted.
        let both = format!("x = {{}} / {}1{} / 2;", "(".repeat(300), ")".repeat(300));
        assert!(!depth_ok(&both, 200));
        let closers = format!(
            "{}{{}} /{}/ {}x{}",
            "(".repeat(100),
            ")".repeat(100),
            "(".repeat(150),
            ")".repeat(250)
        );
        assert!(
            !depth_ok(&closers, 200),
            "closers inside the would-be regex do not lower the depth"
        );
        assert!(matches!(
            check("{} / \" / 1; ((((\"", 100),
            Err(Refusal::AmbiguousSlash { .. })
        ));
    }
}
