//! The PromQL evaluator: runs parsed expressions against a [`Queryable`] as instant or range
//! queries, with upstream Prometheus 3.x semantics.
//!
//! Mirrors upstream `promql/engine.go` (`Engine`, `evaluator`, `rangeEval`), `functions.go`,
//! `quantile.go` and `util/annotations`. Layout: [`eval`] walks the tree and owns selectors,
//! subqueries and step bookkeeping; [`aggregations`] and [`binary`] implement the operators;
//! `functions/` holds one file per function family; [`quantile`] the bucket maths.
//!
//! Every expression producing an instant vector is evaluated for all steps of the query at
//! once (upstream's design): selectors are read once over the whole range (plus lookback,
//! range and offset), then each series is walked with a sliding window, so a range query
//! costs O(samples + series × steps), not O(series × steps × range).

pub(crate) mod aggregations;
pub(crate) mod binary;
pub(crate) mod eval;
pub(crate) mod functions;
pub(crate) mod quantile;
pub mod value;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::storage::{QueryError, Queryable};

use super::ast::Expr;
use super::error::ParseError;
use super::parser::parse_expr;

pub use value::{FPoint, Matrix, Sample, Series, Value, Vector};

/// Tunables of an [`Engine`] (upstream `EngineOpts`).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (default 5m).
    pub lookback_delta: Duration,
    /// Upper bound on samples held in memory by one query (default 50 million).
    pub max_samples: usize,
    /// Wall-clock limit for one query (default 2m).
    pub timeout: Duration,
    /// Step of subqueries written without one (`x[1h:]`); upstream uses the global
    /// evaluation interval, 1m by default.
    pub default_eval_interval: Duration,
    /// Upstream's experimental `type-and-unit-labels` feature: `__type__` and `__unit__`
    /// labels are removed together with `__name__` wherever the name is dropped.
    pub enable_type_and_unit_labels: bool,
    /// Upstream's `promql-per-step-stats` feature: record queryable samples per step.
    pub per_step_stats: bool,
    /// Raw samples a range function (`rate(x[5m])`, `max_over_time(...)`, ...) holds at
    /// once: its selector's series are decoded and evaluated in batches of about this many
    /// samples (at least one series), each released before the next is read, so a query
    /// over days keeps one batch of raw samples in memory rather than all of them
    /// (default 4Mi samples, 64 MiB of points).
    pub range_batch_samples: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_eval_interval: Duration::from_secs(60),
            enable_type_and_unit_labels: false,
            per_step_stats: false,
            range_batch_samples: 4 << 20,
        }
    }
}

/// What kind of failure an [`EvalError`] is; maps to the HTTP API's `errorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query text or parameters are invalid (`bad_data`).
    BadData,
    /// Evaluation failed (`execution`).
    Execution,
    /// The query ran out of time (`timeout`).
    Timeout,
    /// The query was cancelled (`canceled`).
    Canceled,
    /// Reading from storage failed (`internal`).
    Storage,
}

/// Why a query failed. Messages match upstream's so API clients and scripts see the same
/// text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The expression does not parse.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// Invalid query parameters (e.g. a zero step).
    #[error("{0}")]
    BadData(String),
    /// A runtime error with upstream's message.
    #[error("{0}")]
    Execution(String),
    /// The sample limit was hit.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The timeout elapsed.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The cancellation token was set.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// The storage failed.
    #[error("{0}")]
    Storage(#[from] QueryError),
}

impl EvalError {
    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EvalError::Parse(_) | EvalError::BadData(_) => ErrorKind::BadData,
            EvalError::Execution(_) | EvalError::TooManySamples(_) => ErrorKind::Execution,
            EvalError::Timeout(_) => ErrorKind::Timeout,
            EvalError::Canceled(_) => ErrorKind::Canceled,
            EvalError::Storage(_) => ErrorKind::Storage,
        }
    }
}

/// Warnings and infos collected while evaluating (upstream `annotations.Annotations`),
/// each message already prefixed with `PromQL warning: ` or `PromQL info: `, deduplicated,
/// in order of first occurrence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotations {
    /// Warnings: the result may be wrong or incomplete.
    pub warnings: Vec<String>,
    /// Infos: the query may not do what the user meant.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning (text after the `PromQL warning: ` prefix).
    pub fn warn(&mut self, msg: impl AsRef<str>) {
        let m = format!("PromQL warning: {}", msg.as_ref());
        if !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    /// Adds an info (text after the `PromQL info: ` prefix).
    pub fn info(&mut self, msg: impl AsRef<str>) {
        let m = format!("PromQL info: {}", msg.as_ref());
        if !self.infos.contains(&m) {
            self.infos.push(m);
        }
    }
}

