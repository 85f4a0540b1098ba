#!/usr/bin/env bash
# One device call for issue 8's numbers (the device machine is released after ~30 s idle, so one call does it all).
# Here: tools/gpu/all.sh prepare  — publishes the server and CudaCheck and packs them with the .NET runtime into .gpu/
# (git-excluded; the device tool carries 64 MiB at most, the repository included, so the golden models are read from
# testdata/ where they are tracked; the Qwen3 tokenizer is not tracked and travels packed).
# There (carry [".gpu"]): tools/gpu/all.sh run [check,check-optin,serve,serve-optin,load,hf,hf-compile,sanitize,boundary,stream,l2-ahead,latency,exchange,sass,trace,serve-trace,ncu]  — writes logs and results to
# $OUT. The -optin parts turn on what is not the default (gemv.cu's fused rmsnorm prologue, which leaves out its qkv
# epilogue, and its wide layout everywhere; programmatic dependent launch's trigger at block exit; the persistent
# one-token step, decode_step.cu) and run the
# OPTIN_SECTIONS of cuda-check (default goldens,compare,realistic; CHECK_SECTIONS picks check's, CHECK_ARGS adds options such
# as --batches 1); check-optin also benchmarks the settings in EACH one (EACH_SECTIONS, default bench; each from EACH_DEFINES, not the caller's RS_CUDA_DEFINES)
# at a time (default: without the qkv epilogue, the trigger at exit, the wide layout for long rows only; a + joins
# variables set together); once an opt-in passes and measures faster, make it the default. Timeouts (CHECK_TIMEOUT 90 s per cuda-check process,
# SERVE_TIMEOUT 150 s, hf 200 s, HF_COMPILE_TIMEOUT 560 s for HF_SHAPES, default 1.5b,7b) bound each part; check,check-optin,serve,serve-optin should fit the 600 s of one call.
set -uo pipefail
case "${1:-}" in
prepare)
  set -e
  root=$(git rev-parse --show-toplevel); cd "$root"
  mkdir -p .gpu .git/info
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
  # xz -9e: the runtime is most of the 64 MiB the device tool carries
  [ -f .gpu/dotnet-rt.tar.xz ] || tar -C "$dn" -cf - dotnet host shared/Microsoft.NETCore.App shared/Microsoft.AspNetCore.App \
    | xz -9e -T0 > .gpu/dotnet-rt.tar.xz
  rm -rf /tmp/gpu-app && mkdir -p /tmp/gpu-app
  dotnet publish ReasoningServe.Inference/ReasoningServe.Inference.csproj -c Release -o /tmp/gpu-app/app/ReasoningServe.Inference -p:UseAppHost=false >/dev/null
  dotnet publish tools/cuda-check/CudaCheck.csproj -c Release -o /tmp/gpu-app/app/CudaCheck -p:UseAppHost=false >/dev/null
  # Only linux-x64 native assets (SkiaSharp ships every platform's), and not Skia's own: on the device the charts of
  # `bench` are not drawn (it says so and keeps the numbers), and without them .gpu with the tokenizer stays well under
  # the 64 MiB the device tool carries with the tracked files (run 25 found it over)
  find /tmp/gpu-app/app/*/runtimes -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  find /tmp/gpu-app/app -name 'libSkiaSharp.so' -o -name 'libHarfBuzzSharp.so' | xargs -r rm -f
  tar -C /tmp/gpu-app -cf - app | xz -9e -T0 > .gpu/app.tar.xz
  tar -C testdata/tokenizers/qwen3 -cJf .gpu/qwen3-tokenizer.tar.xz .
  du -sh .gpu
  ;;
run)
  parts=${2:-check,check-optin,serve,hf}
  out=${OUT:?set OUT}
  # The device tool brings back only a few files: everything also goes into one archive, even if a part times out.
  trap 'tar -C "$out" --exclude=all-results.tar.gz -czf /tmp/all-results.tar.gz . && mv /tmp/all-results.tar.gz "$out/"' EXIT
  # the packed runtime and apps (not needed by the nvcc-only parts: boundary, stream, l2-ahead, latency, exchange, which run without carrying .gpu)
  if [ -f .gpu/dotnet-rt.tar.xz ]; then
    mkdir -p /tmp/dn /tmp/app && tar -C /tmp/dn -xJf .gpu/dotnet-rt.tar.xz && tar -C /tmp/app -xJf .gpu/app.tar.xz
  fi
  export PATH=/tmp/dn:$PATH DOTNET_ROOT=/tmp/dn RS_CUBIN_CACHE=/tmp/cubin
  export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.txt"
  cudacheck=(dotnet /tmp/app/app/CudaCheck/CudaCheck.dll --goldens testdata/goldens/models) # then --only <section>
  if [[ ,$parts, == *trace,* ]]; then # trace and serve-trace: CUPTI's library folder
    cupti_lib=$(dirname "$(find /usr/local/cuda-13.0 -name 'libcupti.so*' | head -1)")
  fi
  optin="RS_CUDA_GEMV_FUSE=norm,silu RS_CUDA_PDL=exit RS_CUDA_GEMV_WIDE=all RS_CUDA_PERSISTENT=1"   # every opt-in at once
  # benchmarked one at a time; a + joins variables set together
  each="${EACH:-RS_CUDA_GEMV_FUSE=silu RS_CUDA_PDL=exit RS_CUDA_GEMV_WIDE=long}"
  check() { # log-name [env...] -- sections: one process per section, so a faulting kernel cannot take the others down
    local log=$1; shift
    local vars=(); while [ "$1" != -- ]; do vars+=("$1"); shift; done; shift
    for section in "$@"; do
      echo "--- $section ${vars[*]}" | tee -a "$out/$log"
      # shellcheck disable=SC2086 # CHECK_ARGS: more options, one word each (--batches 1)
      env "${vars[@]}" timeout "${CHECK_TIMEOUT:-90}" "${cudacheck[@]}" --only "$section" ${CHECK_ARGS:-} 2>&1 | tee -a "$out/$log"
    done
  }
  nvcc_tool() { # name seconds [nvcc options...]: builds tools/gpu/<name>.cu with nvcc and runs it, its output into <name>.log
    local name=$1 seconds=$2; shift 2
    echo "=== $name $*" | tee -a "$out/$name.log"
    PATH=/usr/local/cuda-13.0/bin:$PATH nvcc -O3 -std=c++17 -arch=sm_90 "$@" -o "/tmp/$name" "tools/gpu/$name.cu" \
      && timeout "$seconds" "/tmp/$name" 2>&1 | tee -a "$out/$name.log"
  }
  if [[ ,$parts, == *,check,* ]]; then
    # shellcheck disable=SC2086 # one word per section
    echo "=== cuda-check"; check cuda-check.log -- ${CHECK_SECTIONS:-kernels prefill decode sampling gemv-sweep mma-sweep step-parts decode-step goldens,compare,realistic bench}
  fi
  if [[ ,$parts, == *,check-optin,* ]]; then
    # all opt-ins together for correctness, then the benchmark with each alone (which one helps, which one hurts)
    # shellcheck disable=SC2086 # one word per variable
    echo "=== cuda-check ($optin)"; check cuda-check-optin.log $optin -- ${OPTIN_SECTIONS:-goldens,compare,realistic}
    # shellcheck disable=SC2086 # one word per variable and per section
    # each setting starts from EACH_DEFINES (default none), not the caller's RS_CUDA_DEFINES (which the check part takes):
    # run 24 exported one for the check part and its "defaults" entries silently ran that build
    for one in $each; do check cuda-check-optin.log "RS_CUDA_DEFINES=${EACH_DEFINES:-}" ${one//+/ } -- ${EACH_SECTIONS:-bench}; done
  fi
  if [[ ,$parts, == *,serve,* ]]; then
    echo "=== serve_bench"; GPU_APP=/tmp/app/app timeout ${SERVE_TIMEOUT:-150} tools/gpu/serve_bench.sh 2>&1 | tee "$out/serve_bench.log"
  fi
  if [[ ,$parts, == *,serve-optin,* ]]; then
    mkdir -p "$out/optin"
    echo "=== serve_bench ($optin)"; env $optin OUT="$out/optin" GPU_APP=/tmp/app/app timeout ${SERVE_TIMEOUT:-150} tools/gpu/serve_bench.sh 2>&1 | tee "$out/optin/serve_bench.log"
  fi
  if [[ ,$parts, == *,load,* ]]; then
    echo "=== load_bench"; GPU_APP=/tmp/app/app timeout "${LOAD_TIMEOUT:-240}" tools/gpu/load_bench.sh 2>&1 | tee "$out/load_bench.log"
  fi
  if [[ ,$parts, == *,stream,* ]]; then
    # weight-streaming rates of one block an SM against gemv.cu's wide grids (tools/gpu/persistent_stream.cu)
    nvcc_tool persistent_stream 120
  fi
  if [[ ,$parts, == *,l2-ahead,* ]]; then
    # gate_up's weights fetched into L2 while a stand-in for attention holds the step (tools/gpu/l2_ahead.cu)
    # (L2_AHEAD_DEFINES: -D options for more builds, one a word; the backend's weight loads are the first build's)
    # shellcheck disable=SC2086 # one -D option a word
    for defines in "" ${L2_AHEAD_DEFINES:-}; do nvcc_tool l2_ahead 180 $defines; done
  fi
  if [[ ,$parts, == *,exchange,* ]]; then
    # the fused launch's row exchange (a barrier and reload, flagged words, the count alone) with and without a paced
    # bulk-copy stream on the same SMs (tools/gpu/exchange_under_stream.cu)
    nvcc_tool exchange_under_stream 120
  fi
  if [[ ,$parts, == *,latency,* ]]; then
    # a dependent load's latency (L2, DRAM, distributed and local shared memory) while other SMs stream weights
    nvcc_tool latency_under_stream 120
  fi
  if [[ ,$parts, == *,boundary,* ]]; then
    # a chain of one-token GEMVs by itself: the PDL hand-over, and the backend's gemv.cu kernels against a plain one
    nvcc_tool kernel_boundary 120
  fi
  if [[ ,$parts, == *,trace,* ]]; then
    # a CUPTI trace of one-token decode steps (cuda-check's trace-steps), per setting in TRACE_EACH (default: the defaults;
    # a + joins variables): which kernel holds up the step (tools/gpu/kernel_trace.py)
    echo "=== kernel trace"
    include=$(dirname "$(find /usr/local/cuda-13.0 -name cupti_activity.h | head -1)")
    newest() { grep -ho "$1[0-9]*\b" "$include"/cupti_activity*.h | sort -V | tail -1; }
    nvcc -shared -Xcompiler -fPIC -DKERNEL_RECORD="$(newest CUpti_ActivityKernel)" -DMEMCPY_RECORD="$(newest CUpti_ActivityMemcpy)" \
      -I"$include" -L"$cupti_lib" -lcupti -o /tmp/kernel_trace.so tools/gpu/kernel_trace.cpp 2>&1 | tee "$out/kernel_trace_build.log"
    for one in ${TRACE_EACH:-defaults}; do
      [ "$one" = defaults ] && one=
      name=${one:-defaults}; name=${name//[^A-Za-z0-9_.-]/_}
      # shellcheck disable=SC2086 # one word per variable and per option (CHECK_ARGS: --prompts 128,32000)
      env ${one//+/ } LD_LIBRARY_PATH="$cupti_lib:$LD_LIBRARY_PATH" KERNEL_TRACE_OUT="/tmp/trace-$name.csv" CUDA_INJECTION64_PATH=/tmp/kernel_trace.so \
        timeout "${CHECK_TIMEOUT:-90}" "${cudacheck[@]}" --only trace-steps ${CHECK_ARGS:-} 2>&1 | tee -a "$out/kernel_trace.log"
      echo "--- $name" | tee -a "$out/kernel_trace.log"
      python3 tools/gpu/kernel_trace.py "/tmp/trace-$name.csv" 2>&1 | tee -a "$out/kernel_trace.log"
      xz -T0 -c "/tmp/trace-$name.csv" > "$out/trace-$name.csv.xz"
    done
  fi
  if [[ ,$parts, == *,serve-trace,* ]]; then
    # the server under the same tracer (build it with the trace part first): the GPU's idle time between the server's steps
    echo "=== serve trace"; CUPTI_LIB=$cupti_lib GPU_APP=/tmp/app/app timeout "${SERVE_TIMEOUT:-150}" tools/gpu/serve_trace.sh 2>&1 | tail -40
  fi
  if [[ ,$parts, == *,ncu,* ]]; then
    # Nsight Compute's counters (where the machine's runtime lets it read them) for the kernels of a cuda-check section,
    # by default decode attention in attention-sweep with one timed launch a configuration (RS_SWEEP_RUNS): why its warps
    # stall (WarpStateStats), how busy the schedulers and memory are. NCU_KERNELS (a name regex), NCU_SECTION, NCU_COUNT
    # (launches profiled) and NCU_TIMEOUT pick.
    ncu_bin=$(command -v ncu || find /usr/local/cuda-13.0 /opt/nvidia -name ncu -type f 2>/dev/null | head -1)
    echo "=== ncu ($ncu_bin)"
    RS_SWEEP_RUNS=${RS_SWEEP_RUNS:-1} timeout "${NCU_TIMEOUT:-400}" "$ncu_bin" --clock-control none --kernel-name "regex:${NCU_KERNELS:-^decode_attention}" \
      --launch-count "${NCU_COUNT:-200}" --section SpeedOfLight --section WarpStateStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis --section Occupancy "${cudacheck[@]}" --only "${NCU_SECTION:-attention-sweep}" > "$out/ncu.log" 2>&1
    echo "exit $?" >> "$out/ncu.log"
    grep -E "^  [a-z_0-9]+\(|decode_attention|Stall|Warp Cycles|Issued|Throughput|DRAM|exit" "$out/ncu.log" | head -120
  fi
  if [[ ,$parts, == *,sass,* ]]; then
    # each kernel's machine code (nvcc 13, sm_90): the global loads it issues before its first PDL wait
    echo "=== loads before the wait"
    for f in ReasoningServe.Inference/Backends/Cuda/Kernels/*.cu; do
      [ "$(basename "$f")" = decode_step.cu ] && continue # built per model shape (its macros)
      nvcc -cubin -arch=sm_90 -std=c++17 -o /tmp/kernel.cubin "$f" && cuobjdump -sass /tmp/kernel.cubin | python3 tools/gpu/loads_before_wait.py
    done 2>&1 | tee "$out/loads-before-wait.txt"
  fi
  if [[ ,$parts, == *,hf,* ]]; then
    echo "=== hf_bench"; timeout 200 python3 tools/gpu/hf_bench.py --out "$out/hf_bench.json" --shapes 1.5b,7b 2>&1 | grep -v Warning | tee "$out/hf_bench.log"
  fi
  if [[ ,$parts, == *,hf-compile,* ]]; then
    # transformers' fastest documented generate settings (static cache + torch.compile): compiling takes minutes, so
    # give it a call of its own
    echo "=== hf_bench --compile"; timeout "${HF_COMPILE_TIMEOUT:-560}" python3 tools/gpu/hf_bench.py --out "$out/hf_bench_compile.json" --shapes "${HF_SHAPES:-1.5b,7b}" --compile 2>&1 \
      | grep -v Warning | tee "$out/hf_bench_compile.log"
  fi
  if [[ ,$parts, == *,sanitize,* ]]; then
    # compute-sanitizer (where the machine's runtime lets it see the device) over cuda-check sections: out-of-bounds and
    # misaligned accesses (memcheck), shared-memory hazards (racecheck), barrier misuse (synccheck); SANITIZE_TOOLS and
    # SANITIZE_SECTIONS pick, SANITIZE_TIMEOUT bounds each run (the tools slow kernels 10-100x)
    for tool in ${SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
      for section in ${SANITIZE_SECTIONS:-kernels decode sampling}; do
        # the whole report in its own file; sanitize.log gets each distinct hazard or error line once, with its count
        full="$out/sanitize-$tool-${section//,/-}.log"
        echo "--- compute-sanitizer --tool $tool: $section (all of it: $(basename "$full"))" | tee -a "$out/sanitize.log"
        timeout "${SANITIZE_TIMEOUT:-120}" compute-sanitizer --tool "$tool" --print-limit 100 --error-exitcode 9 \
          "${cudacheck[@]}" --only "$section" ${CHECK_ARGS:-} > "$full" 2>&1
        echo "exit $?" >> "$full"
        grep -E '^=========  *(Warning|Error|Invalid|and |ERROR SUMMARY|RACECHECK SUMMARY)|passed|^exit' "$full" | sort | uniq -c | sort -rn | head -40 \
          | tee -a "$out/sanitize.log"
      done
    done
  fi
  ;;
*) echo "usage: tools/gpu/all.sh prepare | run [check,check-optin,serve,serve-optin,load,hf,hf-compile,sanitize,boundary,stream,l2-ahead,latency,exchange,sass,trace,serve-trace,ncu]" >&2; exit 2 ;;
esac
