//! `/api/v1/write` (the remote-write receiver, behind `--web.enable-remote-write-receiver`)
//! and `/api/v1/read` (remote read, samples response type), upstream
//! `storage/remote/write_handler.go` and `storage/remote/read_handler.go`.
//!
//! Write: a snappy-compressed `prometheus.WriteRequest` is appended as one batch; a
//! sample the TSDB refuses as out of order, out of bounds or a duplicate with another
//! value fails the whole request with 400 (the sender must not retry it, as upstream),
//! a storage failure with 500; success is 204. Each series' first sample is appended by
//! labels and the rest by the ref it returned, so a request costs one label lookup per
//! series.
//!
//! Read: every query of a `prometheus.ReadRequest` is answered from the local storage;
//! matchers on external labels that equal the configured value are dropped (the local
//! data does not carry them) and the external labels are added to the series returned
//! (the series' own labels win), as upstream does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::exposition::MetricsWriter;
use crate::model::{Labels, MatchOp, Matcher, Sample};
use crate::remote::proto::{
    self, QueryResult, ReadRequest, ReadResponse, TimeSeries, WriteRequest,
};
use crate::storage::{AppendError, Appendable, Queryable};

/// Largest compressed request body accepted.
pub const MAX_COMPRESSED_BYTES: usize = 64 << 20;
/// Largest decompressed request accepted (a snappy bomb is refused before allocating).
pub const MAX_DECOMPRESSED_BYTES: usize = 512 << 20;

/// Counters of the receiver, on `/metrics`.
#[derive(Default, Debug)]
pub struct ReceiverMetrics {
    pub requests: AtomicU64,
    pub samples: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub read_queries: AtomicU64,
}

impl ReceiverMetrics {
    pub fn write(&self, w: &mut MetricsWriter) {
        w.single(
            "promtui_remote_write_receiver_requests_total",
            "counter",
            "Remote-write requests received on /api/v1/write.",
            self.requests.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "promtui_remote_write_receiver_samples_total",
            "counter",
            "Samples appended from remote-write requests.",
            self.samples.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "promtui_remote_write_receiver_rejected_requests_total",
            "counter",
            "Remote-write requests refused (bad body or samples the TSDB refused).",
            self.rejected_requests.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "prometheus_api_remote_read_queries",
            "counter",
            "Remote read queries answered on /api/v1/read.",
            self.read_queries.load(Ordering::Relaxed) as f64,
        );
    }
}

/// What the remote endpoints need from the engine.
#[derive(Clone)]
pub struct RemoteApi {
    /// Where received samples go; `None` when the receiver is disabled.
    pub receiver: Option<Arc<dyn Appendable>>,
    /// What `/api/v1/read` answers from (the local storage only).
    pub queryable: Arc<dyn Queryable>,
    /// The configuration's external labels now.
    pub external_labels: Arc<dyn Fn() -> Labels + Send + Sync>,
    pub metrics: Arc<ReceiverMetrics>,
}

/// The remote-read and remote-write routes, with their own state and body limit.
pub fn routes(api: RemoteApi) -> Router {
    Router::new()
        .route("/api/v1/write", post(write))
        .route("/api/v1/read", post(read))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_COMPRESSED_BYTES))
        .with_state(Arc::new(api))
}

fn plain(code: StatusCode, msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    m.push('\n');
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}

fn decompress_checked(body: &[u8]) -> Result<Vec<u8>, String> {
    let n = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if n > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "decompressed body of {n} bytes exceeds the limit of {MAX_DECOMPRESSED_BYTES}"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| e.to_string())
}

/// Why a write request failed.
enum WriteFailure {
    Refused(String),
    Storage(String),
}

/// Appends every sample of `req`; all or nothing.
fn append_request(app: &dyn Appendable, req: &WriteRequest) -> Result<u64, WriteFailure> {
    let mut a = app.appender();
    let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
    a.reserve(total);
    let mut n = 0u64;
    let fail = |e: AppendError, labels: &Labels, t: i64| match e {
        AppendError::Storage { message, .. } => WriteFailure::Storage(message),
        e => WriteFailure::Refused(format!("{e} (series {labels}, timestamp {t})")),
    };
    for ts in &req.timeseries {
        let labels = proto::labels_from_proto(&ts.labels);
        if labels.is_empty() {
            a.rollback();
            return Err(WriteFailure::Refused("a time series has no labels".into()));
        }
        let mut sref = None;
        for s in &ts.samples {
            let r = match sref {
                Some(r) => match a.append_ref(r, s.timestamp, s.value) {
                    Some(r) => r,
                    None => a.append(&labels, s.timestamp, s.value),
                },
                None => a
                    .append_returning_ref(&labels, s.timestamp, s.value)
                    .map(|r| sref = r),
            };
            if let Err(e) = r {
                a.rollback();
                return Err(fail(e, &labels, s.timestamp));
            }
            n += 1;
        }
    }
    match a.commit() {
        Ok(()) => Ok(n),
        Err(e) => Err(WriteFailure::Storage(e.to_string())),
    }
}

