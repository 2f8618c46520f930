//! What the console asks of the world: the seam between the console view and the TUI's
//! backends (the in-process engine and a remote Prometheus-compatible API).
//!
//! The console owns this trait; each backend implements it. Every method returns a
//! future so the console can run it off the render loop (spawned on the runtime whose
//! [`tokio::runtime::Handle`] the console is given) and drop it to cancel.

use crate::web::BoxFuture;

/// An error from the backend, worded for the operator (the API's `error` field, a
/// transport failure, a parse error with its position).
pub type SourceError = String;

/// Per-metric series counts, when the backend can tell cheaply.
pub type SeriesCounts = Option<Vec<(String, u64)>>;

/// One series of an instant vector or a range vector; labels sorted by name, the metric
/// name (if any) as `__name__`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    pub labels: Vec<(String, String)>,
    /// `(timestamp ms, value)` in time order. An instant vector has exactly one.
    pub points: Vec<(i64, f64)>,
}

/// The result of a query, in the API's four shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryData {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<SeriesData>),
    Matrix(Vec<SeriesData>),
}

/// A query's answer with the warnings the backend returned beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryAnswer {
    pub data: QueryData,
    pub warnings: Vec<String>,
}

/// An instant query's answer with what it cost, for the query explain pane.
#[derive(Clone, Debug, PartialEq)]
pub struct CostedAnswer {
    pub answer: QueryAnswer,
    /// Samples the evaluation read from storage (`totalQueryableSamples` of the API's
    /// `stats`); `None` when the backend does not report it.
    pub samples: Option<i64>,
    /// Evaluation time: the engine's own when the backend reports it, else the round
    /// trip measured here.
    pub eval: std::time::Duration,
}

/// `/api/v1/metadata` for one metric family.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MetricInfo {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `info`, `stateset`, `unknown`...
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Everything the console reads. Label-index calls take selector matchers in PromQL
/// syntax (`{job="api"}`) and must answer quickly at high cardinality: the local backend
/// reads the in-process label index, the remote one caches API answers.
pub trait ConsoleSource: Send + Sync {
    /// Instant query at `time_ms`.
    fn instant_query(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>>;
    /// Range query over `[start_ms, end_ms]` at `step_ms`.
    fn range_query(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>>;
    /// Label names, restricted to series matching any of `matchers` when given.
    fn label_names(&self, matchers: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>>;
    /// Values of label `name` (`__name__` for metric names), restricted as above.
    fn label_values(
        &self,
        name: String,
        matchers: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>>;
    /// Metadata of every metric family the backend knows.
    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>>;
    /// Number of series per metric name (the metric explorer's counts); `None` when the
    /// backend cannot tell cheaply.
    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>>;
    /// Instant query at `time_ms` with its cost (query explain). The default times
    /// [`ConsoleSource::instant_query`] from the outside and knows no sample count; the
    /// local engine and the remote API (`stats=all`) report both themselves.
    fn instant_query_cost(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let fut = self.instant_query(expr, time_ms);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let answer = fut.await?;
            Ok(CostedAnswer {
                answer,
                samples: None,
                eval: started.elapsed(),
            })
        })
    }
    /// Range query with its cost (query explain in graph mode); the default as for
    /// [`ConsoleSource::instant_query_cost`].
    fn range_query_cost(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let fut = self.range_query(expr, start_ms, end_ms, step_ms);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let answer = fut.await?;
            Ok(CostedAnswer {
                answer,
                samples: None,
                eval: started.elapsed(),
            })
        })
    }
}
