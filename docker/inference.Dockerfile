# The inference server for NVIDIA GPUs (the manifest's `inference`, a container.v1 built from the repository root).
# The CUDA backend loads libcuda.so.1 (from the host driver, through the NVIDIA container runtime), libnvrtc and
# libcublas/libcublasLt (CUDA runtime image), and compiles its kernels at start-up with NVRTC, which needs the CUDA headers
# (cuda_bf16.h): those come from cuda-nvrtc-dev and cuda-cudart-dev rather than the much larger -devel image.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish ReasoningServe.Inference/ReasoningServe.Inference.csproj -c Release -r linux-x64 --self-contained false \
        -p:UseAppHost=false -o /app

FROM nvidia/cuda:13.0.0-runtime-ubuntu24.04
RUN apt-get update \
    && apt-get install -y --no-install-recommends libicu74 cuda-nvrtc-dev-13-0 cuda-cudart-dev-13-0 \
    && rm -rf /var/lib/apt/lists/*
# The ASP.NET Core runtime, taken whole from Microsoft's image.
COPY --from=mcr.microsoft.com/dotnet/aspnet:10.0 /usr/share/dotnet /usr/share/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet PATH=/usr/share/dotnet:$PATH CUDA_HOME=/usr/local/cuda \
    RS_CUBIN_CACHE=/tmp/reasoningserve-cubin
WORKDIR /app
COPY --from=build /app .
COPY models/default models/default
EXPOSE 8000
ENTRYPOINT ["dotnet", "ReasoningServe.Inference.dll"]
CMD ["--model", "models/default", "--served-model-name", "reasoningserve-default", "--reasoning-parser", "deepseek_r1", \
     "--host", "0.0.0.0", "--port", "8000", "--device", "auto"]
