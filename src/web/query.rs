//! The query endpoints of the Prometheus API v1: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`,
//! `/api/v1/query_exemplars`, `/api/v1/format_query` and `/api/v1/parse_query`, GET and form
//! POST alike.
//!
//! Mirrors upstream `web/api/v1/api.go` (`query`, `queryRange`, `series`, `labelNames`,
//! `labelValues`, `formatQuery`, `parseTimeParam`, `parseDuration`) with Prometheus 2.42's
//! messages, status codes and bytes (see [`super::json`]). Evaluation and storage reads are
//! CPU work and run on tokio's blocking pool; when the client goes away the handler future
//! is dropped and a guard cancels the query's [`CancelToken`]. A query whose previous
//! evaluation took under half a millisecond runs inline instead (see `CostMemo`): the
//! handoff to the pool would cost more than the evaluation.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::api::{ApiError, ErrorType};
use super::json;
use super::status::request_params;
use super::{QueryBackend, WebState};
use crate::model::labels::is_valid_legacy_label_name;
use crate::model::time::{now_ms, parse_duration, parse_time};
use crate::model::{Labels, Matcher};
use crate::promql::engine::{
    Annotations, CancelToken, EngineOptions, ErrorKind, EvalError, QueryResult, Value,
};
use crate::promql::{parse_expr, prettify, Expr};

/// Most points a range query may return per series (upstream's 11,000).
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Earliest time the metadata endpoints use when `start` is missing (halved so that
/// lookback arithmetic cannot overflow).
const MIN_TIME: i64 = i64::MIN / 2;
/// Latest time the metadata endpoints use when `end` is missing.
const MAX_TIME: i64 = i64::MAX / 2;

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
}

/// Request parameters, first value wins (Go's `r.FormValue`).
struct Params(Vec<(String, String)>);

impl Params {
    fn new(q: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiError> {
        request_params(q, headers, body).map(Params)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, or `None` when missing or empty (as Go treats `FormValue` == "").
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn invalid_param(name: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::bad_data(format!("invalid parameter \"{name}\": {err}"))
}

/// Upstream `parseTimeParam`: the default when missing, else a time with the
/// "Invalid time value" wording inside the invalid-parameter error.
fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.non_empty(name) {
        None => Ok(default),
        Some(v) => parse_time(v)
            .map_err(|e| invalid_param(name, format!("Invalid time value for '{name}': {e}"))),
    }
}

/// Upstream `parseDuration`: float seconds or a Prometheus duration; milliseconds.
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse \"{s}\" to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms as i64);
    }
    parse_duration(s).map_err(|_| format!("cannot parse \"{s}\" to a valid duration"))
}

/// Upstream 3.x `parseLimitParam`: 0 (no limit) when missing.
fn limit_param(p: &Params) -> Result<usize, ApiError> {
    match p.non_empty("limit") {
        None => Ok(0),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n < 0 => Err(invalid_param("limit", "limit must be non-negative")),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => Err(invalid_param(
                "limit",
                format!("strconv.Atoi: parsing \"{v}\": invalid syntax"),
            )),
        },
    }
}

/// The options for one query: the engine's, with a shorter `timeout` parameter applied.
fn query_options(backend: &dyn QueryBackend, p: &Params) -> Result<EngineOptions, ApiError> {
    let mut opts = backend.engine_options();
    if let Some(t) = p.non_empty("timeout") {
        let ms = parse_duration_param(t).map_err(|e| invalid_param("timeout", e))?;
        let d = std::time::Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0));
        if d < opts.timeout {
            opts.timeout = d;
        }
    }
    // Upstream 3.x: a per-query lookback delta.
    if let Some(l) = p.non_empty("lookback_delta") {
        let ms = parse_duration_param(l).map_err(|e| invalid_param("lookback_delta", e))?;
        if ms > 0 {
            opts.lookback_delta = std::time::Duration::from_millis(ms as u64);
        }
    }
    Ok(opts)
}

fn backend(s: &WebState) -> Result<Arc<dyn QueryBackend>, ApiError> {
    s.query.clone().ok_or_else(|| {
        ApiError::new(
            ErrorType::Unavailable,
            "the query engine is not available in this process",
        )
    })
}

