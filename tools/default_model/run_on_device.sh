#!/usr/bin/env bash
# The one command for the GPU machine: selftest, smoke run (pipeline end to end in ~1 minute), the real training run,
# then evaluation. Everything that comes back lands in $OUT: default_model.tar (the model folder), eval.json,
# train.log. Wall time is about MINUTES + 3 minutes.
#
#   OUT=/path/to/out tools/default_model/run_on_device.sh [MINUTES=5]
set -euo pipefail
minutes=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:?set OUT to the folder whose files come back}
py=${PYTHON:-python3}
work=$(mktemp -d)
log=$out/train.log
mkdir -p "$out"
step() { echo "=== $(date +%T) $*" | tee -a "$log"; }

step "selftest (pure Python; a failure here is reported but does not stop the run)"
"$py" "$here/selftest.py" --quick 2>&1 | tee -a "$log" || echo "selftest FAILED, continuing" | tee -a "$log"

step "smoke: 20 steps, save, reload, evaluate 12 questions"
"$py" "$here/train.py" --smoke --out "$work/smoke" 2>&1 | tee -a "$log"
"$py" "$here/evaluate.py" --model "$work/smoke" --out "$work/smoke_eval.json" --n 4 --consistency 2 2>&1 | tee -a "$log"

step "train: $minutes minutes"
"$py" "$here/train.py" --minutes "$minutes" --out "$work/default_model" 2>&1 | tee -a "$log"
# The model leaves before evaluation starts, so a run cut off during evaluation still returns it.
tar -C "$work" -cf "$out/default_model.tar" default_model

step "evaluate: 500 held-out questions per task, fp32 and bf16"
"$py" "$here/evaluate.py" --model "$work/default_model" --out "$out/eval.json" --n 500 2>&1 | tee -a "$log"
step "done: $(ls -la "$out" | tail -n +2 | awk '{print $5, $9}' | tr '\n' ' ')"
