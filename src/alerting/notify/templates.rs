//! Notification templates: Alertmanager's default template set plus the user's
//! `templates:` files, on the Go text/template engine (src/template).
//!
//! Mirrors Alertmanager 0.25's `template` package: the data a template sees is
//! `template.Data` ([`data_value`]) with its methods (`.Alerts.Firing`,
//! `.Alerts.Resolved`, `.SortedPairs`, `.Names`, `.Values`, `.Remove`; times are
//! `time.Time` with `String`, `Unix`, `Format`...), the functions are Alertmanager's
//! `DefaultFuncs` (`toUpper`, `toLower`, `title`, `join`, `match`, `safeHtml`,
//! `reReplaceAll`, `stringSlice`; 0.25 has no `date`/`tz`), and every configured string
//! is rendered as a new template added to the set (`ExecuteTextString`), so it can call
//! `{{ template "slack.default.title" . }}` or a user `define`. User files are parsed
//! after the defaults, so their `define`s replace the defaults of the same name.
//!
//! The default set ([`DEFAULT_TEMPLATES`]) is written here to render what Alertmanager
//! 0.25's `default.tmpl` renders (checked against captured output in the tests below).
//! `email.default.html` is promtui's own markup: it carries the same text, links and
//! sections as Alertmanager's e-mail, in a plainer layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

use super::{NotifyAlert, NotifyData};
use crate::template::{Escape, Func, FuncMap, Method, MethodMap, Template, TemplateError, Value};