/// The outcome of a successful query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// The value: for range queries always a [`Value::Matrix`] sorted by labels.
    pub value: Value,
    /// Warnings (the HTTP API's `warnings`), each prefixed `PromQL warning: `.
    pub warnings: Vec<String>,
    /// Infos (the HTTP API's `infos`), each prefixed `PromQL info: `.
    pub infos: Vec<String>,
    /// Sample statistics (the HTTP API's `stats=all`).
    pub stats: SampleStats,
}

/// Upstream's query sample statistics (`util/stats` `QuerySamples`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Samples read from storage over all steps: one per series and step for an instant
    /// selector, the window's samples for a range selector; a subquery counts through the
    /// windows taken over its output.
    pub total_queryable_samples: i64,
    /// The most samples the evaluation held at once.
    pub peak_samples: usize,
    /// `(step timestamp in ms, samples)` for every step, when
    /// [`EngineOptions::per_step_stats`] is on.
    pub per_step: Option<Vec<(i64, i64)>>,
}

/// A shared cancellation flag: set it from any thread to stop running queries.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, unset token.
    pub fn new() -> Self {
        CancelToken::default()
    }
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// True once [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Something a query can be given: text to parse or an already parsed tree.
pub enum QueryExpr<'a> {
    /// PromQL text.
    Text(&'a str),
    /// A parsed expression.
    Parsed(&'a Expr),
}

impl<'a> From<&'a str> for QueryExpr<'a> {
    fn from(s: &'a str) -> Self {
        QueryExpr::Text(s)
    }
}

impl<'a> From<&'a String> for QueryExpr<'a> {
    fn from(s: &'a String) -> Self {
        QueryExpr::Text(s)
    }
}

impl<'a> From<&'a Expr> for QueryExpr<'a> {
    fn from(e: &'a Expr) -> Self {
        QueryExpr::Parsed(e)
    }
}

