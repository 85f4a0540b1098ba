# syntax=docker/dockerfile:1
# The inference server on CUDA: `docker build -f docker/inference.Dockerfile .` from the repository root (the build
# context: the build needs ServiceDefaults and the model folder as well as the project).
#   docker run --gpus all -p 8080:8080 reasoningserve-inference          # serves models/default on :8080
#   docker build --build-arg MODEL_DIR=models/other ...                  # bakes another folder of the repository in
# azd builds it from aspire-manifest.json (resource `inference`, container.v1), which passes the same flags as args.

ARG CUDA_VERSION=13.0.0
ARG UBUNTU_VERSION=24.04

# Build: restore first (cached while only sources change), then publish framework-dependent.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props ./
COPY ReasoningServe.ServiceDefaults/ReasoningServe.ServiceDefaults.csproj ReasoningServe.ServiceDefaults/
COPY ReasoningServe.Inference/ReasoningServe.Inference.csproj ReasoningServe.Inference/
RUN dotnet restore ReasoningServe.Inference/ReasoningServe.Inference.csproj
COPY ReasoningServe.ServiceDefaults/ ReasoningServe.ServiceDefaults/
COPY ReasoningServe.Inference/ ReasoningServe.Inference/
RUN dotnet publish ReasoningServe.Inference/ReasoningServe.Inference.csproj -c Release --no-restore -o /app -p:UseAppHost=false

# The ASP.NET Core runtime, taken from Microsoft's image of the same Ubuntu release as the CUDA image (glibc, ICU and
# OpenSSL versions then match the packages installed below).
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS dotnet

# Runtime: NVIDIA's CUDA runtime image carries libcudart, libnvrtc.so.13 and libcublas/libcublasLt.so.13, which the
# backend loads (Backends/Cuda/Native/CudaLibraries.cs). libcuda.so.1 is not in any image: the NVIDIA container
# toolkit mounts the host driver's at run time (--gpus, or a GPU workload profile on Container Apps).
FROM docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS final
ARG CUDA_VERSION
# Kernels are compiled at start-up by NVRTC, and they #include <cuda_bf16.h> (Backends/Cuda/Kernels/common.cuh): the
# runtime image has no headers, so the CUDA runtime's development headers (cuda_bf16.h, vector_types.h, and the crt/
# headers they include, plus CCCL's, which the fp16/bf16 headers may pull in) are added from the CUDA apt repository
# the image is already configured with: headers only, instead of the -devel image's compilers and static libraries. The .NET runtime needs ICU (globalization stays
# on: tokenizers normalise to NFC), OpenSSL, tzdata and CA certificates.
RUN set -eux; \
    cuda_pkg="$(echo "${CUDA_VERSION}" | cut -d. -f1,2 | tr . -)"; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "cuda-cudart-dev-${cuda_pkg}" "cuda-crt-${cuda_pkg}" "cuda-cccl-${cuda_pkg}" \
        ca-certificates libicu74 libssl3t64 tzdata; \
    rm -rf /var/lib/apt/lists/*; \
    cuda_root="/usr/local/cuda-$(echo "${CUDA_VERSION}" | cut -d. -f1,2)"; \
    [ -e /usr/local/cuda ] || ln -s "${cuda_root}" /usr/local/cuda; \
    test -f /usr/local/cuda/include/cuda_bf16.h; \
    ls /usr/local/cuda/lib64/libnvrtc.so.* /usr/local/cuda/lib64/libcublas.so.* /usr/local/cuda/lib64/libcublasLt.so.*; \
    groupadd --gid 1654 app; \
    useradd --uid 1654 --gid app --create-home --home-dir /home/app app
COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet

ARG MODEL_DIR=models/default
WORKDIR /app
COPY --from=build /app ./
COPY ${MODEL_DIR}/ /app/model/

# The server reads these as Inference:* settings; command-line flags (the manifest's args) override them. It binds
# Inference:Host/Port itself, so this port, EXPOSE and the manifest's targetPort are one number (a test checks).
ENV DOTNET_ROOT=/usr/share/dotnet \
    CUDA_HOME=/usr/local/cuda \
    RS_CUBIN_CACHE=/home/app/.cache/reasoningserve/cubin \
    Inference__Model=/app/model \
    Inference__Host=0.0.0.0 \
    Inference__Port=8080
EXPOSE 8080
USER app
ENTRYPOINT ["dotnet", "ReasoningServe.Inference.dll"]
CMD ["--served-model-name", "reasoningserve-default", "--reasoning-parser", "deepseek_r1", "--device", "auto"]
