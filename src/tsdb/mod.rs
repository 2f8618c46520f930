//! The time-series database: head, chunks, WAL, blocks, compaction, retention, querier.
//! Mirrors Prometheus `tsdb/` (`db.go`, `head*.go`, `wlog/`, `chunkenc/`, `index/`,
//! `compact.go`, `tombstones/`); formats in docs/format/.
//!
//! - [`layout`] says whose a data directory is before anything is written, and names
//!   promtui's files in it (marker, lock, `promtui-wal/`, `promtui-blocks/`);
//! - [`db::Db`] is the database: open (writing or read-only), the commit protocol, head
//!   compaction, block compaction and retention, deletion, snapshots;
//! - [`head`] holds the in-memory series, their postings and the WAL replay;
//! - [`wal`] is the write-ahead log (segments, records, checkpoints, repair);
//! - [`chunkenc`] the chunk encodings, [`chunks`] the chunk metadata shared by head and
//!   blocks;
//! - [`block`] writes and reads persisted blocks; [`compact`], [`retention`] and
//!   [`tombstones`] change the set of blocks;
//! - [`querier`] merges the head's and the blocks' queriers;
//! - [`import`] backfills sample streams into blocks; [`prometheus_dir`] reads a
//!   Prometheus data directory for it; [`tools`] are the `tsdb` CLI commands (import,
//!   dump); [`stats`] computes cardinality over any querier (the API's and `tsdb stats`);
//! - [`metrics`] writes the database's own `/metrics` families from [`DbStats`];
//! - [`fuzzing`] hands one byte string to every on-disk decoder (fuzz target, tests).
//!
//! Data flow: `Appender::commit` → WAL → head; the head's oldest range → block; blocks →
//! bigger blocks → deleted by retention. Queries see head and blocks through one
//! merging querier.

pub mod block;
pub mod chunkenc;
pub mod chunks;
pub mod compact;
pub(crate) mod db;
#[doc(hidden)]
pub mod fuzzing;
pub mod head;
pub mod import;
pub(crate) mod layout;
pub(crate) mod metrics;
pub(crate) mod prometheus_dir;
pub mod querier;
pub mod retention;
pub mod stats;
pub mod tombstones;
pub(crate) mod tools;
pub mod wal;

pub use db::{BlockSource, Db, DbAppender, DbStats, Error, Options};
