//! Command-line interface: clap definitions with Prometheus-style flag names, and dispatch.
//! Each command's work lives in `crate::cmd`; this file only parses and dispatches.

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

    #[command(flatten)]
    pub tui: TuiFlags,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags of the terminal UI (`promtui` with no subcommand, on a terminal).
#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct TuiFlags {
    /// Open the TUI over this Prometheus-compatible API (promtui serve, Prometheus,
    /// VictoriaMetrics) instead of starting the engine in-process.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// Extra HTTP header for --remote requests, `Name: value`; may be repeated.
    #[arg(long = "remote.header", value_name = "NAME: VALUE")]
    pub remote_headers: Vec<String>,
    /// HTTP basic auth for --remote, `user:password`.
    #[arg(
        long = "remote.basic-auth",
        value_name = "USER:PASSWORD",
        env = "PROMTUI_REMOTE_BASIC_AUTH",
        hide_env_values = true
    )]
    pub remote_basic_auth: Option<String>,
    /// Bearer token for --remote.
    #[arg(
        long = "remote.bearer-token",
        value_name = "TOKEN",
        env = "PROMTUI_REMOTE_BEARER_TOKEN",
        hide_env_values = true
    )]
    pub remote_bearer_token: Option<String>,
    /// PEM CA certificate(s) to trust for an https --remote.
    #[arg(long = "remote.ca-file", value_name = "FILE")]
    pub remote_ca_file: Option<PathBuf>,
    /// PEM client certificate for an https --remote (with --remote.key-file).
    #[arg(long = "remote.cert-file", value_name = "FILE")]
    pub remote_cert_file: Option<PathBuf>,
    /// PEM private key of --remote.cert-file.
    #[arg(long = "remote.key-file", value_name = "FILE")]
    pub remote_key_file: Option<PathBuf>,
    /// Do not verify the --remote server's certificate.
    #[arg(long = "remote.insecure-skip-verify")]
    pub remote_insecure: bool,
    /// Alertmanager API v2 for the Alerts and Silences views with --remote (e.g. a real
    /// Alertmanager at http://host:9093); default: the --remote URL's own /api/v2 (promtui).
    #[arg(long = "alertmanager.url", value_name = "URL")]
    pub alertmanager_url: Option<String>,

    /// With --remote: the Pushgateway the Pushgateway view reads and deletes groups on
    /// (default: the remote promtui's own, its host at port 9091).
    #[arg(long = "pushgateway.url", value_name = "URL")]
    pub pushgateway_url: Option<String>,
    /// Colour theme: dark, light, high-contrast, solarized, or NAME.theme from the
    /// config directory (~/.config/promtui/themes on Linux).
    #[arg(long, default_value = "dark", value_name = "NAME")]
    pub theme: String,
    /// Glyphs for charts: braille, block or ascii (default: detected; ascii on the
    /// Linux console).
    #[arg(long, value_name = "SET", value_parser = ["braille", "block", "ascii"])]
    pub glyphs: Option<String>,
}

impl TuiFlags {
    /// Whether any TUI flag was given (they only apply without a subcommand).
    fn any_given(&self) -> bool {
        *self
            != TuiFlags {
                theme: "dark".into(),
                ..TuiFlags::default()
            }
    }

    /// The remote backend's options from the flags.
    fn remote_options(&self) -> anyhow::Result<Option<crate::tui::backend::remote::RemoteOptions>> {
        let Some(url) = &self.remote else {
            anyhow::ensure!(
                self.remote_headers.is_empty()
                    && self.remote_basic_auth.is_none()
                    && self.remote_bearer_token.is_none()
                    && self.remote_ca_file.is_none()
                    && self.remote_cert_file.is_none()
                    && !self.remote_insecure
                    && self.alertmanager_url.is_none()
                    && self.pushgateway_url.is_none(),
                "--remote.* options, --alertmanager.url and --pushgateway.url need --remote URL"
            );
            return Ok(None);
        };
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--remote {url:?}: expected an http:// or https:// URL"
        );
        let mut headers = Vec::new();
        for h in &self.remote_headers {
            let (k, v) = h
                .split_once(':')
                .with_context(|| format!("--remote.header {h:?}: expected `Name: value`"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let basic_auth = match &self.remote_basic_auth {
            None => None,
            Some(s) => {
                let (u, p) = s
                    .split_once(':')
                    .context("--remote.basic-auth: expected `user:password`")?;
                Some((u.to_string(), p.to_string()))
            }
        };
        anyhow::ensure!(
            self.remote_key_file.is_none() || self.remote_cert_file.is_some(),
            "--remote.key-file needs --remote.cert-file"
        );
        Ok(Some(crate::tui::backend::remote::RemoteOptions {
            url: url.clone(),
            headers,
            basic_auth,
            bearer_token: self.remote_bearer_token.clone(),
            ca_file: self.remote_ca_file.clone(),
            cert_file: self.remote_cert_file.clone(),
            key_file: self.remote_key_file.clone(),
            insecure_skip_verify: self.remote_insecure,
            timeout: std::time::Duration::from_secs(60),
            alertmanager_url: match &self.alertmanager_url {
                Some(u) => {
                    anyhow::ensure!(
                        u.starts_with("http://") || u.starts_with("https://"),
                        "--alertmanager.url {u:?}: expected an http:// or https:// URL"
                    );
                    Some(u.clone())
                }
                None => None,
            },
            pushgateway_url: self.pushgateway_url.clone(),
        }))
    }
}

/// Whether `promtui` without a subcommand should open the TUI: stdin and stdout are a
/// terminal.
fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Where the TUI writes its log while it owns the screen (the platform state directory,
/// e.g. ~/.local/state/promtui/promtui.log on Linux).
pub fn state_dir() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "promtui")
        .context("cannot determine a home directory for the state directory")?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf())
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
#[derive(Debug, Args, Clone, PartialEq)]
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

