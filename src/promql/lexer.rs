//! Tokenizer for PromQL: turns the query text into tokens with byte spans.
//!
//! Mirrors upstream `promql/parser/lex.go`: numbers (decimal, hex `0x..`, exponents, `_`
//! digit separators, octal with a leading `0` as Go's `ParseInt(s, 0, 64)` reads it),
//! durations (`1h30m`, `5ms`), strings in `"`, `'` and `` ` `` quotes (Go escapes), identifiers
//! with `:` outside brackets, operators, and `#` comments (skipped). Keywords are not
//! recognised here: every word is an [`TokenKind::Identifier`] and the parser gives it a
//! meaning from its position, case-insensitively, the way upstream's grammar lets keywords be
//! metric names. The lexing of single tokens uses `nom` combinators.
//!
//! Invariant: the token list always ends with exactly one [`TokenKind::Eof`] or
//! [`TokenKind::Error`] token; an error token carries upstream's lexer message and stops
//! lexing, so the parser reports it only when it reaches that point (like upstream, where a
//! syntax error earlier in the query wins).

use nom::{
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_while, take_while1},
    character::complete::{char as nom_char, one_of, satisfy},
    combinator::{opt, recognize},
    multi::many1,
    sequence::{pair, tuple},
    IResult,
};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// A number literal (`1`, `1.5e3`, `0x1f`, `1_000`).
    Number,
    /// A duration literal (`5m`, `1h30m`).
    Duration,
    /// A quoted string; the text includes the quotes.
    String,
    /// A word: metric name, label name, function name or keyword.
    Identifier,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    /// `:` inside brackets (subquery separator).
    Colon,
    /// `@`.
    At,
    /// `=` (label matcher).
    Assign,
    /// `=~`.
    EqlRegex,
    /// `!~`.
    NeqRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`.
    Eql,
    /// `</` (histogram trim upper).
    TrimUpper,
    /// `>/` (histogram trim lower).
    TrimLower,
    /// `!=`.
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    /// End of input.
    Eof,
    /// A lexing error; the message is upstream's.
    Error(String),
}

/// One token: its kind and byte span in the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The kind.
    pub kind: TokenKind,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alphanumeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// Digits with single `_` separators between them (`1_000`).
fn digits_with_separators(radix: u32) -> impl Fn(&str) -> IResult<&str, &str> {
    move |i| {
        recognize(pair(
            take_while1(move |c: char| c.is_digit(radix)),
            nom::multi::many0(pair(
                nom_char('_'),
                take_while1(move |c: char| c.is_digit(radix)),
            )),
        ))(i)
    }
}

/// `0x1f`, `0X_ff`.
fn hex_number(i: &str) -> IResult<&str, &str> {
    recognize(tuple((
        tag_no_case("0x"),
        opt(nom_char('_')),
        digits_with_separators(16),
    )))(i)
}

/// `12`, `1.5`, `.5`, `2.`, `1e-3`, `1_000.5`.
fn decimal_number(i: &str) -> IResult<&str, &str> {
    let mantissa = alt((
        recognize(tuple((
            digits_with_separators(10),
            opt(pair(nom_char('.'), opt(digits_with_separators(10)))),
        ))),
        recognize(pair(nom_char('.'), digits_with_separators(10))),
    ));
    recognize(pair(
        mantissa,
        opt(tuple((
            one_of("eE"),
            opt(one_of("+-")),
            digits_with_separators(10),
        ))),
    ))(i)
}

/// `5m`, `1h30m`, `100ms`, `2w`.
fn duration(i: &str) -> IResult<&str, &str> {
    recognize(many1(pair(
        take_while1(|c: char| c.is_ascii_digit()),
        alt((
            tag("ms"),
            tag("s"),
            tag("m"),
            tag("h"),
            tag("d"),
            tag("w"),
            tag("y"),
        )),
    )))(i)
}

/// A word; `:` is allowed (metric names) unless `colon` is false.
fn identifier(colon: bool) -> impl Fn(&str) -> IResult<&str, &str> {
    move |i| {
        recognize(pair(
            satisfy(move |c| is_alpha(c) || (colon && c == ':')),
            take_while(move |c: char| is_alphanumeric(c) || (colon && c == ':')),
        ))(i)
    }
}

/// Tokenizes a whole query. Never fails: problems become a final [`TokenKind::Error`].
pub fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut nesting = Nesting::default();
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        let Some(c) = rest.chars().next() else {
            let kind = nesting.end_of_input();
            tokens.push(Token {
                kind,
                start: pos,
                end: pos,
            });
            return tokens;
        };
        match next_token(rest, c, &mut nesting) {
            Step::Skip(len) => pos += len,
            Step::Token(kind, len) => {
                tokens.push(Token {
                    kind,
                    start: pos,
                    end: pos + len,
                });
                pos += len;
            }
            Step::Fail(msg) => {
                // An error token spans the rest of the query and ends the list.
                tokens.push(Token {
                    kind: TokenKind::Error(msg),
                    start: pos,
                    end: input.len(),
                });
                return tokens;
            }
        }
    }
}

/// What lexing at one position produced.
enum Step {
    /// Whitespace or a comment of this many bytes.
    Skip(usize),
    /// A token of this many bytes.
    Token(TokenKind, usize),
    /// A lexing error (upstream's message); lexing stops.
    Fail(String),
}

/// The nesting state upstream's lexer tracks for its error messages: open parentheses,
/// and whether a bracket or a brace is open (neither nests).
#[derive(Default)]
struct Nesting {
    paren_depth: usize,
    bracket_open: bool,
    brace_open: bool,
}

impl Nesting {
    /// The final token: [`TokenKind::Eof`], or the error for what is still open.
    fn end_of_input(&self) -> TokenKind {
        if self.brace_open {
            TokenKind::Error("unexpected end of input inside braces".into())
        } else if self.bracket_open {
            TokenKind::Error("unclosed left bracket".into())
        } else if self.paren_depth > 0 {
            TokenKind::Error("unclosed left parenthesis".into())
        } else {
            TokenKind::Eof
        }
    }

    /// The token for `(`, `)`, `{`, `}`, `[` or `]`, or the error when it does not fit
    /// what is open; `None` for any other character.
    #[inline(always)]
    fn delimiter(&mut self, c: char) -> Option<Step> {
        let (kind, fits, what) = match c {
            '(' => {
                self.paren_depth += 1;
                (TokenKind::LeftParen, true, "")
            }
            ')' => {
                let fits = self.paren_depth > 0;
                self.paren_depth = self.paren_depth.saturating_sub(1);
                (TokenKind::RightParen, fits, "right parenthesis ')'")
            }
            '{' => {
                let fits = !std::mem::replace(&mut self.brace_open, true);
                (TokenKind::LeftBrace, fits, "left brace '{'")
            }
            '}' => {
                let fits = std::mem::replace(&mut self.brace_open, false);
                (TokenKind::RightBrace, fits, "right brace '}'")
            }
            '[' => {
                let fits = !std::mem::replace(&mut self.bracket_open, true);
                (TokenKind::LeftBracket, fits, "left bracket '['")
            }
            ']' => {
                let fits = std::mem::replace(&mut self.bracket_open, false);
                (TokenKind::RightBracket, fits, "right bracket ']'")
            }
            _ => return None,
        };
        Some(if fits {
            Step::Token(kind, 1)
        } else {
            Step::Fail(format!("unexpected {what}"))
        })
    }

    /// The error for a character that starts no token here.
    fn unexpected(&self, c: char) -> String {
        if self.brace_open {
            format!("unexpected character inside braces: {}", go_quote_rune(c))
        } else if self.bracket_open {
            format!(
                "unexpected character in duration expression: {}",
                go_quote_rune(c)
            )
        } else {
            format!("unexpected character: {}", go_quote_rune(c))
        }
    }
}

/// Lexes the token (or whitespace, or comment) at the start of `rest`, whose first
/// character is `c`. Inlined into [`tokenize`]'s loop: as a call per token it cost the
/// split lexer 8% (CPU time over the `promql/parse` bench queries); inlined, it is 12%
/// faster than the single-function lexer was.
#[inline(always)]
fn next_token(rest: &str, c: char, nesting: &mut Nesting) -> Step {
    match c {
        ' ' | '\t' | '\n' | '\r' => return Step::Skip(1),
        '#' => return Step::Skip(rest.find('\n').unwrap_or(rest.len())),
        _ => {}
    }
    if let Some((kind, len)) = operator(rest, c) {
        return Step::Token(kind, len);
    }
    if let Some(step) = nesting.delimiter(c) {
        return step;
    }
    match c {
        '!' => {
            // `!=` and `!~` are operators; any other `!` is an error.
            return Step::Fail(match rest[1..].chars().next() {
                Some(n) => format!("unexpected character after '!': {}", go_quote_rune(n)),
                None => "unexpected end of input after '!'".to_string(),
            });
        }
        ':' if nesting.bracket_open => return Step::Token(TokenKind::Colon, 1),
        '"' | '\'' | '`' => {
            return match scan_string(rest, c) {
                Ok(len) => Step::Token(TokenKind::String, len),
                Err(msg) => Step::Fail(msg.into()),
            }
        }
        _ => {}
    }
    let starts_number =
        c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit()));
    if starts_number {
        return match scan_number_or_duration(rest) {
            Ok((kind, len)) => Step::Token(kind, len),
            Err(len) => Step::Fail(format!(
                "bad number or duration syntax: {}",
                go_quote(&rest[..len])
            )),
        };
    }
    let colon = !nesting.bracket_open && !nesting.brace_open;
    if let Ok((_, word)) = identifier(colon)(rest) {
        return Step::Token(TokenKind::Identifier, word.len());
    }
    Step::Fail(nesting.unexpected(c))
}

