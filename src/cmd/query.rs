//! The work behind `promtui query` and `promtui query-range`: evaluate PromQL against the
//! local TSDB or, with `--server`, against any Prometheus-compatible HTTP API (promtui or
//! Prometheus), and render the result as a human table or as the API's `data` JSON.
//!
//! The local path opens the data directory like the server does, so it takes the
//! directory lock: when a server already runs there the error says to pass `--server`.
//! The remote path uses the same endpoints and parameters as promtool's `query`
//! commands and decodes the answer back into a [`Value`], so `-o json` prints the same
//! bytes either way.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{QueryOutput, StorageFlags};
use crate::model::time::format_rfc3339;
use crate::model::value::format_go_float;
use crate::model::Labels;
use crate::promql::engine::{Annotations, Engine, EngineOptions, FPoint, Sample, Series, Value};
use crate::web::json;

/// Why a query from the command line failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no TSDB at {0} (pass --storage.tsdb.path, or --server to query a running server)")]
    NoData(String),
    #[error("{source}\nA server is running on this data directory: query it instead with --server http://127.0.0.1:9090 (or its --web.listen-address)")]
    Locked { source: crate::tsdb::Error },
    #[error("opening the TSDB: {0}")]
    Tsdb(#[from] crate::tsdb::Error),
    #[error("{error_type}: {message}")]
    Query { error_type: String, message: String },
    #[error("request to {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

/// Where to evaluate.
#[derive(Clone, Debug)]
pub enum QueryTarget<'a> {
    /// The TSDB in this directory, with these engine options.
    Local(&'a Path, EngineOptions),
    /// A Prometheus-compatible API at this base URL (`http://host:port`).
    Remote(&'a str),
}

/// A result and its annotations.
type Answer = (Value, Annotations);

fn open_local(dir: &Path) -> Result<crate::tsdb::Db, ClientError> {
    if !dir.exists() {
        return Err(ClientError::NoData(dir.display().to_string()));
    }
    // Reading creates and changes nothing (no lock, no WAL segment, no repair), so a query
    // works on a read-only directory and beside a running server.
    match crate::tsdb::Db::open_read_only(dir, crate::tsdb::Options::default()) {
        Ok(db) => Ok(db),
        Err(e @ crate::tsdb::Error::Locked { .. }) => Err(ClientError::Locked { source: e }),
        Err(e) => Err(e.into()),
    }
}

fn eval_error(e: crate::promql::engine::EvalError) -> ClientError {
    let api = crate::web::query::eval_error(e);
    ClientError::Query {
        error_type: api.kind.as_str().to_string(),
        message: api.message,
    }
}

/// Parses `expr` before anything is opened, so a typo is reported as such even where
/// there is no data directory (or a server holds its lock).
fn parse(expr: &str) -> Result<crate::promql::ast::Expr, ClientError> {
    crate::promql::parse_expr(expr)
        .map_err(|e| eval_error(crate::promql::engine::EvalError::Parse(e)))
}

/// An instant query at `t` (ms).
pub fn instant(target: &QueryTarget<'_>, expr: &str, t: i64) -> Result<Answer, ClientError> {
    match target {
        QueryTarget::Local(dir, opts) => {
            let parsed = parse(expr)?;
            let db = open_local(dir)?;
            let r = Engine::new(opts.clone())
                .instant_query(&db, &parsed, t)
                .map_err(eval_error)?;
            Ok(crate::web::query::split_result(r))
        }
        QueryTarget::Remote(base) => remote(
            base,
            "/api/v1/query",
            &[("query", expr.to_string()), ("time", secs(t))],
        ),
    }
}

/// A range query over `[start, end]` at `step` (all ms).
pub fn range(
    target: &QueryTarget<'_>,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Answer, ClientError> {
    match target {
        QueryTarget::Local(dir, opts) => {
            let (start, end, step) = crate::web::query::range_params(
                &secs(start),
                &secs(end),
                &format!("{}", step as f64 / 1000.0),
            )
            .map_err(|e| ClientError::Query {
                error_type: e.kind.as_str().to_string(),
                message: e.message,
            })?;
            let parsed = parse(expr)?;
            let db = open_local(dir)?;
            let r = Engine::new(opts.clone())
                .range_query(&db, &parsed, start, end, step)
                .map_err(eval_error)?;
            Ok(crate::web::query::split_result(r))
        }
        QueryTarget::Remote(base) => remote(
            base,
            "/api/v1/query_range",
            &[
                ("query", expr.to_string()),
                ("start", secs(start)),
                ("end", secs(end)),
                ("step", format!("{}", step as f64 / 1000.0)),
            ],
        ),
    }
}

/// Milliseconds as API seconds (`1.5`).
fn secs(ms: i64) -> String {
    json::format_go_json_number(ms as f64 / 1000.0)
}

fn remote(base: &str, path: &str, form: &[(&str, String)]) -> Result<Answer, ClientError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = ureq::post(&url)
        .timeout(Duration::from_secs(600))
        .send_form(&pairs);
    let body = match resp {
        Ok(r) => r.into_string(),
        // Error answers carry the API's JSON envelope.
        Err(ureq::Error::Status(_, r)) => r.into_string(),
        Err(e) => {
            return Err(ClientError::Http {
                url,
                message: e.to_string(),
            })
        }
    }
    .map_err(|e| ClientError::Http {
        url: url.clone(),
        message: e.to_string(),
    })?;
    decode_response(&body).map_err(|e| match e {
        DecodeError::Api(error_type, message) => ClientError::Query {
            error_type,
            message,
        },
        DecodeError::Shape(message) => ClientError::Decode { url, message },
    })
}

enum DecodeError {
    Api(String, String),
    Shape(String),
}

fn shape(msg: impl Into<String>) -> DecodeError {
    DecodeError::Shape(msg.into())
}

/// Decodes a `/api/v1/query(_range)` response envelope.
fn decode_response(body: &str) -> Result<Answer, DecodeError> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| shape(format!("not JSON ({e}): {body:.200}")))?;
    let str_field = |name: &str| v.get(name).and_then(|x| x.as_str()).unwrap_or("");
    if str_field("status") != "success" {
        return Err(DecodeError::Api(
            str_field("errorType").to_string(),
            str_field("error").to_string(),
        ));
    }
    let strings = |name: &str| -> Vec<String> {
        v.get(name)
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ann = Annotations {
        warnings: strings("warnings"),
        infos: strings("infos"),
    };
    let data = v.get("data").ok_or_else(|| shape("no data"))?;
    Ok((decode_data(data)?, ann))
}

