//! The PromQL editor: a small multi-line text buffer with readline keys, syntax
//! highlighting from the PromQL lexer and the parse error of the current text.
//!
//! The cursor is a byte offset that always sits on a char boundary. Highlighting runs the
//! real lexer ([`crate::promql::lexer::tokenize`]) and gives each identifier a meaning from
//! its neighbours, the way upstream's grammar does (a word before `(` is a function or an
//! aggregation, a word inside `{}` before a matcher operator is a label name...). The
//! parse error comes from [`crate::promql::parse_expr`] and is drawn at its byte offset.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::promql::lexer::{tokenize, TokenKind};
use crate::promql::{get_function, ParseError};
use crate::tui::view::SyntaxStyles;

/// PromQL's aggregation operators (highlighted as keywords, completed with their shape).
pub const AGGREGATIONS: &[&str] = &[
    "avg",
    "bottomk",
    "count",
    "count_values",
    "group",
    "limit_ratio",
    "limitk",
    "max",
    "min",
    "quantile",
    "stddev",
    "stdvar",
    "sum",
    "topk",
];

/// Keywords that are not aggregations: grouping modifiers, set operators, `offset`, `bool`.
pub const KEYWORDS: &[&str] = &[
    "and",
    "atan2",
    "bool",
    "by",
    "group_left",
    "group_right",
    "ignoring",
    "offset",
    "on",
    "or",
    "unless",
    "without",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The query being edited.
#[derive(Clone, Debug, Default)]
pub struct Editor {
    text: String,
    /// Byte offset of the cursor in `text`, on a char boundary.
    cursor: usize,
}

impl Editor {
    /// The whole query text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor's byte offset.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text and puts the cursor at its end.
    pub fn set_text(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
    }

    /// Inserts `s` at the cursor.
    pub fn insert(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
    }

    /// Replaces the bytes `start..self.cursor` with `s` (accepting a completion).
    pub fn replace_before_cursor(&mut self, start: usize, s: &str) {
        let start = start.min(self.cursor);
        self.text.replace_range(start..self.cursor, s);
        self.cursor = start + s.len();
    }

    fn prev_boundary(&self, at: usize) -> usize {
        self.text[..at]
            .char_indices()
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8())
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary(self.cursor);
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    /// Start of the cursor's line (Ctrl-A, Home).
    pub fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    /// End of the cursor's line (Ctrl-E, End).
    pub fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            let p = self.prev_boundary(self.cursor);
            self.text.replace_range(p..self.cursor, "");
            self.cursor = p;
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            let n = self.next_boundary(self.cursor);
            self.text.replace_range(self.cursor..n, "");
        }
    }

    /// Ctrl-W: deletes the word before the cursor and the blanks after it, as a shell does.
    pub fn delete_word_back(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let word_start = trimmed
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        // Deleting a lone punctuation character when there is no word before the cursor.
        let start = if word_start == trimmed.len() && !trimmed.is_empty() {
            self.prev_boundary(trimmed.len())
        } else {
            word_start
        };
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Ctrl-U: deletes from the start of the line to the cursor.
    pub fn delete_to_line_start(&mut self) {
        let s = self.line_start();
        self.text.replace_range(s..self.cursor, "");
        self.cursor = s;
    }

    /// Ctrl-K: deletes from the cursor to the end of the line.
    pub fn delete_to_line_end(&mut self) {
        let e = self.line_end();
        self.text.replace_range(self.cursor..e, "");
    }

    /// Number of lines (at least one).
    pub fn line_count(&self) -> usize {
        self.text.split('\n').count()
    }

    /// (line, column in chars) of the cursor, both from 0.
    pub fn cursor_line_col(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count();
        let col = before[self.line_start()..].chars().count();
        (line, col)
    }

    /// Moves the cursor one line up, keeping its column; false on the first line.
    pub fn up(&mut self) -> bool {
        let (line, col) = self.cursor_line_col();
        if line == 0 {
            return false;
        }
        self.goto_line_col(line - 1, col);
        true
    }

    /// Moves the cursor one line down, keeping its column; false on the last line.
    pub fn down(&mut self) -> bool {
        let (line, col) = self.cursor_line_col();
        if line + 1 >= self.line_count() {
            return false;
        }
        self.goto_line_col(line + 1, col);
        true
    }

    fn goto_line_col(&mut self, line: usize, col: usize) {
        let mut off = 0;
        for (i, l) in self.text.split('\n').enumerate() {
            if i == line {
                let within = l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
                self.cursor = off + within;
                return;
            }
            off += l.len() + 1;
        }
    }
}

