//! Self-monitoring counters of the scrape subsystem, the ones upstream exports as
//! `prometheus_target_*` (scrape/metrics.go), kept as atomics shared by every loop and
//! read as one [`MetricsSnapshot`] (for `/metrics` and the TUI).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::exposition::MetricsWriter;

/// Counters shared by all scrape loops of a manager.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    pub(crate) scrapes: AtomicU64,
    pub(crate) scrapes_failed: AtomicU64,
    pub(crate) samples_appended: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) out_of_bounds: AtomicU64,
    pub(crate) sample_limit: AtomicU64,
    pub(crate) label_limit: AtomicU64,
    pub(crate) body_size_limit: AtomicU64,
    pub(crate) target_limit: AtomicU64,
    pub(crate) stale_markers: AtomicU64,
    pub(crate) cache_flush_forced: AtomicU64,
    pub(crate) commit_failed: AtomicU64,
    pub(crate) file_sd_read_errors: AtomicU64,
    pub(crate) reloads: AtomicU64,
}

impl ScrapeMetrics {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter; target counts are filled in by the manager.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            scrapes_total: g(&self.scrapes),
            scrapes_failed_total: g(&self.scrapes_failed),
            samples_appended_total: g(&self.samples_appended),
            samples_out_of_order_total: g(&self.out_of_order),
            samples_duplicate_timestamp_total: g(&self.duplicate),
            samples_out_of_bounds_total: g(&self.out_of_bounds),
            exceeded_sample_limit_total: g(&self.sample_limit),
            exceeded_label_limits_total: g(&self.label_limit),
            exceeded_body_size_limit_total: g(&self.body_size_limit),
            exceeded_target_limit_total: g(&self.target_limit),
            stale_markers_total: g(&self.stale_markers),
            cache_flush_forced_total: g(&self.cache_flush_forced),
            commit_failed_total: g(&self.commit_failed),
            file_sd_read_errors_total: g(&self.file_sd_read_errors),
            reloads_total: g(&self.reloads),
            active_targets: 0,
            dropped_targets: 0,
            pools: Vec::new(),
        }
    }
}

/// Target counts of one scrape pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCounts {
    pub job: String,
    pub active: usize,
    pub dropped: usize,
}

/// A point-in-time copy of the scrape counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Scrapes attempted (successful or not).
    pub scrapes_total: u64,
    /// Scrapes whose `up` was 0.
    pub scrapes_failed_total: u64,
    /// Scraped samples committed (report series and staleness markers excluded).
    pub samples_appended_total: u64,
    /// Samples the storage refused as out of order.
    pub samples_out_of_order_total: u64,
    /// Samples refused as a different value for an existing timestamp.
    pub samples_duplicate_timestamp_total: u64,
    /// Samples refused as too old or too far in the future.
    pub samples_out_of_bounds_total: u64,
    /// Scrapes failed by `sample_limit`.
    pub exceeded_sample_limit_total: u64,
    /// Scrapes failed by `label_limit` or the label length limits.
    pub exceeded_label_limits_total: u64,
    /// Scrapes failed by `body_size_limit`.
    pub exceeded_body_size_limit_total: u64,
    /// Pool syncs that found more targets than `target_limit`.
    pub exceeded_target_limit_total: u64,
    /// Staleness markers written.
    pub stale_markers_total: u64,
    /// Scrape caches flushed because failed scrapes made them grow.
    pub cache_flush_forced_total: u64,
    /// Scrape batches whose commit failed.
    pub commit_failed_total: u64,
    /// file_sd files that could not be read or parsed.
    pub file_sd_read_errors_total: u64,
    /// Configurations applied.
    pub reloads_total: u64,
    /// Active targets over all pools.
    pub active_targets: usize,
    /// Dropped targets over all pools.
    pub dropped_targets: usize,
    /// Per-pool target counts, by job name.
    pub pools: Vec<PoolCounts>,
}

impl MetricsSnapshot {
    /// The counters under upstream's metric names, with help text: `(name, help, value)`.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            (
                "prometheus_target_scrapes_total",
                "Scrapes attempted.",
                self.scrapes_total,
            ),
            (
                "prometheus_target_scrapes_failed_total",
                "Scrapes that failed (up == 0).",
                self.scrapes_failed_total,
            ),
            (
                "prometheus_target_samples_appended_total",
                "Scraped samples committed.",
                self.samples_appended_total,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Samples rejected as out of order.",
                self.samples_out_of_order_total,
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Samples rejected as duplicate timestamps with different values.",
                self.samples_duplicate_timestamp_total,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "Samples rejected as out of bounds.",
                self.samples_out_of_bounds_total,
            ),
            (
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Scrapes that hit the sample limit.",
                self.exceeded_sample_limit_total,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_label_limits_total",
                "Scrapes that hit a label limit.",
                self.exceeded_label_limits_total,
            ),
            (
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Scrapes that hit the body size limit.",
                self.exceeded_body_size_limit_total,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_target_limit_total",
                "Pool syncs that hit the target limit.",
                self.exceeded_target_limit_total,
            ),
            (
                "prometheus_target_stale_markers_total",
                "Staleness markers written.",
                self.stale_markers_total,
            ),
            (
                "prometheus_target_scrapes_cache_flush_forced_total",
                "Scrape caches flushed because failed scrapes grew them.",
                self.cache_flush_forced_total,
            ),
            (
                "prometheus_target_scrapes_commit_failed_total",
                "Scrape batches whose commit failed.",
                self.commit_failed_total,
            ),
            (
                "prometheus_sd_file_read_errors_total",
                "file_sd files that could not be read.",
                self.file_sd_read_errors_total,
            ),
            (
                "prometheus_target_reloads_total",
                "Scrape configurations applied.",
                self.reloads_total,
            ),
        ]
    }

    /// Writes the counters (renamed `promtui_*`, as every promtui self-metric) and the
    /// target gauges for `/metrics`.
    pub fn write_metrics(&self, w: &mut MetricsWriter) {
        for (name, help, v) in self.counters() {
            let name = name.replacen("prometheus_", "promtui_", 1);
            w.single(&name, "counter", help, v as f64);
        }
        w.single(
            "promtui_scrape_active_targets",
            "gauge",
            "Active scrape targets.",
            self.active_targets as f64,
        );
        w.single(
            "promtui_scrape_dropped_targets",
            "gauge",
            "Targets dropped by relabeling.",
            self.dropped_targets as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_counters() {
        let m = ScrapeMetrics::default();
        ScrapeMetrics::inc(&m.scrapes);
        ScrapeMetrics::add(&m.out_of_order, 3);
        let s = m.snapshot();
        assert_eq!(s.scrapes_total, 1);
        assert_eq!(s.samples_out_of_order_total, 3);
        let c = s.counters();
        assert!(c.iter().any(|(n, _, v)| *n
            == "prometheus_target_scrapes_sample_out_of_order_total"
            && *v == 3));
        assert_eq!(c.len(), 15);
        let mut w = MetricsWriter::new();
        s.write_metrics(&mut w);
        let page = w.finish();
        assert!(page.contains("# TYPE promtui_target_scrapes_sample_out_of_order_total counter\npromtui_target_scrapes_sample_out_of_order_total 3\n"), "{page}");
        assert!(page.contains("promtui_scrape_active_targets 0\n"), "{page}");
    }
}
