//! Byte-level scanning shared by both parsers: a cursor that tracks line and column,
//! character classes, quoted strings, unescaping and Go-compatible number parsing.
//!
//! The character classes and number rules mirror Prometheus' `promlex.l` /
//! `openmetricslex.l` and `strconv.ParseFloat` as `model/textparse` calls it.

use std::borrow::Cow;

use super::error::{describe_token, ErrorKind, ParseError};

/// Character class bits, looked up per byte.
const METRIC_START: u8 = 1; // [a-zA-Z_:]
const METRIC_CHAR: u8 = 2; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 4; // [a-zA-Z_]
const LABEL_CHAR: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = build_classes();

const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut c = 0;
        if alpha || b == b':' {
            c |= METRIC_START | METRIC_CHAR;
        }
        if digit {
            c |= METRIC_CHAR | LABEL_CHAR;
        }
        if alpha {
            c |= LABEL_START | LABEL_CHAR;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[inline]
pub(crate) fn is_metric_start(b: u8) -> bool {
    CLASS[b as usize] & METRIC_START != 0
}

/// `[a-zA-Z0-9_:]`: a byte that continues a metric name.
#[inline]
pub(crate) fn is_metric_char(b: u8) -> bool {
    CLASS[b as usize] & METRIC_CHAR != 0
}

#[inline]
pub(crate) fn is_label_start(b: u8) -> bool {
    CLASS[b as usize] & LABEL_START != 0
}

/// A position in the body with the line bookkeeping needed for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    /// The whole body as text when it is valid UTF-8 (checked once up front, which is
    /// far cheaper than checking every field); slices then only check char boundaries.
    pub text: Option<&'a str>,
    pub pos: usize,
    /// 1-based line of `pos`.
    pub line: usize,
    /// Byte offset where the current line starts.
    pub line_start: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            text: std::str::from_utf8(buf).ok(),
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    pub fn peek_at(&self, off: usize) -> Option<u8> {
        self.buf.get(self.pos + off).copied()
    }

    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn starts_with(&self, s: &[u8]) -> bool {
        self.buf
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    /// Consumes a `\n` at the cursor and starts a new line.
    #[inline]
    pub fn newline(&mut self) {
        self.pos += 1;
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Skips spaces and tabs.
    #[inline]
    pub fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `[a-zA-Z_:][a-zA-Z0-9_:]*`; returns its end (the start is the old `pos`).
    /// The caller has checked the first byte.
    #[inline]
    pub fn scan_metric_name(&mut self) -> usize {
        self.pos += 1;
        while let Some(&b) = self.buf.get(self.pos) {
            if CLASS[b as usize] & METRIC_CHAR == 0 {
                break;
            }
            self.pos += 1;
        }
        self.pos
    }

    /// Consumes `[a-zA-Z_][a-zA-Z0-9_]*`; the caller has checked the first byte.
    #[inline]
    pub fn scan_label_name(&mut self) -> usize {
        self.pos += 1;
        while let Some(&b) = self.buf.get(self.pos) {
            if CLASS[b as usize] & LABEL_CHAR == 0 {
                break;
            }
            self.pos += 1;
        }
        self.pos
    }

    /// Consumes a double-quoted string starting at the cursor (which is on `"`). A
    /// backslash escapes any following byte except a newline. Literal newlines inside
    /// are allowed only when `allow_newline` (the 0.0.4 text format allows them,
    /// OpenMetrics does not). Returns the span of the contents, without quotes.
    pub fn scan_quoted(
        &mut self,
        allow_newline: bool,
        what: &'static str,
    ) -> Result<(usize, usize), ParseError> {
        let start = self.pos + 1;
        // Most quoted strings are short and plain: look at the first bytes directly
        // before paying for a vectorised search.
        for (i, &b) in self.buf.iter().enumerate().skip(start).take(24) {
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok((start, i));
                }
                b'\\' | b'\n' => break,
                _ => {}
            }
        }
        let mut i = start;
        loop {
            let rest = self.buf.get(i..).unwrap_or_default();
            let Some(off) = memchr::memchr3(b'"', b'\\', b'\n', rest) else {
                self.pos = self.buf.len();
                return Err(self.unexpected_at(self.buf.len(), what));
            };
            i += off;
            match self.buf[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Ok((start, i));
                }
                b'\\' => match self.buf.get(i + 1) {
                    Some(b'\n') | None => {
                        self.pos = i + 1;
                        return Err(self.unexpected_at(i + 1, what));
                    }
                    Some(_) => i += 2,
                },
                _ => {
                    // A literal newline.
                    if !allow_newline {
                        self.pos = i;
                        return Err(self.unexpected_at(i, what));
                    }
                    i += 1;
                    self.line += 1;
                    self.line_start = i;
                }
            }
        }
    }

    /// Consumes a run of bytes up to (not including) any byte in `stop` or the end.
    #[inline]
    pub fn scan_until(&mut self, stop: impl Fn(u8) -> bool) -> (usize, usize) {
        let start = self.pos;
        while let Some(&b) = self.buf.get(self.pos) {
            if stop(b) {
                break;
            }
            self.pos += 1;
        }
        (start, self.pos)
    }

    /// Consumes a token up to a space, a newline or the end (an OpenMetrics value or
    /// timestamp); returns its span and, when it is a short plain decimal, its value
    /// computed on the way (exactly what [`parse_short_decimal`] gives).
    #[inline]
    pub fn scan_number_token(&mut self) -> (usize, usize, Option<f64>) {
        let start = self.pos;
        let (mut n, mut digits, mut dot, mut plain) = (0u64, 0usize, None, true);
        while let Some(&b) = self.buf.get(self.pos) {
            match b {
                b' ' | b'\n' => break,
                b'0'..=b'9' => {
                    // Wraps only past 19 digits, when the value is not used.
                    n = n.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                    digits += 1;
                }
                b'.' if dot.is_none() => dot = Some(self.pos),
                _ => plain = false,
            }
            self.pos += 1;
        }
        let end = self.pos;
        let fast = (plain && (1..=15).contains(&digits))
            .then(|| n as f64 / POW10[dot.map_or(0, |d| end - d - 1)]);
        (start, end, fast)
    }

    /// Consumes the rest of the line (not the `\n`); returns its span.
    #[inline]
    pub fn scan_to_eol(&mut self) -> (usize, usize) {
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or_default();
        self.pos = memchr::memchr(b'\n', rest).map_or(self.buf.len(), |n| start + n);
        (start, self.pos)
    }

    /// 1-based column of byte offset `pos` on the current line, counted in characters.
    fn column_of(&self, pos: usize) -> usize {
        let from = self.line_start.min(self.buf.len());
        let to = pos.clamp(from, self.buf.len());
        // Count bytes that start a character (everything but UTF-8 continuation bytes).
        self.buf[from..to]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count()
            + 1
    }

    /// An error at byte offset `pos` on the current line.
    pub fn error_at(&self, pos: usize, kind: ErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column_of(pos),
            kind,
        }
    }

    /// "unexpected <token at pos> : expected <what>".
    pub fn unexpected_at(&self, pos: usize, expected: &'static str) -> ParseError {
        self.error_at(
            pos,
            ErrorKind::Unexpected {
                found: describe_token(self.buf, pos),
                expected,
            },
        )
    }

    /// "unexpected <token at cursor> : expected <what>".
    pub fn unexpected(&self, expected: &'static str) -> ParseError {
        self.unexpected_at(self.pos, expected)
    }

    /// Validates `buf[start..end]` as UTF-8, reporting the first bad byte's position.
    #[inline]
    pub fn utf8(
        &self,
        start: usize,
        end: usize,
        what: &'static str,
    ) -> Result<&'a str, ParseError> {
        if let Some(s) = self.text.and_then(|t| t.get(start..end)) {
            return Ok(s);
        }
        let buf: &'a [u8] = self.buf;
        let raw = buf.get(start..end).unwrap_or_default();
        std::str::from_utf8(raw)
            .map_err(|e| self.error_at(start + e.valid_up_to(), ErrorKind::InvalidUtf8(what)))
    }
}

