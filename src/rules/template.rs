//! Parse-time checks of alert label and annotation templates, as `promtool check rules`
//! makes them: upstream parses each value as a Go `text/template` after the definitions
//! of `$labels`, `$externalLabels`, `$externalURL` and `$value`, with Prometheus' function
//! map, and reports what the parser rejects. The parsing is [`crate::template`]'s, the
//! engine that also expands the templates; errors carry the template's line, as
//! `template: NAME:LINE: message`.

use std::fmt;

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

/// Checks one alert label or annotation template.
pub fn check(text: &str) -> Result<(), TemplateError> {
    // The definitions Prometheus puts in front share the first line, so lines match.
    let src = format!(
        "{{{{$labels := .Labels}}}}{{{{$externalLabels := .ExternalLabels}}}}\
         {{{{$externalURL := .ExternalURL}}}}{{{{$value := .Value}}}}{text}"
    );
    let funcs = crate::template::prometheus::funcs(&Default::default());
    match crate::template::Template::parse("__alert", &src, funcs) {
        Ok(_) => Ok(()),
        Err(crate::template::TemplateError::Parse { line, msg, .. }) => {
            Err(TemplateError { line, message: msg })
        }
        Err(other) => Err(TemplateError {
            line: 1,
            message: other.to_string(),
        }),
    }
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
