//! The decimal-delta chunk (encoding 2): the persisted-block encoding that turns values
//! written with few decimal digits into integers and stores timestamps and values as
//! bit-packed integer columns, so a regular scrape interval, a constant and a counter with
//! small increments cost next to nothing. Full-precision floats keep Gorilla's XOR value
//! stream but still get the cheaper timestamp column.
//!
//! Our own design (docs/format/chunks.md, "Encoding 2"), in the spirit of VictoriaMetrics'
//! decimal conversion and Parquet's `DELTA_BINARY_PACKED`; Prometheus has no equivalent.
//! Chunks are immutable once encoded (blocks are written once), so the encoder sees the
//! whole chunk and picks, per column, the cheapest of raw / delta / delta-of-delta with
//! frame-of-reference bit packing over blocks of 16, 64, 256 or all values, after dividing
//! by the common divisor (e.g. 4096 for page-sized memory gauges).
//!
//! Round trips are bit-exact by construction: a value is stored as a scaled integer only
//! when decoding that integer reproduces the original bit pattern, otherwise the chunk's
//! values are stored as bit patterns (NaN, stale markers, -0.0, ±Inf, long mantissas):
//! an integer column of the patterns or the XOR stream, whichever is smaller.

use super::bstream::{BitReader, BitWriter};
use super::xor::XorChunk;
use super::{ChunkError, Encoding};
use crate::model::Sample;

/// Largest decimal scale tried (values with more fractional digits use the XOR stream).
const MAX_SCALE: u8 = 15;
/// Value-kind byte meaning "values are a Gorilla XOR bit stream".
const KIND_XOR: u8 = 0xff;
/// Value-kind byte meaning "values are an integer column of their IEEE-754 bit patterns"
/// (wins over XOR for slowly rising full-precision floats such as histogram sums).
const KIND_BITS: u8 = 0xfe;
/// Upper bound on samples in one chunk; also bounds allocation when decoding corrupt data.
pub const MAX_SAMPLES: usize = 65_535;
/// Largest magnitude of an integer mantissa (exactly representable in an f64).
const MAX_MANTISSA: i64 = 1 << 53;

/// Exact powers of ten representable in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Byte cursor that fails (never panics) past the end.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if shift >= 64 || (shift == 63 && b > 1) {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
    }

    fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
}

/// Differencing applied before packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Raw = 0,
    Delta = 1,
    DeltaOfDelta = 2,
}

const BLOCK_LOG2: [u8; 4] = [4, 6, 8, 15];

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn bit_width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

/// The values packed for an order (all entries after the ones stored verbatim).
fn residuals(xs: &[i64], order: Order) -> Vec<i64> {
    match order {
        Order::Raw => xs[1..].to_vec(),
        Order::Delta => xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect(),
        Order::DeltaOfDelta => {
            let d: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
            d.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
        }
    }
}

/// Common divisor of all residuals' distances from their minimum, or 1.
fn common_divisor(rs: &[i64]) -> u64 {
    let Some(&min) = rs.iter().min() else {
        return 1;
    };
    let mut g = 0u64;
    for &r in rs {
        let d = r.wrapping_sub(min) as u64;
        if d != 0 && (g == 0 || !d.is_multiple_of(g)) {
            g = gcd(g, d);
            if g == 1 {
                return 1;
            }
        }
    }
    if g == 0 {
        return 1;
    }
    // Packing divides per-block distances; they stay multiples of g only without wrapping.
    let max = rs.iter().copied().max().unwrap_or(min);
    if (max as i128 - min as i128) > i64::MAX as i128 {
        return 1;
    }
    g
}

/// (min, max, count) of a run of residuals.
type BlockStat = (i64, i64, usize);

/// [`BlockStat`] of each run of 16 residuals; larger blocks' statistics are merged
/// from these, so every block size is costed from one pass over the values.
fn block_stats(rs: &[i64]) -> Vec<BlockStat> {
    rs.chunks(1 << BLOCK_LOG2[0])
        .map(|b| {
            let (mn, mx) = b
                .iter()
                .fold((i64::MAX, i64::MIN), |(a, c), &x| (a.min(x), c.max(x)));
            (mn, mx, b.len())
        })
        .collect()
}

