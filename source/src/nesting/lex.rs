//! The scan's lexing of what carries no nesting of its own: comments, string and numeric
//! literals, template literals (whose substitutions nest), and the `/` that starts a regular
//! expression or divides. Guarantees: each step advances past what it lexed and never past the
//! end of the source; an ambiguous `/` is refused (see the module above). Trusts: nothing.

use super::*;

impl Scan<'_> {
    pub(super) fn skip_line(&mut self) {
        while self.i < self.b.len() && is_line_terminator_at(self.b, self.i) == 0 {
            self.i += 1;
        }
    }

    pub(super) fn skip_string(&mut self, quote: u8) {
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
    pub(super) fn template(&mut self) -> Result<(), Refusal> {
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

    pub(super) fn number(&mut self) {
        while self.i < self.b.len()
            && (self.b[self.i].is_ascii_alphanumeric() || matches!(self.b[self.i], b'_' | b'.'))
        {
            self.i += 1;
        }
        self.prev = Prev::Operand;
    }

    /// The end of a regular-expression literal starting at `start` (its `/`), flags included,
    /// if one ends on this line.
    pub(super) fn regex_end(&self, start: usize) -> Option<usize> {
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

    pub(super) fn slash(&mut self) -> Result<(), Refusal> {
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

    pub(super) fn division(&mut self) -> Result<(), Refusal> {
        self.i += 1;
        if self.b.get(self.i) == Some(&b'=') {
            self.i += 1;
        }
        self.prev = Prev::Operator;
        self.count(1)
    }
}
