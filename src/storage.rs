//! The seams between subsystems, after Prometheus' `storage/interface.go`: scrape and the
//! rules (recorded series, `ALERTS`) append through an [`Appender`]; PromQL, the API,
//! federation and the rules read through a [`Querier`]. The TSDB implements both; nothing
//! outside `tsdb` sees its internals.

use crate::model::{Labels, Matcher, Sample};

/// Why an append was refused. Each refusal is counted by the storage; the caller decides
/// whether the whole batch fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample: timestamp {t} is before the series' last sample at {last}")]
    OutOfOrder { t: i64, last: i64 },
    #[error("out of bounds: timestamp {t} is older than the oldest appendable time {min_valid}")]
    OutOfBounds { t: i64, min_valid: i64 },
    #[error("duplicate sample for timestamp {t} with a different value")]
    DuplicateSampleForTimestamp { t: i64 },
    #[error("invalid label set {labels}: {reason}")]
    InvalidLabels { labels: String, reason: String },
    /// The storage itself failed (its WAL could not be written, a batch outgrew it): the
    /// whole batch fails. `message` says what failed, with its cause's text; the cause
    /// itself, when there is one, is the error's `source()`.
    #[error("storage error: {message}")]
    Storage {
        message: String,
        #[source]
        source: Option<SharedError>,
    },
}

