#!/usr/bin/env bash
# Sets up and runs the whole app locally: Redis, the inference replica(s) on the default model, the OpenAI Api front on
# http://localhost:8000. Extra arguments go to the AppHost (e.g. --config examples/serve_qwq_32b.yaml, --port 9000).
set -euo pipefail
cd "$(dirname "$0")"
tools/setup.sh
dotnet build ReasoningServe.sln -c Release -v quiet -nologo
exec dotnet run --no-build -c Release --project ReasoningServe.AppHost -- "$@"
