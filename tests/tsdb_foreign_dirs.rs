//! Data directories promtui did not write are refused with every byte unchanged, and a real
//! Prometheus pointed at a promtui directory finds nothing of promtui's to repair. Uses
//! Debian's `prometheus` and `promtool` (2.42) where installed; skips with a printed reason
//! otherwise, fails when PROMTUI_REQUIRE_PEERS=1.

mod common;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, peer_available, wait_http_ok, ChildGuard, PROMETHEUS, PROMTOOL};
use promtui::model::Labels;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

const BIN: &str = env!("CARGO_BIN_EXE_promtui");

/// Every file under `dir` (relative path) with a hash of its bytes; directories too.
fn tree(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), 0);
                stack.push(e.path());
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(e.path()).unwrap().hash(&mut h);
                out.insert(rel, h.finish());
            }
        }
    }
    out
}

fn promtui(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    \
             static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    cfg
}

/// Runs Debian's Prometheus on `data` for a few scrapes, then stops it with SIGTERM.
fn run_prometheus(work: &Path, data: &Path) {
    let port = free_port();
    let cfg = write_config(work, port);
    let log = std::fs::File::create(work.join("prometheus.log")).unwrap();
    let mut p = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let ready = wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30),
    );
    // Until it has scraped (so its WAL holds records), then a little longer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready && Instant::now() < deadline {
        let up = common::api_get(
            &format!("http://127.0.0.1:{port}"),
            "/api/v1/query",
            &[("query", "up")],
        );
        if up.is_some_and(|v| {
            v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
    p.terminate(Duration::from_secs(20));
    let log = std::fs::read_to_string(work.join("prometheus.log")).unwrap_or_default();
    assert!(ready, "prometheus did not become ready:\n{log}");
}

/// An OpenMetrics file of a few series over the hour before `end_ms`.
fn openmetrics(end_ms: i64) -> String {
    let mut s = String::from("# TYPE m gauge\n");
    for i in 0..3 {
        for k in 0..60 {
            let t = end_ms - 3_600_000 + k * 60_000;
            s.push_str(&format!(
                "m{{i=\"{i}\"}} {} {}.{:03}\n",
                k + i,
                t / 1000,
                t % 1000
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

/// Writes a Prometheus block with promtool's backfill into `data` (from an OpenMetrics file
/// of the hour four hours ago, whose path it returns).
fn promtool_block(work: &Path, data: &Path) -> std::path::PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let om = work.join("in.om");
    std::fs::write(&om, openmetrics(now - 4 * 3_600_000)).unwrap();
    let st = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "promtool create-blocks-from failed");
    om
}

#[test]
fn a_prometheus_directory_imports_exactly_what_promtool_dumps() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("prom");
    promtool_block(work.path(), &src);
    run_prometheus(work.path(), &src);
    let before = tree(&src);
    let dst = work.path().join("promtui");
    let out = Command::new(BIN)
        .args(["tsdb", "import", "prometheus"])
        .arg(&src)
        .arg("--storage.tsdb.path")
        .arg(&dst)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One block, or two when the hour of data straddles a 2 h boundary.
    assert!(
        stdout.contains("read 1 Prometheus block(s)")
            || stdout.contains("read 2 Prometheus block(s)"),
        "{stdout}"
    );
    assert_eq!(
        tree(&src),
        before,
        "the import changed the Prometheus directory"
    );
    // promtool may write into what it dumps: give it a copy.
    let copy = work.path().join("copy");
    copy_dir(&src, &copy);
    let dump = |cmd: &mut Command| {
        let out = cmd.stderr(Stdio::null()).output().unwrap();
        assert!(out.status.success());
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let want = dump(Command::new(PROMTOOL).args(["tsdb", "dump"]).arg(&copy));
    let got = dump(
        Command::new(BIN)
            .args(["tsdb", "dump", "--storage.tsdb.path"])
            .arg(&dst),
    );
    assert!(
        want.len() > 180,
        "the WAL holds samples too: {}",
        want.len()
    );
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn prometheus_data_directory_is_refused_with_every_byte_unchanged() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("prom");
    let om = promtool_block(work.path(), &data);
    let blocks_only = tree(&data);
    assert!(
        blocks_only.keys().any(|k| k.ends_with("/meta.json")),
        "{blocks_only:?}"
    );

    // A directory of blocks only (what promtool's backfill leaves) is refused already.
    let d = data.to_str().unwrap();
    let (code, err) = promtui(&["tsdb", "stats", "--storage.tsdb.path", d]);
    assert_ne!(code, 0);
    assert!(err.contains("a Prometheus block"), "{err}");
    assert_eq!(
        err.matches("refusing to use").count(),
        1,
        "said once: {err}"
    );

    run_prometheus(work.path(), &data);
    let before = tree(&data);
    assert!(before.contains_key("wal/"), "{before:?}");
    let wal_bytes: u64 = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(wal_bytes > 0, "Prometheus wrote no WAL records");

    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let cfg = write_config(work.path(), free_port());
    let cfg = cfg.to_str().unwrap();
    let started = Instant::now();
    let runs: Vec<Vec<&str>> = vec![
        vec![
            "serve",
            "--config.file",
            cfg,
            "--storage.tsdb.path",
            d,
            "--web.listen-address",
            &listen,
        ],
        vec!["tsdb", "stats", "--storage.tsdb.path", d],
        vec!["tsdb", "dump", "--storage.tsdb.path", d],
        vec!["query", "up", "--storage.tsdb.path", d],
        vec![
            "tsdb",
            "import",
            "openmetrics",
            om.to_str().unwrap(),
            "--storage.tsdb.path",
            d,
        ],
    ];
    for args in runs {
        let (code, err) = promtui(&args);
        assert_ne!(code, 0, "{args:?} must fail: {err}");
        assert!(
            err.contains("looks like a Prometheus data directory"),
            "{args:?}: {err}"
        );
        assert!(err.contains("Nothing in it was changed"), "{args:?}: {err}");
        assert!(err.contains("wal/"), "{args:?}: {err}");
        assert_eq!(tree(&data), before, "{args:?} changed the directory");
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Fills a promtui directory with a persisted block and WAL data.
fn promtui_dir(dir: &Path) {
    let opts = Options {
        block_duration_ms: 3_600_000,
        ..Options::default()
    };
    let db = Db::open(dir, opts).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 3 * 3_600_000;
    for k in 0..(3 * 60) {
        let mut app = db.appender();
        for i in 0..5 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            app.append(&l, start + k * 60_000, (k * i) as f64).unwrap();
        }
        app.commit().unwrap();
    }
    db.compact_head().unwrap();
    assert!(db.stats().blocks >= 1);
    db.close().unwrap();
}

#[test]
fn prometheus_on_a_promtui_directory_changes_none_of_promtuis_files() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    promtui_dir(&data);
    let ours = tree(&data);
    run_prometheus(work.path(), &data);
    let after = tree(&data);
    for (name, hash) in &ours {
        assert_eq!(after.get(name), Some(hash), "{name} changed or vanished");
    }
    let theirs: Vec<&String> = after.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(!theirs.is_empty(), "Prometheus left nothing?");
    // promtui now refuses the directory, naming what Prometheus added, and changes nothing.
    let err = Db::open(&data, Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("wal/") && err.contains("chunks_head/"),
        "{err}"
    );
    assert_eq!(tree(&data), after);
}

#[test]
fn a_format_1_directory_is_moved_to_the_current_layout_keeping_every_sample() {
    // Build a format-1 directory by hand from a current one: the layout before the marker.
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    promtui_dir(&data);
    let want = {
        let db = Db::open_read_only(&data, Options::default()).unwrap();
        dump(&db)
    };
    let blocks = data.join("promtui-blocks");
    for e in std::fs::read_dir(&blocks).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), data.join(e.file_name())).unwrap();
    }
    std::fs::remove_dir(&blocks).unwrap();
    std::fs::rename(data.join("promtui-wal"), data.join("wal")).unwrap();
    strip_headers(&data.join("wal"));
    std::fs::rename(data.join("promtui.lock"), data.join("lock")).unwrap();
    std::fs::remove_file(data.join("promtui-tsdb.json")).unwrap();

    // A read-only open will not move it and says how to.
    let err = Db::open_read_only(&data, Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("earlier promtui"), "{err}");
    let db = Db::open(&data, Options::default()).unwrap();
    assert_eq!(dump(&db), want);
    drop(db);
    assert!(data.join("promtui-tsdb.json").is_file());
    assert!(!data.join("wal").exists() && !data.join("lock").exists());
}

fn strip_headers(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            strip_headers(&p);
        } else {
            let b = std::fs::read(&p).unwrap();
            assert!(b.starts_with(b"PTWL"));
            std::fs::write(&p, &b[8..]).unwrap();
        }
    }
}

fn dump(db: &Db) -> Vec<(String, Vec<(i64, u64)>)> {
    let q = db.querier(i64::MIN, i64::MAX);
    let m = promtui::model::Matcher::equal("__name__", "m");
    let mut out: Vec<(String, Vec<(i64, u64)>)> = q
        .select(&[m])
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v = std::iter::from_fn(|| s.samples.next())
                .map(|x| (x.t, x.v.to_bits()))
                .collect();
            (format!("{:?}", s.labels), v)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}
