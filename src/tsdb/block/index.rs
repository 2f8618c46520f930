//! The block index: symbol table, series (label symbol references and chunk references
//! with their time ranges), a label-name → values table pointing into postings lists, and
//! the postings lists themselves, each section with a CRC-32C, found through a TOC at the
//! end of the file. Format: docs/format/index.md; the layout ideas follow Prometheus
//! `tsdb/docs/format/index.md`, with label sets prefix-compressed between neighbouring
//! series and postings as delta varints.
//!
//! The reader loads the file once with `std::fs::read`, verifies every CRC, and keeps a
//! compact decoded form in memory; postings lists stay encoded and are decoded per query.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::encoding::{Decbuf, DecodeError, Encbuf};
use super::BlockError;
use crate::model::{Label, Labels, MatchOp, Matcher};

/// "PTIX": promtui index.
pub(crate) const MAGIC_INDEX: u32 = 0x5054_4958;
pub(crate) const INDEX_VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
const NUM_SECTIONS: usize = 4;
const TOC_LEN: usize = NUM_SECTIONS * 8 + 4;

/// Where one chunk of a series is and which time range it covers (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub min_time: i64,
    pub max_time: i64,
    /// Segment number << 32 | byte offset in the segment.
    pub r#ref: u64,
}

/// A series as the writer records it.
pub(crate) struct SeriesRecord {
    pub(crate) labels: Labels,
    pub(crate) chunks: Vec<ChunkRef>,
}

