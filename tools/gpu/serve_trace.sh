#!/usr/bin/env bash
# On the GPU machine: the server on the CUDA backend (dummy weights, Qwen2.5-1.5B shape) under tools/gpu/kernel_trace
# (CUPTI), serving one stream of greedy requests as serve_bench.sh's single-stream run does, so that
# tools/gpu/kernel_trace.py shows how long the GPU waits between a step's argmax and the next step while the server runs
# (the tracer slows the host too: compare with the bench's host-driven steps traced the same way). Expects
# /tmp/kernel_trace.so (all.sh run trace builds it), CUPTI's library folder (CUPTI_LIB) and the published app (GPU_APP);
# writes server-trace.log and the trace's analysis to $OUT. tools/gpu/all.sh run trace,serve-trace sets them.
#   CUPTI_LIB=... GPU_APP=/tmp/app/app tools/gpu/serve_trace.sh
set -uo pipefail
out=${OUT:?set OUT}
dll=${GPU_APP:?set GPU_APP}/ReasoningServe.Inference/ReasoningServe.Inference.dll
lib=${CUPTI_LIB:?set CUPTI_LIB}
source tools/gpu/server.sh
unpack_tokenizer
shape=qwen2.5-1.5b port=9300 dir=/tmp/trace-$shape
mkdir -p "$dir" && cp "examples/dummy-shapes/$shape.json" "$dir/config.json" && cp /tmp/tok/* "$dir/"
LD_LIBRARY_PATH="$lib:$LD_LIBRARY_PATH" KERNEL_TRACE_OUT=/tmp/server-trace.csv CUDA_INJECTION64_PATH=/tmp/kernel_trace.so \
  dotnet "$dll" --model "$dir" --served-model-name "$shape" --load-format dummy --device cuda --max-model-len 4096 --port "$port" \
  > "$out/server-trace.log" 2>&1 &
server=$!
if wait_healthy "$port" "$server" 240; then
  dotnet "$dll" bench serve --base-url "http://127.0.0.1:$port" --tokenizer "$dir" --ignore-eos --disable-tqdm --result-dir /tmp \
    --result-filename trace-bench.json --num-prompts 4 --num-warmups 1 --random-input-len 128 --random-output-len 256 --max-concurrency 1 2>&1 \
    | grep -E "TPOT|Output token throughput" | tee -a "$out/server-trace.log"
fi
kill -TERM "$server"; wait "$server" # a clean exit flushes the trace
python3 tools/gpu/kernel_trace.py /tmp/server-trace.csv 2>&1 | tee "$out/server-trace-analysis.txt"
