#![no_main]
//! See `ledger_sync_plugin::fuzzing::frame_decoder`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ledger_sync_plugin::fuzzing::frame_decoder(data);
});
