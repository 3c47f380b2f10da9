//! Autobahn|Testsuite traceability: its 517 case ids (the run list of 25.10.1,
//! `data/autobahn-cases.tsv`), which of our cases cover each, and the coverage
//! per category that `wschaos cases --autobahn` prints. A case of ours covers an
//! Autobahn id when it sends an equivalent sequence (the same frame types, flags,
//! payload class and write mode) and judges the same reaction. Cases name the ids
//! they cover where they are written (`Builder::covers` in the codec); the
//! catalogue's earlier cases are named in the table below.

use std::collections::BTreeSet;

use crate::catalogue::Case;

const CASES_TSV: &str = include_str!("../data/autobahn-cases.tsv");

/// One Autobahn case: its id (`6.4.3`) and what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutobahnCase {
    pub id: &'static str,
    pub title: &'static str,
}

/// Every Autobahn case id, in Autobahn's order.
pub fn all() -> Vec<AutobahnCase> {
    CASES_TSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (id, title) = l.split_once('\t')?;
            Some(AutobahnCase { id, title })
        })
        .collect()
}

/// Autobahn's category of an id: its first number.
pub fn category(id: &str) -> u32 {
    id.split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Autobahn's name for a category.
pub fn category_name(n: u32) -> &'static str {
    match n {
        1 => "Framing",
        2 => "Pings/Pongs",
        3 => "Reserved bits",
        4 => "Opcodes",
        5 => "Fragmentation",
        6 => "UTF-8 handling",
        7 => "Close handling",
        9 => "Limits/performance",
        10 => "Auto-fragmentation",
        12 => "WebSocket compression (different payloads)",
        13 => "WebSocket compression (different parameters)",
        _ => "other",
    }
}

