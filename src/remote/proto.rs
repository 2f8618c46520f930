//! The remote read/write wire messages of package `prometheus` (upstream
//! `prompb/remote.proto` and `prompb/types.proto`), declared by hand with prost's derive,
//! and the snappy block framing both protocols use.
//!
//! Field numbers follow upstream exactly; native histograms (`TimeSeries` field 4) are not
//! declared, so prost skips them when decoding. The sender does not build these structs:
//! [`encode_write_request`] writes the same bytes straight from the queue's batches
//! without allocating a `String` per label.

use prost::Message;

use crate::model::Labels;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries` (float samples and exemplars).
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.ReadRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadRequest {
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// `ResponseType` values the client accepts, in order of preference; empty means
    /// [`RESPONSE_SAMPLES`].
    #[prost(int32, repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `ReadRequest.ResponseType.SAMPLES`: one [`ReadResponse`], snappy-compressed.
pub const RESPONSE_SAMPLES: i32 = 0;
/// `ReadRequest.ResponseType.STREAMED_XOR_CHUNKS`: length-delimited
/// [`ChunkedReadResponse`] frames.
pub const RESPONSE_STREAMED_XOR_CHUNKS: i32 = 1;

/// `prometheus.ReadResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.Query`.
#[derive(Clone, PartialEq, Message)]
pub struct Query {
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// `prometheus.QueryResult`.
#[derive(Clone, PartialEq, Message)]
pub struct QueryResult {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.LabelMatcher`; `type` is 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelMatcher {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.ReadHints`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadHints {
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    #[prost(string, tag = "2")]
    pub func: String,
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    #[prost(bool, tag = "6")]
    pub by: bool,
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// Why a remote body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy: {0}")]
    Snappy(#[source] snap::Error),
    #[error("protobuf: {0}")]
    Protobuf(#[source] prost::DecodeError),
}

/// Compresses `raw` in snappy's block format (what `Content-Encoding: snappy` means for
/// remote read and write, not the framed stream format).
pub fn snappy_compress(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; snap::raw::max_compress_len(raw.len())];
    // The output buffer has the maximum compressed length, the only way `compress` fails.
    let n = snap::raw::Encoder::new()
        .compress(raw, &mut out)
        .unwrap_or_default();
    out.truncate(n);
    out
}

/// Decompresses a snappy block and decodes message `M` from it.
pub fn decode_snappy<M: Message + Default>(body: &[u8]) -> Result<M, DecodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    M::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

/// Encodes `msg` and compresses it with snappy.
pub fn encode_snappy<M: Message>(msg: &M) -> Vec<u8> {
    snappy_compress(&msg.encode_to_vec())
}

/// Converts wire labels into sorted [`Labels`]; empty values are dropped (an empty label
/// is an absent label), as Prometheus does when it appends.
pub fn labels_from_proto(labels: &[Label]) -> Labels {
    Labels::new(
        labels
            .iter()
            .filter(|l| !l.value.is_empty())
            .map(|l| crate::model::Label::new(l.name.as_str(), l.value.as_str()))
            .collect(),
    )
}

/// Wire labels of `labels`, in their (sorted) order.
pub fn labels_to_proto(labels: &Labels) -> Vec<Label> {
    labels
        .iter()
        .map(|l| Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Tag byte of field `n` with wire type `w` (fields here are all below 16).
const fn tag(n: u8, w: u8) -> u8 {
    (n << 3) | w
}

const LEN: u8 = 2;
const I64: u8 = 1;
const VARINT: u8 = 0;

fn label_len(name: &str, value: &str) -> usize {
    1 + varint_len(name.len() as u64)
        + name.len()
        + 1
        + varint_len(value.len() as u64)
        + value.len()
}

fn sample_len(t: i64) -> usize {
    // value (tag + 8 bytes, always written, which proto3 decoders accept) + timestamp
    // (tag + varint, omitted when zero as proto3 encoders do).
    let mut n = 9;
    if t != 0 {
        n += 1 + varint_len(t as u64);
    }
    n
}

/// One series of a batch as the encoder sees it: its labels and its samples, in order.
pub struct SeriesSamples<'a> {
    pub labels: &'a Labels,
    pub samples: &'a [(i64, f64)],
}

/// The label fields of a `TimeSeries` holding `labels`, as they appear on the wire: a
/// queue encodes them once per series and copies them into every request.
pub fn encode_labels_wire(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.iter() {
        out.push(tag(1, LEN));
        put_varint(&mut out, label_len(&l.name, &l.value) as u64);
        out.push(tag(1, LEN));
        put_varint(&mut out, l.name.len() as u64);
        out.extend_from_slice(l.name.as_bytes());
        out.push(tag(2, LEN));
        put_varint(&mut out, l.value.len() as u64);
        out.extend_from_slice(l.value.as_bytes());
    }
    out
}

/// One series of a batch: its label fields from [`encode_labels_wire`] and its samples.
pub struct WireSeries<'a> {
    pub labels_wire: &'a [u8],
    pub samples: &'a [(i64, f64)],
}

/// Appends the protobuf encoding of a `WriteRequest` holding `series` to `out`: the bytes
/// prost would produce for the equivalent [`WriteRequest`] (a test checks it), written
/// without building it.
pub fn encode_write_request_wire(out: &mut Vec<u8>, series: &[WireSeries<'_>]) {
    for s in series {
        let mut ts_len = s.labels_wire.len();
        for &(t, _) in s.samples {
            let sl = sample_len(t);
            ts_len += 1 + varint_len(sl as u64) + sl;
        }
        out.push(tag(1, LEN));
        put_varint(out, ts_len as u64);
        out.extend_from_slice(s.labels_wire);
        for &(t, v) in s.samples {
            out.push(tag(2, LEN));
            put_varint(out, sample_len(t) as u64);
            out.push(tag(1, I64));
            out.extend_from_slice(&v.to_bits().to_le_bytes());
            if t != 0 {
                out.push(tag(2, VARINT));
                put_varint(out, t as u64);
            }
        }
    }
}

/// [`encode_write_request_wire`] from label sets.
pub fn encode_write_request(out: &mut Vec<u8>, series: &[SeriesSamples<'_>]) {
    let wires: Vec<Vec<u8>> = series
        .iter()
        .map(|s| encode_labels_wire(s.labels))
        .collect();
    let ws: Vec<WireSeries<'_>> = series
        .iter()
        .zip(&wires)
        .map(|(s, w)| WireSeries {
            labels_wire: w,
            samples: s.samples,
        })
        .collect();
    encode_write_request_wire(out, &ws);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_encoding_equals_prost() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs(&[("__name__", "a_very_long_metric_name_".repeat(10))]);
        let sa = [(1_700_000_000_000i64, 1.0), (0, -0.0), (-5, f64::NAN)];
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let sb = [(i64::MAX, stale), (i64::MIN, f64::INFINITY)];
        let mut got = Vec::new();
        encode_write_request(
            &mut got,
            &[
                SeriesSamples {
                    labels: &a,
                    samples: &sa,
                },
                SeriesSamples {
                    labels: &b,
                    samples: &sb,
                },
            ],
        );
        let conv = |s: &[(i64, f64)]| {
            s.iter()
                .map(|&(t, v)| Sample {
                    value: v,
                    timestamp: t,
                })
                .collect()
        };
        let want = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: labels_to_proto(&a),
                    samples: conv(&sa),
                    exemplars: vec![],
                },
                TimeSeries {
                    labels: labels_to_proto(&b),
                    samples: conv(&sb),
                    exemplars: vec![],
                },
            ],
            metadata: vec![],
        };
        // prost omits a zero double; ours writes every value (also valid proto3), so
        // compare decoded messages bit for bit and the encodings where no value is 0.
        let back = WriteRequest::decode(got.as_slice()).unwrap();
        assert_eq!(back.timeseries.len(), 2);
        for (x, y) in back.timeseries.iter().zip(&want.timeseries) {
            assert_eq!(x.labels, y.labels);
            let bits = |s: &[Sample]| -> Vec<(i64, u64)> {
                s.iter().map(|s| (s.timestamp, s.value.to_bits())).collect()
            };
            assert_eq!(bits(&x.samples), bits(&y.samples));
        }
        let c = Labels::from_pairs(&[("__name__", "x")]);
        let mut got = Vec::new();
        let sc = [(3, 2.5)];
        encode_write_request(
            &mut got,
            &[SeriesSamples {
                labels: &c,
                samples: &sc,
            }],
        );
        let want = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels_to_proto(&c),
                samples: conv(&sc),
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        assert_eq!(got, want.encode_to_vec());
    }

    #[test]
    fn snappy_round_trip_and_errors() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1,
                end_timestamp_ms: 2,
                matchers: vec![LabelMatcher {
                    r#type: 2,
                    name: "job".into(),
                    value: "a.*".into(),
                }],
                hints: None,
            }],
            accepted_response_types: vec![RESPONSE_SAMPLES],
        };
        let body = encode_snappy(&req);
        assert_eq!(decode_snappy::<ReadRequest>(&body).unwrap(), req);
        assert!(matches!(
            decode_snappy::<ReadRequest>(b"not snappy at all"),
            Err(DecodeError::Snappy(_))
        ));
        let junk = snappy_compress(&[0xff, 0xff, 0xff]);
        assert!(matches!(
            decode_snappy::<ReadRequest>(&junk),
            Err(DecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn empty_label_values_are_absent() {
        let l = labels_from_proto(&[
            Label {
                name: "b".into(),
                value: "".into(),
            },
            Label {
                name: "a".into(),
                value: "1".into(),
            },
        ]);
        assert_eq!(l, Labels::from_pairs(&[("a", "1")]));
    }
}