/// A character of a PromQL identifier (metric names may hold `:`).
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// What a stretch of the query is, for highlighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenClass {
    Keyword,
    Function,
    Metric,
    Label,
    String,
    Number,
    Duration,
    Operator,
    Comment,
    Plain,
}

impl TokenClass {
    fn style(self, s: &SyntaxStyles, plain: Style) -> Style {
        match self {
            TokenClass::Keyword => s.keyword,
            TokenClass::Function => s.function,
            TokenClass::Metric => s.metric,
            TokenClass::Label => s.label,
            TokenClass::String => s.string,
            TokenClass::Number => s.number,
            TokenClass::Duration => s.duration,
            TokenClass::Operator => s.operator,
            TokenClass::Comment => s.comment,
            TokenClass::Plain => plain,
        }
    }
}

/// Classifies the query into byte ranges. Ranges cover every non-blank byte the lexer
/// reached; text after a lexing error (an unterminated string, say) is classed from the
/// error's start: a quote starts a string, anything else is plain.
pub fn classify(text: &str) -> Vec<(usize, usize, TokenClass)> {
    let tokens = tokenize(text);
    let mut out = Vec::with_capacity(tokens.len() + 4);
    let mut brace_depth = 0usize;
    // Paren depth at which a label list (`by (`) is open.
    let mut label_list: Option<usize> = None;
    let mut paren_depth = 0usize;
    let mut prev_end = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        // Comments are skipped by the lexer: find them in the gap before this token.
        comments_in(text, prev_end, t.start, &mut out);
        prev_end = t.end;
        let next = tokens.get(i + 1).map(|n| &n.kind);
        let class = match &t.kind {
            TokenKind::Number => TokenClass::Number,
            TokenKind::Duration => TokenClass::Duration,
            TokenKind::String => TokenClass::String,
            TokenKind::Identifier => {
                let word = &text[t.start..t.end];
                let lower = word.to_ascii_lowercase();
                if brace_depth > 0 || label_list.is_some() {
                    TokenClass::Label
                } else if matches!(next, Some(TokenKind::LeftParen)) {
                    if AGGREGATIONS.contains(&lower.as_str())
                        || LABEL_LIST_KEYWORDS.contains(&lower.as_str())
                    {
                        TokenClass::Keyword
                    } else if get_function(word).is_some() {
                        TokenClass::Function
                    } else {
                        TokenClass::Metric
                    }
                } else if KEYWORDS.contains(&lower.as_str())
                    || (AGGREGATIONS.contains(&lower.as_str())
                        && matches!(next, Some(TokenKind::Identifier)))
                {
                    TokenClass::Keyword
                } else if lower == "inf" || lower == "nan" {
                    TokenClass::Number
                } else {
                    TokenClass::Metric
                }
            }
            TokenKind::LeftBrace => {
                brace_depth += 1;
                TokenClass::Plain
            }
            TokenKind::RightBrace => {
                brace_depth = brace_depth.saturating_sub(1);
                TokenClass::Plain
            }
            TokenKind::LeftParen => {
                paren_depth += 1;
                if label_list.is_none() && i > 0 {
                    let p = &tokens[i - 1];
                    if p.kind == TokenKind::Identifier
                        && LABEL_LIST_KEYWORDS
                            .contains(&text[p.start..p.end].to_ascii_lowercase().as_str())
                    {
                        label_list = Some(paren_depth);
                    }
                }
                TokenClass::Plain
            }
            TokenKind::RightParen => {
                if label_list == Some(paren_depth) {
                    label_list = None;
                }
                paren_depth = paren_depth.saturating_sub(1);
                TokenClass::Plain
            }
            TokenKind::Comma
            | TokenKind::LeftBracket
            | TokenKind::RightBracket
            | TokenKind::Colon => TokenClass::Plain,
            TokenKind::Eof => break,
            TokenKind::Error(_) => {
                let rest = &text[t.start..];
                let class = if rest.starts_with(['"', '\'', '`']) {
                    TokenClass::String
                } else {
                    TokenClass::Plain
                };
                out.push((t.start, text.len(), class));
                break;
            }
            _ => TokenClass::Operator,
        };
        if t.end > t.start {
            out.push((t.start, t.end, class));
        }
    }
    out
}

