//! The one regular-expression front end every subsystem compiles through: PromQL label
//! matchers and `{__name__=~...}`, `label_replace`, relabeling (scrape, metric, alert),
//! rule files, and Alertmanager matchers and silences.
//!
//! Prometheus and Alertmanager compile with Go's `regexp` (RE2 syntax, Perl flags:
//! <https://github.com/google/re2/wiki/Syntax>, parser in Go's `regexp/syntax/parse.go`).
//! The `regex` crate reads a near superset of that syntax with different meanings in
//! places, so a pattern is never handed to it as written: [`translate`] parses it with
//! Go's rules and writes an equivalent pattern in `regex-syntax` notation, or returns Go's
//! error. What the translation decides:
//!
//! - RE2-only syntax becomes plain syntax: `\Q...\E` quoting, octal escapes (`\143`),
//!   `{` that does not start a valid repetition (`x{,3}`, `a{01}`) as a literal.
//! - Syntax the `regex` crate gives another meaning is made literal or ASCII: `&&`, `--`,
//!   `~~` and nested `[` in a class are characters; `\d`, `\s`, `\w` and `\b` are ASCII
//!   (`\s` without `\v`); `\<`, `\>` and other escaped punctuation are the character; `\pC`
//!   excludes unassigned code points.
//! - What RE2 rejects is an error even where the crate accepts it: flags other than `imsU`
//!   (`(?x)`), repetition counts above 1000 (also nested products, `(a{100}){100}`),
//!   stacked repetitions (`a**`), `\C`, `\Z`, `\u`, Unicode classes outside Go's tables or
//!   not spelled exactly (`\p{greek}`, `\p{Letter}`).
//! - What RE2 accepts and the crate rejects is rewritten: `(?)`, duplicate flags, `^*`,
//!   group names that start with a digit or repeat (see [`capture_name`]).
//!
//! Capture groups keep their numbers, so `$1` and `${name}` expansions are unchanged.
//! Anchoring is done as upstream does it, by text: `^(?s:` + pattern + `)$` is translated
//! as one expression, so a pattern such as `a)|(b` means what it means upstream.
//!
//! Unicode classes follow Go 1.21+ (Unicode 15.0 scripts); the `(?<name>re)` form is
//! accepted as Go 1.22+ (Prometheus 3) accepts it, though Prometheus 2.x rejects it.

use ::regex::{Regex, RegexBuilder};

use super::regex_cache::{DFA_SIZE_LIMIT, SIZE_LIMIT};

/// RE2's largest repetition count (`{1000}`), also the largest product of nested counts.
const MAX_REPEAT: u64 = 1000;

/// Go's nesting limit ("expression nests too deeply").
const MAX_DEPTH: usize = 1000;

/// How much of a long expression an error quotes.
const EXCERPT_BYTES: usize = 100;

/// Go's `regexp/syntax.ErrorCode`: the kind of a syntax error, printed as Go prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidCharClass,
    InvalidCharRange,
    InvalidEscape,
    InvalidNamedCapture,
    InvalidPerlOp,
    InvalidRepeatOp,
    InvalidRepeatSize,
    MissingBracket,
    MissingParen,
    MissingRepeatArgument,
    TrailingBackslash,
    UnexpectedParen,
    NestingDepth,
    Large,
    /// The translation produced a pattern the `regex` crate rejects: a bug here, reported
    /// as Go reports its own.
    Internal,
}

impl ErrorCode {
    /// Go's text for the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCharClass => "invalid character class",
            ErrorCode::InvalidCharRange => "invalid character class range",
            ErrorCode::InvalidEscape => "invalid escape sequence",
            ErrorCode::InvalidNamedCapture => "invalid named capture",
            ErrorCode::InvalidPerlOp => "invalid or unsupported Perl syntax",
            ErrorCode::InvalidRepeatOp => "invalid nested repetition operator",
            ErrorCode::InvalidRepeatSize => "invalid repeat count",
            ErrorCode::MissingBracket => "missing closing ]",
            ErrorCode::MissingParen => "missing closing )",
            ErrorCode::MissingRepeatArgument => "missing argument to repetition operator",
            ErrorCode::TrailingBackslash => "trailing backslash at end of expression",
            ErrorCode::UnexpectedParen => "unexpected )",
            ErrorCode::NestingDepth => "expression nests too deeply",
            ErrorCode::Large => "expression too large",
            ErrorCode::Internal => "regexp/syntax: internal error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pattern Go's `regexp.Compile` would reject, printed as Go prints it:
/// ``error parsing regexp: missing closing ): `^(?s:()$` ``. The quoted expression is the
/// part Go quotes (an escape, a repetition, the class, or the whole anchored expression),
/// cut to about [`EXCERPT_BYTES`] when long.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {code}: `{expr}`")]
pub struct RegexError {
    /// What is wrong.
    pub code: ErrorCode,
    /// The offending text (see [`excerpt`]).
    pub expr: String,
}

impl RegexError {
    fn new(code: ErrorCode, expr: &str) -> RegexError {
        RegexError {
            code,
            expr: excerpt(expr),
        }
    }