/// Maps an evaluation error to the API error class as upstream `returnAPIError` does.
pub fn eval_error(e: EvalError) -> ApiError {
    let kind = match e.kind() {
        ErrorKind::BadData => ErrorType::BadData,
        ErrorKind::Execution => ErrorType::Execution,
        ErrorKind::Timeout => ErrorType::Timeout,
        ErrorKind::Canceled => ErrorType::Canceled,
        ErrorKind::Storage => ErrorType::Internal,
    };
    ApiError::new(kind, e.to_string())
}

/// A query result as its value and the API's `warnings`/`infos`.
pub fn split_result(r: QueryResult) -> (Value, Annotations) {
    (
        r.value,
        Annotations {
            warnings: r.warnings,
            infos: r.infos,
        },
    )
}

/// Cancels the query when the handler future is dropped (client gone, server stopping).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `f` on the blocking pool with a token that is cancelled if this future is dropped.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce(CancelToken) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    run_blocking_with(CancelToken::new(), f).await
}

/// [`run_blocking`] with a given token (a [`QuerySlot`]'s, which shutdown also cancels).
async fn run_blocking_with<T: Send + 'static>(
    token: CancelToken,
    f: impl FnOnce(CancelToken) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _guard = CancelOnDrop(token.clone());
    tokio::task::spawn_blocking(move || f(token))
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
}

/// Bounds how many PromQL evaluations run at once (`--query.max-concurrency`), as
/// upstream's active query tracker does (`promql.ActiveQueryTracker`, whose slots gate
/// `Engine.exec`), and cancels them all when the server stops.
///
/// A query beyond the limit waits in a FIFO queue; its wait counts against its timeout
/// (upstream starts the timeout's context before queueing), so a query that waits the
/// whole timeout fails with upstream's "query timed out in query queue" and one that
/// gets a slot late evaluates with what is left. Each evaluation holds its slot until it
/// returns, even after its client went away (it is cancelled, and stops at its next
/// check), so the limit counts the evaluations really running. With `max_samples` per
/// query, the slots bound the samples all queries hold to `max × max_samples`.
///
/// [`QueryGate::close`] (on SIGTERM) cancels the running evaluations and fails queued and
/// later queries with "query was canceled in query queue", so a graceful shutdown does not
/// wait for long queries to finish.
#[derive(Debug)]
pub struct QueryGate {
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
    queued: std::sync::atomic::AtomicUsize,
    running: Arc<Running>,
}

/// The cancellation tokens of the evaluations holding a slot, by slot id.
#[derive(Debug, Default)]
struct Running {
    tokens: std::sync::Mutex<RunningTokens>,
}

#[derive(Debug, Default)]
struct RunningTokens {
    closed: bool,
    next_id: u64,
    by_id: std::collections::HashMap<u64, CancelToken>,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunningTokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A query's slot in the [`QueryGate`] and the token that cancels its evaluation;
/// the slot is released when dropped.
pub struct QuerySlot {
    token: CancelToken,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    registered: Option<(Arc<Running>, u64)>,
}

impl QuerySlot {
    /// A slot outside any gate (no limit).
    fn unlimited() -> QuerySlot {
        QuerySlot {
            token: CancelToken::new(),
            _permit: None,
            registered: None,
        }
    }
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        if let Some((running, id)) = self.registered.take() {
            running.lock().by_id.remove(&id);
        }
    }
}

impl QueryGate {
    /// A gate letting `max` (at least 1) evaluations run at once.
    pub fn new(max: usize) -> QueryGate {
        let max = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        QueryGate {
            slots: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
            queued: Default::default(),
            running: Default::default(),
        }
    }

    /// The limit (`prometheus_engine_queries_concurrent_max` upstream).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Evaluations holding a slot now.
    pub fn running(&self) -> usize {
        self.running.lock().by_id.len()
    }

