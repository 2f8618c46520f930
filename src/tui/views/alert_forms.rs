//! The two forms of the alert triage flow, shared by the Alerts and Silences views:
//! the silence editor (matchers prefilled from an alert, a group or the matcher filter,
//! a live preview of every alert the matchers catch, duration presets, a confirm step)
//! and the acknowledgement form (who, why, until resolved or for a duration, the alert
//! or its whole group).
//!
//! Both take keys while open and answer what the view should do; neither talks to a
//! backend.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::backend::alerts::{
    parse_silence_matchers, AckDraft, AckTarget, Labels, SilenceDraft, SilenceMatcher,
};
use crate::tui::view::{Glyphs, Palette};
use crate::tui::widgets;

/// Duration presets of the silence editor (Up/Down on the duration field).
pub const PRESETS: &[&str] = &["30m", "1h", "2h", "4h", "8h", "1d", "3d", "7d"];

/// The user the forms default to: `$USER`, else `$LOGNAME`, else `promtui`.
pub fn default_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "promtui".into())
}

/// Labels as Alertmanager matchers text: `{a="b", c="d"}`.
pub fn labels_matchers(l: &Labels) -> String {
    let v: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", v.join(", "))
}

/// What a form asks of its view after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum FormOutcome<T> {
    /// Still editing.
    Open,
    Cancelled,
    Submit(T),
}

/// Appends a typed character or removes the last one; `true` when the text changed.
fn edit_text(s: &mut String, key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            s.clear();
            true
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            s.push(c);
            true
        }
        KeyCode::Backspace => s.pop().is_some(),
        _ => false,
    }
}

fn field_line<'a>(label: &str, value: &str, focused: bool, p: &Palette, hint: &str) -> Line<'a> {
    let mut spans = vec![
        Span::styled(
            format!("{}{label:<11}", if focused { "▸ " } else { "  " }),
            if focused { p.accent } else { p.dim },
        ),
        Span::styled(
            value.to_string(),
            if focused { p.selection } else { p.text },
        ),
    ];
    if focused {
        spans.push(Span::styled("█", p.dim));
    }
    if !hint.is_empty() {
        spans.push(Span::styled(format!("  {hint}"), p.dim));
    }
    Line::from(spans)
}

/// A centred rectangle of at most `w`x`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The silence editor.
#[derive(Clone, Debug)]
pub struct SilenceEditor {
    /// The silence this replaces (edit: expire it, then create the new one).
    pub replaces: Option<String>,
    pub matchers: String,
    pub duration: String,
    pub created_by: String,
    pub comment: String,
    focus: usize,
    confirming: bool,
    error: Option<String>,
    parsed: Result<Vec<SilenceMatcher>, String>,
    /// Fingerprints and label text of the alerts the matchers catch now.
    preview: Vec<String>,
    preview_total: usize,
}

/// An alert the editor may catch: its labels and how to show it.
pub struct PreviewAlert<'a> {
    pub labels: &'a Labels,
    pub text: &'a str,
}

impl SilenceEditor {
    /// An editor with `matchers` prefilled, ending in `duration`.
    pub fn new(matchers: String, duration: &str, replaces: Option<String>) -> SilenceEditor {
        SilenceEditor {
            replaces,
            parsed: parse_silence_matchers(&matchers),
            matchers,
            duration: duration.to_string(),
            created_by: default_user(),
            comment: String::new(),
            focus: 3,
            confirming: false,
            error: None,
            preview: Vec::new(),
            preview_total: 0,
        }
    }