/// Bytes the packed residuals take with blocks of `1 << lg` values and divisor `g`.
fn packed_cost(stats: &[BlockStat], g: u64, lg: u8) -> usize {
    stats
        .chunks(1 << (lg - BLOCK_LOG2[0]))
        .map(|grp| {
            let (mn, mx, n) = grp.iter().fold((i64::MAX, i64::MIN, 0), |(a, c, n), s| {
                (a.min(s.0), c.max(s.1), n + s.2)
            });
            let w = bit_width(mx.wrapping_sub(mn) as u64 / g) as usize;
            uvarint_len(zigzag(mn)) + 1 + (n * w).div_ceil(8)
        })
        .sum()
}

/// Writes an integer column: `xs[0]` as a varint, then the cheapest packing of the rest.
fn encode_column(xs: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = xs.first() else { return };
    put_varint(out, first);
    if xs.len() == 1 {
        return;
    }
    // Pick the order on costs without a common divisor (the divisor usually applies to
    // every order alike, and computing it takes a division per value), then find the
    // divisor for that order alone and choose the block size with it.
    let mut best: Option<(usize, Order, Vec<i64>, Vec<BlockStat>)> = None;
    for order in [Order::Raw, Order::Delta, Order::DeltaOfDelta] {
        if order == Order::DeltaOfDelta && xs.len() < 3 {
            continue;
        }
        let rs = residuals(xs, order);
        let stats = block_stats(&rs);
        let cost = BLOCK_LOG2
            .iter()
            .map(|&lg| packed_cost(&stats, 1, lg))
            .min()
            .unwrap_or(usize::MAX);
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, order, rs, stats));
        }
    }
    let Some((_, order, rs, stats)) = best else {
        return;
    };
    let g = common_divisor(&rs);
    let mut lg = BLOCK_LOG2[0];
    let mut best_cost = usize::MAX;
    for cand in BLOCK_LOG2 {
        let cost = packed_cost(&stats, g, cand);
        if cost < best_cost {
            (best_cost, lg) = (cost, cand);
        }
        if (1usize << cand) >= rs.len() {
            // Larger blocks would be the same single block.
            break;
        }
    }
    out.push(((order as u8) << 4) | lg);
    put_uvarint(out, g);
    if order == Order::DeltaOfDelta {
        put_varint(out, xs[1].wrapping_sub(xs[0]));
    }
    for b in rs.chunks(1 << lg) {
        let (mn, mx) = b
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, c), &x| (a.min(x), c.max(x)));
        let w = bit_width(mx.wrapping_sub(mn) as u64 / g);
        put_varint(out, mn);
        out.push(w);
        pack(b.iter().map(|&x| x.wrapping_sub(mn) as u64 / g), w, out);
    }
}