fn decode_ts(v: &serde_json::Value) -> Result<i64, DecodeError> {
    let s = v
        .as_f64()
        .ok_or_else(|| shape("timestamp is not a number"))?;
    Ok((s * 1000.0).round() as i64)
}

fn decode_float(v: &serde_json::Value) -> Result<f64, DecodeError> {
    let s = v.as_str().ok_or_else(|| shape("value is not a string"))?;
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s
            .parse()
            .map_err(|_| shape(format!("bad sample value {s:?}"))),
    }
}

fn decode_point(v: &serde_json::Value) -> Result<(i64, f64), DecodeError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| shape("bad point"))?;
    Ok((decode_ts(&a[0])?, decode_float(&a[1])?))
}

fn decode_metric(v: Option<&serde_json::Value>) -> Result<Labels, DecodeError> {
    let m = v
        .and_then(|m| m.as_object())
        .ok_or_else(|| shape("metric is not an object"))?;
    let pairs: Vec<(&str, &str)> = m
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    Ok(Labels::from_pairs(&pairs))
}

fn decode_data(data: &serde_json::Value) -> Result<Value, DecodeError> {
    let rt = data
        .get("resultType")
        .and_then(|x| x.as_str())
        .unwrap_or("");
    let result = data.get("result").ok_or_else(|| shape("no result"))?;
    let items = || {
        result
            .as_array()
            .ok_or_else(|| shape("result is not an array"))
    };
    match rt {
        "scalar" => {
            let (t, v) = decode_point(result)?;
            Ok(Value::Scalar { t, v })
        }
        "string" => {
            let a = items()?;
            let t = decode_ts(a.first().ok_or_else(|| shape("bad string"))?)?;
            let s = a.get(1).and_then(|s| s.as_str()).unwrap_or("").to_string();
            Ok(Value::String { t, s })
        }
        "vector" => {
            let mut out = Vec::new();
            for s in items()? {
                let (t, f) = decode_point(s.get("value").ok_or_else(|| shape("no value"))?)?;
                out.push(Sample {
                    metric: decode_metric(s.get("metric"))?,
                    t,
                    f,
                    drop_name: false,
                });
            }
            Ok(Value::Vector(out))
        }
        "matrix" => {
            let mut out = Vec::new();
            for s in items()? {
                let mut floats = Vec::new();
                for p in s
                    .get("values")
                    .and_then(|v| v.as_array())
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let (t, f) = decode_point(p)?;
                    floats.push(FPoint { t, f });
                }
                out.push(Series {
                    metric: decode_metric(s.get("metric"))?,
                    floats,
                    drop_name: false,
                });
            }
            Ok(Value::Matrix(out))
        }
        other => Err(shape(format!("unknown resultType {other:?}"))),
    }
}

