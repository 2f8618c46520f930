//! Every shipped sample configuration must pass `check_config`, the embedded default must
//! be the shipped file, and the promtool test data's bad config must fail clearly.

use std::path::{Path, PathBuf};

use promtui::config::{self, check_config, Config, DEFAULT_CONFIG, DEFAULT_RULES};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared test data directory: `$PROMTUI_SHARED`, else `../shared` or `../../shared`
/// next to the crate.
fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROMTUI_SHARED") {
        return PathBuf::from(dir);
    }
    for rel in ["../shared", "../../shared"] {
        let p = manifest_dir().join(rel);
        if p.join("testdata").is_dir() {
            return p;
        }
    }
    panic!("shared test data not found: set PROMTUI_SHARED or place shared/ beside the crate");
}

fn sample_configs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("sample-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_sample_config_passes_check_config() {
    let samples = sample_configs();
    assert!(
        samples.len() >= 4,
        "expected the sample configs, found {samples:?}"
    );
    for path in samples {
        let report = match check_config(&path) {
            Ok(r) => r,
            Err(e) => panic!("{} is invalid: {e}", path.display()),
        };
        assert_eq!(report.exit_code(), 0, "{report}");
        assert!(report.warnings.is_empty(), "{report}");
        println!("{report}");
    }
}

#[test]
fn sample_configs_reference_real_files() {
    // The example rules, through a config beside them that names them (the embedded
    // default will once rules are evaluated).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rules-example.yml");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    for (rel, body) in DEFAULT_RULES {
        std::fs::write(dir.path().join(rel), body).unwrap();
    }
    std::fs::write(&cfg, "rule_files:\n  - rules/*.yml\n").unwrap();
    let r = check_config(&cfg).unwrap();
    assert_eq!(r.rule_files.len(), 1);
    assert_eq!(r.rule_files[0].num_groups(), 2);
    assert_eq!(r.rule_files[0].num_rules(), 4);
    assert!(r.rule_files[0].lint.is_none());
    let r = check_config(&manifest_dir().join("sample-configs/file_sd.yml")).unwrap();
    assert_eq!(r.sd_files.len(), 1);
    assert_eq!(r.sd_files[0].targets, 2);
}

#[test]
fn embedded_default_is_the_shipped_file() {
    let shipped =
        std::fs::read_to_string(manifest_dir().join("sample-configs/promtui.yml")).unwrap();
    assert_eq!(DEFAULT_CONFIG, shipped);
    for (rel, body) in DEFAULT_RULES {
        let on_disk =
            std::fs::read_to_string(manifest_dir().join("sample-configs").join(rel)).unwrap();
        assert_eq!(*body, on_disk, "{rel}");
    }
    let c = Config::default_config().unwrap();
    // promtui itself and the built-in Pushgateway (honor_labels, as Pushgateways are scraped).
    assert_eq!(c.scrape_configs.len(), 2);
    let pg = &c.scrape_configs[1];
    assert_eq!(pg.job_name, "pushgateway");
    assert!(pg.honor_labels);
}

#[test]
fn promtool_bad_config_fails_with_a_clear_message() {
    let bad = shared_dir().join("testdata/promtool/prometheus-config.bad.yml");
    let res = check_config(&bad);
    assert_eq!(config::exit_code(&res), 1);
    let msg = res.unwrap_err().to_string();
    let want = format!(
        "{}:1:1: field not-prometheus not found in type config.Config",
        bad.display()
    );
    assert_eq!(msg, want);
}

#[test]
fn config_written_elsewhere_resolves_rules_beside_it() {
    // Materialising the embedded default into a directory (as the engine does on first
    // run) gives a configuration whose rule glob finds the example rules.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("promtui.yml");
    // The default does not list rule_files until rules are evaluated; a copy that adds the
    // glob finds the example rules beside it.
    std::fs::write(
        &path,
        format!("{DEFAULT_CONFIG}rule_files:\n  - rules/*.yml\n"),
    )
    .unwrap();
    for (rel, body) in DEFAULT_RULES {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(Path::new("."))).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let c = Config::load_file(&path).unwrap();
    assert_eq!(
        c.rule_file_paths().unwrap(),
        vec![dir.path().join("rules/promtui.rules.yml")]
    );
}
