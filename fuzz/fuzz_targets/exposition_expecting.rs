//! Fuzzes the text parser's cached-series path (`next_expecting`, which the scrape cache
//! drives with the series text it expects next): given series texts the parser returned for
//! an earlier body, it must return exactly the entries and errors plain iteration returns.
//!
//! Input: an earlier body, a NUL byte, then the body (no NUL: the body alone, guessed with
//! its own series texts). Guesses tried: the body's own series texts in order (a scrape
//! identical to the last), shifted by one (a series added or removed), and in rotation the
//! series texts of the earlier body as the text parser and as the OpenMetrics parser
//! returned them (a target whose exposition changed, or switched format).
//!
//! Run: `cargo +nightly fuzz run exposition_expecting -- -max_total_time=300` in `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promtui::exposition::{parse, Entry, Format};

fuzz_target!(|data: &[u8]| {
    let (guesses, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let mut earlier: Vec<Vec<u8>> = Vec::new();
    for format in [Format::PromText, Format::OpenMetrics] {
        for e in parse(guesses, format) {
            if let Ok(Entry::Sample(s)) = e {
                earlier.push(s.series_text.as_bytes().to_vec());
            }
        }
    }
    let mut texts: Vec<&[u8]> = Vec::new();
    let plain: Vec<String> = parse(body, Format::PromText)
        .map(|e| {
            if let Ok(Entry::Sample(s)) = &e {
                texts.push(s.series_text.as_bytes());
            }
            format!("{e:?}")
        })
        .collect();
    for mode in 0..4 {
        let mut p = parse(body, Format::PromText);
        let mut got = Vec::new();
        let mut samples = 0usize;
        while let Some(e) = p.next_expecting(match mode {
            0 => texts.get(samples).copied(),
            1 => texts.get(samples + 1).copied(),
            2 => earlier.get(got.len() % earlier.len().max(1)).map(|t| t.as_slice()),
            _ => earlier.get(samples).map(|t| t.as_slice()),
        }) {
            if matches!(e, Ok(Entry::Sample(_))) {
                samples += 1;
            }
            got.push(format!("{e:?}"));
        }
        assert_eq!(got, plain, "guess mode {mode}");
    }
});