impl AppendError {
    /// A storage failure with no underlying error.
    pub fn storage(message: impl Into<String>) -> AppendError {
        AppendError::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// A storage failure caused by `source`: the message is `what: {source}`.
    pub fn storage_caused_by(
        what: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> AppendError {
        AppendError::Storage {
            message: format!("{what}: {source}"),
            source: Some(SharedError(std::sync::Arc::new(source))),
        }
    }
}

/// An error kept behind an `Arc` so that the error carrying it stays `Clone` (an
/// [`AppendError`] is handed to every sample of a failed batch). Two are equal when their
/// texts are: errors such as `io::Error` have no equality of their own.
#[derive(Clone)]
pub struct SharedError(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Debug for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for SharedError {
    fn eq(&self, other: &SharedError) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

/// A storage's handle for one series (upstream `storage.SeriesRef`): returned by
/// [`Appender::append_returning_ref`], valid until the storage garbage-collects the series.
/// Never 0.
pub type SeriesRef = u64;

/// A storage's in-memory handle for one series, opaque to callers: returned next to the
/// ref by [`Appender::append_returning_handle`] and given back to
/// [`Appender::append_handle`], so that a storage can reach the series without looking its
/// ref up (the scrape cache keeps one per cached series). Holding a handle does not keep
/// the series in the storage: once the storage garbage-collects it, `append_handle` says
/// so and the caller appends by labels again.
pub type SeriesHandle = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// A batch of appends. Nothing is visible to queriers or durable until [`Appender::commit`]
/// returns `Ok`; after that every sample in the batch survives a crash.
pub trait Appender {
    /// Adds one float sample. Rejections are returned per sample and do not poison the batch.
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError>;
    /// [`Appender::append`] that also returns the series' ref when the storage has refs
    /// (`None` otherwise), for later [`Appender::append_ref`] calls.
    fn append_returning_ref(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<Option<SeriesRef>, AppendError> {
        self.append(labels, t, v).map(|()| None)
    }
    /// Appends to the series behind `sref` without hashing or comparing labels (upstream
    /// `AppendFast`-style use of `Append(ref, ...)`). `None` means the storage does not know
    /// the ref (any more: the series was garbage-collected, or refs are unsupported) and
    /// nothing was done; the caller appends by labels instead.
    fn append_ref(&mut self, sref: SeriesRef, t: i64, v: f64) -> Option<Result<(), AppendError>> {
        let _ = (sref, t, v);
        None
    }
    /// [`Appender::append_returning_ref`] that also returns the storage's
    /// [`SeriesHandle`] for the series when it has handles (`None` otherwise), for later
    /// [`Appender::append_handle`] calls. The ref is 0 when the storage has no refs.
    fn append_returning_handle(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(SeriesRef, Option<SeriesHandle>), AppendError> {
        self.append_returning_ref(labels, t, v)
            .map(|r| (r.unwrap_or(0), None))
    }
    /// Appends to the series behind `handle` (from this storage's
    /// [`Appender::append_returning_handle`]) without any lookup. `None` means the handle
    /// is not (any more) usable — the series was garbage-collected, or the handle is not
    /// this storage's — and nothing was done; the caller appends by labels instead.
    fn append_handle(
        &mut self,
        handle: &SeriesHandle,
        t: i64,
        v: f64,
    ) -> Option<Result<(), AppendError>> {
        let _ = (handle, t, v);
        None
    }
    /// Hints that an append to the series behind `handle` follows soon, so that a storage
    /// can start loading what that append touches. Optional.
    fn prefetch_handle(&self, handle: &SeriesHandle) {
        let _ = handle;
    }
    /// Hints that about `samples` more appends follow, so that a storage can size its
    /// batch buffers once instead of growing them append by append. Optional.
    fn reserve(&mut self, samples: usize) {
        let _ = samples;
    }
    /// Writes the batch to the WAL and makes it visible.
    fn commit(&mut self) -> Result<(), AppendError>;
    /// Drops the batch.
    fn rollback(&mut self);
}

/// Something that hands out appenders (the TSDB head, a remote-write fan-out, a test
/// recorder), after upstream `storage.Appendable`. Each scrape of each target takes its own
/// appender, fills it and commits once, so appenders must be usable from any thread.
pub trait Appendable: Send + Sync {
    /// A fresh, empty batch.
    fn appender(&self) -> Box<dyn Appender + Send>;
}

/// Iterates a series' samples in increasing timestamp order, decoding lazily.
pub trait SampleIterator: Send {
    /// The next sample, or `None` at the end.
    fn next(&mut self) -> Option<Sample>;
    /// Advances to the first sample with timestamp >= `t` and returns it (the current one
    /// if it already qualifies); `None` when there is none.
    fn seek(&mut self, t: i64) -> Option<Sample> {
        loop {
            let s = self.next()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }
    /// Appends every remaining sample with `mint <= t <= maxt` to `out`, in order: the
    /// bulk form of `seek(mint)` and `next()` that storage can implement by decoding whole
    /// chunks straight into `out`. The iterator is spent afterwards.
    fn read_range(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let mut cur = self.seek(mint);
        while let Some(s) = cur {
            if s.t > maxt {
                break;
            }
            out.push(s);
            cur = self.next();
        }
    }
    /// Why the iteration ended before the series' last sample (upstream's
    /// `Iterator.Err()`): stored data that could not be decoded. A reader checks it once
    /// `next` or `seek` returned `None` or `read_range` returned, and fails its query
    /// with it instead of answering from a silently shortened series. `None` when the
    /// series ended normally; iterators over data that cannot be damaged keep this
    /// default.
    fn err(&self) -> Option<QueryError> {
        None
    }
}

/// A sample iterator over a vector; used by tests and by small in-memory results.
pub struct VecSampleIterator {
    samples: Vec<Sample>,
    pos: usize,
}

impl VecSampleIterator {
    pub fn new(samples: Vec<Sample>) -> Self {
        VecSampleIterator { samples, pos: 0 }
    }
}

impl SampleIterator for VecSampleIterator {
    fn read_range(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let rest = self.samples.get(self.pos..).unwrap_or_default();
        let lo = rest.partition_point(|s| s.t < mint);
        let hi = rest.partition_point(|s| s.t <= maxt).max(lo);
        out.extend_from_slice(&rest[lo..hi]);
        self.pos = self.samples.len();
    }
    fn next(&mut self) -> Option<Sample> {
        let s = self.samples.get(self.pos).copied();
        self.pos += 1;
        s
    }
}

/// One series selected by a querier: its labels and a lazy iterator over its samples in
/// the querier's time range.
pub struct Series {
    pub labels: Labels,
    pub samples: Box<dyn SampleIterator>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish()
    }
}

/// Read access to a fixed time range `[mint, maxt]` (milliseconds, inclusive).
pub trait Querier: Send {
    /// Series matching all `matchers`, sorted by labels, with samples in the range.
    /// At least one matcher must not match the empty string, as in Prometheus.
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError>;
    /// Label names present on series matching `matchers` (all series when empty), sorted.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError>;
    /// Values of label `name` on series matching `matchers` (all when empty), sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError>;
}

/// Something that can open queriers (the TSDB, a remote endpoint).
pub trait Queryable: Send + Sync {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, QueryError>;
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("bad matchers: {0}")]
    BadMatchers(String),
    #[error("storage error: {0}")]
    Storage(String),
    /// A persisted block could not be read: its index or chunks are damaged or
    /// unreadable. `series` names the series (its labels) when the damage is in one
    /// series' data; the block's own error (with file and offset) is the `source()`.
    #[error(
        "storage error: block {block}{}: {source}",
        series.as_ref().map(|s| format!(", series {s}")).unwrap_or_default()
    )]
    Block {
        block: String,
        series: Option<String>,
        #[source]
        source: SharedError,
    },
}

impl QueryError {
    /// A failure reading block `block` (for the series `series`, when known).
    pub fn block(
        block: impl Into<String>,
        series: Option<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> QueryError {
        QueryError::Block {
            block: block.into(),
            series,
            source: SharedError(std::sync::Arc::new(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_error_names_block_and_series_and_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk");
        let e = QueryError::block("01ABC", Some("{a=\"1\"}".into()), io);
        assert_eq!(
            e.to_string(),
            "storage error: block 01ABC, series {a=\"1\"}: bad chunk"
        );
        let cause = std::error::Error::source(&e).expect("the block error is the source");
        assert_eq!(cause.to_string(), "bad chunk");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad index");
        let e = QueryError::block("01ABC", None, io);
        assert_eq!(e.to_string(), "storage error: block 01ABC: bad index");
    }

    #[test]
    fn storage_error_keeps_its_cause_and_compares_by_text() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = AppendError::storage_caused_by("writing the WAL", io);
        assert_eq!(e.to_string(), "storage error: writing the WAL: disk full");
        let cause = std::error::Error::source(&e).expect("the io error is the source");
        assert_eq!(cause.to_string(), "disk full");
        assert_eq!(e.clone(), e);
        assert_ne!(e, AppendError::storage("writing the WAL: disk full"));
        assert!(std::error::Error::source(&AppendError::storage("full")).is_none());
    }
}