    /// Queries waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes the gate's gauges for `/metrics` (upstream's `prometheus_engine_queries`
    /// and `prometheus_engine_queries_concurrent_max`, as `promtui_*`).
    pub fn write_metrics(&self, w: &mut crate::exposition::MetricsWriter) {
        w.single(
            "promtui_engine_queries",
            "gauge",
            "The current number of queries being executed or waiting.",
            (self.running() + self.queued()) as f64,
        );
        w.single(
            "promtui_engine_queries_concurrent_max",
            "gauge",
            "The max number of concurrent queries.",
            self.max() as f64,
        );
    }

    /// Cancels every running evaluation and refuses queued and later queries.
    pub fn close(&self) {
        let mut r = self.running.lock();
        r.closed = true;
        for t in r.by_id.values() {
            t.cancel();
        }
        self.slots.close();
    }

    /// Waits for a slot for at most `timeout`; returns it with the part of `timeout` left.
    pub async fn enter(
        &self,
        timeout: std::time::Duration,
    ) -> Result<(QuerySlot, std::time::Duration), EvalError> {
        let started = std::time::Instant::now();
        let mut left = timeout;
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => {
                return Err(EvalError::Canceled("query queue"))
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.queued
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Decrements the count also when the request is dropped while it waits.
                struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);
                impl Drop for Queued<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let _queued = Queued(&self.queued);
                match tokio::time::timeout(timeout, self.slots.clone().acquire_owned()).await {
                    Ok(Ok(p)) => {
                        left = timeout.saturating_sub(started.elapsed());
                        p
                    }
                    // Closed: the server is stopping.
                    Ok(Err(_)) => return Err(EvalError::Canceled("query queue")),
                    Err(_) => return Err(EvalError::Timeout("query queue")),
                }
            }
        };
        if left.is_zero() {
            return Err(EvalError::Timeout("query queue"));
        }
        let token = CancelToken::new();
        let id = {
            let mut r = self.running.lock();
            if r.closed {
                return Err(EvalError::Canceled("query queue"));
            }
            let id = r.next_id;
            r.next_id += 1;
            r.by_id.insert(id, token.clone());
            id
        };
        let slot = QuerySlot {
            token,
            _permit: Some(permit),
            registered: Some((self.running.clone(), id)),
        };
        Ok((slot, left))
    }
}

/// Takes a slot of the backend's [`QueryGate`] (an unlimited one without a gate) and
/// shortens `opts.timeout` by the time spent waiting for it.
async fn enter_gate(
    backend: &dyn QueryBackend,
    opts: &mut EngineOptions,
) -> Result<QuerySlot, ApiError> {
    match backend.query_gate() {
        None => Ok(QuerySlot::unlimited()),
        Some(gate) => {
            let (slot, left) = gate.enter(opts.timeout).await.map_err(eval_error)?;
            opts.timeout = left;
            Ok(slot)
        }
    }
}

/// Evaluations that took at most this long last time run inline on the request's worker
/// thread next time.
const INLINE_MAX: std::time::Duration = std::time::Duration::from_micros(500);

/// Query shapes remembered by [`CostMemo`]; the memo starts over when full.
const COST_MEMO_ENTRIES: usize = 4096;

/// How long each recently seen query shape (text, and step count and width) took to evaluate.
///
/// Handing an evaluation to the blocking pool and its result back costs two thread
/// wake-ups, tens of microseconds on a busy machine: more than evaluating a small query
/// does. Dashboards repeat the same queries, so a query whose last evaluation was short
/// runs inline on the worker thread that read the request, like a Go handler's goroutine
/// does upstream; every other query (and any query seen for the first time) runs on the
/// blocking pool, where it can be cancelled when the client goes away. A query that has
/// grown expensive holds one worker thread once and goes back to the pool.
struct CostMemo(std::sync::Mutex<std::collections::HashMap<u64, std::time::Duration>>);

static COST_MEMO: std::sync::LazyLock<CostMemo> =
    std::sync::LazyLock::new(|| CostMemo(std::sync::Mutex::new(Default::default())));

impl CostMemo {
    /// A query's shape: its text, and for range queries the step count and step width
    /// (the same text over 241 steps of 15 s or of 1 h reads very different amounts).
    fn key(text: &str, steps: i64, step_ms: i64) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        steps.hash(&mut h);
        step_ms.hash(&mut h);
        h.finish()
    }

    fn is_cheap(&self, key: u64) -> bool {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&key).is_some_and(|d| *d <= INLINE_MAX)
    }

    fn record(&self, key: u64, took: std::time::Duration) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= COST_MEMO_ENTRIES && !m.contains_key(&key) {
            m.clear();
        }
        m.insert(key, took);
    }
}

