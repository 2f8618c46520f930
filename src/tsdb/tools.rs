//! The work behind `promtui tsdb import|stats|dump`: backfilling an OpenMetrics file into
//! blocks, cardinality over the whole database, and a promtool-compatible dump. Printing
//! of reports is the CLI's; these return data or write to a given writer.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::exposition::{Entry, ErrorKind, OpenMetricsParser, ParseError, SampleEntry};
use crate::model::value::format_go_float;
use crate::model::{Label, Labels, Matcher, METRIC_NAME};
use crate::storage::{Querier, QueryError};
use crate::tsdb::import::{
    Backfill, IdentityBuild, ImportError, ImportOptions, ImportProgress, ImportReport, SeriesRef,
    DEFAULT_MAX_BUFFERED_BYTES,
};

/// Why a backfill failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("writing output: {0}")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Layout {
        #[from]
        source: crate::tsdb::layout::LayoutError,
    },
    #[error(transparent)]
    Prometheus {
        #[from]
        source: crate::tsdb::prometheus_dir::PromDirError,
    },
}

/// Bytes read from the input file per parsed piece (cut back to the last full line).
const READ_CHUNK: usize = 4 << 20;
/// Threads parsing pieces (pieces go to them in turn; the importer takes their output
/// back in piece order).
const PARSERS: usize = 2;
/// Input items per batch handed from a parsing thread to the importing one.
const BATCH_ITEMS: usize = 32 * 1024;
/// Pieces read ahead of each parser.
const PIECES_IN_FLIGHT: usize = 2;
/// Batches in flight from each parser (bounds memory; the parser waits when full).
const BATCHES_IN_FLIGHT: usize = 4;

/// One input item, in file order.
enum Item {
    /// A sample of the series with this parser-side id (index into the series that parser
    /// has sent so far).
    Sample(u32, i64, f64),
    /// A sample that could not be imported, with its file context.
    Error(String),
    /// The parse error that ends the input; its line counts from the start of the piece.
    Parse(ParseError),
}

/// How a piece ended, sent with the last batch of the piece.
struct PieceEnd {
    /// Lines in the piece.
    lines: usize,
    /// The piece held no bytes.
    empty: bool,
    /// The piece was the end of the file.
    last: bool,
    /// The piece ended with `# EOF`.
    eof: bool,
}

/// Work handed from a parsing thread to the importing one.
#[derive(Default)]
struct Batch {
    /// Label sets of the series the parser first saw in this batch, in parser-side id
    /// order; their samples may follow in this batch or later ones.
    new_series: Vec<Labels>,
    items: Vec<Item>,
    /// Set on the last batch of a piece; an error when the file could not be read.
    end: Option<std::io::Result<PieceEnd>>,
}

/// Series seen by one parser, keyed by their text as written (`name{labels}`), so a
/// label set is built once per distinct text instead of once per sample. Two texts may
/// spell the same label set (label order, empty values); the importer merges those.
#[derive(Default)]
struct SeriesCache {
    /// Parser-side id by xxh3 of the text; texts whose hash is taken live in `collisions`.
    by_hash: HashMap<u64, u32, IdentityBuild>,
    collisions: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
    /// By id: the series that came right after it last time (`u32::MAX`: none yet).
    next: Vec<u32>,
    last: u32,
}

impl SeriesCache {
    /// The id of `s`'s series; a first sight builds its labels into `new_series`.
    #[inline]
    fn id(&mut self, s: &SampleEntry<'_>, new_series: &mut Vec<Labels>) -> u32 {
        let text = s.series_text;
        let last = self.last as usize;
        // Consecutive samples often belong to the same series; interleaved series (the
        // buckets of a histogram, say) come back in the same order.
        if self.texts.get(last).is_some_and(|t| **t == *text) {
            return self.last;
        }
        if let Some(&hint) = self.next.get(last) {
            if self.texts.get(hint as usize).is_some_and(|t| **t == *text) {
                self.last = hint;
                return hint;
            }
        }
        let id = self.lookup(s, new_series);
        if let Some(n) = self.next.get_mut(last) {
            *n = id;
        }
        self.last = id;
        id
    }