    /// Web configuration file (the format Prometheus, Alertmanager and the Pushgateway
    /// share): TLS (`tls_server_config`), basic authentication (`basic_auth_users`, bcrypt
    /// hashes) and response headers for every listener promtui opens. Re-read when it
    /// changes; check one with `promtui check web-config FILE`.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Enable shutdown and reload via HTTP (`POST /-/reload`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Enable the admin API (`/api/v1/admin/tsdb/...`).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    /// Accept remote-write requests (protocol 1.0) on /api/v1/write, so Prometheus
    /// servers and agents can write into promtui.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,

    /// Maximum number of PromQL queries (API `query` and `query_range`) evaluated at
    /// once; more wait in a queue, and the time they wait counts against
    /// --query.timeout. Together with --query.max-samples this bounds query memory: at
    /// most max-concurrency x max-samples samples are loaded at any time (16 bytes each,
    /// plus labels), e.g. 20 x 50,000,000 x 16 B = 16 GB as an upper bound with the
    /// defaults; lower either to fit a smaller machine.
    #[arg(
        long = "query.max-concurrency",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..),
        value_name = "N"
    )]
    pub max_concurrency: u32,

    /// Max time to tolerate Prometheus outage for restoring "for" state of alerts.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        default_value = "1h",
        value_name = "DURATION"
    )]
    pub for_outage_tolerance: String,

    /// Minimum duration between alert and restored "for" state. This is maintained only
    /// for alerts with configured "for" time greater than the grace period.
    #[arg(
        long = "rules.alert.for-grace-period",
        default_value = "10m",
        value_name = "DURATION"
    )]
    pub for_grace_period: String,

    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(
        long = "rules.alert.resend-delay",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub resend_delay: String,

    /// The capacity of the queue for pending Alertmanager notifications; the oldest are
    /// dropped (and counted) when it is full.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..),
        value_name = "N"
    )]
    pub notification_queue_capacity: u32,

    /// The built-in Alertmanager's configuration (alertmanager.yml format); reloaded with
    /// the Prometheus configuration (SIGHUP, POST /-/reload). Without it the embedded
    /// default runs (one receiver, no integrations: alerts are visible, nothing is sent).
    #[arg(long = "alertmanager.config.file", value_name = "FILE")]
    pub alertmanager_config_file: Option<PathBuf>,

    /// Address of the Alertmanager API v2 listener (besides /api/v2 on the web port), for
    /// tools such as amtool that assume port 9093. When the default port is busy promtui
    /// warns and goes on without it; a busy address given explicitly is an error.
    #[arg(
        long = "alertmanager.listen-address",
        default_value = "127.0.0.1:9093",
        value_name = "ADDR"
    )]
    pub alertmanager_listen_address: String,

    /// Do not open the separate Alertmanager listener (the API stays on the web port).
    #[arg(long = "alertmanager.disable-listener")]
    pub alertmanager_disable_listener: bool,

    /// Directory of the built-in Alertmanager's state (silences, acknowledgements,
    /// notification log, alerts). Default: `promtui-state/alertmanager` in the TSDB
    /// directory.
    #[arg(long = "alertmanager.storage.path", value_name = "DIR")]
    pub alertmanager_storage_path: Option<PathBuf>,

    /// How long expired silences, ended acknowledgements, notification log entries and
    /// alert history are kept.
    #[arg(
        long = "alertmanager.data-retention",
        default_value = "120h",
        value_name = "DURATION"
    )]
    pub alertmanager_data_retention: String,

    #[command(flatten)]
    pub query: QueryFlags,

    #[command(flatten)]
    pub pushgateway: PushgatewayFlags,
}

/// The built-in Pushgateway's listener and limits.
#[derive(Debug, Args, Clone, PartialEq)]
pub struct PushgatewayFlags {
    /// Address the Pushgateway API (`/metrics/job/...`) and its `/metrics` listen on
    /// [default: 127.0.0.1:9091]. When the default port is busy (a real Pushgateway, say)
    /// promtui logs a warning and runs without it; a busy address given here is an error.
    #[arg(long = "pushgateway.listen-address", value_name = "ADDR")]
    pub pushgateway_listen_address: Option<String>,