/// The Autobahn ids that the catalogue's cases written before cases named their
/// own ids cover (from the case-by-case comparison of both suites).
const EARLIER: &[(&str, &[&str])] = &[
    ("ok.text-0", &["1.1.1", "6.1.1"]),
    ("ok.text-125", &["1.1.2"]),
    ("ok.text-126", &["1.1.3"]),
    ("ok.text-127", &["1.1.4"]),
    ("ok.text-128", &["1.1.5"]),
    ("ok.text-65535", &["1.1.6"]),
    ("ok.text-65536", &["1.1.7", "9.1.1"]),
    ("ok.binary-0", &["1.2.1"]),
    ("ok.binary-125", &["1.2.2"]),
    ("ok.binary-126", &["1.2.3"]),
    ("ok.binary-127", &["1.2.4"]),
    ("ok.binary-128", &["1.2.5"]),
    ("ok.binary-65535", &["1.2.6"]),
    ("ok.binary-65536", &["1.2.7", "9.2.1"]),
    ("ok.ping", &["2.2"]),
    ("control.ping-126", &["2.5"]),
    ("control.ping-126+chop1", &["2.5"]),
    ("after-valid.control.ping-126", &["2.5"]),
    ("rsv.rsv3", &["3.1", "3.5"]),
    ("rsv.rsv3+chop1", &["3.1", "3.5"]),
    ("after-valid.rsv.rsv3", &["3.1", "3.3"]),
    ("after-valid.rsv.rsv2", &["3.2", "3.3"]),
    ("rsv.rsv1", &["3.5", "3.6"]),
    ("rsv.rsv1+chop1", &["3.5", "3.6"]),
    ("rsv.rsv2", &["3.6"]),
    ("rsv.rsv2+chop1", &["3.6"]),
    ("opcode.reserved-3", &["4.1.1"]),
    ("opcode.reserved-3+chop1", &["4.1.1"]),
    ("after-valid.opcode.reserved-3", &["4.1.1"]),
    ("opcode.reserved-4", &["4.1.2"]),
    ("opcode.reserved-4+chop1", &["4.1.2"]),
    ("after-valid.opcode.reserved-4", &["4.1.2"]),
    ("after-valid.opcode.reserved-5", &["4.1.3"]),
    ("after-valid.opcode.reserved-6", &["4.1.4"]),
    ("opcode.reserved-b", &["4.2.1"]),
    ("opcode.reserved-b+chop1", &["4.2.1"]),
    ("after-valid.opcode.reserved-b", &["4.2.1"]),
    ("opcode.reserved-c", &["4.2.2"]),
    ("opcode.reserved-c+chop1", &["4.2.2"]),
    ("after-valid.opcode.reserved-c", &["4.2.2"]),
    ("after-valid.opcode.reserved-d", &["4.2.3"]),
    ("after-valid.opcode.reserved-e", &["4.2.4"]),
    ("control.fragmented-ping", &["5.1"]),
    ("control.fragmented-ping+chop1", &["5.1"]),
    ("after-valid.control.fragmented-ping", &["5.1"]),
    ("ok.fragmented", &["5.3", "5.4", "6.2.2"]),
    ("fragment.orphan-continuation", &["5.9", "5.10", "5.17"]),
    (
        "fragment.orphan-continuation+chop1",
        &["5.9", "5.10", "5.11", "5.17"],
    ),
    (
        "after-valid.fragment.orphan-continuation",
        &["5.9", "5.10", "5.17"],
    ),
    ("fragment.text-mid-message", &["5.18"]),
    ("fragment.text-mid-message+chop1", &["5.18"]),
    ("after-valid.fragment.text-mid-message", &["5.18"]),
    ("ok.utf8-split-code-point", &["6.2.2", "6.2.3", "6.2.4"]),
    ("utf8.invalid-text-surrogate", &["6.3.1", "6.20.1"]),
    ("utf8.invalid-text-surrogate+chop1", &["6.3.1", "6.20.1"]),
    (
        "after-valid.utf8.invalid-text-surrogate",
        &["6.3.1", "6.20.1"],
    ),
    ("ok.text", &["6.5.1"]),
    ("ok.utf8-nul", &["6.7.1"]),
    ("utf8.invalid-text-above-max", &["6.11.5"]),
    ("utf8.invalid-text-above-max+chop1", &["6.11.5"]),
    ("after-valid.utf8.invalid-text-above-max", &["6.11.5"]),
    ("utf8.invalid-text-ff", &["6.16.2"]),
    ("utf8.invalid-text-ff+chop1", &["6.16.2"]),
    ("after-valid.utf8.invalid-text-ff", &["6.16.2"]),
    ("utf8.invalid-text-overlong", &["6.17.1"]),
    ("utf8.invalid-text-overlong+chop1", &["6.17.1"]),
    ("after-valid.utf8.invalid-text-overlong", &["6.17.1"]),
    ("after-close.ping", &["7.1.3"]),
    ("after-close.text", &["7.1.4"]),
    ("close.one-byte", &["7.3.2"]),
    ("close.one-byte+chop1", &["7.3.2"]),
    ("after-valid.close.one-byte", &["7.3.2"]),
    ("ok.close-3000", &["7.3.3", "7.7.10"]),
    ("ok.close-4999", &["7.3.3", "7.7.13"]),
    ("ok.close-1000", &["7.3.3", "7.3.4", "7.7.1"]),
    ("control.close-126", &["7.3.6"]),
    ("control.close-126+chop1", &["7.3.6"]),
    ("after-valid.control.close-126", &["7.3.6"]),
    ("close.reason-invalid-utf8", &["7.5.1"]),
    ("close.reason-invalid-utf8+chop1", &["7.5.1"]),
    ("after-valid.close.reason-invalid-utf8", &["7.5.1"]),
    ("close.code-0", &["7.9.1"]),
    ("close.code-0+chop1", &["7.9.1"]),
    ("after-valid.close.code-0", &["7.9.1"]),
    ("close.code-999", &["7.9.2"]),
    ("close.code-999+chop1", &["7.9.2"]),
    ("after-valid.close.code-999", &["7.9.2"]),
    ("close.code-1004", &["7.9.3"]),
    ("close.code-1004+chop1", &["7.9.3"]),
    ("after-valid.close.code-1004", &["7.9.3"]),
    ("close.code-1005", &["7.9.4"]),
    ("close.code-1005+chop1", &["7.9.4"]),
    ("after-valid.close.code-1005", &["7.9.4"]),
    ("close.code-1006", &["7.9.5"]),
    ("close.code-1006+chop1", &["7.9.5"]),
    ("after-valid.close.code-1006", &["7.9.5"]),
    ("close.code-1016", &["7.9.6"]),
    ("close.code-1016+chop1", &["7.9.6"]),
    ("after-valid.close.code-1016", &["7.9.6"]),
    ("close.code-1100", &["7.9.7"]),
    ("close.code-1100+chop1", &["7.9.7"]),
    ("after-valid.close.code-1100", &["7.9.7"]),
    ("close.code-2000", &["7.9.8"]),
    ("close.code-2000+chop1", &["7.9.8"]),
    ("after-valid.close.code-2000", &["7.9.8"]),
    ("close.code-2999", &["7.9.9"]),
    ("close.code-2999+chop1", &["7.9.9"]),
    ("after-valid.close.code-2999", &["7.9.9"]),
    ("close.code-5000", &["7.13.1"]),
    ("close.code-5000+chop1", &["7.13.1"]),
    ("after-valid.close.code-5000", &["7.13.1"]),
    ("close.code-65535", &["7.13.2"]),
    ("close.code-65535+chop1", &["7.13.2"]),
    ("after-valid.close.code-65535", &["7.13.2"]),
    // Derived variants of the family cases (`+chop1`, `after-valid.`): the
    // byte-wise forms and Autobahn's pipelined sequences.
    ("rsv.close-rsv7+chop1", &["3.7"]),
    ("after-valid.rsv.close-rsv7", &["3.7"]),
    ("after-valid.rsv.rsv1-bytewise", &["3.4"]),
    ("after-valid.opcode.reserved-7-bytewise", &["4.1.5"]),
    ("after-valid.opcode.reserved-f-bytewise", &["4.2.5"]),
    ("control.pong-fragmented+chop1", &["5.2"]),
    ("after-valid.control.pong-fragmented", &["5.2"]),
    (
        "fragment.orphan-continuation-fin0+chop1",
        &["5.12", "5.13", "5.14", "5.16"],
    ),
    (
        "after-valid.fragment.orphan-continuation-fin0",
        &["5.12", "5.13", "5.16"],
    ),
    ("fragment.continuation-after-final+chop1", &["5.15"]),
    ("after-valid.fragment.continuation-after-final", &["5.15"]),
];