    fn lookup(&mut self, s: &SampleEntry<'_>, new_series: &mut Vec<Labels>) -> u32 {
        let h = xxhash_rust::xxh3::xxh3_64(s.series_text.as_bytes());
        let taken = match self.by_hash.get(&h) {
            Some(&id) if *self.texts[id as usize] == *s.series_text => return id,
            Some(_) => match self.collisions.get(s.series_text) {
                Some(&id) => return id,
                None => true,
            },
            None => false,
        };
        let id = self.texts.len() as u32;
        if taken {
            self.collisions.insert(s.series_text.into(), id);
        } else {
            self.by_hash.insert(h, id);
        }
        self.texts.push(s.series_text.into());
        self.next.push(u32::MAX);
        let mut labels: Vec<Label> = Vec::with_capacity(8);
        labels.push(Label::new(METRIC_NAME, s.name.as_ref()));
        for (n, v) in s.labels.iter() {
            labels.push(Label::new(n.as_ref(), v.as_ref()));
        }
        new_series.push(Labels::new(labels));
        id
    }
}

/// Reads until `buf` holds at least `want` bytes or the file ends; true at the end.
fn fill(file: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    while buf.len() < want {
        let n = file
            .by_ref()
            .take((want - buf.len()) as u64)
            .read_to_end(buf)?;
        if n == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A run of whole lines of the input (it ends right after a `\n`, unless `last`).
struct Piece {
    buf: Vec<u8>,
    /// The end of the file: nothing follows this piece.
    last: bool,
}

/// The reading side of an import: cuts `file` into pieces of about `chunk` bytes at line
/// ends and deals them to the parsers in turn, reusing the buffers the parsers hand back
/// through `free`. An empty last piece follows a piece that ended exactly at the end of
/// the file. Stops after the last piece, a read error (sent in its place) or when a
/// parser hangs up.
fn read_pieces(
    mut file: impl Read,
    chunk: usize,
    parsers: Vec<SyncSender<std::io::Result<Piece>>>,
    free: Receiver<Vec<u8>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    for tx in parsers.iter().cycle() {
        let mut buf = free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(chunk + (chunk >> 2)));
        buf.clear();
        buf.extend_from_slice(&carry);
        carry.clear();
        let mut want = chunk;
        let piece = loop {
            match fill(&mut file, &mut buf, want) {
                Err(e) => break Err(e),
                Ok(true) => break Ok(Piece { buf, last: true }),
                Ok(false) => match memchr::memrchr(b'\n', &buf) {
                    Some(i) => {
                        carry.extend_from_slice(&buf[i + 1..]);
                        buf.truncate(i + 1);
                        break Ok(Piece { buf, last: false });
                    }
                    // A line longer than a piece: read on.
                    None => want = buf.len() + chunk,
                },
            }
        };
        let done = !matches!(piece, Ok(Piece { last: false, .. }));
        if tx.send(piece).is_err() || done {
            return;
        }
    }
}

/// The parsing side of an import: parses each piece it is dealt on its own (the grammar
/// has no state across lines) and sends its items in batches, the last one of a piece
/// carrying [`PieceEnd`]. Stops when either side hangs up.
fn parse_pieces(
    pieces: Receiver<std::io::Result<Piece>>,
    name: &str,
    tx: SyncSender<Batch>,
    free: SyncSender<Vec<u8>>,
) {
    let mut cache = SeriesCache::default();
    let mut batch = Batch::default();
    let send = |batch: &mut Batch| tx.send(std::mem::take(batch)).is_ok();
    for piece in pieces {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                batch.end = Some(Err(e));
                send(&mut batch);
                return;
            }
        };
        let mut parser = OpenMetricsParser::new_fragment(&piece.buf, 1, piece.last);
        let mut eof = false;
        for entry in parser.by_ref() {
            match entry {
                Ok(Entry::Sample(s)) => {
                    let item = match s.timestamp {
                        Some(t) => Item::Sample(cache.id(&s, &mut batch.new_series), t, s.value),
                        None => Item::Error(format!(
                            "{name}: sample {} has no timestamp; backfilling needs one on every sample",
                            s.series_text
                        )),
                    };
                    batch.items.push(item);
                    if batch.items.len() >= BATCH_ITEMS && !send(&mut batch) {
                        return;
                    }
                }
                Ok(Entry::Eof) => eof = true,
                Ok(_) => {}
                Err(e) => batch.items.push(Item::Parse(e)),
            }
        }
        batch.end = Some(Ok(PieceEnd {
            lines: parser.line() - 1,
            empty: piece.buf.is_empty(),
            last: piece.last,
            eof,
        }));
        if !send(&mut batch) {
            return;
        }
        // The reader may be ahead; a full return channel just drops the buffer.
        let _ = free.try_send(piece.buf);
    }
}

