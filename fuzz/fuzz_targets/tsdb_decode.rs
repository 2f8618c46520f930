//! Fuzzes every decoder of the TSDB's on-disk formats with the same bytes (chunks of both
//! encodings, WAL record bodies, the block index; see `promtui::tsdb::fuzzing`): a
//! damaged or hostile file must give an error, never a panic, and lazy and bulk chunk
//! decoding must agree wherever both succeed.
//!
//! Run: `cargo +nightly fuzz run tsdb_decode -- -max_total_time=300` in `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promtui::tsdb::fuzzing::decode_all(data);
});
