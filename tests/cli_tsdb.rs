//! `promtui tsdb import openmetrics | dump | stats` through the real binary: a generated
//! OpenMetrics file is backfilled, dumped, and compared exactly with what was written.

mod common;

use std::fmt::Write as _;
use std::process::Command;

fn promtui(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Formats like Go's %g for the values used here.
fn g(v: f64) -> String {
    promtui::model::value::format_go_float(v)
}

#[test]
fn import_then_dump_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backfill.om");
    let data = dir.path().join("data");
    // 3 block windows (2h each) of 15s samples for a few series, with awkward values.
    let start_s: i64 = 1_700_006_400;
    let steps = 3 * 480 + 7;
    let mut om = String::new();
    let mut expected: Vec<(String, i64, String)> = Vec::new();
    om.push_str("# HELP req_total Requests.\n# TYPE req_total counter\n");
    for job in ["a", "b\"q"] {
        for i in 0..steps {
            let t = start_s + i * 15;
            let v = (i * i % 97) as f64 + if job == "a" { 0.5 } else { 0.0 };
            let esc = job.replace('"', "\\\"");
            writeln!(om, "req_total{{job=\"{esc}\"}} {v} {t}").unwrap();
            expected.push((
                format!("{{__name__=\"req\", job=\"{esc}\"}}"),
                t * 1000,
                g(v),
            ));
        }
    }
    om.push_str("# TYPE temp gauge\n");
    for i in 0..steps {
        let t = start_s + i * 15;
        let v = [1e-7, -0.0, 1.5e21, 273.15, f64::INFINITY][(i % 5) as usize];
        let written = if v.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{v:e}")
        };
        writeln!(om, "temp {written} {t}.000").unwrap();
        expected.push(("{__name__=\"temp\"}".to_string(), t * 1000, g(v)));
    }
    om.push_str("# EOF\n");
    std::fs::write(&file, om).unwrap();

    let (code, out, err) = promtui(&[
        "tsdb",
        "import",
        "openmetrics",
        file.to_str().unwrap(),
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("imported {} samples of 3 series", 3 * steps)),
        "{out}"
    );
    assert!(out.contains("into 4 block(s)"), "{out}");

    let (code, out, err) = promtui(&[
        "tsdb",
        "dump",
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // OpenMetrics counters keep their `_total` name in the samples.
    // Series sort by their label sets (`job="a"` < `job="b\"q"` < temp), samples by time.
    expected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let want: Vec<String> = expected
        .iter()
        .map(|(l, t, v)| format!("{} {v} {t}", l.replace("\"req\"", "\"req_total\"")))
        .collect();
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    // A time-bounded, filtered dump.
    let (_, out, _) = promtui(&[
        "tsdb",
        "dump",
        "--storage.tsdb.path",
        data.to_str().unwrap(),
        "--match",
        "temp",
        "--min-time",
        &start_s.to_string(),
        "--max-time",
        &(start_s + 30).to_string(),
    ]);
    assert_eq!(
        out,
        format!(
            "{{__name__=\"temp\"}} 1e-07 {}\n{{__name__=\"temp\"}} -0 {}\n{{__name__=\"temp\"}} 1.5e+21 {}\n",
            start_s * 1000,
            (start_s + 15) * 1000,
            (start_s + 30) * 1000
        )
    );

    let (code, out, _) = promtui(&[
        "tsdb",
        "stats",
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Series: 3"), "{out}");
    assert!(out.contains("Blocks: 4"), "{out}");
    assert!(out.contains("2  req_total"), "{out}");
}

#[test]
fn import_of_a_broken_file_says_where_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.om");
    std::fs::write(&file, "a 1 100\na 2 115\na{b=\"c\" 3 130\n# EOF\n").unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = promtui(&[
        "tsdb",
        "import",
        "openmetrics",
        file.to_str().unwrap(),
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("imported 2 samples"), "{out}");
    assert!(err.contains("bad.om: line 3, column"), "{err}");
    let (_, out, _) = promtui(&[
        "tsdb",
        "dump",
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(
        out,
        "{__name__=\"a\"} 1 100000\n{__name__=\"a\"} 2 115000\n"
    );
}

#[test]
fn dump_rejects_a_bad_selector_and_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = promtui(&[
        "tsdb",
        "dump",
        "--storage.tsdb.path",
        dir.path().to_str().unwrap(),
        "--match",
        "rate(x[5m])",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid --match"), "{err}");
    let (code, _, err) = promtui(&["tsdb", "stats", "--storage.tsdb.path", "/nonexistent/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("no TSDB at /nonexistent/x"), "{err}");
}

/// Every file under `dir` with its bytes, sorted (directories as empty entries).
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.path().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push((name + "/", Vec::new()));
                stack.push(e.path());
            } else {
                out.push((name, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn inspection_creates_and_changes_nothing() {
    use promtui::storage::Appender;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let db = promtui::tsdb::Db::open(&data, Default::default()).unwrap();
        let mut app = db.appender();
        let l = promtui::model::Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
        for i in 0..10 {
            app.append(&l, 1_700_000_000_000 + i * 15_000, 1.0).unwrap();
        }
        app.commit().unwrap();
        // No close: the WAL is left as a killed server leaves it.
    }
    let before = snapshot(&data);
    let d = data.to_str().unwrap();
    for args in [
        vec!["tsdb", "stats", "--storage.tsdb.path", d],
        vec!["tsdb", "dump", "--storage.tsdb.path", d],
        vec![
            "query",
            "up",
            "--time",
            "1700000100",
            "--storage.tsdb.path",
            d,
        ],
    ] {
        let (code, out, err) = promtui(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("up") || out.contains('1'), "{args:?}: {out}");
        assert_eq!(snapshot(&data), before, "{args:?} changed the directory");
    }
    // And a read-only open refuses to write.
    let db = promtui::tsdb::Db::open_read_only(&data, Default::default()).unwrap();
    let mut app = db.appender();
    let l = promtui::model::Labels::from_pairs(&[("__name__", "up")]);
    app.append(&l, 1_800_000_000_000, 1.0).unwrap();
    let err = app.commit().unwrap_err().to_string();
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(snapshot(&data), before);
}

#[test]
fn create_blocks_from_rules_backfills_recording_rules_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    // An hour of a counter at 15 s, imported as history.
    let start_s: i64 = 1_700_006_400;
    let mut om = String::from("# TYPE req counter\n");
    for i in 0..240 {
        writeln!(om, "req_total{{job=\"a\"}} {} {}", i * 3, start_s + i * 15).unwrap();
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("h.om");
    std::fs::write(&file, om).unwrap();
    let (code, _, err) = promtui(&[
        "tsdb",
        "import",
        "openmetrics",
        file.to_str().unwrap(),
        "--storage.tsdb.path",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - record: job:req:rate1m\n        expr: sum by (job) (rate(req_total[1m]))\n      - alert: Skipped\n        expr: up == 0\n",
    )
    .unwrap();
    let (start, end) = ((start_s + 600).to_string(), (start_s + 3000).to_string());
    let (code, out, err) = promtui(&[
        "tsdb",
        "create-blocks-from",
        "rules",
        rules.to_str().unwrap(),
        "--start",
        &start,
        "--end",
        &end,
        "--eval-interval",
        "60s",
        "--storage.tsdb.path",
        d,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rule job:req:rate1m: 1 series, 41 samples"),
        "{out}"
    );
    assert!(out.contains("skipped 1 alerting rule(s)"), "{out}");
    let (code, dump, err) = promtui(&[
        "tsdb",
        "dump",
        "--match",
        "job:req:rate1m",
        "--storage.tsdb.path",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 41, "{dump}");
    // 3 per 15 s is 0.2 per second.
    for l in &lines {
        let rest = l
            .strip_prefix("{__name__=\"job:req:rate1m\", job=\"a\"} ")
            .unwrap_or_else(|| panic!("{l}"));
        let v: f64 = rest.split(' ').next().unwrap().parse().unwrap();
        assert!((v - 0.2).abs() < 1e-9, "{l}");
    }
}

#[test]
fn create_blocks_from_rules_with_url_queries_a_server_in_block_windows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start_s: i64 = 1_700_006_400;
    let mut om = String::from("# TYPE req counter\n");
    for i in 0..240 {
        writeln!(om, "req_total{{job=\"a\"}} {} {}", i * 3, start_s + i * 15).unwrap();
        writeln!(om, "req_total{{job=\"b\"}} {} {}", i * 6, start_s + i * 15).unwrap();
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("h.om");
    std::fs::write(&file, om).unwrap();
    let (code, _, err) = promtui(&[
        "tsdb",
        "import",
        "openmetrics",
        file.to_str().unwrap(),
        "--storage.tsdb.path",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - record: job:req:rate1m\n        expr: sum by (job) (rate(req_total[1m]))\n",
    )
    .unwrap();
    // The history behind a running server: the store is locked, so only --url reads it.
    let port = common::free_port();
    let _server = common::start_serve(dir.path(), "scrape_configs: []\n", port, &[]);
    let out_dir = dir.path().join("out");
    let (start, end) = ((start_s + 600).to_string(), (start_s + 3000).to_string());
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) = promtui(&[
        "tsdb",
        "create-blocks-from",
        "rules",
        rules.to_str().unwrap(),
        "--start",
        &start,
        "--end",
        &end,
        "--eval-interval",
        "60s",
        // Seven 7-minute windows: every window boundary is crossed.
        "--block-duration",
        "7m",
        "--url",
        &url,
        "--output-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rule job:req:rate1m: 2 series, 82 samples"),
        "{out}"
    );
    let (code, dump, err) = promtui(&[
        "tsdb",
        "dump",
        "--match",
        "job:req:rate1m",
        "--storage.tsdb.path",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut per_job: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for l in dump.lines() {
        let (job, rest) =
            if let Some(r) = l.strip_prefix("{__name__=\"job:req:rate1m\", job=\"a\"} ") {
                ("a", r)
            } else if let Some(r) = l.strip_prefix("{__name__=\"job:req:rate1m\", job=\"b\"} ") {
                ("b", r)
            } else {
                panic!("{l}")
            };
        let mut it = rest.split(' ');
        let v: f64 = it.next().unwrap().parse().unwrap();
        let t: i64 = it.next().unwrap().parse().unwrap();
        let want = if job == "a" { 0.2 } else { 0.4 };
        assert!((v - want).abs() < 1e-9, "{l}");
        per_job.entry(job.to_string()).or_default().push(t);
    }
    let grid: Vec<i64> = (0..41).map(|k| (start_s + 600 + k * 60) * 1000).collect();
    assert_eq!(per_job["a"], grid);
    assert_eq!(per_job["b"], grid);
}
