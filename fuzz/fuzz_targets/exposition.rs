//! Fuzzes both exposition parsers with the same bytes: no input may panic, the streaming
//! and owned APIs must agree, and whatever parses must, once written back by the
//! writer of the same format, parse again.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run exposition -- -max_total_time=300` in `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promtui::exposition::{parse, parse_families, write_openmetrics, write_text, Entry, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PromText, Format::OpenMetrics] {
        let mut samples = 0usize;
        let mut ok = true;
        for entry in parse(data, format) {
            match entry {
                Ok(Entry::Sample(s)) => {
                    samples += 1;
                    let _ = s.labels.iter().count();
                    if let Some(e) = s.exemplar {
                        let _ = e.labels.iter().count();
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = e.to_string();
                    ok = false;
                }
            }
        }
        match parse_families(data, format) {
            Ok(families) => {
                assert!(ok, "owned parse succeeded where the stream failed");
                assert_eq!(
                    families.iter().map(|f| f.samples.len()).sum::<usize>(),
                    samples
                );
                let written = match format {
                    Format::PromText => write_text(&families),
                    Format::OpenMetrics => write_openmetrics(&families),
                };
                if let Err(e) = parse_families(written.as_bytes(), format) {
                    panic!("writer output does not parse: {e}\n{written}");
                }
            }
            Err(_) => assert!(!ok, "owned parse failed where the stream succeeded"),
        }
    }
});
