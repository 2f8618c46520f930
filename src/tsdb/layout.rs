//! The data directory's layout, and the check that it is promtui's before anything in it
//! is touched.
//!
//! ```text
//! <dir>/promtui-tsdb.json     format marker, written before anything else
//! <dir>/promtui.lock          held (flock) while a process writes the database
//! <dir>/promtui-wal/          WAL segments and checkpoints (docs/format/wal.md)
//! <dir>/promtui-blocks/<ULID> persisted blocks (docs/format/block.md)
//! <dir>/snapshots/            admin API snapshots
//! <dir>/promtui-state/        operator state in SQLite (pushed groups, silences...)
//! ```
//!
//! No name here is one Prometheus uses (`wal/`, `chunks_head/`, ULID block directories,
//! `lock`, `queries.active`), so a Prometheus pointed at a promtui directory finds nothing
//! it would open, repair or delete; and promtui, before it writes anything, refuses a
//! directory holding anything it did not write ([`LayoutError::Foreign`]), naming what it
//! found. The check reads only: a refused directory is left byte for byte as it was.
//!
//! Directories written before the marker existed (format 1: `lock`, `wal/` with
//! header-less segments, blocks at the top level) are recognised by their contents
//! (every WAL segment opens with a valid promtui record or is empty, every block's chunk
//! files carry promtui's magic) and moved to this layout by [`prepare`], one rename at a
//! time, each step safe to repeat after a crash; the marker is written last.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::block::{self, Ulid};
use super::wal::{self, record, SEGMENT_HEADER};

/// The format marker's file name.
const MARKER: &str = "promtui-tsdb.json";
/// The lock file's name.
const LOCK: &str = "promtui.lock";
/// The WAL directory's name.
pub const WAL_DIR: &str = "promtui-wal";
/// The directory holding the persisted blocks.
pub const BLOCKS_DIR: &str = "promtui-blocks";
/// Full head chunks written out of the heap (src/tsdb/head/spill.rs); emptied at open.
pub const HEAD_CHUNKS_DIR: &str = "promtui-head-chunks";
/// Admin API snapshots.
const SNAPSHOTS_DIR: &str = "snapshots";
/// Operator state beside the samples: SQLite files of the Pushgateway's groups, the
/// alerting pipeline's silences and acknowledgements; the TSDB never reads it.
pub const STATE_DIR: &str = "promtui-state";
/// Remote-write queues' saved progress (src/remote); the TSDB never reads it.
pub const REMOTE_DIR: &str = "promtui-remote";
/// The directory format this build writes (1 was the unmarked layout).
const FORMAT_VERSION: u32 = 2;
/// The format name in the marker.
const FORMAT_NAME: &str = "promtui-tsdb";

/// Paths of a promtui data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn wal(&self) -> PathBuf {
        self.root.join(WAL_DIR)
    }
    pub fn blocks(&self) -> PathBuf {
        self.root.join(BLOCKS_DIR)
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join(LOCK)
    }
    pub fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }
}

/// One entry of a directory that promtui did not write, and what it looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The entry's name (a trailing `/` for directories).
    pub name: String,
    /// What promtui makes of it.
    pub what: String,
    /// Whether it is one of Prometheus' names or formats.
    pub prometheus: bool,
}

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}", foreign_message(dir, found))]
    Foreign { dir: PathBuf, found: Vec<Finding> },
    #[error(
        "{path}: this data directory was written by a newer promtui (format {found}; this build \
         reads format {FORMAT_VERSION}); it was left untouched"
    )]
    Newer { path: PathBuf, found: u32 },
    #[error("{path}: not a promtui format marker: {reason}; the directory was left untouched")]
    BadMarker { path: PathBuf, reason: String },
    #[error(
        "{dir} was written by an earlier promtui (format 1) and a read-only open cannot move it \
         to format {FORMAT_VERSION}; run `promtui serve` (or any command that writes) on it once"
    )]
    NeedsUpgrade { dir: PathBuf },
    #[error("no promtui data directory at {0}")]
    Missing(PathBuf),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn foreign_message(dir: &Path, found: &[Finding]) -> String {
    let prometheus = found.iter().any(|f| f.prometheus);
    let mut s = format!(
        "refusing to use {}: it holds files promtui did not write",
        dir.display()
    );
    if prometheus {
        s.push_str(" (it looks like a Prometheus data directory)");
    }
    s.push(':');
    for f in found.iter().take(12) {
        s.push_str(&format!("\n  {}: {}", f.name, f.what));
    }
    if found.len() > 12 {
        s.push_str(&format!("\n  … and {} more", found.len() - 12));
    }
    s.push_str(
        "\nNothing in it was changed. Point --storage.tsdb.path at an empty or new directory \
         (promtui creates it)",
    );
    if prometheus {
        s.push_str(&format!(
            "; to bring its data into promtui, import it into a new directory with \
             `promtui tsdb import prometheus {} --storage.tsdb.path NEW_DIR` (it reads the \
             Prometheus directory without changing it)",
            dir.display()
        ));
    }
    s.push('.');
    s
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What a data directory holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    /// It does not exist, or is empty: promtui may create its layout.
    Fresh,
    /// It carries promtui's marker and nothing else foreign.
    Current,
    /// An unmarked directory written by an earlier promtui (format 1).
    Legacy,
}

