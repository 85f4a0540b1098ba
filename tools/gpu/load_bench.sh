#!/usr/bin/env bash
# On the GPU machine: how long the server takes to load real safetensors in the Qwen2.5-7B shape onto the GPU (issue 8:
# "a 7B model loads in seconds, not minutes"). transformers writes a random bf16 model from examples/dummy-shapes/ as
# safetensors shards; the server then starts on it with --device cuda, and its start-up report gives the load time
# (mapping the files, streaming them through pinned buffers to the GPU). Once with the files in the page cache (just
# written), once after dropping it where the machine allows. Expects the published app (GPU_APP) and .gpu/ from
# all.sh prepare; all.sh tees what it prints to $OUT/load_bench.log.
set -uo pipefail
dll=${GPU_APP:?set GPU_APP}/ReasoningServe.Inference/ReasoningServe.Inference.dll
dir=/tmp/load-qwen2.5-7b
source tools/gpu/server.sh
unpack_tokenizer
start=$(date +%s)
python3 - "$dir" <<'PY' 2>&1 | grep -v Warning
import json, sys, torch, transformers
config = transformers.Qwen2Config(**json.load(open("examples/dummy-shapes/qwen2.5-7b.json")))
with torch.device("cuda"):
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
model.save_pretrained(sys.argv[1], safe_serialization=True, max_shard_size="4GB")
print("wrote", sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30, "GiB of weights")
PY
cp /tmp/tok/* "$dir/"
echo "model written in $(( $(date +%s) - start )) s"; du -sh "$dir"
load() { # label
  local port=9200 begin; begin=$(date +%s.%N)
  dotnet "$dll" --model "$dir" --served-model-name load --device cuda --max-model-len 4096 --port $port > "/tmp/load-$1.log" 2>&1 &
  local pid=$!
  if ! wait_healthy $port $pid 240; then echo "$1: did not come up"; tail -20 "/tmp/load-$1.log"; kill $pid 2>/dev/null; return; fi
  echo "$1: healthy after $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $begin }") s (process start to /health, kernels from the cubin cache when warm)"
  grep -A1 "ReasoningServe.Inference.Startup" "/tmp/load-$1.log" | grep -v "^--\|Startup\[" | sed 's/^ */  /'
  kill $pid; wait $pid 2>/dev/null
}
load page-cache
if sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then load cold; else echo "cold: page cache could not be dropped here"; fi
