//! Parses every exposition sample in the shared test data (`testdata/exposition`), checks
//! family and sample counts, and round-trips each through the writers.
//!
//! The shared directory is `$PROMTUI_SHARED`, else `../shared` or `../../shared` relative
//! to the crate (CI clones the repository next to a copy of `shared/`).

use std::path::PathBuf;

use promtui::exposition::{
    parse, parse_families, parse_samples, write_openmetrics, write_text, Entry, Format, MetricType,
};

fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROMTUI_SHARED") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in [manifest.join("../shared"), manifest.join("../../shared")] {
        if candidate.join("testdata").is_dir() {
            return candidate;
        }
    }
    panic!(
        "shared test data not found: set PROMTUI_SHARED or put shared/ next to {}",
        manifest.display()
    );
}

fn exposition_files() -> Vec<(PathBuf, Format)> {
    let dir = shared_dir().join("testdata/exposition");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let format = if name.contains(".om.") {
                Format::OpenMetrics
            } else {
                Format::PromText
            };
            (p, format)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!files.is_empty(), "no files in {}", dir.display());
    files
}

/// Family and sample counts for the files we know (the file names carry the family count).
fn expected_counts(file_name: &str) -> Option<(usize, usize)> {
    match file_name {
        "1histogram.om.txt" => Some((1, 42)),
        "alltypes.237mfs.prom.txt" => Some((237, 1857)),
        "alltypes.5mfs.om.txt" => Some((5, 53)),
        _ => None,
    }
}

#[test]
fn every_file_parses_with_expected_counts() {
    let mut checked = 0;
    for (path, format) in exposition_files() {
        let body = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let families = parse_families(&body, format).unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples: usize = families.iter().map(|f| f.samples.len()).sum();
        // The streaming parser sees the same number of sample lines.
        let streamed = parse(&body, format)
            .filter(|e| matches!(e, Ok(Entry::Sample(_))))
            .count();
        assert_eq!(streamed, samples, "{name}");
        assert_eq!(
            parse_samples(&body, format).unwrap().len(),
            samples,
            "{name}"
        );
        // Every body ends with exactly one Eof entry.
        assert!(
            matches!(parse(&body, format).last(), Some(Ok(Entry::Eof))),
            "{name}"
        );
        if let Some((want_families, want_samples)) = expected_counts(&name) {
            assert_eq!(
                (families.len(), samples),
                (want_families, want_samples),
                "{name}"
            );
            checked += 1;
        }
        // No family is left untyped: every file declares all its types.
        assert!(
            families
                .iter()
                .all(|f| f.metric_type != MetricType::Unknown),
            "{name}: {:?}",
            families
                .iter()
                .filter(|f| f.metric_type == MetricType::Unknown)
                .map(|f| &f.name)
                .collect::<Vec<_>>()
        );
    }
    assert!(checked >= 3, "known files missing from testdata/exposition");
}

#[test]
fn known_values_from_files() {
    let dir = shared_dir().join("testdata/exposition");
    let om = std::fs::read(dir.join("alltypes.5mfs.om.txt")).unwrap();
    let families = parse_families(&om, Format::OpenMetrics).unwrap();
    let hist = families
        .iter()
        .find(|f| f.name == "rpc_durations_histogram_seconds")
        .unwrap();
    assert_eq!(hist.metric_type, MetricType::Histogram);
    let with_exemplar = hist
        .samples
        .iter()
        .find(|s| s.labels.get("le") == Some("-0.0002899999999999998"))
        .unwrap();
    let ex = with_exemplar.exemplar.as_ref().unwrap();
    assert_eq!(ex.labels.get("dummyID"), Some("17783"));
    assert_eq!(ex.value, -0.0003825067330956884);
    assert_eq!(ex.timestamp, Some(1_726_839_814_223));
    let created = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| {
            s.labels
                .metric_name()
                .is_some_and(|n| n.ends_with("_created"))
        })
        .count();
    assert_eq!(
        created, 9,
        "OpenMetrics _created samples are ordinary samples"
    );

    let text = std::fs::read(dir.join("alltypes.237mfs.prom.txt")).unwrap();
    let families = parse_families(&text, Format::PromText).unwrap();
    let gc = families
        .iter()
        .find(|f| f.name == "go_gc_duration_seconds")
        .unwrap();
    assert_eq!(gc.metric_type, MetricType::Summary);
    assert_eq!(gc.samples.len(), 7);
    assert_eq!(gc.samples[6].value, 190932.0);
}

#[test]
fn round_trip_through_writers() {
    for (path, format) in exposition_files() {
        let body = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let families = parse_families(&body, format).unwrap();
        let written = match format {
            Format::PromText => write_text(&families),
            Format::OpenMetrics => write_openmetrics(&families),
        };
        let again = parse_families(written.as_bytes(), format)
            .unwrap_or_else(|e| panic!("{name} re-parse: {e}\n{written}"));
        assert_eq!(again, families, "{name}");
        // The writer is a fixed point after one pass.
        let twice = match format {
            Format::PromText => write_text(&again),
            Format::OpenMetrics => write_openmetrics(&again),
        };
        assert_eq!(twice, written, "{name}");
        if format == Format::PromText {
            // Text families fit OpenMetrics unchanged.
            let om = write_openmetrics(&families);
            let from_om = parse_families(om.as_bytes(), Format::OpenMetrics)
                .unwrap_or_else(|e| panic!("{name} as OpenMetrics: {e}"));
            assert_eq!(from_om, families, "{name} via OpenMetrics");
        }
    }
}