    /// Do not start the built-in Pushgateway.
    #[arg(long = "pushgateway.disable")]
    pub pushgateway_disable: bool,

    /// Largest push body accepted (after gzip decompression); larger ones get 413.
    #[arg(
        long = "pushgateway.max-body-bytes",
        default_value_t = 16 << 20,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "BYTES"
    )]
    pub pushgateway_max_body_bytes: u64,

    /// Delete groups not pushed to for this long (e.g. `1d`). Off by default, as in the
    /// Pushgateway, which never expires groups.
    #[arg(long = "pushgateway.group-ttl", value_name = "DURATION")]
    pub pushgateway_group_ttl: Option<String>,
}

impl ServeFlags {
    /// A duration flag in milliseconds; must be positive.
    pub fn duration_ms(flag: &str, v: &str) -> anyhow::Result<i64> {
        let ms = crate::model::time::parse_duration(v)
            .with_context(|| format!("invalid --{flag} {v:?}"))?;
        anyhow::ensure!(ms > 0, "--{flag} must be positive, got {v:?}");
        Ok(ms)
    }
}

/// PromQL engine limits, with Prometheus' flag names and defaults.
#[derive(Debug, Args, Clone, PartialEq)]
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

    /// Maximum number of samples a single query can load into memory. The query memory
    /// of a server is bounded by this times --query.max-concurrency.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub max_samples: usize,

    /// Comma-separated experimental features, named as upstream names them:
    /// `promql-per-step-stats` records the samples each step of a query read
    /// (`stats=all` on the query API). Unknown names are logged and ignored.
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    pub enable_feature: Vec<String>,
}

impl QueryFlags {
    /// Whether `--enable-feature` names `name`; warns once per call about unknown names.
    fn feature(&self, name: &str) -> bool {
        const KNOWN: &[&str] = &["promql-per-step-stats"];
        for f in &self.enable_feature {
            if !KNOWN.contains(&f.as_str()) {
                tracing::warn!(option = %f, "Unknown option for --enable-feature");
            }
        }
        self.enable_feature.iter().any(|f| f == name)
    }

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
            per_step_stats: self.feature("promql-per-step-stats"),
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
    /// Run unit tests (exit 0 when all pass, 1 when not, as promtool).
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },
    /// The built-in Alertmanager's offline tools.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Alerting-rule tools over the local TSDB.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Backtest an alerting rule over stored history: evaluate it every --step over
    /// --range (or --start/--end) with the live engine's pending/for/keep_firing_for
    /// logic and print when each alert would have fired, for how long and how often.
    Backtest(BacktestArgs),
}