    /// Recomputes the live preview against `alerts`.
    pub fn update_preview<'a>(&mut self, alerts: impl Iterator<Item = PreviewAlert<'a>>) {
        self.parsed = parse_silence_matchers(&self.matchers);
        self.preview.clear();
        self.preview_total = 0;
        let Ok(ms) = &self.parsed else {
            return;
        };
        let ms: Vec<crate::alerting::matcher::Matcher> = ms
            .iter()
            .filter_map(|m| {
                let op = match (m.is_equal, m.is_regex) {
                    (true, false) => crate::alerting::matcher::MatchType::Equal,
                    (false, false) => crate::alerting::matcher::MatchType::NotEqual,
                    (true, true) => crate::alerting::matcher::MatchType::Regexp,
                    (false, true) => crate::alerting::matcher::MatchType::NotRegexp,
                };
                crate::alerting::matcher::Matcher::new(&m.name, op, &m.value).ok()
            })
            .collect();
        if ms.is_empty() {
            return;
        }
        for a in alerts {
            if ms.iter().all(|m| m.matches(a.labels)) {
                self.preview_total += 1;
                if self.preview.len() < 200 {
                    self.preview.push(a.text.to_string());
                }
            }
        }
    }

    /// How many alerts the matchers catch now.
    pub fn matched(&self) -> usize {
        self.preview_total
    }

    /// Handles a key; `changed` tells the view to refresh the preview.
    pub fn on_key(&mut self, key: KeyEvent, now_ms: i64) -> (FormOutcome<SilenceDraft>, bool) {
        if self.confirming {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Enter => match self.draft(now_ms) {
                    Ok(d) => (FormOutcome::Submit(d), false),
                    Err(e) => {
                        self.confirming = false;
                        self.error = Some(e);
                        (FormOutcome::Open, false)
                    }
                },
                _ => {
                    self.confirming = false;
                    (FormOutcome::Open, false)
                }
            };
        }
        match key.code {
            KeyCode::Esc => return (FormOutcome::Cancelled, false),
            KeyCode::Tab | KeyCode::Down if self.focus != 1 || key.code == KeyCode::Tab => {
                self.focus = (self.focus + 1) % 4;
                return (FormOutcome::Open, false);
            }
            KeyCode::BackTab => {
                self.focus = (self.focus + 3) % 4;
                return (FormOutcome::Open, false);
            }
            KeyCode::Up | KeyCode::Down if self.focus == 1 => {
                let i = PRESETS.iter().position(|p| *p == self.duration);
                let n = PRESETS.len();
                let next = match (i, key.code == KeyCode::Up) {
                    (Some(i), true) => (i + n - 1) % n,
                    (Some(i), false) => (i + 1) % n,
                    (None, _) => 1,
                };
                self.duration = PRESETS[next].to_string();
                return (FormOutcome::Open, false);
            }
            KeyCode::Up => {
                self.focus = (self.focus + 3) % 4;
                return (FormOutcome::Open, false);
            }
            KeyCode::Enter => {
                match self.draft(now_ms) {
                    Ok(_) => {
                        self.error = None;
                        self.confirming = true;
                    }
                    Err(e) => self.error = Some(e),
                }
                return (FormOutcome::Open, false);
            }
            _ => {}
        }
        let field = match self.focus {
            0 => &mut self.matchers,
            1 => &mut self.duration,
            2 => &mut self.created_by,
            _ => &mut self.comment,
        };
        let changed = edit_text(field, &key);
        if changed {
            self.error = None;
        }
        (FormOutcome::Open, changed && self.focus == 0)
    }

    /// The silence to post, or why the form is not complete.
    pub fn draft(&self, now_ms: i64) -> Result<SilenceDraft, String> {
        let matchers = self.parsed.clone().map_err(|e| format!("matchers: {e}"))?;
        if matchers.is_empty() {
            return Err("matchers: at least one matcher is required".into());
        }
        if matchers
            .iter()
            .all(|m| m.is_equal && (m.value.is_empty() || (m.is_regex && m.value == ".*")))
        {
            return Err("matchers: every matcher matches the empty string; such a silence would catch every alert".into());
        }
        let d = crate::model::time::parse_duration(self.duration.trim())
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| format!("duration {:?}: expected e.g. 2h, 30m, 1d", self.duration))?;
        if self.created_by.trim().is_empty() {
            return Err("created by: who silences (defaults to $USER)".into());
        }
        if self.comment.trim().is_empty() {
            return Err("comment: say why (Alertmanager shows it to everyone)".into());
        }
        Ok(SilenceDraft {
            id: None,
            matchers,
            starts_at_ms: now_ms,
            ends_at_ms: now_ms + d,
            created_by: self.created_by.trim().to_string(),
            comment: self.comment.trim().to_string(),
        })
    }

    pub fn render(&self, f: &mut Frame<'_>, area: Rect, p: &Palette, g: Glyphs, now_ms: i64) {
        let r = centered(area, 100, area.height.saturating_sub(2).max(12));
        let title = if self.replaces.is_some() {
            " edit silence (expires the old one, creates this) "
        } else {
            " new silence "
        };
        let ends = crate::model::time::parse_duration(self.duration.trim())
            .ok()
            .filter(|d| *d > 0)
            .map(|d| format!("ends {} UTC", widgets::clock(now_ms + d)))
            .unwrap_or_else(|| "not a duration".into());
        let presets = format!("Up/Down: {}  ({ends})", PRESETS.join(" "));
        let mut lines = vec![
            field_line("matchers", &self.matchers, self.focus == 0, p, ""),
            field_line("duration", &self.duration, self.focus == 1, p, &presets),
            field_line("created by", &self.created_by, self.focus == 2, p, ""),
            field_line("comment", &self.comment, self.focus == 3, p, ""),
        ];
        match (&self.parsed, &self.error) {
            (_, Some(e)) => lines.push(Line::from(Span::styled(format!("  {e}"), p.error))),
            (Err(e), None) => lines.push(Line::from(Span::styled(
                format!("  matchers: {e}"),
                p.error,
            ))),
            _ => lines.push(Line::from("")),
        }
        if self.confirming {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(
                        "  Create this silence for {} ({} alert{} now)? ",
                        self.duration,
                        self.preview_total,
                        if self.preview_total == 1 { "" } else { "s" }
                    ),
                    p.warn,
                ),
                Span::styled("y", p.accent),
                Span::styled(" confirm, any other key goes back", p.dim),
            ]));
        } else {
            lines.push(Line::from(Span::styled(
                "  Tab next field · Enter review · Esc cancel · Ctrl-U clears a field",
                p.dim,
            )));
        }
        lines.push(Line::from(Span::styled(
            format!("  Preview: {} alert(s) caught", self.preview_total),
            p.accent,
        )));
        let room = r.height.saturating_sub(lines.len() as u16 + 2) as usize;
        for t in self.preview.iter().take(room) {
            lines.push(Line::from(Span::styled(
                format!(
                    "    {}",
                    widgets::fit(t, r.width.saturating_sub(6) as usize, g)
                ),
                p.text,
            )));
        }
        if self.preview_total > room && room > 0 {
            if let Some(last) = lines.last_mut() {
                *last = Line::from(Span::styled(
                    format!("    … and {} more", self.preview_total - room + 1),
                    p.dim,
                ));
            }
        }
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines).style(p.text).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.accent)
                    .title(title),
            ),
            r,
        );
    }
}

