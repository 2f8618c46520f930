//! WAL record encoding: framing (length + CRC-32C) and the bodies of Series, Samples and
//! Tombstones records. Byte layouts are specified in docs/format/wal.md.
//!
//! Mirrors Prometheus `tsdb/record/record.go` (record types, delta-encoded sample batches)
//! with a simpler frame than `tsdb/wlog` pages: one frame per record, never split across
//! segments.

use crate::model::Labels;

/// Bytes before a record's payload: `len u32 BE` + `crc32c u32 BE`.
pub const FRAME_HEADER: usize = 8;

/// Largest payload a reader accepts; anything bigger is treated as a corrupt length.
pub const MAX_RECORD: usize = 512 << 20;

/// Samples per Samples record when a batch is split.
pub const SAMPLES_PER_RECORD: usize = 50_000;

/// Record type byte (first payload byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Series definitions: ref and label set.
    Series = 1,
    /// Float samples: ref, timestamp, value.
    Samples = 2,
    /// Deletions by time range. The body is owned by the tombstones code and is opaque here.
    Tombstones = 3,
}

impl RecordType {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordType::Series),
            2 => Some(RecordType::Samples),
            3 => Some(RecordType::Tombstones),
            _ => None,
        }
    }
}

/// One sample as logged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    pub sref: u64,
    pub t: i64,
    pub v: f64,
}

/// Why a record body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("empty record")]
    Empty,
    #[error("unknown record type {0}")]
    UnknownType(u8),
    #[error("record body truncated at byte {0}")]
    Truncated(usize),
    #[error("label string at byte {0} is not UTF-8")]
    InvalidUtf8(usize),
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads values from a record body, tracking the position for error messages.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut x = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = *self
                .b
                .get(self.pos)
                .ok_or(RecordError::Truncated(self.pos))?;
            self.pos += 1;
            if shift >= 64 {
                return Err(RecordError::Truncated(self.pos));
            }
            x |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(x);
            }
            shift += 7;
        }
    }

    fn varint(&mut self) -> Result<i64, RecordError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn fixed8(&mut self) -> Result<[u8; 8], RecordError> {
        let s = self
            .b
            .get(self.pos..self.pos + 8)
            .ok_or(RecordError::Truncated(self.pos))?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn str(&mut self) -> Result<&'a str, RecordError> {
        let n = self.uvarint()? as usize;
        let start = self.pos;
        let s = self
            .b
            .get(start..start.saturating_add(n))
            .ok_or(RecordError::Truncated(start))?;
        self.pos += n;
        std::str::from_utf8(s).map_err(|_| RecordError::InvalidUtf8(start))
    }

    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
}

/// Starts a frame in `out`; returns the frame start for [`finish_frame`].
fn begin_frame(out: &mut Vec<u8>, t: RecordType) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    out.push(t as u8);
    start
}

/// Fills in the length and checksum of the frame begun at `start`.
fn finish_frame(out: &mut [u8], start: usize) {
    let payload = &out[start + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// Appends one framed Series record holding `series`.
pub fn encode_series<'a>(out: &mut Vec<u8>, series: impl IntoIterator<Item = (u64, &'a Labels)>) {
    let start = begin_frame(out, RecordType::Series);
    for (sref, labels) in series {
        put_uvarint(out, sref);
        put_uvarint(out, labels.len() as u64);
        for l in labels {
            put_uvarint(out, l.name.len() as u64);
            out.extend_from_slice(l.name.as_bytes());
            put_uvarint(out, l.value.len() as u64);
            out.extend_from_slice(l.value.as_bytes());
        }
    }
    finish_frame(out, start);
}

/// Appends framed Samples records (split every [`SAMPLES_PER_RECORD`]).
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    for part in samples.chunks(SAMPLES_PER_RECORD) {
        let start = begin_frame(out, RecordType::Samples);
        let first = part[0];
        out.extend_from_slice(&first.sref.to_be_bytes());
        out.extend_from_slice(&first.t.to_be_bytes());
        for s in part {
            put_varint(out, s.sref.wrapping_sub(first.sref) as i64);
            put_varint(out, s.t.wrapping_sub(first.t));
            out.extend_from_slice(&s.v.to_bits().to_be_bytes());
        }
        finish_frame(out, start);
    }
}

/// Appends one framed Tombstones record with an opaque body.
pub fn encode_tombstones(out: &mut Vec<u8>, body: &[u8]) {
    let start = begin_frame(out, RecordType::Tombstones);
    out.extend_from_slice(body);
    finish_frame(out, start);
}

/// Splits a payload into its type and body.
pub fn record_type(payload: &[u8]) -> Result<(RecordType, &[u8]), RecordError> {
    let (&t, body) = payload.split_first().ok_or(RecordError::Empty)?;
    let t = RecordType::from_u8(t).ok_or(RecordError::UnknownType(t))?;
    Ok((t, body))
}

