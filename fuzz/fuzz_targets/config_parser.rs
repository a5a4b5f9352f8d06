#![no_main]
//! See `ledger_sync_plugin::fuzzing::config_parser`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ledger_sync_plugin::fuzzing::config_parser(data);
});