/// Reads the data directory and says whose it is, changing nothing.
pub fn inspect(dir: &Path) -> Result<Ownership, LayoutError> {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ownership::Fresh),
        Err(e) => return Err(io_err("listing", dir)(e)),
    };
    let mut names: Vec<(String, bool)> = Vec::new();
    for e in entries {
        let e = e.map_err(io_err("listing", dir))?;
        let is_dir = e.file_type().map_err(io_err("listing", dir))?.is_dir();
        names.push((e.file_name().to_string_lossy().into_owned(), is_dir));
    }
    names.sort();
    // A mount point's lost+found is the file system's, not anybody's data.
    names.retain(|(n, d)| !(n == "lost+found" && *d));
    if names.is_empty() {
        return Ok(Ownership::Fresh);
    }
    let layout = Layout::new(dir);
    let marked = names.iter().any(|(n, _)| n == MARKER);
    if marked {
        read_marker(&layout.marker())?;
    }
    let mut found = Vec::new();
    // Entries that are harmless alone, named too when the directory is refused.
    let mut others = Vec::new();
    let mut legacy_evidence = false;
    for (name, is_dir) in &names {
        let path = dir.join(name);
        match classify(&path, name, *is_dir, marked)? {
            Class::Ours => {}
            Class::Legacy(what) => {
                legacy_evidence = true;
                others.push(finding(name, *is_dir, what, false));
            }
            Class::Neutral(what) => others.push(finding(name, *is_dir, what, false)),
            Class::Foreign(f) => found.push(f),
        }
    }
    if !found.is_empty() {
        found.extend(others);
        return Err(LayoutError::Foreign {
            dir: dir.to_path_buf(),
            found,
        });
    }
    Ok(match (marked, legacy_evidence) {
        (true, _) => Ownership::Current,
        (false, true) => Ownership::Legacy,
        // Only neutral entries (a lock file, snapshots): nothing to adopt.
        (false, false) => Ownership::Fresh,
    })
}

