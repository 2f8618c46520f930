//! Command-line interface: clap definitions with Prometheus-style flag names, and dispatch.
//! Each command's work lives in the library; this file only parses and calls.

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

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", default_value = "info", global = true)]
    pub log_level: String,

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and maintain the local time-series database.
    Tsdb {
        #[command(subcommand)]
        command: TsdbCommand,
    },
    /// Validate configuration files (exit 0 when valid, 1 when not, as promtool).
    Check {
        #[command(subcommand)]
        command: CheckCommand,
    },
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
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check a prometheus.yml-style config and the rule and file_sd files it references.
    Config {
        /// Config files to check.
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

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
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
            use clap::CommandFactory;
            Cli::command().print_help()?;
            println!("\nData directory: {}", cli.storage.path()?.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check {
            command: CheckCommand::Config { files },
        }) => Ok(check_config(&files)),
        Some(Command::Tsdb { command }) => tsdb_command(&cli.storage, command),
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

fn tsdb_command(storage: &StorageFlags, command: TsdbCommand) -> anyhow::Result<ExitCode> {
    let _ = (storage, command);
    anyhow::bail!("the tsdb commands arrive with the storage engine merge")
}
