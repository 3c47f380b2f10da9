//! `wschaos replay`: sends saved bytes (a checker repro, a proxy recording, a fuzz
//! crash) to a server after a real handshake and reports its reaction, judged
//! against what the codec says the bytes call for.

use std::path::Path;

use wschaos_codec::stream::classify;
use wschaos_codec::{Role, ValidatorConfig};

use crate::catalogue::{Case, Expect, Setup, Side, Write};
use crate::check::server::{ServerCheck, run_case};
use crate::report::CaseResult;

/// What a server owes for `bytes` sent by a client: the codec's verdict.
pub fn expectation_for(bytes: &[u8]) -> Expect {
    let outcome = classify(ValidatorConfig::new(Role::Server), bytes);
    match outcome.violation {
        Some((_, v)) => Expect::Close {
            codes: v.accepted_codes().to_vec(),
            after_valid: false,
        },
        None if !outcome.notices.is_empty() => Expect::Info,
        None => Expect::Echo,
    }
}

pub async fn replay_file(cfg: &ServerCheck, path: &Path) -> Result<CaseResult, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let expect = expectation_for(&bytes);
    let case = Case {
        id: path.display().to_string(),
        description: format!("{} bytes from {}", bytes.len(), path.display()),
        side: Side::Server,
        setup: Setup::Plain,
        pre: Vec::new(),
        bytes,
        write: Write::Whole,
        expect,
    };
    Ok(run_case(cfg, &case).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::encode::Frame;

    #[test]
    fn expectations_come_from_the_codec() {
        let ok = Frame::text("hi").masked([1, 2, 3, 4]).encode().unwrap();
        assert_eq!(expectation_for(&ok), Expect::Echo);
        let bad = Frame::text("hi").encode().unwrap();
        assert!(matches!(expectation_for(&bad), Expect::Close { .. }));
    }
}
