//! End to end: the real `promtui` binary in tmux (send-keys, capture-pane). Each test
//! uses its own tmux server (`tmux -L <unique>`), TERM and a temporary HOME (so the
//! log and state files land in a temp dir), and polls the screen against a deadline
//! instead of sleeping.
//!
//! Local: on empty config and data directories the TUI shows the live engine within 5 s,
//! `/` filters, `:theme` switches, a resize to 80x24 stays tidy, `:q` quits and restores
//! the terminal, and so does SIGTERM. Remote: the same TUI over `--remote` against a real
//! Prometheus 2.42 scraping node_exporter (skipped when missing; PROMTUI_REQUIRE_PEERS=1
//! fails instead).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::{promtui_line_with, Tmux, TMUX};
use common::{free_port, peer_available};

fn tmux_available() -> bool {
    peer_available(TMUX)
}

/// The shell line running promtui with a temp HOME, then reporting how it left the
/// terminal (exit code, whether the line discipline is back to canonical+echo).
fn promtui_line(home: &Path, args: &str) -> String {
    promtui_line_with(
        home,
        "",
        args,
        "stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; echo;",
    )
}

#[test]
fn local_tui_shows_live_data_filters_switches_theme_resizes_and_quits() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let args = format!(
        "--storage.tsdb.path {} --web.listen-address 127.0.0.1:{port}",
        dir.path().join("data").display()
    );
    let started = Instant::now();
    let t = Tmux::start("local", 120, 40, &promtui_line(&home, &args));
    // Live engine data within 5 s: the in-process engine's self-scrape target, the
    // applied configuration and the header figures read from it.
    let self_target = format!("127.0.0.1:{port}");
    let s = t.wait("the live header", Duration::from_secs(5), |s| {
        s.contains("1 overview") && s.contains("config ok") && s.contains("series")
    });
    assert!(s.contains("local "), "{s}");
    t.keys(&["4"]);
    let s = t.wait("the self-scrape target", Duration::from_secs(5), |s| {
        s.contains(&self_target) && s.contains("promtui (")
    });
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}\n{s}",
        started.elapsed()
    );
    // The first self-scrape lands within a second of the engine starting (the TUI fits
    // first scrapes into one second): the target turns up and the header counts it.
    t.wait("the first self-scrape", Duration::from_secs(3), |s| {
        s.lines()
            .any(|l| l.contains(&self_target) && l.trim_start().starts_with("up "))
    });
    // `/` filter: a regex that matches nothing, then one that matches.
    t.text("/nomatch");
    t.keys(&["Enter"]);
    t.wait("the empty filter", Duration::from_secs(3), |s| {
        s.contains("no target matches the filter")
    });
    t.keys(&["Escape"]);
    // Esc directly followed by a key reads as Alt+key: let the Esc land first.
    t.wait("the cleared filter", Duration::from_secs(3), |s| {
        !s.contains("/nomatch") && s.contains(&self_target)
    });
    t.text("/prom.*ui");
    t.keys(&["Enter"]);
    t.wait("the filter match", Duration::from_secs(3), |s| {
        s.contains(&self_target) && s.contains("/prom.*ui")
    });
    // Theme switch through the palette.
    t.command("theme light");
    t.wait("the theme switch", Duration::from_secs(3), |s| {
        s.contains("theme light")
    });
    // Resize to 80x24: the frame redraws tidily at the new size (the tabs shrink to
    // numbers there, all but the active one).
    t.run(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    let s = t.wait("the 80x24 redraw", Duration::from_secs(3), |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() <= 24
            && lines.first().is_some_and(|l| l.contains("4 targets"))
            && lines.get(1).is_some_and(|l| l.contains(" up "))
    });
    assert!(
        s.lines().all(|l| l.chars().count() <= 80),
        "a line is wider than 80:\n{s}"
    );
    // The TSDB view over the live engine.
    t.keys(&["5"]);
    t.wait("the TSDB view", Duration::from_secs(5), |s| {
        s.contains("head") && s.contains("series by metric")
    });
    // The console: autocomplete a metric name from the live label index, run it and see
    // the table, then the same expression as a chart over the range.
    t.keys(&["2"]);
    t.wait("the console", Duration::from_secs(3), |s| {
        s.contains("PromQL table")
    });
    t.text("promtui_tsdb_head_se");
    t.wait("the completion popup", Duration::from_secs(5), |s| {
        s.contains("metric promtui_tsdb_head_series")
    });
    t.keys(&["Tab"]);
    t.wait("the accepted completion", Duration::from_secs(3), |s| {
        s.contains("│promtui_tsdb_head_series") && !s.contains("metric promtui_tsdb_head_series")
    });
    t.keys(&["Enter"]);
    let s = t.wait("the table", Duration::from_secs(10), |s| {
        s.contains("1 series (instant)")
    });
    assert!(
        s.contains(&format!(
            "promtui_tsdb_head_series{{instance=\"{self_target}\""
        )),
        "{s}"
    );
    t.keys(&["C-t"]);
    t.wait("the chart", Duration::from_secs(10), |s| {
        s.contains("PromQL graph · range") && s.contains("1 series,")
    });
    // Esc leaves the editor, so the frame's `:` works again.
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    // `:q` quits and restores the terminal.
    t.command("q");
    let s = t.wait("exit", Duration::from_secs(20), |s| s.contains("EXITED"));
    assert!(s.contains("EXITED rc=0"), "{s}");
    assert!(s.contains("log written to"), "{s}");
    t.wait(
        "the restored line discipline",
        Duration::from_secs(3),
        |s| s.contains("icanon") && s.lines().any(|l| l.trim() == "icanon echo"),
    );
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    // The log went to the state directory.
    let log = home.join(".local/state/promtui/promtui.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("TSDB opened"),
        "log {}: {text}",
        log.display()
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let pidfile = dir.path().join("pid");
    let line = format!(
        "echo $$ > {pid}; exec env HOME={home} LANG=C.UTF-8 {bin} --storage.tsdb.path {data} --web.listen-address 127.0.0.1:{port}",
        pid = pidfile.display(),
        home = home.display(),
        bin = env!("CARGO_BIN_EXE_promtui"),
        data = dir.path().join("data").display(),
    );
    let t = Tmux::start("term", 100, 30, &line);
    t.wait("the TUI", Duration::from_secs(5), |s| {
        s.contains("1 overview")
    });
    assert_eq!(t.format("#{alternate_on}"), "1");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.format("#{pane_dead}") != "1" {
        assert!(Instant::now() < deadline, "promtui did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "left on the alternate screen"
    );
    let s = t.capture();
    assert!(s.contains("log written to"), "{s}");
    assert!(!s.contains("1 overview"), "the TUI is still drawn:\n{s}");
}

#[test]
fn remote_tui_over_prometheus_scraping_node_exporter() {
    if !tmux_available()
        || !peer_available(common::PROMETHEUS)
        || !peer_available(common::NODE_EXPORTER)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (_ne, ne_port) = common::start_node_exporter(dir.path());
    let prom_port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n  - job_name: node\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: host\n    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prom = common::spawn_prometheus(&cfg, &dir.path().join("pdata"), prom_port, log);
    let base = format!("http://127.0.0.1:{prom_port}");
    assert!(
        common::wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30)),
        "prometheus did not become ready"
    );
    let t = Tmux::start(
        "remote",
        140,
        40,
        &promtui_line(&home, &format!("--remote {base}")),
    );
    t.wait("the remote header", Duration::from_secs(10), |s| {
        s.contains(&format!("remote {base}")) && s.contains("2↑")
    });
    t.keys(&["4"]);
    t.wait("both targets", Duration::from_secs(10), |s| {
        s.contains("▾ node (1/1 up)") && s.contains("▾ prometheus (1/1 up)")
    });
    t.text("/node");
    t.keys(&["Enter"]);
    let s = t.wait("the filter", Duration::from_secs(3), |s| {
        !s.contains("▾ prometheus") && s.contains("▾ node")
    });
    assert!(s.contains(&format!("127.0.0.1:{ne_port}")), "{s}");
    // The scrape debugger over the remote: the relabel trace from the server's config.
    t.keys(&["Enter"]);
    t.wait("the relabel trace", Duration::from_secs(10), |s| {
        s.contains("#1 replace") && s.contains("host=")
    });
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(200));
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(200));
    // TSDB over the remote: head stats from the API, WAL and blocks say local only.
    t.keys(&["5"]);
    t.wait("the remote TSDB view", Duration::from_secs(10), |s| {
        s.contains("local only") && s.contains("head")
    });
    // Prometheus fills its top lists a little after start: refresh until they show.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !t.capture().contains("node_") {
        assert!(Instant::now() < deadline, "no top list:\n{}", t.capture());
        t.keys(&["r"]);
        std::thread::sleep(Duration::from_millis(500));
    }
    t.keys(&["6"]);
    t.wait("the remote config", Duration::from_secs(10), |s| {
        s.contains("job_name: node")
    });
    // The console over the remote API: complete a node_exporter metric from the label
    // values endpoint, run it as a table, then as a chart.
    t.keys(&["2"]);
    t.wait("the console", Duration::from_secs(3), |s| {
        s.contains("PromQL table")
    });
    t.text("node_load1");
    t.wait("the completion popup", Duration::from_secs(10), |s| {
        s.contains("metric node_load15")
    });
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(200));
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(200));
    t.keys(&["Enter"]);
    t.wait("the remote table", Duration::from_secs(10), |s| {
        s.contains("1 series (instant)") && s.contains("node_load1{")
    });
    t.keys(&["C-t"]);
    t.wait("the remote chart", Duration::from_secs(10), |s| {
        s.contains("PromQL graph · range") && s.contains("1 series,")
    });
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    t.command("q");
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXITED"));
    assert!(s.contains("EXITED rc=0"), "{s}");
    assert_eq!(t.format("#{alternate_on}"), "0");
}
