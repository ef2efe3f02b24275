#!/usr/bin/env bash
# Runs every fuzz target of the proxy for $1 seconds each (cargo-fuzz, nightly), installing the
# nightly toolchain and cargo-fuzz first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../proxy/fuzz"
seconds=${1:-300}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "==> installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
for target in $(cargo +nightly fuzz list); do
  echo "==> fuzz $target for ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -dict="$target.dict"
done