/// Serialises the index for series already sorted by labels.
/// Fails (with the section's name) when a section exceeds the 4 GiB its `u32` length
/// can describe.
pub(crate) fn encode_index(series: &[SeriesRecord]) -> Result<Vec<u8>, &'static str> {
    let mut syms: BTreeSet<&str> = BTreeSet::new();
    for s in series {
        for l in &s.labels {
            syms.insert(&l.name);
            syms.insert(&l.value);
        }
    }
    let ids: HashMap<&str, u32> = syms
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();
    let id = |s: &str| ids.get(s).copied().unwrap_or(0);

    let mut out = Encbuf::default();
    out.put_be_u32(MAGIC_INDEX);
    out.put_u8(INDEX_VERSION);
    let mut toc = [0u64; NUM_SECTIONS];

    // Symbols.
    let mut sec = Encbuf::default();
    sec.put_uvarint(syms.len() as u64);
    for s in &syms {
        sec.put_str(s);
    }
    toc[0] = put_section(&mut out, &sec.b).ok_or("symbols")?;

    // Series, and postings collected on the way.
    let mut postings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    let mut sec = Encbuf::default();
    sec.put_uvarint(series.len() as u64);
    let mut prev: &[Label] = &[];
    for (sref, s) in series.iter().enumerate() {
        let cur = s.labels.as_slice();
        let shared = cur.iter().zip(prev).take_while(|(a, b)| a == b).count();
        sec.put_uvarint(shared as u64);
        sec.put_uvarint((cur.len() - shared) as u64);
        for l in &cur[shared..] {
            sec.put_uvarint(u64::from(id(&l.name)));
            sec.put_uvarint(u64::from(id(&l.value)));
        }
        for l in cur {
            postings
                .entry((id(&l.name), id(&l.value)))
                .or_default()
                .push(sref as u32);
        }
        prev = cur;
        sec.put_uvarint(s.chunks.len() as u64);
        let mut prev_max = 0i64;
        let mut prev_ref = 0u64;
        for (i, c) in s.chunks.iter().enumerate() {
            if i == 0 {
                sec.put_varint(c.min_time);
                sec.put_uvarint(c.r#ref);
            } else {
                sec.put_varint(c.min_time.wrapping_sub(prev_max));
                sec.put_varint(c.r#ref.wrapping_sub(prev_ref) as i64);
            }
            sec.put_uvarint(c.max_time.wrapping_sub(c.min_time) as u64);
            prev_max = c.max_time;
            prev_ref = c.r#ref;
        }
    }
    toc[1] = put_section(&mut out, &sec.b).ok_or("series")?;

    // Postings lists, remembering where each starts.
    let mut psec = Encbuf::default();
    let mut offsets: BTreeMap<u32, Vec<(u32, u64)>> = BTreeMap::new();
    for ((n, v), refs) in &postings {
        offsets.entry(*n).or_default().push((*v, psec.len() as u64));
        psec.put_uvarint(refs.len() as u64);
        let mut last = 0u32;
        for (i, &r) in refs.iter().enumerate() {
            psec.put_uvarint(u64::from(if i == 0 { r } else { r - last }));
            last = r;
        }
    }

    // Label indices: name → values with postings offsets.
    let mut sec = Encbuf::default();
    sec.put_uvarint(offsets.len() as u64);
    for (n, vals) in &offsets {
        sec.put_uvarint(u64::from(*n));
        sec.put_uvarint(vals.len() as u64);
        let (mut lv, mut lo) = (0u32, 0u64);
        for &(v, o) in vals {
            sec.put_uvarint(u64::from(v - lv));
            sec.put_uvarint(o - lo);
            (lv, lo) = (v, o);
        }
    }
    toc[2] = put_section(&mut out, &sec.b).ok_or("label indices")?;
    toc[3] = put_section(&mut out, &psec.b).ok_or("postings")?;

    let start = out.len();
    for t in toc {
        out.put_be_u64(t);
    }
    let crc = crc32c::crc32c(&out.b[start..]);
    out.put_be_u32(crc);
    Ok(out.b)
}

fn put_section(out: &mut Encbuf, payload: &[u8]) -> Option<u64> {
    let off = out.len() as u64;
    out.put_be_u32(u32::try_from(payload.len()).ok()?);
    out.b.extend_from_slice(payload);
    out.put_be_u32(crc32c::crc32c(payload));
    Some(off)
}

/// One series in the reader: label pairs as symbol ids and its chunk references.
#[derive(Debug, Clone)]
pub(crate) struct SeriesEntry {
    pub(crate) labels: Box<[(u32, u32)]>,
    pub(crate) chunks: Box<[ChunkRef]>,
}

#[derive(Debug)]
struct NameEntry {
    name: u32,
    /// (value symbol, offset of its postings list in the postings section), by value.
    values: Vec<(u32, u32)>,
}

/// The decoded index held in memory.
#[derive(Debug)]
pub(crate) struct IndexReader {
    path: PathBuf,
    symbols: Vec<Box<str>>,
    series: Vec<SeriesEntry>,
    names: Vec<NameEntry>,
    postings: Vec<u8>,
    postings_base: u64,
    file_size: u64,
}

impl IndexReader {
    /// Reads, verifies and decodes the index file.
    pub(crate) fn open(path: &Path) -> Result<Self, BlockError> {
        let b = std::fs::read(path).map_err(|source| BlockError::Io {
            path: path.to_path_buf(),
            op: "read",
            source,
        })?;
        Self::decode(path, &b)
    }

    /// Verifies and decodes an index file's bytes; `path` names the file in errors. Every
    /// section is checked in full here (CRCs, sort orders, symbol and postings references),
    /// so readers can trust what they hold.
    pub(crate) fn decode(path: &Path, b: &[u8]) -> Result<Self, BlockError> {
        let corrupt = corrupt_in(path);
        let toc = read_toc(b).map_err(&corrupt)?;
        let symbols = decode_symbols(section(b, &toc, 0).map_err(&corrupt)?).map_err(&corrupt)?;
        let series =
            decode_series(section(b, &toc, 1).map_err(&corrupt)?, &symbols).map_err(&corrupt)?;
        // Postings stay encoded; label indices point into them.
        let (postings, postings_base) = section(b, &toc, 3).map_err(&corrupt)?;
        let names = decode_label_indices(
            section(b, &toc, 2).map_err(&corrupt)?,
            symbols.len() as u64,
            postings.len() as u64,
        )
        .map_err(&corrupt)?;
        Ok(IndexReader {
            path: path.to_path_buf(),
            symbols,
            series,
            names,
            postings: postings.to_vec(),
            postings_base,
            file_size: b.len() as u64,
        })
    }

    pub(crate) fn file_size(&self) -> u64 {
        self.file_size
    }

    pub(crate) fn num_series(&self) -> usize {
        self.series.len()
    }

    pub(crate) fn series(&self, r: u32) -> Option<&SeriesEntry> {
        self.series.get(r as usize)
    }

    ///
    /// Every symbol reference held by the reader (series labels, label names, label
    /// values) was checked against the symbol table by [`IndexReader::decode`], which
    /// rejects an index with one out of range as corrupt; so `id` is always in range and
    /// the empty-string fallback is unreachable (kept instead of a panic on the query path).
    pub(crate) fn symbol(&self, id: u32) -> &str {
        debug_assert!((id as usize) < self.symbols.len(), "unchecked symbol {id}");
        self.symbols.get(id as usize).map_or("", |s| s)
    }

    /// The label set of a series entry.
    pub(crate) fn labels(&self, e: &SeriesEntry) -> Labels {
        Labels::from_sorted(
            e.labels
                .iter()
                .map(|&(n, v)| Label::new(self.symbol(n), self.symbol(v)))
                .collect(),
        )
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names
            .binary_search_by(|e| self.symbol(e.name).cmp(name))
            .ok()
            .map(|i| &self.names[i])
    }

    /// All label names, sorted.
    pub(crate) fn label_names(&self) -> Vec<String> {
        self.names
            .iter()
            .map(|e| self.symbol(e.name).to_string())
            .collect()
    }

    /// All values of label `name`, sorted.
    pub(crate) fn label_values(&self, name: &str) -> Vec<String> {
        self.name_entry(name).map_or_else(Vec::new, |e| {
            e.values
                .iter()
                .map(|&(v, _)| self.symbol(v).to_string())
                .collect()
        })
    }

    /// Values of `name` with the number of series carrying each.
    pub(crate) fn label_value_counts(
        &self,
        name: &str,
    ) -> Result<Vec<(String, usize)>, BlockError> {
        let Some(e) = self.name_entry(name) else {
            return Ok(Vec::new());
        };
        e.values
            .iter()
            .map(|&(v, o)| {
                let mut d = Decbuf::new(
                    self.postings.get(o as usize..).unwrap_or(&[]),
                    self.postings_base + u64::from(o),
                );
                let n = d.uvarint().map_err(|e| self.corrupt(e))?;
                Ok((self.symbol(v).to_string(), n as usize))
            })
            .collect()
    }

    fn corrupt(&self, e: DecodeError) -> BlockError {
        corrupt_in(&self.path)(e)
    }

    fn read_postings(&self, off: u32) -> Result<Vec<u32>, BlockError> {
        let mut d = Decbuf::new(
            self.postings.get(off as usize..).unwrap_or(&[]),
            self.postings_base + u64::from(off),
        );
        let n = d.count(1).map_err(|e| self.corrupt(e))?;
        let mut out = Vec::with_capacity(n);
        let mut last = 0u64;
        for i in 0..n {
            let at = d.offset();
            let dv = d.uvarint().map_err(|e| self.corrupt(e))?;
            let r = last.saturating_add(dv);
            if (i > 0 && dv == 0) || r >= self.series.len() as u64 {
                return Err(self.corrupt(DecodeError {
                    offset: at,
                    reason: "postings entry unsorted or out of range",
                }));
            }
            out.push(r as u32);
            last = r;
        }
        Ok(out)
    }

    /// Union of the postings of every value of `name` accepted by `pred`.
    fn postings_where(
        &self,
        name: &str,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<Vec<u32>, BlockError> {
        let Some(e) = self.name_entry(name) else {
            return Ok(Vec::new());
        };
        let mut lists = Vec::new();
        for &(v, o) in &e.values {
            if pred(self.symbol(v)) {
                lists.push(self.read_postings(o)?);
            }
        }
        Ok(union(lists))
    }

    /// Series references matching all matchers, ascending (so sorted by labels), with
    /// Prometheus semantics: a matcher that accepts "" also selects series without the
    /// label. No matchers selects every series.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Result<Vec<u32>, BlockError> {
        let mut result: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let p = if m.op == MatchOp::Equal {
                match self.name_entry(&m.name).and_then(|e| {
                    e.values
                        .binary_search_by(|&(v, _)| self.symbol(v).cmp(&m.value))
                        .ok()
                        .map(|i| e.values[i].1)
                }) {
                    Some(o) => self.read_postings(o)?,
                    None => Vec::new(),
                }
            } else if let Some(set) = m.set_matches() {
                let mut set: Vec<&str> = set.iter().map(String::as_str).collect();
                set.sort_unstable();
                self.postings_where(&m.name, |v| set.binary_search(&v).is_ok())?
            } else {
                self.postings_where(&m.name, |v| m.matches(v))?
            };
            result = Some(match result {
                None => p,
                Some(r) => intersect(&r, &p),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        let mut result = result.unwrap_or_else(|| (0..self.series.len() as u32).collect());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            let drop = self.postings_where(&m.name, |v| !m.matches(v))?;
            if !drop.is_empty() {
                result = subtract(&result, &drop);
            }
        }
        Ok(result)
    }
}

/// Merges sorted lists into one sorted, duplicate-free list.
fn union(mut lists: Vec<Vec<u32>>) -> Vec<u32> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().unwrap_or_default(),
        _ => {
            let mut all: Vec<u32> = lists.concat();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Turns a decoding error into [`BlockError::Corrupt`] naming the index file.
fn corrupt_in(path: &Path) -> impl Fn(DecodeError) -> BlockError + '_ {
    move |e| BlockError::Corrupt {
        path: path.to_path_buf(),
        offset: e.offset,
        reason: e.reason.to_string(),
    }
}

/// Checks the header (magic, version) and reads the TOC, verifying its CRC.
fn read_toc(b: &[u8]) -> Result<[u64; NUM_SECTIONS], DecodeError> {
    if b.len() < HEADER_LEN + TOC_LEN {
        return Err(DecodeError {
            offset: 0,
            reason: "index file shorter than header and TOC",
        });
    }
    let mut d = Decbuf::new(b, 0);
    if d.be_u32()? != MAGIC_INDEX {
        return Err(DecodeError {
            offset: 0,
            reason: "bad index magic",
        });
    }
    if d.u8()? != INDEX_VERSION {
        return Err(DecodeError {
            offset: 4,
            reason: "unsupported index version",
        });
    }
    let toc_start = b.len() - TOC_LEN;
    let mut t = Decbuf::new(&b[toc_start..], toc_start as u64);
    let mut toc = [0u64; NUM_SECTIONS];
    for x in toc.iter_mut() {
        *x = t.be_u64()?;
    }
    let want = t.be_u32()?;
    if crc32c::crc32c(&b[toc_start..toc_start + NUM_SECTIONS * 8]) != want {
        return Err(DecodeError {
            offset: toc_start as u64,
            reason: "index TOC CRC-32C mismatch",
        });
    }
    Ok(toc)
}

/// Section `i`'s payload, its CRC verified, as a decoder positioned at its start. `b` is
/// at least header and TOC long ([`read_toc`] checked).
fn section<'a>(
    b: &'a [u8],
    toc: &[u64; NUM_SECTIONS],
    i: usize,
) -> Result<(&'a [u8], u64), DecodeError> {
    let toc_start = b.len() - TOC_LEN;
    let off = toc[i];
    if off < HEADER_LEN as u64 || off >= toc_start as u64 {
        return Err(DecodeError {
            offset: toc_start as u64 + 8 * i as u64,
            reason: "TOC section offset out of bounds",
        });
    }
    let mut d = Decbuf::new(&b[off as usize..toc_start], off);
    let len = d.be_u32()? as usize;
    let base = d.offset();
    let payload = d.bytes(len)?;
    let want = d.be_u32()?;
    if crc32c::crc32c(payload) != want {
        return Err(DecodeError {
            offset: off,
            reason: "index section CRC-32C mismatch",
        });
    }
    Ok((payload, base))
}

/// The symbol table: strictly sorted strings.
fn decode_symbols((p, base): (&[u8], u64)) -> Result<Vec<Box<str>>, DecodeError> {
    let mut d = Decbuf::new(p, base);
    let n = d.count(1)?;
    let mut symbols: Vec<Box<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        let at = d.offset();
        let s = d.str()?;
        if symbols.last().is_some_and(|l| **l >= *s) {
            return Err(DecodeError {
                offset: at,
                reason: "symbols not strictly sorted",
            });
        }
        symbols.push(s.into());
    }
    Ok(symbols)
}