/// The API's `data` object for `value`, byte-identical to what the server sends.
fn render_json(value: &Value) -> String {
    let mut s = String::new();
    json::write_query_data(&mut s, value);
    s
}

fn series_name(l: &Labels) -> String {
    if l.is_empty() {
        "{}".to_string()
    } else {
        l.to_string()
    }
}

/// A table for people: one row per series (`SERIES  VALUE  TIMESTAMP`) for vectors; a
/// heading per series and one `TIMESTAMP  VALUE` row per point for matrices.
pub fn render_table(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Scalar { t, v } => {
            let _ = writeln!(
                out,
                "scalar  {}  @ {}",
                format_go_float(*v),
                format_rfc3339(*t)
            );
        }
        Value::String { t, s } => {
            let _ = writeln!(out, "string  {s:?}  @ {}", format_rfc3339(*t));
        }
        Value::Vector(v) => {
            let names: Vec<String> = v.iter().map(|s| series_name(&s.metric)).collect();
            let values: Vec<String> = v.iter().map(|s| format_go_float(s.f)).collect();
            let w0 = names.iter().map(String::len).max().unwrap_or(0).max(6);
            let w1 = values.iter().map(String::len).max().unwrap_or(0).max(5);
            let _ = writeln!(out, "{:<w0$}  {:>w1$}  TIMESTAMP", "SERIES", "VALUE");
            for ((n, val), s) in names.iter().zip(&values).zip(v) {
                let _ = writeln!(out, "{n:<w0$}  {val:>w1$}  {}", format_rfc3339(s.t));
            }
            if v.is_empty() {
                out.push_str("(empty result)\n");
            }
        }
        Value::Matrix(m) => {
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "{}", series_name(&s.metric));
                let vals: Vec<String> = s.floats.iter().map(|p| format_go_float(p.f)).collect();
                let w = vals.iter().map(String::len).max().unwrap_or(0);
                for (p, v) in s.floats.iter().zip(&vals) {
                    let _ = writeln!(out, "  {}  {v:>w$}", format_rfc3339(p.t));
                }
            }
            if m.is_empty() {
                out.push_str("(empty result)\n");
            }
        }
    }
    out
}

