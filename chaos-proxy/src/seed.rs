//! Seed derivation: every seeded decision (a connection's fault choices, its
//! reset time, its transport jitter, a case's handshake key, the checker's mask
//! key) draws from its own
//! stream, derived from the run's `--seed`, a number (connection or direction)
//! and a label naming the use, so that adding a use never shifts another's
//! decisions and the same seed always gives the same run.

/// FNV-1a over the label, mixed with the seed and the number through SplitMix64's
/// finaliser: cheap, stable across platforms and releases, and well spread.
pub fn derive_seed(seed: u64, n: u64, label: &str) -> u64 {
    let h = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut z = seed ^ h ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The mask key a checker run uses for the frames it sends as a client.
pub fn mask_key(seed: u64) -> [u8; 4] {
    let [a, b, c, d, ..] = derive_seed(seed, 0, "mask key").to_be_bytes();
    [a, b, c, d]
}

/// A Sec-WebSocket-Key nonce for one case, from the seed and the case id.
pub fn key_nonce(seed: u64, id: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..8].copy_from_slice(&derive_seed(seed, 0, id).to_be_bytes());
    n[8..].copy_from_slice(&derive_seed(seed, 1, id).to_be_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_number_and_label_and_are_stable() {
        assert_ne!(derive_seed(1, 1, "relay"), derive_seed(1, 2, "relay"));
        assert_ne!(derive_seed(1, 1, "relay"), derive_seed(1, 1, "reset"));
        assert_ne!(derive_seed(1, 1, "relay"), derive_seed(2, 1, "relay"));
        assert_eq!(derive_seed(7, 3, "relay"), derive_seed(7, 3, "relay"));
    }
}
