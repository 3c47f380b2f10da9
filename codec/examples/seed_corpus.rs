//! Writes the checked-in seed corpora under corpus/<target>/ from the case
//! catalogue (every valid frame kind and every violation, for both receivers) and
//! from handshakes of RFC 6455. Run: cargo run -p wschaos-codec --example seed_corpus
//! [TARGET...] (with targets named, only their folders are written).

use std::path::Path;

use wschaos_codec::Role;
use wschaos_codec::cases::frame_cases;
use wschaos_codec::differential::DiffInput;
use wschaos_codec::fuzz::SplitInput;

const KEY: [u8; 4] = [0xA1, 0x5B, 0x3C, 0x0D];

/// The differential targets: one input format, the same seeds.
const DIFFERENTIAL: &[&str] = &[
    "differential_tungstenite",
    "differential_fastwebsockets",
    "differential_tokio_websockets",
];

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let target = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !only.is_empty() && !only.iter().any(|t| t == target) {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for receiver in [Role::Server, Role::Client] {
        let side = if receiver == Role::Server {
            "server"
        } else {
            "client"
        };
        for case in frame_cases(receiver, KEY) {
            // Large size-boundary controls would only be truncated by -max_len;
            // bulk cases generate their messages when run and hold no bytes.
            if case.bytes.len() > 4096 || case.bulk.is_some() {
                continue;
            }
            let name = format!("{}-{side}", case.id);
            let deflate = case.needs_deflate.then_some(true);
            let split = SplitInput {
                receiver,
                deflate,
                max_message_size: None,
                cuts: vec![1, 3],
                data: case.bytes.clone(),
            };
            write(&root.join("frame_split"), &name, &split.to_bytes())?;
            if receiver == Role::Server && !case.needs_deflate {
                // The raw pair reads one client stream, no config bytes.
                write(&root.join("raw_wschaos"), &name, &case.bytes)?;
                write(&root.join("raw_tungstenite"), &name, &case.bytes)?;
            }
            if !case.needs_deflate {
                let diff = DiffInput {
                    receiver,
                    read_size: 0,
                    max_message_size: None,
                    data: case.bytes.clone(),
                };
                for target in DIFFERENTIAL {
                    write(&root.join(target), &name, &diff.to_bytes())?;
                }
            }
        }
    }
    // Structured target: any bytes decode to some frames; a few varied seeds.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..16 {
        let len = 16 + i * 37;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        write(
            &root.join("frame_roundtrip"),
            &format!("seed-{i:02}"),
            &bytes,
        )?;
    }
    let req_dir = root.join("handshake_request");
    let base = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n";
    write(
        &req_dir,
        "rfc6455-example",
        format!("{base}\r\n").as_bytes(),
    )?;
    write(&req_dir, "deflate-offer", format!("{base}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate; server_no_context_takeover; server_max_window_bits=10\r\n\r\n").as_bytes())?;
    write(
        &req_dir,
        "quoted-param",
        format!("{base}Sec-WebSocket-Extensions: x-foo; a=\"10\", mux\r\n\r\n").as_bytes(),
    )?;
    write(
        &req_dir,
        "version-8",
        format!("{}\r\n", base.replace("Version: 13", "Version: 8")).as_bytes(),
    )?;
    write(
        &req_dir,
        "missing-key",
        format!(
            "{}\r\n",
            base.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
        )
        .as_bytes(),
    )?;
    let mut lower = format!("{}\r\n", base.to_lowercase()).into_bytes();
    lower.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    write(&req_dir, "lowercase-and-frame", &lower)?;
    let resp_dir = root.join("handshake_response");
    let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    write(&resp_dir, "rfc6455-example", format!("{ok}\r\n").as_bytes())?;
    write(
        &resp_dir,
        "chat",
        format!("{ok}Sec-WebSocket-Protocol: chat\r\n\r\n").as_bytes(),
    )?;
    write(&resp_dir, "deflate", format!("{ok}Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=12\r\n\r\n").as_bytes())?;
    write(
        &resp_dir,
        "unoffered",
        format!("{ok}Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n").as_bytes(),
    )?;
    write(
        &resp_dir,
        "bad-accept",
        format!("{}\r\n", ok.replace("s3pP", "AAAA")).as_bytes(),
    )?;
    write(
        &resp_dir,
        "upgrade-required",
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
    )?;
    write(
        &resp_dir,
        "with-frame",
        format!("{ok}\r\n\x01\x05Hello").as_bytes(),
    )?;
    println!("seed corpora written under {}", root.display());
    Ok(())
}
