#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target of fuzz/ into $OUT,
# each with its seed corpus ($OUT/<target>_seed_corpus.zip: corpus/<target>/ and
# the findings kept in corpus/regressions/<target>/) and the WebSocket dictionary
# ($OUT/<target>.dict). The builder's environment supplies $SRC, $OUT, $SANITIZER
# and RUSTFLAGS; `cargo fuzz build` adds the sanitizer and libFuzzer.
# scripts/test-cflite-build runs this outside the image, on the host's nightly.

cd "$SRC/wschaos/fuzz"

# -O as OSS-Fuzz's Rust projects build; debug assertions keep overflow a crash.
cargo fuzz build -O --debug-assertions

bins="${CARGO_TARGET_DIR:-$PWD/target}/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}/release"
corpus="$SRC/wschaos/corpus"
for target in $(cargo fuzz list); do
  cp "$bins/$target" "$OUT/$target"
  cp websocket.dict "$OUT/$target.dict"
  rm -f "$OUT/${target}_seed_corpus.zip"
  seeds=()
  for dir in "$corpus/$target" "$corpus/regressions/$target"; do
    [ -d "$dir" ] && seeds+=("$dir")
  done
  if [ ${#seeds[@]} -gt 0 ]; then
    # Flat (-j): libFuzzer reads the unzipped files as one corpus directory.
    find "${seeds[@]}" -maxdepth 1 -type f ! -name '*.md' -print0 |
      xargs -0 zip -q -j "$OUT/${target}_seed_corpus.zip"
  fi
done