async fn write(State(api): State<Arc<RemoteApi>>, body: Bytes) -> Response {
    api.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let Some(app) = api.receiver.clone() else {
        api.metrics
            .rejected_requests
            .fetch_add(1, Ordering::Relaxed);
        return plain(
            StatusCode::NOT_FOUND,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
        );
    };
    let metrics = api.metrics.clone();
    let res = tokio::task::spawn_blocking(move || {
        let raw = decompress_checked(&body).map_err(WriteFailure::Refused)?;
        let req = <WriteRequest as prost::Message>::decode(raw.as_slice())
            .map_err(|e| WriteFailure::Refused(format!("protobuf: {e}")))?;
        append_request(app.as_ref(), &req)
    })
    .await;
    match res {
        Ok(Ok(n)) => {
            metrics.samples.fetch_add(n, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(WriteFailure::Refused(m))) => {
            metrics.rejected_requests.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("remote write receiver: refused a request: {m}");
            plain(StatusCode::BAD_REQUEST, m)
        }
        Ok(Err(WriteFailure::Storage(m))) => {
            metrics.rejected_requests.fetch_add(1, Ordering::Relaxed);
            tracing::error!("remote write receiver: appending failed: {m}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, m)
        }
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn matcher_from_proto(m: &proto::LabelMatcher) -> Result<Matcher, String> {
    let op = match m.r#type {
        0 => MatchOp::Equal,
        1 => MatchOp::NotEqual,
        2 => MatchOp::RegexMatch,
        3 => MatchOp::RegexNoMatch,
        t => return Err(format!("invalid matcher type {t}")),
    };
    Matcher::new(op, m.name.as_str(), m.value.as_str()).map_err(|e| e.to_string())
}

/// Answers one query from local storage.
fn answer(
    q: &dyn Queryable,
    query: &proto::Query,
    ext: &Labels,
) -> Result<QueryResult, (StatusCode, String)> {
    let mut matchers = Vec::with_capacity(query.matchers.len());
    for m in &query.matchers {
        // A matcher asking for an external label's own value is true of every local series.
        if m.r#type == 0 && ext.get(&m.name) == Some(m.value.as_str()) {
            continue;
        }
        matchers.push(matcher_from_proto(m).map_err(|e| (StatusCode::BAD_REQUEST, e))?);
    }
    let (mint, maxt) = (query.start_timestamp_ms, query.end_timestamp_ms);
    let querier = q
        .querier(mint, maxt)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let series = querier.select(&matchers).map_err(|e| match e {
        crate::storage::QueryError::BadMatchers(m) => (StatusCode::BAD_REQUEST, m),
        e => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })?;
    let mut out = Vec::with_capacity(series.len());
    let mut buf: Vec<Sample> = Vec::new();
    for mut s in series {
        buf.clear();
        s.samples.read_range(mint, maxt, &mut buf);
        if buf.is_empty() {
            continue;
        }
        let labels = if ext.is_empty() {
            s.labels
        } else {
            let mut b = s.labels.builder();
            for l in ext.iter() {
                if s.labels.get(&l.name).is_none() {
                    b.set(&l.name, &l.value);
                }
            }
            b.labels()
        };
        out.push(TimeSeries {
            labels: proto::labels_to_proto(&labels),
            samples: buf
                .iter()
                .map(|s| proto::Sample {
                    value: s.v,
                    timestamp: s.t,
                })
                .collect(),
            exemplars: Vec::new(),
        });
    }
    Ok(QueryResult { timeseries: out })
}

async fn read(State(api): State<Arc<RemoteApi>>, body: Bytes) -> Response {
    let api2 = api.clone();
    let res = tokio::task::spawn_blocking(move || {
        let raw = decompress_checked(&body).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let req = <ReadRequest as prost::Message>::decode(raw.as_slice())
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("protobuf: {e}")))?;
        let types = &req.accepted_response_types;
        if !types.is_empty() && !types.contains(&proto::RESPONSE_SAMPLES) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "none of the accepted response types {types:?} is supported (promtui \
                     answers SAMPLES)"
                ),
            ));
        }
        let ext = (api2.external_labels)();
        let mut results = Vec::with_capacity(req.queries.len());
        for q in &req.queries {
            api2.metrics.read_queries.fetch_add(1, Ordering::Relaxed);
            results.push(answer(api2.queryable.as_ref(), q, &ext)?);
        }
        Ok(proto::encode_snappy(&ReadResponse { results }))
    })
    .await;
    match res {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            body,
        )
            .into_response(),
        Ok(Err((code, msg))) => plain(code, msg),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
