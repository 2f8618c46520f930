//! The time-series database: head, chunks, WAL, blocks, compaction, retention, querier.