/// Packs values of `w` bits each, LSB first, into whole bytes.
fn pack(vals: impl Iterator<Item = u64>, w: u8, out: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for v in vals {
        acc |= u128::from(v) << bits;
        bits += u32::from(w);
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Fills `dst` with `mn + q * g` for each unsigned value `q` of `w` bits packed LSB first
/// at the start of `bytes`, which holds at least `dst.len() * w` bits and may run on past
/// them (reads beyond the packed bits are masked off). Values are read with one unaligned
/// 8-byte load each.
fn unpack(bytes: &[u8], w: u8, mn: i64, g: u64, dst: &mut [i64]) {
    let len = dst.len();
    let val = |q: u64| mn.wrapping_add(q.wrapping_mul(g) as i64);
    if w == 0 {
        dst.fill(mn);
        return;
    }
    if w > 56 {
        // Wide values can straddle nine bytes: take them bit-serially.
        let mut acc: u128 = 0;
        let mut bits = 0u32;
        let mut bi = 0usize;
        let mask: u128 = (1u128 << w) - 1;
        for d in dst.iter_mut() {
            while bits < u32::from(w) {
                acc |= u128::from(bytes.get(bi).copied().unwrap_or(0)) << bits;
                bi += 1;
                bits += 8;
            }
            *d = val((acc & mask) as u64);
            acc >>= w;
            bits -= u32::from(w);
        }
        return;
    }
    let w = usize::from(w);
    let mask = (1u64 << w) - 1;
    // Values whose 8-byte window lies inside `bytes`.
    let fast = if bytes.len() >= 8 {
        (((bytes.len() - 8) * 8 + 7) / w + 1).min(len)
    } else {
        0
    };
    for (k, d) in dst[..fast].iter_mut().enumerate() {
        let bit = k * w;
        let at = bit >> 3;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        *d = val((u64::from_le_bytes(word) >> (bit & 7)) & mask);
    }
    if fast == len {
        return;
    }
    // The last few values read from a zero-padded copy of the final bytes.
    let base = (fast * w) >> 3;
    let tail = &bytes[base.min(bytes.len())..];
    let mut pad = [0u8; 24];
    let m = tail.len().min(16);
    pad[..m].copy_from_slice(&tail[..m]);
    for (k, d) in dst.iter_mut().enumerate().skip(fast) {
        let bit = k * w - base * 8;
        let at = (bit >> 3).min(16);
        let mut word = [0u8; 8];
        word.copy_from_slice(&pad[at..at + 8]);
        *d = val((u64::from_le_bytes(word) >> (bit & 7)) & mask);
    }
}

/// Reads an integer column of `n` values, appending to `out`. Only the first `limit`
/// values are materialised (the rest of the column is skipped unread, so the cursor is
/// left inside the column when `limit < n`).
/// With `increasing`, a column whose values do not strictly increase (a timestamp column
/// after damage) is an error too; the check rides on the prefix sums, nearly free.
fn decode_column(
    c: &mut Cursor<'_>,
    n: usize,
    limit: usize,
    increasing: bool,
    out: &mut Vec<i64>,
) -> Option<()> {
    if n == 0 || limit == 0 {
        return Some(());
    }
    let first = c.varint()?;
    out.push(first);
    if n == 1 || limit == 1 {
        return Some(());
    }
    let mode = c.byte()?;
    let order = match mode >> 4 {
        0 => Order::Raw,
        1 => Order::Delta,
        2 => Order::DeltaOfDelta,
        _ => return None,
    };
    let lg = mode & 0x0f;
    if !BLOCK_LOG2.contains(&lg) {
        return None;
    }
    let g = c.uvarint()?;
    if g == 0 {
        return None;
    }
    let limit = limit.min(n);
    out.reserve(limit - 1);
    let mut x = first;
    let mut d = 0i64;
    // Set when a value is not above the one before it.
    let mut unordered = 0u8;
    let count = if order == Order::DeltaOfDelta {
        d = c.varint()?;
        let next = x.wrapping_add(d);
        unordered |= u8::from(next <= x);
        x = next;
        out.push(x);
        n - 2
    } else {
        n - 1
    };
    let block = 1usize << lg;
    let mut left = count;
    // Values still wanted after the ones already pushed.
    let mut want = limit - (n - count);
    while left > 0 && want > 0 {
        let len = left.min(block);
        let mn = c.varint()?;
        let w = c.byte()?;
        if w > 64 {
            return None;
        }
        let at = c.pos;
        c.take((len * w as usize).div_ceil(8))?;
        // The packed bits and whatever follows them, for full-width loads.
        let bytes = &c.b[at..];
        let take = len.min(want);
        let from = out.len();
        out.resize(from + take, 0);
        let dst = &mut out[from..];
        unpack(bytes, w, mn, g, dst);
        match order {
            Order::Raw => {
                if increasing {
                    for &v in dst.iter() {
                        unordered |= u8::from(v <= x);
                        x = v;
                    }
                }
            }
            Order::Delta => {
                for v in dst.iter_mut() {
                    let next = x.wrapping_add(*v);
                    unordered |= u8::from(next <= x);
                    x = next;
                    *v = x;
                }
            }
            Order::DeltaOfDelta => {
                for v in dst.iter_mut() {
                    d = d.wrapping_add(*v);
                    let next = x.wrapping_add(d);
                    unordered |= u8::from(next <= x);
                    x = next;
                    *v = x;
                }
            }
        }
        left -= len;
        want -= take;
    }
    if increasing && unordered != 0 {
        return None;
    }
    Some(())
}

/// The integer `m` and scale `k` with `m / 10^k` reproducing `v` bit for bit, smallest `k`.
fn to_decimal(v: f64) -> Option<(i64, u8)> {
    if !v.is_finite() {
        return None;
    }
    for k in 0..=MAX_SCALE {
        let scaled = v * POW10[k as usize];
        if scaled.abs() >= MAX_MANTISSA as f64 {
            return None;
        }
        let m = scaled.round() as i64;
        if from_decimal(m, k).to_bits() == v.to_bits() {
            return Some((m, k));
        }
    }
    None
}

#[inline]
fn from_decimal(m: i64, k: u8) -> f64 {
    if k == 0 {
        m as f64
    } else {
        m as f64 / POW10[k as usize]
    }
}

/// The mantissas of all values at one common scale, when every value allows it.
fn decimal_column(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    let mut parts = Vec::with_capacity(samples.len());
    let mut scale = 0u8;
    for s in samples {
        let (m, k) = to_decimal(s.v)?;
        scale = scale.max(k);
        parts.push((m, k));
    }
    let mut ms = Vec::with_capacity(parts.len());
    for (m, k) in parts {
        let mul = 10i64.checked_pow(u32::from(scale - k))?;
        let m = m.checked_mul(mul)?;
        if m.abs() >= MAX_MANTISSA
            || from_decimal(m, scale).to_bits() != samples[ms.len()].v.to_bits()
        {
            return None;
        }
        ms.push(m);
    }
    Some((scale, ms))
}

/// Gorilla XOR value stream (values only), as in the XOR chunk.
fn encode_xor_values(samples: &[Sample], out: &mut Vec<u8>) {
    let mut w = BitWriter::new();
    let mut prev = 0u64;
    let mut leading = 0xffu8;
    let mut trailing = 0u8;
    for (i, s) in samples.iter().enumerate() {
        let bits = s.v.to_bits();
        if i == 0 {
            w.write_bits(bits, 64);
            prev = bits;
            continue;
        }
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.write_bit(false);
            continue;
        }
        w.write_bit(true);
        let l = (x.leading_zeros() as u8).min(31);
        let t = x.trailing_zeros() as u8;
        if leading != 0xff && l >= leading && t >= trailing {
            w.write_bit(false);
            w.write_bits(x >> trailing, 64 - leading - trailing);
        } else {
            leading = l;
            trailing = t;
            w.write_bit(true);
            w.write_bits(u64::from(l), 5);
            let sig = 64 - l - t;
            w.write_bits(u64::from(sig & 0x3f), 6);
            w.write_bits(x >> t, sig);
        }
    }
    out.extend_from_slice(w.bytes());
}

/// Decodes the XOR value stream up to sample `hi` (exclusive) and appends samples `lo..hi`
/// with their timestamps from `ts`.
fn decode_xor_values(
    buf: &[u8],
    ts: &[i64],
    lo: usize,
    hi: usize,
    out: &mut Vec<Sample>,
) -> Option<()> {
    let mut r = BitReader::new(buf, 0);
    let mut v = 0u64;
    let mut leading = 0u8;
    let mut trailing = 0u8;
    for (i, &t) in ts.iter().enumerate().take(hi) {
        if i == 0 {
            v = r.read_bits(64)?;
        } else if r.read_bit()? {
            if r.read_bit()? {
                leading = r.read_bits(5)? as u8;
                let mut sig = r.read_bits(6)? as u8;
                if sig == 0 {
                    sig = 64;
                }
                if u32::from(leading) + u32::from(sig) > 64 {
                    return None;
                }
                trailing = 64 - leading - sig;
            } else if i == 1 {
                // A window reuse needs a window; the encoder never writes one here.
                return None;
            }
            let sig = 64 - leading - trailing;
            v ^= r.read_bits(sig)? << trailing;
        }
        if i >= lo {
            out.push(Sample {
                t,
                v: f64::from_bits(v),
            });
        }
    }
    Some(())
}

/// Encodes samples (timestamps strictly increasing, at most [`MAX_SAMPLES`]) as a
/// decimal-delta chunk. Layout: `num_samples` uvarint, timestamp column, value-kind byte
/// (decimal scale 0..=15, or 0xff for an XOR value stream), then the values.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + samples.len());
    put_uvarint(&mut out, samples.len() as u64);
    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    encode_column(&ts, &mut out);
    if samples.is_empty() {
        return out;
    }
    match decimal_column(samples) {
        Some((scale, ms)) => {
            out.push(scale);
            encode_column(&ms, &mut out);
        }
        None => {
            let mut xor = Vec::new();
            encode_xor_values(samples, &mut xor);
            let bits: Vec<i64> = samples.iter().map(|s| s.v.to_bits() as i64).collect();
            let mut col = Vec::new();
            encode_column(&bits, &mut col);
            if col.len() < xor.len() {
                out.push(KIND_BITS);
                out.extend_from_slice(&col);
            } else {
                out.push(KIND_XOR);
                out.extend_from_slice(&xor);
            }
        }
    }
    out
}

