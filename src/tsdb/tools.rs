//! The work behind `promtui tsdb import|stats|dump`: backfilling an OpenMetrics file into
//! blocks, cardinality over the whole database, and a promtool-compatible dump. Printing
//! of reports is the CLI's; these return data or write to a given writer.

use std::io::Write;
use std::path::Path;

use crate::exposition::{self, Entry, Format};
use crate::model::labels::write_escaped_value;
use crate::model::value::format_go_float;
use crate::model::{Label, Labels, Matcher, METRIC_NAME};
use crate::storage::{Querier, QueryError};
use crate::tsdb::import::{import_samples, ImportError, ImportProgress, ImportReport};

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
}

/// Backfills an OpenMetrics file into blocks under `data_dir`, aligned to
/// `block_duration_ms`. Samples must carry timestamps. A parse error ends the input: the
/// samples before it are imported and the error (with line and column) is reported in
/// [`ImportReport::errors`].
pub fn import_openmetrics_file(
    path: &Path,
    data_dir: &Path,
    block_duration_ms: i64,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ToolError> {
    let body = std::fs::read(path).map_err(|source| ToolError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file = path.display().to_string();
    let samples = exposition::parse(&body, Format::OpenMetrics).filter_map(move |e| match e {
        Ok(Entry::Sample(s)) => {
            let Some(t) = s.timestamp else {
                return Some(Err(format!(
                    "{file}: sample {} has no timestamp; backfilling needs one on every sample",
                    s.series_text
                )));
            };
            let mut labels: Vec<Label> = Vec::with_capacity(8);
            labels.push(Label::new(METRIC_NAME, s.name.as_ref()));
            for (n, v) in s.labels.iter() {
                labels.push(Label::new(n.as_ref(), v.as_ref()));
            }
            Some(Ok((Labels::new(labels), t, s.value)))
        }
        Ok(_) => None,
        Err(e) => Some(Err(format!("{file}: {e}"))),
    });
    Ok(import_samples(
        data_dir,
        block_duration_ms,
        samples,
        progress,
    )?)
}

/// Writes labels the way promtool's dump prints them: `{__name__="up", job="x"}`.
fn write_promtool_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        let _ = write_escaped_value(out, &l.value);
    }
    out.push('}');
}

/// Writes every sample of the series matching any of `selectors` in `[mint, maxt]` as
/// `labels value timestamp_ms` lines (promtool's `tsdb dump` format), series sorted by
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
        write_promtool_labels(&mut prefix, &s.labels);
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