/// Where the importing side sends what the parsers found, in file order.
trait ItemSink {
    type Series: Copy;
    /// Registers a series first seen by a parser.
    fn series(&mut self, labels: Labels) -> Self::Series;
    fn sample(&mut self, series: Self::Series, t: i64, v: f64) -> Result<(), ImportError>;
    fn error(&mut self, msg: String) -> Result<(), ImportError>;
}

impl<P: FnMut(ImportProgress)> ItemSink for Backfill<'_, P> {
    type Series = SeriesRef;
    fn series(&mut self, labels: Labels) -> SeriesRef {
        Backfill::series(self, labels)
    }
    #[inline]
    fn sample(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), ImportError> {
        self.append(series, t, v)
    }
    fn error(&mut self, msg: String) -> Result<(), ImportError> {
        self.input_error(msg)
    }
}

/// The importing side: takes the parsers' batches back in piece order, numbers lines
/// across pieces, and feeds `sink` until the end of the input or its first parse error
/// (everything after it is ignored, as a single parser would stop there).
fn import_batches<S: ItemSink>(
    parsers: Vec<Receiver<Batch>>,
    name: &str,
    sink: &mut S,
) -> Result<(), ToolError> {
    let mut ids: Vec<Vec<S::Series>> = parsers.iter().map(|_| Vec::new()).collect();
    // Lines before the current piece.
    let mut line_base = 0;
    let mut after_eof = false;
    for p in (0..parsers.len()).cycle() {
        let (rx, ids) = (&parsers[p], &mut ids[p]);
        loop {
            let Ok(batch) = rx.recv() else {
                return Ok(());
            };
            if !after_eof {
                ids.extend(batch.new_series.into_iter().map(|l| sink.series(l)));
                for item in batch.items {
                    match item {
                        Item::Sample(id, t, v) => {
                            // Ids index the series this parser sent before or with this batch.
                            if let Some(&r) = ids.get(id as usize) {
                                sink.sample(r, t, v)?;
                            }
                        }
                        Item::Error(msg) => sink.error(msg)?,
                        Item::Parse(mut e) => {
                            e.line += line_base;
                            sink.error(format!("{name}: {e}"))?;
                            return Ok(());
                        }
                    }
                }
            }
            let Some(end) = batch.end else {
                continue;
            };
            let end = end.map_err(|source| ToolError::Read {
                path: name.to_string(),
                source,
            })?;
            if after_eof {
                // A piece after `# EOF`: only the empty end of the file may follow.
                if !(end.empty && end.last) {
                    let e = ParseError {
                        line: line_base + 1,
                        column: 1,
                        kind: ErrorKind::DataAfterEof,
                    };
                    sink.error(format!("{name}: {e}"))?;
                }
                return Ok(());
            }
            line_base += end.lines;
            if end.last {
                return Ok(());
            }
            after_eof = end.eof;
            break;
        }
    }
    Ok(())
}

