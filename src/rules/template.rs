//! Parse-time checks of alert label and annotation templates, as `promtool check rules`
//! makes them: upstream parses each value as a Go `text/template` (after the definitions
//! of `$labels`, `$externalLabels`, `$externalURL` and `$value`) with Prometheus' function
//! map, and reports what the parser rejects.
//!
//! This is not a template engine, only the parser's verdict for what a rule author gets
//! wrong in practice, in the parser's words: actions and comments left open
//! (`unclosed action`, `unclosed comment`, `unterminated quoted string`), blocks left open
//! or closed twice (`unexpected EOF`, `unexpected {{end}}`, `unexpected {{else}}`),
//! variables used outside their scope (`undefined variable "$x"`: `:=` declares until the
//! end of the enclosing `if`/`with`/`range` block) and unknown functions
//! (`function "f" not defined`). Errors carry the template's line, as
//! `template: NAME:LINE: message`.

use std::fmt;

/// Functions a template may call: Go's built-ins and Prometheus' template functions.
const FUNCTIONS: &[&str] = &[
    // text/template built-ins.
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    // Prometheus' template functions.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "now",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
];

/// Variables every alert template starts with (upstream prepends their definitions).
const PREDEFINED: &[&str] = &["$", "$labels", "$externalLabels", "$externalURL", "$value"];

/// Why a template does not parse, with the 1-based line in the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

impl TemplateError {
    /// Go's wording: `template: NAME:LINE: message`.
    pub fn display_for<'a>(&'a self, name: &'a str) -> impl fmt::Display + 'a {
        struct D<'a>(&'a TemplateError, &'a str);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "template: {}:{}: {}",
                    self.1, self.0.line, self.0.message
                )
            }
        }
        D(self, name)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// `$`, `$name`.
    Var(String),
    /// A function or keyword name.
    Ident(String),
    Declare,
    Assign,
    /// Anything else the checks do not look at (fields, literals, punctuation).
    Other,
}

/// One action's tokens, with the line each starts on.
type Action = Vec<(Tok, usize)>;

/// Checks one template.
pub fn check(text: &str) -> Result<(), TemplateError> {
    let actions = lex(text)?;
    let mut scopes: Vec<Vec<String>> = vec![PREDEFINED.iter().map(|s| s.to_string()).collect()];
    // Open blocks; `define`/`block` bodies start from `$` alone.
    let mut open: Vec<&'static str> = Vec::new();
    for (action, line) in actions {
        let Some((first, _)) = action.first() else {
            return Err(TemplateError {
                line,
                message: "missing value for command".into(),
            });
        };
        let mut rest: &[(Tok, usize)] = &action[1..];
        match first {
            Tok::Ident(k) if matches!(k.as_str(), "if" | "with" | "range") => {
                open.push("block");
                scopes.push(Vec::new());
            }
            Tok::Ident(k) if matches!(k.as_str(), "define" | "block") => {
                open.push("block");
                scopes.push(Vec::new());
            }
            Tok::Ident(k) if k == "else" => {
                if open.is_empty() {
                    return Err(TemplateError {
                        line,
                        message: "unexpected {{else}}".into(),
                    });
                }
                // `else if` / `else with` chain into the same block.
                if let Some((Tok::Ident(k2), _)) = rest.first() {
                    if k2 == "if" || k2 == "with" {
                        rest = &rest[1..];
                    }
                }
            }
            Tok::Ident(k) if k == "end" => {
                if open.pop().is_none() {
                    return Err(TemplateError {
                        line,
                        message: "unexpected {{end}}".into(),
                    });
                }
                scopes.pop();
                continue;
            }
            Tok::Ident(k) if matches!(k.as_str(), "template" | "break" | "continue") => {}
            _ => rest = &action[..],
        }
        // Declarations (`$x :=`, `$k, $v :=`) come before the pipeline and are visible in it.
        if let Some(i) = rest.iter().position(|(t, _)| *t == Tok::Declare) {
            for (t, _) in &rest[..i] {
                if let Tok::Var(v) = t {
                    if let Some(s) = scopes.last_mut() {
                        s.push(v.clone());
                    }
                }
            }
            rest = &rest[i + 1..];
        } else if rest.iter().any(|(t, _)| *t == Tok::Assign) {
            // `$x = ...` assigns to a variable declared earlier; upstream's parser of this
            // era does not check it.
            if let Some(i) = rest.iter().position(|(t, _)| *t == Tok::Assign) {
                rest = &rest[i + 1..];
            }
        }
        for (t, tline) in rest {
            match t {
                Tok::Var(v) if !scopes.iter().any(|s| s.contains(v)) => {
                    return Err(TemplateError {
                        line: *tline,
                        message: format!("undefined variable {v:?}"),
                    });
                }
                Tok::Ident(f)
                    if !FUNCTIONS.contains(&f.as_str())
                        && !matches!(f.as_str(), "true" | "false" | "nil") =>
                {
                    return Err(TemplateError {
                        line: *tline,
                        message: format!("function {f:?} not defined"),
                    });
                }
                _ => {}
            }
        }
    }
    if !open.is_empty() {
        let line = 1 + text.matches('\n').count();
        return Err(TemplateError {
            line,
            message: "unexpected EOF".into(),
        });
    }
    Ok(())
}

