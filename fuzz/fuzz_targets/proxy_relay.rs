#![no_main]
//! Thin wrapper: the check lives in `wschaos::proxy::fuzz` so `cargo test`
//! replays saved inputs through exactly the same code.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = wschaos::proxy::fuzz::check_relay(data) {
        panic!("proxy_relay: {finding}");
    }
});
