//! Property tests for the laws the fuzz targets also check: parse(encode(f)) == f
//! for arbitrary frames and splits, and split-independence of classification.

use arbitrary::{Arbitrary, Unstructured};
use proptest::prelude::*;
use wschaos_codec::fuzz::{ArbFrame, SplitInput, check_roundtrip, check_split};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip_any_frames(seed in proptest::collection::vec(any::<u8>(), 0..4096),
                            cuts in proptest::collection::vec(any::<u16>(), 0..16)) {
        let mut u = Unstructured::new(&seed);
        let frames: Vec<ArbFrame> = Vec::arbitrary(&mut u).unwrap_or_default();
        prop_assert_eq!(check_roundtrip(&frames, &cuts), Ok(()));
    }

    #[test]
    fn split_never_changes_the_outcome(seed in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let input = SplitInput::from_bytes(&seed);
        prop_assert_eq!(SplitInput::from_bytes(&input.to_bytes()), input.clone());
        prop_assert_eq!(check_split(&input), Ok(()));
    }

    /// Valid-looking traffic: frames from the catalogue concatenated in random
    /// order and cut at random points must classify as when read whole.
    #[test]
    fn catalogue_streams_split_anywhere(picks in proptest::collection::vec(any::<u8>(), 1..6),
                                        cuts in proptest::collection::vec(any::<u16>(), 0..12),
                                        client in any::<bool>()) {
        let receiver = if client { wschaos_codec::Role::Client } else { wschaos_codec::Role::Server };
        let cases = wschaos_codec::cases::frame_cases(receiver, [9, 8, 7, 6]);
        let mut data = Vec::new();
        for p in picks {
            data.extend_from_slice(&cases[usize::from(p) % cases.len()].bytes);
        }
        let input = SplitInput { receiver, deflate: None, max_message_size: None, cuts, data };
        prop_assert_eq!(check_split(&input), Ok(()));
    }
}