/// Splits the template into actions (comments dropped), each with its tokens and the
/// line it starts on.
fn lex(text: &str) -> Result<Vec<(Action, usize)>, TemplateError> {
    let b = text.as_bytes();
    let line_at = |i: usize| 1 + b[..i].iter().filter(|&&c| c == b'\n').count();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find("{{") {
        let start = i + off;
        let mut j = start + 2;
        // `{{- ` trims the text before; the dash must be followed by a space.
        if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 2;
        }
        let line = line_at(start);
        let after_ws = j + text[j..].len() - text[j..].trim_start().len();
        if text[after_ws..].starts_with("/*") {
            let Some(end) = text[after_ws + 2..].find("*/") else {
                return Err(TemplateError {
                    line,
                    message: "unclosed comment".into(),
                });
            };
            let mut k = after_ws + 2 + end + 2;
            k += text[k..].len() - text[k..].trim_start().len();
            let k = if text[k..].starts_with("-}}") {
                k + 3
            } else if text[k..].starts_with("}}") {
                k + 2
            } else {
                return Err(TemplateError {
                    line,
                    message: "comment ends before closing delimiter".into(),
                });
            };
            i = k;
            continue;
        }
        let (tokens, next) = lex_action(text, j, &line_at)?;
        out.push((tokens, line));
        i = next;
    }
    Ok(out)
}