/// Runs the reader, the parsers and the importing side (on this thread) over `file`.
fn import_pipeline(
    file: impl Read + Send,
    name: &str,
    chunk: usize,
    sink: &mut impl ItemSink,
) -> Result<(), ToolError> {
    let chunk = chunk.max(1);
    std::thread::scope(|scope| {
        let (free_tx, free_rx) = sync_channel(PARSERS * (PIECES_IN_FLIGHT + 1));
        let mut piece_txs = Vec::with_capacity(PARSERS);
        let mut batch_rxs = Vec::with_capacity(PARSERS);
        for _ in 0..PARSERS {
            let (piece_tx, piece_rx) = sync_channel(PIECES_IN_FLIGHT);
            let (batch_tx, batch_rx) = sync_channel(BATCHES_IN_FLIGHT);
            let free = free_tx.clone();
            scope.spawn(move || parse_pieces(piece_rx, name, batch_tx, free));
            piece_txs.push(piece_tx);
            batch_rxs.push(batch_rx);
        }
        drop(free_tx);
        scope.spawn(move || read_pieces(file, chunk, piece_txs, free_rx));
        // The receivers are dropped when this returns, which stops parsers and reader
        // early after a parse or import error.
        import_batches(batch_rxs, name, sink)
    })
}

/// Backfills an OpenMetrics file into blocks under `data_dir`, one per
/// `block_duration_ms` window, each spanning its samples. Samples must carry timestamps. A parse error ends the input: the
/// samples before it are imported and the error (with line and column) is reported in
/// [`ImportReport::errors`].
///
/// The file is read in pieces of whole lines on one thread, parsed on two more while
/// this one imports, so memory stays bounded by the import buffers, not the file size.
pub fn import_openmetrics_file(
    path: &Path,
    data_dir: &Path,
    block_duration_ms: i64,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ToolError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ToolError::Read {
        path: name.clone(),
        source,
    })?;
    // The data directory must be promtui's (or new) before a block is written into it.
    let blocks_dir = crate::tsdb::layout::prepare(data_dir)?.blocks();
    let mut backfill = Backfill::new(
        &blocks_dir,
        ImportOptions {
            block_duration: block_duration_ms,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            compact_spilled: true,
        },
        progress,
    )?;
    import_pipeline(file, &name, READ_CHUNK, &mut backfill)?;
    Ok(backfill.finish()?)
}

/// Imports the Prometheus data directory `src` (blocks and WAL, read without changes)
/// into blocks of `data_dir`.
pub fn import_prometheus_dir(
    src: &Path,
    data_dir: &Path,
    block_duration_ms: i64,
    progress: impl FnMut(ImportProgress),
) -> Result<(crate::tsdb::prometheus_dir::PromReadStats, ImportReport), ToolError> {
    let blocks_dir = crate::tsdb::layout::prepare(data_dir)?.blocks();
    let opts = ImportOptions {
        block_duration: block_duration_ms,
        max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        compact_spilled: true,
    };
    Ok(crate::tsdb::prometheus_dir::import_dir(
        src,
        &blocks_dir,
        opts,
        progress,
    )?)
}

