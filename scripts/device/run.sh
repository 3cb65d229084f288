#!/usr/bin/env bash
# Runs on the GPU machine (the device tool, with `carry: [".device"]`): measures every prepared request with
# python/headroom_trace/measure.py, records the allocator's history where the plan asks for it, and runs the
# NVML tests the core marks #[ignore]. Results go to $OUT (the device tool's folder), or .device/out.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.device/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1
python3 -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)" \
  >> "$OUT/gpu.csv" 2>&1
: > "$OUT/measured.jsonl"
for req in .device/requests/*.json; do
  id=$(basename "$req" .json)
  history=()
  if grep -q "\"id\": \"$id\", \"history\": true" .device/estimates.jsonl; then
    history=(--history "$OUT/$id.pickle")
  fi
  line=$(timeout 300 python3 -m headroom_trace.measure "$req" --steps 3 "${history[@]}" 2>>"$OUT/stderr.txt" \
    | tail -n 1)
  echo "{\"id\": \"$id\", \"result\": ${line:-null}}" >> "$OUT/measured.jsonl"
  echo "$id: ${line:0:160}"
done
for f in "$OUT"/*.pickle; do [ -e "$f" ] && gzip -f "$f"; done
# The NVML tests, where prepare-nvml.sh left their binary.
if [ -x .device/nvml-tests ]; then
  .device/nvml-tests --ignored --test-threads=1 nvml_ > "$OUT/nvml-tests.txt" 2>&1
  tail -n 3 "$OUT/nvml-tests.txt"
fi