/// An arithmetic, comparison, matcher or punctuation operator at the start of `rest`
/// (first character `c`): its kind and length. Two-character operators win over their
/// one-character prefixes (`==` over `=`, `<=` and `</` over `<`).
#[inline(always)]
fn operator(rest: &str, c: char) -> Option<(TokenKind, usize)> {
    let one = match c {
        ',' => Some(TokenKind::Comma),
        '@' => Some(TokenKind::At),
        '+' => Some(TokenKind::Add),
        '-' => Some(TokenKind::Sub),
        '*' => Some(TokenKind::Mul),
        '/' => Some(TokenKind::Div),
        '%' => Some(TokenKind::Mod),
        '^' => Some(TokenKind::Pow),
        _ => None,
    };
    if let Some(kind) = one {
        return Some((kind, 1));
    }
    let two = match rest.get(..2).unwrap_or("") {
        "==" => Some(TokenKind::Eql),
        "!=" => Some(TokenKind::Neq),
        "=~" => Some(TokenKind::EqlRegex),
        "!~" => Some(TokenKind::NeqRegex),
        ">=" => Some(TokenKind::Gte),
        "</" => Some(TokenKind::TrimUpper),
        ">/" => Some(TokenKind::TrimLower),
        "<=" => Some(TokenKind::Lte),
        _ => None,
    };
    if let Some(kind) = two {
        return Some((kind, 2));
    }
    let prefix = match c {
        '=' => TokenKind::Assign,
        '>' => TokenKind::Gtr,
        '<' => TokenKind::Lss,
        _ => return None,
    };
    Some((prefix, 1))
}

