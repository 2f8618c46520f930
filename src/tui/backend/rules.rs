//! The Rules view's data: rule groups with their evaluation state and the alerts of each
//! alerting rule, from the in-process rule manager ([`LocalRules`]) or a remote
//! `/api/v1/rules` ([`RemoteRules`]). Each rule carries the line it starts at in its rule
//! file, found from the file's YAML (the manager keeps the file, not positions), so the
//! view can show the file at the rule and open `$EDITOR` there; a remote server's files
//! get lines only when the same path is readable here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value as Json;

use super::local::LocalBackend;
use super::remote::RemoteBackend;
use super::{Backend, BackendError};
use crate::web::BoxFuture;

/// One alert of an alerting rule (pending or firing).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    pub labels: Vec<(String, String)>,
    /// `pending` or `firing`.
    pub state: String,
    /// ms since the epoch.
    pub active_at_ms: Option<i64>,
    pub value: f64,
}

/// One rule with its evaluation state.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRow {
    /// `alerting` or `recording`.
    pub kind: String,
    /// The alert or record name.
    pub name: String,
    pub expr: String,
    /// `ok`, `err` or `unknown`.
    pub health: String,
    pub last_error: String,
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub alerts: Vec<AlertRow>,
    /// 1-based line of the rule in its file, when known.
    pub line: Option<usize>,
}

impl RuleRow {
    pub fn firing(&self) -> usize {
        self.alerts.iter().filter(|a| a.state == "firing").count()
    }
    pub fn pending(&self) -> usize {
        self.alerts.iter().filter(|a| a.state == "pending").count()
    }
    /// The rule's state as the API words it: firing, pending or inactive (alerting rules).
    pub fn state(&self) -> &'static str {
        if self.firing() > 0 {
            "firing"
        } else if self.pending() > 0 {
            "pending"
        } else {
            "inactive"
        }
    }
}

/// One rule group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRow {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    pub rules: Vec<RuleRow>,
    /// 1-based line of the group in its file, when known.
    pub line: Option<usize>,
}

impl GroupRow {
    /// `err` when any rule is unhealthy, `unknown` before the first evaluation, else `ok`.
    pub fn health(&self) -> &'static str {
        if self.rules.iter().any(|r| r.health == "err") {
            "err"
        } else if self.last_eval_ms.is_none() {
            "unknown"
        } else {
            "ok"
        }
    }
    /// The first rule error of the group.
    pub fn last_error(&self) -> Option<&str> {
        self.rules
            .iter()
            .map(|r| r.last_error.as_str())
            .find(|e| !e.is_empty())
    }
}

/// Where the Rules view reads.
pub trait RulesSource: Send + Sync {
    fn groups(&self) -> BoxFuture<Result<Vec<GroupRow>, BackendError>>;
}

/// The rules source for a backend: the in-process manager or the remote API.
pub fn rules_source(backend: &Arc<dyn Backend>) -> Option<Arc<dyn RulesSource>> {
    let any = backend.as_any()?;
    if let Some(l) = any.downcast_ref::<LocalBackend>() {
        return Some(Arc::new(LocalRules {
            backend: l.clone(),
            lines: LineCache::default(),
        }));
    }
    if let Some(r) = any.downcast_ref::<RemoteBackend>() {
        return Some(Arc::new(RemoteRules {
            backend: r.clone(),
            lines: LineCache::default(),
        }));
    }
    None
}

/// Lines of groups and rules by file, re-read when the file changes.
#[derive(Clone, Default)]
pub struct LineCache {
    #[allow(clippy::type_complexity)]
    files: Arc<Mutex<HashMap<PathBuf, (Option<std::time::SystemTime>, Arc<RuleLines>)>>>,
}

/// Where each group and rule of a rule file starts.
#[derive(Debug, Default, PartialEq)]
pub struct RuleLines {
    /// By group index: the group's line and its rules' lines.
    pub groups: Vec<(Option<usize>, Vec<Option<usize>>)>,
    /// Group names in file order (to map a group by name).
    pub names: Vec<String>,
}

