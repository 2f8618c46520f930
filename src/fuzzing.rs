//! One entry point that hands the same text to every parser of what an operator writes
//! or sends (alertmanager.yml, the web configuration, rule files, Go templates,
//! Alertmanager matchers, time-interval pieces, pushed exposition bodies, the TUI's `:at`
//! moments), for the `operator_text` fuzz target and the mutation tests below. Whatever
//! the text, each parser must return a value or an error, never panic. The on-disk
//! decoders have their own entry point in [`crate::tsdb::fuzzing`].
//!
//! Parsers that may read referenced files (templates, certificates, password files) are
//! given a base directory that does not exist, so a fuzzed path never reaches a real file.

use std::path::Path;

/// A directory no parser finds anything in.
const NOWHERE: &str = "/nonexistent/promtui-fuzzing";

/// Runs `text` through every operator-facing text parser; panics only if one does.
#[doc(hidden)]
pub fn parse_all(text: &str) {
    let dir = Path::new(NOWHERE);
    let _ = crate::alerting::config::AmConfig::load_str(text, "alertmanager.yml", dir);
    let _ = crate::web::security::WebConfig::parse(text, Path::new("web.yml"), dir);
    let _ = crate::config::Config::load_str(text, "prometheus.yml");
    let _ = crate::rules::file::parse_rules(text, "rules.yml");
    let _ = crate::template::Template::parse("fuzz", text, Default::default());
    let _ = crate::alerting::matcher::parse_matchers(text);
    let _ = crate::alerting::matcher::parse_matcher(text);
    use crate::alerting::timeinterval as ti;
    let _ = ti::parse_time_of_day(text);
    let _ = ti::parse_weekday_range(text);
    let _ = ti::parse_day_of_month_range(text);
    let _ = ti::parse_month_range(text);
    let _ = ti::parse_year_range(text);
    let _ = crate::pushgateway::body::parse_text(text.as_bytes());
    let _ = crate::tui::timetravel::parse_at(text, 1_765_000_000_000);
    let _ = crate::model::time::parse_duration(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters that change YAML, template, matcher and exposition structure.
    const SPECIALS: &[&str] = &[
        ":", "{", "}", "[", "]", "\"", "'", "\n", " ", "  ", "\t", "-", "|", ">", "&", "*", "!",
        "#", "=", "~", ",", "\\", "{{", "}}", "$", ".", "0", "-1", "é", "\u{0}",
    ];

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
    }

    /// The char boundaries of `s` (including its end).
    fn boundaries(s: &str) -> Vec<usize> {
        s.char_indices().map(|(i, _)| i).chain([s.len()]).collect()
    }

    /// One to three edits: delete a character, insert a special, duplicate or drop a
    /// line, swap two lines, or cut the text.
    fn mutate(seed: &str, rng: &mut Rng) -> String {
        let mut s = seed.to_string();
        for _ in 0..1 + rng.below(3) {
            let b = boundaries(&s);
            let at = b[rng.below(b.len())];
            match rng.below(6) {
                0 => {
                    if let Some(c) = s[at..].chars().next() {
                        s.replace_range(at..at + c.len_utf8(), "");
                    }
                }
                1 | 2 => s.insert_str(at, SPECIALS[rng.below(SPECIALS.len())]),
                3 | 4 => {
                    let mut lines: Vec<&str> = s.lines().collect();
                    if lines.len() > 1 {
                        let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                        match rng.below(3) {
                            0 => lines.swap(i, j),
                            1 => lines.insert(i, lines[j]),
                            _ => {
                                lines.remove(i);
                            }
                        }
                        s = lines.join("\n");
                    }
                }
                _ => s.truncate(at),
            }
        }
        s
    }

    /// Every cut at a line end and `n` random mutants of `seed` go through every parser
    /// (`n` times `PROMTUI_FUZZ_SCALE` when set, for a longer search than `cargo test`'s).
    fn mutations(seed: &str, n: usize) {
        let scale = std::env::var("PROMTUI_FUZZ_SCALE").ok();
        let n = n * scale.and_then(|v| v.parse().ok()).unwrap_or(1);
        parse_all(seed);
        for (i, _) in seed.match_indices('\n') {
            parse_all(&seed[..i]);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
        for _ in 0..n {
            parse_all(&mutate(seed, &mut rng));
        }
    }

    fn file(rel: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
    }

    #[test]
    fn mutated_alertmanager_and_rule_files_never_panic() {
        mutations(&file("sample-configs/alertmanager/alertmanager.yml"), 100);
        mutations(&file("tests/data/alerting/am025/am.yml"), 100);
        mutations(&file("sample-configs/rules/promtui.rules.yml"), 100);
    }

    #[test]
    fn mutated_web_configs_never_panic() {
        mutations(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             client_allowed_sans: [host.example, 10.0.0.1]\n  min_version: TLS12\n  \
             max_version: TLS13\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  \
             curve_preferences: [X25519, CurveP256]\nhttp_server_config:\n  headers:\n    \
             X-Frame-Options: deny\nbasic_auth_users:\n  alice: \
             $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
            150,
        );
    }

    #[test]
    fn mutated_templates_matchers_and_moments_never_panic() {
        let seeds = [
            r#"{{ define "slack.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ end }}"#,
            r#"{{ range $i, $a := .Alerts }}{{ with $a.Annotations.summary }}{{ . }}{{ else }}{{ $a.Labels.SortedPairs.Values | join ", " }}{{ end }}{{ end }}{{ template "x" . }}"#,
            r#"{alertname="HighLatency", severity=~"crit|page", team!="db", env!~"dev.*"}"#,
            "09:00 17:30 monday:friday 1:-1 january:march 2020:2030 2h ago 2026-12-07T10:00:00Z 1h30m",
            "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\nhttp_requests_total{code=\"400\"} 3\n",
        ];
        for s in seeds {
            mutations(s, 150);
        }
    }
}
