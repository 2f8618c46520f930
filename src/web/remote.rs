//! `/api/v1/write` (the remote-write receiver, behind `--web.enable-remote-write-receiver`)
//! and `/api/v1/read` (remote read, samples response type), upstream
//! `storage/remote/write_handler.go` and `storage/remote/read_handler.go`.
//!
//! Write: a snappy-compressed `prometheus.WriteRequest` is appended as one batch; a
//! sample the TSDB refuses as out of order, out of bounds or a duplicate with another
//! value fails the whole request with 400 (the sender must not retry it, as upstream),
//! a storage failure with 500; success is 204. The request is decoded in place (labels
//! borrowed from the body): a series' label bytes as sent are hashed (128-bit xxh3) and
//! looked up in a cache of series refs, so a series seen before is appended by ref with
//! no label set built at all; only new series (or ones the head dropped since) are
//! appended by labels. Refs are never reused by the head, so a stale entry only costs a
//! fallback to the labels.
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
use crate::remote::proto::{self, QueryResult, ReadRequest, ReadResponse, TimeSeries};
use crate::storage::{AppendError, Appendable, Queryable};

/// Largest compressed request body accepted.
const MAX_COMPRESSED_BYTES: usize = 64 << 20;
/// Largest decompressed request accepted (a snappy bomb is refused before allocating).
const MAX_DECOMPRESSED_BYTES: usize = 512 << 20;

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

/// Series refs of label sets received before, keyed by the hash of their label bytes as
/// sent. Cleared when it outgrows [`SeriesCache::MAX`] entries.
#[derive(Default)]
pub struct SeriesCache {
    refs: parking_lot::Mutex<std::collections::HashMap<u128, u64>>,
}

impl SeriesCache {
    /// Entries kept at most (16 bytes of key and 8 of ref each, plus the table's own).
    pub const MAX: usize = 4_000_000;
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
    pub cache: Arc<SeriesCache>,
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

/// One `TimeSeries` of a request, borrowed from the decompressed body.
#[derive(Default, Debug)]
struct RawSeries<'a> {
    /// The label fields' bytes as sent, when they are contiguous (they always are from
    /// Prometheus): the cache key.
    label_bytes: Option<&'a [u8]>,
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<(i64, f64)>,
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut x = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos).ok_or("protobuf: truncated varint")?;
        *pos += 1;
        if shift >= 64 {
            return Err("protobuf: varint overflows 64 bits".into());
        }
        x |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(x);
        }
        shift += 7;
    }
}

/// Calls `f(field number, wire type, payload, varint value)` for each field of the
/// message `b`: length-delimited payloads are the bytes inside, fixed64 and fixed32 their
/// bytes, a varint's value is the fourth argument.
fn fields<'a>(
    b: &'a [u8],
    mut f: impl FnMut(u64, u64, &'a [u8], u64) -> Result<(), String>,
) -> Result<(), String> {
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(b, &mut pos)?;
                f(num, wire, &[], v)?;
            }
            1 => {
                let p = b.get(pos..pos + 8).ok_or("protobuf: truncated fixed64")?;
                pos += 8;
                f(num, wire, p, 0)?;
            }
            2 => {
                let n = varint(b, &mut pos)? as usize;
                let p = b
                    .get(pos..pos.saturating_add(n))
                    .ok_or("protobuf: length-delimited field runs past the end")?;
                pos += n;
                f(num, wire, p, 0)?;
            }
            5 => {
                let p = b.get(pos..pos + 4).ok_or("protobuf: truncated fixed32")?;
                pos += 4;
                f(num, wire, p, 0)?;
            }
            w => return Err(format!("protobuf: unsupported wire type {w}")),
        }
    }
    Ok(())
}