/// Alertmanager's default templates, as promtui writes them (see the module doc).
pub const DEFAULT_TEMPLATES: &str = r#"
{{ define "__alertmanager" }}Alertmanager{{ end }}
{{ define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}{{ end }}

{{- /* [FIRING:n] or [RESOLVED], the group labels' values, then the other common labels' values. */ -}}
{{ define "__subject" -}}
[{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
{{- " " }}{{ join " " .GroupLabels.SortedPairs.Values }}{{ " " }}
{{- if gt (len .CommonLabels) (len .GroupLabels) -}}
({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ join " " .Values }}{{ end }})
{{- end }}
{{- end }}
{{ define "__description" }}{{ end }}

{{ define "__text_alert_list" }}
{{- range $alert := . -}}
Labels:
{{ range $alert.Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Annotations:
{{ range $alert.Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Source: {{ $alert.GeneratorURL }}
{{ end -}}
{{ end }}

{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" -}}
{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}
{{- end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.text" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}

{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}

{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}

{{- /* Helpers of the other receivers' defaults: the common annotations' values, and the
       firing then resolved alert lists, tight or with blank lines around each list. */ -}}
{{ define "__annotation_values" }}{{ join " " .CommonAnnotations.SortedPairs.Values }}{{ end }}
{{ define "__firing_resolved" -}}
{{ with .Alerts.Firing }}Alerts Firing:
{{ template "__text_alert_list" . }}{{ end }}
{{ with .Alerts.Resolved }}Alerts Resolved:
{{ template "__text_alert_list" . }}{{ end }}
{{- end }}
{{ define "__firing_resolved_spaced" -}}
{{ with .Alerts.Firing }}
Alerts Firing:
{{ template "__text_alert_list" . }}
{{ end }}
{{ with .Alerts.Resolved }}
Alerts Resolved:
{{ template "__text_alert_list" . }}
{{ end }}
{{- end }}

{{ define "opsgenie.default.message" }}{{ template "__subject" . }}{{ end }}
{{ define "opsgenie.default.description" }}{{ template "__annotation_values" . }}
{{ template "__firing_resolved" . }}{{ end }}
{{ define "opsgenie.default.source" }}{{ template "__alertmanagerURL" . }}{{ end }}

{{ define "wechat.default.message" }}{{ template "__subject" . }}
{{ template "__annotation_values" . }}
{{ template "__firing_resolved" . }}
AlertmanagerUrl:
{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "wechat.default.to_user" }}{{ end }}
{{ define "wechat.default.to_party" }}{{ end }}
{{ define "wechat.default.to_tag" }}{{ end }}
{{ define "wechat.default.agent_id" }}{{ end }}

{{ define "victorops.default.state_message" }}{{ template "__annotation_values" . }}
{{ template "__firing_resolved" . }}{{ end }}
{{ define "victorops.default.entity_display_name" }}{{ template "__subject" . }}{{ end }}
{{ define "victorops.default.monitoring_tool" }}{{ template "__alertmanager" . }}{{ end }}

{{ define "pushover.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "pushover.default.message" }}{{ template "__annotation_values" . }}
{{ template "__firing_resolved_spaced" . }}
{{ end }}
{{ define "pushover.default.url" }}{{ template "__alertmanagerURL" . }}{{ end }}

{{ define "sns.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "sns.default.message" }}{{ template "__annotation_values" . }}
{{ template "__firing_resolved_spaced" . }}
{{ end }}

{{ define "telegram.default.message" }}
{{ template "__firing_resolved_spaced" . }}
{{ end }}

{{ define "discord.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "discord.default.message" }}
{{ template "__firing_resolved_spaced" . }}
{{ end }}

{{ define "webex.default.message" }}{{ template "__annotation_values" . }}
{{ template "__firing_resolved_spaced" . }}
{{ end }}

{{- /* One alert's block in the e-mail: its labels, annotations and source link. */ -}}
{{ define "__email_alert" -}}
<tr><td class="alert-block">
<strong>Labels</strong><br>
{{ range .Labels.SortedPairs }}{{ .Name }} = {{ .Value }}<br>{{ end }}
{{ if .Annotations }}<strong>Annotations</strong><br>{{ end }}
{{ range .Annotations.SortedPairs }}{{ .Name }} = {{ .Value }}<br>{{ end }}
<a href="{{ .GeneratorURL }}">Source</a><br>
</td></tr>
{{ end }}

{{ define "email.default.html" -}}
<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width">
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<title>{{ template "__subject" . }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; font-size: 14px; background: #f4f4f4; margin: 0; }
table.frame { width: 100%; max-width: 640px; margin: 16px auto; background: #ffffff; border-collapse: collapse; }
td { padding: 8px 16px; vertical-align: top; }
td.banner { color: #ffffff; font-size: 16px; text-align: center; padding: 16px; }
td.firing { background: #d9442a; }
td.resolved { background: #5a9e1e; }
a.button { display: inline-block; background: #1e6fd9; color: #ffffff; padding: 6px 14px; text-decoration: none; border-radius: 3px; }
p.footer { text-align: center; color: #888888; font-size: 12px; }
</style>
</head>
<body>
<table class="frame">
<tr><td class="banner {{ if .Alerts.Firing }}firing{{ else }}resolved{{ end }}">
{{ len .Alerts }} alert{{ if gt (len .Alerts) 1 }}s{{ end }} for
{{ range .GroupLabels.SortedPairs }} {{ .Name }}={{ .Value }}{{ end }}
</td></tr>
<tr><td><a class="button" href="{{ template "__alertmanagerURL" . }}">View in {{ template "__alertmanager" . }}</a></td></tr>
{{ with .Alerts.Firing -}}
<tr><td><strong>[{{ len . }}] Firing</strong></td></tr>
{{ range . }}{{ template "__email_alert" . }}{{ end }}
{{- end }}
{{ with .Alerts.Resolved -}}
{{ if $.Alerts.Firing }}<tr><td><br><hr><br></td></tr>{{ end }}
<tr><td><strong>[{{ len . }}] Resolved</strong></td></tr>
{{ range . }}{{ template "__email_alert" . }}{{ end }}
{{- end }}
</table>
<p class="footer"><a href="{{ .ExternalURL }}">Sent by {{ template "__alertmanager" . }}</a></p>
</body>
</html>
{{ end }}
"#;

/// Why the template set did not load (at config load, so the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum TemplateLoadError {
    #[error("invalid templates pattern {pattern:?}: {message}")]
    Glob { pattern: String, message: String },
    #[error("reading template file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A template file that does not parse: `file:line: message`.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Why a configured template string did not render.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(#[from] pub TemplateError);

/// The parsed template set every integration renders its fields with.
#[derive(Debug)]
pub struct Templates {
    /// The user's template files, in load order.
    pub files: Vec<PathBuf>,
    set: Template,
}

impl Default for Templates {
    /// The default set alone (no `templates:` in the configuration).
    fn default() -> Self {
        Templates {
            files: Vec::new(),
            set: default_set(),
        }
    }
}

fn default_set() -> Template {
    // The default set is a constant of this file and tested to parse; a failure here
    // is a bug in DEFAULT_TEMPLATES, not input.
    Template::parse("default.tmpl", DEFAULT_TEMPLATES, funcs())
        .expect("DEFAULT_TEMPLATES parses (tested)")
        .with_methods(methods())
}

impl Templates {
    /// The default set plus every file matched by `globs` (relative patterns are taken
    /// from `base_dir`, the directory of alertmanager.yml), in pattern order and, within
    /// a pattern, in name order as Go's `filepath.Glob`. A pattern that matches nothing is
    /// not an error, as in Alertmanager.
    pub fn load(globs: &[String], base_dir: &Path) -> Result<Templates, TemplateLoadError> {
        let mut set = default_set();
        let mut files = Vec::new();
        for pattern in globs {
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                base_dir.join(pattern)
            };
            let paths =
                glob::glob(&full.to_string_lossy()).map_err(|e| TemplateLoadError::Glob {
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            matched.sort();
            for path in matched {
                if path.is_dir() {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&path).map_err(|source| TemplateLoadError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                set.add(&name, &text).map_err(|e| match e {
                    TemplateError::Parse { line, msg, .. } => TemplateLoadError::Parse {
                        path: path.clone(),
                        line,
                        message: msg,
                    },
                    other => TemplateLoadError::Parse {
                        path: path.clone(),
                        line: 0,
                        message: other.to_string(),
                    },
                })?;
                files.push(path);
            }
        }
        Ok(Templates { files, set })
    }

    /// Renders a configured string (a Slack title, an e-mail header...) over `data` as
    /// Alertmanager's `ExecuteTextString`: an empty string renders as empty.
    pub fn render_text(&self, tmpl_source: &str, data: &NotifyData) -> Result<String, RenderError> {
        self.render(tmpl_source, &data_value(data), Escape::Text)
    }

    /// As [`Templates::render_text`], with every action's output HTML-escaped as
    /// `html/template` does (`ExecuteHTMLString`), except `safeHtml` values.
    pub fn render_html(&self, tmpl_source: &str, data: &NotifyData) -> Result<String, RenderError> {
        self.render(tmpl_source, &data_value(data), Escape::Html)
    }

    /// Renders over an already converted [`data_value`] (an integration rendering many
    /// fields converts once).
    pub fn render(
        &self,
        tmpl_source: &str,
        data: &Value,
        escape: Escape,
    ) -> Result<String, RenderError> {
        if tmpl_source.is_empty() {
            return Ok(String::new());
        }
        Ok(self.set.execute_text("", tmpl_source, data, escape)?)
    }
}

/// The notification an integration without `send_resolved` sends: only the firing
/// alerts, common labels and annotations recomputed over them (Alertmanager filters
/// resolved alerts out before building the template data); `None` when nothing fires.
/// Unchanged when no alert is resolved.
pub fn firing_only(d: &NotifyData) -> Option<NotifyData> {
    use super::Status;
    if d.alerts.iter().all(|a| a.status == Status::Firing) {
        return (!d.alerts.is_empty()).then(|| d.clone());
    }
    let alerts: Vec<NotifyAlert> = d
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .cloned()
        .collect();
    if alerts.is_empty() {
        return None;
    }
    let common = |f: fn(&NotifyAlert) -> &BTreeMap<String, String>| {
        let mut c = f(&alerts[0]).clone();
        for a in &alerts[1..] {
            c.retain(|k, v| f(a).get(k) == Some(v));
        }
        c
    };
    Some(NotifyData {
        status: Status::Firing,
        common_labels: common(|a| &a.labels),
        common_annotations: common(|a| &a.annotations),
        alerts,
        ..d.clone()
    })
}

/// Alertmanager's `template.Data` for one notification.
pub fn data_value(d: &NotifyData) -> Value {
    Value::Struct(
        "*template.Data",
        vec![
            ("Receiver", Value::Str(d.receiver.clone())),
            ("Status", Value::Str(d.status.as_str().to_string())),
            (
                "Alerts",
                Value::Typed(
                    "template.Alerts",
                    Box::new(Value::List(d.alerts.iter().map(alert_value).collect())),
                ),
            ),
            ("GroupLabels", kv(&d.group_labels)),
            ("CommonLabels", kv(&d.common_labels)),
            ("CommonAnnotations", kv(&d.common_annotations)),
            ("ExternalURL", Value::Str(d.external_url.clone())),
        ],
    )
}

fn alert_value(a: &NotifyAlert) -> Value {
    Value::Struct(
        "template.Alert",
        vec![
            ("Status", Value::Str(a.status.as_str().to_string())),
            ("Labels", kv(&a.labels)),
            ("Annotations", kv(&a.annotations)),
            ("StartsAt", time_value(Some(a.starts_at))),
            ("EndsAt", time_value(a.ends_at)),
            ("GeneratorURL", Value::Str(a.generator_url.clone())),
            ("Fingerprint", Value::Str(a.fingerprint.clone())),
        ],
    )
}

fn kv(m: &BTreeMap<String, String>) -> Value {
    Value::Typed("template.KV", Box::new(Value::StrMap(m.clone())))
}

/// A `time.Time`, held as its Go `String()` form (so it prints as Go prints it, also
/// inside structs); `None` is Go's zero time.
fn time_value(t: Option<DateTime<Utc>>) -> Value {
    Value::Typed("time.Time", Box::new(Value::Str(go_time_string(t))))
}

const GO_ZERO_TIME: &str = "0001-01-01 00:00:00 +0000 UTC";

fn go_time_string(t: Option<DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let ns = t.nanosecond() % 1_000_000_000;
    if ns != 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn parse_go_time(s: &str) -> Result<DateTime<Utc>, String> {
    let body = s
        .strip_suffix(" +0000 UTC")
        .ok_or_else(|| format!("not a UTC time: {s:?}"))?;
    NaiveDateTime::parse_from_str(body, "%Y-%m-%d %H:%M:%S%.f")
        .map(|n| n.and_utc())
        .map_err(|e| format!("bad time {s:?}: {e}"))
}

fn str_arg(v: &Value, what: &str) -> Result<String, String> {
    match v.untyped() {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value; expected {what}; got {}",
            other.type_name()
        )),
    }
}

fn want(a: &[Value], n: usize) -> Result<(), String> {
    if a.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", a.len()));
    }
    Ok(())
}

fn func(f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
    Arc::new(f)
}

fn method(f: impl Fn(&Value, &[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Method {
    Arc::new(f)
}

/// `cases.Title(language.AmericanEnglish)`, as 0.25's `title`: in each word the first
/// cased letter is upper case and the others lower case. Words follow Unicode word
/// boundaries as far as alert text meets them: letters, digits and `_` join; `'`, `.`,
/// `’`, `:` and `·` join when both neighbours are letters or digits, `,` and `;` when
/// both are digits; anything else separates.
fn title(s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut seen_cased = false;
    for (i, &c) in cs.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| cs.get(j)).copied();
        let next = cs.get(i + 1).copied();
        let joins = if word(c) {
            true
        } else {
            let around = |f: fn(char) -> bool| prev.is_some_and(f) && next.is_some_and(f);
            match c {
                '\'' | '.' | '’' | ':' | '·' => around(char::is_alphanumeric),
                ',' | ';' => around(|c| c.is_numeric()),
                _ => false,
            }
        };
        if !joins {
            seen_cased = false;
            out.push(c);
            continue;
        }
        if c.is_uppercase() || c.is_lowercase() {
            if seen_cased {
                out.push(lower_rune(c));
            } else {
                out.push(upper_rune(c));
                seen_cased = true;
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `unicode.ToUpper` for one rune: a one-to-one mapping, so `ß` stays `ß`.
fn upper_rune(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Go's `unicode.ToLower` for one rune.
fn lower_rune(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Alertmanager's `DefaultFuncs`.
pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "toUpper".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(
                str_arg(&a[0], "string")?.chars().map(upper_rune).collect(),
            ))
        }),
    );
    m.insert(
        "toLower".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(
                str_arg(&a[0], "string")?.chars().map(lower_rune).collect(),
            ))
        }),
    );
    m.insert(
        "title".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(title(&str_arg(&a[0], "string")?)))
        }),
    );
    m.insert(
        "join".into(),
        func(|a| {
            want(a, 2)?;
            let sep = str_arg(&a[0], "string")?;
            let parts = match a[1].untyped() {
                Value::List(l) => l
                    .iter()
                    .map(|v| str_arg(v, "string"))
                    .collect::<Result<Vec<_>, _>>()?,
                Value::Nil => Vec::new(),
                other => {
                    return Err(format!(
                        "wrong type for value; expected []string; got {}",
                        other.type_name()
                    ))
                }
            };
            Ok(Value::Str(parts.join(&sep)))
        }),
    );
    m.insert(
        "match".into(),
        func(|a| {
            want(a, 2)?;
            let pat = str_arg(&a[0], "string")?;
            let s = str_arg(&a[1], "string")?;
            // RE2 syntax, as Go's regexp reads it.
            let re = crate::model::regex::compile(&pat).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(&s)))
        }),
    );
    m.insert(
        "safeHtml".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Typed(
                "template.HTML",
                Box::new(Value::Str(str_arg(&a[0], "string")?)),
            ))
        }),
    );
    m.insert(
        "reReplaceAll".into(),
        func(|a| {
            want(a, 3)?;
            let pat = str_arg(&a[0], "string")?;
            let repl = str_arg(&a[1], "string")?;
            let text = str_arg(&a[2], "string")?;
            let re = crate::model::regex::compile(&pat)
                .map_err(|e| format!("regexp: Compile({pat:?}): {e}"))?;
            Ok(Value::Str(
                re.replace_all(&text, repl.as_str()).into_owned(),
            ))
        }),
    );
    m.insert(
        "stringSlice".into(),
        func(|a| {
            let items = a
                .iter()
                .map(|v| str_arg(v, "string").map(Value::Str))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::List(items))
        }),
    );
    m
}

/// `KV.SortedPairs`: keys sorted, `alertname` first.
fn sorted_pairs(m: &BTreeMap<String, String>) -> Vec<(&String, &String)> {
    let mut out: Vec<(&String, &String)> = Vec::with_capacity(m.len());
    if let Some((k, v)) = m.get_key_value("alertname") {
        out.push((k, v));
    }
    out.extend(m.iter().filter(|(k, _)| k.as_str() != "alertname"));
    out
}

fn as_strmap(v: &Value) -> Result<&BTreeMap<String, String>, String> {
    match v.untyped() {
        Value::StrMap(m) => Ok(m),
        other => Err(format!("not a KV: {}", other.type_name())),
    }
}

fn pair_field(v: &Value, field: &str) -> Value {
    match v {
        Value::Struct(_, fs) => fs
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, x)| x.clone())
            .unwrap_or(Value::Nil),
        _ => Value::Nil,
    }
}

fn alerts_with_status(v: &Value, status: &str) -> Result<Value, String> {
    let Value::List(l) = v.untyped() else {
        return Err(format!("not Alerts: {}", v.type_name()));
    };
    let keep = l
        .iter()
        .filter(|a| matches!(pair_field(a, "Status"), Value::Str(s) if s == status))
        .cloned()
        .collect();
    Ok(Value::Typed("template.Alerts", Box::new(Value::List(keep))))
}

fn time_arg(v: &Value) -> Result<DateTime<Utc>, String> {
    parse_go_time(&str_arg(v, "time.Time")?)
}

/// The methods of Alertmanager's template types and of `time.Time`.
pub fn methods() -> MethodMap {
    let mut m = MethodMap::new();
    m.insert(
        "template.Alerts.Firing".into(),
        method(|r, a| {
            want(a, 0)?;
            alerts_with_status(r, "firing")
        }),
    );
    m.insert(
        "template.Alerts.Resolved".into(),
        method(|r, a| {
            want(a, 0)?;
            alerts_with_status(r, "resolved")
        }),
    );
    m.insert(
        "template.KV.SortedPairs".into(),
        method(|r, a| {
            want(a, 0)?;
            let pairs = sorted_pairs(as_strmap(r)?)
                .into_iter()
                .map(|(k, v)| {
                    Value::Struct(
                        "template.Pair",
                        vec![
                            ("Name", Value::Str(k.clone())),
                            ("Value", Value::Str(v.clone())),
                        ],
                    )
                })
                .collect();
            Ok(Value::Typed("template.Pairs", Box::new(Value::List(pairs))))
        }),
    );
    m.insert(
        "template.KV.Names".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::List(
                sorted_pairs(as_strmap(r)?)
                    .into_iter()
                    .map(|(k, _)| Value::Str(k.clone()))
                    .collect(),
            ))
        }),
    );
    m.insert(
        "template.KV.Values".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::List(
                sorted_pairs(as_strmap(r)?)
                    .into_iter()
                    .map(|(_, v)| Value::Str(v.clone()))
                    .collect(),
            ))
        }),
    );
    m.insert(
        "template.KV.Remove".into(),
        method(|r, a| {
            want(a, 1)?;
            let mut out = as_strmap(r)?.clone();
            match a[0].untyped() {
                Value::List(keys) => {
                    for k in keys {
                        out.remove(&str_arg(k, "[]string")?);
                    }
                }
                Value::Nil => {}
                other => {
                    return Err(format!(
                        "wrong type for value; expected []string; got {}",
                        other.type_name()
                    ))
                }
            }
            Ok(Value::Typed("template.KV", Box::new(Value::StrMap(out))))
        }),
    );
    for (name, field) in [("Names", "Name"), ("Values", "Value")] {
        m.insert(
            format!("template.Pairs.{name}"),
            method(move |r, a| {
                want(a, 0)?;
                let Value::List(l) = r.untyped() else {
                    return Err("not Pairs".into());
                };
                Ok(Value::List(
                    l.iter().map(|p| pair_field(p, field)).collect(),
                ))
            }),
        );
    }
    m.insert(
        "time.Time.String".into(),
        method(|r, _| Ok(Value::Str(str_arg(r, "time.Time")?))),
    );
    m.insert(
        "time.Time.Unix".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::Int(time_arg(r)?.timestamp()))
        }),
    );
    m.insert(
        "time.Time.UnixMilli".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::Int(time_arg(r)?.timestamp_millis()))
        }),
    );
    m.insert(
        "time.Time.UnixNano".into(),
        method(|r, a| {
            want(a, 0)?;
            let t = time_arg(r)?;
            Ok(Value::Int(
                t.timestamp()
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(i64::from(t.timestamp_subsec_nanos())),
            ))
        }),
    );
    m.insert(
        "time.Time.IsZero".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::Bool(str_arg(r, "time.Time")? == GO_ZERO_TIME))
        }),
    );
    m.insert(
        "time.Time.UTC".into(),
        method(|r, a| {
            want(a, 0)?;
            Ok(Value::Typed("time.Time", Box::new(r.clone())))
        }),
    );
    m.insert(
        "time.Time.Format".into(),
        method(|r, a| {
            want(a, 1)?;
            Ok(Value::Str(go_format(
                &time_arg(r)?,
                &str_arg(&a[0], "string")?,
            )))
        }),
    );
    m
}

