#!/usr/bin/env python3
"""Where a cheap query's time goes: the HTTP round trip of promtui and Prometheus over
time, for the queries whose latency is mostly transport (absent, vector(1)) and for
/api/v1/status/buildinfo, which evaluates nothing.

On a small VM the round trip of a request that costs the server a few microseconds is set
by where the kernel runs the server's thread. Run on the client's CPU, a request costs no
cross-CPU wake-up; run on the other CPU, it costs two, and when idle vCPUs halt at once
(cpuidle haltpoll with guest_halt_poll_ns 0) each is an exit to the hypervisor, tens of
microseconds. The kernel keeps the server on the client's CPU only while the other CPU is
busy, as Go's spinning scheduler threads keep it for Prometheus; promtui's idle threads
sleep. This script prints one line a round (--per runs of 10 requests per query and server,
alternating), so the switches between the two placements show as steps in promtui's
column while its buildinfo and absent columns move together.

Usage: bench/round_trip_modes.py [--file DATA.om] [--rounds 20] [--per 10]
       [--promtui target/release/promtui]
Without --file the servers start on empty data directories, which is enough: absent of a
missing metric reads no samples either way.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import query_compare as qc  # noqa: E402

REQUESTS = [
    ("absent", "/api/v1/query",
     {"query": 'absent(nonexistent_metric{job="x"})', "time": qc.INSTANT_T}),
    ("vector1", "/api/v1/query", {"query": "vector(1)", "time": qc.INSTANT_T}),
    ("buildinfo", "/api/v1/status/buildinfo", {}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--promtui", default=os.path.join(qc.ROOT, "target/release/promtui"))
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="round_trip_modes_")
    procs = []
    try:
        cfg = os.path.join(work, "empty.yml")
        with open(cfg, "w") as f:
            f.write("global: {}\n")
        pdir, tdir = os.path.join(work, "prom"), os.path.join(work, "promtui")
        if args.file:
            subprocess.run([args.promtool, "tsdb", "create-blocks-from", "openmetrics",
                            args.file, pdir], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([args.promtui, "tsdb", "import", "openmetrics", args.file,
                            f"--storage.tsdb.path={tdir}", "--storage.tsdb.retention.time=0"],
                           check=True, stdout=subprocess.DEVNULL)
        (prom, purl), (tui, turl) = qc.start_servers(args, cfg, pdir, tdir, procs)
        servers = [("prometheus", purl, prom), ("promtui", turl, tui)]
        for who, base, proc in servers:
            for _, path, params in REQUESTS:
                for _ in range(20):
                    qc.call(base, path, params)

        print(f"idle policy: {qc.idle_policy()}; {os.cpu_count()} CPUs")
        print("median round trip per round, microseconds")
        short = {"prometheus": "prom", "promtui": "tui"}
        head = "  ".join(f"{short[who] + '_' + name:>14}" for who, _, _ in servers for name, _, _ in REQUESTS)
        print(f"round  {head}")
        for r in range(args.rounds):
            samples = {(who, name): [] for who, _, _ in servers for name, _, _ in REQUESTS}
            for _ in range(args.per):
                for name, path, params in REQUESTS:
                    for who, base, _ in servers:
                        samples[(who, name)].extend(
                            qc.call(base, path, params)[0] for _ in range(10))
            cells = "  ".join(f"{statistics.median(samples[(who, name)]) * 1e6:>14.0f}"
                              for who, _, _ in servers for name, _, _ in REQUESTS)
            print(f"{r:>5}  {cells}", flush=True)
    finally:
        qc.stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
