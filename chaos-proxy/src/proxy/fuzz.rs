//! Fuzz harness for the relay, in the library so `cargo test` replays saved inputs
//! through the same check the `proxy_relay` fuzz target runs.
//!
//! Input: `[flags, picks_hi, picks_lo, seed, (dir_and_len, bytes...)*]`. Flags bit 0
//! prefixes a valid upgrade request and 101 response (bit 1: with permessage-deflate);
//! bit i of the 16-bit picks enables `PICKS[i]`; each chunk header byte has the
//! direction in bit 7 and the chunk length (0-127) below it.

use std::time::Duration;

use wschaos_codec::handshake::{DeflateParams, RequestBuilder, build_response, generate_key};

use crate::proxy::fault::{Dir, FaultSpec};
use crate::proxy::relay::{ActiveFault, Relay};

const PICKS: &[&str] = &[
    "flip-mask",
    "set-rsv:bit=1",
    "reserved-opcode@c2s:p=0.5",
    "bad-close-code@s2c",
    "strip-extensions",
    "non-minimal-length:nth=2",
    "oversize-control",
    "fragment-control@s2c",
    "orphan-continuation:p=0.3",
    "invalid-utf8",
    "length-msb@c2s",
    "bitflip-header",
    "inject-extension@s2c",
    "set-rsv:bit=3,nth=4",
];

/// Laws: no panic; at most one frame fault and one handshake edit per direction;
/// without faults every byte comes out unchanged, in order.
pub fn check_relay(data: &[u8]) -> Result<(), String> {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let flags = byte(0);
    let picks = u16::from_be_bytes([byte(1), byte(2)]);
    let seed = u64::from(byte(3));
    let faults: Vec<ActiveFault> = PICKS
        .iter()
        .enumerate()
        .filter(|(i, _)| picks & (1 << i) != 0)
        .filter_map(|(_, s)| {
            FaultSpec::parse(s)
                .ok()
                .and_then(|s| ActiveFault::new(s).ok())
        })
        .collect();
    let mut inputs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut outputs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut relay = Relay::new(seed, 1, Duration::from_millis(100));
    let mut feed = |relay: &mut Relay, dir: Dir, bytes: &[u8], t: u64| {
        let i = usize::from(dir == Dir::S2c);
        inputs[i].extend_from_slice(bytes);
        relay.feed(
            dir,
            bytes,
            Duration::from_millis(t),
            &faults,
            &mut outputs[i],
        );
    };
    if flags & 1 != 0 {
        let deflate = flags & 2 != 0;
        let key = generate_key([7; 16]);
        let mut req = RequestBuilder::new("127.0.0.1:1", "/", key.clone());
        let mut ext = Vec::new();
        if deflate {
            req = req.extension(DeflateParams::default().to_offer());
            ext.push(DeflateParams::default().to_offer());
        }
        feed(&mut relay, Dir::C2s, &req.build(), 0);
        feed(&mut relay, Dir::S2c, &build_response(&key, None, &ext), 0);
    }
    let mut rest = data.get(4..).unwrap_or(&[]);
    let mut t = 0;
    while let Some((&h, tail)) = rest.split_first() {
        let len = usize::from(h & 0x7F).min(tail.len());
        let dir = if h & 0x80 != 0 { Dir::S2c } else { Dir::C2s };
        t += 1;
        feed(&mut relay, dir, &tail[..len], t);
        relay.tick(Duration::from_millis(t));
        let _ = relay.take_settled();
        rest = &tail[len..];
    }
    relay.eof(Dir::C2s, &mut outputs[0]);
    relay.eof(Dir::S2c, &mut outputs[1]);
    let injections = relay.finish();
    let frame_faults = |dir| {
        injections
            .iter()
            .filter(|i| i.dir == dir && i.frame_index.is_some())
            .count()
    };
    if frame_faults(Dir::C2s) > 1 || frame_faults(Dir::S2c) > 1 {
        return Err(format!(
            "more than one frame fault in a direction: {injections:?}"
        ));
    }
    if faults.is_empty() && outputs != inputs {
        return Err("relay without faults changed the bytes".into());
    }
    Ok(())
}
