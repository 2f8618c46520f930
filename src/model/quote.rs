//! Go's `strconv.Quote` family, which Prometheus output uses wherever Go code prints a
//! string with `%q` or `strconv.Quote`: PromQL's printer and error messages, Go's
//! `labels.Labels.String()` ([`crate::model::Labels::go_string`]), promtool's messages and
//! the template engine's `printf "%q"`. The inverse (`unquote`) is the PromQL lexer's.

/// Quotes `s` like Go's `strconv.Quote`: printable characters verbatim, `\"`, `\\`, the
/// usual short escapes, `\xHH` for other control bytes, `\uHHHH`/`\UHHHHHHHH` for other
/// non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// Appends [`go_quote`]`(s)` to `out`.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        push_escaped(out, c, '"');
    }
    out.push('"');
}

/// Quotes bytes like Go's `strconv.Quote` on a string that may not be UTF-8: valid
/// characters as [`go_quote`] does, each byte of an invalid sequence as `\xHH`.
pub fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c, '"');
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Quotes one character like Go's `%q` on a rune: `'a'`, `'\n'`.
pub fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if c.is_control() || is_unprintable_format(c) => {
            let v = c as u32;
            if v <= 0xffff {
                out.push_str(&format!("\\u{v:04x}"));
            } else {
                out.push_str(&format!("\\U{v:08x}"));
            }
        }
        c => out.push(c),
    }
}

/// Characters Go's `strconv.IsPrint` rejects besides control characters: format characters
/// and separators that are not a plain space.
fn is_unprintable_format(c: char) -> bool {
    matches!(c as u32,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xa0 | 0x1680 | 0x2000..=0x200a | 0x205f | 0x3000
        | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfffe | 0xffff)
}