/// Runs an evaluation inline when [`CostMemo`] says the same query was cheap last time,
/// else on the blocking pool; either way records how long it took.
/// `slot` (from [`enter_gate`]) is held until the evaluation returns.
async fn run_evaluation<T: Send + 'static>(
    key: u64,
    slot: QuerySlot,
    f: impl FnOnce(CancelToken) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let memo = &*COST_MEMO;
    if memo.is_cheap(key) {
        let started = std::time::Instant::now();
        let r = f(slot.token.clone());
        memo.record(key, started.elapsed());
        drop(slot);
        return r;
    }
    run_blocking_with(slot.token.clone(), move |cancel| {
        let started = std::time::Instant::now();
        let r = f(cancel);
        COST_MEMO.record(key, started.elapsed());
        drop(slot);
        r
    })
    .await
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Truncates vector/matrix results to `limit` series with upstream's warning.
fn apply_limit(value: &mut Value, limit: usize, ann: &mut Annotations) {
    if limit == 0 {
        return;
    }
    let truncated = match value {
        Value::Vector(v) if v.len() > limit => {
            v.truncate(limit);
            true
        }
        Value::Matrix(m) if m.len() > limit => {
            m.truncate(limit);
            true
        }
        _ => false,
    };
    if truncated {
        ann.warnings.push("results truncated due to limit".into());
    }
}

fn parse_query_param(p: &Params) -> Result<Expr, ApiError> {
    let text = p.get("query").unwrap_or("");
    parse_expr(text).map_err(|e| invalid_param("query", e))
}

async fn query(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match query_inner(&s, p).await {
        Ok(body) => json_response(body),
        Err(e) => e.into_response(),
    }
}

async fn query_inner(s: &WebState, p: Params) -> Result<String, ApiError> {
    let backend = backend(s)?;
    let limit = limit_param(&p)?;
    let mut opts = query_options(backend.as_ref(), &p)?;
    let stats = StatsRequest::new(&p, &mut opts);
    let t = time_param(&p, "time", now_ms())?;
    let prepared = std::time::Instant::now();
    let expr = parse_query_param(&p)?;
    let preparation = prepared.elapsed();
    let key = CostMemo::key(p.get("query").unwrap_or(""), 0, 0);
    let queued = std::time::Instant::now();
    let slot = enter_gate(backend.as_ref(), &mut opts).await?;
    let queue = queued.elapsed();
    run_evaluation(key, slot, move |cancel| {
        let engine = crate::promql::engine::Engine::new(opts);
        let storage = backend.queryable();
        let started = std::time::Instant::now();
        let r = engine
            .instant_query_with_cancel(storage.as_ref(), &expr, t, &cancel)
            .map_err(eval_error)?;
        let timings = Timings::new(queue, preparation, started.elapsed());
        let sample_stats = r.stats.clone();
        let (mut value, mut ann) = split_result(r);
        apply_limit(&mut value, limit, &mut ann);
        Ok(stats.respond(&value, &ann, &sample_stats, &timings))
    })
    .await
}

/// What `stats` asked for: upstream includes its `stats` object when the parameter is
/// not empty, with per-step samples only for `stats=all` on an engine with per-step
/// statistics enabled.
#[derive(Clone, Copy)]
struct StatsRequest {
    wanted: bool,
}

impl StatsRequest {
    fn new(p: &Params, opts: &mut EngineOptions) -> StatsRequest {
        let v = p.get("stats").unwrap_or("");
        opts.per_step_stats &= v == "all";
        StatsRequest {
            wanted: !v.is_empty(),
        }
    }

