#!/usr/bin/env bash
# On the GPU machine: the inference server on the CUDA backend with dummy weights in the Qwen2.5 shapes of issue 8,
# measured with `bench serve`. Expects the published server (tools/gpu/all.sh prepare) in .gpu/ and the Qwen3
# tokenizer packed as .gpu/qwen3-tokenizer.tar.xz (testdata/tokenizers/ is fetched by npm, not tracked); writes results to $OUT.
#   tools/gpu/serve_bench.sh    (SERVE_SHAPES: which of qwen2.5-1.5b qwen2.5-7b, default both)
# SERVE_LONG_INPUT=16000: instead of the runs below, one stream over a long prompt (that many tokens, then 256 out), on a
# server started with --max-model-len 32768: decode attention over long contexts, where reasoning models spend their steps.
# SERVE_CONCURRENCY="2 4": instead of the runs below, that many streams at a time (128 -> 256 tokens, twice as many
# requests), one run per count: the small decode batches of a few users.
set -uo pipefail
out=${OUT:?set OUT}
# The published app may travel compressed (the device's transfer limit is 64 MiB); GPU_APP names an unpacked one.
if [ -z "${GPU_APP:-}" ]; then
  [ -d .gpu/app ] || { mkdir -p /tmp/app && tar -C /tmp/app -xJf .gpu/app.tar.xz; }
  GPU_APP=$( [ -d .gpu/app ] && echo .gpu/app || echo /tmp/app/app )
fi
dll=$GPU_APP/ReasoningServe.Inference/ReasoningServe.Inference.dll
source tools/gpu/server.sh
max_len=4096; [ -n "${SERVE_LONG_INPUT:-}" ] && max_len=32768
unpack_tokenizer
serve() { # shape port
  local dir=/tmp/$1
  mkdir -p "$dir" && cp "examples/dummy-shapes/$1.json" "$dir/config.json" && cp /tmp/tok/* "$dir/"
  dotnet "$dll" --model "$dir" --served-model-name "$1" --load-format dummy --device cuda --max-model-len "$max_len" \
    --max-num-seqs 64 --port "$2" > "$out/server-$1.log" 2>&1 &
  wait_healthy "$2" $! 240 && return 0
  echo "server for $1 did not come up"; tail -20 "$out/server-$1.log"; return 1
}
bench() { # port shape name args...
  local port=$1 shape=$2 name=$3; shift 3
  dotnet "$dll" bench serve --base-url "http://127.0.0.1:$port" --tokenizer "/tmp/$shape" --ignore-eos --disable-tqdm \
    --result-dir "$out" --result-filename "$name.json" "$@" 2>&1
}
for shape in ${SERVE_SHAPES:-qwen2.5-1.5b qwen2.5-7b}; do
  port=$((9100 + ${#shape}))
  echo "=== $shape"; start=$(date +%s)
  serve "$shape" "$port" || continue
  echo "server up after $(( $(date +%s) - start )) s"
  if [ -n "${SERVE_LONG_INPUT:-}" ]; then
    bench "$port" "$shape" "$shape-single-long" --num-prompts 2 --num-warmups 1 --random-input-len "$SERVE_LONG_INPUT" --random-output-len 256 \
      --max-concurrency 1
    kill %1 2>/dev/null; wait 2>/dev/null
    continue
  fi
  if [ -n "${SERVE_CONCURRENCY:-}" ]; then
    for c in $SERVE_CONCURRENCY; do
      bench "$port" "$shape" "$shape-concurrency-$c" --num-prompts $((2 * c)) --num-warmups "$c" --random-input-len 128 --random-output-len 256 \
        --max-concurrency "$c"
    done
    kill %1 2>/dev/null; wait 2>/dev/null
    continue
  fi
  bench "$port" "$shape" "$shape-single" --num-prompts 4 --num-warmups 1 --random-input-len 128 --random-output-len 256 --max-concurrency 1
  # one stream with Qwen3's thinking-mode sampling, then DeepSeek-R1's (top-p alone), then an OpenAI request's defaults
  # (T 1, nothing truncated): what sample.cu adds to a step that has nothing to hide it
  bench "$port" "$shape" "$shape-single-sampled" --num-prompts 4 --num-warmups 1 --random-input-len 128 --random-output-len 256 \
    --max-concurrency 1 --temperature 0.6 --top-p 0.95 --top-k 20 --seed 2
  bench "$port" "$shape" "$shape-single-sampled-top-p" --num-prompts 4 --num-warmups 1 --random-input-len 128 --random-output-len 256 \
    --max-concurrency 1 --temperature 0.6 --top-p 0.95 --seed 3
  bench "$port" "$shape" "$shape-single-sampled-t1" --num-prompts 4 --num-warmups 1 --random-input-len 128 --random-output-len 256 \
    --max-concurrency 1 --temperature 1 --top-p 1 --seed 4
  if [ "$shape" = qwen2.5-7b ]; then
    bench "$port" "$shape" "$shape-64x1024-512" --num-prompts 64 --num-warmups 2 --random-input-len 1024 --random-output-len 512 --max-concurrency 64
    # Qwen3's recommended thinking-mode sampling, drawn on the GPU (RS_CUDA_SAMPLING=0: by the CPU sampler); other
    # prompts (--seed) than the greedy run's, which the prefix cache would otherwise serve
    bench "$port" "$shape" "$shape-64x1024-512-sampled" --num-prompts 64 --num-warmups 2 --random-input-len 1024 --random-output-len 512 \
      --max-concurrency 64 --temperature 0.6 --top-p 0.95 --top-k 20 --seed 1
  fi
  kill %1 2>/dev/null; wait 2>/dev/null
done
