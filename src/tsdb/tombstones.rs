//! Tombstones: records of deleted time intervals per series.
//!
//! For blocks they are written to the block's `tombstones` file ([`Tombstones`],
//! [`delete`]); queriers hide the deleted samples and compaction drops them for good (so a
//! "clean tombstones" is a compaction of one block). For the head they are kept per series
//! and logged to the WAL as Tombstones records whose body ([`encode_wal_stones`],
//! [`decode_wal_stones`]) is defined here. Formats: docs/format/tombstones.md. Mirrors
//! Prometheus `tsdb/tombstones` and the tombstones part of `tsdb/record`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::model::Matcher;
use crate::tsdb::block::encoding::{Decbuf, Encbuf};
use crate::tsdb::block::{io_err, read_meta, sync_dir, write_meta, Block, BlockError};

/// Name of the tombstones file in a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// "PTTS": promtui tombstones.
const MAGIC_TOMBSTONES: u32 = 0x5054_5453;
const TOMBSTONES_VERSION: u8 = 1;

/// A deleted time range, both ends inclusive (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub mint: i64,
    pub maxt: i64,
}

impl Interval {
    /// True when `t` lies inside the interval (both ends inclusive).
    pub fn contains(&self, t: i64) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// Deleted intervals by series reference; each list sorted and merged (no overlaps or
/// adjacent intervals).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    map: BTreeMap<u32, Vec<Interval>>,
}

impl Tombstones {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a deleted interval for series `r`, merging with existing ones.
    pub fn add(&mut self, r: u32, iv: Interval) {
        if iv.mint > iv.maxt {
            return;
        }
        add_interval(self.map.entry(r).or_default(), iv);
    }

    /// The deleted intervals of series `r` (empty when none).
    pub fn get(&self, r: u32) -> &[Interval] {
        self.map.get(&r).map_or(&[], Vec::as_slice)
    }

    /// True when sample `t` of series `r` is deleted.
    pub fn is_deleted(&self, r: u32, t: i64) -> bool {
        self.get(r).iter().any(|iv| iv.contains(t))
    }

    /// Total number of intervals.
    fn num_intervals(&self) -> u64 {
        self.map.values().map(|v| v.len() as u64).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Series references with their intervals, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[Interval])> {
        self.map.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encbuf::default();
        e.put_be_u32(MAGIC_TOMBSTONES);
        e.put_u8(TOMBSTONES_VERSION);
        let start = e.len();
        e.put_uvarint(self.map.len() as u64);
        let mut last = 0u32;
        for (&r, ivs) in &self.map {
            e.put_uvarint(u64::from(r - last));
            last = r;
            e.put_uvarint(ivs.len() as u64);
            for iv in ivs {
                e.put_varint(iv.mint);
                e.put_uvarint(iv.maxt.wrapping_sub(iv.mint) as u64);
            }
        }
        let crc = crc32c::crc32c(&e.b[start..]);
        e.put_be_u32(crc);
        e.b
    }