fn comments_in(text: &str, from: usize, to: usize, out: &mut Vec<(usize, usize, TokenClass)>) {
    let gap = match text.get(from..to) {
        Some(g) => g,
        None => return,
    };
    let mut off = 0;
    while let Some(h) = gap[off..].find('#') {
        let s = off + h;
        let e = gap[s..].find('\n').map_or(gap.len(), |n| s + n);
        out.push((from + s, from + e, TokenClass::Comment));
        off = e;
    }
}

/// The query as styled lines, one per text line; the parse error's span (if any) gets
/// the error style added (underlined), and a space is appended when the error is at the
/// end of the input so it stays visible.
pub fn highlight(
    text: &str,
    syntax: &SyntaxStyles,
    plain: Style,
    error: Option<&ParseError>,
) -> Vec<Line<'static>> {
    let classes = classify(text);
    // Per byte class, then runs; queries are short so this stays cheap.
    let mut per_byte = vec![TokenClass::Plain; text.len()];
    for (s, e, c) in classes {
        for b in per_byte.iter_mut().take(e).skip(s) {
            *b = c;
        }
    }
    let err_span = error.map(|e| error_span(text, e.position.offset));
    let mut lines = Vec::new();
    let mut line_start = 0;
    for raw in text.split('\n') {
        let mut spans = Vec::new();
        let line_end = line_start + raw.len();
        let mut run_start = line_start;
        let style_at = |b: usize| {
            let mut st = per_byte
                .get(b)
                .copied()
                .unwrap_or(TokenClass::Plain)
                .style(syntax, plain);
            if let Some((es, ee)) = err_span {
                if b >= es && b < ee {
                    st = st.patch(syntax.error);
                }
            }
            st
        };
        for (off, _) in raw.char_indices() {
            let b = line_start + off;
            if b > run_start && style_at(b) != style_at(run_start) {
                spans.push(Span::styled(
                    text[run_start..b].to_string(),
                    style_at(run_start),
                ));
                run_start = b;
            }
        }
        if line_end > run_start {
            spans.push(Span::styled(
                text[run_start..line_end].to_string(),
                style_at(run_start),
            ));
        }
        if let Some((es, _)) = err_span {
            if es >= text.len() && line_end == text.len() {
                spans.push(Span::styled(" ", plain.patch(syntax.error)));
            }
        }
        lines.push(Line::from(spans));
        line_start = line_end + 1;
    }
    lines
}

