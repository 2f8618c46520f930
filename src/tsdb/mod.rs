//! The time-series database: head, chunks, WAL, blocks, compaction, retention, querier.
//! Mirrors Prometheus `tsdb/`.

pub mod block;
pub mod chunkenc;
pub mod chunks;
pub mod compact;
pub mod db;
#[doc(hidden)]
pub mod fuzzing;
pub mod head;
pub mod import;
pub mod layout;
pub mod prometheus_dir;
pub mod querier;
pub mod retention;
pub mod stats;
pub mod tombstones;
pub mod tools;
pub mod wal;

pub use db::{BlockSource, Db, DbAppender, DbStats, Error, Options};
