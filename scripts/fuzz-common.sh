# Shared by scripts/fuzz, scripts/minimize and scripts/reproduce (sourced, not run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The codec's and the proxy's own targets, and the in-process differentials
# against async libraries (their dependencies build only for these).
CORE_TARGETS=(frame_split frame_roundtrip handshake_request handshake_response differential_tungstenite proxy_relay raw_wschaos raw_tungstenite)
PEER_TARGETS=(differential_fastwebsockets differential_tokio_websockets)
TARGETS=("${CORE_TARGETS[@]}" "${PEER_TARGETS[@]}")

die() { echo "error: $*" >&2; exit 2; }

ensure_cargo_fuzz() {
  rustup toolchain list | grep -q '^nightly' ||
    die "the nightly toolchain is missing (rustup toolchain install nightly)"
  command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "installing cargo-fuzz (once)..." >&2
    cargo install cargo-fuzz --locked --quiet
  }
}

check_target() {
  local t=$1
  for known in "${TARGETS[@]}"; do [[ $t == "$known" ]] && return 0; done
  die "unknown fuzz target '$t' (known: ${TARGETS[*]})"
}

# -O without a sanitizer is libFuzzer at full speed; debug assertions stay on so
# arithmetic overflow is a crash, not a silent wrap.
FUZZ_FLAGS=(--release --sanitizer none --debug-assertions)
