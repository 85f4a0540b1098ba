#!/usr/bin/env bash
# Makes a model folder for `--load-format dummy` benchmarks: a shape's config.json plus the real Qwen3 tokenizer (its
# 151,669 tokens fit the Qwen2.5 vocabularies), e.g. examples/dummy-shapes/make-folder.sh qwen2.5-7b /tmp/qwen2.5-7b
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shape=$1 dest=$2
[ -f "$here/../../testdata/tokenizers/qwen3/tokenizer.json" ] || "$here/../../tools/fetch-tokenizers.sh"
mkdir -p "$dest"
cp "$here/$shape.json" "$dest/config.json"
cp "$here/../../testdata/tokenizers/qwen3/tokenizer.json" "$here/../../testdata/tokenizers/qwen3/tokenizer_config.json" "$dest/"