impl RuleLines {
    /// Finds the lines of every group and rule of a rule file's text.
    pub fn of_text(text: &str) -> RuleLines {
        use crate::config::locate::{locate_value, YamlPath};
        let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
            return RuleLines::default();
        };
        let mut out = RuleLines::default();
        let groups = doc
            .get("groups")
            .and_then(|g| g.as_sequence())
            .cloned()
            .unwrap_or_default();
        for (j, g) in groups.iter().enumerate() {
            let gp = YamlPath::root().key("groups").index(j);
            let gl = locate_value(text, &gp).map(|p| p.line);
            let n = g
                .get("rules")
                .and_then(|r| r.as_sequence())
                .map_or(0, |r| r.len());
            let rules = (0..n)
                .map(|i| locate_value(text, &gp.key("rules").index(i)).map(|p| p.line))
                .collect();
            out.groups.push((gl, rules));
            out.names.push(
                g.get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        out
    }
    /// The line of group `name`, and of its rule `index` (0-based).
    pub fn find(&self, group: &str, index: usize) -> (Option<usize>, Option<usize>) {
        match self.names.iter().position(|n| n == group) {
            Some(j) => {
                let (gl, rules) = &self.groups[j];
                (*gl, rules.get(index).copied().flatten())
            }
            None => (None, None),
        }
    }
}

impl LineCache {
    /// The lines of `path` (empty when unreadable).
    pub fn get(&self, path: &Path) -> Arc<RuleLines> {
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if let Some((m, l)) = self.files.lock().get(path) {
            if *m == mtime {
                return l.clone();
            }
        }
        let lines = Arc::new(
            std::fs::read_to_string(path)
                .map(|t| RuleLines::of_text(&t))
                .unwrap_or_default(),
        );
        self.files
            .lock()
            .insert(path.to_path_buf(), (mtime, lines.clone()));
        lines
    }
}

fn pairs(m: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The in-process rule manager.
pub struct LocalRules {
    backend: LocalBackend,
    lines: LineCache,
}

/// Group rows from the manager's groups (also used by tests on a bare manager).
pub fn group_rows(
    groups: &[&crate::rules::manager::GroupState],
    lines: &LineCache,
) -> Vec<GroupRow> {
    use crate::rules::eval::AlertState;
    use crate::rules::Rule;
    groups
        .iter()
        .map(|g| {
            let fl = lines.get(&g.file);
            let rules = g
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let (kind, for_ms, keep, annotations) = match &r.rule {
                        Rule::Alerting(a) => (
                            "alerting",
                            a.for_duration.0,
                            a.keep_firing_for.0,
                            pairs(&a.annotations),
                        ),
                        Rule::Recording(_) => ("recording", 0, 0, Vec::new()),
                    };
                    let alerts = r
                        .alerts
                        .alerts()
                        .into_iter()
                        .filter(|a| a.state != AlertState::Inactive)
                        .map(|a| AlertRow {
                            labels: pairs(&a.labels),
                            state: a.state.as_str().to_string(),
                            active_at_ms: Some(a.active_at),
                            value: a.value,
                        })
                        .collect();
                    let expr = match &r.rule {
                        Rule::Alerting(a) => a.expr_text.clone(),
                        Rule::Recording(x) => x.expr_text.clone(),
                    };
                    RuleRow {
                        kind: kind.into(),
                        name: r.rule.name().to_string(),
                        expr,
                        health: r.health.as_str().to_string(),
                        last_error: r.last_error.clone().unwrap_or_default(),
                        last_eval_ms: r.last_eval_ms,
                        eval_seconds: r.eval_seconds,
                        for_ms,
                        keep_firing_for_ms: keep,
                        labels: pairs(r.rule.labels()),
                        annotations,
                        alerts,
                        line: fl.find(&g.name, i).1,
                    }
                })
                .collect();
            GroupRow {
                name: g.name.clone(),
                file: g.file.display().to_string(),
                interval_ms: g.interval_ms,
                last_eval_ms: g.last_eval_ms,
                eval_seconds: g.eval_seconds,
                rules,
                line: fl.find(&g.name, 0).0,
            }
        })
        .collect()
}

impl RulesSource for LocalRules {
    fn groups(&self) -> BoxFuture<Result<Vec<GroupRow>, BackendError>> {
        let engine = self.backend.engine_handle();
        let lines = self.lines.clone();
        Box::pin(async move {
            let e = engine?;
            tokio::task::spawn_blocking(move || {
                let Some(m) = e.rule_manager() else {
                    return Ok(Vec::new());
                };
                Ok(m.with_groups(|gs| group_rows(gs, &lines)))
            })
            .await
            .map_err(|e| BackendError::Engine(format!("backend task failed: {e}")))?
        })
    }
}

/// A remote `/api/v1/rules`.
pub struct RemoteRules {
    backend: RemoteBackend,
    lines: LineCache,
}

fn rfc3339_ms(v: &Json) -> Option<i64> {
    let s = v.as_str()?;
    if s.starts_with("0001-01-01") {
        return None;
    }
    crate::model::time::parse_time(s).ok()
}

fn label_pairs(v: &Json) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Decodes `/api/v1/rules`' `data` (Prometheus 2.x and promtui answer alike).
pub fn decode_rules(data: &Json, lines: &LineCache) -> Vec<GroupRow> {
    let secs_ms = |v: &Json| (v.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
    let mut out = Vec::new();
    for g in data["groups"].as_array().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or_default().to_string();
        let file = g["file"].as_str().unwrap_or_default().to_string();
        let fl = lines.get(Path::new(&file));
        let rules = g["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| RuleRow {
                kind: r["type"].as_str().unwrap_or_default().to_string(),
                name: r["name"].as_str().unwrap_or_default().to_string(),
                expr: r["query"].as_str().unwrap_or_default().to_string(),
                health: r["health"].as_str().unwrap_or("unknown").to_string(),
                last_error: r["lastError"].as_str().unwrap_or_default().to_string(),
                last_eval_ms: rfc3339_ms(&r["lastEvaluation"]),
                eval_seconds: r["evaluationTime"].as_f64().unwrap_or(0.0),
                for_ms: secs_ms(&r["duration"]),
                keep_firing_for_ms: secs_ms(&r["keepFiringFor"]),
                labels: label_pairs(&r["labels"]),
                annotations: label_pairs(&r["annotations"]),
                alerts: r["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| AlertRow {
                        labels: label_pairs(&a["labels"]),
                        state: a["state"].as_str().unwrap_or_default().to_string(),
                        active_at_ms: rfc3339_ms(&a["activeAt"]),
                        value: a["value"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .or_else(|| a["value"].as_f64())
                            .unwrap_or(f64::NAN),
                    })
                    .collect(),
                line: fl.find(&name, i).1,
            })
            .collect();
        out.push(GroupRow {
            line: fl.find(&name, 0).0,
            name,
            file,
            interval_ms: secs_ms(&g["interval"]),
            last_eval_ms: rfc3339_ms(&g["lastEvaluation"]),
            eval_seconds: g["evaluationTime"].as_f64().unwrap_or(0.0),
            rules,
        });
    }
    out
}