    /// The error without Go's `error parsing regexp: ` prefix.
    pub fn reason(&self) -> String {
        format!("{}: `{}`", self.code, self.expr)
    }
}

/// `s` cut to at most about [`EXCERPT_BYTES`] bytes at a character boundary, with `...`
/// and the full length appended when cut.
pub fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_BYTES {
        return s.to_string();
    }
    let mut end = EXCERPT_BYTES - 20;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// The anchored form upstream compiles for every label matcher, `label_replace` and
/// relabel regex (Prometheus 3: `.` also matches a newline).
fn anchored_source(pattern: &str) -> String {
    format!("^(?s:{pattern})$")
}

/// Compiles `pattern` fully anchored, as upstream does (`^(?s:pattern)$`), with RE2's
/// syntax and meaning. The front end for every subsystem: label matchers (use
/// [`super::Matcher::new`] for those, which adds the literal and alternation fast paths
/// on top), `label_replace`, relabeling, Alertmanager matchers and silences. Not cached;
/// see [`anchored`] for the cached form.
pub fn compile_anchored(pattern: &str) -> Result<Regex, RegexError> {
    compile(&anchored_source(pattern))
}

/// [`compile_anchored`] through the process-wide cache ([`super::regex_cache`]).
pub fn anchored(pattern: &str) -> Result<Regex, RegexError> {
    super::regex_cache::anchored(pattern)
}

/// Compiles an RE2 expression as written (unanchored), with the size limits of
/// [`super::regex_cache`].
pub fn compile(re2: &str) -> Result<Regex, RegexError> {
    let translated = translate(re2)?;
    RegexBuilder::new(&translated)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            ::regex::Error::CompiledTooBig(_) => RegexError::new(ErrorCode::Large, re2),
            other => crate_error(&other.to_string(), re2),
        })
}

/// A `regex-syntax` rejection of a translated pattern: its nesting limit (RE2 has its
/// own, reported the same way), or a translation bug.
fn crate_error(text: &str, re2: &str) -> RegexError {
    let code = if text.contains("nest limit") {
        ErrorCode::NestingDepth
    } else {
        ErrorCode::Internal
    };
    RegexError::new(code, re2)
}

/// The `regex-syntax` nesting limit for translated patterns: each RE2 group or repetition
/// becomes at most two nested constructs, and RE2 allows [`MAX_DEPTH`].
const NEST_LIMIT: u32 = (MAX_DEPTH as u32) * 2 + 8;

/// Parses the anchored form of `pattern` into `regex-syntax`'s HIR with the outer `^` and
/// `$` removed (when they still bracket the whole expression), for callers that look at
/// a pattern's structure, like the label matcher's finite-set fast path.
pub fn anchored_hir(pattern: &str) -> Result<regex_syntax::hir::Hir, RegexError> {
    use regex_syntax::hir::{Hir, HirKind, Look};
    let source = anchored_source(pattern);
    let translated = translate(&source)?;
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(NEST_LIMIT)
        .build()
        .parse(&translated)
        .map_err(|e| crate_error(&e.to_string(), &source))?;
    if let HirKind::Concat(subs) = hir.kind() {
        let n = subs.len();
        if n >= 2
            && matches!(subs[0].kind(), HirKind::Look(Look::Start))
            && matches!(subs[n - 1].kind(), HirKind::Look(Look::End))
        {
            return Ok(Hir::concat(subs[1..n - 1].to_vec()));
        }
    }
    Ok(hir)
}

/// The RE2 name of a capture group as the translated regex names it: names RE2 accepts
/// and the `regex` crate does not (a leading digit, or a name used twice) are encoded as
/// `_.<group index>.<name>`, which no RE2 name can be.
pub fn capture_name(translated: &str) -> &str {
    match translated.strip_prefix("_.") {
        Some(rest) => rest.split_once('.').map(|(_, n)| n).unwrap_or(rest),
        None => translated,
    }
}

/// Go's Unicode general categories (`unicode.Categories`).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Go's Unicode scripts (`unicode.Scripts`, Unicode 15.0).
const SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// Go's POSIX class names (`[:alpha:]`); the `regex` crate has the same names and sets.
const POSIX: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// One translated element of a group.
#[derive(Debug)]
struct Piece {
    text: String,
    kind: PieceKind,
    /// Largest product of `{n,m}` counts along a path inside (RE2's `repeatIsValid`).
    prod: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    /// Something a repetition may apply to.
    Atom,
    /// A flag change `(?i)`: pushes nothing in RE2, so a repetition skips over it.
    Flags,
    /// `|`.
    Bar,
}

/// An open group: what opened it (already translated) and its pieces so far.
struct Frame {
    open: String,
    pieces: Vec<Piece>,
}

/// Translates an RE2 expression (Go `regexp/syntax` with Perl flags) into an equivalent
/// `regex-syntax` expression with the same capture groups, or Go's error for it.
pub fn translate(re: &str) -> Result<String, RegexError> {
    Translator {
        whole: re,
        frames: vec![Frame {
            open: String::new(),
            pieces: Vec::new(),
        }],
        ncap: 0,
        names: Vec::new(),
    }
    .run()
}

struct Translator<'a> {
    whole: &'a str,
    frames: Vec<Frame>,
    ncap: usize,
    names: Vec<String>,
}

fn err(code: ErrorCode, expr: &str) -> RegexError {
    RegexError::new(code, expr)
}

fn hex(c: char) -> String {
    format!("\\x{{{:X}}}", c as u32)
}

/// A literal character outside a class.
fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_control()) {
        c.to_string()
    } else if regex_syntax::is_meta_character(c) {
        format!("\\{c}")
    } else {
        hex(c)
    }
}

/// A character inside a class: anything but letters and digits as a hex escape, so no
/// `regex-syntax` class operator (`&&`, `--`, `~~`, `[`) can form.
fn class_char(c: char) -> String {
    if c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_control() && !c.is_whitespace()) {
        c.to_string()
    } else {
        hex(c)
    }
}

fn next_char(s: &str) -> Option<(char, &str)> {
    let c = s.chars().next()?;
    Some((c, &s[c.len_utf8()..]))
}

