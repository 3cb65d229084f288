#!/usr/bin/env python3
"""Compares a GPU session's measurements (scripts/device/run.sh) with the analytic estimates prepare.sh wrote:
each plan's allocated and reserved peaks, whether the measurement lies inside the estimate's band, and for each
'-fixed'/'-records' pair what the changing lengths stranded against what the engine expected (docs/estimator.md
§10.3). Usage: compare.py [MEASURED.jsonl] [ESTIMATES.jsonl]; the defaults are .device's."""

import json
import sys

GIB = 1 << 30


def load(path):
    with open(path, encoding="utf-8") as f:
        return {row["id"]: row for row in (json.loads(line) for line in f if line.strip())}


def rows(measured, estimates):
    """One dict per plan measured: the figures, the signed errors and whether each lies in its band."""
    out = []
    for pid, m in sorted(measured.items()):
        r, e = m.get("result") or {}, estimates.get(pid)
        if e is None or r.get("event") != "measured" or "reserved_peak_bytes" not in r:
            out.append({"id": pid, "error": r.get("message", "no measurement") if e else "no estimate"})
            continue
        row = {"id": pid}
        for total in ("allocated_peak_bytes", "reserved_peak_bytes"):
            band = (e.get("range") or {}).get(total) or {}
            row[total] = {
                "measured": r[total],
                "estimated": e[total],
                "error": e[total] / r[total] - 1,
                "in_band": band.get("low", 0) <= r[total] <= band.get("high", float("inf")),
            }
        out.append(row)
    return out


def stranding(measured, estimates):
    """For each plan measured at one length and at the reference lengths: reserved bytes the lengths added."""
    out = []
    for pid in sorted(measured):
        if not pid.endswith("-fixed"):
            continue
        base = pid[: -len("-fixed")]
        other = f"{base}-records"
        try:
            m = [measured[p]["result"]["reserved_peak_bytes"] for p in (pid, other)]
            e = [estimates[p]["reserved_peak_bytes"] for p in (pid, other)]
        except (KeyError, TypeError):
            continue
        out.append({"plan": base, "measured": m[1] - m[0], "estimated": e[1] - e[0]})
    return out


def main(argv):
    measured = load(argv[1] if len(argv) > 1 else ".device/out/measured.jsonl")
    estimates = load(argv[2] if len(argv) > 2 else ".device/estimates.jsonl")
    for row in rows(measured, estimates):
        if "error" in row:
            print(f"{row['id']:<40} {row['error']}")
            continue
        cells = []
        for total, label in (("allocated_peak_bytes", "allocated"), ("reserved_peak_bytes", "reserved")):
            c = row[total]
            cells.append(f"{label} {c['measured'] / GIB:7.2f} GiB est {c['estimated'] / GIB:7.2f} "
                         f"{c['error'] * 100:+6.1f}%{'' if c['in_band'] else ' OUT'}")
        print(f"{row['id']:<40} " + "  ".join(cells))
    for s in stranding(measured, estimates):
        print(f"stranded by the reference lengths, {s['plan']:<32} measured {s['measured'] / GIB:6.2f} GiB, "
              f"the engine {s['estimated'] / GIB:6.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
