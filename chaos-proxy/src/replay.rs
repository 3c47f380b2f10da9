//! `wschaos replay`: sends saved bytes (a checker repro, a proxy recording, a fuzz
//! crash) to a server after a real handshake and reports its reaction, judged
//! against what the codec says the bytes call for.

use std::path::Path;

use wschaos_codec::stream::classify;
use wschaos_codec::validate::DeflateConfig;
use wschaos_codec::{Role, ValidatorConfig};

use crate::catalogue::{Case, Expect, Setup, Side};
use crate::check::server::{ServerCheck, run_case};
use crate::report::CaseResult;

/// What a server owes for `bytes` sent by a client: the codec's verdict, with
/// permessage-deflate agreed when `deflate` (as the replay will negotiate it).
pub fn expectation_for(bytes: &[u8], deflate: bool) -> Expect {
    expectation_as(Role::Server, bytes, deflate)
}

/// What `receiver` owes for `bytes` its peer sent (see [`expectation_for`]).
pub fn expectation_as(receiver: Role, bytes: &[u8], deflate: bool) -> Expect {
    let mut config = ValidatorConfig::new(receiver);
    if deflate {
        config = config.with_deflate(DeflateConfig::default());
    }
    let outcome = classify(config, bytes);
    match outcome.violation {
        Some((_, v)) => Expect::Close {
            codes: v.accepted_codes().to_vec(),
            after_valid: false,
        },
        None if !outcome.notices.is_empty() => Expect::Info,
        None => Expect::Echo,
    }
}

/// The largest file `replay` reads: recordings and repro files are at most a few
/// hundred KiB, so anything bigger is a mistake (and is not read into memory).
pub const MAX_REPLAY_BYTES: u64 = 16 * 1024 * 1024;

/// A file checked for replay: its bytes, and a warning when they do not look like
/// what a client sends after the handshake.
#[derive(Debug)]
pub struct Recording {
    pub bytes: Vec<u8>,
    pub warning: Option<String>,
}

/// Reads a file to replay, refusing what cannot be a recording: anything but a
/// regular file (a FIFO, `/dev/zero`, a directory), an empty file, or one larger
/// than [`MAX_REPLAY_BYTES`]. Reads at most that many bytes, even from a file that
/// grows meanwhile.
pub fn read_recording(path: &Path) -> Result<Recording, String> {
    use std::io::Read as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "cannot replay {shown}: not a regular file (a FIFO, device or directory)"
        ));
    }
    if meta.len() == 0 {
        return Err(format!("cannot replay {shown}: the file is empty"));
    }
    if meta.len() > MAX_REPLAY_BYTES {
        return Err(format!(
            "cannot replay {shown}: {} bytes is more than the {MAX_REPLAY_BYTES} a recording can hold",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_REPLAY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_REPLAY_BYTES {
        return Err(format!(
            "cannot replay {shown}: it grew past {MAX_REPLAY_BYTES} bytes while being read"
        ));
    }
    let warning = first_frame_warning(&bytes).map(|w| format!("{shown}: {w}"));
    Ok(Recording { bytes, warning })
}

/// Why `bytes` do not start like a client's frames (masked, a known opcode), if
/// they do not: a JSON report, or other data given by mistake.
fn first_frame_warning(bytes: &[u8]) -> Option<String> {
    let text_start = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if text_start == Some(&b'{') && serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
        return Some(
            "this is a JSON file (a report?), not recorded bytes; replay the files its \"repro\" fields name"
                .to_owned(),
        );
    }
    match wschaos_codec::parse::decode_header(bytes) {
        None => Some("too short for a frame header; replaying it anyway".to_owned()),
        Some((h, _)) if h.mask.is_none() => Some(
            "does not start with a masked frame header, as a client sends; replaying it anyway"
                .to_owned(),
        ),
        Some(_) => None,
    }
}

pub async fn replay_file(
    cfg: &ServerCheck,
    path: &Path,
    deflate: bool,
) -> Result<CaseResult, String> {
    let bytes = read_recording(path)?.bytes;
    Ok(replay_bytes(cfg, path, bytes, deflate).await)
}

/// Whether the file looks like it was recorded with permessage-deflate agreed:
/// a checker repro of a `deflate.*` case, a fuzz finding made with it
/// (`finding-N-deflate-RULE.bin`), or a proxy recording whose note says so.
pub fn recorded_with_deflate(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.as_deref().is_some_and(|n| {
        n.starts_with("deflate.")
            || n.strip_prefix("finding-").is_some_and(|rest| {
                rest.trim_start_matches(|c: char| c.is_ascii_digit())
                    .starts_with("-deflate-")
            })
    }) {
        return true;
    }
    // conn-N-c2s.bin -> conn-N.note
    let note = name
        .as_deref()
        .and_then(|n| {
            n.strip_suffix("-c2s.bin")
                .or_else(|| n.strip_suffix("-s2c.bin"))
        })
        .map(|stem| path.with_file_name(format!("{stem}.note")));
    note.and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|t| t.contains("permessage-deflate"))
}