enum Class {
    Ours,
    /// promtui's format-1 layout, and what it is.
    Legacy(&'static str),
    /// Names both could have left that hold no data (`lock`, `snapshots/`, tmp dirs, a
    /// WAL of empty segments).
    Neutral(&'static str),
    Foreign(Finding),
}

fn finding(name: &str, is_dir: bool, what: impl Into<String>, prometheus: bool) -> Finding {
    Finding {
        name: if is_dir {
            format!("{name}/")
        } else {
            name.to_string()
        },
        what: what.into(),
        prometheus,
    }
}

fn foreign(name: &str, is_dir: bool, what: impl Into<String>, prometheus: bool) -> Class {
    Class::Foreign(finding(name, is_dir, what, prometheus))
}

fn classify(path: &Path, name: &str, is_dir: bool, marked: bool) -> Result<Class, LayoutError> {
    Ok(match (name, is_dir) {
        (MARKER, false) => Class::Ours,
        (LOCK, false) => Class::Ours,
        (WAL_DIR, true)
        | (BLOCKS_DIR, true)
        | (STATE_DIR, true)
        | (REMOTE_DIR, true)
        | (HEAD_CHUNKS_DIR, true) => Class::Ours,
        (SNAPSHOTS_DIR, true) => Class::Neutral("snapshots"),
        ("lock", false) if marked => foreign(
            name,
            false,
            "a lock file by another program (Prometheus names its lock so)",
            true,
        ),
        ("lock", false) => Class::Neutral("a lock file"),
        ("queries.active", false) => foreign(name, false, "Prometheus' active query log", true),
        ("chunks_head", true) => foreign(name, true, "Prometheus' memory-mapped head chunks", true),
        ("wal", true) if !marked => match legacy_wal(path)? {
            Ok(true) => Class::Legacy("a WAL of an earlier promtui"),
            Ok(false) => Class::Neutral("a WAL directory with no records"),
            Err(why) => foreign(
                name,
                true,
                format!("a WAL promtui did not write ({why})"),
                true,
            ),
        },
        ("wal", true) => foreign(name, true, "a WAL promtui did not write", true),
        (_, true) if name.parse::<Ulid>().is_ok() && !marked => match legacy_block(path)? {
            Ok(()) => Class::Legacy("a block of an earlier promtui"),
            Err((why, prom)) => foreign(name, true, why, prom),
        },
        (_, true) if name.parse::<Ulid>().is_ok() => {
            foreign(name, true, "a block directory promtui did not write", true)
        }
        (_, true)
            if !marked
                && name
                    .strip_suffix(block::TMP_SUFFIX)
                    .is_some_and(|u| u.parse::<Ulid>().is_ok()) =>
        {
            // An unfinished block write of format 1; removed at open, as before.
            Class::Neutral("an unfinished block write")
        }
        (_, true) => foreign(name, true, "a directory promtui did not create", false),
        _ => foreign(name, false, "a file promtui did not create", false),
    })
}

/// Format 1 WAL check: every segment (and checkpoint segment) is empty, starts with the
/// current segment header (a migration cut short), or starts with a valid promtui frame.
/// `Ok(true)` when at least one segment holds promtui's records.
fn legacy_wal(dir: &Path) -> Result<Result<bool, String>, LayoutError> {
    let mut evidence = false;
    let rd = fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for e in rd {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            if name.starts_with("checkpoint.") {
                match legacy_wal(&path)? {
                    Ok(e) => evidence |= e,
                    Err(why) => return Ok(Err(why)),
                }
                continue;
            }
            return Ok(Err(format!("unexpected directory {name}")));
        }
        if !(name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit())) {
            return Ok(Err(format!("unexpected file {name}")));
        }
        match legacy_segment(&path)? {
            Ok(e) => evidence |= e,
            Err(why) => return Ok(Err(format!("segment {name}: {why}"))),
        }
    }
    Ok(Ok(evidence))
}

/// `Ok(true)` for a segment that holds promtui's records, `Ok(false)` for an empty one.
fn legacy_segment(path: &Path) -> Result<Result<bool, String>, LayoutError> {
    let mut f = File::open(path).map_err(io_err("opening", path))?;
    let mut head = [0u8; record::FRAME_HEADER];
    let n = read_up_to(&mut f, &mut head).map_err(io_err("reading", path))?;
    if n == 0 {
        return Ok(Ok(false));
    }
    if n == head.len() && head == SEGMENT_HEADER {
        return Ok(Ok(true));
    }
    if n < head.len() {
        return Ok(Err(format!("{n} bytes, too short for a record")));
    }
    let (len, crc) = record::frame_len(&head);
    if len == 0 || len > 64 << 20 {
        return Ok(Err("first record is not in promtui's format".into()));
    }
    let mut payload = vec![0u8; len];
    let got = read_up_to(&mut f, &mut payload).map_err(io_err("reading", path))?;
    if got < len || crc32c::crc32c(&payload) != crc {
        return Ok(Err("first record is not in promtui's format".into()));
    }
    Ok(Ok(true))
}

/// Reads until `buf` is full or the file ends.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Prometheus' chunk segment magic (tsdb/chunks: `MagicChunks`).
const PROMETHEUS_CHUNKS_MAGIC: u32 = 0x85BD_40DD;

/// Format 1 block check: every chunk segment starts with promtui's magic.
fn legacy_block(dir: &Path) -> Result<Result<(), (String, bool)>, LayoutError> {
    let chunks = dir.join(block::CHUNKS_DIRNAME);
    let Ok(rd) = fs::read_dir(&chunks) else {
        // A block that lost its chunks is a half-deleted one; format 1 removed those.
        return Ok(if dir.join(block::META_FILENAME).exists() {
            Err(("a block directory without chunks/".into(), false))
        } else {
            Ok(())
        });
    };
    for e in rd {
        let e = e.map_err(io_err("listing", &chunks))?;
        let p = e.path();
        let mut f = File::open(&p).map_err(io_err("opening", &p))?;
        let mut m = [0u8; 4];
        let n = read_up_to(&mut f, &mut m).map_err(io_err("reading", &p))?;
        let magic = u32::from_be_bytes(m);
        if n == 4 && magic == block::chunkfile::MAGIC_CHUNKS {
            continue;
        }
        return Ok(Err(if n == 4 && magic == PROMETHEUS_CHUNKS_MAGIC {
            ("a Prometheus block".into(), true)
        } else {
            (
                "a block directory whose chunks promtui did not write".into(),
                false,
            )
        }));
    }
    Ok(Ok(()))
}

