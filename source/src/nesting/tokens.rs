//! The scan's steps for words (identifiers and keywords, which may open a recursion level or a
//! statement nested without braces) and punctuators (brackets, operators, `,` and `;`).
//! Guarantees: each step advances past one token and counts what it opens; counts drop only
//! where the module above says. Trusts: the lexing steps (`lex.rs`).

use super::*;

impl Scan<'_> {
    pub(super) fn word(&mut self) -> Result<(), Refusal> {
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

    pub(super) fn stmt(&mut self, n: u32) -> Result<(), Refusal> {
        self.top().stmt = self.top().stmt.saturating_add(n);
        self.grow(u64::from(n))
    }

    pub(super) fn punctuator(&mut self) -> Result<(), Refusal> {
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