/// Decodes a whole decimal-delta chunk.
pub fn decode(buf: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    decode_range(
        buf,
        i64::MIN,
        i64::MAX,
        &mut out,
        &mut DecodeScratch::default(),
    )?;
    Ok(out)
}

/// Reusable column buffers for [`decode_range`], so decoding many chunks allocates once.
#[derive(Clone, Debug, Default)]
pub struct DecodeScratch {
    ts: Vec<i64>,
    vals: Vec<i64>,
}

/// Appends the chunk's samples with `mint <= t <= maxt` to `out`. The timestamp column is
/// decoded first, and values only up to the last sample in range; nothing is appended
/// when the chunk is corrupt.
pub fn decode_range(
    buf: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
    scratch: &mut DecodeScratch,
) -> Result<(), ChunkError> {
    let corrupt = |n: usize| ChunkError::Corrupt { sample: n };
    let mut c = Cursor { b: buf, pos: 0 };
    let n = c.uvarint().ok_or(ChunkError::Truncated)? as usize;
    if n > MAX_SAMPLES {
        return Err(corrupt(0));
    }
    let ts = &mut scratch.ts;
    ts.clear();
    // Timestamps strictly increase; anything else is damage (and the range search below
    // relies on the order).
    decode_column(&mut c, n, n, true, ts).ok_or_else(|| corrupt(ts.len()))?;
    if ts.len() != n {
        return Err(corrupt(ts.len()));
    }
    if n == 0 {
        return Ok(());
    }
    let lo = ts.partition_point(|&t| t < mint);
    let hi = ts.partition_point(|&t| t <= maxt);
    let kind = c.byte().ok_or_else(|| corrupt(0))?;
    if kind == KIND_XOR {
        let rest = &buf[c.pos..];
        let before = out.len();
        out.reserve(hi.saturating_sub(lo));
        if decode_xor_values(rest, ts, lo, hi, out).is_none() {
            let got = out.len() - before;
            out.truncate(before);
            return Err(corrupt(lo + got));
        }
        return Ok(());
    }
    if kind > MAX_SCALE && kind != KIND_BITS {
        return Err(corrupt(0));
    }
    if lo >= hi {
        return Ok(());
    }
    let ms = &mut scratch.vals;
    ms.clear();
    decode_column(&mut c, n, hi, false, ms).ok_or_else(|| corrupt(ms.len()))?;
    if ms.len() != hi {
        return Err(corrupt(ms.len()));
    }
    let pairs = ts[lo..hi].iter().zip(&ms[lo..hi]);
    if kind == KIND_BITS {
        out.extend(pairs.map(|(&t, &m)| Sample {
            t,
            v: f64::from_bits(m as u64),
        }));
    } else {
        out.extend(pairs.map(|(&t, &m)| Sample {
            t,
            v: from_decimal(m, kind),
        }));
    }
    Ok(())
}

