#!/usr/bin/env bash
# Prepares a GPU session's device check on the development machine (scripts/device/README.md): for each plan of
# scripts/device/plans.json, the trace request the measurement runs and the analytic estimate it is compared with,
# both from headroom-cli, into .device/ (ignored by git; the device tool carries it).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p headroom-cli
cli=target/debug/headroom-cli
rm -rf .device && mkdir -p .device/requests
# A private settings folder: the estimate must not read this machine's calibration.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export XDG_CONFIG_HOME=$home XDG_DATA_HOME=$home
python3 - "$cli" <<'PY'
import json, subprocess, sys
cli = sys.argv[1]
doc = json.load(open("scripts/device/plans.json"))
with open(".device/estimates.jsonl", "w") as out:
    for entry in doc["plans"]:
        plan = json.dumps(entry["plan"])
        run = lambda *args: subprocess.run([cli, "estimate", "--plan", "-", *args], input=plan, text=True,
                                           capture_output=True, check=True).stdout
        with open(f".device/requests/{entry['id']}.json", "w") as f:
            f.write(run("--engine", "trace", "--trace-request", "--no-machine-calibration"))
        g = json.loads(run("--json", "--no-machine-calibration"))["per_gpu"]
        out.write(json.dumps({"id": entry["id"], "history": entry.get("history", False),
                              "allocated_peak_bytes": g["allocated_peak_bytes"],
                              "reserved_peak_bytes": g["reserved_peak_bytes"],
                              "device_peak_bytes": g["device_peak_bytes"],
                              "range": g.get("range")}) + "\n")
print(f"prepared {len(doc['plans'])} plans in .device/")
PY