/// Go's `time.Format` for a UTC time, with the layout elements templates use.
fn go_format(t: &DateTime<Utc>, layout: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let month = MONTHS[t.month0() as usize];
    let day = DAYS[t.weekday().num_days_from_monday() as usize];
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let ns = t.nanosecond() % 1_000_000_000;
    // Longest elements first, so "2006" is not read as "2" then "006".
    let elements: [(&str, String); 28] = [
        ("January", month.to_string()),
        ("Monday", day.to_string()),
        ("Z07:00", "Z".to_string()),
        ("-07:00", "+00:00".to_string()),
        ("-0700", "+0000".to_string()),
        ("Z0700", "Z".to_string()),
        ("2006", format!("{:04}", t.year())),
        (".000000000", format!(".{ns:09}")),
        (".999999999", frac_trimmed(ns, 9)),
        (".000000", format!(".{:06}", ns / 1000)),
        (".999999", frac_trimmed(ns / 1000, 6)),
        (".000", format!(".{:03}", ns / 1_000_000)),
        (".999", frac_trimmed(ns / 1_000_000, 3)),
        ("Jan", month[..3].to_string()),
        ("Mon", day[..3].to_string()),
        ("MST", "UTC".to_string()),
        ("-07", "+00".to_string()),
        ("01", format!("{:02}", t.month())),
        ("02", format!("{:02}", t.day())),
        ("_2", format!("{:>2}", t.day())),
        ("15", format!("{:02}", t.hour())),
        ("03", format!("{hour12:02}")),
        ("04", format!("{:02}", t.minute())),
        ("05", format!("{:02}", t.second())),
        ("06", format!("{:02}", t.year() % 100)),
        ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.to_string()),
        ("pm", if t.hour() >= 12 { "pm" } else { "am" }.to_string()),
        ("1", t.month().to_string()),
    ];
    let singles: [(&str, String); 4] = [
        ("2", t.day().to_string()),
        ("3", hour12.to_string()),
        ("4", t.minute().to_string()),
        ("5", t.second().to_string()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (k, v) in elements.iter().chain(singles.iter()) {
            if let Some(r) = rest.strip_prefix(k) {
                out.push_str(v);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn frac_trimmed(v: u32, digits: usize) -> String {
    if v == 0 {
        return String::new();
    }
    let s = format!("{v:0digits$}");
    format!(".{}", s.trim_end_matches('0'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alerting::notify::Status;

    /// The notification Alertmanager 0.25 rendered in tests/data/alerting/am025 (its
    /// webhook body), built from that body.
    pub(crate) fn captured(line: usize) -> NotifyData {
        let reqs = include_str!("../../../tests/data/alerting/am025/requests.jsonl");
        let hooks: Vec<serde_json::Value> = reqs
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["path"] == "/webhook")
            .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
            .collect();
        notify_data_from_webhook(&hooks[line])
    }

    pub(crate) fn notify_data_from_webhook(b: &serde_json::Value) -> NotifyData {
        fn map(v: &serde_json::Value) -> BTreeMap<String, String> {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        }
        fn status(v: &serde_json::Value) -> Status {
            if v == "firing" {
                Status::Firing
            } else {
                Status::Resolved
            }
        }
        fn time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
            let s = v.as_str().unwrap();
            if s.starts_with("0001-") {
                None
            } else {
                Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
            }
        }
        NotifyData {
            receiver: b["receiver"].as_str().unwrap().into(),
            status: status(&b["status"]),
            alerts: b["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| NotifyAlert {
                    status: status(&a["status"]),
                    labels: map(&a["labels"]),
                    annotations: map(&a["annotations"]),
                    starts_at: time(&a["startsAt"]).unwrap(),
                    ends_at: time(&a["endsAt"]),
                    generator_url: a["generatorURL"].as_str().unwrap().into(),
                    fingerprint: a["fingerprint"].as_str().unwrap().into(),
                })
                .collect(),
            group_labels: map(&b["groupLabels"]),
            common_labels: map(&b["commonLabels"]),
            common_annotations: map(&b["commonAnnotations"]),
            external_url: b["externalURL"].as_str().unwrap().into(),
            group_key: b["groupKey"].as_str().unwrap().into(),
        }
    }

    /// The Slack payloads Alertmanager sent to `channel`, in order.
    fn slack_texts(channel: &str) -> Vec<serde_json::Value> {
        include_str!("../../../tests/data/alerting/am025/requests.jsonl")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["path"] == "/slack")
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(r["body"].as_str().unwrap()).unwrap()
            })
            .filter(|b| b["channel"] == channel)
            .collect()
    }

    #[test]
    fn default_set_parses_and_defines_the_upstream_names() {
        let t = Templates::default();
        let names: Vec<&str> = t.set.names().collect();
        for n in [
            "__alertmanager",
            "__alertmanagerURL",
            "__subject",
            "__description",
            "__text_alert_list",
            "slack.default.title",
            "slack.default.username",
            "slack.default.fallback",
            "slack.default.callbackid",
            "slack.default.pretext",
            "slack.default.titlelink",
            "slack.default.iconemoji",
            "slack.default.iconurl",
            "slack.default.text",
            "slack.default.footer",
            "pagerduty.default.description",
            "pagerduty.default.client",
            "pagerduty.default.clientURL",
            "pagerduty.default.instances",
            "email.default.subject",
            "email.default.html",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
    }

    /// Each probe channel of the capture rendered one template over the three
    /// notifications (2 firing; 1 firing 1 resolved; 2 resolved).
    #[test]
    fn subject_text_list_and_slack_defaults_match_alertmanager_025() {
        let t = Templates::default();
        for (i, (subject, list)) in slack_texts("probe-subject")
            .iter()
            .zip(slack_texts("probe-textlist"))
            .enumerate()
        {
            let d = captured(i);
            let att = &subject["attachments"][0];
            assert_eq!(
                t.render_text(r#"{{ template "__subject" . }}"#, &d)
                    .unwrap(),
                att["text"].as_str().unwrap(),
                "notification {i}"
            );
            assert_eq!(
                t.render_text(r#"{{ template "__text_alert_list" .Alerts }}"#, &d)
                    .unwrap(),
                list["attachments"][0]["text"].as_str().unwrap()
            );
            for (tmpl, field) in [
                ("slack.default.title", "title"),
                ("slack.default.titlelink", "title_link"),
                ("slack.default.fallback", "fallback"),
            ] {
                assert_eq!(
                    t.render_text(&format!("{{{{ template {tmpl:?} . }}}}"), &d)
                        .unwrap(),
                    att[field].as_str().unwrap(),
                    "{tmpl} of notification {i}"
                );
            }
            assert_eq!(
                t.render_text(r#"{{ template "slack.default.username" . }}"#, &d)
                    .unwrap(),
                subject["username"].as_str().unwrap()
            );
            for empty in [
                "slack.default.callbackid",
                "slack.default.pretext",
                "slack.default.iconemoji",
                "slack.default.iconurl",
                "slack.default.text",
                "slack.default.footer",
                "__description",
            ] {
                assert_eq!(
                    t.render_text(&format!("{{{{ template {empty:?} . }}}}"), &d)
                        .unwrap(),
                    ""
                );
            }
        }
    }

    /// The other receivers' defaults (opsgenie, wechat, victorops, pushover, sns,
    /// telegram, discord, webex), each captured from 0.25 over the three notifications.
    #[test]
    fn other_receivers_defaults_match_alertmanager_025() {
        let t = Templates::default();
        let mut n = 0;
        for line in include_str!("../../../tests/data/alerting/am025/defaults.jsonl").lines() {
            let c: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = c["template"].as_str().unwrap();
            // That capture's receiver was named "r"; the alerts are the same.
            let d = NotifyData {
                receiver: "r".into(),
                ..captured(c["n"].as_u64().unwrap() as usize)
            };
            assert_eq!(
                t.render_text(&format!("{{{{ template {name:?} . }}}}"), &d)
                    .unwrap(),
                c["text"].as_str().unwrap(),
                "{name} over notification {}",
                c["n"]
            );
            n += 1;
        }
        assert_eq!(n, 60);
    }

    #[test]
    fn functions_and_methods_match_alertmanager_025() {
        let t = Templates::default();
        let yml = include_str!("../../../tests/data/alerting/am025/am.yml");
        let cfg: serde_yaml::Value = serde_yaml::from_str(yml).unwrap();
        let probe = cfg["receivers"][0]["slack_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == "probe-funcs")
            .unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        for (i, want) in slack_texts("probe-funcs").iter().enumerate() {
            let d = captured(i);
            assert_eq!(
                t.render_text(&probe, &d).unwrap(),
                want["attachments"][0]["text"].as_str().unwrap(),
                "notification {i}"
            );
        }
    }

    #[test]
    fn pagerduty_defaults_match_alertmanager_025() {
        let t = Templates::default();
        let pd: Vec<serde_json::Value> =
            include_str!("../../../tests/data/alerting/am025/requests.jsonl")
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|r| r["path"] == "/pd")
                .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
                .collect();
        for (i, want) in pd.iter().enumerate() {
            let d = captured(i);
            let r = |s: &str| t.render_text(s, &d).unwrap();
            assert_eq!(
                r(r#"{{ template "pagerduty.default.description" . }}"#),
                want["payload"]["summary"].as_str().unwrap()
            );
            assert_eq!(
                r(r#"{{ template "pagerduty.default.client" . }}"#),
                want["client"].as_str().unwrap()
            );
            assert_eq!(
                r(r#"{{ template "pagerduty.default.clientURL" . }}"#),
                want["client_url"].as_str().unwrap()
            );
            assert_eq!(
                r(r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#),
                want["payload"]["custom_details"]["firing"]
                    .as_str()
                    .unwrap()
            );
            assert_eq!(
                r(r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#),
                want["payload"]["custom_details"]["resolved"]
                    .as_str()
                    .unwrap()
            );
        }
    }

    /// What a reader sees of an HTML body: the text between tags, white space collapsed,
    /// and the link targets.
    pub(crate) fn visible(html: &str) -> (String, Vec<String>) {
        let body = &html[html.find("<body").unwrap_or(0)..];
        let mut text = String::new();
        let mut hrefs = Vec::new();
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            text.push_str(&rest[..lt]);
            text.push(' ');
            let gt = rest[lt..].find('>').map_or(rest.len(), |g| lt + g);
            let tag = &rest[lt..gt];
            if let Some(h) = tag.find("href=\"") {
                let v = &tag[h + 6..];
                hrefs.push(v[..v.find('"').unwrap_or(v.len())].to_string());
            }
            rest = &rest[(gt + 1).min(rest.len())..];
        }
        text.push_str(rest);
        (text.split_whitespace().collect::<Vec<_>>().join(" "), hrefs)
    }

    #[test]
    fn email_defaults_carry_alertmanager_025s_text_and_links() {
        let t = Templates::default();
        let d = captured(0);
        assert_eq!(
            t.render_text(r#"{{ template "email.default.subject" . }}"#, &d)
                .unwrap(),
            "[FIRING:2] DiskFull (node page)"
        );
        let html = t
            .render_html(r#"{{ template "email.default.html" . }}"#, &d)
            .unwrap();
        let (text, hrefs) = visible(&html);
        // Captured from Alertmanager 0.25's e-mail for the same notification.
        assert_eq!(
            text,
            "2 alerts for alertname=DiskFull View in Alertmanager [2] Firing Labels \
             alertname = DiskFull instance = a:9100 job = node severity = page Annotations \
             description = Disk &lt;b&gt;&amp;&#34;&#39;&#43; almost full é summary = Disk full \
             Source Labels alertname = DiskFull instance = b:9100 job = node severity = page \
             Annotations description = second summary = Disk full Source Sent by Alertmanager"
        );
        assert_eq!(
            hrefs,
            [
                "http://am.example:9093/#/alerts?receiver=team",
                "http://prom:9090/graph?g0.expr=up&#43;%3D%3D&#43;0&amp;g0.tab=1",
                "http://prom:9090/graph?g0.expr=x",
                "http://am.example:9093"
            ]
        );
    }

    #[test]
    fn custom_html_escapes_like_html_template() {
        let t = Templates::default();
        let d = captured(0);
        // The capture's second e-mail config: html with safeHtml and an href.
        let got = t
            .render_html(
                r#"<p>{{ .CommonAnnotations.description }}</p>{{ safeHtml "<i>ok</i>" }}<a href="{{ (index .Alerts 0).GeneratorURL }}">s</a>"#,
                &d,
            )
            .unwrap();
        assert_eq!(
            got,
            "<p></p><i>ok</i><a href=\"http://prom:9090/graph?g0.expr=up&#43;%3D%3D&#43;0&amp;g0.tab=1\">s</a>"
        );
    }

    #[test]
    fn user_files_override_defaults_and_report_file_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.tmpl"),
            "{{ define \"slack.default.title\" }}custom {{ .Status }}{{ end }}\n{{ define \"mine\" }}{{ .Receiver | toUpper }}{{ end }}",
        )
        .unwrap();
        let t = Templates::load(&["*.tmpl".into()], dir.path()).unwrap();
        assert_eq!(t.files.len(), 1);
        let d = captured(0);
        assert_eq!(
            t.render_text(
                r#"{{ template "slack.default.title" . }}/{{ template "mine" . }}"#,
                &d
            )
            .unwrap(),
            "custom firing/TEAM"
        );
        // The defaults stay for other names.
        assert_eq!(
            t.render_text(r#"{{ template "__alertmanager" . }}"#, &d)
                .unwrap(),
            "Alertmanager"
        );
        std::fs::write(
            dir.path().join("b.tmpl"),
            "ok\n{{ define \"x\" }}{{ nosuch }}{{ end }}",
        )
        .unwrap();
        let e = Templates::load(&["*.tmpl".into()], dir.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.ends_with("b.tmpl:2: function \"nosuch\" not defined"),
            "{msg}"
        );
        // A pattern matching nothing is fine, as upstream.
        assert!(Templates::load(&["none/*.tmpl".into()], dir.path()).is_ok());
    }

    #[test]
    fn firing_only_drops_resolved_alerts_and_recomputes_commons() {
        // Notification 1 of the capture: a:9100 resolved, b:9100 firing.
        let d = captured(1);
        let f = firing_only(&d).unwrap();
        assert_eq!(f.alerts.len(), 1);
        assert_eq!(f.alerts[0].labels["instance"], "b:9100");
        assert_eq!(f.common_labels["instance"], "b:9100");
        assert_eq!(f.common_annotations["description"], "second");
        assert_eq!(f.group_key, d.group_key);
        // All firing: unchanged; all resolved: nothing to send.
        assert_eq!(firing_only(&captured(0)).unwrap(), captured(0));
        assert!(firing_only(&captured(2)).is_none());
    }

    #[test]
    fn bad_glob_is_an_error() {
        let e = Templates::load(&["[".into()], Path::new("/")).unwrap_err();
        assert!(matches!(e, TemplateLoadError::Glob { .. }), "{e}");
    }

    #[test]
    fn render_errors_are_reported_not_panics() {
        let t = Templates::default();
        let d = captured(0);
        assert!(t.render_text("{{ .Nope }}", &d).is_err());
        assert!(t.render_text("{{ template \"undefined\" . }}", &d).is_err());
        assert!(t
            .render_text("{{ reReplaceAll \"(\" \"\" \"x\" }}", &d)
            .is_err());
        assert_eq!(t.render_text("", &d).unwrap(), "");
    }

    #[test]
    fn time_methods() {
        let t = Templates::default();
        let d = captured(1);
        let r = |s: &str| t.render_text(s, &d).unwrap();
        assert_eq!(
            r(
                r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02T15:04:05.000Z07:00 Mon Jan _2 3PM" }}"#
            ),
            "2026-12-07T10:00:00.123Z Mon Dec  7 10AM"
        );
        assert_eq!(r("{{ (index .Alerts 1).EndsAt.IsZero }}"), "true");
        assert_eq!(r("{{ (index .Alerts 0).EndsAt.Unix }}"), "1796641200");
        assert_eq!(r("{{ title \"it's a dog's life\" }}"), "It's A Dog's Life");
        // Captured from Alertmanager 0.25.
        assert_eq!(
            r(r#"{{ title "hello_world foo.bar a:b x-y 3d o'neil é-à ÉCOLE mIxEd..x a.b.c 1.5x foo,bar x/y x@y a_b-c" }}|{{ toUpper "straße é" }}|{{ toLower "ÀB" }}"#),
            "Hello_world Foo.bar A:b X-Y 3D O'neil É-À École Mixed..X A.b.c 1.5X Foo,Bar X/Y X@Y A_b-C|STRAßE É|àb"
        );
    }
}
