//! Property tests for the exposition parsers and writers: no input makes a parser panic,
//! and generated metric families survive write → parse unchanged in both formats.

use proptest::prelude::*;

use promtui::exposition::{
    parse, parse_families, write_openmetrics, write_text, Entry, Exemplar, Format, MetricFamily,
    MetricSample, MetricType,
};
use promtui::model::{Label, Labels};

/// Drains a parser over `body`; returns the number of entries, checking the contract
/// that iteration stops after `Eof` or the first error.
fn drain(body: &[u8], format: Format) -> usize {
    let mut n = 0;
    let mut p = parse(body, format);
    while let Some(e) = p.next() {
        n += 1;
        match e {
            Ok(Entry::Eof) | Err(_) => {
                assert!(p.next().is_none(), "entries after the end");
                break;
            }
            Ok(Entry::Sample(s)) => {
                // Decoding the labels must not panic either.
                let _ = s.labels.iter().count();
                if let Some(x) = s.exemplar {
                    let _ = x.labels.iter().count();
                }
            }
            Ok(_) => {}
        }
        assert!(n <= body.len() + 2, "more entries than bytes");
    }
    n
}

/// Bytes that look like expositions: the grammar's punctuation and keywords mixed in.
fn exposition_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"# HELP ".to_vec()),
        Just(b"# TYPE ".to_vec()),
        Just(b"# UNIT ".to_vec()),
        Just(b"# EOF".to_vec()),
        Just(b" # {".to_vec()),
        Just(b"counter".to_vec()),
        Just(b"_total".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"+Inf".to_vec()),
        Just(b"1.5e3".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(
            prop_oneof![
                Just(b'{'),
                Just(b'}'),
                Just(b'='),
                Just(b','),
                Just(b'"'),
                Just(b' '),
                Just(b'\t'),
                Just(b'\n'),
                Just(b'#'),
                Just(0u8),
                Just(0xffu8),
                Just(0xc3u8),
                b'a'..=b'f',
                b'0'..=b'9',
            ],
            0..6
        ),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        drain(&body, Format::PromText);
        drain(&body, Format::OpenMetrics);
    }

    #[test]
    fn exposition_like_bytes_never_panic(body in exposition_like()) {
        drain(&body, Format::PromText);
        drain(&body, Format::OpenMetrics);
        // Owned helpers agree with the stream on success.
        for format in [Format::PromText, Format::OpenMetrics] {
            if let Ok(families) = parse_families(&body, format) {
                let streamed = parse(&body, format)
                    .filter(|e| matches!(e, Ok(Entry::Sample(_))))
                    .count();
                prop_assert_eq!(families.iter().map(|f| f.samples.len()).sum::<usize>(), streamed);
            }
        }
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        (-1000i32..1000).prop_map(f64::from),
    ]
}

fn label_set(max: usize) -> impl Strategy<Value = Labels> {
    proptest::collection::vec(
        ("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{0,8}|[\"\\\\\n]{1,3}"),
        0..max,
    )
    .prop_map(|pairs| {
        Labels::new(
            pairs
                .into_iter()
                .filter(|(n, _)| n != "__name__")
                .map(|(n, v)| Label::new(n, v))
                .collect(),
        )
    })
}

fn metric_type(openmetrics: bool) -> BoxedStrategy<MetricType> {
    let text = prop_oneof![
        Just(MetricType::Counter),
        Just(MetricType::Gauge),
        Just(MetricType::Histogram),
        Just(MetricType::Summary),
        Just(MetricType::Unknown),
    ];
    if openmetrics {
        prop_oneof![
            text,
            Just(MetricType::GaugeHistogram),
            Just(MetricType::Info),
            Just(MetricType::Stateset),
        ]
        .boxed()
    } else {
        text.boxed()
    }
}

/// Families the format can represent exactly (see the writer's module docs).
fn families(openmetrics: bool) -> impl Strategy<Value = Vec<MetricFamily>> {
    let ts = if openmetrics {
        (-1_000_000_000_000i64..10_000_000_000_000).boxed()
    } else {
        (0i64..10_000_000_000_000).boxed()
    };
    let family = (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
        metric_type(openmetrics),
        // HELP text; the text format cannot carry help made only of blanks.
        proptest::option::of("\\PC{0,20}".prop_filter("blank help", move |h| {
            openmetrics || h.is_empty() || !h.chars().all(|c| c == ' ' || c == '\t')
        })),
        proptest::option::of("[a-z]{1,5}"),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                label_set(4),
                value(),
                proptest::option::of(ts.clone()),
                proptest::option::of((label_set(3), value(), proptest::option::of(ts))),
            ),
            0..6,
        ),
    );
    proptest::collection::vec(family, 0..5).prop_map(move |fams| {
        fams.into_iter()
            .enumerate()
            .map(|(i, (base, metric_type, help, unit, samples))| {
                // Unique names that cannot be read as another family's suffixed sample.
                let mut name = format!("{base}_f{i}");
                let unit = if openmetrics {
                    unit.map(|u| {
                        name = format!("{name}_{u}");
                        u
                    })
                } else {
                    None
                };
                let suffixes = metric_type.sample_suffixes();
                let samples = samples
                    .into_iter()
                    .map(|(idx, labels, value, timestamp, exemplar)| {
                        let k = idx.index(suffixes.len() + 1);
                        let sample_name = match k {
                            0 => name.clone(),
                            k => format!("{name}{}", suffixes[k - 1]),
                        };
                        let mut b = labels.builder();
                        b.set("__name__", &sample_name);
                        let exemplar = exemplar
                            .filter(|_| {
                                openmetrics
                                    && (sample_name.ends_with("_total")
                                        || sample_name.ends_with("_bucket"))
                            })
                            .map(|(labels, value, timestamp)| Exemplar {
                                labels,
                                value,
                                timestamp,
                            });
                        MetricSample {
                            labels: b.labels(),
                            value,
                            timestamp,
                            exemplar,
                        }
                    })
                    .collect();
                MetricFamily {
                    name,
                    metric_type,
                    help,
                    unit,
                    samples,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn text_round_trip(fams in families(false)) {
        let written = write_text(&fams);
        let parsed = parse_families(written.as_bytes(), Format::PromText)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
        prop_assert_eq!(parsed, fams, "{}", written);
    }

    #[test]
    fn openmetrics_round_trip(fams in families(true)) {
        let written = write_openmetrics(&fams);
        let parsed = parse_families(written.as_bytes(), Format::OpenMetrics)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
        prop_assert_eq!(parsed, fams, "{}", written);
    }
}