/// The marker's contents.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    format: String,
    version: u32,
}

fn read_marker(path: &Path) -> Result<u32, LayoutError> {
    let bytes = fs::read(path).map_err(io_err("reading", path))?;
    let m: Marker = serde_json::from_slice(&bytes).map_err(|e| LayoutError::BadMarker {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if m.format != FORMAT_NAME {
        return Err(LayoutError::BadMarker {
            path: path.to_path_buf(),
            reason: format!("format is {:?}, not {FORMAT_NAME:?}", m.format),
        });
    }
    if m.version > FORMAT_VERSION {
        return Err(LayoutError::Newer {
            path: path.to_path_buf(),
            found: m.version,
        });
    }
    Ok(m.version)
}

fn write_marker(layout: &Layout) -> Result<(), LayoutError> {
    let path = layout.marker();
    let tmp = layout.root().join(format!("{MARKER}.tmp"));
    let body = serde_json::to_vec_pretty(&Marker {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
    })
    .map_err(|e| LayoutError::BadMarker {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(&body)
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(io_err("writing", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
    sync(layout.root())
}

fn sync(dir: &Path) -> Result<(), LayoutError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", dir))
}

/// Makes `dir` a current-format promtui directory for writing: creates a fresh one (marker
/// first), accepts a current one, moves a format-1 one over, and refuses anything else
/// without changing it. The caller takes the lock afterwards.
pub fn prepare(dir: &Path) -> Result<Layout, LayoutError> {
    let layout = Layout::new(dir);
    match inspect(dir)? {
        Ownership::Current => {}
        Ownership::Fresh => {
            fs::create_dir_all(dir).map_err(io_err("creating data directory", dir))?;
            write_marker(&layout)?;
        }
        Ownership::Legacy => upgrade_legacy(&layout)?,
    }
    for d in [layout.wal(), layout.blocks()] {
        fs::create_dir_all(&d).map_err(io_err("creating", &d))?;
    }
    Ok(layout)
}

/// Checks `dir` for a read-only open: it must exist and be a current promtui directory.
pub fn check_read_only(dir: &Path) -> Result<Layout, LayoutError> {
    match inspect(dir)? {
        Ownership::Current => Ok(Layout::new(dir)),
        Ownership::Legacy => Err(LayoutError::NeedsUpgrade {
            dir: dir.to_path_buf(),
        }),
        Ownership::Fresh => Err(LayoutError::Missing(dir.to_path_buf())),
    }
}

/// Moves a format-1 directory to this layout. Each step is a rename or an atomic file
/// replacement, so a crash leaves a directory [`inspect`] still calls Legacy, and this
/// runs again from where it stopped.
fn upgrade_legacy(layout: &Layout) -> Result<(), LayoutError> {
    let dir = layout.root();
    // A format-1 promtui still running holds `lock`; take it for the move.
    let old_lock_path = dir.join("lock");
    let old_lock = if old_lock_path.exists() {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&old_lock_path)
            .map_err(io_err("opening", &old_lock_path))?;
        if f.try_lock().is_err() {
            return Err(LayoutError::Io {
                op: "locking (an older promtui is running on this directory; stop it first)",
                path: old_lock_path,
                source: io::Error::from(io::ErrorKind::WouldBlock),
            });
        }
        Some(f)
    } else {
        None
    };
    tracing::warn!(dir = %dir.display(), "moving a data directory of an earlier promtui to format {FORMAT_VERSION}");
    let old_wal = dir.join("wal");
    if old_wal.is_dir() {
        add_segment_headers(&old_wal)?;
        fs::rename(&old_wal, layout.wal()).map_err(io_err("renaming", &old_wal))?;
    }
    let blocks = layout.blocks();
    fs::create_dir_all(&blocks).map_err(io_err("creating", &blocks))?;
    let rd = fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for e in rd {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let base = name.strip_suffix(block::TMP_SUFFIX).unwrap_or(&name);
        if e.path().is_dir() && base.parse::<Ulid>().is_ok() {
            let to = blocks.join(&name);
            fs::rename(e.path(), &to).map_err(io_err("moving block", &e.path()))?;
        }
    }
    sync(&blocks)?;
    sync(dir)?;
    write_marker(layout)?;
    if let Some(f) = old_lock {
        let _ = fs::remove_file(&old_lock_path);
        drop(f);
    }
    tracing::info!(dir = %dir.display(), "data directory moved to format {FORMAT_VERSION}");
    Ok(())
}

/// Rewrites every header-less segment under `wal_dir` (checkpoints too) with the segment
/// header in front: a copy beside it, fsynced, renamed over the original.
fn add_segment_headers(wal_dir: &Path) -> Result<(), LayoutError> {
    let rd = fs::read_dir(wal_dir).map_err(io_err("listing", wal_dir))?;
    for e in rd {
        let e = e.map_err(io_err("listing", wal_dir))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name.ends_with(".tmp") {
                // An unfinished checkpoint: the WAL code deletes it before writing another.
                continue;
            }
            add_segment_headers(&p)?;
            continue;
        }
        if name.ends_with(".tmp") {
            let _ = fs::remove_file(&p);
            continue;
        }
        let data = fs::read(&p).map_err(io_err("reading", &p))?;
        if data.starts_with(&SEGMENT_HEADER) {
            continue;
        }
        let tmp = wal_dir.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(&SEGMENT_HEADER)
            .and_then(|_| f.write_all(&data))
            .and_then(|_| f.sync_all())
            .map_err(io_err("writing", &tmp))?;
        fs::rename(&tmp, &p).map_err(io_err("renaming", &tmp))?;
    }
    wal::sync_dir(wal_dir).map_err(|e| LayoutError::Io {
        op: "syncing",
        path: wal_dir.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_directory_gets_the_marker_and_subdirectories() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("data");
        let l = prepare(&dir).unwrap();
        assert!(l.marker().is_file());
        assert!(l.wal().is_dir() && l.blocks().is_dir());
        assert_eq!(inspect(&dir).unwrap(), Ownership::Current);
        assert_eq!(read_marker(&l.marker()).unwrap(), FORMAT_VERSION);
    }

    #[test]
    fn unknown_files_are_refused_and_left_alone() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("notes.txt"), "mine").unwrap();
        let e = prepare(d.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("notes.txt: a file promtui did not create"),
            "{msg}"
        );
        assert!(!d.path().join(MARKER).exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn prometheus_names_are_called_prometheus() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("chunks_head")).unwrap();
        fs::create_dir(d.path().join("wal")).unwrap();
        // A Prometheus WAL page starts with a record type byte and a 2-byte length.
        fs::write(
            d.path().join("wal/00000000"),
            [1u8, 0, 20, 1, 2, 3, 4, 9, 9, 9],
        )
        .unwrap();
        fs::write(d.path().join("queries.active"), b"[]").unwrap();
        let msg = prepare(d.path()).unwrap_err().to_string();
        assert!(
            msg.contains("looks like a Prometheus data directory"),
            "{msg}"
        );
        assert!(msg.contains("chunks_head/"), "{msg}");
        assert!(msg.contains("wal/: a WAL promtui did not write"), "{msg}");
        assert!(msg.contains("Nothing in it was changed"), "{msg}");
        assert_eq!(
            fs::read(d.path().join("wal/00000000")).unwrap().len(),
            10,
            "untouched"
        );
    }

    #[test]
    fn foreign_entries_beside_a_marker_are_refused() {
        let d = tempfile::tempdir().unwrap();
        prepare(d.path()).unwrap();
        // What a Prometheus started on a promtui directory creates.
        fs::create_dir(d.path().join("wal")).unwrap();
        fs::write(d.path().join("lock"), b"").unwrap();
        let msg = prepare(d.path()).unwrap_err().to_string();
        assert!(msg.contains("wal/") && msg.contains("lock"), "{msg}");
    }

    #[test]
    fn newer_or_garbled_markers_are_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join(MARKER),
            br#"{"format":"promtui-tsdb","version":99}"#,
        )
        .unwrap();
        assert!(matches!(
            prepare(d.path()),
            Err(LayoutError::Newer { found: 99, .. })
        ));
        fs::write(d.path().join(MARKER), b"nope").unwrap();
        assert!(matches!(
            prepare(d.path()),
            Err(LayoutError::BadMarker { .. })
        ));
    }

    #[test]
    fn lost_found_and_lock_alone_count_as_fresh() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("lost+found")).unwrap();
        fs::write(d.path().join("lock"), b"").unwrap();
        assert_eq!(inspect(d.path()).unwrap(), Ownership::Fresh);
    }

    #[test]
    fn read_only_check_needs_a_current_directory() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_read_only(&d.path().join("none")),
            Err(LayoutError::Missing(_))
        ));
        prepare(d.path()).unwrap();
        check_read_only(d.path()).unwrap();
    }
}