/// The series, strictly sorted by labels; each label set is prefix-compressed against the
/// previous series.
fn decode_series(
    (p, base): (&[u8], u64),
    symbols: &[Box<str>],
) -> Result<Vec<SeriesEntry>, DecodeError> {
    let nsym = symbols.len() as u64;
    let mut d = Decbuf::new(p, base);
    let n = d.count(3)?;
    let mut series: Vec<SeriesEntry> = Vec::with_capacity(n);
    let mut prev: Vec<(u32, u32)> = Vec::new();
    for _ in 0..n {
        let at = d.offset();
        let shared = d.count(0)?;
        if shared > prev.len() {
            return Err(DecodeError {
                offset: at,
                reason: "shared label count exceeds previous series",
            });
        }
        let rest = d.count(2)?;
        let mut labels: Vec<(u32, u32)> = Vec::with_capacity(shared + rest);
        labels.extend_from_slice(&prev[..shared]);
        for _ in 0..rest {
            let at = d.offset();
            let nm = d.uvarint()?;
            let v = d.uvarint()?;
            if nm >= nsym || v >= nsym {
                return Err(DecodeError {
                    offset: at,
                    reason: "label symbol reference out of range",
                });
            }
            let (nm, v) = (nm as u32, v as u32);
            if symbols[v as usize].is_empty() || labels.last().is_some_and(|&(ln, _)| ln >= nm) {
                return Err(DecodeError {
                    offset: at,
                    reason: "label names not sorted or empty label value",
                });
            }
            labels.push((nm, v));
        }
        if !series.is_empty() && labels <= prev {
            return Err(DecodeError {
                offset: at,
                reason: "series not strictly sorted by labels",
            });
        }
        let chunks = decode_chunk_refs(&mut d)?;
        series.push(SeriesEntry {
            labels: labels.clone().into_boxed_slice(),
            chunks,
        });
        prev = labels;
    }
    Ok(series)
}

