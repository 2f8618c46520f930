//! The database's self-metrics, written with the shared exposition writer: what the
//! engine's `/metrics` reports about the TSDB (head, WAL, blocks, compactions).

use crate::exposition::MetricsWriter;

use super::DbStats;

impl DbStats {
    /// Writes the database's self-metrics (Prometheus' `prometheus_tsdb_*` names with
    /// promtui's prefix) for `/metrics`.
    pub fn write_metrics(&self, w: &mut MetricsWriter) {
        let s = self;
        let g = |w: &mut MetricsWriter, name: &str, help: &str, v: u64| {
            w.single(name, "gauge", help, v as f64);
        };
        let c = |w: &mut MetricsWriter, name: &str, help: &str, v: u64| {
            w.single(name, "counter", help, v as f64);
        };
        g(
            w,
            "promtui_tsdb_head_series",
            "Total number of series in the head block.",
            s.head_series,
        );
        g(
            w,
            "promtui_tsdb_head_chunks",
            "Total number of chunks in the head block.",
            s.head_chunks,
        );
        c(
            w,
            "promtui_tsdb_head_samples_appended_total",
            "Total number of appended samples.",
            s.samples_appended,
        );
        c(
            w,
            "promtui_tsdb_head_series_created_total",
            "Total number of series created in the head.",
            s.series_created,
        );
        c(
            w,
            "promtui_tsdb_head_series_removed_total",
            "Total number of series removed from the head.",
            s.series_removed,
        );
        w.family(
            "promtui_tsdb_rejected_samples_total",
            "counter",
            "Samples rejected on append, by reason.",
        );
        for (reason, v) in [
            ("out_of_order", s.rejected_out_of_order),
            ("out_of_bounds", s.rejected_out_of_bounds),
            ("duplicate", s.rejected_duplicate),
        ] {
            w.sample(
                "promtui_tsdb_rejected_samples_total",
                &[("reason", reason)],
                v as f64,
            );
        }
        g(
            w,
            "promtui_tsdb_wal_storage_size_bytes",
            "Size of the write-ahead log in bytes.",
            s.wal_bytes,
        );
        g(
            w,
            "promtui_tsdb_wal_segments",
            "Number of WAL segment files.",
            s.wal_segments,
        );
        c(
            w,
            "promtui_tsdb_wal_corruptions_total",
            "WAL corruptions found on replay.",
            s.wal_corruptions,
        );
        c(
            w,
            "promtui_tsdb_wal_truncations_total",
            "Torn WAL tails truncated on replay.",
            s.wal_truncations,
        );
        c(
            w,
            "promtui_tsdb_checkpoints_total",
            "WAL checkpoints written.",
            s.checkpoints,
        );
        g(
            w,
            "promtui_tsdb_blocks_loaded",
            "Number of persisted blocks.",
            s.blocks as u64,
        );
        c(
            w,
            "promtui_tsdb_compactions_total",
            "Head blocks persisted.",
            s.head_compactions,
        );
        c(
            w,
            "promtui_tsdb_compactions_failed_total",
            "Failed compactions.",
            s.compaction_failures,
        );
        w.single(
            "promtui_tsdb_wal_replay_duration_seconds",
            "gauge",
            "Time the last WAL replay took.",
            s.replay_duration.as_secs_f64(),
        );
    }
}
