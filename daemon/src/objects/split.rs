//! Splits `sql.exec`'s text into its statements (`CREATE TABLE t (x); INSERT ...`), as SQLite's
//! own `sqlite3_complete` reads it: a `;` ends a statement unless it is inside a string, a quoted
//! name, a comment or a trigger's `BEGIN ... END` body. The same state machine as SQLite's
//! `complete.c`, in one pass.
//!
//! Guarantees: linear in the text; the pieces, in order, hold every byte of every statement
//! (pieces holding only spaces and comments are left out); an unterminated string, name or
//! comment ends the text (its piece goes to SQLite, which reports it). Trusts: nothing.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Semi,
    Space,
    Other,
    Explain,
    Create,
    Temp,
    Trigger,
    End,
}

/// `complete.c`'s transitions: [state][token], states 0 INVALID 1 START 2 NORMAL 3 EXPLAIN
/// 4 CREATE 5 TRIGGER 6 SEMI 7 END.
const TRANSITIONS: [[u8; 8]; 8] = [
    [1, 0, 2, 3, 4, 2, 2, 2],
    [1, 1, 2, 3, 4, 2, 2, 2],
    [1, 2, 2, 2, 2, 2, 2, 2],
    [1, 3, 3, 2, 4, 2, 2, 2],
    [1, 4, 2, 2, 2, 4, 5, 2],
    [6, 5, 5, 5, 5, 5, 5, 5],
    [6, 6, 5, 5, 5, 5, 5, 7],
    [1, 7, 5, 5, 5, 5, 5, 5],
];

fn index(t: Token) -> usize {
    match t {
        Token::Semi => 0,
        Token::Space => 1,
        Token::Other => 2,
        Token::Explain => 3,
        Token::Create => 4,
        Token::Temp => 5,
        Token::Trigger => 6,
        Token::End => 7,
    }
}

fn id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The statements of `sql`, in order, each without its `;`.
pub fn statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let (mut out, mut start, mut at, mut state) = (Vec::new(), 0usize, 0usize, 1u8);
    let mut has_text = false;
    let past = |from: usize, what: &[u8]| -> usize {
        // The index past the first `what` at or after `from` (the end when there is none).
        bytes[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map_or(bytes.len(), |i| from + i + what.len())
    };
    while at < bytes.len() {
        let b = bytes[at];
        let (token, next) = match b {
            b';' => (Token::Semi, at + 1),
            b' ' | b'\r' | b'\t' | b'\n' | 0x0c => (Token::Space, at + 1),
            b'/' if bytes.get(at + 1) == Some(&b'*') => (Token::Space, past(at + 2, b"*/")),
            b'-' if bytes.get(at + 1) == Some(&b'-') => (Token::Space, past(at + 2, b"\n")),
            b'[' => (Token::Other, past(at + 1, b"]")),
            b'`' | b'"' | b'\'' => (Token::Other, past(at + 1, &[b])),
            b if id_char(b) => {
                let mut end = at;
                while end < bytes.len() && id_char(bytes[end]) {
                    end += 1;
                }
                let word = sql[at..end].to_ascii_lowercase();
                let token = match word.as_str() {
                    "create" => Token::Create,
                    "trigger" => Token::Trigger,
                    "temp" | "temporary" => Token::Temp,
                    "end" => Token::End,
                    "explain" => Token::Explain,
                    _ => Token::Other,
                };
                (token, end)
            }
            _ => (Token::Other, at + 1),
        };
        state = TRANSITIONS[usize::from(state)][index(token)];
        if token == Token::Semi && state == 1 {
            if has_text {
                out.push(&sql[start..at]);
            }
            start = next;
            has_text = false;
        } else if token != Token::Space {
            has_text = true;
        }
        at = next;
    }
    if has_text {
        out.push(&sql[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn statements_split_where_sqlite_would() {
        assert_eq!(statements("SELECT 1"), ["SELECT 1"]);
        assert_eq!(statements("SELECT 1;"), ["SELECT 1"]);
        assert_eq!(
            statements("CREATE TABLE t (x); INSERT INTO t VALUES (';');  ;\n-- c;\nSELECT x FROM t /* ; */"),
            ["CREATE TABLE t (x)", " INSERT INTO t VALUES (';')", "\n-- c;\nSELECT x FROM t /* ; */"]
        );
        assert_eq!(statements("  ; -- only a comment\n"), Vec::<&str>::new());
        let trigger =
            "CREATE TEMP TRIGGER r AFTER INSERT ON t BEGIN UPDATE t SET x = 1; DELETE FROM u; END";
        assert_eq!(
            statements(&format!("{trigger}; SELECT 2")),
            [trigger, " SELECT 2"]
        );
        assert_eq!(
            statements("SELECT \"a;b\", [c;d], `e;f`; SELECT 'it''s;'"),
            ["SELECT \"a;b\", [c;d], `e;f`", " SELECT 'it''s;'"]
        );
        // Unterminated: the rest is one piece, for SQLite to refuse.
        assert_eq!(statements("SELECT 'x; SELECT 2"), ["SELECT 'x; SELECT 2"]);
        assert_eq!(statements("SELECT 1; /* open"), ["SELECT 1"]);
    }
}
