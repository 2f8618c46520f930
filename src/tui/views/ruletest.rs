//! Rule test runner: runs promtool-format rule unit-test files (`:test FILE...`, globs
//! allowed) with [`crate::rules::unittest::run_file`] and re-runs them whenever a test
//! file or one of its rule files changes (modification times polled every second). Each
//! failing case is shown as a structured diff of expected against got (alerts as label
//! and annotation sets, samples as `{labels} value`): lines only expected are `-`,
//! lines only got are `+`, lines in both are kept for context; so a one-label difference
//! in a long alert list stands out (prometheus/prometheus PR #13342). Enter shows the
//! failing rule in its file (the alert or recording rule of that name in the test's rule
//! files, else the case in the test file); `e` opens `$EDITOR` there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::task::Task;
use crate::tui::view::{Handled, View, ViewCtx};
use crate::tui::views::rules::{file_lines, request_editor};

/// How often the files' modification times are checked.
const POLL_MS: i64 = 1_000;

/// One line of a diff: `-` expected only, `+` got only, ` ` both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub sign: char,
    pub text: String,
}

/// One failing test case.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// `alertname: X, time: 5m` or `expr: "...", time: 1m` (and the group name).
    pub head: String,
    /// The alert or recording rule the case is about, when it names one.
    pub subject: Option<String>,
    /// An evaluation error instead of a diff.
    pub err: Option<String>,
    pub diff: Vec<DiffLine>,
    /// Where to jump: the rule's file and line, or the test file's case.
    pub location: Option<(PathBuf, Option<usize>)>,
    /// promtool's message as printed.
    pub raw: String,
}

/// One test file's last run.
#[derive(Clone, Debug, PartialEq)]
pub struct FileResult {
    pub path: PathBuf,
    /// The file could not be run at all.
    pub error: Option<String>,
    pub failures: Vec<Failure>,
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
    pub took_ms: f64,
}

impl FileResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.failures.is_empty()
    }
}

