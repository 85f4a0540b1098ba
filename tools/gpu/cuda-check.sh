#!/bin/bash
# Runs tools/cuda-check on the GPU machine. Here (from the repository root): tools/gpu/cuda-check.sh prepare DEST
#   publishes CudaCheck framework-dependent with this machine's .NET runtime packed beside it, plus the golden models,
#   into DEST (a git-excluded folder of the checkout the device tool sends, e.g. .gpu-cuda), then prints the command
#   to give the device tool (carry DEST).
set -euo pipefail
dest=${2:-.gpu-cuda}
case "${1:-}" in
prepare)
  root=$(git rev-parse --show-toplevel); cd "$root"
  mkdir -p "$dest"
  dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
  [ -f "$dest/dotnet-rt.tar.xz" ] || tar -C "$dn" -cJf "$dest/dotnet-rt.tar.xz" dotnet host shared/Microsoft.NETCore.App shared/Microsoft.AspNetCore.App
  rm -rf "$dest/app/CudaCheck" "$dest/goldens"
  dotnet publish tools/cuda-check/CudaCheck.csproj -c Release -o "$dest/app/CudaCheck" -p:UseAppHost=false >/dev/null
  # Only linux-x64 native assets (SkiaSharp ships every platform's), packed: the device tool carries 64 MiB at most.
  find "$dest/app/CudaCheck/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  tar -C "$dest" -cJf "$dest/app.tar.xz" app && rm -rf "$dest/app"
  mkdir -p "$dest/goldens" && cp -r testdata/goldens/models/* "$dest/goldens/"
  du -sh "$dest"
  echo "device command (carry [\"$dest\"]):"
  echo "mkdir -p /tmp/dn /tmp/cc && tar -C /tmp/dn -xJf $dest/dotnet-rt.tar.xz && tar -C /tmp/cc -xJf $dest/app.tar.xz && export PATH=/tmp/dn:\$PATH DOTNET_ROOT=/tmp/dn LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu RS_CUBIN_CACHE=/tmp/cubin; set -o pipefail; dotnet /tmp/cc/app/CudaCheck/CudaCheck.dll --goldens $dest/goldens 2>&1 | tee \$OUT/cuda-check.log"
  ;;
*) echo "usage: tools/gpu/cuda-check.sh prepare [DEST]" >&2; exit 2 ;;
esac