impl RulesSource for RemoteRules {
    fn groups(&self) -> BoxFuture<Result<Vec<GroupRow>, BackendError>> {
        let b = self.backend.clone();
        let lines = self.lines.clone();
        Box::pin(async move {
            let d = b.api_get("/api/v1/rules", &[]).await?;
            Ok(decode_rules(&d, &lines))
        })
    }
}

/// Rule states at a past moment from the `ALERTS` series: alert label sets (without
/// `__name__` and `alertstate`) with their state, grouped by `alertname`.
pub fn alerts_from_series(
    series: &[crate::tui::console::source::SeriesData],
) -> HashMap<String, Vec<AlertRow>> {
    let mut out: HashMap<String, Vec<AlertRow>> = HashMap::new();
    for s in series {
        let mut state = String::new();
        let mut name = String::new();
        let labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, v)| match k.as_str() {
                "__name__" => false,
                "alertstate" => {
                    state = v.clone();
                    false
                }
                "alertname" => {
                    name = v.clone();
                    true
                }
                _ => true,
            })
            .cloned()
            .collect();
        out.entry(name).or_default().push(AlertRow {
            labels,
            state,
            active_at_ms: None,
            value: f64::NAN,
        });
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_group_and_rule_lines() {
        let text = "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n  - alert: X\n    expr: up == 0\n- name: b\n  interval: 1m\n  rules:\n    - alert: Y\n      expr: vector(1)\n";
        let l = RuleLines::of_text(text);
        assert_eq!(l.find("a", 0), (Some(2), Some(4)));
        assert_eq!(l.find("a", 1), (Some(2), Some(6)));
        assert_eq!(l.find("b", 0), (Some(8), Some(11)));
        assert_eq!(l.find("c", 0), (None, None));
    }

    #[test]
    fn decodes_prometheus_rules_answer() {
        let d: Json = serde_json::from_str(
            r#"{"groups":[{"name":"g","file":"/nonexistent/r.yml","interval":15,"limit":0,
            "evaluationTime":0.0012,"lastEvaluation":"2026-01-02T03:04:00Z","rules":[
            {"state":"firing","name":"Down","query":"up == 0","duration":300,"keepFiringFor":0,
             "labels":{"severity":"page"},"annotations":{"summary":"s"},
             "alerts":[{"labels":{"alertname":"Down","instance":"a"},"annotations":{},
             "state":"firing","activeAt":"2026-01-02T02:50:00Z","value":"0e+00"}],
             "health":"ok","evaluationTime":0.001,"lastEvaluation":"2026-01-02T03:04:00Z","type":"alerting"},
            {"name":"r","query":"sum(up)","labels":{},"health":"err","lastError":"boom",
             "evaluationTime":0.0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"recording"}]}]}"#,
        )
        .unwrap();
        let g = decode_rules(&d, &LineCache::default());
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].interval_ms, 15_000);
        assert_eq!(g[0].health(), "err");
        assert_eq!(g[0].last_error(), Some("boom"));
        let r = &g[0].rules[0];
        assert_eq!(r.for_ms, 300_000);
        assert_eq!(r.state(), "firing");
        assert_eq!(r.alerts[0].value, 0.0);
        assert_eq!(r.alerts[0].active_at_ms, Some(1_767_322_200_000));
        assert_eq!(g[0].rules[1].last_eval_ms, None);
    }

    #[test]
    fn alerts_series_become_rule_states() {
        use crate::tui::console::source::SeriesData;
        let s = |name: &str, inst: &str, st: &str| SeriesData {
            labels: vec![
                ("__name__".into(), "ALERTS".into()),
                ("alertname".into(), name.into()),
                ("alertstate".into(), st.into()),
                ("instance".into(), inst.into()),
            ],
            points: vec![(0, 1.0)],
        };
        let m = alerts_from_series(&[s("A", "b", "firing"), s("A", "a", "pending")]);
        let a = &m["A"];
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].state, "pending");
        assert_eq!(
            a[0].labels,
            vec![
                ("alertname".to_string(), "A".to_string()),
                ("instance".to_string(), "a".to_string())
            ]
        );
    }
}