/// The Autobahn ids the earlier case `id` covers (empty for others).
pub fn earlier(id: &str) -> &'static [&'static str] {
    EARLIER
        .iter()
        .find(|(c, _)| *c == id)
        .map_or(&[], |(_, ids)| ids)
}

/// One category's coverage by a set of cases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CategoryCoverage {
    pub category: u32,
    pub name: &'static str,
    pub cases: usize,
    pub covered: usize,
    /// Autobahn ids no case covers, in Autobahn's order.
    pub uncovered: Vec<&'static str>,
}

/// Coverage of every Autobahn category by `cases`.
pub fn coverage(cases: &[Case]) -> Vec<CategoryCoverage> {
    let named: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.autobahn.iter().map(String::as_str))
        .collect();
    let mut out: Vec<CategoryCoverage> = Vec::new();
    for ab in all() {
        let n = category(ab.id);
        if out.last().is_none_or(|c| c.category != n) {
            out.push(CategoryCoverage {
                category: n,
                name: category_name(n),
                cases: 0,
                covered: 0,
                uncovered: Vec::new(),
            });
        }
        let Some(cat) = out.last_mut() else { continue };
        cat.cases += 1;
        if named.contains(ab.id) {
            cat.covered += 1;
        } else {
            cat.uncovered.push(ab.id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Side, catalogue};

    #[test]
    fn the_list_holds_every_autobahn_case_once() {
        let ids: Vec<&str> = all().iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 517);
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), 517);
        assert_eq!((ids[0], ids[516]), ("1.1.1", "13.7.18"));
        let per: Vec<usize> = coverage(&[]).iter().map(|c| c.cases).collect();
        assert_eq!(per, [16, 11, 7, 10, 20, 145, 37, 54, 1, 90, 126]);
    }

    #[test]
    fn every_named_id_exists_and_every_table_row_is_a_case() {
        let known: BTreeSet<&str> = all().iter().map(|c| c.id).collect();
        let mut ours = BTreeSet::new();
        for side in [Side::Server, Side::Client] {
            for c in catalogue(side, 0) {
                for id in &c.autobahn {
                    assert!(
                        known.contains(id.as_str()),
                        "{}: no Autobahn case {id}",
                        c.id
                    );
                }
                ours.insert(c.id);
            }
        }
        for (id, _) in EARLIER {
            assert!(ours.contains(*id), "the table names {id}, which is no case");
        }
    }

    /// Coverage only grows: these floors are raised as cases are added, and a
    /// change that loses a covered id fails here.
    #[test]
    fn every_autobahn_case_is_covered_on_both_sides() {
        for side in [Side::Server, Side::Client] {
            let cases = catalogue(side, 0);
            let covered: usize = coverage(&cases).iter().map(|c| c.covered).sum();
            assert_eq!(covered, 517, "{side:?}");
            // Every id a case claims is one of Autobahn's.
            let known: Vec<&str> = all().iter().map(|a| a.id).collect();
            for c in &cases {
                for id in &c.autobahn {
                    assert!(known.contains(&id.as_str()), "{}: {id}", c.id);
                }
            }
        }
    }
}