/// Scans a number or duration at the start of `s`. Returns the kind and length, or the
/// length of the malformed text.
fn scan_number_or_duration(s: &str) -> Result<(TokenKind, usize), usize> {
    let next_is = |len: usize, f: &dyn Fn(char) -> bool| s[len..].chars().next().filter(|&c| f(c));
    // Upstream reports the text up to and including the first offending character.
    let bad = |len: usize| len + next_is(len, &|_| true).map_or(0, char::len_utf8);
    let continues = |c: char| is_alphanumeric(c) || c == '.';
    if let Ok((_, num)) = hex_number(s) {
        if next_is(num.len(), &continues).is_some() {
            return Err(bad(num.len()));
        }
        return Ok((TokenKind::Number, num.len()));
    }
    let dur = duration(s).map(|(_, d)| d.len()).ok();
    if let Some(d) = dur {
        if next_is(d, &continues).is_none() {
            return Ok((TokenKind::Duration, d));
        }
    }
    match decimal_number(s) {
        Ok((_, num)) => {
            if next_is(num.len(), &continues).is_some() {
                return Err(bad(dur.unwrap_or(0).max(num.len())));
            }
            Ok((TokenKind::Number, num.len()))
        }
        Err(_) => Err(bad(0)),
    }
}

/// Finds the end of a quoted string starting at `s` (which begins with `quote`). Returns the
/// length including both quotes.
fn scan_string(s: &str, quote: char) -> Result<usize, &'static str> {
    let mut chars = s.char_indices().skip(1);
    if quote == '`' {
        for (i, c) in chars {
            if c == '`' {
                return Ok(i + 1);
            }
        }
        return Err("unterminated raw string");
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Err("unterminated quoted string"),
            '\n' => return Err("unterminated quoted string"),
            c if c == quote => return Ok(i + 1),
            _ => {}
        }
    }
    Err("unterminated quoted string")
}

