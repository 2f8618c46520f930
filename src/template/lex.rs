//! The lexer of Go's `text/template` (`text/template/parse/lex.go`): text outside actions,
//! and inside `{{ }}` the tokens of the action language. Trim markers (`{{- ` and ` -}}`)
//! remove the white space beside an action; comments (`{{/* */}}`) produce no token.

use super::TemplateError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    /// `{{`, with the byte offset of the action for error positions.
    Open,
    Close,
    Ident(String),
    /// `.Name` (one field segment; chains are consecutive tokens).
    Field(String),
    /// `$` or `$name`.
    Var(String),
    Dot,
    Str(String),
    /// A number constant as written.
    Number(String),
    Char(char),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
    // Keywords.
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

/// A token and the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

pub(crate) fn lex(name: &str, src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut l = Lexer {
        name,
        src,
        b: src.as_bytes(),
        pos: 0,
        out: Vec::new(),
    };
    l.run()?;
    Ok(l.out)
}

struct Lexer<'a> {
    name: &'a str,
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn line_col(&self, at: usize) -> (usize, usize) {
        let before = &self.src[..at.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = at - before.rfind('\n').map_or(0, |i| i + 1);
        (line, col)
    }

    fn err(&self, at: usize, msg: impl Into<String>) -> TemplateError {
        let (line, _) = self.line_col(at);
        TemplateError::Parse {
            name: self.name.to_string(),
            line,
            msg: msg.into(),
        }
    }

    fn push(&mut self, tok: Tok, at: usize) {
        let (line, col) = self.line_col(at);
        self.out.push(Token { tok, line, col });
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        while self.pos < self.b.len() {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                self.push(Tok::Text(rest.to_string()), self.pos);
                self.pos = self.b.len();
                break;
            };
            let text_start = self.pos;
            let action = self.pos + open;
            let mut text = &self.src[text_start..action];
            // `{{- ` trims the white space before the action.
            let left_trim = self.src[action + 2..].starts_with("- ")
                || self.src[action + 2..].starts_with("-\t")
                || self.src[action + 2..].starts_with("-\n")
                || self.src[action + 2..].starts_with("-\r");
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\n', '\r']);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_string()), text_start);
            }
            self.pos = action + 2 + if left_trim { 2 } else { 0 };
            // A comment takes the whole action.
            let after = self.src[self.pos..].trim_start_matches([' ', '\t', '\n', '\r']);
            if after.starts_with("/*") && (left_trim || self.pos == action + 2) {
                let cstart = self.b.len() - after.len();
                let Some(end) = self.src[cstart..].find("*/") else {
                    return Err(self.err(action, "unclosed comment"));
                };
                let mut p = cstart + end + 2;
                let tail = &self.src[p..];
                let (right_trim, close_len) = if tail.starts_with(" -}}") {
                    (true, 4)
                } else if tail.starts_with("}}") {
                    (false, 2)
                } else {
                    return Err(self.err(action, "comment ends before closing delimiter"));
                };
                p += close_len;
                if right_trim {
                    let t = &self.src[p..];
                    p += t.len() - t.trim_start_matches([' ', '\t', '\n', '\r']).len();
                }
                self.pos = p;
                continue;
            }
            self.push(Tok::Open, action);
            self.lex_action(action)?;
        }
        Ok(())
    }

    /// Lexes the inside of an action up to and including its `}}`.
    fn lex_action(&mut self, action: usize) -> Result<(), TemplateError> {
        let mut parens = 0i32;
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.err(action, "unclosed action"));
            };
            let at = self.pos;
            let rest = &self.src[self.pos..];
            // Right delimiter, possibly trimming.
            if rest.starts_with(" -}}")
                || rest.starts_with("\t-}}")
                || rest.starts_with("\n-}}")
                || rest.starts_with("\r-}}")
            {
                if parens > 0 {
                    return Err(self.err(at, "unclosed left paren"));
                }
                self.push(Tok::Close, at);
                self.pos += 4;
                let t = &self.src[self.pos..];
                self.pos += t.len() - t.trim_start_matches([' ', '\t', '\n', '\r']).len();
                return Ok(());
            }
            if rest.starts_with("}}") {
                if parens > 0 {
                    return Err(self.err(at, "unclosed left paren"));
                }
                self.push(Tok::Close, at);
                self.pos += 2;
                return Ok(());
            }
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'|' => {
                    self.push(Tok::Pipe, at);
                    self.pos += 1;
                }
                b'(' => {
                    parens += 1;
                    self.push(Tok::LParen, at);
                    self.pos += 1;
                }
                b')' => {
                    parens -= 1;
                    if parens < 0 {
                        return Err(self.err(at, "unexpected right paren"));
                    }
                    self.push(Tok::RParen, at);
                    self.pos += 1;
                }
                b',' => {
                    self.push(Tok::Comma, at);
                    self.pos += 1;
                }
                b':' => {
                    if self.b.get(self.pos + 1) != Some(&b'=') {
                        return Err(self.err(at, "expected :="));
                    }
                    self.push(Tok::Declare, at);
                    self.pos += 2;
                }
                b'=' => {
                    self.push(Tok::Assign, at);
                    self.pos += 1;
                }
                b'"' => {
                    let s = self.quoted(at)?;
                    self.push(Tok::Str(s), at);
                }
                b'`' => {
                    let Some(end) = self.src[at + 1..].find('`') else {
                        return Err(self.err(at, "unterminated raw quoted string"));
                    };
                    let s = self.src[at + 1..at + 1 + end].to_string();
                    self.pos = at + 2 + end;
                    self.push(Tok::Str(s), at);
                }
                b'\'' => {
                    let ch = self.char_const(at)?;
                    self.push(Tok::Char(ch), at);
                }
                b'$' => {
                    let n = self.ident_len(at + 1);
                    let name = self.src[at..at + 1 + n].to_string();
                    self.pos = at + 1 + n;
                    self.push(Tok::Var(name), at);
                }
                b'.' => {
                    let next = self.b.get(at + 1).copied().unwrap_or(0);
                    if next.is_ascii_digit() {
                        self.number(at)?;
                    } else {
                        let n = self.ident_len(at + 1);
                        self.pos = at + 1 + n;
                        if n == 0 {
                            self.push(Tok::Dot, at);
                        } else {
                            self.push(Tok::Field(self.src[at + 1..at + 1 + n].to_string()), at);
                        }
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => self.number(at)?,
                _ if (c == b'_' || c.is_ascii_alphabetic() || c >= 0x80)
                    && self.ident_len(at) > 0 =>
                {
                    let n = self.ident_len(at);
                    let word = &self.src[at..at + n];
                    self.pos = at + n;
                    let tok = match word {
                        "if" => Tok::If,
                        "else" => Tok::Else,
                        "end" => Tok::End,
                        "range" => Tok::Range,
                        "with" => Tok::With,
                        "define" => Tok::Define,
                        "template" => Tok::Template,
                        "block" => Tok::Block,
                        "break" => Tok::Break,
                        "continue" => Tok::Continue,
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word.to_string()),
                    };
                    self.push(tok, at);
                }
                _ => {
                    let ch = self.src[at..].chars().next().unwrap_or('?');
                    return Err(self.err(at, format!("unexpected {ch:?} in command")));
                }
            }
        }
    }

    fn ident_len(&self, from: usize) -> usize {
        self.src[from..]
            .char_indices()
            .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
            .map_or(self.src.len() - from, |(i, _)| i)
    }

    fn number(&mut self, at: usize) -> Result<(), TemplateError> {
        let n = self.src[at..]
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphanumeric()
                    || c == '.'
                    || c == '_'
                    || ((c == '+' || c == '-')
                        && (i == 0 || {
                            let prev = self.b[at + i - 1];
                            matches!(prev, b'e' | b'E' | b'p' | b'P')
                        })))
            })
            .map_or(self.src.len() - at, |(i, _)| i);
        let text = &self.src[at..at + n];
        if text == "+" || text == "-" {
            return Err(self.err(at, format!("bad number syntax: {text:?}")));
        }
        self.pos = at + n;
        self.push(Tok::Number(text.to_string()), at);
        Ok(())
    }

    fn quoted(&mut self, at: usize) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut it = self.src[at + 1..].char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos = at + 1 + i + 1;
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = it.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                (0..len).filter_map(|_| it.next().map(|x| x.1)).collect();
                            let v = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err(at, "invalid escape in quoted string"))?;
                            out.push(v);
                        }
                        _ => return Err(self.err(at, "invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err(at, "unterminated quoted string"))
    }

    fn char_const(&mut self, at: usize) -> Result<char, TemplateError> {
        let rest = &self.src[at + 1..];
        let mut chars = rest.char_indices();
        let (c, end) = match chars.next() {
            Some((_, '\\')) => {
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| self.err(at, "unterminated character constant"))?;
                let c = match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '\'' => '\'',
                    _ => return Err(self.err(at, "invalid escape in character constant")),
                };
                (c, chars.next())
            }
            Some((_, c)) => (c, chars.next()),
            None => return Err(self.err(at, "unterminated character constant")),
        };
        match end {
            Some((i, '\'')) => {
                self.pos = at + 1 + i + 1;
                Ok(c)
            }
            _ => Err(self.err(at, "unterminated character constant")),
        }
    }
}
