# Sourced by the GPU scripts run from the repository root: the Qwen3 tokenizer unpacked once, and waiting for a server.

unpack_tokenizer() { # tokenizer.json and tokenizer_config.json into /tmp/tok (all.sh prepare packed them)
  mkdir -p /tmp/tok && { [ -f /tmp/tok/tokenizer.json ] || tar -C /tmp/tok -xJf .gpu/qwen3-tokenizer.tar.xz; }
}

wait_healthy() { # port pid seconds: 0 once /health answers; 1 when the server exits (no point waiting) or time runs out
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    curl -sf "localhost:$1/health" >/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