/// Runs a query locally or against `--server` and prints it; exit 1 on query errors.
pub(crate) fn run_query(
    storage: &StorageFlags,
    out: &QueryOutput,
    f: impl FnOnce(&QueryTarget<'_>) -> Result<Answer, ClientError>,
) -> anyhow::Result<ExitCode> {
    let path;
    let target = match &out.server {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("http://"),
                "--server must be an http:// URL (TLS is not supported by this client): {url}"
            );
            QueryTarget::Remote(url)
        }
        None => {
            path = storage.path()?;
            QueryTarget::Local(&path, out.query.engine_options()?)
        }
    };
    match f(&target) {
        Ok((value, ann)) => {
            for w in ann.warnings.iter().chain(&ann.infos) {
                eprintln!("{w}");
            }
            if out.output == "json" {
                println!("{}", render_json(&value));
            } else {
                print!("{}", render_table(&value));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_promql_is_reported_before_the_data_directory_is_looked_for() {
        let missing = Path::new("/nonexistent/promtui-data");
        let target = QueryTarget::Local(missing, EngineOptions::default());
        match instant(&target, "sum by (job) rate(up[5m])", 0) {
            Err(ClientError::Query {
                error_type,
                message,
            }) => {
                assert_eq!(error_type, "bad_data");
                assert_eq!(
                    message,
                    "1:14: parse error: unexpected identifier \"rate\" in aggregation"
                );
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        assert!(matches!(
            range(&target, "rate(up)", 0, 60_000, 15_000),
            Err(ClientError::Query { ref error_type, .. }) if error_type == "bad_data"
        ));
        // A valid query still finds the directory missing.
        assert!(matches!(
            instant(&target, "up", 0),
            Err(ClientError::NoData(_))
        ));
    }

    #[test]
    fn decodes_what_the_api_writes() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","a":"x\u003c"},"values":[[0.250,"1"],[15,"1e-07"],[16,"+Inf"],[17,"NaN"]]}]},"warnings":["w"]}"#;
        let Ok((v, ann)) = decode_response(body) else {
            panic!("decode failed")
        };
        assert_eq!(ann.warnings, vec!["w".to_string()]);
        assert_eq!(
            render_json(&v),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"m","a":"x\u003c"},"values":[[0.250,"1"],[15,"1e-07"],[16,"+Inf"],[17,"NaN"]]}]}"#
        );
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"0.0000001"]}}"#;
        let Ok((v, _)) = decode_response(scalar) else {
            panic!("decode failed")
        };
        assert_eq!(v, Value::Scalar { t: 1500, v: 1e-7 });
        let err = r#"{"status":"error","errorType":"bad_data","error":"boom"}"#;
        assert!(
            matches!(decode_response(err), Err(DecodeError::Api(t, m)) if t == "bad_data" && m == "boom")
        );
        assert!(matches!(
            decode_response("<html>"),
            Err(DecodeError::Shape(_))
        ));
    }

    #[test]
    fn table_layout() {
        let v = Value::Vector(vec![
            Sample {
                metric: Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
                t: 0,
                f: 1.0,
                drop_name: false,
            },
            Sample {
                metric: Labels::empty(),
                t: 1500,
                f: 1e6,
                drop_name: false,
            },
        ]);
        assert_eq!(
            render_table(&v),
            "SERIES       VALUE  TIMESTAMP\nup{job=\"a\"}      1  1970-01-01T00:00:00.000Z\n{}           1e+06  1970-01-01T00:00:01.500Z\n"
        );
        let m = Value::Matrix(vec![Series {
            metric: Labels::from_pairs(&[("a", "b")]),
            floats: vec![FPoint { t: 0, f: 1.0 }, FPoint { t: 15_000, f: 10.5 }],
            drop_name: false,
        }]);
        assert_eq!(
            render_table(&m),
            "{a=\"b\"}\n  1970-01-01T00:00:00.000Z     1\n  1970-01-01T00:00:15.000Z  10.5\n"
        );
    }
}
