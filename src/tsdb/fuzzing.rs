//! One entry point that hands the same bytes to every decoder of the TSDB's on-disk
//! formats, for the `tsdb_decode` fuzz target and the mutation tests below: chunks of both
//! encodings (lazy iterators and bulk range decoding), WAL record bodies (series, samples,
//! tombstones) and the block index. A file on disk is input like any other: whatever the
//! bytes, each decoder must return samples or an error, never panic, and its answers must
//! be internally consistent.

use std::path::Path;
use std::sync::Arc;

use super::block::index::IndexReader;
use super::chunkenc::decimal::{self, DecodeScratch};
use super::chunkenc::{Encoding, XorIterator};
use super::chunks::ChunkMeta;
use super::tombstones::decode_wal_stones;
use super::wal::record::{self, RecordType};
use crate::model::matcher::{MatchOp, Matcher};

/// Runs `data` through every decoder; panics only when a decoder contradicts itself.
#[doc(hidden)]
pub fn decode_all(data: &[u8]) {
    chunks(data);
    wal_bodies(data);
    index(data);
}

fn chunks(data: &[u8]) {
    for encoding in [Encoding::Xor, Encoding::DecimalDelta] {
        let meta = ChunkMeta {
            min_time: i64::MIN,
            max_time: i64::MAX,
            encoding,
            data: Arc::from(data),
        };
        // The lazy iterator and the bulk decoder read the same format: where both succeed
        // they must yield the same samples.
        let lazy = meta.iter().map(|mut it| {
            let samples: Vec<_> = it.by_ref().collect();
            (samples, it.error().cloned())
        });
        let mut bulk = Vec::new();
        let bulk_result = meta.decode_range(i64::MIN, i64::MAX, &mut bulk, &mut Default::default());
        if let (Ok((samples, None)), Ok(())) = (&lazy, &bulk_result) {
            assert_eq!(
                samples.len(),
                bulk.len(),
                "{encoding:?}: lazy and bulk decoding disagree"
            );
            for (a, b) in samples.iter().zip(&bulk) {
                assert!(
                    a.t == b.t && a.v.to_bits() == b.v.to_bits(),
                    "{encoding:?}: {a:?} vs {b:?}"
                );
            }
            // A range decode returns exactly the samples of the whole decode in range.
            if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
                // Decoded timestamps strictly increase.
                assert!(
                    samples.windows(2).all(|w| w[0].t < w[1].t),
                    "{encoding:?}: {samples:?}"
                );
                let (lo, hi) = (first.t, last.t);
                let mid = ((i128::from(lo) + i128::from(hi)) / 2) as i64;
                let mut part = Vec::new();
                if meta
                    .decode_range(lo, mid, &mut part, &mut Default::default())
                    .is_ok()
                {
                    assert!(
                        part.iter().all(|s| (lo..=mid).contains(&s.t)),
                        "{encoding:?}: range [{lo}, {mid}] decoded {part:?} from {samples:?}"
                    );
                }
            }
        }
    }
    let _ = decimal::decode(data);
    let _ = decimal::decode_range(
        data,
        0,
        i64::MAX / 2,
        &mut Vec::new(),
        &mut DecodeScratch::default(),
    );
    if let Ok(mut it) = XorIterator::new(data) {
        while it.next_sample().is_some() {}
    }
    let _ = super::chunkenc::XorChunk::from_bytes(data.to_vec());
}

fn wal_bodies(data: &[u8]) {
    // As the record's first byte says, and then as each body type regardless.
    if let Ok((kind, body)) = record::record_type(data) {
        match kind {
            RecordType::Series => {
                let _ = record::decode_series_owned(body);
            }
            RecordType::Samples => {
                let _ = record::decode_samples(body, &mut Vec::new());
            }
            RecordType::Tombstones => {
                let _ = decode_wal_stones(body);
            }
        }
    }
    let _ = record::decode_series_owned(data);
    let _ = record::decode_samples(data, &mut Vec::new());
    let _ = decode_wal_stones(data);
}

fn index(data: &[u8]) {
    let Ok(ix) = IndexReader::decode(Path::new("fuzz/index"), data) else {
        return;
    };
    for r in 0..ix.num_series() as u32 {
        if let Some(e) = ix.series(r) {
            let _ = ix.labels(e);
        }
    }
    for name in ix.label_names() {
        let values = ix.label_values(&name);
        let _ = ix.label_value_counts(&name);
        if let Some(v) = values.first() {
            if let Ok(m) = Matcher::new(MatchOp::Equal, name.as_str(), v.as_str()) {
                let _ = ix.select(&[m]);
            }
        }
        if let Ok(m) = Matcher::new(MatchOp::RegexMatch, name.as_str(), ".+") {
            let _ = ix.select(&[m]);
        }
    }
    let _ = ix.select(&[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Sample};
    use crate::tsdb::chunkenc::XorChunk;
    use crate::tsdb::wal::record::RefSample;

    /// Every truncation and every single-byte corruption of `valid` goes through all
    /// decoders without a panic.
    fn mutations(valid: &[u8]) {
        for len in 0..valid.len() {
            decode_all(&valid[..len]);
        }
        let mut b = valid.to_vec();
        for i in 0..b.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                b[i] ^= flip;
                decode_all(&b);
                b[i] ^= flip;
            }
        }
    }

    fn samples() -> Vec<Sample> {
        (0..40)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000 + (i % 3),
                v: if i % 7 == 0 {
                    f64::NAN
                } else {
                    (i * i) as f64 * 0.25
                },
            })
            .collect()
    }

    #[test]
    fn corrupt_chunks_never_panic() {
        let mut x = XorChunk::new();
        for s in samples() {
            x.append(s.t, s.v);
        }
        mutations(x.bytes());
        mutations(&decimal::encode(&samples()));
        let ints: Vec<Sample> = (0..40)
            .map(|i| Sample {
                t: i * 1000,
                v: i as f64,
            })
            .collect();
        mutations(&decimal::encode(&ints));
    }

    #[test]
    fn corrupt_wal_records_never_panic() {
        let mut series = Vec::new();
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
        let b = Labels::from_pairs(&[("__name__", "up"), ("job", "api"), ("zone", "é")]);
        record::encode_series(&mut series, [(1u64, &a), (2u64, &b)]);
        mutations(&series);
        let mut recs = Vec::new();
        let refs: Vec<RefSample> = (0..10)
            .map(|i| RefSample {
                sref: 1 + i % 2,
                t: 1_000 + i as i64 * 15,
                v: i as f64,
            })
            .collect();
        record::encode_samples(&mut recs, &refs);
        mutations(&recs);
    }
}
