//! ULIDs name blocks: 48 bits of millisecond time then 80 random bits, written as 26
//! Crockford base-32 characters, so names sort by creation time. Same scheme as the
//! `oklog/ulid` identifiers Prometheus uses for block directories.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 128-bit ULID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ulid(pub u128);

/// Why a string is not a ULID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ULID {0:?}: want 26 Crockford base-32 characters")]
pub struct UlidParseError(pub String);

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Ulid {
    /// A new ULID for the current time. The random part mixes the clock's nanoseconds, the
    /// process id and a process-wide counter through xxh3, so ids made in the same
    /// millisecond differ.
    pub fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self::with_time(now.as_millis() as u64, now.subsec_nanos())
    }

    fn with_time(ms: u64, nanos: u32) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut seed = [0u8; 24];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        seed[8..12].copy_from_slice(&nanos.to_le_bytes());
        seed[12..16].copy_from_slice(&std::process::id().to_le_bytes());
        seed[16..].copy_from_slice(&ms.to_le_bytes());
        let r = xxhash_rust::xxh3::xxh3_128(&seed);
        let rand80 = r & ((1u128 << 80) - 1);
        Ulid((u128::from(ms & ((1 << 48) - 1)) << 80) | rand80)
    }

    /// Milliseconds since the epoch encoded in the ULID.
    pub fn timestamp_ms(&self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl Default for Ulid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 26];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 125 - 5 * i as u32;
            *c = ALPHABET[((self.0 >> shift) & 0x1f) as usize];
        }
        // Every byte comes from ALPHABET, which is ASCII.
        f.write_str(std::str::from_utf8(&out).unwrap_or("?"))
    }
}

impl FromStr for Ulid {
    type Err = UlidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UlidParseError(s.to_string());
        if s.len() != 26 {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for (i, b) in s.bytes().enumerate() {
            let d = ALPHABET
                .iter()
                .position(|&a| a == b.to_ascii_uppercase())
                .ok_or_else(bad)? as u128;
            // The first character carries only 3 bits (128 = 2 + 25 * 5).
            if i == 0 && d > 7 {
                return Err(bad());
            }
            v = (v << 5) | d;
        }
        Ok(Ulid(v))
    }
}

impl serde::Serialize for Ulid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Ulid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts_by_time() {
        let a = Ulid::with_time(1_000, 1);
        let b = Ulid::with_time(2_000, 1);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().len(), 26);
        assert_eq!(a.to_string().parse::<Ulid>(), Ok(a));
        assert_eq!(a.timestamp_ms(), 1_000);
        assert_ne!(Ulid::new(), Ulid::new());
        assert!("8ZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<Ulid>().is_err());
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAI".parse::<Ulid>().is_err());
        assert_eq!(
            "01ARZ3NDEKTSV4RRFFQ69G5FAV"
                .parse::<Ulid>()
                .unwrap()
                .to_string(),
            "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
    }
}