/// Tokens of one action starting at byte `i` (after `{{`); returns them and the byte after
/// the closing `}}`.
fn lex_action(
    text: &str,
    mut i: usize,
    line_at: &dyn Fn(usize) -> usize,
) -> Result<(Action, usize), TemplateError> {
    let b = text.as_bytes();
    let mut toks: Action = Vec::new();
    let unclosed = |at: usize| TemplateError {
        line: line_at(at),
        message: "unclosed action".into(),
    };
    loop {
        let Some(&c) = b.get(i) else {
            return Err(unclosed(i.saturating_sub(1).min(text.len())));
        };
        let line = line_at(i);
        match c {
            b'}' if b.get(i + 1) == Some(&b'}') => return Ok((toks, i + 2)),
            b'-' if b.get(i + 1) == Some(&b'}')
                && b.get(i + 2) == Some(&b'}')
                && i > 0
                && b[i - 1].is_ascii_whitespace() =>
            {
                return Ok((toks, i + 3));
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'"' | b'\'' => {
                let mut k = i + 1;
                loop {
                    match b.get(k) {
                        None | Some(b'\n') => {
                            return Err(TemplateError {
                                line,
                                message: if c == b'"' {
                                    "unterminated quoted string".into()
                                } else {
                                    "unterminated character constant".into()
                                },
                            })
                        }
                        Some(b'\\') => k += 2,
                        Some(&q) if q == c => break,
                        Some(_) => k += 1,
                    }
                }
                toks.push((Tok::Other, line));
                i = k + 1;
            }
            b'`' => {
                let Some(end) = text[i + 1..].find('`') else {
                    return Err(TemplateError {
                        line,
                        message: "unterminated raw quoted string".into(),
                    });
                };
                toks.push((Tok::Other, line));
                i += end + 2;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                toks.push((Tok::Declare, line));
                i += 2;
            }
            b'=' => {
                toks.push((Tok::Assign, line));
                i += 1;
            }
            b'$' => {
                let k = ident_end(b, i + 1);
                toks.push((Tok::Var(text[i..k].to_string()), line));
                i = k;
            }
            b'.' => {
                // A field chain (`.Labels.job`) or the dot itself.
                let mut k = i + 1;
                while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'.')
                {
                    k += 1;
                }
                toks.push((Tok::Other, line));
                i = k;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let k = ident_end(b, i);
                // A field access on a result (`(x).Field`) is preceded by `)`, handled by
                // the `.` arm; a bare word is a keyword or a function.
                toks.push((Tok::Ident(text[i..k].to_string()), line));
                i = k;
            }
            c if c.is_ascii_digit() || c == b'+' || c == b'-' => {
                let mut k = i + 1;
                while k < b.len()
                    && (b[k].is_ascii_alphanumeric() || matches!(b[k], b'.' | b'_' | b'+' | b'-'))
                {
                    k += 1;
                }
                toks.push((Tok::Other, line));
                i = k;
            }
            _ => {
                // `(`, `)`, `|`, `,` and anything else.
                toks.push((Tok::Other, line));
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
}

fn ident_end(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: &str) -> String {
        check(t)
            .map(|()| "ok".to_string())
            .unwrap_or_else(|e| format!("{}: {}", e.line, e.message))
    }

    #[test]
    fn accepts_what_alert_templates_use() {
        for t in [
            "plain text",
            "{{ $labels.job }} {{ $value | humanize }} {{ $externalLabels.x }} {{ $externalURL }}",
            "{{ range $i, $e := $labels }}{{ $i }}={{ $e }}{{ end }}",
            "{{ $x := 1 }}{{ $x }}{{ with $y := 2 }}{{ $y }}{{ else }}{{ $y }}{{ end }}",
            "{{/* comment */}}{{- $labels -}}{{ printf \"%s }}\" $value }}",
            "{{ if gt $value 1.5 }}high{{ else if lt $value -1 }}low{{ else }}ok{{ end }}",
            "{{ query \"up\" | first | value }}{{ reReplaceAll \"a\" \"b\" `c` }}",
            "{{ .Labels.job }}{{ (index $labels \"job\") }}{{ len . }}",
            "{{ $x := 1 }}{{ $x = 2 }}{{ true }}{{ nil }}",
        ] {
            assert_eq!(err(t), "ok", "{t}");
        }
    }

    #[test]
    fn rejects_as_go_text_template_does() {
        assert_eq!(err("{{ $foo }}"), "1: undefined variable \"$foo\"");
        assert_eq!(err("{{ $label.foo }}"), "1: undefined variable \"$label\"");
        assert_eq!(err("{{ nofunc 1 }}"), "1: function \"nofunc\" not defined");
        assert_eq!(err("{{ .Labels.job"), "1: unclosed action");
        assert_eq!(
            err("line1\n{{ range $i, $e := $labels }}{{ $i }}{{ end }}{{ $i }}"),
            "2: undefined variable \"$i\""
        );
        assert_eq!(err("{{ if true }}x"), "1: unexpected EOF");
        assert_eq!(err("{{ end }}"), "1: unexpected {{end}}");
        assert_eq!(err("{{ else }}"), "1: unexpected {{else}}");
        assert_eq!(err("{{/* open"), "1: unclosed comment");
        assert_eq!(err("{{ \"open }}"), "1: unterminated quoted string");
    }
}
