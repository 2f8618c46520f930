//! `promtui tsdb import|create-blocks-from|stats|dump`: open the data directory, do the work through
//! [`crate::tsdb`], and print a report.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{CreateBlocksSource, ImportFormat, StorageFlags, TsdbCommand};

pub(crate) fn tsdb_command(
    storage: &StorageFlags,
    command: TsdbCommand,
) -> anyhow::Result<ExitCode> {
    let dir = storage.path()?;
    match command {
        TsdbCommand::Import { format } => {
            let (source, block_duration) = match &format {
                ImportFormat::Openmetrics {
                    file,
                    block_duration,
                } => (file, block_duration),
                ImportFormat::Prometheus {
                    dir,
                    block_duration,
                } => (dir, block_duration),
            };
            let bd = crate::model::time::parse_duration(block_duration)
                .with_context(|| format!("invalid --block-duration {block_duration:?}"))?;
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let progress = |p: crate::tsdb::import::ImportProgress| {
                if tty {
                    eprint!(
                        "\rimporting: {} samples read, {} series, {} blocks written ",
                        p.samples_read, p.series, p.blocks_written
                    );
                }
            };
            let context = || format!("importing {} into {}", source.display(), dir.display());
            let (report, prometheus) = match &format {
                ImportFormat::Openmetrics { file, .. } => (
                    crate::tsdb::tools::import_openmetrics_file(file, &dir, bd, progress)
                        .with_context(context)?,
                    None,
                ),
                ImportFormat::Prometheus { dir: src, .. } => {
                    let (st, report) =
                        crate::tsdb::tools::import_prometheus_dir(src, &dir, bd, progress)
                            .with_context(context)?;
                    (report, Some(st))
                }
            };
            if tty {
                eprintln!();
            }
            println!(
                "imported {} samples of {} series into {} block(s) under {} in {:.2?}",
                report.samples_imported,
                report.series,
                report.blocks.len(),
                dir.display(),
                started.elapsed()
            );
            if let Some(st) = &prometheus {
                print_prometheus_read(st);
            }
            for b in &report.blocks {
                println!(
                    "  block {} [{}, {}) {} series, {} samples",
                    b.ulid,
                    crate::model::time::format_rfc3339(b.min_time),
                    crate::model::time::format_rfc3339(b.max_time),
                    b.stats.num_series,
                    b.stats.num_samples
                );
            }
            let skipped = report.duplicates + report.out_of_order + report.input_errors;
            if skipped > 0 {
                eprintln!(
                    "skipped: {} duplicate, {} out-of-order, {} invalid input",
                    report.duplicates, report.out_of_order, report.input_errors
                );
                for e in &report.errors {
                    eprintln!("  {e}");
                }
            }
            Ok(if report.input_errors > 0 || report.out_of_order > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        TsdbCommand::CreateBlocksFrom {
            source:
                CreateBlocksSource::Rules {
                    files,
                    start,
                    end,
                    eval_interval,
                    block_duration,
                    output_dir,
                    url,
                },
        } => {
            let time = |v: &str, flag: &str| -> anyhow::Result<i64> {
                crate::model::time::parse_time(v)
                    .map_err(|e| anyhow::anyhow!("invalid --{flag}: {e}"))
            };
            let start = time(&start, "start")?;
            let end = match &end {
                Some(e) => time(e, "end")?,
                None => crate::model::time::now_ms() - 3 * 3_600_000,
            };
            anyhow::ensure!(start <= end, "--start must not be after --end");
            let interval = crate::model::time::parse_duration(&eval_interval)
                .with_context(|| format!("invalid --eval-interval {eval_interval:?}"))?;
            anyhow::ensure!(interval > 0, "--eval-interval must be positive");
            let bd = crate::model::time::parse_duration(&block_duration)
                .with_context(|| format!("invalid --block-duration {block_duration:?}"))?;
            let mut rule_files = Vec::new();
            for f in &files {
                let rf = crate::rules::parse_rule_file(f)
                    .map_err(|e| anyhow::anyhow!("{}", e.messages().join("\n")))?;
                rule_files.push((f.clone(), rf));
            }
            // With --url the local store is neither read nor required.
            let db = match &url {
                Some(_) => None,
                None => Some(open_db_for_tool(storage, &dir)?),
            };
            let out_dir = output_dir.unwrap_or_else(|| dir.clone());
            let blocks = crate::tsdb::layout::prepare(&out_dir)
                .with_context(|| format!("preparing {}", out_dir.display()))?
                .blocks();
            let backfill = crate::tsdb::import::Backfill::new(
                &blocks,
                crate::tsdb::import::ImportOptions {
                    block_duration: bd,
                    max_buffered_bytes: crate::tsdb::import::DEFAULT_MAX_BUFFERED_BYTES,
                    compact_spilled: true,
                },
                |_| {},
            )?;
            let engine = crate::promql::engine::Engine::new(storage_query_defaults());
            let mut local;
            let mut remote;
            let eval: &mut dyn crate::rules::backfill::RangeEval = match (&db, &url) {
                (Some(db), _) => {
                    local = crate::rules::backfill::LocalEval {
                        db,
                        engine: &engine,
                    };
                    &mut local
                }
                (None, Some(url)) => {
                    remote = crate::rules::backfill::RemoteEval {
                        window: bd,
                        query: |expr: &str, s: i64, e: i64, step: i64| {
                            let target = super::query::QueryTarget::Remote(url);
                            match super::query::range(&target, expr, s, e, step) {
                                Ok((crate::promql::engine::Value::Matrix(m), _)) => Ok(m),
                                Ok(_) => Err("the server did not answer with a matrix".into()),
                                Err(e) => Err(e.to_string()),
                            }
                        },
                    };
                    &mut remote
                }
                (None, None) => anyhow::bail!("no local store and no --url to evaluate against"),
            };
            let report = crate::rules::backfill::backfill_rules(
                eval,
                &rule_files,
                start,
                end,
                interval,
                backfill,
            )?;
            for (group, record, series, samples) in &report.rules {
                println!("group {group:?}, rule {record}: {series} series, {samples} samples");
            }
            if report.skipped_alerting > 0 {
                println!(
                    "skipped {} alerting rule(s): only recording rules are backfilled",
                    report.skipped_alerting
                );
            }
            println!(
                "wrote {} block(s) under {}",
                report.import.blocks.len(),
                out_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        TsdbCommand::Stats { limit } => {
            let db = open_db_for_tool(storage, &dir)?;
            let st = db.stats();
            let q = db.querier(i64::MIN, i64::MAX);
            let c = crate::tsdb::stats::cardinality(q.as_ref(), limit)?;
            println!("Data directory: {}", dir.display());
            println!(
                "Head: {} series, {} chunks, time range {}",
                st.head_series,
                st.head_chunks,
                match (st.head_min_time, st.head_max_time) {
                    (Some(a), Some(b)) => format!(
                        "{} .. {}",
                        crate::model::time::format_rfc3339(a),
                        crate::model::time::format_rfc3339(b)
                    ),
                    _ => "empty".to_string(),
                }
            );
            println!("Blocks: {}", st.blocks);
            for b in db.blocks() {
                println!(
                    "  {} {} .. {}",
                    b.id(),
                    crate::model::time::format_rfc3339(b.min_time()),
                    crate::model::time::format_rfc3339(b.max_time())
                );
            }
            println!(
                "Series: {}   Label pairs: {}",
                c.num_series, c.num_label_pairs
            );
            let section = |title: &str, rows: &[(String, u64)]| {
                println!("\n{title}:");
                for (name, n) in rows {
                    println!("{n:>10}  {name}");
                }
            };
            section("Highest cardinality metric names", &c.series_by_metric_name);
            section("Label names with most values", &c.values_by_label_name);
            section("Label names using most bytes", &c.memory_by_label_name);
            section("Most common label pairs", &c.series_by_label_pair);
            Ok(ExitCode::SUCCESS)
        }
        TsdbCommand::Dump {
            matchers,
            min_time,
            max_time,
        } => {
            let selectors = matchers
                .iter()
                .map(|m| {
                    crate::promql::parse_metric_selector(m)
                        .map_err(|e| anyhow::anyhow!("invalid --match {m:?}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let time = |v: &Option<String>, default: i64, flag: &str| -> anyhow::Result<i64> {
                match v {
                    None => Ok(default),
                    Some(s) => crate::model::time::parse_time(s)
                        .map_err(|e| anyhow::anyhow!("invalid --{flag}: {e}")),
                }
            };
            let mint = time(&min_time, i64::MIN, "min-time")?;
            let maxt = time(&max_time, i64::MAX, "max-time")?;
            let db = open_db_for_tool(storage, &dir)?;
            let q = db.querier(mint, maxt);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::tsdb::tools::dump(q.as_ref(), &selectors, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Says what an import read from a Prometheus directory and what it left out.
pub(crate) fn print_prometheus_read(st: &crate::tsdb::prometheus_dir::PromReadStats) {
    println!(
        "  read {} Prometheus block(s): {} series, {} samples; WAL: {} segment(s), {} series, {} samples",
        st.blocks, st.block_series, st.block_samples, st.wal_segments, st.wal_series, st.wal_samples
    );
    let notes = [
        (st.deleted_samples, "samples deleted by tombstones left out"),
        (
            st.wal_samples_below_blocks,
            "WAL samples older than the newest block skipped (as Prometheus' replay does)",
        ),
        (st.wal_unknown_refs, "WAL samples of unknown series skipped"),
        (
            st.histogram_chunks + st.histogram_records,
            "native histogram chunks/records skipped (promtui stores float samples)",
        ),
        (st.wbl_bytes, "bytes of out-of-order WAL (wbl/) not read"),
    ];
    for (n, what) in notes {
        if n > 0 {
            println!("  {n} {what}");
        }
    }
    if let Some((seg, off)) = st.torn_tail {
        println!("  the WAL ends in a torn record (segment {seg}, offset {off}): read up to it");
    }
}

/// Opens the database read-only for a one-shot inspection tool, replaying the WAL: it
/// creates and changes nothing, so it works on a read-only directory and beside a running
/// server.
/// PromQL options for CLI tools (upstream defaults).
fn storage_query_defaults() -> crate::promql::engine::EngineOptions {
    crate::promql::engine::EngineOptions::default()
}

pub(crate) fn open_db_for_tool(
    storage: &StorageFlags,
    dir: &std::path::Path,
) -> anyhow::Result<crate::tsdb::Db> {
    if !dir.exists() {
        anyhow::bail!("no TSDB at {} (set --storage.tsdb.path)", dir.display());
    }
    crate::tsdb::Db::open_read_only(dir, storage.tsdb_options()?)
        .with_context(|| format!("opening the TSDB at {} read-only", dir.display()))
}