/// The PromQL engine: stateless apart from its options; cheap to share.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with the given options.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The options the engine runs with.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at time `t_ms` (upstream `NewInstantQuery` + `Exec`).
    pub fn instant_query<'a>(
        &self,
        q: &dyn Queryable,
        expr: impl Into<QueryExpr<'a>>,
        t_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        self.instant_query_with_cancel(q, expr, t_ms, &CancelToken::new())
    }

    /// [`Engine::instant_query`] with a cancellation token.
    pub fn instant_query_with_cancel<'a>(
        &self,
        q: &dyn Queryable,
        expr: impl Into<QueryExpr<'a>>,
        t_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, EvalError> {
        let parsed;
        let e = match expr.into() {
            QueryExpr::Text(s) => {
                parsed = parse_expr(s)?;
                &parsed
            }
            QueryExpr::Parsed(e) => e,
        };
        self.exec(q, e, t_ms, t_ms, 0, cancel)
    }

    /// Evaluates `expr` at every `step_ms` from `start_ms` to `end_ms` inclusive (upstream
    /// `NewRangeQuery` + `Exec`). The result is a matrix sorted by labels.
    pub fn range_query<'a>(
        &self,
        q: &dyn Queryable,
        expr: impl Into<QueryExpr<'a>>,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        self.range_query_with_cancel(q, expr, start_ms, end_ms, step_ms, &CancelToken::new())
    }

    /// [`Engine::range_query`] with a cancellation token.
    pub fn range_query_with_cancel<'a>(
        &self,
        q: &dyn Queryable,
        expr: impl Into<QueryExpr<'a>>,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, EvalError> {
        if step_ms <= 0 {
            return Err(EvalError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(EvalError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let parsed;
        let e = match expr.into() {
            QueryExpr::Text(s) => {
                parsed = parse_expr(s)?;
                &parsed
            }
            QueryExpr::Parsed(e) => e,
        };
        use super::ast::ValueType;
        let vt = e.value_type();
        if vt != ValueType::Scalar && vt != ValueType::Vector {
            return Err(EvalError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                vt.documented()
            )));
        }
        self.exec(q, e, start_ms, end_ms, step_ms, cancel)
    }

    fn exec(
        &self,
        q: &dyn Queryable,
        e: &Expr,
        start: i64,
        end: i64,
        step: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, EvalError> {
        let limit = eval::TIME_LIMIT;
        if !(-limit..=limit).contains(&start) || !(-limit..=limit).contains(&end) {
            return Err(EvalError::BadData(format!(
                "query time range [{start}, {end}] is out of the supported range"
            )));
        }
        if step > 0 && (end - start) / step >= self.opts.max_samples as i64 {
            return Err(EvalError::TooManySamples("query execution"));
        }
        let deadline = Instant::now().checked_add(self.opts.timeout);
        let mut ev = eval::Evaluator::new(eval::EvalParams {
            queryable: q,
            start,
            end,
            interval: if step == 0 { 1 } else { step },
            query_step: step,
            lookback: duration_ms(self.opts.lookback_delta),
            default_eval_interval: duration_ms(self.opts.default_eval_interval).max(1),
            max_samples: self.opts.max_samples,
            deadline,
            cancel: cancel.clone(),
            type_and_unit_labels: self.opts.enable_type_and_unit_labels,
            range_batch_samples: self.opts.range_batch_samples.max(1),
        });
        let value = ev.run(e, step == 0)?;
        let (counts, peak_samples) = ev.sample_stats();
        let per_step = self.opts.per_step_stats.then(|| {
            let n = if step == 0 {
                1
            } else {
                (end - start) / step + 1
            };
            (0..n)
                .map(|i| {
                    let t = start + i * step.max(1);
                    (t, counts.get(i as usize).copied().unwrap_or(0))
                })
                .collect()
        });
        let stats = SampleStats {
            total_queryable_samples: counts.iter().sum(),
            peak_samples,
            per_step,
        };
        let annos = ev.into_annotations();
        Ok(QueryResult {
            value,
            warnings: annos.warnings,
            infos: annos.infos,
            stats,
        })
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Sample};
    use crate::promql::promqltest::MemStorage;
    use proptest::prelude::*;

    fn storage() -> MemStorage {
        let mut st = MemStorage::new();
        for j in ["a", "b"] {
            st.add(
                Labels::from_pairs(&[("__name__", "m_total"), ("job", j), ("le", "1")]),
                (0..50).map(|i| Sample::new(i * 10_000, i as f64)),
            );
        }
        st
    }

    const TEMPLATES: &[&str] = &[
        "rate(m_total[{d}] offset {o})",
        "m_total @ {t} offset {o}",
        "max_over_time(m_total[{d}:{d}] @ {t})",
        "sum_over_time(rate(m_total[{d}])[{d}:] offset {o})",
        "histogram_quantile({n}, m_total)",
        "topk({n}, m_total) + on(job) group_left bottomk({n}, m_total)",
        "quantile({n}, m_total) and m_total",
        "predict_linear(m_total[{d}], {n})",
        "round(m_total, {n}) / clamp(m_total, {n}, {n})",
        "count_values(\"v\", m_total * {n})",
        "limit_ratio({n}, m_total) or limitk({n}, m_total)",
        "double_exponential_smoothing(m_total[{d}], 0.5, 0.5) ^ {n}",
        "label_replace(m_total, \"x\", \"$1\", \"job\", \"(.*)\") % {n}",
        "absent_over_time(nope[{d}] offset {o})",
        "{n} > bool vector(time()) - scalar(m_total)",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

        /// Whatever the numbers, evaluation returns a result or an error; it never panics
        /// or overflows.
        #[test]
        fn evaluation_never_panics(
            tpl in prop::sample::select(TEMPLATES),
            d in prop::sample::select(vec!["1ms", "10s", "5m", "1h", "1y", "292y"]),
            o in prop::sample::select(vec!["0s", "-5m", "1h", "-292y", "292y"]),
            t in prop::sample::select(vec!["0", "-1e12", "1e15", "9e15", "-9e15", "100.5"]),
            n in prop::sample::select(vec!["0", "-1", "0.5", "3", "1e300", "NaN", "Inf", "-Inf", "1e19"]),
            start in -1_000_000i64..1_000_000,
            steps in 0i64..20,
        ) {
            let q = tpl.replace("{d}", d).replace("{o}", o).replace("{t}", t).replace("{n}", n);
            let e = Engine::default();
            let st = storage();
            let _ = e.instant_query(&st, q.as_str(), start);
            let _ = e.range_query(&st, q.as_str(), start, start + steps * 7_000, 7_000);
        }
    }
}