    fn decode(path: &Path, b: &[u8]) -> Result<Self, BlockError> {
        let corrupt = |offset: u64, reason: &str| BlockError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: reason.to_string(),
        };
        if b.len() < 9 {
            return Err(corrupt(0, "tombstones file shorter than header and CRC"));
        }
        let mut d = Decbuf::new(b, 0);
        let magic = d.be_u32().map_err(|e| corrupt(e.offset, e.reason))?;
        if magic != MAGIC_TOMBSTONES {
            return Err(corrupt(0, "bad tombstones magic"));
        }
        if d.u8().map_err(|e| corrupt(e.offset, e.reason))? != TOMBSTONES_VERSION {
            return Err(corrupt(4, "unsupported tombstones version"));
        }
        let body = &b[5..b.len() - 4];
        let crc_at = b.len() - 4;
        let want = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
        if crc32c::crc32c(body) != want {
            return Err(corrupt(crc_at as u64, "tombstones CRC-32C mismatch"));
        }
        let mut d = Decbuf::new(body, 5);
        let ce = |e: super::block::encoding::DecodeError| corrupt(e.offset, e.reason);
        let n = d.count(2).map_err(ce)?;
        let mut t = Tombstones::new();
        let mut r = 0u64;
        for i in 0..n {
            let at = d.offset();
            let dr = d.uvarint().map_err(ce)?;
            r = r.saturating_add(dr);
            if (i > 0 && dr == 0) || r > u64::from(u32::MAX) {
                return Err(corrupt(at, "series references unsorted or too large"));
            }
            let k = d.count(2).map_err(ce)?;
            for _ in 0..k {
                let at = d.offset();
                let mint = d.varint().map_err(ce)?;
                let span = d.uvarint().map_err(ce)?;
                let maxt = mint.wrapping_add(span as i64);
                if maxt < mint {
                    return Err(corrupt(at, "interval overflows"));
                }
                t.add(r as u32, Interval { mint, maxt });
            }
        }
        if d.remaining() != 0 {
            return Err(corrupt(d.offset(), "trailing bytes after tombstones"));
        }
        Ok(t)
    }

    /// Reads `<block_dir>/tombstones`; a missing file means no tombstones.
    pub fn read(block_dir: &Path) -> Result<Self, BlockError> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(b) => Self::decode(&path, &b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(e) => Err(io_err(&path, "read")(e)),
        }
    }

    /// Writes `<block_dir>/tombstones` atomically (temporary file, fsync, rename).
    pub fn write(&self, block_dir: &Path) -> Result<(), BlockError> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        let tmp = block_dir.join(format!("{TOMBSTONES_FILENAME}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp, "create"))?;
        f.write_all(&self.encode()).map_err(io_err(&tmp, "write"))?;
        f.sync_all().map_err(io_err(&tmp, "fsync"))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path, "rename"))?;
        sync_dir(block_dir)
    }
}

/// One head deletion as logged to the WAL: series ref and the deleted interval (a
/// Prometheus `tombstones.Stone` with one interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stone {
    pub sref: u64,
    pub interval: Interval,
}

/// Why a WAL Tombstones record body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tombstones record body at byte {offset}: {reason}")]
pub struct StoneDecodeError {
    pub offset: u64,
    pub reason: &'static str,
}

/// Encodes the body of a WAL Tombstones record (docs/format/tombstones.md, "WAL
/// record body"): `count <uvarint>`, then per stone `ref <uvarint>`, `mint <varint>`,
/// `maxt - mint <uvarint>`.
pub fn encode_wal_stones(stones: &[Stone]) -> Vec<u8> {
    let mut e = Encbuf::default();
    e.put_uvarint(stones.len() as u64);
    for st in stones {
        e.put_uvarint(st.sref);
        e.put_varint(st.interval.mint);
        e.put_uvarint(st.interval.maxt.wrapping_sub(st.interval.mint) as u64);
    }
    e.b
}

/// Decodes a body written by [`encode_wal_stones`]. Never panics on any input.
pub fn decode_wal_stones(body: &[u8]) -> Result<Vec<Stone>, StoneDecodeError> {
    let ce = |e: super::block::encoding::DecodeError| StoneDecodeError {
        offset: e.offset,
        reason: e.reason,
    };
    let mut d = Decbuf::new(body, 0);
    let n = d.count(3).map_err(ce)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let at = d.offset();
        let sref = d.uvarint().map_err(ce)?;
        let mint = d.varint().map_err(ce)?;
        let span = d.uvarint().map_err(ce)?;
        let maxt = mint.wrapping_add(span as i64);
        if maxt < mint {
            return Err(StoneDecodeError {
                offset: at,
                reason: "interval overflows",
            });
        }
        out.push(Stone {
            sref,
            interval: Interval { mint, maxt },
        });
    }
    if d.remaining() != 0 {
        return Err(StoneDecodeError {
            offset: d.offset(),
            reason: "trailing bytes after tombstones",
        });
    }
    Ok(out)
}

/// Adds `iv` to a sorted, merged interval list, keeping it sorted and merged (shared by
/// [`Tombstones::add`] and the head's per-series deletions).
pub fn add_interval(list: &mut Vec<Interval>, iv: Interval) {
    if iv.mint > iv.maxt {
        return;
    }
    list.push(iv);
    list.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(list.len());
    for iv in list.drain(..) {
        match merged.last_mut() {
            Some(l) if iv.mint <= l.maxt.saturating_add(1) => l.maxt = l.maxt.max(iv.maxt),
            _ => merged.push(iv),
        }
    }
    *list = merged;
}

