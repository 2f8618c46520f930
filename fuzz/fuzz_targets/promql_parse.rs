//! Any input either parses or returns an error, never panics; whatever parses prints back
//! to the same tree (one line and prettified).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| promtui::promql::fuzz_parse(data));
