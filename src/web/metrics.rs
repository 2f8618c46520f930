//! Self-instrumentation served on `/metrics`: HTTP request counters and latency histograms
//! and process metrics read from `/proc/self`. Every family, these and other subsystems'
//! stats snapshots, is written through [`MetricsWriter`] in the text format 0.0.4.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::exposition::MetricsWriter;
use crate::model::value::format_go_float;

/// Upper bounds of the HTTP latency histogram, in seconds (Prometheus' own buckets).
const HTTP_BUCKETS: [f64; 9] = [0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; HTTP_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counters by handler and status code, latency histograms by handler.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

impl HttpMetrics {
    pub fn observe(&self, handler: &str, code: u16, took: Duration) {
        *self
            .requests
            .lock()
            .entry((handler.to_string(), code))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        let mut d = self.durations.lock();
        let h = d.entry(handler.to_string()).or_default();
        for (i, le) in HTTP_BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    pub fn write(&self, w: &mut MetricsWriter) {
        w.family(
            "promtui_http_requests_total",
            "counter",
            "Counter of HTTP requests by handler and status code.",
        );
        for ((handler, code), n) in self.requests.lock().iter() {
            let code = code.to_string();
            w.sample(
                "promtui_http_requests_total",
                &[("code", &code), ("handler", handler)],
                *n as f64,
            );
        }
        w.family(
            "promtui_http_request_duration_seconds",
            "histogram",
            "Histogram of latencies for HTTP requests by handler.",
        );
        for (handler, h) in self.durations.lock().iter() {
            for (i, le) in HTTP_BUCKETS.iter().enumerate() {
                let le = format_go_float(*le);
                w.sample(
                    "promtui_http_request_duration_seconds_bucket",
                    &[("handler", handler), ("le", &le)],
                    h.counts[i] as f64,
                );
            }
            w.sample(
                "promtui_http_request_duration_seconds_bucket",
                &[("handler", handler), ("le", "+Inf")],
                h.count as f64,
            );
            w.sample(
                "promtui_http_request_duration_seconds_sum",
                &[("handler", handler)],
                h.sum,
            );
            w.sample(
                "promtui_http_request_duration_seconds_count",
                &[("handler", handler)],
                h.count as f64,
            );
        }
    }
}

/// Process metrics from `/proc/self` (Linux); absent elsewhere.
pub fn write_process_metrics(w: &mut MetricsWriter) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name, which may itself contain spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is f[N - 3].
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // Linux reports times in clock ticks; USER_HZ is 100 on every mainstream platform.
    const TICKS: f64 = 100.0;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        w.single(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (utime + stime) / TICKS,
        );
    }
    if let Some(vsize) = field(23) {
        w.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(rss_pages) = field(24) {
        w.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss_pages * 4096.0,
        );
    }
    if let (Some(start_ticks), Some(btime)) = (field(22), boot_time()) {
        w.single(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            btime + start_ticks / TICKS,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        w.single(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        w.single(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
}

fn boot_time() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_fds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_histogram_is_cumulative() {
        let m = HttpMetrics::default();
        m.observe("/api/v1/query", 200, Duration::from_millis(150));
        m.observe("/api/v1/query", 400, Duration::from_secs(2));
        let mut w = MetricsWriter::new();
        m.write(&mut w);
        let out = w.finish();
        assert!(
            out.contains("promtui_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 1\n")
        );
        assert!(out.contains(
            "promtui_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.1\"} 0\n"
        ));
        assert!(out.contains(
            "promtui_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.2\"} 1\n"
        ));
        assert!(out.contains(
            "promtui_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"3\"} 2\n"
        ));
        assert!(out.contains(
            "promtui_http_request_duration_seconds_count{handler=\"/api/v1/query\"} 2\n"
        ));
    }

    #[test]
    fn process_metrics_present_on_linux() {
        let mut w = MetricsWriter::new();
        write_process_metrics(&mut w);
        let out = w.finish();
        if cfg!(target_os = "linux") {
            assert!(out.contains("process_cpu_seconds_total "));
            assert!(out.contains("process_resident_memory_bytes "));
            assert!(out.contains("process_start_time_seconds "));
        }
    }
}