/// Splits `exp:`/`got:` listings into items: alerts (`Labels:{...} Annotations:{...}`)
/// or samples (`{...} value`), `[]`/`nil` being none.
fn items(listing: &str) -> Vec<String> {
    let t = listing.trim().trim_end_matches(',').trim();
    if t == "[]" || t == "nil" || t.is_empty() {
        return Vec::new();
    }
    if t.contains("Labels:") {
        let mut out = Vec::new();
        let mut cur = String::new();
        for line in t.lines().map(|l| l.trim().trim_end_matches(',')) {
            if let Some(l) = line.strip_prefix("Labels:") {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur = format!("labels {l}");
            } else if let Some(a) = line.strip_prefix("Annotations:") {
                if a != "{}" {
                    cur.push_str(&format!(" annotations {a}"));
                }
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        return out;
    }
    // Samples: `{a="b", c="d"} 1E+00, {e="f"} 2E+00` split at top-level ", ".
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut esc) = (0i32, false, false);
    let mut cur = String::new();
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quoted {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth -= 1;
        } else if c == ',' && depth == 0 && chars.get(i + 1) == Some(&' ') {
            out.push(cur.trim().to_string());
            cur.clear();
            i += 2;
            continue;
        }
        cur.push(c);
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A multiset diff of expected against got, in expected order then the extra got items.
pub fn diff(exp: &[String], got: &[String]) -> Vec<DiffLine> {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for g in got {
        *left.entry(g.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for e in exp {
        match left.get_mut(e.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                out.push(DiffLine {
                    sign: ' ',
                    text: e.clone(),
                });
            }
            _ => out.push(DiffLine {
                sign: '-',
                text: e.clone(),
            }),
        }
    }
    let mut used: HashMap<&str, usize> = HashMap::new();
    for e in exp {
        *used.entry(e.as_str()).or_default() += 1;
    }
    for g in got {
        match used.get_mut(g.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(DiffLine {
                sign: '+',
                text: g.clone(),
            }),
        }
    }
    out
}

/// Parses one of promtool's failure messages into a [`Failure`] (location unset).
pub fn parse_failure(raw: &str) -> Failure {
    let (head_part, rest) = match raw.find("exp:") {
        Some(i) => (&raw[..i], Some(&raw[i + 4..])),
        None => (raw, None),
    };
    let head: String = head_part
        .lines()
        .map(|l| l.trim().trim_end_matches(',').trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("  ");
    let mut err = None;
    let mut head_clean = head.clone();
    if let Some(i) = head.find(", err: ") {
        err = Some(head[i + 7..].to_string());
        head_clean = head[..i].to_string();
    }
    let subject = if let Some(i) = head_clean.find("alertname: ") {
        let s = &head_clean[i + 11..];
        Some(s.split(',').next().unwrap_or_default().trim().to_string())
    } else if let Some(i) = head_clean.find("expr: \"") {
        let s = &head_clean[i + 7..];
        s.rfind("\", time:")
            .map(|j| s[..j].replace("\\\"", "\""))
            .or_else(|| s.split('"').next().map(str::to_string))
    } else {
        None
    };
    let diff = match rest {
        Some(r) => match r.find("got:") {
            Some(j) => diff(&items(&r[..j]), &items(&r[j + 4..])),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    Failure {
        head: head_clean,
        subject,
        err,
        diff,
        location: None,
        raw: raw.to_string(),
    }
}

/// The rule files a test file names (globs resolved against its directory).
fn rule_files_of(test: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(test) else {
        return Vec::new();
    };
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
        return Vec::new();
    };
    let base = test.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for pat in doc
        .get("rule_files")
        .and_then(|v| v.as_sequence())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let full = base.join(pat);
        out.extend(glob_paths(&full));
    }
    out
}

/// Paths matching a pattern whose last component may hold `*` and `?`.
fn glob_paths(p: &Path) -> Vec<PathBuf> {
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![p.to_path_buf()];
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let re = format!(
        "^{}$",
        regex::escape(&name)
            .replace("\\*", ".*")
            .replace("\\?", ".")
    );
    let Ok(re) = regex::Regex::new(&re) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Where a rule named `name` (alert or record) starts in `files`.
fn find_rule(files: &[PathBuf], name: &str) -> Option<(PathBuf, Option<usize>)> {
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        let lines = crate::tui::backend::rules::RuleLines::of_text(&text);
        for (j, g) in doc
            .get("groups")
            .and_then(|v| v.as_sequence())
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (i, r) in g
                .get("rules")
                .and_then(|v| v.as_sequence())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let n = r
                    .get("alert")
                    .or_else(|| r.get("record"))
                    .and_then(|v| v.as_str());
                if n == Some(name) {
                    let line = lines
                        .groups
                        .get(j)
                        .and_then(|(_, rl)| rl.get(i).copied().flatten());
                    return Some((f.clone(), line));
                }
            }
        }
    }
    None
}

/// The first line of `file` containing `needle`.
fn find_text(file: &Path, needle: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// Runs one test file and structures its report.
pub fn run_test_file(path: &Path) -> FileResult {
    let started = Instant::now();
    let mut res = FileResult {
        path: path.to_path_buf(),
        error: None,
        failures: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        took_ms: 0.0,
    };
    match crate::rules::unittest::run_file(path) {
        Ok(report) => {
            let rules = rule_files_of(path);
            res.skipped = report.skipped;
            res.warnings = report.warnings;
            for e in &report.errors {
                let mut f = parse_failure(e);
                f.location = f.subject.as_ref().and_then(|s| {
                    find_rule(&rules, s).or_else(|| {
                        // An expression case: its line in the test file.
                        find_text(path, s).map(|l| (path.to_path_buf(), Some(l)))
                    })
                });
                if f.location.is_none() {
                    f.location = Some((path.to_path_buf(), None));
                }
                res.failures.push(f);
            }
        }
        Err(e) => res.error = Some(e.to_string()),
    }
    res.took_ms = started.elapsed().as_secs_f64() * 1000.0;
    res
}

/// One line of the list.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Row {
    File(usize),
    Failure(usize, usize),
}

/// The rule test runner view.
pub struct RuleTestView {
    files: Vec<PathBuf>,
    results: Vec<FileResult>,
    task: Task<Vec<FileResult>>,
    /// Modification times of the watched files at the last run.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    polled_at: i64,
    runs: u64,
    last_run_ms: Option<i64>,
    visible: Vec<Row>,
    selected: usize,
    offset: usize,
    show_file: bool,
}

impl RuleTestView {
    pub fn new(files: Vec<PathBuf>) -> RuleTestView {
        RuleTestView {
            files,
            results: Vec::new(),
            task: Task::default(),
            stamps: Vec::new(),
            polled_at: i64::MIN,
            runs: 0,
            last_run_ms: None,
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            show_file: false,
        }
    }

    /// Sets results directly (snapshot tests), as of `now_ms`.
    pub fn set_results(&mut self, results: Vec<FileResult>, now_ms: i64) {
        self.files = results.iter().map(|r| r.path.clone()).collect();
        self.results = results;
        self.stamps = self.watched();
        self.polled_at = now_ms;
        self.last_run_ms = Some(now_ms);
        self.runs += 1;
        self.rebuild();
    }

    /// Selects the first failure and opens its file pane (snapshot tests).
    pub fn open_first_failure(&mut self) {
        if let Some(i) = self
            .visible
            .iter()
            .position(|r| matches!(r, Row::Failure(..)))
        {
            self.selected = i;
            self.show_file = true;
        }
    }

    /// Every file whose change triggers a re-run, with its modification time.
    fn watched(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mut paths: Vec<PathBuf> = Vec::new();
        for f in &self.files {
            paths.push(f.clone());
            paths.extend(rule_files_of(f));
        }
        paths
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                (p, m)
            })
            .collect()
    }

    fn start_run(&mut self, ctx: &ViewCtx<'_>) {
        let files = self.files.clone();
        self.stamps = self.watched();
        self.task.start(
            ctx.runtime,
            Box::pin(async move {
                tokio::task::spawn_blocking(move || {
                    files.iter().map(|f| run_test_file(f)).collect()
                })
                .await
                .unwrap_or_default()
            }),
        );
    }

    fn rebuild(&mut self) {
        self.visible.clear();
        for (fi, r) in self.results.iter().enumerate() {
            self.visible.push(Row::File(fi));
            for k in 0..r.failures.len() {
                self.visible.push(Row::Failure(fi, k));
            }
        }
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_failure(&self) -> Option<&Failure> {
        match *self.visible.get(self.selected)? {
            Row::Failure(f, k) => self.results.get(f)?.failures.get(k),
            Row::File(f) => self.results.get(f)?.failures.first(),
        }
    }

    fn render_list(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let height = area.height.saturating_sub(1) as usize;
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height.max(1) {
            self.offset = self.selected + 1 - height.max(1);
        }
        let failed = self.results.iter().filter(|r| !r.passed()).count();
        let cases: usize = self.results.iter().map(|r| r.failures.len()).sum();
        let mut head = vec![
            Span::styled(format!("{} file(s)  ", self.files.len()), p.dim),
            Span::styled(
                format!("{failed} failing ({cases} case(s))"),
                if failed > 0 { p.error } else { p.ok },
            ),
            Span::styled("  watching for changes", p.dim),
        ];
        if let Some(t) = self.last_run_ms {
            head.push(Span::styled(
                format!("  run #{} at {}", self.runs, crate::tui::widgets::clock(t)),
                p.dim,
            ));
        }
        let mut lines = vec![Line::from(head)];
        for (i, row) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height)
        {
            let line = match *row {
                Row::File(fi) => {
                    let r = &self.results[fi];
                    let (mark, st) = if r.passed() {
                        ("PASS", p.ok)
                    } else {
                        ("FAIL", p.error)
                    };
                    let mut spans = vec![
                        Span::styled(format!("{mark} "), st),
                        Span::styled(r.path.display().to_string(), p.text),
                        Span::styled(format!("  {:.0} ms", r.took_ms), p.dim),
                    ];
                    if !r.skipped.is_empty() {
                        spans.push(Span::styled(
                            format!("  {} skipped", r.skipped.len()),
                            p.warn,
                        ));
                    }
                    if let Some(e) = &r.error {
                        spans.push(Span::styled(format!("  {e}"), p.error));
                    }
                    Line::from(spans)
                }
                Row::Failure(fi, k) => {
                    let fl = &self.results[fi].failures[k];
                    let loc = match &fl.location {
                        Some((path, Some(l))) => format!(
                            "  {}:{l}",
                            path.file_name()
                                .map(|s| s.to_string_lossy().to_string())
                                .unwrap_or_default()
                        ),
                        _ => String::new(),
                    };
                    Line::from(vec![
                        Span::styled("  ✗ ", p.error),
                        Span::styled(fl.head.clone(), p.text),
                        Span::styled(loc, p.dim),
                    ])
                }
            };
            lines.push(if i == self.selected {
                line.style(p.selection)
            } else {
                line
            });
        }
        if self.files.is_empty() {
            lines.push(Line::from(Span::styled(
                " :test FILE... runs rule unit-test files (promtool test rules format) and re-runs them on change",
                p.dim,
            )));
        } else if self.results.is_empty() {
            lines.push(Line::from(Span::styled(" running…", p.dim)));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn render_diff(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let mut lines = Vec::new();
        match self.selected_failure() {
            None => lines.push(Line::from(Span::styled(
                if self.results.iter().all(|r| r.passed()) && !self.results.is_empty() {
                    "all tests pass"
                } else {
                    ""
                },
                p.ok,
            ))),
            Some(fl) => {
                lines.push(Line::from(Span::styled(fl.head.clone(), p.accent)));
                if let Some(e) = &fl.err {
                    lines.push(Line::from(Span::styled(format!("error: {e}"), p.error)));
                }
                if !fl.diff.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled("- expected only  ", p.warn),
                        Span::styled("+ got only  ", p.error),
                        Span::styled("  both", p.dim),
                    ]));
                }
                for d in &fl.diff {
                    let st = match d.sign {
                        '-' => p.warn,
                        '+' => p.error,
                        _ => p.dim,
                    };
                    lines.push(Line::from(Span::styled(
                        format!("{} {}", d.sign, d.text),
                        st,
                    )));
                }
                if fl.diff.is_empty() && fl.err.is_none() {
                    for l in fl.raw.lines() {
                        lines.push(Line::from(Span::styled(l.to_string(), p.text)));
                    }
                }
            }
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(p.border)
                        .title(Span::styled(" expected vs got ", p.accent)),
                ),
            area,
        );
    }

    fn render_file(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some((path, line)) = self.selected_failure().and_then(|f| f.location.clone()) else {
            return;
        };
        let lines = file_lines(
            &path,
            line,
            area.height.saturating_sub(2) as usize,
            0,
            p,
            ctx.glyphs,
        );
        let title = match line {
            Some(l) => format!(" {}:{l} (e edits) ", path.display()),
            None => format!(" {} (e edits) ", path.display()),
        };
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.border)
                    .title(Span::styled(title, p.accent)),
            ),
            area,
        );
    }
}