/// True when the sorted, merged `ivs` cover all of `[mint, maxt]`.
pub fn covers(ivs: &[Interval], mint: i64, maxt: i64) -> bool {
    ivs.iter().any(|iv| iv.mint <= mint && maxt <= iv.maxt)
}

/// Marks samples of series matching `matchers` in `[mint, maxt]` (inclusive) as deleted
/// in `block`: updates the tombstones file and `meta.json`'s tombstone count. Queriers
/// created afterwards no longer see them. Returns how many series were affected.
pub fn delete(
    block: &Block,
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<usize, BlockError> {
    let refs = block.select_refs(matchers)?;
    let mut guard = block.inner.tombstones.write();
    let mut t = (**guard).clone();
    let mut n = 0;
    for r in refs {
        let overlaps = block
            .series_chunk_refs(r)
            .iter()
            .any(|c| c.min_time <= maxt && mint <= c.max_time);
        if overlaps {
            t.add(r, Interval { mint, maxt });
            n += 1;
        }
    }
    if n == 0 {
        return Ok(0);
    }
    t.write(block.dir())?;
    let mut meta = read_meta(block.dir())?;
    meta.stats.num_tombstones = t.num_intervals();
    write_meta(block.dir(), &meta)?;
    *guard = Arc::new(t);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_merges() {
        let mut t = Tombstones::new();
        t.add(3, Interval { mint: 10, maxt: 20 });
        t.add(3, Interval { mint: 21, maxt: 25 });
        t.add(3, Interval { mint: 0, maxt: 5 });
        t.add(3, Interval { mint: 4, maxt: 8 });
        assert_eq!(
            t.get(3),
            &[
                Interval { mint: 0, maxt: 8 },
                Interval { mint: 10, maxt: 25 }
            ]
        );
        assert!(t.is_deleted(3, 25));
        assert!(!t.is_deleted(3, 9));
        assert!(!t.is_deleted(4, 10));
        assert_eq!(t.num_intervals(), 2);
    }

    #[test]
    fn wal_stones_round_trip_and_never_panic() {
        let stones = vec![
            Stone {
                sref: 1,
                interval: Interval { mint: -5, maxt: 5 },
            },
            Stone {
                sref: u64::MAX,
                interval: Interval {
                    mint: i64::MIN,
                    maxt: i64::MAX,
                },
            },
        ];
        let b = encode_wal_stones(&stones);
        assert_eq!(decode_wal_stones(&b).unwrap(), stones);
        assert_eq!(decode_wal_stones(&encode_wal_stones(&[])).unwrap(), vec![]);
        for cut in 0..b.len() {
            assert!(decode_wal_stones(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            decode_wal_stones(&long).unwrap_err().reason,
            "trailing bytes after tombstones"
        );
        // Every single-byte corruption either decodes to something or is an error.
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut f = b.clone();
                f[i] ^= 1 << bit;
                let _ = decode_wal_stones(&f);
            }
        }
    }

    #[test]
    fn covers_needs_one_interval_spanning_the_range() {
        let ivs = [
            Interval { mint: 0, maxt: 10 },
            Interval { mint: 20, maxt: 30 },
        ];
        assert!(covers(&ivs, 0, 10));
        assert!(covers(&ivs, 22, 25));
        assert!(!covers(&ivs, 5, 21));
        assert!(!covers(&[], 0, 0));
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tombstones::new();
        t.add(0, Interval { mint: -5, maxt: 5 });
        t.add(
            7,
            Interval {
                mint: i64::MIN,
                maxt: i64::MAX,
            },
        );
        t.write(dir.path()).unwrap();
        assert_eq!(Tombstones::read(dir.path()).unwrap(), t);
        let path = dir.path().join(TOMBSTONES_FILENAME);
        let b = std::fs::read(&path).unwrap();
        for i in 0..b.len() {
            let mut f = b.clone();
            f[i] ^= 0x04;
            let err = Tombstones::decode(&path, &f).unwrap_err();
            assert!(matches!(err, BlockError::Corrupt { .. }), "{err}");
        }
        for cut in 0..b.len() {
            assert!(Tombstones::decode(&path, &b[..cut]).is_err());
        }
        assert!(Tombstones::read(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
    }
}
