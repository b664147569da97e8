#!/usr/bin/env bash
# Builds the browser demo into web/pkg: the crate for wasm32 (profile `web`), wasm-bindgen
# (the CLI at the crate's version), then wasm-opt from npm's binaryen. Serve with
# `jest-wgpu serve` (or any static server) and open http://127.0.0.1:8080/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-web/pkg}"
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
# every missing tool listed at once, each with the command that installs it
missing=()
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$want" ]; then
  missing+=("wasm-bindgen $want: cargo install wasm-bindgen-cli --version $want")
fi
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  missing+=("the wasm target: rustup target add wasm32-unknown-unknown")
fi
if [ ! -x node_modules/.bin/wasm-opt ]; then
  missing+=("wasm-opt: npm ci in $(pwd) (it installs npm's binaryen)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "building the page needs:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
cargo build --lib --profile web --target wasm32-unknown-unknown
mkdir -p "$OUT"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" target/wasm32-unknown-unknown/web/jest_wgpu.wasm
node_modules/.bin/wasm-opt -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-reference-types \
  --enable-sign-ext --enable-mutable-globals "$OUT/jest_wgpu_bg.wasm" -o "$OUT/jest_wgpu_bg.wasm.opt"
mv "$OUT/jest_wgpu_bg.wasm.opt" "$OUT/jest_wgpu_bg.wasm"
raw=$(stat -c %s "$OUT/jest_wgpu_bg.wasm")
gz=$(gzip -9 -c "$OUT/jest_wgpu_bg.wasm" | wc -c)
echo "built $OUT: jest_wgpu_bg.wasm $((raw / 1024)) KiB ($((gz / 1024)) KiB gzip)"
