//! The XOR chunk: Gorilla-style compression of (timestamp, value) pairs, as Prometheus'
//! `tsdb/chunkenc/xor.go`.
//!
//! Layout (see docs/format/chunks.md): a big-endian `u16` sample count, then a bit stream:
//! first timestamp as a zig-zag varint and first value as 64 raw bits; the second
//! timestamp as an unsigned varint delta and its value XOR-encoded; every later timestamp
//! as a delta-of-delta in one of five buckets (`0`, `10`+14 bits, `110`+17, `1110`+20,
//! `1111`+64) and its value XOR-encoded against the previous (`0` same value; `10` reuse the
//! previous leading/trailing-zero window; `11` + 5 bits leading zeros + 6 bits significant
//! length + the significant bits).
//!
//! Values are compared and stored by bit pattern, so NaN payloads (the staleness marker),
//! -0.0 and infinities survive exactly.

use super::bstream::{BitReader, BitWriter};
use super::ChunkError;
use crate::model::Sample;

/// Bytes before the bit stream: the sample count.
const HEADER: usize = 2;

/// Maximum samples in one chunk (the count is a u16).
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// An appendable XOR chunk.
#[derive(Clone, Debug)]
pub struct XorChunk {
    w: BitWriter,
    num: u16,
    t: i64,
    v_bits: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    min_t: i64,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        XorChunk {
            w: BitWriter::from_parts(vec![0, 0], 0),
            num: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            // 0xff marks "no window yet", forcing a full window on the first XOR.
            leading: 0xff,
            trailing: 0,
            min_t: i64::MAX,
        }
    }

    /// Reopens an encoded chunk for appending; decodes it once to restore the appender state.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        if bytes.len() < HEADER {
            return Err(ChunkError::Truncated);
        }
        let mut it = XorIterator::new(&bytes[..])?;
        let mut c = XorChunk::new();
        let mut n = 0u16;
        while let Some(s) = it.next_sample() {
            if n == 0 {
                c.min_t = s.t;
            }
            n += 1;
        }
        if let Some(e) = it.err {
            return Err(e);
        }
        c.num = n;
        c.t = it.t;
        c.v_bits = it.v_bits;
        c.t_delta = it.t_delta;
        c.leading = it.leading;
        c.trailing = it.trailing;
        let bit_len = it.r_pos_bits();
        let free = ((8 - bit_len % 8) % 8) as u8;
        let mut b = bytes;
        b.truncate(bit_len.div_ceil(8));
        c.w = BitWriter::from_parts(b, free);
        Ok(c)
    }

    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    pub fn is_full(&self) -> bool {
        self.num as usize >= MAX_SAMPLES
    }

    /// First timestamp, `i64::MAX` when empty.
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Last timestamp appended (meaningless when empty).
    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// Encoded bytes, sample count included.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Bytes held, including spare capacity.
    pub fn allocated_bytes(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Releases spare capacity (called when a chunk is complete).
    pub fn shrink_to_fit(&mut self) {
        self.w.bytes.shrink_to_fit();
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Appends a sample. The caller guarantees `t` is greater than the previous timestamp
    /// and that the chunk is not full.
    pub fn append(&mut self, t: i64, v: f64) {
        let v_bits = v.to_bits();
        match self.num {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(v_bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                self.w.write_uvarint(delta);
                self.write_value(v_bits);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                match dod {
                    0 => self.w.write_bit(false),
                    -8191..=8192 => {
                        self.w.write_bits(0b10, 2);
                        self.w.write_bits(dod as u64, 14);
                    }
                    -65535..=65536 => {
                        self.w.write_bits(0b110, 3);
                        self.w.write_bits(dod as u64, 17);
                    }
                    -524287..=524288 => {
                        self.w.write_bits(0b1110, 4);
                        self.w.write_bits(dod as u64, 20);
                    }
                    _ => {
                        self.w.write_bits(0b1111, 4);
                        self.w.write_bits(dod as u64, 64);
                    }
                }
                self.write_value(v_bits);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
        let n = self.num.to_be_bytes();
        self.w.bytes[0] = n[0];
        self.w.bytes[1] = n[1];
    }

    fn write_value(&mut self, v_bits: u64) {
        let x = v_bits ^ self.v_bits;
        if x == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let mut leading = x.leading_zeros() as u8;
        let trailing = x.trailing_zeros() as u8;
        // Leading zeros are stored in 5 bits.
        if leading >= 32 {
            leading = 31;
        }
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.write_bit(true);
            self.w.write_bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits does not fit 6 bits; it is stored as 0 (never a real length).
            self.w.write_bits(u64::from(sig & 0x3f), 6);
            self.w.write_bits(x >> trailing, sig);
        }
    }

    /// Iterates the samples.
    pub fn iter(&self) -> XorIterator<&[u8]> {
        // The header is always present, so this cannot fail.
        XorIterator::new(self.w.bytes()).unwrap_or_else(|_| XorIterator::empty(self.w.bytes()))
    }
}

/// Decodes an XOR chunk lazily, over any byte container (`&[u8]`, `Arc<[u8]>`, `Vec<u8>`).
#[derive(Clone, Debug)]
pub struct XorIterator<B> {
    r: BitReader<B>,
    total: u16,
    read: u16,
    t: i64,
    v_bits: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    err: Option<ChunkError>,
}

impl<B: AsRef<[u8]>> XorIterator<B> {
    /// Starts decoding; fails when the buffer is shorter than the header.
    pub fn new(buf: B) -> Result<Self, ChunkError> {
        let b = buf.as_ref();
        if b.len() < HEADER {
            return Err(ChunkError::Truncated);
        }
        let total = u16::from_be_bytes([b[0], b[1]]);
        Ok(XorIterator {
            r: BitReader::new(buf, HEADER),
            total,
            read: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            err: None,
        })
    }

    fn empty(buf: B) -> Self {
        XorIterator {
            r: BitReader::new(buf, 0),
            total: 0,
            read: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            err: None,
        }
    }

    /// Number of samples the chunk header declares.
    pub fn len(&self) -> usize {
        self.total as usize
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The decoding error that ended iteration early, if any (a corrupt chunk).
    pub fn error(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    fn r_pos_bits(&self) -> usize {
        self.r.position()
    }

    fn fail(&mut self) -> Option<Sample> {
        self.err = Some(ChunkError::Corrupt {
            sample: self.read as usize,
        });
        self.read = self.total;
        None
    }

    /// Decodes the next sample.
    pub fn next_sample(&mut self) -> Option<Sample> {
        if self.read >= self.total {
            return None;
        }
        match self.read {
            0 => {
                let Some(t) = self.r.read_varint() else {
                    return self.fail();
                };
                let Some(v) = self.r.read_bits(64) else {
                    return self.fail();
                };
                self.t = t;
                self.v_bits = v;
            }
            1 => {
                let Some(d) = self.r.read_uvarint() else {
                    return self.fail();
                };
                // Timestamps strictly increase; anything else is damage, and readers
                // (range decoding, the query engine) rely on the order.
                let t = self.t.wrapping_add(d as i64);
                if t <= self.t {
                    return self.fail();
                }
                self.t_delta = d;
                self.t = t;
                if self.read_value().is_none() {
                    return self.fail();
                }
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    match self.r.read_bit() {
                        Some(true) => prefix += 1,
                        Some(false) => break,
                        None => return self.fail(),
                    }
                }
                let dod: i64 = match prefix {
                    0 => 0,
                    _ => {
                        let bits = match prefix {
                            1 => 14,
                            2 => 17,
                            3 => 20,
                            _ => 64,
                        };
                        let Some(raw) = self.r.read_bits(bits) else {
                            return self.fail();
                        };
                        if bits == 64 {
                            raw as i64
                        } else if raw > (1 << (bits - 1)) {
                            // Sign-extend: the range is (-2^(b-1), 2^(b-1)].
                            (raw as i64) - (1i64 << bits)
                        } else {
                            raw as i64
                        }
                    }
                };
                let delta = (self.t_delta as i64).wrapping_add(dod);
                let t = self.t.wrapping_add(delta);
                if t <= self.t {
                    return self.fail();
                }
                self.t_delta = delta as u64;
                self.t = t;
                if self.read_value().is_none() {
                    return self.fail();
                }
            }
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v_bits),
        })
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(self.leading) + u32::from(sig) > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - sig;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig)?;
        self.v_bits ^= bits << self.trailing;
        Some(())
    }
}