/// The acknowledgement form.
#[derive(Clone, Debug)]
pub struct AckForm {
    /// The alert's fingerprint and, when known, its group's key.
    pub fingerprint: String,
    pub group_key: Option<String>,
    /// What is acknowledged, for the title.
    pub what: String,
    pub group_size: usize,
    pub whole_group: bool,
    pub created_by: String,
    pub comment: String,
    /// Empty: until resolved.
    pub duration: String,
    focus: usize,
    error: Option<String>,
}

impl AckForm {
    pub fn new(
        fingerprint: String,
        group_key: Option<String>,
        what: String,
        group_size: usize,
        whole_group: bool,
    ) -> AckForm {
        AckForm {
            fingerprint,
            whole_group: whole_group && group_key.is_some(),
            group_key,
            what,
            group_size,
            created_by: default_user(),
            comment: String::new(),
            duration: String::new(),
            focus: 1,
            error: None,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, now_ms: i64) -> FormOutcome<AckDraft> {
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1) % 4;
                return FormOutcome::Open;
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + 3) % 4;
                return FormOutcome::Open;
            }
            KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right if self.focus == 3 => {
                if self.group_key.is_some() {
                    self.whole_group = !self.whole_group;
                }
                return FormOutcome::Open;
            }
            KeyCode::Enter => {
                return match self.draft(now_ms) {
                    Ok(d) => FormOutcome::Submit(d),
                    Err(e) => {
                        self.error = Some(e);
                        FormOutcome::Open
                    }
                }
            }
            _ => {}
        }
        let field = match self.focus {
            0 => &mut self.created_by,
            1 => &mut self.comment,
            2 => &mut self.duration,
            _ => return FormOutcome::Open,
        };
        if edit_text(field, &key) {
            self.error = None;
        }
        FormOutcome::Open
    }

    pub fn draft(&self, now_ms: i64) -> Result<AckDraft, String> {
        if self.created_by.trim().is_empty() {
            return Err("who: required (defaults to $USER)".into());
        }
        let expires_at_ms = match self.duration.trim() {
            "" => None,
            d => Some(
                now_ms
                    + crate::model::time::parse_duration(d)
                        .ok()
                        .filter(|d| *d > 0)
                        .ok_or_else(|| {
                            format!("for: {d:?} is not a duration (e.g. 2h; empty: until resolved)")
                        })?,
            ),
        };
        let target = match (&self.group_key, self.whole_group) {
            (Some(k), true) => AckTarget::Group(k.clone()),
            _ => AckTarget::Alert(self.fingerprint.clone()),
        };
        Ok(AckDraft {
            target,
            created_by: self.created_by.trim().to_string(),
            comment: self.comment.trim().to_string(),
            expires_at_ms,
        })
    }

    pub fn render(&self, f: &mut Frame<'_>, area: Rect, p: &Palette) {
        let r = centered(area, 90, 10);
        let scope = if self.whole_group {
            format!("the whole group ({} alerts)", self.group_size)
        } else {
            "this alert".to_string()
        };
        let scope_hint = if self.group_key.is_some() {
            "Space toggles alert/group"
        } else {
            "(group acknowledgement needs promtui's group key)"
        };
        let until = if self.duration.trim().is_empty() {
            "empty: until resolved; or e.g. 2h"
        } else {
            "e.g. 2h; empty: until resolved"
        };
        let mut lines = vec![
            field_line("who", &self.created_by, self.focus == 0, p, ""),
            field_line("why", &self.comment, self.focus == 1, p, ""),
            field_line("for", &self.duration, self.focus == 2, p, until),
            field_line("scope", &scope, self.focus == 3, p, scope_hint),
        ];
        match &self.error {
            Some(e) => lines.push(Line::from(Span::styled(format!("  {e}"), p.error))),
            None => lines.push(Line::from("")),
        }
        lines.push(Line::from(Span::styled(
            "  Tab next field · Enter acknowledge · Esc cancel",
            p.dim,
        )));
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .style(p.text)
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(p.accent)
                        .title(format!(" acknowledge {} ", self.what)),
                ),
            r,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn silence_editor_previews_and_needs_confirmation() {
        let mut e = SilenceEditor::new(r#"{alertname="A"}"#.into(), "2h", None);
        let a: Labels = [("alertname".into(), "A".into())].into();
        let b: Labels = [("alertname".into(), "B".into())].into();
        let list = [(&a, "A"), (&b, "B")];
        e.update_preview(
            list.iter()
                .map(|(l, t)| PreviewAlert { labels: l, text: t }),
        );
        assert_eq!(e.matched(), 1);
        // No comment yet: Enter shows why instead of confirming.
        assert_eq!(e.on_key(key(KeyCode::Enter), 0).0, FormOutcome::Open);
        assert!(e.error.as_deref().unwrap().starts_with("comment"));
        for c in "maint".chars() {
            e.on_key(key(KeyCode::Char(c)), 0);
        }
        assert_eq!(e.on_key(key(KeyCode::Enter), 0).0, FormOutcome::Open);
        assert!(e.confirming);
        match e.on_key(key(KeyCode::Char('y')), 1000).0 {
            FormOutcome::Submit(d) => {
                assert_eq!(d.ends_at_ms - d.starts_at_ms, 7_200_000);
                assert_eq!(d.comment, "maint");
                assert_eq!(d.matchers[0].value, "A");
            }
            o => panic!("expected submit, got {o:?}"),
        }
    }

    #[test]
    fn silence_editor_rejects_matchers_catching_everything_and_cycles_presets() {
        let mut e = SilenceEditor::new(r#"{alertname=~".*"}"#.into(), "1h", None);
        e.comment = "x".into();
        assert!(e.draft(0).unwrap_err().contains("every alert"));
        e.focus = 1;
        e.on_key(key(KeyCode::Down), 0);
        assert_eq!(e.duration, "2h");
        e.on_key(key(KeyCode::Up), 0);
        e.on_key(key(KeyCode::Up), 0);
        assert_eq!(e.duration, "30m");
    }

    #[test]
    fn ack_form_targets_alert_or_group_until_resolved_or_for_a_duration() {
        let mut f = AckForm::new("ab".into(), Some("k".into()), "A".into(), 3, false);
        match f.on_key(key(KeyCode::Enter), 0) {
            FormOutcome::Submit(d) => {
                assert_eq!(d.target, AckTarget::Alert("ab".into()));
                assert_eq!(d.expires_at_ms, None);
            }
            o => panic!("{o:?}"),
        }
        f.focus = 3;
        f.on_key(key(KeyCode::Char(' ')), 0);
        f.duration = "2h".into();
        match f.on_key(key(KeyCode::Enter), 10) {
            FormOutcome::Submit(d) => {
                assert_eq!(d.target, AckTarget::Group("k".into()));
                assert_eq!(d.expires_at_ms, Some(7_200_010));
            }
            o => panic!("{o:?}"),
        }
        f.duration = "soon".into();
        assert!(matches!(
            f.on_key(key(KeyCode::Enter), 0),
            FormOutcome::Open
        ));
    }
}
