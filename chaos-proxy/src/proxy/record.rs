//! `--record DIR`: the byte streams of each connection, kept while it is open and
//! written out only if a fault hit it. What the server and the client received
//! after the handshake become files `wschaos replay` accepts; the original traffic
//! of both directions becomes a `proxy_relay` fuzz input, to seed the fuzzer.
//! Each stream is capped, so a long connection costs bounded memory. A fault that
//! lands past the cap is kept all the same: that stream's file then starts at the
//! injected frame (the bytes before it are left out, and a note says so), so a
//! recording always holds the fault it was made for.

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
    /// Per direction (c2s, s2c): what was forwarded from the injected frame on,
    /// when it began past the cap.
    from_fault: [Option<Vec<u8>>; 2],
}

impl Recording {
    /// Records one chunk: the `original` bytes that arrived in `dir` and what was
    /// `forwarded`; `fault_at` is where an injected frame begins in `forwarded`.
    pub fn push(&mut self, dir: Dir, original: &[u8], forwarded: &[u8], fault_at: Option<usize>) {
        let (sink, tail) = match dir {
            Dir::C2s => (&mut self.to_server, &mut self.from_fault[0]),
            Dir::S2c => (&mut self.to_client, &mut self.from_fault[1]),
        };
        match (fault_at, tail.as_mut()) {
            (Some(at), None) if sink.len() + at + 8 > CAP => {
                let from = &forwarded[at.min(forwarded.len())..];
                *tail = Some(from[..from.len().min(CAP)].to_vec());
            }
            (None, Some(t)) => {
                let room = CAP.saturating_sub(t.len());
                t.extend_from_slice(&forwarded[..forwarded.len().min(room)]);
            }
            _ => {}
        }
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
    /// `deflate`: permessage-deflate was agreed, so the files replay only with
    /// `replay --offer-deflate` (the note says so). `transport`: the transport
    /// faults that applied, listed in the note, since timing and splits are not
    /// kept in the byte files.
    pub fn write(
        &self,
        dir: &Path,
        conn: u64,
        deflate: bool,
        transport: &[String],
    ) -> std::io::Result<Vec<PathBuf>> {
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
        let stream = |i: usize, bytes: &[u8], request: bool| match &self.from_fault[i] {
            Some(t) => t.clone(),
            None => after_head(bytes, request),
        };
        let mut files = vec![
            (
                format!("conn-{conn}-c2s.bin"),
                stream(0, &self.to_server, true),
            ),
            (
                format!("conn-{conn}-s2c.bin"),
                stream(1, &self.to_client, false),
            ),
            (format!("conn-{conn}.relay"), relay_input),
        ];
        let mut notes: Vec<String> = ["c2s", "s2c"]
            .iter()
            .zip(&self.from_fault)
            .filter(|(_, t)| t.is_some())
            .map(|(d, _)| {
                format!(
                    "conn-{conn}-{d}.bin starts at the injected frame: the stream before it was over {} KiB and is left out\n",
                    CAP / 1024
                )
            })
            .collect();
        if deflate {
            notes.push(format!(
                "permessage-deflate was agreed on connection {conn}: replay with wschaos replay --offer-deflate\n"
            ));
        }
        for t in transport {
            notes.push(format!(
                "transport fault on connection {conn}: {t}; the files keep the bytes, not the timing or the splits\n"
            ));
        }
        if !notes.is_empty() {
            files.push((format!("conn-{conn}.note"), notes.concat().into_bytes()));
        }
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
        r.push(Dir::C2s, &[1; 300], &[2; 300], None);
        assert_eq!(r.chunks.len(), 300 + 3, "three chunks of at most 127 bytes");
        assert_eq!(r.chunks[0], 127);
        r.push(Dir::S2c, &vec![3; CAP], &vec![4; CAP + 10], None);
        assert!(r.truncated);
        assert_eq!(r.to_client.len(), CAP);
        assert!(r.chunks.len() <= CAP);
    }

    #[test]
    fn a_fault_past_the_cap_is_kept_from_its_frame_on() {
        let mut r = Recording::default();
        r.push(Dir::C2s, &[0; 10], &vec![1; CAP - 4], None);
        let mut chunk = vec![2u8; 100];
        chunk.extend_from_slice(&[0x81, 0x85, 9, 9, 9, 9]);
        r.push(Dir::C2s, &[0; 10], &chunk, Some(100));
        r.push(Dir::C2s, &[0; 10], &[7; 5], None);
        let dir = std::env::temp_dir().join(format!("wschaos-rec-unit-{}", std::process::id()));
        let paths = r.write(&dir, 1, false, &[]).unwrap();
        let c2s = std::fs::read(dir.join("conn-1-c2s.bin")).unwrap();
        assert_eq!(&c2s[..2], &[0x81, 0x85], "starts at the injected frame");
        assert_eq!(c2s.len(), 6 + 5);
        assert!(paths.iter().any(|p| p.ends_with("conn-1.note")));
        r.write(&dir, 2, true, &["latency:ms=5 (c2s): delayed".into()])
            .unwrap();
        let note = std::fs::read_to_string(dir.join("conn-2.note")).unwrap();
        assert!(note.contains("replay --offer-deflate"), "{note}");
        assert!(
            note.contains("transport fault on connection 2: latency"),
            "{note}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