impl<B: AsRef<[u8]> + Send> crate::storage::SampleIterator for XorIterator<B> {
    fn next(&mut self) -> Option<Sample> {
        self.next_sample()
    }
}

impl<B: AsRef<[u8]>> Iterator for XorIterator<B> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.next_sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v);
        }
        let got: Vec<Sample> = c.iter().collect();
        assert_eq!(got.len(), samples.len());
        for (g, &(t, v)) in got.iter().zip(samples) {
            assert_eq!(g.t, t);
            assert_eq!(g.v.to_bits(), v.to_bits(), "value at {t}");
        }
        // Reopen and continue appending.
        let mut re = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
        assert_eq!(re.num_samples(), samples.len());
        let Some(next_t) = samples.last().map_or(Some(0), |s| s.0.checked_add(15_000)) else {
            return;
        };
        re.append(next_t, 42.5);
        let all: Vec<Sample> = re.iter().collect();
        assert_eq!(all.len(), samples.len() + 1);
        assert_eq!(all.last().unwrap().t, next_t);
        assert_eq!(all.last().unwrap().v, 42.5);
    }

    #[test]
    fn edge_values() {
        round_trip(&[
            (0, 0.0),
            (1, -0.0),
            (2, f64::NAN),
            (3, STALE_NAN),
            (4, f64::INFINITY),
            (5, f64::NEG_INFINITY),
            (6, f64::MIN_POSITIVE),
            (7, f64::MAX),
            (8, 1.0),
            (9, 1.0),
        ]);
        round_trip(&[(i64::MIN + 1, 1.0), (0, 2.0), (i64::MAX - 1, 3.0)]);
        round_trip(&[]);
        round_trip(&[(-5000, 1.0)]);
    }

    #[test]
    fn regular_counter_is_small() {
        let mut c = XorChunk::new();
        for i in 0..120 {
            c.append(1_600_000_000_000 + i * 15_000, (i * 3) as f64);
        }
        // About 1.5 bytes per sample for a regular counter, as with Prometheus.
        assert!(c.bytes().len() < 120 * 3, "{}", c.bytes().len());
    }

    #[test]
    fn corrupt_chunks_do_not_panic() {
        let mut c = XorChunk::new();
        for i in 0..50 {
            c.append(i * 1000 + (i * i) % 7, (i as f64).sin());
        }
        let b = c.bytes().to_vec();
        for cut in 0..b.len() {
            let it = XorIterator::new(&b[..cut]);
            if let Ok(it) = it {
                let _ = it.count();
            }
        }
        let mut flipped = b.clone();
        for i in 2..flipped.len() {
            flipped[i] ^= 0xa5;
            let _ = XorIterator::new(&flipped[..]).unwrap().count();
            let _ = XorChunk::from_bytes(flipped.clone());
        }
    }

    fn value_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(STALE_NAN),
            Just(-0.0),
            Just(0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (0u32..1000).prop_map(f64::from),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #[test]
        fn any_sequence_decodes_bit_exactly(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((1i64..1_000_000_000_000, value_strategy()), 0..300),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (d, v) in steps {
                samples.push((t, v));
                t = t.saturating_add(d);
                if t == i64::MAX { break; }
            }
            let mut c = XorChunk::new();
            for &(t, v) in &samples { c.append(t, v); }
            let got: Vec<Sample> = c.iter().collect();
            prop_assert_eq!(got.len(), samples.len());
            for (g, &(t, v)) in got.iter().zip(&samples) {
                prop_assert_eq!(g.t, t);
                prop_assert_eq!(g.v.to_bits(), v.to_bits());
            }
        }
    }
}
