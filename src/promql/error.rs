//! Parse errors with the position they refer to.
//!
//! Mirrors upstream `ParseErr` (promql/parser/parse.go): the message text follows upstream
//! wording so that test scripts' expected messages match, and `Display` prints
//! `line:column: parse error: message` like `ParseErr.Error()`. Columns count bytes from 1,
//! as upstream's `PositionRange.StartPosInput` does.

use std::fmt;

/// Where in the query an error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Byte offset from the start of the query.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (bytes since the last newline, plus one).
    pub column: usize,
}

impl Position {
    /// Computes line and column of `offset` within `input`.
    pub fn at(input: &str, offset: usize) -> Position {
        let offset = offset.min(input.len());
        let before = input.as_bytes().get(..offset).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        Position {
            offset,
            line,
            column: offset - line_start + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A syntax or type error in a PromQL query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{position}: parse error: {message}")]
pub struct ParseError {
    /// Where the offending token or expression starts.
    pub position: Position,
    /// What is wrong, in upstream's words (e.g. `unexpected end of input`).
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte `offset` of `input`.
    pub fn new(input: &str, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            position: Position::at(input, offset),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_columns() {
        let q = "sum(\n  rate(x[5m]\n)";
        assert_eq!(
            Position::at(q, 0),
            Position {
                offset: 0,
                line: 1,
                column: 1
            }
        );
        let p = Position::at(q, 7);
        assert_eq!((p.line, p.column), (2, 3));
        // Past the end clamps.
        assert_eq!(Position::at(q, 1000).offset, q.len());
    }

    #[test]
    fn display_matches_upstream_format() {
        let e = ParseError::new("foo bar", 4, "unexpected identifier \"bar\"");
        assert_eq!(
            e.to_string(),
            "1:5: parse error: unexpected identifier \"bar\""
        );
    }
}
