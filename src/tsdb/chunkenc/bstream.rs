//! Bit streams for chunk encodings: MSB-first bit writer and reader over a byte buffer.

/// Appends bits most-significant first into a growable buffer.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    /// Number of bits still free in the last byte (0..=7; 0 means the last byte is full or
    /// there is no byte yet).
    free: u8,
}

impl BitWriter {
    pub fn new() -> Self {
        BitWriter::default()
    }

    /// Continues writing after existing content whose last byte has `free` unused low bits.
    pub fn from_parts(bytes: Vec<u8>, free: u8) -> Self {
        BitWriter { bytes, free }
    }

    /// Appends a zero byte, growing the buffer by a quarter (at least 16 bytes) when it is
    /// full instead of doubling it: a head holds one open chunk per series for up to 120
    /// samples, and doubling left a third of those buffers unused on average. Growth stays
    /// geometric, so appends stay amortized O(1).
    #[inline]
    fn push_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.grow();
        }
        self.bytes.push(0);
    }

    #[cold]
    fn grow(&mut self) {
        let len = self.bytes.len();
        self.bytes.reserve_exact((len / 4).max(16));
    }

    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push_byte();
            self.free = 8;
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, mut n: u8) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.free == 0 {
                self.push_byte();
                self.free = 8;
            }
            let take = n.min(self.free);
            // The `take` bits of v just below bit position n.
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }

    #[inline]
    fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }

    /// Writes an unsigned LEB128 varint bit-aligned into the stream.
    pub fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.write_byte(v as u8);
    }

    /// Writes a zig-zag signed varint.
    pub fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads bits most-significant first. Reading past the end returns `None`.
#[derive(Clone, Debug)]
pub struct BitReader<B> {
    buf: B,
    /// Next bit position (from the start of the buffer).
    pos: usize,
    /// Total readable bits.
    len_bits: usize,
}

impl<B: AsRef<[u8]>> BitReader<B> {
    pub fn new(buf: B, start_byte: usize) -> Self {
        let len_bits = buf.as_ref().len() * 8;
        BitReader {
            buf,
            pos: start_byte * 8,
            len_bits,
        }
    }

    /// Bits consumed so far, counted from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        if self.pos >= self.len_bits {
            return None;
        }
        let b = self.buf.as_ref()[self.pos >> 3];
        let bit = (b >> (7 - (self.pos & 7))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `n` bits (n <= 64) as the low bits of the result.
    #[inline]
    pub fn read_bits(&mut self, n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        let n = usize::from(n.min(64));
        if self.pos + n > self.len_bits {
            return None;
        }
        let bytes = self.buf.as_ref();
        let at = self.pos >> 3;
        let off = self.pos & 7;
        let v = if let Some(word) = bytes.get(at..at + 8) {
            // One big-endian 8-byte load holds 64 - off of the wanted bits; a ninth byte
            // supplies the rest when the read straddles it.
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let top = (u64::from_be_bytes(w) << off) >> (64 - n);
            let extra = (off + n).saturating_sub(64);
            if extra == 0 {
                top
            } else {
                top | (u64::from(bytes.get(at + 8).copied().unwrap_or(0)) >> (8 - extra))
            }
        } else {
            let mut v: u64 = 0;
            let mut pos = self.pos;
            let mut left = n;
            while left > 0 {
                let byte = bytes[pos >> 3];
                let o = pos & 7;
                let avail = 8 - o;
                let take = avail.min(left);
                let bits = (byte >> (avail - take)) & ((1u16 << take) - 1) as u8;
                v = (v << take) | u64::from(bits);
                pos += take;
                left -= take;
            }
            v
        };
        self.pos += n;
        Some(v)
    }

    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|v| v as u8)
    }

    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.read_byte()?;
            if shift >= 64 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
    }

    pub fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_reads_match_bit_by_bit_reads(
            buf in prop::collection::vec(any::<u8>(), 0..40),
            widths in prop::collection::vec(0u8..=64, 0..40),
        ) {
            let mut fast = BitReader::new(&buf[..], 0);
            let mut slow = BitReader::new(&buf[..], 0);
            for n in widths {
                let want = (0..n).try_fold(0u64, |v, _| slow.read_bit().map(|b| (v << 1) | u64::from(b)));
                let got = fast.read_bits(n);
                prop_assert_eq!(got, want, "width {}", n);
                if want.is_none() {
                    break;
                }
            }
        }
    }

    #[test]
    fn buffer_grows_by_quarters_not_doubling() {
        let mut w = BitWriter::new();
        for i in 0..4000u64 {
            w.write_bits(i, 8);
            let (len, cap) = (w.bytes.len(), w.bytes.capacity());
            assert!(cap >= len);
            // reserve_exact may round up a little; never to twice the length.
            assert!(
                cap <= len + (len / 4).max(16) + 8,
                "{len} bytes written, {cap} held"
            );
        }
    }

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::new();
        w.write_bit(true);
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_uvarint(300);
        w.write_varint(-5);
        w.write_bits(0, 0);
        w.write_bits(0x1234, 13);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes[..], 0);
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(64), Some(u64::MAX));
        assert_eq!(r.read_uvarint(), Some(300));
        assert_eq!(r.read_varint(), Some(-5));
        assert_eq!(r.read_bits(13), Some(0x1234 & 0x1fff));
    }
}
