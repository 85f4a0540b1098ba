#!/usr/bin/env bash
# Builds every kernel of Backends/Cuda/Kernels to a CUBIN for sm_90 on this machine, which has no GPU: NVRTC 11.8 from
# Debian's non-free packages (libnvrtc11.2, libnvrtc-builtins11.8, and nvidia-cuda-dev for the headers), extracted into
# NVRTC_DIR (default /opt/cuda118) rather than installed, since an installed libnvrtc would change the tests that expect
# no CUDA here. Then the unit test that compiles each kernel through KernelCompiler runs against it instead of skipping.
# The device machine's NVRTC is 13: this catches what does not compile, not how ptxas 13 schedules it.
#   tools/gpu/nvrtc-here.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
dir=${NVRTC_DIR:-/opt/cuda118}
lib=$dir/usr/lib/x86_64-linux-gnu
if [ ! -f "$lib/libnvrtc.so.11.2" ] || [ ! -f "$dir/usr/include/cuda_bf16.h" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm non-free" > "$tmp/non-free.list"
  apt=(apt-get -qq -o Dir::Etc::sourcelist="$tmp/non-free.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$tmp/lists")
  "${apt[@]}" update
  (cd "$tmp" && "${apt[@]}" download libnvrtc11.2 libnvrtc-builtins11.8 nvidia-cuda-dev)
  mkdir -p "$dir"
  for deb in "$tmp"/libnvrtc*.deb; do dpkg-deb -x "$deb" "$dir"; done
  dpkg-deb --fsys-tarfile "$tmp"/nvidia-cuda-dev_*.deb | tar -x -C "$dir" --wildcards './usr/include/*'
fi
LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} CUDA_HOME=$dir/usr \
  dotnet test ReasoningServe.Tests/ReasoningServe.Tests.csproj --filter "FullyQualifiedName~Every_kernel_compiles_to_cubin_with_nvrtc"