    /// The success body, with `data.stats` when asked for.
    fn respond(
        self,
        value: &Value,
        ann: &Annotations,
        samples: &crate::promql::engine::SampleStats,
        timings: &Timings,
    ) -> String {
        if !self.wanted {
            return json::query_success(value, ann);
        }
        let mut data = String::new();
        json::write_query_data(&mut data, value);
        // Reopen the data object to add `stats` after `result`, as upstream orders it.
        data.pop();
        data.push_str(",\"stats\":");
        write_stats(&mut data, samples, timings);
        data.push('}');
        json::success_envelope(&data, ann)
    }
}

/// Upstream's query timings (`util/stats` `queryTimings`), in seconds.
struct Timings {
    queue: f64,
    preparation: f64,
    inner: f64,
}

impl Timings {
    fn new(
        queue: std::time::Duration,
        preparation: std::time::Duration,
        inner: std::time::Duration,
    ) -> Timings {
        Timings {
            queue: queue.as_secs_f64(),
            preparation: preparation.as_secs_f64(),
            inner: inner.as_secs_f64(),
        }
    }
}

/// Writes upstream's `stats` object: `timings`, then `samples` with
/// `totalQueryableSamplesPerStep` (`[seconds, samples]` pairs) when recorded.
fn write_stats(out: &mut String, samples: &crate::promql::engine::SampleStats, t: &Timings) {
    let num = json::format_go_json_number;
    // The result is sorted inside the evaluation; its share is not measured apart.
    let sort = 0.0;
    let eval_total = t.preparation + t.inner + sort;
    out.push_str("{\"timings\":{\"evalTotalTime\":");
    out.push_str(&num(eval_total));
    out.push_str(",\"resultSortTime\":");
    out.push_str(&num(sort));
    out.push_str(",\"queryPreparationTime\":");
    out.push_str(&num(t.preparation));
    out.push_str(",\"innerEvalTime\":");
    out.push_str(&num(t.inner));
    out.push_str(",\"execQueueTime\":");
    out.push_str(&num(t.queue));
    out.push_str(",\"execTotalTime\":");
    out.push_str(&num(t.queue + eval_total));
    out.push_str("},\"samples\":{");
    if let Some(steps) = &samples.per_step {
        out.push_str("\"totalQueryableSamplesPerStep\":[");
        for (i, (ts, n)) in steps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&num(*ts as f64 / 1000.0));
            out.push(',');
            out.push_str(&n.to_string());
            out.push(']');
        }
        out.push_str("],");
    }
    out.push_str("\"totalQueryableSamples\":");
    out.push_str(&samples.total_queryable_samples.to_string());
    out.push_str(",\"peakSamples\":");
    out.push_str(&samples.peak_samples.to_string());
    out.push_str("}}");
}

async fn query_range(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match query_range_inner(&s, p).await {
        Ok(body) => json_response(body),
        Err(e) => e.into_response(),
    }
}