impl View for RuleTestView {
    fn name(&self) -> &'static str {
        "ruletest"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["tests", "rt"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("j/k", "move"),
            ("Enter", "jump to failing rule"),
            ("e", "edit in $EDITOR"),
            ("r", "re-run now"),
            (":test F...", "files to run"),
            ("Esc", "close file"),
        ]
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                if self.selected + 1 < self.visible.len() {
                    self.selected += 1;
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.show_file = true,
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left if self.show_file => {
                self.show_file = false
            }
            KeyCode::Char('e') => {
                if let Some((path, line)) = self.selected_failure().and_then(|f| f.location.clone())
                {
                    request_editor(path, line);
                }
            }
            KeyCode::Char('r') if !self.files.is_empty() => self.start_run(ctx),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn command(
        &mut self,
        name: &str,
        args: &str,
        ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        if name != "test" {
            return None;
        }
        let mut files = Vec::new();
        for a in args.split_whitespace() {
            let found = glob_paths(Path::new(a));
            if found.is_empty() || (found.len() == 1 && !found[0].exists()) {
                return Some(Err(format!(":test {a}: no such file")));
            }
            files.extend(found);
        }
        if files.is_empty() {
            return Some(Err(
                ":test FILE... (rule unit-test files, globs allowed)".into()
            ));
        }
        self.files = files;
        self.results.clear();
        self.rebuild();
        self.start_run(ctx);
        Some(Ok(()))
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            self.results = r;
            self.runs += 1;
            self.last_run_ms = Some(ctx.now_ms);
            self.rebuild();
        }
        if !self.files.is_empty()
            && !self.task.is_busy()
            && ctx.now_ms.saturating_sub(self.polled_at) >= POLL_MS
        {
            self.polled_at = ctx.now_ms;
            if self.results.is_empty() || self.watched() != self.stamps {
                self.start_run(ctx);
            }
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.task.busy_since()
    }
    fn cancel(&mut self) {
        self.task.cancel();
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let [list, right] = if area.width >= 140 {
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area)
        } else {
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area)
        };
        self.render_list(f, list, ctx);
        if self.show_file {
            let [d, file] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(right);
            self.render_diff(f, d, ctx);
            self.render_file(f, file, ctx);
        } else {
            self.render_diff(f, right, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_failures_become_a_label_diff() {
        let raw = "    alertname: HighLoad, time: 5m, \n        exp:[\n            0:\n              Labels:{alertname=\"HighLoad\", instance=\"a\"}\n              Annotations:{}\n            1:\n              Labels:{alertname=\"HighLoad\", instance=\"b\"}\n              Annotations:{}\n            ], \n        got:[\n            0:\n              Labels:{alertname=\"HighLoad\", instance=\"a\"}\n              Annotations:{}\n            1:\n              Labels:{alertname=\"HighLoad\", instance=\"c\"}\n              Annotations:{summary=\"x\"}\n            ]";
        let f = parse_failure(raw);
        assert_eq!(f.subject.as_deref(), Some("HighLoad"));
        assert_eq!(f.head, "alertname: HighLoad, time: 5m");
        let signs: Vec<(char, &str)> = f.diff.iter().map(|d| (d.sign, d.text.as_str())).collect();
        assert_eq!(
            signs,
            vec![
                (' ', "labels {alertname=\"HighLoad\", instance=\"a\"}"),
                ('-', "labels {alertname=\"HighLoad\", instance=\"b\"}"),
                (
                    '+',
                    "labels {alertname=\"HighLoad\", instance=\"c\"} annotations {summary=\"x\"}"
                ),
            ]
        );
    }

    #[test]
    fn expr_failures_split_samples_at_top_level_commas() {
        let raw = "    expr: \"sum by (a) (x)\", time: 1m,\n        exp: {a=\"1, 2\"} 1E+00, {a=\"3\"} 2E+00\n        got: {a=\"1, 2\"} 1E+00";
        let f = parse_failure(raw);
        assert_eq!(f.subject.as_deref(), Some("sum by (a) (x)"));
        assert_eq!(
            f.diff,
            vec![
                DiffLine {
                    sign: ' ',
                    text: "{a=\"1, 2\"} 1E+00".into()
                },
                DiffLine {
                    sign: '-',
                    text: "{a=\"3\"} 2E+00".into()
                },
            ]
        );
        let e = parse_failure("    expr: \"foo(\", time: 0s, err: parse error");
        assert_eq!(e.err.as_deref(), Some("parse error"));
        assert!(e.diff.is_empty());
    }
}