/// RE2's Perl classes (ASCII), as class items, and whether negated.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some((r"\t\n\x0C\r\x20", false)),
        'S' => Some((r"\t\n\x0C\r\x20", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

impl<'a> Translator<'a> {
    fn pieces(&mut self) -> &mut Vec<Piece> {
        // The root frame is never popped (an unmatched `)` is an error first).
        let last = self.frames.len() - 1;
        &mut self.frames[last].pieces
    }

    fn push_atom(&mut self, text: String) {
        self.pieces().push(Piece {
            text,
            kind: PieceKind::Atom,
            prod: 1,
        });
    }

    fn run(mut self) -> Result<String, RegexError> {
        let whole = self.whole;
        let mut t: &str = whole;
        // The text from the previous token when it was a repetition (`a**`).
        let mut last_repeat: Option<&str> = None;
        while !t.is_empty() {
            let mut repeat: Option<&str> = None;
            let c = t.as_bytes()[0];
            match c {
                b'(' => {
                    if t.len() >= 2 && t.as_bytes()[1] == b'?' {
                        t = self.perl_flags(t)?;
                    } else {
                        self.ncap += 1;
                        self.open("(".to_string())?;
                        t = &t[1..];
                    }
                }
                b'|' => {
                    self.pieces().push(Piece {
                        text: "|".into(),
                        kind: PieceKind::Bar,
                        prod: 1,
                    });
                    t = &t[1..];
                }
                b')' => {
                    self.close()?;
                    t = &t[1..];
                }
                b'^' => {
                    self.push_atom("^".into());
                    t = &t[1..];
                }
                b'$' => {
                    self.push_atom("$".into());
                    t = &t[1..];
                }
                b'.' => {
                    self.push_atom(".".into());
                    t = &t[1..];
                }
                b'[' => t = self.class(t)?,
                b'*' | b'+' | b'?' => {
                    let before = t;
                    let after = &t[1..];
                    let op = (c as char).to_string();
                    t = self.repeat(op, None, before, after, last_repeat)?;
                    repeat = Some(before);
                }
                b'{' => {
                    let before = t;
                    match parse_repeat(t) {
                        None => {
                            // Not a valid repetition: `{` is a literal.
                            self.push_atom(literal('{'));
                            t = &t[1..];
                        }
                        Some((min, max, after)) => {
                            let text = &before[..before.len() - after.len()];
                            if min < 0
                                || min > MAX_REPEAT as i64
                                || max > MAX_REPEAT as i64
                                || (max >= 0 && min > max)
                            {
                                return Err(err(ErrorCode::InvalidRepeatSize, text));
                            }
                            let op = match max {
                                -1 => format!("{{{min},}}"),
                                m if m == min => format!("{{{min}}}"),
                                m => format!("{{{min},{m}}}"),
                            };
                            t = self.repeat(op, Some((min, max)), before, after, last_repeat)?;
                            repeat = Some(before);
                        }
                    }
                }
                b'\\' => t = self.escape(t)?,
                _ => {
                    // Checked non-empty above.
                    let (ch, rest) = next_char(t).unwrap_or(('\0', ""));
                    self.push_atom(literal(ch));
                    t = rest;
                }
            }
            last_repeat = repeat;
        }
        if self.frames.len() > 1 {
            return Err(err(ErrorCode::MissingParen, whole));
        }
        let root = self.frames.pop().map(|f| f.pieces).unwrap_or_default();
        Ok(root.into_iter().map(|p| p.text).collect())
    }

    fn open(&mut self, open: String) -> Result<(), RegexError> {
        if self.frames.len() > MAX_DEPTH {
            return Err(err(ErrorCode::NestingDepth, self.whole));
        }
        self.frames.push(Frame {
            open,
            pieces: Vec::new(),
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), RegexError> {
        if self.frames.len() < 2 {
            return Err(err(ErrorCode::UnexpectedParen, self.whole));
        }
        let frame = self.frames.pop().unwrap_or_else(|| unreachable!());
        let prod = frame.pieces.iter().map(|p| p.prod).max().unwrap_or(1);
        let mut text = frame.open;
        for p in frame.pieces {
            text.push_str(&p.text);
        }
        text.push(')');
        self.pieces().push(Piece {
            text,
            kind: PieceKind::Atom,
            prod,
        });
        Ok(())
    }

    /// Applies a repetition (`op` already in `regex-syntax` notation; `counts` for
    /// `{n,m}`) to the last atom, as Go's `parser.repeat` does.
    fn repeat(
        &mut self,
        op: String,
        counts: Option<(i64, i64)>,
        before: &'a str,
        mut after: &'a str,
        last_repeat: Option<&'a str>,
    ) -> Result<&'a str, RegexError> {
        let mut lazy = false;
        if let Some(rest) = after.strip_prefix('?') {
            after = rest;
            lazy = true;
        }
        if let Some(last) = last_repeat {
            return Err(err(
                ErrorCode::InvalidRepeatOp,
                &last[..last.len() - after.len()],
            ));
        }
        let op_text = &before[..before.len() - after.len()];
        let pieces = self.pieces();
        let Some(idx) = pieces.iter().rposition(|p| p.kind != PieceKind::Flags) else {
            return Err(err(ErrorCode::MissingRepeatArgument, op_text));
        };
        if pieces[idx].kind != PieceKind::Atom {
            return Err(err(ErrorCode::MissingRepeatArgument, op_text));
        }
        let target = &mut pieces[idx];
        let prod = match counts {
            // `{0}` ends RE2's check of the subtree.
            Some((_, 0)) => 1,
            Some((min, max)) => {
                let m = if max < 0 { min } else { max };
                (m.max(1) as u64).saturating_mul(target.prod)
            }
            None => target.prod,
        };
        if let Some((min, max)) = counts {
            if (min >= 2 || max >= 2) && prod > MAX_REPEAT {
                return Err(err(ErrorCode::InvalidRepeatSize, op_text));
            }
        }
        target.text = format!("(?:{}){op}{}", target.text, if lazy { "?" } else { "" });
        target.prod = prod;
        Ok(after)
    }

    /// `(?` groups: named captures, flag changes, non-capturing groups (Go's
    /// `parsePerlFlags`). Returns the rest after the opener.
    fn perl_flags(&mut self, s: &'a str) -> Result<&'a str, RegexError> {
        let b = s.as_bytes();
        let with_p = s.len() > 4 && b[2] == b'P' && b[3] == b'<';
        let with_angle = s.len() > 3 && b[2] == b'<';
        if with_p || with_angle {
            let start = if with_p { 4 } else { 3 };
            let Some(end) = s.find('>') else {
                return Err(err(ErrorCode::InvalidNamedCapture, s));
            };
            let capture = &s[..end + 1];
            let name = &s[start..end];
            if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                return Err(err(ErrorCode::InvalidNamedCapture, capture));
            }
            self.ncap += 1;
            let rust_ok = !name.as_bytes()[0].is_ascii_digit();
            let encoded = if rust_ok && !self.names.iter().any(|n| n == name) {
                name.to_string()
            } else {
                format!("_.{}.{name}", self.ncap)
            };
            self.names.push(name.to_string());
            self.open(format!("(?P<{encoded}>"))?;
            return Ok(&s[end + 1..]);
        }
        let mut t = &s[2..];
        let mut on = String::new();
        let mut off = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        while let Some((c, rest)) = next_char(t) {
            t = rest;
            match c {
                'i' | 'm' | 's' | 'U' => {
                    saw_flag = true;
                    let (add, remove) = if negated {
                        (&mut off, &mut on)
                    } else {
                        (&mut on, &mut off)
                    };
                    remove.retain(|x| x != c);
                    if !add.contains(c) {
                        add.push(c);
                    }
                }
                '-' => {
                    if negated {
                        break;
                    }
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        break;
                    }
                    let flags = match (on.is_empty(), off.is_empty()) {
                        (true, true) => String::new(),
                        (false, true) => on,
                        (_, false) => format!("{on}-{off}"),
                    };
                    if c == ':' {
                        self.open(format!("(?{flags}:"))?;
                    } else if !flags.is_empty() {
                        self.pieces().push(Piece {
                            text: format!("(?{flags})"),
                            kind: PieceKind::Flags,
                            prod: 1,
                        });
                    }
                    return Ok(t);
                }
                _ => break,
            }
        }
        Err(err(ErrorCode::InvalidPerlOp, &s[..s.len() - t.len()]))
    }

    /// A `\` outside a class.
    fn escape(&mut self, t: &'a str) -> Result<&'a str, RegexError> {
        let b = t.as_bytes();
        if b.len() >= 2 {
            match b[1] {
                b'A' => {
                    self.push_atom(r"\A".into());
                    return Ok(&t[2..]);
                }
                b'z' => {
                    self.push_atom(r"\z".into());
                    return Ok(&t[2..]);
                }
                b'b' => {
                    self.push_atom(r"(?-u:\b)".into());
                    return Ok(&t[2..]);
                }
                b'B' => {
                    self.push_atom(r"(?-u:\B)".into());
                    return Ok(&t[2..]);
                }
                b'C' => return Err(err(ErrorCode::InvalidEscape, &t[..2])),
                b'Q' => {
                    let body = &t[2..];
                    let (lit, rest) = match body.find(r"\E") {
                        Some(i) => (&body[..i], &body[i + 2..]),
                        None => (body, ""),
                    };
                    for c in lit.chars() {
                        self.push_atom(literal(c));
                    }
                    return Ok(rest);
                }
                b'p' | b'P' => {
                    let (item, rest) = self.unicode_class(t)?;
                    self.push_atom(item.standalone());
                    return Ok(rest);
                }
                c => {
                    if let Some((items, neg)) = perl_class(c as char) {
                        self.push_atom(format!("[{}{items}]", if neg { "^" } else { "" }));
                        return Ok(&t[2..]);
                    }
                }
            }
        }
        let (c, rest) = self.single_escape(t)?;
        self.push_atom(literal(c));
        Ok(rest)
    }

    /// Go's `parseEscape`: one escaped character (octal, hex, C escapes, punctuation).
    fn single_escape(&self, s: &'a str) -> Result<(char, &'a str), RegexError> {
        let t = &s[1..];
        let Some((c, mut t)) = next_char(t) else {
            return Err(err(ErrorCode::TrailingBackslash, ""));
        };
        let fail = |t: &str| Err(err(ErrorCode::InvalidEscape, &s[..s.len() - t.len()]));
        let octal = |b: Option<&u8>| matches!(b, Some(b'0'..=b'7'));
        match c {
            '1'..='7' | '0' => {
                // A single non-zero digit would be a backreference: not supported.
                if c != '0' && !octal(t.as_bytes().first()) {
                    return fail(t);
                }
                let mut r = c as u32 - '0' as u32;
                for _ in 1..3 {
                    if !octal(t.as_bytes().first()) {
                        break;
                    }
                    r = r * 8 + (t.as_bytes()[0] - b'0') as u32;
                    t = &t[1..];
                }
                Ok((char::from_u32(r).unwrap_or('\0'), t))
            }
            'x' => {
                let Some((c, rest)) = next_char(t) else {
                    return fail(t);
                };
                t = rest;
                if c == '{' {
                    let mut n = 0;
                    let mut r: u32 = 0;
                    loop {
                        let Some((c, rest)) = next_char(t) else {
                            return fail(t);
                        };
                        t = rest;
                        if c == '}' {
                            break;
                        }
                        let Some(v) = c.to_digit(16) else {
                            return fail(t);
                        };
                        r = r * 16 + v;
                        if r > 0x10FFFF {
                            return fail(t);
                        }
                        n += 1;
                    }
                    if n == 0 {
                        return fail(t);
                    }
                    // Surrogates cannot occur in a UTF-8 label value; match nothing.
                    return Ok((char::from_u32(r).unwrap_or('\u{FFFD}'), t));
                }
                let x = c.to_digit(16);
                let (c2, rest) = next_char(t).unwrap_or(('\u{FFFD}', t));
                t = rest;
                match (x, c2.to_digit(16)) {
                    (Some(x), Some(y)) => Ok((char::from_u32(x * 16 + y).unwrap_or('\0'), t)),
                    _ => fail(t),
                }
            }
            'a' => Ok(('\x07', t)),
            'f' => Ok(('\x0C', t)),
            'n' => Ok(('\n', t)),
            'r' => Ok(('\r', t)),
            't' => Ok(('\t', t)),
            'v' => Ok(('\x0B', t)),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, t)),
            _ => fail(t),
        }
    }

    /// `\pN`, `\p{Greek}`, `\P{^Greek}`: Go's `parseUnicodeClass`.
    fn unicode_class(&self, s: &'a str) -> Result<(UnicodeItem, &'a str), RegexError> {
        let mut negated = s.as_bytes()[1] == b'P';
        let t = &s[2..];
        let (seq, mut name, rest) = match next_char(t) {
            Some(('{', _)) => {
                let Some(end) = s.find('}') else {
                    return Err(err(ErrorCode::InvalidCharRange, s));
                };
                (&s[..end + 1], &s[3..end], &s[end + 1..])
            }
            Some((_, rest)) => {
                let seq = &s[..s.len() - rest.len()];
                (seq, &seq[2..], rest)
            }
            None => (s, "", ""),
        };
        if let Some(n) = name.strip_prefix('^') {
            negated = !negated;
            name = n;
        }
        if name != "Any" && !CATEGORIES.contains(&name) && !SCRIPTS.contains(&name) {
            return Err(err(ErrorCode::InvalidCharRange, seq));
        }
        Ok((
            UnicodeItem {
                name: name.to_string(),
                negated,
            },
            rest,
        ))
    }

    /// A bracketed class (Go's `parseClass`); `s` starts at `[`.
    fn class(&mut self, s: &'a str) -> Result<&'a str, RegexError> {
        let mut t = &s[1..];
        let mut negated = false;
        if let Some(rest) = t.strip_prefix('^') {
            negated = true;
            t = rest;
        }
        let mut items = String::new();
        let mut first = true;
        while t.is_empty() || !t.starts_with(']') || first {
            first = false;
            if t.len() > 2 && t.starts_with("[:") {
                if let Some(i) = t[2..].find(":]") {
                    let name = &t[..i + 4];
                    let inner = &name[2..name.len() - 2];
                    let bare = inner.strip_prefix('^').unwrap_or(inner);
                    if !POSIX.contains(&bare) {
                        return Err(err(ErrorCode::InvalidCharRange, name));
                    }
                    items.push_str(name);
                    t = &t[i + 4..];
                    continue;
                }
            }
            if t.len() >= 2 && t.starts_with('\\') {
                let c = t.as_bytes()[1];
                if c == b'p' || c == b'P' {
                    let (item, rest) = self.unicode_class(t)?;
                    items.push_str(&item.in_class());
                    t = rest;
                    continue;
                }
                if let Some((set, neg)) = perl_class(c as char) {
                    if neg {
                        items.push_str(&format!("[^{set}]"));
                    } else {
                        items.push_str(set);
                    }
                    t = &t[2..];
                    continue;
                }
            }
            let rng = t;
            let (lo, rest) = self.class_char(t, s)?;
            t = rest;
            let mut hi = lo;
            if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
                let (h, rest) = self.class_char(&t[1..], s)?;
                t = rest;
                hi = h;
                if hi < lo {
                    return Err(err(
                        ErrorCode::InvalidCharRange,
                        &rng[..rng.len() - t.len()],
                    ));
                }
            }
            items.push_str(&class_char(lo));
            if hi != lo {
                items.push('-');
                items.push_str(&class_char(hi));
            }
        }
        self.push_atom(format!("[{}{items}]", if negated { "^" } else { "" }));
        Ok(&t[1..])
    }

    fn class_char(&self, t: &'a str, whole_class: &str) -> Result<(char, &'a str), RegexError> {
        if t.is_empty() {
            return Err(err(ErrorCode::MissingBracket, whole_class));
        }
        if t.starts_with('\\') {
            return self.single_escape(t);
        }
        Ok(next_char(t).unwrap_or(('\0', "")))
    }
}

/// A validated Unicode class reference.
struct UnicodeItem {
    name: String,
    negated: bool,
}

impl UnicodeItem {
    /// The class's items for use inside brackets. Go's `C` is `Cc|Cf|Co|Cs` (no
    /// unassigned code points, which the crate's `C` includes); `Cs`, surrogates, cannot
    /// occur in a UTF-8 string.
    fn in_class(&self) -> String {
        let neg = if self.negated { "^" } else { "" };
        match self.name.as_str() {
            "C" => format!(r"[{neg}\p{{Cc}}\p{{Cf}}\p{{Co}}]"),
            "Cs" => format!(
                r"[{}\x{{0}}-\x{{10FFFF}}]",
                if self.negated { "" } else { "^" }
            ),
            name => format!(r"\{}{{{name}}}", if self.negated { 'P' } else { 'p' }),
        }
    }

    fn standalone(&self) -> String {
        let s = self.in_class();
        if s.starts_with('[') {
            s
        } else {
            format!("[{s}]")
        }
    }
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` at the start of `s`, as (min, max, rest)
/// with max -1 for unbounded and -1 for a count too large to read; `None` when `s` is
/// not a repetition (then `{` is a literal).
fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_int(s)?;
    let (max, s) = if let Some(s) = s.strip_prefix(',') {
        if let Some(rest) = s.strip_prefix('}') {
            return Some((min, -1, rest));
        }
        let (max, s) = parse_int(s)?;
        if max < 0 {
            min = -1;
        }
        (max, s)
    } else {
        (min, s)
    };
    let rest = s.strip_prefix('}')?;
    Some((min, max, rest))
}

/// Go's `parseInt`: digits without a leading zero; -1 when at least 10^8.
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut v: i64 = 0;
    for &d in &b[..n] {
        if v >= 100_000_000 {
            v = -1;
            break;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some((v, &s[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an anchored pattern does with a value: `Ok(true)` match, `Ok(false)` no match,
    /// `Err(text)` the error.
    fn run(pattern: &str, value: &str) -> Result<bool, String> {
        compile_anchored(pattern)
            .map(|re| re.is_match(value))
            .map_err(|e| e.to_string())
    }

    /// RE2's syntax document (<https://github.com/google/re2/wiki/Syntax>) as Go's
    /// `regexp` implements it, row by row: pattern, value, whether the anchored pattern
    /// matches. Each row was checked against Prometheus 2.42's `label_replace` (Go 1.19)
    /// except where a comment says otherwise.
    #[test]
    fn re2_syntax_table_matches() {
        let rows: &[(&str, &str, bool)] = &[
            // Literal quoting: \Q...\E; a repetition after it applies to its last char.
            (r"\Qa.b\E", "a.b", true),
            (r"\Qa.b\E", "axb", false),
            (r"\Qab\E+", "abb", true),
            (r"a\Q\E*", "aa", true),
            (r"\QA\E", "a", false),
            (r"(?i)\QA\E", "a", true),
            (r"\Q(?x)[a\E", "(?x)[a", true),
            // Octal escapes, up to three digits; \0 alone is NUL.
            (r"\143", "c", true),
            (r"\0", "\0", true),
            (r"\101\102", "AB", true),
            (r"\17", "\u{F}", true),
            (r"\400", "\u{100}", true),
            // Hex escapes.
            (r"\x41", "A", true),
            (r"\x{41}", "A", true),
            (r"\x{1F600}", "\u{1F600}", true),
            // C escapes.
            (r"\a\f\t\n\r\v", "\x07\x0C\t\n\r\x0B", true),
            // A { that does not start a repetition is literal.
            ("x{,3}", "x{,3}", true),
            ("x{,3}", "xxx", false),
            ("x{", "x{", true),
            ("x{1,", "x{1,", true),
            ("x{a}", "x{a}", true),
            ("a{01}", "a{01}", true),
            ("a}", "a}", true),
            // Counted repetitions.
            ("a{1000}", "a", false),
            ("a{2}", "aa", true),
            ("a{2,}", "aaaa", true),
            ("a{2,3}", "aaaa", false),
            ("(a{10}){100}", "a", false),
            ("(?:a{2}){0}b", "b", true),
            // Classes: && and nested [ are characters; the class ends at the first ].
            ("[a-z&&[^w]]", "w]", true),
            ("[a-z&&[^w]]", "&]", true),
            ("[a-z&&[^w]]", "a", false),
            ("[+--]", ",", true),
            ("[a~~b]", "~", true),
            ("[]a]", "]", true),
            ("[^]a]", "b", true),
            ("[^]a]", "]", false),
            ("[a-b-c]", "-", true),
            ("[a-]", "-", true),
            ("[-a]", "-", true),
            (r"[\]]", "]", true),
            (r"[\x41-\x43]", "B", true),
            (r"[\141]", "a", true),
            ("[[:alpha:]]", "a", true),
            ("[[:^alpha:]]", "a", false),
            ("[[:alpha:]0-9]", "5", true),
            ("[:alpha:]", "a", true),
            ("[:alpha:]", ":", true),
            ("[:alpha:]", "b", false),
            // Perl classes are ASCII, in and out of brackets; \s has no \v.
            (r"\d", "1", true),
            (r"\d", "٣", false),
            (r"\w", "é", false),
            (r"\w", "_", true),
            (r"\s", "\x0B", false),
            (r"\s", "\x0C", true),
            (r"[\s]", "\x0B", false),
            (r"[\d]", "1", true),
            (r"[\D]", "a", true),
            (r"[\D]", "1", false),
            (r"[^\D]", "1", true),
            (r"[\d\s]", " ", true),
            (r"[\W\d]", "5", true),
            (r"[\W\d]", "a", false),
            // Word boundaries are ASCII.
            (r"a\b", "a", true),
            (r"é\b", "é", false),
            (r"\Ba", "a", false),
            // Unicode classes: Go's category and script names, exact spelling.
            (r"\pN", "1", true),
            (r"\pN", "a", false),
            (r"\PL", "1", true),
            (r"\p{Greek}", "α", true),
            (r"\p{^Greek}", "a", true),
            (r"\P{^Greek}", "α", true),
            (r"\p{Han}", "中", true),
            (r"\p{L}", "a", true),
            (r"\pZ", " ", true),
            (r"\p{Any}", "x", true),
            (r"[\p{Greek}\d]", "7", true),
            (r"[^\pL]", "a", false),
            // Go's C has no unassigned code points.
            (r"\pC", "\u{0378}", false),
            (r"\pC", "\u{7}", true),
            (r"\PC", "\u{0378}", true),
            // Flags: i, m, s, U; duplicates and i-i are fine; (?) sets nothing.
            ("(?i)k", "K", true),
            ("(?i)k", "\u{212A}", true),
            ("(?i)[^k]", "\u{212A}", false),
            ("(?U)a+", "a", true),
            ("(?U)(a+)(a*)", "aa", true),
            ("(?)a", "a", true),
            ("(?ii)a", "A", true),
            ("(?i-i)a", "A", false),
            ("(?i:a)b", "Ab", true),
            ("(?i:a)b", "AB", false),
            ("(?m)^a$", "a", true),
            ("(?s).", "\n", true),
            // The anchored form is ^(?s:...)$ (Prometheus 3): . matches a newline.
            (".", "\n", true),
            ("(?-s).", "\n", false),
            // Empty alternatives and groups.
            ("a|", "", true),
            ("|a", "a", true),
            ("()", "", true),
            ("(|)", "", true),
            ("a||b", "", true),
            // Lazy forms and assertions that may repeat.
            ("a*?", "a", true),
            ("a+?b", "aab", true),
            ("^*", "", true),
            (r"\A\z", "", true),
            // Named groups: both forms (the second since Go 1.22 / Prometheus 3).
            ("(?P<n>a)", "a", true),
            ("(?<n>a)", "a", true),
            ("(?P<1a>a)", "a", true),
            ("(?P<a>a)(?P<a>b)", "ab", true),
            // Escaped punctuation is the character (\< is not a word boundary).
            (r"\<", "<", true),
            (r"\>", ">", true),
            (r"\_", "_", true),
            (r"\#\ \&\~\-", "# &~-", true),
            // Upstream wraps the pattern by text; a stray ) splits the anchors.
            ("a)|(b", "xb", true),
            ("a)|(b", "ax", true),
            ("a)|(b", "x", false),
        ];
        for &(pattern, value, want) in rows {
            assert_eq!(
                run(pattern, value),
                Ok(want),
                "pattern {pattern:?} on {value:?}"
            );
        }
    }

    /// Patterns RE2 rejects, with Go's error text (quoted parts as Go quotes them).
    #[test]
    fn re2_syntax_table_errors() {
        let rows: &[(&str, &str)] = &[
            (r"\Qa.b", "missing closing ): `^(?s:\\Qa.b)$`"),
            (r"\1", r"invalid escape sequence: `\1`"),
            (r"\8", r"invalid escape sequence: `\8`"),
            (r"\18", r"invalid escape sequence: `\1`"),
            (r"\C", r"invalid escape sequence: `\C`"),
            (r"\Z", r"invalid escape sequence: `\Z`"),
            (r"\e", r"invalid escape sequence: `\e`"),
            (r"\u0041", r"invalid escape sequence: `\u`"),
            (r"\é", r"invalid escape sequence: `\é`"),
            (r"\x{110000}", r"invalid escape sequence: `\x{110000`"),
            (r"\x{}", r"invalid escape sequence: `\x{}`"),
            (r"\xG1", r"invalid escape sequence: `\xG1`"),
            ("(?x)a b", "invalid or unsupported Perl syntax: `(?x`"),
            ("(?u)a", "invalid or unsupported Perl syntax: `(?u`"),
            ("(?R)a", "invalid or unsupported Perl syntax: `(?R`"),
            ("(?-)a", "invalid or unsupported Perl syntax: `(?-)`"),
            ("(?i-)a", "invalid or unsupported Perl syntax: `(?i-)`"),
            ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
            ("(?P=n)", "invalid or unsupported Perl syntax: `(?P`"),
            ("(?P<>a)", "invalid named capture: `(?P<>`"),
            ("(?P<a-b>a)", "invalid named capture: `(?P<a-b>`"),
            ("(?<=a)b", "invalid named capture: `(?<=a)b)$`"),
            ("a{1001}", "invalid repeat count: `{1001}`"),
            ("a{1001,}", "invalid repeat count: `{1001,}`"),
            ("a{0,1001}", "invalid repeat count: `{0,1001}`"),
            ("x{2,1}", "invalid repeat count: `{2,1}`"),
            ("a{100000000}", "invalid repeat count: `{100000000}`"),
            ("(a{100}){100}", "invalid repeat count: `{100}`"),
            ("((a{10}){10}){11}", "invalid repeat count: `{11}`"),
            ("a**", "invalid nested repetition operator: `**`"),
            ("a*??", "invalid nested repetition operator: `*??`"),
            ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            ("a+*", "invalid nested repetition operator: `+*`"),
            ("*a", "missing argument to repetition operator: `*`"),
            ("a|*", "missing argument to repetition operator: `*`"),
            ("(*)", "missing argument to repetition operator: `*`"),
            (r"\Q\E*", "missing argument to repetition operator: `*`"),
            ("{2}", "missing argument to repetition operator: `{2}`"),
            ("(", "missing closing ): `^(?s:()$`"),
            ("[a", "missing closing ]: `[a)$`"),
            ("[]", "missing closing ]: `[])$`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            ("[a--b]", "invalid character class range: `a--`"),
            ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            (r"[\Q]\E]", r"invalid escape sequence: `\Q`"),
            (r"[a-\d]", r"invalid escape sequence: `\d`"),
            (r"\p{greek}", r"invalid character class range: `\p{greek}`"),
            (
                r"\p{Letter}",
                r"invalid character class range: `\p{Letter}`",
            ),
            (r"\p{Garay}", r"invalid character class range: `\p{Garay}`"),
            (r"\pX", r"invalid character class range: `\pX`"),
            (r"\p{Greek", r"invalid character class range: `\p{Greek)$`"),
        ];
        for &(pattern, want) in rows {
            assert_eq!(
                run(pattern, ""),
                Err(format!("error parsing regexp: {want}")),
                "pattern {pattern:?}"
            );
        }
        assert_eq!(
            translate("a)").unwrap_err().to_string(),
            "error parsing regexp: unexpected ): `a)`"
        );
        assert_eq!(
            translate(r"a\").unwrap_err().to_string(),
            "error parsing regexp: trailing backslash at end of expression: ``"
        );
    }

    #[test]
    fn capture_groups_keep_numbers_and_names() {
        let re = compile_anchored(r"(a)\Q(\E(?:b)(?P<x>c)(?i)(d)").unwrap();
        let caps = re.captures("a(bcD").unwrap();
        assert_eq!(&caps[1], "a");
        assert_eq!(&caps[3], "D");
        assert_eq!(caps.name("x").unwrap().as_str(), "c");
        // Names the crate cannot spell are encoded; capture_name decodes them.
        let re = compile_anchored("(?P<1a>a)(?P<x>b)(?P<x>c)").unwrap();
        let names: Vec<&str> = re.capture_names().flatten().map(capture_name).collect();
        assert_eq!(names, ["1a", "x", "x"]);
        assert_eq!(re.captures_len(), 4);
        assert_eq!(capture_name("plain"), "plain");
    }

    #[test]
    fn anchored_hir_strips_the_anchors() {
        use regex_syntax::hir::HirKind;
        let hir = anchored_hir("ab|cd").unwrap();
        assert!(matches!(hir.kind(), HirKind::Alternation(_)), "{hir:?}");
        let hir = anchored_hir("ab").unwrap();
        assert!(matches!(hir.kind(), HirKind::Literal(_)), "{hir:?}");
        // A stray ) splits the anchors: they stay.
        let hir = anchored_hir("a)|(b").unwrap();
        assert!(matches!(hir.kind(), HirKind::Alternation(_)), "{hir:?}");
        assert!(anchored_hir("(").is_err());
    }

    #[test]
    fn long_patterns_are_quoted_in_part() {
        let long = format!("({}", "a".repeat(500));
        let e = compile_anchored(&long).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingParen);
        assert!(e.expr.starts_with("^(?s:(aaa"), "{}", e.expr);
        assert!(e.expr.ends_with("... (508 bytes)"), "{}", e.expr);
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_crash() {
        let deep = format!("{}a{}", "(".repeat(1001), ")".repeat(1001));
        assert_eq!(
            compile_anchored(&deep).unwrap_err().code,
            ErrorCode::NestingDepth
        );
        let ok = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(compile_anchored(&ok).unwrap().is_match("a"));
    }

    /// Differential check on the syntax both dialects read alike: random patterns of
    /// literals, classes, groups, alternations and repetitions (fixed seed) must match
    /// exactly what the `regex` crate matches with the pattern as written.
    #[test]
    fn translation_agrees_with_the_crate_where_the_dialects_agree() {
        struct Rng(u64);
        impl Rng {
            fn next(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
        }
        fn gen(r: &mut Rng, depth: u32, out: &mut String) {
            let alts = 1 + r.next(3);
            for a in 0..alts {
                if a > 0 {
                    out.push('|');
                }
                for _ in 0..r.next(4) {
                    match r.next(if depth > 2 { 6 } else { 8 }) {
                        0 => out.push('a'),
                        1 => out.push('b'),
                        2 => out.push_str("[ab]"),
                        3 => out.push_str("[^a]"),
                        4 => out.push('.'),
                        5 => out.push('c'),
                        6 => {
                            out.push('(');
                            gen(r, depth + 1, out);
                            out.push(')');
                        }
                        _ => {
                            out.push_str("(?:");
                            gen(r, depth + 1, out);
                            out.push(')');
                        }
                    }
                    let q = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "*?"];
                    out.push_str(q[r.next(q.len() as u64) as usize]);
                }
            }
        }
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = ['a', 'b', 'c', '\n'];
        for _ in 0..400 {
            let mut p = String::new();
            gen(&mut r, 0, &mut p);
            let ours = compile_anchored(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let theirs = Regex::new(&format!("^(?s:{p})$")).unwrap();
            for _ in 0..40 {
                let len = r.next(6) as usize;
                let v: String = (0..len)
                    .map(|_| alphabet[r.next(alphabet.len() as u64) as usize])
                    .collect();
                assert_eq!(ours.is_match(&v), theirs.is_match(&v), "{p:?} on {v:?}");
                if let (Some(a), Some(b)) = (ours.captures(&v), theirs.captures(&v)) {
                    for i in 0..a.len() {
                        assert_eq!(
                            a.get(i).map(|m| m.range()),
                            b.get(i).map(|m| m.range()),
                            "{p:?} on {v:?}, group {i}"
                        );
                    }
                }
            }
        }
    }

    /// The shapes dashboards and rules use translate to the very syntax tree the crate
    /// builds from the pattern as written, so they compile to the same program and match
    /// at the same speed as before the front end.
    #[test]
    fn common_patterns_translate_to_the_same_tree() {
        for p in [
            "5..",
            "host-.*",
            ".*:9100",
            "host-0[0-9]+:9100",
            "(api|web)-[a-z]+",
            "foo.+bar",
            "(?i)error|warn",
            "node_(cpu|memory)_.*",
            "[^/]+/(.*)",
        ] {
            let ours = regex_syntax::Parser::new()
                .parse(&translate(&anchored_source(p)).unwrap())
                .unwrap();
            let theirs = regex_syntax::Parser::new()
                .parse(&anchored_source(p))
                .unwrap();
            assert_eq!(ours, theirs, "{p}");
        }
    }
}
