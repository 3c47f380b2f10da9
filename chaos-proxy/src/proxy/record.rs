//! `--record DIR`: the byte streams of each connection, kept while it is open and
//! written out only if a fault hit it. What the server and the client received
//! after the handshake become files `wschaos replay` accepts; the original traffic
//! of both directions becomes a `proxy_relay` fuzz input, to seed the fuzzer.
//! Each stream is capped, so a long connection costs bounded memory.

use std::path::{Path, PathBuf};

use wschaos_codec::handshake::{parse_request, parse_response};

use crate::proxy::fault::Dir;

/// Bytes kept per stream and connection; what comes after is not recorded.
pub const CAP: usize = 256 * 1024;

#[derive(Debug, Default)]
pub struct Recording {
    /// What was forwarded to the server / to the client (after faults).
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// The original traffic, as `proxy_relay` chunks (direction bit and length).
    chunks: Vec<u8>,
    pub truncated: bool,
}

impl Recording {
    pub fn push(&mut self, dir: Dir, original: &[u8], forwarded: &[u8]) {
        let sink = match dir {
            Dir::C2s => &mut self.to_server,
            Dir::S2c => &mut self.to_client,
        };
        let room = CAP.saturating_sub(sink.len());
        self.truncated |= forwarded.len() > room;
        sink.extend_from_slice(&forwarded[..forwarded.len().min(room)]);
        let bit = if dir == Dir::S2c { 0x80 } else { 0 };
        for piece in original.chunks(127) {
            if self.chunks.len() + piece.len() + 1 > CAP {
                self.truncated = true;
                return;
            }
            self.chunks.push(bit | piece.len() as u8);
            self.chunks.extend_from_slice(piece);
        }
    }

    /// Writes the files for connection `conn` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, conn: u64) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let after_head = |bytes: &[u8], request: bool| -> Vec<u8> {
            let len = if request {
                parse_request(bytes).ok().flatten().map(|r| r.head_len)
            } else {
                parse_response(bytes).ok().flatten().map(|r| r.head_len)
            };
            bytes[len.unwrap_or(0)..].to_vec()
        };
        // The relay input starts with no synthesized handshake and no faults.
        let mut relay_input = vec![0u8, 0, 0, 0];
        relay_input.extend_from_slice(&self.chunks);
        let files = [
            (
                format!("conn-{conn}-c2s.bin"),
                after_head(&self.to_server, true),
            ),
            (
                format!("conn-{conn}-s2c.bin"),
                after_head(&self.to_client, false),
            ),
            (format!("conn-{conn}.relay"), relay_input),
        ];
        let mut paths = Vec::new();
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_and_split_into_relay_chunks() {
        let mut r = Recording::default();
        r.push(Dir::C2s, &[1; 300], &[2; 300]);
        assert_eq!(r.chunks.len(), 300 + 3, "three chunks of at most 127 bytes");
        assert_eq!(r.chunks[0], 127);
        r.push(Dir::S2c, &vec![3; CAP], &vec![4; CAP + 10]);
        assert!(r.truncated);
        assert_eq!(r.to_client.len(), CAP);
        assert!(r.chunks.len() <= CAP);
    }
}