/// Number of samples a decimal-delta chunk declares (cheap: reads only the header).
pub fn num_samples(buf: &[u8]) -> Result<usize, ChunkError> {
    Cursor { b: buf, pos: 0 }
        .uvarint()
        .map(|n| n as usize)
        .ok_or(ChunkError::Truncated)
}

/// Encodes a run of samples (timestamps strictly increasing, at most [`MAX_SAMPLES`]) in
/// whichever of XOR and decimal-delta is smaller; ties go to decimal-delta, whose decoder
/// is faster.
pub fn encode_smallest(samples: &[Sample]) -> (Encoding, Vec<u8>) {
    let dd = encode(samples);
    // An XOR chunk takes at least 12 bytes plus 2 bits a sample after the second (one
    // for the timestamp, one for the value); when decimal-delta is already that small
    // XOR cannot win and is not tried.
    if samples.len() >= 2 && dd.len() <= 12 + (samples.len() - 2) / 4 {
        return (Encoding::DecimalDelta, dd);
    }
    let mut xor = XorChunk::new();
    for s in samples {
        xor.append(s.t, s.v);
    }
    if xor.bytes().len() < dd.len() {
        (Encoding::Xor, xor.into_bytes())
    } else {
        (Encoding::DecimalDelta, dd)
    }
}

