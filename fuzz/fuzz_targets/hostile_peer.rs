#![no_main]
//! See `ledger_sync_plugin::fuzzing::hostile_peer`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ledger_sync_plugin::fuzzing::hostile_peer(data);
});
