#![no_main]
//! Thin wrapper: the check lives in `wschaos_codec::fuzz` so `cargo test` replays
//! saved inputs through exactly the same code.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = wschaos_codec::fuzz::run("differential_fastwebsockets", data) {
        panic!("differential_fastwebsockets: {finding}");
    }
});