/// `promtui rules backtest`'s flags.
#[derive(Debug, Args, Clone)]
pub struct BacktestArgs {
    /// The rule's expression (or take it from --rule-file with --alert).
    #[arg(long, value_name = "PROMQL")]
    pub expr: Option<String>,
    /// The alert name (with --rule-file: the rule to backtest).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub alert: String,
    /// A rule file to take the alerting rule --alert from (its expr, for,
    /// keep_firing_for and labels).
    #[arg(long = "rule-file", value_name = "FILE")]
    pub rule_file: Option<PathBuf>,
    /// The rule's `for` (Prometheus duration); default 0, or the rule file's.
    #[arg(long = "for", value_name = "DURATION")]
    pub for_duration: Option<String>,
    /// The rule's `keep_firing_for`; default 0, or the rule file's.
    #[arg(long = "keep-firing-for", value_name = "DURATION")]
    pub keep_firing_for: Option<String>,
    /// How far back from --end to start.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub range: String,
    /// Start (RFC 3339 or Unix seconds); overrides --range.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// End (RFC 3339 or Unix seconds); default now.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// The evaluation interval simulated.
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub step: String,
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit-test files (promtool's `test rules` format).
    Rules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
    /// Backfill recording rules over the stored history (like `promtool tsdb
    /// create-blocks-from rules`): each recording rule of FILES is evaluated over
    /// [--start, --end] every --eval-interval against the local store (or the server at
    /// --url), and the results are written as blocks into --output-dir (default: the store
    /// itself). Alerting rules are skipped.
    CreateBlocksFrom {
        #[command(subcommand)]
        source: CreateBlocksSource,
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
pub enum CreateBlocksSource {
    /// Recording rules evaluated over stored history.
    Rules {
        /// Rule files (prometheus rule-file format).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Start of the backfill (RFC 3339 or Unix seconds).
        #[arg(long, value_name = "TIME")]
        start: String,
        /// End of the backfill (RFC 3339 or Unix seconds); default: 3 hours ago, as
        /// promtool.
        #[arg(long, value_name = "TIME")]
        end: Option<String>,
        /// How often the rules are evaluated in the range.
        #[arg(long = "eval-interval", default_value = "60s", value_name = "DURATION")]
        eval_interval: String,
        /// Block duration of the created blocks.
        #[arg(long = "block-duration", default_value = "2h", value_name = "DURATION")]
        block_duration: String,
        /// Data directory the blocks are written to; default: --storage.tsdb.path.
        #[arg(long = "output-dir", value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Evaluate against this Prometheus-compatible server (`http://host:9090`, as
        /// promtool's --url) instead of the local store; blocks still go to --output-dir.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
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
pub enum AlertsCommand {
    /// Routing: `routes test` prints the route path and receiver(s) an alert takes.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Which receivers an alert with these labels goes to (as `amtool config routes
    /// test`): one line of receivers, and with --verbose every route path. Exit 0, or 1
    /// with --verify.receivers when they differ.
    Test {
        /// The alertmanager.yml to route with.
        #[arg(long = "config", value_name = "FILE")]
        config: PathBuf,
        /// Expected receivers, comma-separated; a mismatch exits 1.
        #[arg(long = "verify.receivers", value_name = "LIST")]
        verify_receivers: Option<String>,
        /// Print each matching route's path from the root.
        #[arg(long)]
        verbose: bool,
        /// The alert's labels, `name=value` (or matcher syntax such as `name="value"`).
        labels: Vec<String>,
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
    /// Lint a text-format exposition read from stdin, as `promtool check metrics`
    /// (problems on stderr; exit 0 clean, 3 with problems, 1 when it does not parse).
    Metrics,
    /// Check alertmanager.yml files as `amtool check-config` does (exit 0 when all are
    /// valid, 1 when not); problems name file:line:column.
    Alertmanager {
        /// alertmanager.yml files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check web configuration files (--web.config.file) as `promtool check web-config`:
    /// certificates and keys load, hashes are bcrypt, no unknown fields.
    #[command(name = "web-config")]
    WebConfig {
        /// Web configuration files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn default_tsdb_path() -> anyhow::Result<PathBuf> {
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
    if let Some(file) = TUI_LOG.get() {
        let file = file.try_clone().ok();
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(
                        file.map(|f| Box::new(f) as Box<dyn std::io::Write + Send>)
                            .unwrap_or_else(|| Box::new(std::io::sink())),
                    ))
                    .with_ansi(false),
            )
            .with(filter)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .try_init();
}

/// Parses the command line (`args` includes the program name) into a [`Cli`] whose
/// subcommand carries every engine flag that was given, wherever it was given.
///
/// The engine's flags ([`ServeFlags`]) are accepted before the subcommand as well as after
/// it (`promtui --config.file f serve` is `promtui serve --config.file f`), and the
/// query-engine flags ([`QueryFlags`]) also before `query`/`query-range`. A flag given in
/// both places with different values, or before a subcommand it does not apply to, is an
/// error: a flag is never silently ignored.
pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    place_engine_flags(cli, &matches)
        .map_err(|msg| cmd.error(clap::error::ErrorKind::ArgumentConflict, msg))
}

/// The clap argument id and flag name of every [`ServeFlags`] argument (a test checks the
/// list is complete).
const SERVE_FLAG_IDS: &[(&str, &str)] = &[
    ("config_file", "config.file"),
    ("listen_address", "web.listen-address"),
    ("web_config_file", "web.config.file"),
    ("enable_lifecycle", "web.enable-lifecycle"),
    ("enable_admin_api", "web.enable-admin-api"),
    (
        "enable_remote_write_receiver",
        "web.enable-remote-write-receiver",
    ),
    ("max_concurrency", "query.max-concurrency"),
    ("for_outage_tolerance", "rules.alert.for-outage-tolerance"),
    ("for_grace_period", "rules.alert.for-grace-period"),
    ("resend_delay", "rules.alert.resend-delay"),
    (
        "notification_queue_capacity",
        "alertmanager.notification-queue-capacity",
    ),
    ("alertmanager_config_file", "alertmanager.config.file"),
    ("alertmanager_listen_address", "alertmanager.listen-address"),
    (
        "alertmanager_disable_listener",
        "alertmanager.disable-listener",
    ),
    ("alertmanager_storage_path", "alertmanager.storage.path"),
    ("alertmanager_data_retention", "alertmanager.data-retention"),
    ("lookback_delta", "query.lookback-delta"),
    ("timeout", "query.timeout"),
    ("max_samples", "query.max-samples"),
    ("pushgateway_listen_address", "pushgateway.listen-address"),
    ("pushgateway_disable", "pushgateway.disable"),
    ("pushgateway_max_body_bytes", "pushgateway.max-body-bytes"),
    ("pushgateway_group_ttl", "pushgateway.group-ttl"),
    ("enable_feature", "enable-feature"),
];

/// Whether the flag with clap id `id` was on the command line (not a default).
fn given(m: &clap::ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

fn flag_name(id: &str) -> &str {
    SERVE_FLAG_IDS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, f)| f)
}

/// Takes the value given before the subcommand (`top`) into the subcommand's `sub`.
fn merge_flag<T: Clone + PartialEq>(
    id: &str,
    top: &T,
    sub: &mut T,
    top_m: &clap::ArgMatches,
    sub_m: &clap::ArgMatches,
) -> Result<(), String> {
    if !given(top_m, id) {
        return Ok(());
    }
    if given(sub_m, id) && top != sub {
        return Err(format!(
            "--{} is given both before and after the subcommand, with different values",
            flag_name(id)
        ));
    }
    *sub = top.clone();
    Ok(())
}

fn merge_query_flags(
    top: &QueryFlags,
    sub: &mut QueryFlags,
    top_m: &clap::ArgMatches,
    sub_m: &clap::ArgMatches,
) -> Result<(), String> {
    merge_flag(
        "lookback_delta",
        &top.lookback_delta,
        &mut sub.lookback_delta,
        top_m,
        sub_m,
    )?;
    merge_flag("timeout", &top.timeout, &mut sub.timeout, top_m, sub_m)?;
    merge_flag(
        "max_samples",
        &top.max_samples,
        &mut sub.max_samples,
        top_m,
        sub_m,
    )?;
    merge_flag(
        "enable_feature",
        &top.enable_feature,
        &mut sub.enable_feature,
        top_m,
        sub_m,
    )
}

fn merge_pushgateway_flags(
    top: &PushgatewayFlags,
    sub: &mut PushgatewayFlags,
    top_m: &clap::ArgMatches,
    sub_m: &clap::ArgMatches,
) -> Result<(), String> {
    merge_flag(
        "pushgateway_listen_address",
        &top.pushgateway_listen_address,
        &mut sub.pushgateway_listen_address,
        top_m,
        sub_m,
    )?;
    merge_flag(
        "pushgateway_disable",
        &top.pushgateway_disable,
        &mut sub.pushgateway_disable,
        top_m,
        sub_m,
    )?;
    merge_flag(
        "pushgateway_max_body_bytes",
        &top.pushgateway_max_body_bytes,
        &mut sub.pushgateway_max_body_bytes,
        top_m,
        sub_m,
    )?;
    merge_flag(
        "pushgateway_group_ttl",
        &top.pushgateway_group_ttl,
        &mut sub.pushgateway_group_ttl,
        top_m,
        sub_m,
    )
}

/// See [`parse_args`].
fn place_engine_flags(mut cli: Cli, m: &clap::ArgMatches) -> Result<Cli, String> {
    let top = cli.serve.clone();
    let (name, sub_m) = match m.subcommand() {
        None => return Ok(cli),
        Some(s) => s,
    };
    let query_only = ["lookback_delta", "timeout", "max_samples", "enable_feature"];
    match &mut cli.command {
        None => {}
        Some(Command::Serve { serve }) => {
            merge_flag(
                "config_file",
                &top.config_file,
                &mut serve.config_file,
                m,
                sub_m,
            )?;
            merge_flag(
                "listen_address",
                &top.listen_address,
                &mut serve.listen_address,
                m,
                sub_m,
            )?;
            merge_flag(
                "web_config_file",
                &top.web_config_file,
                &mut serve.web_config_file,
                m,
                sub_m,
            )?;
            merge_flag(
                "enable_lifecycle",
                &top.enable_lifecycle,
                &mut serve.enable_lifecycle,
                m,
                sub_m,
            )?;
            merge_flag(
                "enable_admin_api",
                &top.enable_admin_api,
                &mut serve.enable_admin_api,
                m,
                sub_m,
            )?;
            merge_flag(
                "enable_remote_write_receiver",
                &top.enable_remote_write_receiver,
                &mut serve.enable_remote_write_receiver,
                m,
                sub_m,
            )?;
            merge_flag(
                "max_concurrency",
                &top.max_concurrency,
                &mut serve.max_concurrency,
                m,
                sub_m,
            )?;
            merge_flag(
                "for_outage_tolerance",
                &top.for_outage_tolerance,
                &mut serve.for_outage_tolerance,
                m,
                sub_m,
            )?;
            merge_flag(
                "for_grace_period",
                &top.for_grace_period,
                &mut serve.for_grace_period,
                m,
                sub_m,
            )?;
            merge_flag(
                "resend_delay",
                &top.resend_delay,
                &mut serve.resend_delay,
                m,
                sub_m,
            )?;
            merge_flag(
                "notification_queue_capacity",
                &top.notification_queue_capacity,
                &mut serve.notification_queue_capacity,
                m,
                sub_m,
            )?;
            merge_flag(
                "alertmanager_config_file",
                &top.alertmanager_config_file,
                &mut serve.alertmanager_config_file,
                m,
                sub_m,
            )?;
            merge_flag(
                "alertmanager_listen_address",
                &top.alertmanager_listen_address,
                &mut serve.alertmanager_listen_address,
                m,
                sub_m,
            )?;
            merge_flag(
                "alertmanager_disable_listener",
                &top.alertmanager_disable_listener,
                &mut serve.alertmanager_disable_listener,
                m,
                sub_m,
            )?;
            merge_flag(
                "alertmanager_storage_path",
                &top.alertmanager_storage_path,
                &mut serve.alertmanager_storage_path,
                m,
                sub_m,
            )?;
            merge_flag(
                "alertmanager_data_retention",
                &top.alertmanager_data_retention,
                &mut serve.alertmanager_data_retention,
                m,
                sub_m,
            )?;
            merge_query_flags(&top.query, &mut serve.query, m, sub_m)?;
            merge_pushgateway_flags(&top.pushgateway, &mut serve.pushgateway, m, sub_m)?;
        }
        Some(Command::Query { out, .. }) | Some(Command::QueryRange { out, .. }) => {
            if let Some((id, _)) = SERVE_FLAG_IDS
                .iter()
                .find(|(id, _)| !query_only.contains(id) && given(m, id))
            {
                return Err(misplaced(id, name));
            }
            merge_query_flags(&top.query, &mut out.query, m, sub_m)?;
        }
        Some(_) => {
            if let Some((id, _)) = SERVE_FLAG_IDS.iter().find(|(id, _)| given(m, id)) {
                return Err(misplaced(id, name));
            }
        }
    }
    Ok(cli)
}

fn misplaced(id: &str, subcommand: &str) -> String {
    format!(
        "--{} is a flag of `promtui serve`; it has no effect on `promtui {subcommand}`",
        flag_name(id)
    )
}

/// An error and its causes as `outer: cause: root cause`, each cause once.
///
/// Many errors put their source's text in their own message (`opening X: {source}`) and
/// also return it from `source()`, so walking the chain would print it again (and its own
/// cause a third time); a cause whose text the message so far already contains is skipped.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if s.is_empty() || out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// The log file while the TUI owns the screen.
static TUI_LOG: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Opens the TUI's log file under the state directory; its path is printed on exit.
fn open_tui_log() -> anyhow::Result<PathBuf> {
    let dir = state_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("promtui.log");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    let _ = TUI_LOG.set(f);
    Ok(path)
}

pub fn run() -> ExitCode {
    let cli = match parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let tui_log = if cli.command.is_none() && on_terminal() {
        match open_tui_log() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {}", error_chain(&e));
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    if let Some(p) = &tui_log {
        let code = run_tui(cli, p);
        eprintln!("promtui: log written to {}", p.display());
        return code;
    }
    let default_level = match cli.command {
        None | Some(Command::Serve { .. }) => "info",
        Some(_) => "warn",
    };
    init_logging(cli.log_level.as_deref().unwrap_or(default_level));
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
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

/// `promtui` on a terminal: the TUI over the in-process engine or `--remote`.
fn run_tui(cli: Cli, _log: &std::path::Path) -> ExitCode {
    init_logging(cli.log_level.as_deref().unwrap_or("info"));
    let r = (|| -> anyhow::Result<()> {
        let remote = cli.tui.remote_options()?;
        let engine = match remote {
            Some(_) => None,
            None => {
                let mut opts = crate::cmd::serve::engine_options(&cli.storage, &cli.serve)?;
                // Live figures within a moment of opening, not after a scrape interval.
                opts.first_scrape_within = Some(std::time::Duration::from_secs(1));
                Some(opts)
            }
        };
        let glyphs = cli
            .tui
            .glyphs
            .as_deref()
            .map(crate::tui::theme::parse_glyphs)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        crate::tui::run(crate::tui::TuiOptions {
            theme: cli.tui.theme.clone(),
            glyphs,
            remote,
            engine,
            state_dir: state_dir()?,
        })
    })();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", error_chain(&e));
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.command.is_some() && cli.tui.any_given() {
        anyhow::bail!("--remote, --theme and --glyphs apply to `promtui` without a subcommand");
    }
    match cli.command {
        None => {
            anyhow::ensure!(
                cli.tui.remote.is_none(),
                "--remote opens the terminal UI, which needs a terminal on stdin and stdout"
            );
            tracing::info!(
                "stdin/stdout is not a terminal: running headless (as `promtui serve`); Ctrl-C stops"
            );
            crate::cmd::serve::serve(&cli.storage, &cli.serve)
        }
        Some(Command::Serve { serve: flags }) => crate::cmd::serve::serve(&cli.storage, &flags),
        Some(Command::Check {
            command: CheckCommand::Config { files },
        }) => Ok(crate::cmd::check::check_config(&files)),
        Some(Command::Check {
            command: CheckCommand::Rules { files },
        }) => Ok(crate::rules::check_rules_command(&files)),
        Some(Command::Check {
            command: CheckCommand::Metrics,
        }) => Ok(crate::cmd::check::check_metrics()),
        Some(Command::Check {
            command: CheckCommand::Alertmanager { files },
        }) => Ok(crate::cmd::alerts::check_alertmanager(&files)),
        Some(Command::Check {
            command: CheckCommand::WebConfig { files },
        }) => Ok(crate::cmd::check::check_web_config(&files)),
        Some(Command::Alerts {
            command:
                AlertsCommand::Routes {
                    command:
                        RoutesCommand::Test {
                            config,
                            verify_receivers,
                            verbose,
                            labels,
                        },
                },
        }) => Ok(crate::cmd::alerts::routes_test(
            &config,
            &labels,
            verify_receivers.as_deref(),
            verbose,
        )),
        Some(Command::Test {
            command: TestCommand::Rules { files },
        }) => Ok(crate::rules::unittest::test_rules_command(&files)),
        Some(Command::Tsdb { command }) => crate::cmd::tsdb::tsdb_command(&cli.storage, command),
        Some(Command::Rules {
            command: RulesCommand::Backtest(args),
        }) => crate::rules::backtest::cli(&cli.storage, &args),
        Some(Command::Query { expr, time, out }) => {
            let t = opt_time(time.as_deref(), "--time", crate::model::time::now_ms())?;
            crate::cmd::query::run_query(&cli.storage, &out, |target| {
                crate::cmd::query::instant(target, &expr, t)
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
            crate::cmd::query::run_query(&cli.storage, &out, |target| {
                crate::cmd::query::range(target, &expr, start, end, step)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-default value for every serve flag, as command-line words.
    const SERVE_FLAGS: &[&[&str]] = &[
        &["--config.file", "/etc/p.yml"],
        &["--web.listen-address", "127.0.0.1:19999"],
        &["--web.config.file", "/etc/web.yml"],
        &["--web.enable-lifecycle"],
        &["--web.enable-admin-api"],
        &["--web.enable-remote-write-receiver"],
        &["--query.max-concurrency", "3"],
        &["--rules.alert.for-outage-tolerance", "2h"],
        &["--rules.alert.for-grace-period", "5m"],
        &["--rules.alert.resend-delay", "30s"],
        &["--alertmanager.notification-queue-capacity", "77"],
        &["--alertmanager.config.file", "/etc/am.yml"],
        &["--alertmanager.listen-address", "127.0.0.1:19998"],
        &["--alertmanager.disable-listener"],
        &["--alertmanager.storage.path", "/tmp/am"],
        &["--alertmanager.data-retention", "24h"],
        &["--query.lookback-delta", "1m"],
        &["--query.timeout", "7s"],
        &["--query.max-samples", "1234"],
        &["--pushgateway.listen-address", "127.0.0.1:19998"],
        &["--pushgateway.disable"],
        &["--pushgateway.max-body-bytes", "1000"],
        &["--pushgateway.group-ttl", "1h"],
        &["--enable-feature", "promql-per-step-stats"],
    ];

    fn parse(words: &[&str]) -> Result<Cli, clap::Error> {
        parse_args(std::iter::once("promtui").chain(words.iter().copied()))
    }

    /// The engine flags `serve` (or no subcommand) runs with.
    fn engine_flags(cli: &Cli) -> ServeFlags {
        match &cli.command {
            None => cli.serve.clone(),
            Some(Command::Serve { serve }) => serve.clone(),
            other => panic!("not a serve command: {other:?}"),
        }
    }

    #[test]
    fn the_flag_table_lists_every_serve_flag() {
        let cmd = ServeFlags::augment_args(clap::Command::new("t"));
        let mut n = 0;
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            let long = arg.get_long().unwrap_or_default();
            assert!(
                SERVE_FLAG_IDS.contains(&(id, long)),
                "({id:?}, {long:?}) is missing from SERVE_FLAG_IDS"
            );
            n += 1;
        }
        assert_eq!(n, SERVE_FLAG_IDS.len());
        assert_eq!(SERVE_FLAGS.len(), SERVE_FLAG_IDS.len());
    }

    #[test]
    fn every_serve_flag_is_honoured_before_and_after_the_subcommand() {
        let defaults = engine_flags(&parse(&["serve"]).unwrap());
        for words in SERVE_FLAGS {
            let after: Vec<&str> = std::iter::once("serve")
                .chain(words.iter().copied())
                .collect();
            let before: Vec<&str> = words.iter().copied().chain(["serve"]).collect();
            let want = engine_flags(&parse(&after).unwrap());
            assert_ne!(want, defaults, "{words:?} changed nothing");
            assert_eq!(engine_flags(&parse(&before).unwrap()), want, "{words:?}");
            assert_eq!(engine_flags(&parse(words).unwrap()), want, "{words:?}");
        }
        // All at once, half before and half after.
        let (a, b) = SERVE_FLAGS.split_at(4);
        let mut words: Vec<&str> = a.iter().flat_map(|w| w.iter().copied()).collect();
        words.push("serve");
        words.extend(b.iter().flat_map(|w| w.iter().copied()));
        let mixed = engine_flags(&parse(&words).unwrap());
        let all: Vec<&str> = std::iter::once("serve")
            .chain(SERVE_FLAGS.iter().flat_map(|w| w.iter().copied()))
            .collect();
        assert_eq!(mixed, engine_flags(&parse(&all).unwrap()));
        assert_eq!(mixed.max_concurrency, 3);
        assert_eq!(mixed.query.timeout, "7s");
    }

    #[test]
    fn storage_and_log_flags_are_honoured_before_and_after_the_subcommand() {
        for words in [
            ["--storage.tsdb.path", "/d", "serve"],
            ["serve", "--storage.tsdb.path", "/d"],
        ] {
            let cli = parse(&words).unwrap();
            assert_eq!(cli.storage.tsdb_path, Some(PathBuf::from("/d")));
        }
        let cli = parse(&["--log.level", "debug", "serve"]).unwrap();
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn the_same_flag_twice_must_agree() {
        let cli = parse(&["--query.timeout=7s", "serve", "--query.timeout=7s"]).unwrap();
        assert_eq!(engine_flags(&cli).query.timeout, "7s");
        let err = parse(&["--query.timeout=7s", "serve", "--query.timeout=8s"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(
            err.to_string()
                .contains("--query.timeout is given both before and after the subcommand"),
            "{err}"
        );
    }

    #[test]
    fn query_flags_before_query_commands_are_honoured() {
        let cli = parse(&[
            "--query.timeout",
            "9s",
            "--query.max-samples=5",
            "query",
            "up",
        ])
        .unwrap();
        let Some(Command::Query { out, .. }) = &cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (out.query.timeout.as_str(), out.query.max_samples),
            ("9s", 5)
        );
        let cli = parse(&["--query.lookback-delta=1m", "query-range", "up"]).unwrap();
        let Some(Command::QueryRange { out, .. }) = &cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(out.query.lookback_delta, "1m");
    }

    #[test]
    fn serve_flags_before_other_subcommands_are_rejected() {
        for (words, flag, sub) in [
            (
                &["--web.listen-address=:1", "query", "up"][..],
                "--web.listen-address",
                "query",
            ),
            (
                &["--config.file=f", "tsdb", "stats"],
                "--config.file",
                "tsdb",
            ),
            (
                &["--query.timeout=1s", "check", "config", "f"],
                "--query.timeout",
                "check",
            ),
            (
                &["--query.max-concurrency=2", "query-range", "up"],
                "--query.max-concurrency",
                "query-range",
            ),
        ] {
            let err = parse(words).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&format!(
                    "{flag} is a flag of `promtui serve`; it has no effect on `promtui {sub}`"
                )),
                "{words:?}: {msg}"
            );
        }
        // After such a subcommand clap itself rejects them.
        assert!(parse(&["tsdb", "stats", "--config.file=f"]).is_err());
    }

    #[test]
    fn max_concurrency_must_be_positive() {
        assert!(parse(&["serve", "--query.max-concurrency=0"]).is_err());
        assert!(parse(&["--query.max-concurrency=0"]).is_err());
    }

    #[test]
    fn error_chains_print_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(20);
        let root = io.to_string();
        let e = crate::engine::Error::Tsdb {
            path: "/etc/passwd/x".into(),
            source: crate::tsdb::Error::Io {
                op: "creating data directory",
                path: "/etc/passwd/x".into(),
                source: io,
            },
        };
        let e = anyhow::Error::new(e).context("starting");
        let s = error_chain(&e);
        assert_eq!(
            s,
            format!("starting: opening the TSDB at /etc/passwd/x: I/O error while creating data directory /etc/passwd/x: {root}")
        );
        // Causes not already in the message are kept, in order.
        let e = anyhow::anyhow!("root").context("middle").context("top");
        assert_eq!(error_chain(&e), "top: middle: root");
    }

    #[test]
    fn tui_flags_build_the_remote_options_and_reject_misuse() {
        let cli = parse(&[
            "--remote",
            "https://prom.example:9090/",
            "--remote.header",
            "X-Scope-OrgID: team-a",
            "--remote.basic-auth",
            "u:p:w",
            "--theme",
            "light",
            "--glyphs",
            "ascii",
        ])
        .unwrap();
        let o = cli.tui.remote_options().unwrap().unwrap();
        assert_eq!(o.headers, vec![("X-Scope-OrgID".into(), "team-a".into())]);
        // Only the first colon separates user from password.
        assert_eq!(o.basic_auth, Some(("u".into(), "p:w".into())));
        assert!(cli.tui.any_given());
        // Without --remote, remote options are an error; none at all is fine.
        let e = parse(&["--remote.bearer-token", "t"])
            .unwrap()
            .tui
            .remote_options();
        assert!(e.unwrap_err().to_string().contains("need --remote"));
        assert!(parse(&[]).unwrap().tui.remote_options().unwrap().is_none());
        assert!(!parse(&[]).unwrap().tui.any_given());
        let e = parse(&["--remote", "prom:9090"])
            .unwrap()
            .tui
            .remote_options();
        assert!(e.unwrap_err().to_string().contains("http://"));
        assert!(parse(&["--glyphs", "emoji"]).is_err());
        // TUI flags before a subcommand they do not apply to are refused.
        let e = dispatch(parse(&["--theme", "light", "check", "metrics"]).unwrap());
        assert!(e.unwrap_err().to_string().contains("without a subcommand"));
    }
}
