//! Replays every file under `corpus/regressions/<target>/` through the same check
//! the fuzz target runs, so a bug once found never comes back silently. It also
//! replays the seed corpora, which must never fail.

use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// Replays every input file in `dir`; returns how many it replayed and the failures.
fn replay_dir(dir: &Path, target: &str) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut replayed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, failures);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() || path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        replayed += 1;
        if let Err(e) = wschaos_codec::fuzz::run(target, &data) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    (replayed, failures)
}

#[test]
fn regressions_replay_clean() {
    let root = corpus_root().join("regressions");
    let mut failures = Vec::new();
    let (mut seen, mut replayed) = (0, 0);
    for target in wschaos_codec::fuzz::TARGETS {
        let dir = root.join(target);
        seen += std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_file())
                    .filter(|e| e.path().extension().is_none_or(|x| x != "md"))
                    .count()
            })
            .unwrap_or(0);
        let (n, f) = replay_dir(&dir, target);
        replayed += n;
        failures.extend(f);
    }
    // Nothing checked would pass as well as everything clean: make sure it ran.
    assert!(
        replayed > 0,
        "no regression file found under {}",
        root.display()
    );
    assert_eq!(replayed, seen, "every regression file is replayed");
    // Every folder under regressions/ must be a known target, or its files would
    // silently never be replayed.
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        if entry.path().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // proxy_relay inputs are replayed by chaos-proxy/tests/relay_regressions.rs.
            let known =
                wschaos_codec::fuzz::TARGETS.contains(&name.as_str()) || name == "proxy_relay";
            assert!(known, "unknown target folder {name}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!("replayed {replayed} regression files");
}

#[test]
fn seed_corpora_replay_clean() {
    let mut failures = Vec::new();
    for target in wschaos_codec::fuzz::TARGETS {
        let dir = corpus_root().join(target);
        assert!(dir.is_dir(), "no seed corpus for {target}");
        let (n, f) = replay_dir(&dir, target);
        assert!(n > 0, "the seed corpus for {target} is empty");
        failures.extend(f);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn unknown_target_is_an_error() {
    assert!(wschaos_codec::fuzz::run("no_such_target", b"").is_err());
}
