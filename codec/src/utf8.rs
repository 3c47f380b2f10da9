//! Incremental UTF-8 validation across fragment and chunk boundaries. It fails as
//! soon as a sequence can no longer be valid (RFC 6455 8.1 "fail fast"), and holds
//! at most three bytes of an incomplete code point between chunks.

#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
}

/// Marker error: the bytes so far cannot be the prefix of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Complete the held code point with as few new bytes as it needs.
            while self.pending_len < 4 && !data.is_empty() {
                self.pending[self.pending_len] = data[0];
                self.pending_len += 1;
                data = &data[1..];
                match simdutf8::compat::from_utf8(&self.pending[..self.pending_len]) {
                    Ok(_) => {
                        self.pending_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                    Err(_) => {}
                }
            }
            if self.pending_len > 0 {
                return Ok(());
            }
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
        }
    }

    /// Ends the text: an incomplete code point left over is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.pending_len > 0;
        self.pending_len = 0;
        if incomplete { Err(InvalidUtf8) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_split(bytes: &[u8], cut: usize) -> bool {
        let mut v = Utf8Validator::new();
        v.feed(&bytes[..cut]).is_ok() && v.feed(&bytes[cut..]).is_ok() && v.finish().is_ok()
    }

    #[test]
    fn known_patterns() {
        let bad: [&[u8]; 6] = [
            &[0xFF],
            &[0xED, 0xA0, 0x80],             // surrogate
            &[0xC0, 0xAF],                   // overlong
            &[0xF4, 0x90, 0x80, 0x80],       // above U+10FFFF
            &[0xE2, 0x82],                   // truncated
            &[b'a', 0xCE, 0xBA, 0xE1, 0xBD], // truncated after valid
        ];
        for b in bad {
            for cut in 0..=b.len() {
                assert!(!check_split(b, cut), "{b:?} cut {cut}");
            }
        }
        let good = "κόσμε 𝄞 €".as_bytes();
        for cut in 0..=good.len() {
            assert!(check_split(good, cut));
        }
    }

    #[test]
    fn fails_fast_before_the_end() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xCE, 0xBA, 0xE1]).is_ok());
        assert_eq!(v.feed(&[0xC0]), Err(InvalidUtf8));
    }

    proptest! {
        #[test]
        fn any_byte_split_agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                          cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let mut v = Utf8Validator::new();
            let mut ok = true;
            for w in points.windows(2) {
                ok &= v.feed(&bytes[w[0]..w[1]]).is_ok();
                if !ok { break; }
            }
            ok = ok && v.finish().is_ok();
            prop_assert_eq!(ok, std::str::from_utf8(&bytes).is_ok());
        }
    }
}
