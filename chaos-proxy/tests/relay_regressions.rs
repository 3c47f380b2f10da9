//! Replays `corpus/regressions/proxy_relay/*` and the seeds in `corpus/proxy_relay/`
//! through the relay fuzz check, so a relay bug once found never comes back.

use std::path::Path;

#[test]
fn relay_corpus_and_regressions_replay_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut failures = Vec::new();
    let mut seen = 0;
    for dir in [
        root.join("proxy_relay"),
        root.join("regressions/proxy_relay"),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            seen += 1;
            if let Err(e) = wschaos::proxy::fuzz::check_relay(&std::fs::read(&path).unwrap()) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    assert!(seen > 0, "no relay seeds found");
    assert!(failures.is_empty(), "{failures:#?}");
}