/// Undoes label-value escaping: `\\` → `\`, `\"` → `"`, `\n` → newline; any other
/// backslash sequence is kept as written (Go's `strings.Replacer` in textparse).
/// Borrows when there is nothing to undo.
pub(crate) fn unescape_label_value(s: &str) -> Cow<'_, str> {
    unescape(s, true)
}

/// Undoes text-format HELP escaping: `\\` and `\n` only (`\"` stays as written).
pub(crate) fn unescape_help(s: &str) -> Cow<'_, str> {
    unescape(s, false)
}

fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quotes => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Parses a float the way Prometheus does (`strconv.ParseFloat` minus the Go 1.13
/// additions): decimal notation with optional sign and exponent, `Inf`/`Infinity` in any
/// case with optional sign, `NaN` in any case without sign. Underscores, hex and `p`
/// exponents are rejected; values beyond the f64 range are an error, not an infinity.
pub(crate) fn parse_go_float(raw: &[u8]) -> Result<f64, &'static str> {
    if let Some(v) = parse_short_decimal(raw) {
        return Ok(v);
    }
    if raw.iter().any(|&b| matches!(b, b'p' | b'P' | b'_')) {
        return Err("unsupported character in float");
    }
    let (neg, body) = match raw.first() {
        Some(b'+') => (false, &raw[1..]),
        Some(b'-') => (true, &raw[1..]),
        _ => (false, raw),
    };
    match body.first() {
        Some(b'i' | b'I') => {
            if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
                return Ok(if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                });
            }
            return Err("invalid syntax");
        }
        Some(b'n' | b'N') => {
            if raw.len() == body.len() && body.eq_ignore_ascii_case(b"nan") {
                return Ok(f64::NAN);
            }
            return Err("invalid syntax");
        }
        _ => {}
    }
    // Rust's grammar for finite decimals matches Go's once specials, hex and underscores
    // are out of the way; both need at least one digit and a complete exponent.
    let s = std::str::from_utf8(raw).map_err(|_| "invalid syntax")?;
    let v: f64 = s.parse().map_err(|_| "invalid syntax")?;
    if v.is_infinite() {
        return Err("value out of range");
    }
    Ok(v)
}