/// Unquotes a string token (with its quotes) the way Go's `strconv.Unquote` does for `"`
/// strings, and Prometheus' `strutil.Unquote` for `'` strings: escapes `\a \b \f \n \r \t \v
/// \\`, the enclosing quote, `\xHH`, `\NNN` (octal), `\uHHHH`, `\UHHHHHHHH`. Raw strings are
/// returned verbatim. Byte escapes must form valid UTF-8; [`unquote_bytes`] takes any bytes.
pub fn unquote(text: &str) -> Result<String, String> {
    String::from_utf8(unquote_bytes(text)?)
        .map_err(|_| "invalid UTF-8 in string literal".to_string())
}

/// Unquotes a string token like [`unquote`] into bytes: `\xHH` and octal escapes may spell
/// bytes that are not UTF-8, as in Go, where strings are byte strings.
pub fn unquote_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut chars = text.chars();
    let quote = chars.next().ok_or("empty string token")?;
    let body = text
        .get(quote.len_utf8()..text.len().saturating_sub(quote.len_utf8()))
        .ok_or("unterminated string")?;
    if quote == '`' {
        return Ok(body.as_bytes().to_vec());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut it = body.chars().peekable();
    let mut buf = [0u8; 4];
    while let Some(c) = it.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = it.next().ok_or("invalid syntax: trailing backslash")?;
        let simple = match e {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '\'' | '"' if e == quote => Some(e),
            _ => None,
        };
        if let Some(ch) = simple {
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let mut take_hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = it
                    .next()
                    .and_then(|d| d.to_digit(16))
                    .ok_or_else(|| format!("invalid syntax: bad \\{e} escape"))?;
                v = v * 16 + d;
            }
            Ok(v)
        };
        match e {
            'x' => {
                let v = take_hex(2)?;
                out.push(v as u8);
            }
            'u' | 'U' => {
                let v = take_hex(if e == 'u' { 4 } else { 8 })?;
                let ch = char::from_u32(v).ok_or_else(|| {
                    format!("invalid syntax: \\{e}{v:x} is not a valid code point")
                })?;
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = it
                        .next()
                        .and_then(|d| d.to_digit(8))
                        .ok_or("invalid syntax: bad octal escape")?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err("invalid syntax: octal escape value > 255".into());
                }
                out.push(v as u8);
            }
            _ => return Err(format!("invalid syntax: unknown escape sequence \\{e}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
use crate::model::quote::go_quote_bytes;
pub use crate::model::quote::{go_quote, go_quote_rune};

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<TokenKind> {
        tokenize(q).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn lexes_operators_and_words() {
        use TokenKind::*;
        assert_eq!(
            kinds("sum by (job) (rate(x[5m])) >= bool 1"),
            vec![
                Identifier,
                Identifier,
                LeftParen,
                Identifier,
                RightParen,
                LeftParen,
                Identifier,
                LeftParen,
                Identifier,
                LeftBracket,
                Duration,
                RightBracket,
                RightParen,
                RightParen,
                Gte,
                Identifier,
                Number,
                Eof
            ]
        );
        assert_eq!(
            kinds("a{b=~\"c\",d!~'e',f!=`g`} == 1"),
            vec![
                Identifier, LeftBrace, Identifier, EqlRegex, String, Comma, Identifier, NeqRegex,
                String, Comma, Identifier, Neq, String, RightBrace, Eql, Number, Eof
            ]
        );
    }

    #[test]
    fn colons_are_identifiers_outside_brackets() {
        let t = tokenize("job:rate:5m[1m:30s]");
        assert_eq!(t[0].kind, TokenKind::Identifier);
        assert_eq!(t[0].end, "job:rate:5m".len());
        assert_eq!(t[2].kind, TokenKind::Duration);
        assert_eq!(t[3].kind, TokenKind::Colon);
        assert_eq!(t[4].kind, TokenKind::Duration);
    }

    #[test]
    fn numbers_and_durations() {
        for n in [
            "1", "1.5", ".5", "2.", "1e3", "1E-3", "0x1F", "0X_ff", "1_000", "12.34e+6",
        ] {
            assert_eq!(kinds(n), vec![TokenKind::Number, TokenKind::Eof], "{n}");
        }
        for d in ["5m", "1h30m", "100ms", "2w", "1y2d"] {
            assert_eq!(kinds(d), vec![TokenKind::Duration, TokenKind::Eof], "{d}");
        }
        for bad in ["1.5m", "5mx", "1a", "0x", "1__0", "1e", "2.5."] {
            let k = kinds(bad);
            assert!(
                matches!(k.last(), Some(TokenKind::Error(m)) if m.starts_with("bad number or duration syntax")),
                "{bad}: {k:?}"
            );
        }
    }

    #[test]
    fn bad_numbers_report_upstream_text() {
        let msg = |q: &str| match tokenize(q).pop().map(|t| t.kind) {
            Some(TokenKind::Error(m)) => m,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(msg("2.5."), "bad number or duration syntax: \"2.5.\"");
        assert_eq!(msg("100..4"), "bad number or duration syntax: \"100..\"");
        assert_eq!(msg("0deadbeef"), "bad number or duration syntax: \"0de\"");
        assert_eq!(msg("5mx"), "bad number or duration syntax: \"5mx\"");
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            kinds("# a comment\nfoo # another"),
            vec![TokenKind::Identifier, TokenKind::Eof]
        );
    }

    #[test]
    fn unbalanced_delimiters_are_errors() {
        let last = |q: &str| match tokenize(q).pop().map(|t| t.kind) {
            Some(TokenKind::Error(m)) => m,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(last("(a"), "unclosed left parenthesis");
        assert_eq!(last("a)"), "unexpected right parenthesis ')'");
        assert_eq!(last("a[5m"), "unclosed left bracket");
        assert_eq!(last("a]"), "unexpected right bracket ']'");
        assert_eq!(last("a{b=\"c\""), "unexpected end of input inside braces");
        assert_eq!(last("\"abc"), "unterminated quoted string");
        assert_eq!(last("`abc"), "unterminated raw string");
        assert_eq!(last("a ! b"), "unexpected character after '!': ' '");
        assert_eq!(last("a ; b"), "unexpected character: ';'");
        assert_eq!(
            last("{a:b=\"c\"}"),
            "unexpected character inside braces: ':'"
        );
        assert_eq!(last("a{b{"), "unexpected left brace '{'");
        assert_eq!(last("a}"), "unexpected right brace '}'");
        assert_eq!(last("a[5m["), "unexpected left bracket '['");
        assert_eq!(last("a !"), "unexpected end of input after '!'");
        assert_eq!(
            last("a[5m;]"),
            "unexpected character in duration expression: ';'"
        );
        assert_eq!(last("1x"), "bad number or duration syntax: \"1x\"");
        // An error token spans the rest of the query.
        let toks = tokenize("a ; b");
        let err = toks.last().expect("a token");
        assert_eq!((err.start, err.end), (2, 5));
    }

    #[test]
    fn operators_prefer_two_characters() {
        let kinds =
            |q: &str| -> Vec<TokenKind> { tokenize(q).into_iter().map(|t| t.kind).collect() };
        use TokenKind::*;
        assert_eq!(
            kinds("a<=b</c<d>=e>/f>g==h=~i!~j!=k=l"),
            vec![
                Identifier, Lte, Identifier, TrimUpper, Identifier, Lss, Identifier, Gte,
                Identifier, TrimLower, Identifier, Gtr, Identifier, Eql, Identifier, EqlRegex,
                Identifier, NeqRegex, Identifier, Neq, Identifier, Assign, Identifier, Eof
            ]
        );
        assert_eq!(
            kinds("a[5m:1m] @ 1 offset -1m # c\n+ - * / % ^ ,"),
            vec![
                Identifier,
                LeftBracket,
                Duration,
                Colon,
                Duration,
                RightBracket,
                At,
                Number,
                Identifier,
                Sub,
                Duration,
                Add,
                Sub,
                Mul,
                Div,
                Mod,
                Pow,
                Comma,
                Eof
            ]
        );
    }

    #[test]
    fn unquotes_go_escapes() {
        assert_eq!(unquote(r#""a\n\t\\\"""#).unwrap(), "a\n\t\\\"");
        assert_eq!(unquote(r"'it\'s'").unwrap(), "it's");
        assert_eq!(unquote(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
        assert_eq!(unquote(r"`raw\n`").unwrap(), "raw\\n");
        assert!(unquote(r#""\'""#).is_err());
        assert!(unquote(r#""\q""#).is_err());
        assert!(unquote(r#""\xc5""#).is_err());
        assert_eq!(unquote_bytes(r#""a\xc5z""#).unwrap(), b"a\xc5z");
        assert_eq!(unquote_bytes(r#""\305\x41""#).unwrap(), b"\xc5A");
        assert!(unquote(r#""\400""#).is_err());
        assert!(unquote(r#""\ud800""#).is_err());
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(go_quote("\x01é\u{200b}"), r#""\x01é\u200b""#);
        assert_eq!(go_quote_rune('\''), r"'\''");
        for s in ["", "plain", "tab\tx", "\x7f", "emoji 😀", "\u{10ffff}"] {
            assert_eq!(unquote(&go_quote(s)).unwrap(), s);
        }
        assert_eq!(go_quote_bytes(b"a\xc5z\n\xe2\x82"), r#""a\xc5z\n\xe2\x82""#);
        assert_eq!(go_quote_bytes("é".as_bytes()), go_quote("é"));
        let odd: &[u8] = b"\xff\x00\xc3\xa9\xf0\x9f";
        assert_eq!(unquote_bytes(&go_quote_bytes(odd)).unwrap(), odd);
    }
}
