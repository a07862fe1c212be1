#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and the whole test suite.
# Installs what the tests need first (Debian packages; idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the end-to-end tests use: a real Prometheus (and promtool)
# for the exporter and the alert rules, tmux to drive ringline-top, socat for
# the documented by-hand inspect session, fio (an io_uring program without an
# agent) for ringline-top's kernel view, util-linux's unshare for attaching
# across namespaces.
packages=(prometheus tmux socat fio util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy, stats feature off; metrics feature on"
cargo clippy -p ringline --no-default-features --all-targets -- -D warnings
cargo clippy -p ringline --features metrics --all-targets -- -D warnings
echo "== cargo clippy, the exporter without its embedded endpoint (the sidecar's build)"
cargo clippy -p ringline-exporter --no-default-features --all-targets -- -D warnings
echo "== the ringline crate on macOS (checked, not run: mio backend only)"
if rustup target add x86_64-apple-darwin >/dev/null 2>&1; then
  cargo check -p ringline --target x86_64-apple-darwin --quiet
  cargo check -p ringline --target x86_64-apple-darwin --no-default-features --quiet
  cargo check -p ringline-schema --target x86_64-apple-darwin --quiet
else
  echo "SKIPPED: rustup could not add the x86_64-apple-darwin target (offline?)"
fi
echo "== the inspector and the sidecar exporter link no runtime (schema crate only)"
for p in ringline-inspector ringline-exporter-sidecar; do
  if cargo tree -p "$p" --prefix none | grep -E '^(ringline|io-uring) v'; then
    echo "$p depends on the runtime (above); it must read ringline-schema only" >&2
    exit 1
  fi
done
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringline --features metrics --quiet
echo "== cargo test"
cargo test --workspace
echo "== cargo test, stats feature off (the hooks compile to nothing); metrics feature on"
cargo test -p ringline --no-default-features --lib
cargo test -p ringline --features metrics --lib metrics
echo "== loom model check of the op registry's seqlock"
RUSTFLAGS="--cfg ringline_loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p ringline --lib --release seqlock
