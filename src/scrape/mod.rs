//! Scraping: target discovery (static and file-based), target relabeling, one scrape loop
//! per target, the scrape cache, the synthetic `up`/`scrape_*` series and staleness
//! markers, appending through [`crate::storage::Appendable`].
//!
//! Mirrors upstream `scrape/` (`manager.go`, `scrape.go`, `target.go`) and
//! `discovery/file`, as of Prometheus 2.42 unless a module says otherwise:
//! - [`manager::Manager`] owns one scrape pool per job and applies configurations;
//! - [`pool`] turns target groups into targets and keeps one loop per target;
//! - [`target`] builds targets (`PopulateLabels`) and scrape URLs;
//! - [`scrape_loop`] scrapes, appends, reports and writes staleness markers;
//! - [`scraper`] is the HTTP client; [`cache`] the per-target scrape cache;
//! - [`file_sd`] watches target files; relabeling itself is [`crate::model::relabel`];
//! - [`metrics`] holds the self-monitoring counters;
//! - [`memory`] is an in-memory `Appendable` for tests and tools.
//!
//! Data flow: configuration → [`settings::PoolConfig`] → pool → targets → loops →
//! `Appender::append` ... `commit` once per scrape.

pub mod cache;
pub(crate) mod error;
pub(crate) mod file_sd;
pub(crate) mod manager;
pub mod memory;
pub(crate) mod metrics;
pub(crate) mod pool;
pub(crate) mod scrape_loop;
pub mod scraper;
pub(crate) mod settings;
pub mod target;

pub use cache::FamilyMetadata;
pub use error::{Error, ScrapeError};
pub use manager::{Manager, ManagerOptions, TargetsSnapshot};
pub use metrics::{MetricsSnapshot, PoolCounts};
pub use pool::{DroppedTarget, TargetSnapshot};
pub use scrape_loop::{TargetHealth, TargetStatus, REPORT_SERIES};
pub use settings::{
    AuthorizationSettings, BasicAuthSettings, FileSdSettings, HttpSettings, Limits, PoolConfig,
    TargetGroup, TlsSettings,
};
pub use target::Target;