/// Decodes a `WriteRequest`'s time series without copying strings.
fn decode_write_request(raw: &[u8]) -> Result<Vec<RawSeries<'_>>, String> {
    let mut out = Vec::new();
    fields(raw, |num, wire, ts, _| {
        if num != 1 || wire != 2 {
            return Ok(()); // metadata (3) and anything newer
        }
        let mut s = RawSeries::default();
        let mut range: Option<(usize, usize)> = None;
        let mut contiguous = true;
        let mut pos = 0;
        while pos < ts.len() {
            let start = pos;
            let key = varint(ts, &mut pos)?;
            let (num, wire) = (key >> 3, key & 7);
            let body = match wire {
                2 => {
                    let n = varint(ts, &mut pos)? as usize;
                    let p = ts
                        .get(pos..pos.saturating_add(n))
                        .ok_or("protobuf: time series field runs past the end")?;
                    pos += n;
                    p
                }
                0 => {
                    varint(ts, &mut pos)?;
                    continue;
                }
                1 => {
                    pos += 8;
                    continue;
                }
                5 => {
                    pos += 4;
                    continue;
                }
                w => return Err(format!("protobuf: unsupported wire type {w}")),
            };
            match num {
                1 => {
                    range = match range {
                        None => Some((start, pos)),
                        Some((a, b)) if b == start => Some((a, pos)),
                        Some(r) => {
                            contiguous = false;
                            Some(r)
                        }
                    };
                    let (mut name, mut value) = ("", "");
                    fields(body, |n, w, p, _| {
                        if w == 2 && (n == 1 || n == 2) {
                            let v = std::str::from_utf8(p)
                                .map_err(|_| "a label name or value is not UTF-8".to_string())?;
                            if n == 1 {
                                name = v;
                            } else {
                                value = v;
                            }
                        }
                        Ok(())
                    })?;
                    s.labels.push((name, value));
                }
                2 => {
                    let (mut t, mut v) = (0i64, 0f64);
                    fields(body, |n, w, p, x| {
                        match (n, w) {
                            (1, 1) => {
                                let mut a = [0u8; 8];
                                a.copy_from_slice(p);
                                v = f64::from_le_bytes(a);
                            }
                            (2, 0) => t = x as i64,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    s.samples.push((t, v));
                }
                _ => {} // exemplars, native histograms: not stored
            }
        }
        if pos > ts.len() {
            return Err("protobuf: time series field runs past the end".into());
        }
        if contiguous {
            s.label_bytes = range.map(|(a, b)| &ts[a..b]);
        }
        out.push(s);
        Ok(())
    })?;
    Ok(out)
}

/// Appends every sample of `series`; all or nothing.
fn append_request(
    app: &dyn Appendable,
    cache: &SeriesCache,
    series: &[RawSeries<'_>],
) -> Result<u64, WriteFailure> {
    let keys: Vec<Option<u128>> = series
        .iter()
        .map(|s| s.label_bytes.map(xxhash_rust::xxh3::xxh3_128))
        .collect();
    let known: Vec<Option<u64>> = {
        let refs = cache.refs.lock();
        keys.iter()
            .map(|k| k.and_then(|k| refs.get(&k).copied()))
            .collect()
    };
    let mut learned: Vec<(u128, u64)> = Vec::new();
    let mut a = app.appender();
    let total: usize = series.iter().map(|t| t.samples.len()).sum();
    a.reserve(total);
    let mut n = 0u64;
    for (i, ts) in series.iter().enumerate() {
        let mut sref = known[i];
        let mut labels: Option<Labels> = None;
        for &(t, v) in &ts.samples {
            let by_ref = sref.and_then(|r| a.append_ref(r, t, v));
            let r = match by_ref {
                Some(r) => r,
                None => {
                    let l = labels.get_or_insert_with(|| {
                        Labels::new(
                            ts.labels
                                .iter()
                                .filter(|(_, v)| !v.is_empty())
                                .map(|(n, v)| crate::model::Label::new(*n, *v))
                                .collect(),
                        )
                    });
                    if l.is_empty() {
                        a.rollback();
                        return Err(WriteFailure::Refused("a time series has no labels".into()));
                    }
                    a.append_returning_ref(l, t, v).map(|r| {
                        if let (Some(r), Some(k)) = (r, keys[i]) {
                            learned.push((k, r));
                        }
                        sref = r;
                    })
                }
            };
            if let Err(e) = r {
                a.rollback();
                let shown = labels.clone().unwrap_or_else(|| {
                    Labels::new(
                        ts.labels
                            .iter()
                            .map(|(n, v)| crate::model::Label::new(*n, *v))
                            .collect(),
                    )
                });
                return Err(match e {
                    AppendError::Storage { message, .. } => WriteFailure::Storage(message),
                    e => WriteFailure::Refused(format!("{e} (series {shown}, timestamp {t})")),
                });
            }
            n += 1;
        }
    }
    a.commit()
        .map_err(|e| WriteFailure::Storage(e.to_string()))?;
    if !learned.is_empty() {
        let mut refs = cache.refs.lock();
        if refs.len() + learned.len() > SeriesCache::MAX {
            refs.clear();
        }
        refs.extend(learned);
    }
    Ok(n)
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
    let cache = api.cache.clone();
    let res = tokio::task::spawn_blocking(move || {
        let raw = decompress_checked(&body).map_err(WriteFailure::Refused)?;
        let series = decode_write_request(&raw).map_err(WriteFailure::Refused)?;
        append_request(app.as_ref(), &cache, &series)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::proto::{Exemplar, Label, WriteRequest};
    use prost::Message;

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn in_place_decoding_equals_prost() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![label("z", "1"), label("__name__", "m"), label("e", "")],
                    samples: vec![
                        proto::Sample {
                            value: 0.0,
                            timestamp: 0,
                        },
                        proto::Sample {
                            value: stale,
                            timestamp: -5,
                        },
                        proto::Sample {
                            value: f64::INFINITY,
                            timestamp: i64::MAX,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        labels: vec![label("trace_id", "x")],
                        value: 1.0,
                        timestamp: 3,
                    }],
                },
                TimeSeries {
                    labels: vec![label("__name__", "ü")],
                    samples: vec![],
                    exemplars: vec![],
                },
            ],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "m".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        };
        let raw = req.encode_to_vec();
        let got = decode_write_request(&raw).unwrap();
        assert_eq!(got.len(), 2);
        for (g, w) in got.iter().zip(&req.timeseries) {
            let wl: Vec<(&str, &str)> = w
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect();
            assert_eq!(g.labels, wl);
            let ws: Vec<(i64, u64)> = w
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value.to_bits()))
                .collect();
            let gs: Vec<(i64, u64)> = g.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(gs, ws);
            assert!(g.label_bytes.is_some());
        }
        // Every truncation is an error or a shorter decode, never a panic.
        for cut in 0..raw.len() {
            let _ = decode_write_request(&raw[..cut]);
        }
        assert!(decode_write_request(&[0x0a, 0x05, 0x0a]).is_err());
        let bad_utf8 = [0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert!(decode_write_request(&bad_utf8)
            .unwrap_err()
            .contains("UTF-8"));
    }
}
