//! Fragmentation, reserved bits and opcodes as Autobahn|Testsuite varies them
//! (its categories 3, 4 and 5) beyond the core cases in `mod.rs`.

use super::Builder;

pub(super) fn push(b: &mut Builder) {
    let _ = b;
}
