//! Fuzzes every parser of operator-written or operator-sent text with the same input
//! (alertmanager.yml, the web configuration, prometheus.yml, rule files, Go templates,
//! Alertmanager matchers, time-interval pieces, pushed exposition, `:at` moments; see
//! `promtui::fuzzing`): any text must give a value or an error, never a panic.
//!
//! Run: `cargo +nightly fuzz run operator_text -- -max_total_time=300` in `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        promtui::fuzzing::parse_all(text);
    }
});