/// One series' chunk references: the first absolute, the rest as deltas from the previous
/// chunk's end and ref; time ranges must be valid and must not overlap.
fn decode_chunk_refs(d: &mut Decbuf<'_>) -> Result<Box<[ChunkRef]>, DecodeError> {
    let nch = d.count(3)?;
    let mut chunks = Vec::with_capacity(nch);
    let (mut prev_max, mut prev_ref) = (0i64, 0u64);
    for i in 0..nch {
        let at = d.offset();
        let (mint, r) = if i == 0 {
            (d.varint()?, d.uvarint()?)
        } else {
            let dm = d.varint()?;
            let dr = d.varint()?;
            (prev_max.wrapping_add(dm), prev_ref.wrapping_add(dr as u64))
        };
        let span = d.uvarint()?;
        let maxt = mint.wrapping_add(span as i64);
        if maxt < mint || (i > 0 && mint <= prev_max) {
            return Err(DecodeError {
                offset: at,
                reason: "chunk time ranges invalid or overlapping",
            });
        }
        chunks.push(ChunkRef {
            min_time: mint,
            max_time: maxt,
            r#ref: r,
        });
        (prev_max, prev_ref) = (maxt, r);
    }
    Ok(chunks.into_boxed_slice())
}

/// The label indices: label names (sorted) with their values (sorted) and each value's
/// postings offset, checked against the symbol count and the postings section's length.
fn decode_label_indices(
    (p, base): (&[u8], u64),
    nsym: u64,
    postings_len: u64,
) -> Result<Vec<NameEntry>, DecodeError> {
    let mut d = Decbuf::new(p, base);
    let n = d.count(2)?;
    let mut names: Vec<NameEntry> = Vec::with_capacity(n);
    for _ in 0..n {
        let at = d.offset();
        let nm = d.uvarint()?;
        if nm >= nsym || names.last().is_some_and(|l| u64::from(l.name) >= nm) {
            return Err(DecodeError {
                offset: at,
                reason: "label name reference invalid or unsorted",
            });
        }
        let nv = d.count(2)?;
        let mut values = Vec::with_capacity(nv);
        let (mut lv, mut lo) = (0u64, 0u64);
        for i in 0..nv {
            let at = d.offset();
            let dv = d.uvarint()?;
            let dof = d.uvarint()?;
            let (v, o) = (lv.saturating_add(dv), lo.saturating_add(dof));
            if v >= nsym || o >= postings_len || (i > 0 && dv == 0) {
                return Err(DecodeError {
                    offset: at,
                    reason: "label value or postings offset invalid",
                });
            }
            values.push((v as u32, o as u32));
            (lv, lo) = (v, o);
        }
        names.push(NameEntry {
            name: nm as u32,
            values,
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)], chunks: &[(i64, i64, u64)]) -> SeriesRecord {
        SeriesRecord {
            labels: Labels::from_pairs(pairs),
            chunks: chunks
                .iter()
                .map(|&(a, b, r)| ChunkRef {
                    min_time: a,
                    max_time: b,
                    r#ref: r,
                })
                .collect(),
        }
    }

    fn sample_index() -> IndexReader {
        let series = vec![
            rec(
                &[("__name__", "a"), ("job", "x")],
                &[(0, 10, 8), (11, 20, 30)],
            ),
            rec(&[("__name__", "a"), ("job", "y")], &[(-5, 5, 50)]),
            rec(&[("__name__", "b"), ("env", "p"), ("job", "x")], &[]),
        ];
        let b = encode_index(&series).unwrap();
        IndexReader::decode(Path::new("index"), &b).unwrap()
    }

    #[test]
    fn round_trip() {
        let ix = sample_index();
        assert_eq!(ix.num_series(), 3);
        let e = ix.series(0).unwrap();
        assert_eq!(
            ix.labels(e),
            Labels::from_pairs(&[("__name__", "a"), ("job", "x")])
        );
        assert_eq!(e.chunks[1].min_time, 11);
        assert_eq!(e.chunks[1].r#ref, 30);
        assert_eq!(ix.series(1).unwrap().chunks[0].min_time, -5);
        assert_eq!(ix.label_names(), vec!["__name__", "env", "job"]);
        assert_eq!(ix.label_values("job"), vec!["x", "y"]);
        assert_eq!(
            ix.label_value_counts("job").unwrap(),
            vec![("x".to_string(), 2), ("y".to_string(), 1)]
        );
    }

    #[test]
    fn select_semantics() {
        let ix = sample_index();
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        assert_eq!(
            ix.select(&[m(MatchOp::Equal, "job", "x")]).unwrap(),
            vec![0, 2]
        );
        assert_eq!(
            ix.select(&[m(MatchOp::Equal, "job", "x"), m(MatchOp::Equal, "env", "")])
                .unwrap(),
            vec![0]
        );
        assert_eq!(
            ix.select(&[m(MatchOp::RegexMatch, "env", "p|")]).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            ix.select(&[m(MatchOp::NotEqual, "env", "")]).unwrap(),
            vec![2]
        );
        assert_eq!(
            ix.select(&[
                m(MatchOp::RegexMatch, "__name__", "a"),
                m(MatchOp::NotEqual, "job", "x")
            ])
            .unwrap(),
            vec![1]
        );
        assert_eq!(
            ix.select(&[m(MatchOp::RegexNoMatch, "job", "y|z")])
                .unwrap(),
            vec![0, 2]
        );
        assert!(ix
            .select(&[m(MatchOp::Equal, "job", "nope")])
            .unwrap()
            .is_empty());
        assert_eq!(ix.select(&[]).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn a_symbol_reference_outside_the_table_is_corruption() {
        // What makes `IndexReader::symbol`'s fallback unreachable: a series section that
        // names symbol 5 of a 2-symbol table (with every CRC right) is refused at decode,
        // where the error can name file and offset, instead of reading as "".
        let symbols: Vec<Box<str>> = vec!["__name__".into(), "a".into()];
        // One series: no labels shared with a previous one, one label (name 0, value 5).
        let section = [1u8, 0, 1, 0, 5];
        let e = decode_series((&section, 100), &symbols).unwrap_err();
        assert_eq!(e.reason, "label symbol reference out of range");
        assert_eq!(e.offset, 103, "the offset of the label pair");
        let section = [1u8, 0, 1, 7, 1];
        let e = decode_series((&section, 100), &symbols).unwrap_err();
        assert_eq!(e.reason, "label symbol reference out of range");
    }

    #[test]
    fn every_bit_flip_is_detected_or_harmless() {
        let series = vec![
            rec(&[("__name__", "a"), ("job", "x")], &[(0, 10, 8)]),
            rec(&[("__name__", "a"), ("job", "y")], &[(1, 5, 50)]),
        ];
        let b = encode_index(&series).unwrap();
        for i in 0..b.len() {
            let mut f = b.clone();
            f[i] ^= 0x10;
            match IndexReader::decode(Path::new("idx"), &f) {
                Err(BlockError::Corrupt { offset, .. }) => assert!(offset <= b.len() as u64),
                Err(e) => panic!("unexpected error {e}"),
                Ok(_) => panic!("flip at {i} not detected"),
            }
        }
        for cut in 0..b.len() {
            assert!(IndexReader::decode(Path::new("idx"), &b[..cut]).is_err());
        }
    }
}