/// Decodes a Series body, calling `f(ref, pairs)` for each series with borrowed strings.
pub fn decode_series<'a>(
    body: &'a [u8],
    mut f: impl FnMut(u64, &[(&'a str, &'a str)]),
) -> Result<(), RecordError> {
    let mut c = Cursor { b: body, pos: 0 };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while !c.done() {
        let sref = c.uvarint()?;
        let n = c.uvarint()? as usize;
        pairs.clear();
        for _ in 0..n {
            let name = c.str()?;
            let value = c.str()?;
            pairs.push((name, value));
        }
        f(sref, &pairs);
    }
    Ok(())
}

/// Decodes a Series body into owned label sets.
pub fn decode_series_owned(body: &[u8]) -> Result<Vec<(u64, Labels)>, RecordError> {
    let mut out = Vec::new();
    decode_series(body, |r, pairs| out.push((r, Labels::from_pairs(pairs))))?;
    Ok(out)
}

/// Decodes a Samples body, appending to `out`.
pub fn decode_samples(body: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    if body.is_empty() {
        return Ok(());
    }
    let mut c = Cursor { b: body, pos: 0 };
    let base_ref = u64::from_be_bytes(c.fixed8()?);
    let base_t = i64::from_be_bytes(c.fixed8()?);
    while !c.done() {
        let dr = c.varint()?;
        let dt = c.varint()?;
        let v = f64::from_bits(u64::from_be_bytes(c.fixed8()?));
        out.push(RefSample {
            sref: base_ref.wrapping_add(dr as u64),
            t: base_t.wrapping_add(dt),
            v,
        });
    }
    Ok(())
}

/// Checks a frame header against the bytes that follow: the payload length it declares.
pub fn frame_len(header: &[u8; FRAME_HEADER]) -> (usize, u32) {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN;

    fn payload_of(frame: &[u8]) -> &[u8] {
        let mut h = [0u8; FRAME_HEADER];
        h.copy_from_slice(&frame[..FRAME_HEADER]);
        let (len, crc) = frame_len(&h);
        let p = &frame[FRAME_HEADER..FRAME_HEADER + len];
        assert_eq!(crc32c::crc32c(p), crc);
        p
    }

    #[test]
    fn series_round_trip() {
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "ü")]);
        let b = Labels::empty();
        let mut out = Vec::new();
        encode_series(&mut out, [(1u64, &a), (u64::MAX, &b)]);
        let (t, body) = record_type(payload_of(&out)).unwrap();
        assert_eq!(t, RecordType::Series);
        assert_eq!(
            decode_series_owned(body).unwrap(),
            vec![(1, a), (u64::MAX, b)]
        );
    }

    #[test]
    fn samples_round_trip_bit_exact() {
        let samples = vec![
            RefSample {
                sref: 10,
                t: 1000,
                v: 1.5,
            },
            RefSample {
                sref: 3,
                t: i64::MIN,
                v: STALE_NAN,
            },
            RefSample {
                sref: u64::MAX,
                t: i64::MAX,
                v: -0.0,
            },
            RefSample {
                sref: 10,
                t: 999,
                v: f64::NAN,
            },
        ];
        let mut out = Vec::new();
        encode_samples(&mut out, &samples);
        let (t, body) = record_type(payload_of(&out)).unwrap();
        assert_eq!(t, RecordType::Samples);
        let mut got = Vec::new();
        decode_samples(body, &mut got).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, s) in got.iter().zip(&samples) {
            assert_eq!((g.sref, g.t, g.v.to_bits()), (s.sref, s.t, s.v.to_bits()));
        }
    }

    #[test]
    fn large_batches_are_split() {
        let samples: Vec<RefSample> = (0..SAMPLES_PER_RECORD as u64 + 5)
            .map(|i| RefSample {
                sref: i,
                t: i as i64,
                v: 0.0,
            })
            .collect();
        let mut out = Vec::new();
        encode_samples(&mut out, &samples);
        let first = payload_of(&out);
        let rest = &out[FRAME_HEADER + first.len()..];
        let mut got = Vec::new();
        decode_samples(&first[1..], &mut got).unwrap();
        decode_samples(&payload_of(rest)[1..], &mut got).unwrap();
        assert_eq!(got.len(), samples.len());
    }

    #[test]
    fn garbage_never_panics() {
        let a = Labels::from_pairs(&[("a", "b")]);
        let mut out = Vec::new();
        encode_series(&mut out, [(7u64, &a)]);
        encode_samples(
            &mut out,
            &[RefSample {
                sref: 1,
                t: 2,
                v: 3.0,
            }],
        );
        for cut in 0..out.len() {
            let _ = decode_series(&out[..cut], |_, _| {});
            let _ = decode_samples(&out[..cut], &mut Vec::new());
        }
        assert_eq!(record_type(&[]), Err(RecordError::Empty));
        assert_eq!(record_type(&[9]), Err(RecordError::UnknownType(9)));
        assert!(decode_series(&[1, 1, 5, b'a'], |_, _| {}).is_err());
        assert!(decode_series(&[1, 1, 1, 0xff, 0], |_, _| {}).is_err());
    }
}
