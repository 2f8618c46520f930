//! The `io.prometheus.client` protobuf messages (client_model's `metrics.proto`), declared
//! by hand with prost derive, and the varint-length-delimited framing the Go client
//! sends by default (`application/vnd.google.protobuf;
//! proto=io.prometheus.client.MetricFamily; encoding=delimited`).
//!
//! Field numbers follow <https://github.com/prometheus/client_model/blob/master/io/prometheus/client/metrics.proto>.
//! Native-histogram fields are not declared: prost skips unknown fields, so a body that
//! carries them still decodes (its classic buckets are used).

/// One label of a metric.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Quantile {
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Untyped {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    /// Set instead of `cumulative_count` by clients with float histograms.
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
}

/// One metric (one label set) of a family; exactly one of the value messages is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
}

/// client_model's `MetricType` enum values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Summary = 2,
    Untyped = 3,
    Histogram = 4,
    GaugeHistogram = 5,
}

/// A named family of metrics with HELP and TYPE.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    #[prost(enumeration = "MetricType", optional, tag = "3")]
    pub r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

/// Why a delimited body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid length prefix of message {index} at byte {offset}: {source}")]
    Length {
        index: usize,
        offset: usize,
        source: prost::DecodeError,
    },
    #[error("message {index} at byte {offset} claims {len} bytes but only {left} remain")]
    Truncated {
        index: usize,
        offset: usize,
        len: usize,
        left: usize,
    },
    #[error("message {index} at byte {offset} is not a valid MetricFamily: {source}")]
    Message {
        index: usize,
        offset: usize,
        source: prost::DecodeError,
    },
}

/// Decodes a sequence of varint-length-prefixed `MetricFamily` messages.
pub fn decode_delimited(mut body: &[u8]) -> Result<Vec<MetricFamily>, DecodeError> {
    let total = body.len();
    let mut out = Vec::new();
    while !body.is_empty() {
        let index = out.len();
        let offset = total - body.len();
        let len =
            prost::encoding::decode_varint(&mut body).map_err(|source| DecodeError::Length {
                index,
                offset,
                source,
            })? as usize;
        if len > body.len() {
            return Err(DecodeError::Truncated {
                index,
                offset,
                len,
                left: body.len(),
            });
        }
        let (msg, rest) = body.split_at(len);
        let mf = <MetricFamily as prost::Message>::decode(msg).map_err(|source| {
            DecodeError::Message {
                index,
                offset,
                source,
            }
        })?;
        out.push(mf);
        body = rest;
    }
    Ok(out)
}

/// Encodes families as the Go client sends them (each with its varint length prefix).
pub fn encode_delimited(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for mf in families {
        // Encoding into a Vec cannot run out of capacity.
        let _ = prost::Message::encode_length_delimited(mf, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge_family(name: &str, v: f64) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            help: Some("h".into()),
            r#type: Some(MetricType::Gauge as i32),
            metric: vec![Metric {
                label: vec![LabelPair {
                    name: Some("a".into()),
                    value: Some("b".into()),
                }],
                gauge: Some(Gauge { value: Some(v) }),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn delimited_round_trip() {
        let fams = vec![gauge_family("x", 1.5), gauge_family("y", f64::INFINITY)];
        let body = encode_delimited(&fams);
        assert_eq!(decode_delimited(&body).unwrap(), fams);
        assert!(decode_delimited(&[]).unwrap().is_empty());
    }

    #[test]
    fn truncated_and_garbage_bodies_are_errors() {
        let body = encode_delimited(&[gauge_family("x", 1.0)]);
        let err = decode_delimited(&body[..body.len() - 2]).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { index: 0, .. }),
            "{err}"
        );
        let err = decode_delimited(&[0xff; 11]).unwrap_err();
        assert!(matches!(err, DecodeError::Length { .. }), "{err}");
        let err = decode_delimited(&[3, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(err, DecodeError::Message { .. }), "{err}");
    }
}