/// Writes every sample of the series matching any of `selectors` in `[mint, maxt]` as
/// `labels value timestamp_ms` lines (promtool's `tsdb dump` format, labels as [`Labels::go_string`]), series sorted by
/// labels and each series once. Returns (series, samples) written.
pub fn dump(
    q: &dyn Querier,
    selectors: &[Vec<Matcher>],
    out: &mut impl Write,
) -> Result<(u64, u64), ToolError> {
    let mut all = Vec::new();
    for ms in selectors {
        all.extend(q.select(ms)?);
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.labels == b.labels);
    let (mut nseries, mut nsamples) = (0u64, 0u64);
    let mut line = String::new();
    let mut prefix = String::new();
    for mut s in all {
        nseries += 1;
        prefix.clear();
        s.labels.push_go_string(&mut prefix);
        while let Some(sample) = s.samples.next() {
            line.clear();
            line.push_str(&prefix);
            line.push(' ');
            line.push_str(&format_go_float(sample.v));
            line.push(' ');
            line.push_str(&sample.t.to_string());
            line.push('\n');
            out.write_all(line.as_bytes())?;
            nsamples += 1;
        }
    }
    out.flush()?;
    Ok((nseries, nsamples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MatchOp, Sample};
    use crate::storage::{Series, VecSampleIterator};

    struct Fixed(Vec<(Labels, Vec<Sample>)>);

    impl Querier for Fixed {
        fn select(&self, ms: &[Matcher]) -> Result<Vec<Series>, QueryError> {
            Ok(self
                .0
                .iter()
                .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
                .map(|(l, s)| Series {
                    labels: l.clone(),
                    samples: Box::new(VecSampleIterator::new(s.clone())),
                })
                .collect())
        }
        fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(vec![])
        }
        fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(vec![])
        }
    }

    #[test]
    fn dump_is_sorted_deduplicated_and_promtool_shaped() {
        let q = Fixed(vec![
            (
                Labels::from_pairs(&[("__name__", "up"), ("job", "b\"q")]),
                vec![Sample::new(1000, 1e6)],
            ),
            (
                Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
                vec![Sample::new(1000, 1.0), Sample::new(2000, f64::NAN)],
            ),
        ]);
        let up = vec![Matcher::equal("__name__", "up")];
        let any = vec![Matcher::new(MatchOp::RegexMatch, "job", ".+").unwrap()];
        let mut out = Vec::new();
        let (series, samples) = dump(&q, &[up, any], &mut out).unwrap();
        assert_eq!((series, samples), (2, 3));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{__name__=\"up\", job=\"a\"} 1 1000\n{__name__=\"up\", job=\"a\"} NaN 2000\n{__name__=\"up\", job=\"b\\\"q\"} 1e+06 1000\n"
        );
    }

    #[test]
    fn import_reports_parse_errors_with_position_and_keeps_earlier_samples() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.om");
        std::fs::write(&file, "# TYPE a gauge\na 1 10\na 2 20\nb{x=} 3 30\n# EOF\n").unwrap();
        let data = dir.path().join("data");
        let r = import_openmetrics_file(&file, &data, 7_200_000, |_| {}).unwrap();
        assert_eq!(r.samples_imported, 2);
        assert_eq!(r.input_errors, 1);
        assert!(r.errors[0].contains("in.om: line 4"), "{:?}", r.errors);
    }

    /// What the old whole-body import fed the importer: labels per sample, or an error.
    fn whole_body_items(body: &[u8]) -> Vec<Result<(Labels, i64, u64), String>> {
        crate::exposition::parse(body, crate::exposition::Format::OpenMetrics)
            .filter_map(|e| match e {
                Ok(Entry::Sample(s)) => Some(match s.timestamp {
                    Some(t) => {
                        let mut l = vec![Label::new(METRIC_NAME, s.name.as_ref())];
                        l.extend(s.labels.iter().map(|(n, v)| Label::new(n, v)));
                        Ok((Labels::new(l), t, s.value.to_bits()))
                    }
                    None => Err(format!(
                        "f: sample {} has no timestamp; backfilling needs one on every sample",
                        s.series_text
                    )),
                }),
                Ok(_) => None,
                Err(e) => Some(Err(format!("f: {e}"))),
            })
            .collect()
    }

    /// Collects what the pipeline feeds the importer.
    #[derive(Default)]
    struct Collect {
        series: Vec<Labels>,
        out: Vec<Result<(Labels, i64, u64), String>>,
    }

    impl ItemSink for Collect {
        type Series = usize;
        fn series(&mut self, labels: Labels) -> usize {
            self.series.push(labels);
            self.series.len() - 1
        }
        fn sample(&mut self, s: usize, t: i64, v: f64) -> Result<(), ImportError> {
            self.out.push(Ok((self.series[s].clone(), t, v.to_bits())));
            Ok(())
        }
        fn error(&mut self, msg: String) -> Result<(), ImportError> {
            self.out.push(Err(msg));
            Ok(())
        }
    }

    fn piecewise_items(body: &[u8], chunk: usize) -> Vec<Result<(Labels, i64, u64), String>> {
        let mut c = Collect::default();
        import_pipeline(body, "f", chunk, &mut c).unwrap();
        c.out
    }

    #[test]
    fn pieces_parse_exactly_like_one_body() {
        let bodies: [&[u8]; 13] = [
            b"x 1 1\nbad\ny 2 2\nz 3 3\n# EOF\n",
            b"# TYPE a gauge\na 1 10\na 2 20\nb{x=} 3 30\n# EOF\n",
            b"a 1\na 2 20\n# EOF\n",
            b"a{x=\"1\"} 1 1\nb 2 2\na{x=\"1\"} 3 3\na{x=\"2\"} 4 4\n# EOF",
            b"a{x=\"1\",y=\"\"} 1 1\na{x=\"1\"} 2 2\na{y=\"\",x=\"1\"} 3 3\n# EOF\n",
            b"a 1 1\n# EOF\n\n",
            b"a 1 1\n# EOF\nb 2 2\n",
            b"a 1 1\nb 2 2\n",
            b"a 1 1\nb 2 2",
            b"",
            b"# EOF\n",
            b"a{long=\"0123456789012345678901234567890123456789\"} 1.5e3 1.25\nbad line\n# EOF\n",
            b"a{x=\"\xff\"} 1 1\n# EOF\n",
        ];
        for body in bodies {
            let want = whole_body_items(body);
            for chunk in (1..24).chain([4096]) {
                assert_eq!(
                    piecewise_items(body, chunk),
                    want,
                    "body {:?} in pieces of {chunk}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    /// A file that fails after some bytes.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_errors_fail_the_import_after_earlier_samples() {
        for chunk in [1, 3, 8, 4096] {
            let mut c = Collect::default();
            let err = import_pipeline(Failing(b"a 1 1\nb 2 2\n"), "f", chunk, &mut c)
                .unwrap_err()
                .to_string();
            assert_eq!(err, "reading f: disk on fire");
            assert!(
                c.out.len() <= 2 && c.out.iter().all(Result::is_ok),
                "{:?}",
                c.out
            );
        }
    }

    #[test]
    fn series_cache_ids_are_stable_across_interleaving() {
        let body = b"a{x=\"1\"} 1 1\na{x=\"2\"} 1 1\nb 1 1\na{x=\"1\"} 2 2\na{x=\"2\"} 2 2\nb 2 2\nb 3 3\na{x=\"2\"} 3 3\n# EOF\n";
        let mut cache = SeriesCache::default();
        let mut new_series = Vec::new();
        let ids: Vec<u32> = OpenMetricsParser::new(body)
            .filter_map(|e| match e.unwrap() {
                Entry::Sample(s) => Some(cache.id(&s, &mut new_series)),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![0, 1, 2, 0, 1, 2, 2, 1]);
        assert_eq!(
            new_series,
            vec![
                Labels::from_pairs(&[("__name__", "a"), ("x", "1")]),
                Labels::from_pairs(&[("__name__", "a"), ("x", "2")]),
                Labels::from_pairs(&[("__name__", "b")]),
            ]
        );
    }

    #[test]
    fn import_requires_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.om");
        std::fs::write(&file, "a 1\na 2 20\n# EOF\n").unwrap();
        let r = import_openmetrics_file(&file, &dir.path().join("d"), 7_200_000, |_| {}).unwrap();
        assert_eq!(r.samples_imported, 1);
        assert!(r.errors[0].contains("has no timestamp"), "{:?}", r.errors);
    }
}