/// Exact powers of ten for the short-decimal fast path.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Fast path of [`parse_go_float`] for unsigned plain decimals (`123`, `0.25`,
/// `1700006400.123`) of at most 15 digits: the digits form an integer below 2^53 and the
/// power of ten is exact, so one correctly rounded division gives exactly the correctly
/// rounded value the full parse gives. `None` for anything else.
#[inline]
pub(crate) fn parse_short_decimal(raw: &[u8]) -> Option<f64> {
    if raw.is_empty() || raw.len() > 16 {
        return None;
    }
    let mut n = 0u64;
    let mut digits = 0;
    let mut dot = None;
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                n = n * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if dot.is_none() => dot = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = dot.map_or(0, |d| raw.len() - d - 1);
    Some(n as f64 / POW10[scale])
}

/// Parses the text format's timestamp: decimal digits only, fitting an i64.
pub(crate) fn parse_int_timestamp(raw: &[u8]) -> Result<i64, &'static str> {
    if raw.is_empty() {
        return Err("invalid syntax");
    }
    let mut v: i64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return Err("invalid syntax");
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or("value out of range")?;
    }
    Ok(v)
}

/// Converts OpenMetrics seconds to milliseconds exactly as Prometheus 2.42 does:
/// `int64(seconds * 1000)`, truncating toward zero (saturating at the i64 bounds).
#[inline]
pub(crate) fn seconds_to_millis(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_metric_start(b':') && is_metric_start(b'_') && is_metric_start(b'a'));
        assert!(!is_metric_start(b'0') && !is_metric_start(b'{'));
        assert!(is_label_start(b'_') && !is_label_start(b':'));
        let mut c = Cursor::new(b"ab:c9{x");
        assert_eq!(c.scan_metric_name(), 5);
        let mut c = Cursor::new(b"ab:c9{x");
        assert_eq!(c.scan_label_name(), 2);
    }

    #[test]
    fn go_float_spellings() {
        for (s, want) in [
            ("1", 1.0),
            ("+1.5", 1.5),
            ("-2e3", -2000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1E-2", 0.01),
            ("007", 7.0),
            ("1e-400", 0.0),
            ("0", 0.0),
            ("999999999999999", 999_999_999_999_999.0),
            ("1000000000000000", 1e15),
            ("9007199254740993", 9_007_199_254_740_992.0),
            ("0.1", 0.1),
            ("1700006400.123", 1_700_006_400.123),
            ("123456789.012345", 123_456_789.012_345),
            ("1234567890.1234567", 1_234_567_890.123_456_7),
        ] {
            assert_eq!(parse_go_float(s.as_bytes()), Ok(want), "{s}");
        }
        for s in ["Inf", "+inf", "infinity", "+Infinity", "INF"] {
            assert_eq!(parse_go_float(s.as_bytes()), Ok(f64::INFINITY), "{s}");
        }
        for s in ["-Inf", "-INFINITY"] {
            assert_eq!(parse_go_float(s.as_bytes()), Ok(f64::NEG_INFINITY), "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            assert!(parse_go_float(s.as_bytes()).is_ok_and(f64::is_nan), "{s}");
        }
        for (s, why) in [
            ("1_2", "unsupported character in float"),
            ("0x1p-3", "unsupported character in float"),
            ("0x10", "invalid syntax"),
            ("+NaN", "invalid syntax"),
            ("-nan", "invalid syntax"),
            ("infin", "invalid syntax"),
            ("1e", "invalid syntax"),
            (".", "invalid syntax"),
            ("", "invalid syntax"),
            ("true", "invalid syntax"),
            ("1e400", "value out of range"),
            ("-1e400", "value out of range"),
            ("1\r", "invalid syntax"),
        ] {
            assert_eq!(parse_go_float(s.as_bytes()), Err(why), "{s}");
        }
    }

    #[test]
    fn short_decimal_fast_path_matches_the_full_parse() {
        // Fixed-seed xorshift over digit strings with and without a dot, up to 17 chars.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut fast = 0;
        for _ in 0..200_000 {
            let len = 1 + (next() % 17) as usize;
            let mut s: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
            if next() % 4 != 0 {
                let at = (next() % (len as u64 + 1)) as usize;
                s.insert(at, b'.');
            }
            let text = std::str::from_utf8(&s).unwrap();
            let full = text.parse::<f64>();
            let short = parse_short_decimal(&s);
            if let Some(v) = short {
                assert_eq!(v.to_bits(), full.clone().unwrap().to_bits(), "{text}");
                fast += 1;
            }
            let mut line = s.clone();
            line.extend_from_slice(b" 1");
            let mut c = Cursor::new(&line);
            let (start, end, scanned) = c.scan_number_token();
            assert_eq!((start, end), (0, s.len()), "{text}");
            assert_eq!(scanned.map(f64::to_bits), short.map(f64::to_bits), "{text}");
            assert_eq!(
                parse_go_float(&s).map(f64::to_bits),
                full.map(f64::to_bits).map_err(|_| "invalid syntax"),
                "{text}"
            );
        }
        assert!(fast > 100_000, "{fast}");
        for s in ["", ".", "1.2.3", "-1", "+1", "1e3", "0x1"] {
            assert_eq!(parse_short_decimal(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn int_timestamps() {
        assert_eq!(parse_int_timestamp(b"123123"), Ok(123123));
        assert_eq!(parse_int_timestamp(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_int_timestamp(b"9223372036854775808"),
            Err("value out of range")
        );
        assert_eq!(parse_int_timestamp(b"-1"), Err("invalid syntax"));
        assert_eq!(parse_int_timestamp(b""), Err("invalid syntax"));
    }

    #[test]
    fn millis_truncate_like_go() {
        assert_eq!(seconds_to_millis(1520879607.789), 1520879607789);
        assert_eq!(seconds_to_millis(-1.5), -1500);
        assert_eq!(seconds_to_millis(0.0009), 0);
        assert_eq!(seconds_to_millis(1e300), i64::MAX);
    }

    #[test]
    fn unescaping() {
        assert!(matches!(
            unescape_label_value("plain"),
            Cow::Borrowed("plain")
        ));
        assert_eq!(unescape_label_value(r#"a\\b\"c\nd\x"#), "a\\b\"c\nd\\x");
        assert_eq!(unescape_label_value(r"\\n"), "\\n");
        assert_eq!(unescape_help(r#"a\\b\"c\nd"#), "a\\b\\\"c\nd");
        assert_eq!(unescape_label_value("trailing\\"), "trailing\\");
    }

    #[test]
    fn quoted_strings() {
        let mut c = Cursor::new(br#""a\"b" rest"#);
        assert_eq!(c.scan_quoted(false, "label value"), Ok((1, 5)));
        assert_eq!(c.pos, 6);
        let mut c = Cursor::new(b"\"a\nb\" x");
        assert!(c.scan_quoted(false, "label value").is_err());
        let mut c = Cursor::new(b"\"a\nb\" x");
        assert_eq!(c.scan_quoted(true, "label value"), Ok((1, 4)));
        assert_eq!(c.line, 2);
        let mut c = Cursor::new(b"\"abc");
        let e = c.scan_quoted(true, "closing quote").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 5: unexpected end of input : expected closing quote"
        );
        let mut c = Cursor::new(b"\"ab\\\nc\"");
        assert!(c.scan_quoted(true, "closing quote").is_err());
    }

    #[test]
    fn columns_count_characters() {
        let c = Cursor::new("éé{".as_bytes());
        assert_eq!(c.column_of(4), 3);
    }
}
