//! Byte-level helpers for the block files: an append buffer and a bounds-checked reader
//! that reports the absolute file offset of whatever it failed to read, so corruption
//! errors can say where. Mirrors Prometheus `tsdb/encoding`.

/// Appends big-endian integers and varints to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct Encbuf {
    pub(crate) b: Vec<u8>,
}

impl Encbuf {
    pub(crate) fn put_u8(&mut self, v: u8) {
        self.b.push(v);
    }
    pub(crate) fn put_be_u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn put_be_u64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.b.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.b.push(v as u8);
    }
    pub(crate) fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
    pub(crate) fn put_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }
}

/// What a [`Decbuf`] read failed on: the absolute offset and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) offset: u64,
    pub(crate) reason: &'static str,
}

/// Reads from a slice that starts at `base` in its file.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8], base: u64) -> Self {
        Decbuf { b, pos: 0, base }
    }

    /// Absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub(crate) fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.offset(),
            reason,
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end of data"))?;
        self.pos += 1;
        Ok(v)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| self.err("length runs past the end of data"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn be_u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.bytes(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(crate) fn be_u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let start = self.offset();
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 || shift > 63 {
                return Err(DecodeError {
                    offset: start,
                    reason: "varint overflows 64 bits",
                });
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count that is bounded by the bytes left (each counted item takes at least
    /// `min_item_bytes`), so corrupt counts cannot cause huge allocations.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let start = self.offset();
        let v = self.uvarint()?;
        let max = self.remaining() / min_item_bytes.max(1);
        if v > max as u64 {
            return Err(DecodeError {
                offset: start,
                reason: "count exceeds the remaining data",
            });
        }
        Ok(v as usize)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.uvarint()?;
        let start = self.offset();
        let n = usize::try_from(n).map_err(|_| self.err("string length too large"))?;
        let s = self.bytes(n)?;
        std::str::from_utf8(s).map_err(|_| DecodeError {
            offset: start,
            reason: "string is not valid UTF-8",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        let mut e = Encbuf::default();
        e.put_u8(7);
        e.put_be_u32(0xdead_beef);
        e.put_uvarint(300);
        e.put_varint(-3);
        e.put_str("héllo");
        e.put_be_u64(u64::MAX);
        let mut d = Decbuf::new(&e.b, 100);
        assert_eq!(d.u8(), Ok(7));
        assert_eq!(d.be_u32(), Ok(0xdead_beef));
        assert_eq!(d.uvarint(), Ok(300));
        assert_eq!(d.varint(), Ok(-3));
        assert_eq!(d.str(), Ok("héllo"));
        assert_eq!(d.be_u64(), Ok(u64::MAX));
        assert_eq!(d.u8().unwrap_err().offset, 100 + e.len() as u64);
        let mut d = Decbuf::new(&[0xff; 11], 0);
        assert!(d.uvarint().is_err());
        let mut d = Decbuf::new(&[5, 1], 0);
        assert!(d.count(1).is_err());
    }
}