/// Lazily decoding iterator: the chunk is decoded in one pass on the first call to `next`,
/// which is much faster per sample than bit-at-a-time decoding.
#[derive(Clone, Debug)]
pub struct DecimalIterator<B> {
    buf: B,
    decoded: Option<Vec<Sample>>,
    pos: usize,
    err: Option<ChunkError>,
}

impl<B: AsRef<[u8]>> DecimalIterator<B> {
    pub fn new(buf: B) -> Self {
        DecimalIterator {
            buf,
            decoded: None,
            pos: 0,
            err: None,
        }
    }

    /// The decoding error that ended iteration early, if any (a corrupt chunk).
    pub fn error(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    /// Decodes the next sample.
    pub fn next_sample(&mut self) -> Option<Sample> {
        if self.decoded.is_none() {
            match decode(self.buf.as_ref()) {
                Ok(v) => self.decoded = Some(v),
                Err(e) => {
                    self.err = Some(e);
                    self.decoded = Some(Vec::new());
                }
            }
        }
        let s = self.decoded.as_ref()?.get(self.pos).copied();
        self.pos += 1;
        s
    }
}

impl<B: AsRef<[u8]>> Iterator for DecimalIterator<B> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.next_sample()
    }
}

impl<B: AsRef<[u8]> + Send> crate::storage::SampleIterator for DecimalIterator<B> {
    fn next(&mut self) -> Option<Sample> {
        self.next_sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN;
    use proptest::prelude::*;

    fn check(samples: &[Sample]) -> Vec<u8> {
        let b = encode(samples);
        let got = decode(&b).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, s) in got.iter().zip(samples) {
            assert!(g.bit_eq(s), "{g:?} != {s:?}");
        }
        b
    }

    fn regular(vals: impl Iterator<Item = f64>) -> Vec<Sample> {
        vals.enumerate()
            .map(|(i, v)| Sample::new(1_700_000_000_000 + i as i64 * 15_000, v))
            .collect()
    }

    #[test]
    fn constant_and_regular_cost_almost_nothing() {
        let s = regular((0..480).map(|_| 1.0));
        assert!(check(&s).len() <= 24, "{}", encode(&s).len());
        let s = regular((0..480).map(|i| (i * 7) as f64));
        assert!(check(&s).len() <= 28);
    }

    #[test]
    fn decimals_are_scaled() {
        let s = regular((0..480).map(|i| (300 + (i * 37) % 100) as f64 / 100.0));
        let b = check(&s);
        // 7 bits of mantissa per sample at most.
        assert!(b.len() < 480 * 7 / 8 + 40, "{}", b.len());
        let s = regular((0..100).map(|i| 4096.0 * (1000 + (i * 13) % 17) as f64));
        let b = check(&s);
        assert!(b.len() < 100 * 6 / 8 + 30, "{}", b.len());
    }

    #[test]
    fn special_values_fall_back_to_xor_stream() {
        let vals = [
            0.0,
            -0.0,
            f64::NAN,
            STALE_NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            0.1 + 0.2,
            1e300,
        ];
        let s = regular(vals.iter().copied());
        let b = check(&s);
        assert!(b.contains(&KIND_XOR));
    }

    #[test]
    fn rising_float_sums_use_bit_pattern_column() {
        let mut sum = 1234.5f64;
        let s = regular((0..480).map(|i| {
            sum += 0.001 + (i as f64 * 0.7).sin().abs() * 0.25;
            sum
        }));
        let b = check(&s);
        let mut xor = Vec::new();
        encode_xor_values(&s, &mut xor);
        assert!(b.len() < xor.len(), "{} vs {}", b.len(), xor.len());
    }