/// Sends `bytes` (read from `path`) after a handshake (offering permessage-deflate
/// when `deflate`) and judges the reaction.
pub async fn replay_bytes(
    cfg: &ServerCheck,
    path: &Path,
    bytes: Vec<u8>,
    deflate: bool,
) -> CaseResult {
    let expect = expectation_for(&bytes, deflate);
    let setup = if deflate {
        Setup::Deflate(crate::catalogue::DeflateProfile::Plain)
    } else {
        Setup::Plain
    };
    let description = format!("{} bytes from {}", bytes.len(), path.display());
    let id = path.display().to_string();
    let case = Case::handshake(Side::Server, &id, &description, setup, bytes, expect);
    run_case(cfg, &case).await
}

/// Serves `bytes` (read from `path`) to the next connection of a client under
/// test and judges its reaction (accepting its permessage-deflate offer and
/// reading the bytes as compressed traffic when `deflate`); `None` when no
/// client came.
pub async fn replay_to_client(
    client: &crate::fuzz::ClientEnd,
    path: &Path,
    bytes: Vec<u8>,
    deflate: bool,
) -> Option<CaseResult> {
    let expect = expectation_as(Role::Client, &bytes, deflate);
    let setup = if deflate {
        Setup::Deflate(crate::catalogue::DeflateProfile::Plain)
    } else {
        Setup::Plain
    };
    let description = format!("{} bytes from {}", bytes.len(), path.display());
    let id = path.display().to_string();
    let case = Case::handshake(Side::Client, &id, &description, setup, bytes, expect);
    client.run(&case).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::encode::Frame;

    #[test]
    fn expectations_come_from_the_codec() {
        let ok = Frame::text("hi").masked([1, 2, 3, 4]).encode().unwrap();
        assert_eq!(expectation_for(&ok, false), Expect::Echo);
        let bad = Frame::text("hi").encode().unwrap();
        assert!(matches!(expectation_for(&bad, false), Expect::Close { .. }));
        // A compressed frame is valid only where permessage-deflate was agreed.
        let compressed = wschaos_codec::encode::Frame::new(
            wschaos_codec::OpCode::TEXT,
            wschaos_codec::deflate::compress_message(b"hi"),
        )
        .rsv(true, false, false)
        .masked([1, 2, 3, 4])
        .encode()
        .unwrap();
        assert_eq!(expectation_for(&compressed, true), Expect::Echo);
        assert!(matches!(
            expectation_for(&compressed, false),
            Expect::Close { .. }
        ));
    }

    #[test]
    fn files_that_are_not_recordings_are_refused_or_warned_about() {
        let dir = std::env::temp_dir().join(format!("wschaos-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = read_recording(&dir).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let err = read_recording(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        assert!(read_recording(&empty).unwrap_err().contains("empty"));
        let huge = dir.join("huge.bin");
        let f = std::fs::File::create(&huge).unwrap();
        f.set_len(MAX_REPLAY_BYTES + 1).unwrap(); // sparse: no disk used
        assert!(read_recording(&huge).unwrap_err().contains("more than"));
        let json = dir.join("r.json");
        std::fs::write(&json, br#"{"tool": "wschaos"}"#).unwrap();
        assert!(
            read_recording(&json)
                .unwrap()
                .warning
                .unwrap()
                .contains("JSON")
        );
        for (name, deflate) in [
            ("finding-3-deflate-InvalidDeflate.bin", true),
            ("finding-12-deflate-valid.bin", true),
            ("finding-3-InvalidUtf8Text.bin", false),
            ("deflate.rsv1-ping.bin", true),
        ] {
            assert_eq!(recorded_with_deflate(&dir.join(name)), deflate, "{name}");
        }
        let unmasked = dir.join("unmasked.bin");
        std::fs::write(&unmasked, Frame::text("hi").encode().unwrap()).unwrap();
        assert!(
            read_recording(&unmasked)
                .unwrap()
                .warning
                .unwrap()
                .contains("masked")
        );
        let good = dir.join("good.bin");
        let ok = Frame::text("hi").masked([1, 2, 3, 4]).encode().unwrap();
        std::fs::write(&good, &ok).unwrap();
        let rec = read_recording(&good).unwrap();
        assert_eq!((rec.bytes, rec.warning), (ok, None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
