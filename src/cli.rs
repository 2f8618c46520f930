//! Command-line interface: clap definitions with Prometheus-style flag names, and dispatch.
//! Each command's work lives in the library; this file only parses and calls.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use clap::{Args, Parser, Subcommand};

/// promtui: scrape, store, query and alert from one binary.
///
/// Flags use Prometheus' names (`--storage.tsdb.path`, `--config.file`, ...) so existing
/// habits and scripts carry over.
#[derive(Debug, Parser)]
#[command(name = "promtui", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub storage: StorageFlags,

    /// Log level: error, warn, info, debug or trace. Default: info for the server, warn
    /// for one-shot commands.
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    #[command(flatten)]
    pub serve: ServeFlags,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where and how the local time-series database keeps its data.
#[derive(Debug, Args, Clone)]
pub struct StorageFlags {
    /// Base path for metrics storage (WAL, blocks). Defaults to the platform data
    /// directory, e.g. ~/.local/share/promtui/data on Linux.
    #[arg(long = "storage.tsdb.path", global = true, value_name = "DIR")]
    pub tsdb_path: Option<PathBuf>,

    /// How long to retain samples in storage (Prometheus duration, e.g. 15d, 12h).
    #[arg(
        long = "storage.tsdb.retention.time",
        global = true,
        default_value = "15d",
        value_name = "DURATION"
    )]
    pub retention_time: String,

    /// Maximum bytes of blocks to retain (e.g. 512MB, 10GB); 0 disables the limit. The
    /// oldest blocks are removed first.
    #[arg(
        long = "storage.tsdb.retention.size",
        global = true,
        default_value = "0",
        value_name = "BYTES"
    )]
    pub retention_size: String,
}

/// Flags of the long-running engine (`promtui` and `promtui serve`).
#[derive(Debug, Args, Clone)]
pub struct ServeFlags {
    /// Configuration file (prometheus.yml format). Without it promtui runs its embedded
    /// default, which scrapes promtui itself.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Address to listen on for the API and /metrics.
    #[arg(
        long = "web.listen-address",
        default_value = "127.0.0.1:9090",
        value_name = "ADDR"
    )]
    pub listen_address: String,

    /// Enable shutdown and reload via HTTP (`POST /-/reload`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Enable the admin API (`/api/v1/admin/tsdb/...`).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    #[command(flatten)]
    pub query: QueryFlags,
}

/// PromQL engine limits, with Prometheus' flag names and defaults.
#[derive(Debug, Args, Clone)]
pub struct QueryFlags {
    /// The maximum lookback duration for retrieving metrics during expression evaluations
    /// and federation.
    #[arg(
        long = "query.lookback-delta",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub lookback_delta: String,

    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m", value_name = "DURATION")]
    pub timeout: String,

    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub max_samples: usize,
}