/// The bytes an error at `offset` underlines: the word or token there, at least one char.
pub fn error_span(text: &str, offset: usize) -> (usize, usize) {
    if offset >= text.len() {
        return (text.len(), text.len() + 1);
    }
    let rest = &text[offset..];
    let first = rest.chars().next().map_or(1, char::len_utf8);
    let word = rest
        .char_indices()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(rest.len(), |(i, _)| i);
    (offset, offset + word.max(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(q: &str) -> Vec<(String, TokenClass)> {
        classify(q)
            .into_iter()
            .map(|(s, e, c)| (q[s..e].to_string(), c))
            .collect()
    }

    #[test]
    fn identifiers_get_their_meaning_from_position() {
        let c = classes(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.5 # hot"#);
        let find = |w: &str| c.iter().find(|(t, _)| t == w).map(|x| x.1);
        assert_eq!(find("sum"), Some(TokenClass::Keyword));
        assert_eq!(find("by"), Some(TokenClass::Keyword));
        assert_eq!(find("job"), Some(TokenClass::Label));
        assert_eq!(find("rate"), Some(TokenClass::Function));
        assert_eq!(find("http_requests_total"), Some(TokenClass::Metric));
        assert_eq!(find("code"), Some(TokenClass::Label));
        assert_eq!(find("\"5..\""), Some(TokenClass::String));
        assert_eq!(find("5m"), Some(TokenClass::Duration));
        assert_eq!(find("0.5"), Some(TokenClass::Number));
        assert_eq!(find(">"), Some(TokenClass::Operator));
        assert_eq!(find("# hot"), Some(TokenClass::Comment));
    }

    #[test]
    fn unterminated_string_is_still_a_string() {
        let c = classes(r#"up{job="api"#);
        assert_eq!(c.last().map(|x| x.1), Some(TokenClass::String));
        assert_eq!(c.last().map(|x| x.0.as_str()), Some("\"api"));
    }

    #[test]
    fn readline_keys_edit_the_buffer() {
        let mut e = Editor::default();
        e.set_text("rate(foo_total[5m])");
        e.delete_word_back();
        assert_eq!(e.text(), "rate(foo_total[5m]");
        e.delete_word_back();
        assert_eq!(e.text(), "rate(foo_total[5m");
        e.delete_word_back();
        assert_eq!(e.text(), "rate(foo_total[");
        e.home();
        assert_eq!(e.cursor(), 0);
        e.end();
        e.delete_to_line_start();
        assert_eq!(e.text(), "");
        e.insert("a\nbcd\nef");
        assert_eq!(e.cursor_line_col(), (2, 2));
        assert!(e.up());
        assert_eq!(e.cursor_line_col(), (1, 2));
        assert!(e.up());
        assert_eq!(e.cursor_line_col(), (0, 1));
        assert!(!e.up());
        assert!(e.down());
        e.delete_to_line_end();
        assert_eq!(e.text(), "a\nb\nef");
        e.left();
        e.backspace();
        assert_eq!(e.text(), "ab\nef");
        e.delete();
        assert_eq!(e.text(), "a\nef");
    }

    #[test]
    fn multibyte_text_keeps_char_boundaries() {
        let mut e = Editor::default();
        e.set_text("x{a=\"é\"}");
        e.left();
        e.left();
        e.backspace();
        assert_eq!(e.text(), "x{a=\"\"}");
        e.insert("ü");
        assert_eq!(e.text(), "x{a=\"ü\"}");
    }

    #[test]
    fn error_spans_cover_the_word_at_the_offset() {
        assert_eq!(error_span("foo bar", 4), (4, 7));
        assert_eq!(error_span("foo(", 4), (4, 5));
        assert_eq!(error_span("a + )", 4), (4, 5));
    }

    #[test]
    fn highlight_underlines_the_parse_error() {
        let q = "sum(rate(x[5m])";
        let err = crate::promql::parse_expr(q).unwrap_err();
        let syn = SyntaxStyles {
            error: Style::default().add_modifier(ratatui::style::Modifier::UNDERLINED),
            ..Default::default()
        };
        let lines = highlight(q, &syn, Style::default(), Some(&err));
        let last = lines[0].spans.last().unwrap();
        assert!(last
            .style
            .add_modifier
            .contains(ratatui::style::Modifier::UNDERLINED));
        let text: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert!(text.starts_with(q));
    }
}