    #[test]
    fn extreme_timestamps() {
        check(&[
            Sample::new(i64::MIN, 1.0),
            Sample::new(-1, 2.0),
            Sample::new(i64::MAX, 3.0),
        ]);
        check(&[Sample::new(i64::MIN, 1.0), Sample::new(i64::MAX, 2.0)]);
        check(&[]);
        check(&[Sample::new(5, -0.0)]);
        check(&[
            Sample::new(0, 9007199254740991.0),
            Sample::new(1, -9007199254740991.0),
        ]);
    }

    #[test]
    fn corrupt_input_never_panics() {
        let s = regular(
            (0..300).map(|i| (i % 11) as f64 * 0.5 + if i % 50 == 0 { 0.1234567 } else { 0.0 }),
        );
        for b in [
            encode(&s),
            encode(&regular((0..300).map(|i| (i as f64).sin()))),
        ] {
            for cut in 0..b.len() {
                let _ = decode(&b[..cut]);
            }
            for i in 0..b.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut f = b.clone();
                    f[i] ^= mask;
                    let _ = decode(&f);
                    let _ = DecimalIterator::new(&f[..]).count();
                }
            }
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
            (-100_000i64..100_000).prop_map(|m| m as f64 / 100.0),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #[test]
        fn range_decoding_matches_filtering_a_full_decode(
            steps in prop::collection::vec((1i64..100_000, value_strategy()), 1..600),
            a in 0usize..700,
            b in 0usize..700,
        ) {
            let mut t = 1_700_000_000_000i64;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|&(d, v)| {
                    t += d;
                    Sample::new(t, v)
                })
                .collect();
            let (lo, hi) = (a.min(b), a.max(b));
            let at = |i: usize| samples.get(i).map_or(t + 1, |s| s.t);
            let (mint, maxt) = (at(lo), at(hi) - 1);
            let buf = encode(&samples);
            let mut got = vec![Sample::new(1, 1.0)];
            let mut scratch = DecodeScratch::default();
            decode_range(&buf, mint, maxt, &mut got, &mut scratch).unwrap();
            let want: Vec<Sample> = samples
                .iter()
                .filter(|s| s.t >= mint && s.t <= maxt)
                .copied()
                .collect();
            prop_assert_eq!(got.len(), want.len() + 1);
            for (g, s) in got[1..].iter().zip(&want) {
                prop_assert!(g.bit_eq(s));
            }
        }

        #[test]
        fn any_sequence_decodes_bit_exactly(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((1i64..1_000_000_000_000, value_strategy()), 0..400),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (d, v) in steps {
                samples.push(Sample::new(t, v));
                t = t.saturating_add(d);
                if t == i64::MAX { break; }
            }
            let got = decode(&encode(&samples)).unwrap();
            prop_assert_eq!(got.len(), samples.len());
            for (g, s) in got.iter().zip(&samples) {
                prop_assert!(g.bit_eq(s));
            }
        }

        #[test]
        fn smallest_encoding_decodes_bit_exactly_through_chunk_meta(
            steps in prop::collection::vec((1i64..100_000, value_strategy()), 1..300),
        ) {
            let mut t = 1_700_000_000_000i64;
            let mut samples = Vec::new();
            for (d, v) in steps {
                t += d;
                samples.push(Sample::new(t, v));
            }
            let (encoding, data) = encode_smallest(&samples);
            let meta = crate::tsdb::chunks::ChunkMeta {
                min_time: samples[0].t,
                max_time: t,
                encoding,
                data: data.into(),
            };
            let got: Vec<Sample> = meta.iter().unwrap().collect();
            prop_assert_eq!(got.len(), samples.len());
            for (g, s) in got.iter().zip(&samples) {
                prop_assert!(g.bit_eq(s));
            }
        }

        #[test]
        fn decimal_only_sequences_decode_bit_exactly(
            ms in prop::collection::vec((-1_000_000_000i64..1_000_000_000, 0u8..6), 1..300),
        ) {
            let samples: Vec<Sample> = ms.iter().enumerate()
                .map(|(i, &(m, k))| Sample::new(i as i64 * 1000, m as f64 / POW10[k as usize]))
                .collect();
            let got = decode(&encode(&samples)).unwrap();
            for (g, s) in got.iter().zip(&samples) {
                prop_assert!(g.bit_eq(s));
            }
        }
    }
}