/// Parses and checks `start`, `end` and `step` as upstream `queryRange` does, in its order.
pub fn range_params(start: &str, end: &str, step: &str) -> Result<(i64, i64, i64), ApiError> {
    let start = parse_time(start).map_err(|e| invalid_param("start", e))?;
    let end = parse_time(end).map_err(|e| invalid_param("end", e))?;
    if end < start {
        return Err(invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step = parse_duration_param(step).map_err(|e| invalid_param("step", e))?;
    if step <= 0 {
        return Err(invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // For safety, limit the number of returned points per timeseries.
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok((start, end, step))
}

async fn query_range_inner(s: &WebState, p: Params) -> Result<String, ApiError> {
    let backend = backend(s)?;
    let limit = limit_param(&p)?;
    let (start, end, step) = range_params(
        p.get("start").unwrap_or(""),
        p.get("end").unwrap_or(""),
        p.get("step").unwrap_or(""),
    )?;
    let mut opts = query_options(backend.as_ref(), &p)?;
    let stats = StatsRequest::new(&p, &mut opts);
    let prepared = std::time::Instant::now();
    let expr = parse_query_param(&p)?;
    let preparation = prepared.elapsed();
    let key = CostMemo::key(p.get("query").unwrap_or(""), (end - start) / step + 1, step);
    let queued = std::time::Instant::now();
    let slot = enter_gate(backend.as_ref(), &mut opts).await?;
    let queue = queued.elapsed();
    run_evaluation(key, slot, move |cancel| {
        let engine = crate::promql::engine::Engine::new(opts);
        let storage = backend.queryable();
        let started = std::time::Instant::now();
        let r = engine
            .range_query_with_cancel(storage.as_ref(), &expr, start, end, step, &cancel)
            .map_err(eval_error)?;
        let timings = Timings::new(queue, preparation, started.elapsed());
        let sample_stats = r.stats.clone();
        let (mut value, mut ann) = split_result(r);
        apply_limit(&mut value, limit, &mut ann);
        Ok(stats.respond(&value, &ann, &sample_stats, &timings))
    })
    .await
}

/// Parses one `match[]` selector (upstream `parser.ParseMetricSelector`) into matchers,
/// requiring one that does not match the empty string.
fn parse_match(s: &str) -> Result<Vec<Matcher>, ApiError> {
    // Upstream parses selectors without the expression parser's empty-matcher check and
    // reports it afterwards in its own words.
    let empty = || {
        invalid_param(
            "match[]",
            "match[] must contain at least one non-empty matcher",
        )
    };
    let e = parse_expr(s).map_err(|e| {
        if e.message == "vector selector must contain at least one non-empty matcher" {
            empty()
        } else {
            invalid_param("match[]", e)
        }
    })?;
    let Ok(vs) = e.into_vector_selector() else {
        return Err(invalid_param(
            "match[]",
            format!("1:1: parse error: expected a series selector, got {s:?}"),
        ));
    };
    if vs.matchers.iter().all(|m| m.matches_empty()) {
        return Err(empty());
    }
    Ok(vs.matchers)
}

fn parse_matches(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    p.all("match[]").into_iter().map(parse_match).collect()
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Internal, e.to_string())
}

/// Label sets of the series matching any of `sets` with a sample in `[start, end]`,
/// sorted and deduplicated.
pub fn select_series(
    backend: &dyn QueryBackend,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<Labels>, ApiError> {
    let querier = backend
        .queryable()
        .querier(start, end)
        .map_err(storage_error)?;
    let mut out: BTreeSet<Labels> = BTreeSet::new();
    for set in sets {
        for mut s in querier.select(set).map_err(storage_error)? {
            if s.samples.next().is_some() {
                out.insert(s.labels);
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn truncate_with_warning<T>(v: &mut Vec<T>, limit: usize, ann: &mut Annotations) {
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
        ann.warnings.push("results truncated due to limit".into());
    }
}

async fn series(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let run = async {
        let backend = backend(&s)?;
        if p.all("match[]").is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let start = time_param(&p, "start", MIN_TIME)?;
        let end = time_param(&p, "end", MAX_TIME)?;
        let limit = limit_param(&p)?;
        let sets = parse_matches(&p)?;
        run_blocking(move |_| {
            let mut found = select_series(backend.as_ref(), &sets, start, end)?;
            let mut ann = Annotations::default();
            truncate_with_warning(&mut found, limit, &mut ann);
            let mut data = String::from("[");
            for (i, l) in found.iter().enumerate() {
                if i > 0 {
                    data.push(',');
                }
                json::write_labels(&mut data, l);
            }
            data.push(']');
            Ok(json::success_envelope(&data, &ann))
        })
        .await
    };
    match run.await {
        Ok(body) => json_response(body),
        Err(e) => e.into_response(),
    }
}

/// Names (`name == None`) or values of one label over the series matching `sets` (all
/// series when empty) in `[start, end]`, sorted.
fn label_names_or_values(
    backend: &dyn QueryBackend,
    name: Option<&str>,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<String>, ApiError> {
    let querier = backend
        .queryable()
        .querier(start, end)
        .map_err(storage_error)?;
    if sets.is_empty() {
        return match name {
            None => querier.label_names(&[]),
            Some(n) => querier.label_values(n, &[]),
        }
        .map_err(storage_error);
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    for set in sets {
        let got = match name {
            None => querier.label_names(set),
            Some(n) => querier.label_values(n, set),
        }
        .map_err(storage_error)?;
        out.extend(got);
    }
    Ok(out.into_iter().collect())
}

async fn names_or_values(
    s: &WebState,
    p: Params,
    name: Option<String>,
) -> Result<String, ApiError> {
    let backend = backend(s)?;
    if let Some(n) = &name {
        if !is_valid_legacy_label_name(n) {
            return Err(ApiError::bad_data(format!("invalid label name: \"{n}\"")));
        }
    }
    let start = time_param(&p, "start", MIN_TIME)?;
    let end = time_param(&p, "end", MAX_TIME)?;
    let limit = limit_param(&p)?;
    let sets = parse_matches(&p)?;
    run_blocking(move |_| {
        let mut items =
            label_names_or_values(backend.as_ref(), name.as_deref(), &sets, start, end)?;
        let mut ann = Annotations::default();
        truncate_with_warning(&mut items, limit, &mut ann);
        Ok(json::success_envelope(&json::string_array(&items), &ann))
    })
    .await
}

async fn labels(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match names_or_values(&s, p, None).await {
        Ok(body) => json_response(body),
        Err(e) => e.into_response(),
    }
}

async fn label_values(
    State(s): State<Arc<WebState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &[]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match names_or_values(&s, p, Some(name)).await {
        Ok(body) => json_response(body),
        Err(e) => e.into_response(),
    }
}

/// `/api/v1/query_exemplars`: the parameters are checked as upstream does, but promtui
/// stores no exemplars yet, so the answer is always the empty list.
async fn query_exemplars(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let checked = time_param(&p, "start", MIN_TIME)
        .and_then(|_| time_param(&p, "end", MAX_TIME))
        .and_then(|_| {
            parse_expr(p.get("query").unwrap_or("")).map_err(|e| ApiError::bad_data(e.to_string()))
        });
    match checked {
        Ok(_) => json_response(json::success_envelope("[]", &Annotations::default())),
        Err(e) => e.into_response(),
    }
}

async fn format_query(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match parse_query_param(&p) {
        Ok(e) => {
            let mut data = String::new();
            json::write_str(&mut data, &prettify(&e));
            json_response(json::success_envelope(&data, &Annotations::default()))
        }
        Err(e) => e.into_response(),
    }
}

async fn parse_query(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let p = match Params::new(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match parse_query_param(&p) {
        Ok(e) => {
            let mut data = String::new();
            super::ast_json::write_ast(&mut data, &e);
            json_response(json::success_envelope(&data, &Annotations::default()))
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_handler_future_cancels_the_query() {
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = run_blocking(move |token| {
            let start = std::time::Instant::now();
            while !token.is_cancelled() && start.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let _ = tx.send(token.is_cancelled());
            Ok(())
        });
        // The timeout drops the unfinished future, as hyper does when the client goes away.
        let r = tokio::time::timeout(std::time::Duration::from_millis(50), fut).await;
        assert!(r.is_err());
        let cancelled =
            tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(5)))
                .await
                .unwrap();
        assert_eq!(cancelled, Ok(true));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_that_were_cheap_last_time_run_inline() {
        let key = CostMemo::key("cheap_query_marker", 7, 15_000);
        let on_thread = |_: CancelToken| Ok(std::thread::current().id());
        // First sight: the blocking pool, whose threads are not this worker.
        let here = std::thread::current().id();
        let there = run_evaluation(key, QuerySlot::unlimited(), on_thread)
            .await
            .unwrap();
        assert_ne!(here, there);
        // Recorded as cheap: the same thread that polls the handler evaluates it.
        let here = std::thread::current().id();
        let there = run_evaluation(key, QuerySlot::unlimited(), on_thread)
            .await
            .unwrap();
        assert_eq!(here, there);
        // An evaluation that took long goes back to the pool.
        COST_MEMO.record(key, INLINE_MAX * 2);
        let here = std::thread::current().id();
        let there = run_evaluation(key, QuerySlot::unlimited(), on_thread)
            .await
            .unwrap();
        assert_ne!(here, there);
        // Another step count or width is another shape.
        COST_MEMO.record(key, std::time::Duration::ZERO);
        assert!(COST_MEMO.is_cheap(key));
        assert!(!COST_MEMO.is_cheap(CostMemo::key("cheap_query_marker", 8, 15_000)));
        assert!(!COST_MEMO.is_cheap(CostMemo::key("cheap_query_marker", 7, 3_600_000)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_queues_beyond_its_limit_and_times_out_in_the_queue() {
        use std::time::Duration;
        let gate = Arc::new(QueryGate::new(2));
        let (a, left) = gate.enter(Duration::from_secs(10)).await.unwrap();
        assert_eq!(left, Duration::from_secs(10));
        let (_b, _) = gate.enter(Duration::from_secs(10)).await.unwrap();
        assert_eq!((gate.running(), gate.queued()), (2, 0));
        // A third waits; its whole timeout passes in the queue.
        let err = gate.enter(Duration::from_millis(100)).await.err().unwrap();
        assert_eq!(err, EvalError::Timeout("query queue"));
        assert_eq!(err.to_string(), "query timed out in query queue");
        assert_eq!(eval_error(err).kind, ErrorType::Timeout);
        assert_eq!(gate.queued(), 0);
        // A waiting query gets the slot released first, with its wait taken off its timeout.
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.enter(Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(gate.queued(), 1);
        drop(a);
        let (_c, left) = waiter.await.unwrap().unwrap();
        assert!(left <= Duration::from_millis(9_800), "{left:?}");
        assert_eq!((gate.running(), gate.queued()), (2, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_the_gate_cancels_running_and_queued_queries() {
        use std::time::Duration;
        let gate = Arc::new(QueryGate::new(1));
        let (slot, _) = gate.enter(Duration::from_secs(10)).await.unwrap();
        let token = slot.token.clone();
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.enter(Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!token.is_cancelled());
        gate.close();
        assert!(token.is_cancelled());
        let err = queued.await.unwrap().err().unwrap();
        assert_eq!(err.to_string(), "query was canceled in query queue");
        let err = gate.enter(Duration::from_secs(1)).await.err().unwrap();
        assert_eq!(err, EvalError::Canceled("query queue"));
        drop(slot);
        assert_eq!(gate.running(), 0);
    }

    #[test]
    fn the_cost_memo_is_bounded() {
        let memo = CostMemo(std::sync::Mutex::new(Default::default()));
        for i in 0..COST_MEMO_ENTRIES as u64 + 10 {
            memo.record(i, std::time::Duration::ZERO);
        }
        let len = memo.0.lock().unwrap().len();
        assert!(len <= COST_MEMO_ENTRIES, "{len}");
        assert!(memo.is_cheap(COST_MEMO_ENTRIES as u64 + 9));
    }

    #[test]
    fn durations_accept_floats_and_prometheus_notation() {
        assert_eq!(parse_duration_param("15"), Ok(15_000));
        assert_eq!(parse_duration_param("0.5"), Ok(500));
        assert_eq!(parse_duration_param("1m30s"), Ok(90_000));
        assert_eq!(
            parse_duration_param("0.5s"),
            Err("cannot parse \"0.5s\" to a valid duration".into())
        );
        assert!(parse_duration_param("1e300")
            .unwrap_err()
            .contains("overflows"));
    }

    #[test]
    fn range_params_errors_in_upstream_order() {
        let msg = |r: Result<(i64, i64, i64), ApiError>| r.unwrap_err().message;
        assert_eq!(
            msg(range_params("10", "0", "1")),
            "invalid parameter \"end\": end timestamp must not be before start time"
        );
        assert_eq!(
            msg(range_params("0", "10", "0")),
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        assert_eq!(
            msg(range_params("0", "100000", "1")),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        assert_eq!(
            msg(range_params("", "1", "1")),
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
        );
        assert_eq!(
            range_params("0", "11000", "1").unwrap(),
            (0, 11_000_000, 1000)
        );
    }

    #[test]
    fn match_needs_a_non_empty_matcher() {
        assert!(parse_match("up").is_ok());
        assert_eq!(
            parse_match("{a=~\".*\"}").unwrap_err().message,
            "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"
        );
        assert_eq!(
            parse_match("m{").unwrap_err().message,
            "invalid parameter \"match[]\": 1:3: parse error: unexpected end of input inside braces"
        );
        assert!(parse_match("rate(x[5m])").is_err());
    }
}
