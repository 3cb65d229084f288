#!/usr/bin/env bash
# Optional step of a GPU session's device check (scripts/device/README.md): builds the core's test binary, which
# holds the #[ignore]d NVML tests, in release mode and stripped, into .device/nvml-tests for run.sh. The device
# machine has no Rust toolchain; this machine's x86-64 binary runs there.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device
bin=$(cargo test --release -q -p headroom-core --test core --no-run --message-format=json \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "core":
        print(m["executable"])')
strip -o .device/nvml-tests "$bin"
ls -l .device/nvml-tests
