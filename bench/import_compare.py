#!/usr/bin/env python3
"""Backfill import and bytes on disk: promtui and Debian's promtool 2.42 side by side on
the same OpenMetrics file, in one run.

For each of --runs rounds (default 3) it imports the file with
`promtool tsdb create-blocks-from openmetrics FILE DIR` and with
`promtui tsdb import openmetrics FILE --storage.tsdb.path DIR`, timing each under
/usr/bin/time (wall seconds, peak RSS) and measuring the blocks' bytes on disk. Medians
and promtui/promtool ratios are printed as JSON.

Usage: bench/import_compare.py [--file DATA.om] [--runs 3] [--promtui target/release/promtui]
Without --file, bench/gen_dataset.py generates the realistic 10k-series dataset.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    user = float(re.search(r"User time \(seconds\): (\S+)", out.stderr).group(1))
    sys_ = float(re.search(r"System time \(seconds\): (\S+)", out.stderr).group(1))
    return secs, rss, user + sys_


def block_bytes(root):
    """Bytes of every block directory (a dir holding meta.json) under root."""
    total = 0
    for dp, dns, fns in os.walk(root):
        if "meta.json" in fns:
            for sub, _, files in os.walk(dp):
                total += sum(os.path.getsize(os.path.join(sub, f)) for f in files)
            dns[:] = []
    return total


def count_samples(path):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line and not line.startswith(b"#") and line.strip():
                n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--promtui", default="target/release/promtui")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="import-compare-")
    data = a.file
    if not data:
        data = os.path.join(work, "dataset.om")
        with open(data, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_dataset.py")], stdout=f, check=True)
    samples = count_samples(data)
    size = os.path.getsize(data)
    res = {"promtool": [], "promtui": []}
    for i in range(a.runs):
        for peer in ("promtool", "promtui"):
            out = os.path.join(work, f"{peer}-{i}")
            if peer == "promtool":
                cmd = ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", data, out]
            else:
                cmd = [a.promtui, "--log.level=warn", "tsdb", "import", "openmetrics", data,
                       "--storage.tsdb.path", out]
            secs, rss, cpu = timed(cmd)
            b = block_bytes(out)
            res[peer].append({"seconds": secs, "cpu_seconds": cpu, "peak_rss_kb": rss, "block_bytes": b})
            shutil.rmtree(out, ignore_errors=True)
    med = {}
    for peer, runs in res.items():
        med[peer] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        med[peer]["bytes_per_sample"] = med[peer]["block_bytes"] / samples
        med[peer]["samples_per_second"] = samples / med[peer]["seconds"]
        print(json.dumps({"peer": peer, "runs": runs, "median": med[peer]}))
    p, o = med["promtool"], med["promtui"]
    print(json.dumps({
        "file_bytes": size,
        "samples": samples,
        "ratio_bytes_per_sample": round(o["bytes_per_sample"] / p["bytes_per_sample"], 3),
        "speedup_import_wall": round(p["seconds"] / o["seconds"], 2),
        "ratio_peak_rss": round(o["peak_rss_kb"] / p["peak_rss_kb"], 3),
    }))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