impl QueryFlags {
    /// Engine options from the flags.
    pub fn engine_options(&self) -> anyhow::Result<crate::promql::engine::EngineOptions> {
        let ms = |flag: &str, v: &str| -> anyhow::Result<std::time::Duration> {
            let ms = crate::model::time::parse_duration(v)
                .with_context(|| format!("invalid --{flag} {v:?}"))?;
            anyhow::ensure!(ms > 0, "--{flag} must be positive, got {v:?}");
            Ok(std::time::Duration::from_millis(ms as u64))
        };
        Ok(crate::promql::engine::EngineOptions {
            lookback_delta: ms("query.lookback-delta", &self.lookback_delta)?,
            timeout: ms("query.timeout", &self.timeout)?,
            max_samples: self.max_samples,
            ..crate::promql::engine::EngineOptions::default()
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run headless: scrape, store and serve the Prometheus HTTP API until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        serve: ServeFlags,
    },
    /// Inspect and maintain the local time-series database.
    Tsdb {
        #[command(subcommand)]
        command: TsdbCommand,
    },
    /// Evaluate a PromQL expression at one instant, against the local TSDB
    /// (--storage.tsdb.path) or a running server (--server).
    Query {
        /// The PromQL expression.
        expr: String,
        /// Evaluation time (RFC 3339 or Unix seconds); default now.
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        #[command(flatten)]
        out: QueryOutput,
    },
    /// Evaluate a PromQL expression over a time range, against the local TSDB or a
    /// running server (--server).
    QueryRange {
        /// The PromQL expression.
        expr: String,
        /// Start time (RFC 3339 or Unix seconds); default one hour before --end.
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// End time (RFC 3339 or Unix seconds); default now.
        #[arg(long, value_name = "TIME")]
        end: Option<String>,
        /// Resolution step (Prometheus duration or seconds); default (end-start)/250,
        /// at least 1s, as promtool.
        #[arg(long, value_name = "DURATION")]
        step: Option<String>,
        #[command(flatten)]
        out: QueryOutput,
    },
    /// Validate configuration files (exit 0 when valid, 1 when not, as promtool).
    Check {
        #[command(subcommand)]
        command: CheckCommand,
    },
}

/// Where `query`/`query-range` evaluate and how they print.
#[derive(Debug, Args, Clone)]
pub struct QueryOutput {
    /// Output format: `table` for people, `json` for the API's `data` object.
    #[arg(short = 'o', long = "output", default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
    /// Query a running promtui or Prometheus at this URL (e.g. http://127.0.0.1:9090)
    /// instead of opening the local TSDB (which a running server keeps locked).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[command(flatten)]
    pub query: QueryFlags,
}

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Backfill samples from a file into blocks (like `promtool tsdb create-blocks-from`).
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
    /// Print cardinality: series and samples, top metric names, label names and label
    /// pairs by series count.
    Stats {
        /// How many entries to print in each top list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print series and samples as `labels value timestamp_ms`, one per line.
    Dump {
        /// Series selector; may be repeated (series matching any selector are printed).
        #[arg(
            long = "match",
            value_name = "SELECTOR",
            default_value = "{__name__=~\".+\"}"
        )]
        matchers: Vec<String>,
        /// Start of the time range (RFC 3339 or Unix seconds); default: everything.
        #[arg(long = "min-time", value_name = "TIME")]
        min_time: Option<String>,
        /// End of the time range (RFC 3339 or Unix seconds); default: everything.
        #[arg(long = "max-time", value_name = "TIME")]
        max_time: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// Import an OpenMetrics text file (timestamps required, ends with `# EOF`).
    Openmetrics {
        /// The OpenMetrics file to read.
        file: PathBuf,
        /// Block duration of the created blocks (Prometheus duration).
        #[arg(long = "block-duration", default_value = "2h", value_name = "DURATION")]
        block_duration: String,
    },
    /// Import a Prometheus 2.x/3.x data directory (its blocks and its WAL), read without
    /// changing it: migration in one command. Native histograms are skipped and counted.
    Prometheus {
        /// The Prometheus data directory (its --storage.tsdb.path).
        dir: PathBuf,
        /// Block duration of the created blocks (Prometheus duration).
        #[arg(long = "block-duration", default_value = "2h", value_name = "DURATION")]
        block_duration: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check a prometheus.yml-style config and the rule and file_sd files it references.
    Config {
        /// Config files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check rule files (exit 0 when all are valid, 1 when not, as promtool).
    Rules {
        /// Rule files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Platform data directory for the TSDB when `--storage.tsdb.path` is not given.
pub fn default_tsdb_path() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "promtui").context(
        "cannot determine a home directory for the default data path; pass --storage.tsdb.path",
    )?;
    Ok(dirs.data_dir().join("data"))
}

/// Logs to stderr at `level` (`--log.level`), or by `RUST_LOG` directives when set
/// (`target=level,...`). Uses tracing-subscriber's `Targets` filter rather than
/// `EnvFilter`: the latter pulls in regex-automata's full-DFA builder, which the `regex`
/// crate then uses for every small pattern, making each PromQL regex compile ~5x slower.
fn init_logging(level: &str) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .or_else(|| level.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .try_init();
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        None | Some(Command::Serve { .. }) => "info",
        Some(_) => "warn",
    };
    init_logging(cli.log_level.as_deref().unwrap_or(default_level));
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl StorageFlags {
    /// The TSDB directory: the flag, or the platform default.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.tsdb_path {
            Some(p) => Ok(p.clone()),
            None => default_tsdb_path(),
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => {
            // The terminal UI is not built yet; until it is, promtui runs the engine headless
            // on the same defaults so that it is immediately useful.
            eprintln!(
                "promtui: no terminal UI yet; serving headless (promtui serve). Ctrl-C stops."
            );
            serve(&cli.storage, &cli.serve)
        }
        Some(Command::Serve { serve: flags }) => serve(&cli.storage, &flags),
        Some(Command::Check {
            command: CheckCommand::Config { files },
        }) => Ok(check_config(&files)),
        Some(Command::Check {
            command: CheckCommand::Rules { files },
        }) => Ok(crate::rules::check_rules_command(&files)),
        Some(Command::Tsdb { command }) => tsdb_command(&cli.storage, command),
        Some(Command::Query { expr, time, out }) => {
            let t = opt_time(time.as_deref(), "--time", crate::model::time::now_ms())?;
            run_query(&cli.storage, &out, |target| {
                crate::web::query_client::instant(target, &expr, t)
            })
        }
        Some(Command::QueryRange {
            expr,
            start,
            end,
            step,
            out,
        }) => {
            let end = opt_time(end.as_deref(), "--end", crate::model::time::now_ms())?;
            let start = opt_time(start.as_deref(), "--start", end - 3_600_000)?;
            let step = match step {
                Some(s) => crate::web::query::parse_duration_param(&s)
                    .map_err(|e| anyhow::anyhow!("invalid --step: {e}"))?,
                None => ((end - start) / 250).max(1000),
            };
            run_query(&cli.storage, &out, |target| {
                crate::web::query_client::range(target, &expr, start, end, step)
            })
        }
    }
}

fn opt_time(v: Option<&str>, flag: &str, default: i64) -> anyhow::Result<i64> {
    match v {
        None => Ok(default),
        Some(s) => crate::model::time::parse_time(s).with_context(|| format!("invalid {flag}")),
    }
}

/// Runs a query locally or against `--server` and prints it; exit 1 on query errors.
fn run_query(
    storage: &StorageFlags,
    out: &QueryOutput,
    f: impl FnOnce(
        &crate::web::query_client::QueryTarget<'_>,
    )
        -> Result<crate::web::query_client::Answer, crate::web::query_client::ClientError>,
) -> anyhow::Result<ExitCode> {
    use crate::web::query_client::{render_json, render_table, QueryTarget};
    let path;
    let target = match &out.server {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("http://"),
                "--server must be an http:// URL (TLS is not supported by this client): {url}"
            );
            QueryTarget::Remote(url)
        }
        None => {
            path = storage.path()?;
            QueryTarget::Local(&path, out.query.engine_options()?)
        }
    };
    match f(&target) {
        Ok((value, ann)) => {
            for w in ann.warnings.iter().chain(&ann.infos) {
                eprintln!("{w}");
            }
            if out.output == "json" {
                println!("{}", render_json(&value));
            } else {
                print!("{}", render_table(&value));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `promtui check config`: promtool's output shape and exit codes (0 valid, 1 invalid).
fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        let result = crate::config::check_config(f);
        match &result {
            Ok(report) => print!("{report}"),
            Err(e) => {
                println!("Checking {}", f.display());
                println!("  FAILED: {e}");
            }
        }
        if crate::config::exit_code(&result) != 0 {
            failed = true;
        }
        println!();
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

impl StorageFlags {
    /// TSDB options from the flags.
    pub fn tsdb_options(&self) -> anyhow::Result<crate::tsdb::Options> {
        let retention_time_ms = crate::model::time::parse_duration(&self.retention_time)
            .with_context(|| {
                format!(
                    "invalid --storage.tsdb.retention.time {:?}",
                    self.retention_time
                )
            })?;
        let size = crate::config::ByteSize::parse(&self.retention_size).map_err(|e| {
            anyhow::anyhow!(
                "invalid --storage.tsdb.retention.size {:?}: {e}",
                self.retention_size
            )
        })?;
        Ok(crate::tsdb::Options {
            retention_time_ms: (retention_time_ms > 0).then_some(retention_time_ms),
            retention_size_bytes: (size.0 > 0).then_some(size.0),
            ..crate::tsdb::Options::default()
        })
    }
}

fn serve(storage: &StorageFlags, flags: &ServeFlags) -> anyhow::Result<ExitCode> {
    let tsdb_path = storage.path()?;
    let mut shown = BTreeMap::new();
    let cfg = flags
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    shown.insert("config.file".to_string(), cfg);
    shown.insert(
        "storage.tsdb.path".to_string(),
        tsdb_path.display().to_string(),
    );
    shown.insert(
        "storage.tsdb.retention.time".to_string(),
        storage.retention_time.clone(),
    );
    shown.insert(
        "storage.tsdb.retention.size".to_string(),
        storage.retention_size.clone(),
    );
    shown.insert(
        "web.listen-address".to_string(),
        flags.listen_address.clone(),
    );
    shown.insert(
        "web.enable-lifecycle".to_string(),
        flags.enable_lifecycle.to_string(),
    );
    shown.insert(
        "web.enable-admin-api".to_string(),
        flags.enable_admin_api.to_string(),
    );
    shown.insert(
        "query.lookback-delta".to_string(),
        flags.query.lookback_delta.clone(),
    );
    shown.insert("query.timeout".to_string(), flags.query.timeout.clone());
    shown.insert(
        "query.max-samples".to_string(),
        flags.query.max_samples.to_string(),
    );
    let opts = crate::engine::EngineOptions {
        config_file: flags.config_file.clone(),
        tsdb_path,
        tsdb: storage.tsdb_options()?,
        listen_address: flags.listen_address.clone(),
        enable_lifecycle: flags.enable_lifecycle,
        enable_admin_api: flags.enable_admin_api,
        flags: shown,
        query: flags.query.engine_options()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = tokio::task::spawn_blocking(move || crate::engine::Engine::open(opts))
            .await
            .context("opening the engine")??;
        engine.run(std::future::pending()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn tsdb_command(storage: &StorageFlags, command: TsdbCommand) -> anyhow::Result<ExitCode> {
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
fn print_prometheus_read(st: &crate::tsdb::prometheus_dir::PromReadStats) {
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
fn open_db_for_tool(
    storage: &StorageFlags,
    dir: &std::path::Path,
) -> anyhow::Result<crate::tsdb::Db> {
    if !dir.exists() {
        anyhow::bail!("no TSDB at {} (set --storage.tsdb.path)", dir.display());
    }
    crate::tsdb::Db::open_read_only(dir, storage.tsdb_options()?)
        .with_context(|| format!("opening the TSDB at {} read-only", dir.display()))
}
