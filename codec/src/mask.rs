//! Masking (RFC 6455 5.3): XOR with a 4-byte key, continued across chunk
//! boundaries by the payload offset. Word-at-a-time over 8-byte lanes, which the
//! compiler widens to SIMD; correct at any alignment, length and offset.

/// XORs `buf` in place with `key`, where `buf` starts `offset` bytes into the payload.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    let key = rotate(key, offset);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ key64).to_ne_bytes());
    }
    // The chunked part is a multiple of 8 (hence of 4) bytes long, so the key
    // phase of the tail is unchanged.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Copies `src` into `dst` XORed with `key`; `src` starts `offset` bytes into the
/// payload. `dst` must be at least as long as `src`; extra bytes are untouched.
/// One pass, no separate copy: small frames are the common case, and for them a
/// `memcpy` call followed by an in-place pass costs more than the XOR itself.
pub fn apply_mask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: u64) {
    let dst = &mut dst[..src.len()];
    let key = rotate(key, offset);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let mut word = [0u8; 8];
        word.copy_from_slice(s);
        d.copy_from_slice(&(u64::from_ne_bytes(word) ^ key64).to_ne_bytes());
    }
    for (i, (d, s)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *d = s ^ key[i & 3];
    }
}

/// Unmasks `src` (from payload offset 0) into the start of `dst`, which must have
/// room for `src.len()` rounded up to a multiple of 8: the last word is XORed
/// whole, so the bytes after `src.len()` in `dst` are left as garbage. One copy
/// and one loop of whole words, for the many small frames of a chatty
/// connection, where loop tails and their mispredicted exits dominate.
pub fn unmask_into_padded(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
    let words = src.len().div_ceil(8) * 8;
    let dst = &mut dst[..words];
    dst[..src.len()].copy_from_slice(src);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    for chunk in dst.chunks_exact_mut(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ key64).to_ne_bytes());
    }
}

/// The bytewise definition, kept as the reference the fast path is tested against.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[((offset + i as u64) & 3) as usize];
    }
}

/// The key as it applies from `offset`: rotated left by `offset % 4` bytes.
fn rotate(key: [u8; 4], offset: u64) -> [u8; 4] {
    u32::from_le_bytes(key)
        .rotate_right(8 * (offset & 3) as u32)
        .to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_reference_at_every_offset_alignment_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..16 {
            for len in 0..(data.len() - start) {
                for offset in 0..5u64 {
                    let mut fast = data[start..start + len].to_vec();
                    let mut slow = fast.clone();
                    apply_mask(&mut fast, key, offset);
                    apply_mask_reference(&mut slow, key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn padded_unmask_matches_reference() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..200u32).map(|i| (i * 13 + 5) as u8).collect();
        for len in 0..data.len() {
            let mut dst = vec![0u8; 208];
            unmask_into_padded(&data[..len], &mut dst, key);
            let mut want = data[..len].to_vec();
            apply_mask_reference(&mut want, key, 0);
            assert_eq!(&dst[..len], &want[..], "len {len}");
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 6455 5.7: a masked "Hello".
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    proptest! {
        #[test]
        fn chunked_masking_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..2048),
                                        key in any::<[u8; 4]>(),
                                        cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut pieces = data.clone();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            for w in points.windows(2) {
                apply_mask(&mut pieces[w[0]..w[1]], key, w[0] as u64);
            }
            prop_assert_eq!(whole, pieces);
        }

        #[test]
        fn copy_equals_in_place(data in proptest::collection::vec(any::<u8>(), 0..512),
                                key in any::<[u8; 4]>(), offset in any::<u64>()) {
            let mut a = data.clone();
            apply_mask_reference(&mut a, key, offset);
            let mut b = vec![0u8; data.len()];
            apply_mask_copy(&data, &mut b, key, offset);
            prop_assert_eq!(a, b);
        }
    }
}
