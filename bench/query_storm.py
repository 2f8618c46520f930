#!/usr/bin/env python3
"""Query storm: peak memory of promtui (and optionally Debian's Prometheus 2.42) while
--clients concurrent heavy range queries hit it at once, on the storage issue's
10k-series dataset (bench/gen_dataset.py: 50 targets x 200 series, 2 h at 15 s).

Steps: generate the OpenMetrics file (unless --file), load it into a promtui data
directory with `promtui tsdb import openmetrics` (and, with --prometheus, backfill a
Prometheus one with `promtool tsdb create-blocks-from openmetrics`), start each server
on a free loopback port with an empty scrape config (query_compare's helpers), warm it
up with one query of each kind, reset the kernel's peak-RSS mark (/proc/PID/clear_refs),
then release --clients threads at once, each sending one range query over the second
hour at --step (default 15 s: 241 steps) through its own connection, cycling through
STORM_QUERIES (rates summed over every counter and over every series, and
histogram_quantile over all buckets). A sampler reads VmRSS every 20 ms; the reported
peak is the kernel's VmHWM after the storm. Prints, per server: RSS before, peak RSS,
wall time of the storm, answers by status/errorType and the median/max latency.

The machine is shared: a server whose RSS passes --rss-cap-mb (default 12 GiB) is killed
by the sampler rather than left to the kernel's OOM killer (which may pick another
process); its peak is then reported as ">cap".

The servers answer one storm after the other, never at the same time, so they do not
compete for the CPU. Prometheus 2.42 answers sum_rate_all with an execution error
("vector cannot contain metrics with the same labelset": 2.x drops the metric name before
aggregating, 3.x and promtui after), so a quarter of its answers are errors.

Figures (2 vCPUs shared with other builds, 10k series, 200 clients, 1 h at 15 s):
  promtui before --query.max-concurrency:  peak 7346 MB, storm 8.8 s, 200 success
  promtui with the default of 20:          peak 1733 MB, storm 18.5 s, 200 success
  prometheus 2.42 (its default 20):        peak 1418-1507 MB, storm 38-50 s

Usage: bench/query_storm.py [--file DATA.om] [--clients 200] [--step 15s] [--rss-cap-mb 12288]
       [--promtui target/release/promtui] [--promtui-arg=--query.max-concurrency=20 ...]
       [--prometheus /usr/bin/prometheus] [--json OUT.json]
"""
import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import query_compare as qc  # noqa: E402

# query_compare's range: the second hour, off the 15 s sample grid by 7 s.
RANGE_START = qc.RANGE_START
RANGE_END = qc.RANGE_END

STORM_QUERIES = [
    ("sum_rate_counters", 'sum by (job) (rate({__name__=~".+_total"}[5m]))'),
    ("histogram_quantile",
     "histogram_quantile(0.99, sum by (le, job, handler) "
     "(rate(http_request_duration_seconds_bucket[5m])))"),
    ("sum_rate_all", 'sum by (job) (rate({__name__=~".+"}[5m]))'),
    ("sum_by_code", "sum by (job, code) (rate(http_requests_total[5m]))"),
]


def start(argv, url, what, procs):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    qc.wait_ready(url, p, what)
    return p


def one_query(base, params, timeout):
    """One range query over its own connection: (seconds, outcome) where outcome is
    "success" or the API's errorType (or the transport error's class)."""
    url = base + "/api/v1/query_range?" + urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
        outcome = json.loads(body).get("status", "?")
    except urllib.error.HTTPError as e:
        try:
            outcome = json.loads(e.read()).get("errorType", f"http {e.code}")
        except ValueError:
            outcome = f"http {e.code}"
    except OSError as e:
        outcome = type(e).__name__
    return time.perf_counter() - t0, outcome


def storm(base, pid, clients, step, timeout, cap_kb):
    """Fires `clients` range queries at once; returns the figures of the storm."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    before = qc.proc_status_kb(pid, "VmRSS")
    results = [None] * clients
    go = threading.Barrier(clients + 1)

    def client(i):
        name, q = STORM_QUERIES[i % len(STORM_QUERIES)]
        params = {"query": q, "start": RANGE_START, "end": RANGE_END, "step": step}
        go.wait()
        results[i] = one_query(base, params, timeout)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    samples = []
    done = threading.Event()
    killed = []

    def sampler():
        while not done.is_set():
            try:
                rss = qc.proc_status_kb(pid, "VmRSS")
            except OSError:
                return
            samples.append(rss)
            if rss > cap_kb and not killed:
                os.kill(pid, 9)
                killed.append(rss)
            time.sleep(0.02)

    s = threading.Thread(target=sampler, daemon=True)
    s.start()
    go.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done.set()
    s.join()
    try:
        peak = qc.proc_status_kb(pid, "VmHWM")
    except OSError:
        peak = 0
    lat = [r[0] for r in results]
    return {
        "rss_before_kb": before,
        "peak_kb": peak,
        "sampled_peak_kb": max(samples) if samples else 0,
        "killed_at_cap": bool(killed),
        "seconds": round(wall, 2),
        "outcomes": dict(collections.Counter(r[1] for r in results)),
        "median_s": round(statistics.median(lat), 2),
        "max_s": round(max(lat), 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--step", default="15s")
    ap.add_argument("--rss-cap-mb", type=int, default=12288)
    ap.add_argument("--timeout", type=float, default=600, help="client timeout, seconds")
    ap.add_argument("--promtui", default=os.path.join(qc.ROOT, "target/release/promtui"))
    ap.add_argument("--promtui-arg", action="append", default=[],
                    help="extra flag for `promtui serve` (repeatable)")
    ap.add_argument("--prometheus", help="also storm this Prometheus binary, e.g. /usr/bin/prometheus")
    ap.add_argument("--prometheus-arg", action="append", default=[],
                    help="extra flag for prometheus (repeatable)")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--json")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="query_storm_")
    procs = []
    out = {"clients": args.clients, "step": args.step,
           "queries": [q for _, q in STORM_QUERIES], "servers": {}}
    try:
        data = args.file
        if not data:
            data = os.path.join(work, "data.om")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_dataset.py"), data], check=True)
        cfg = os.path.join(work, "empty.yml")
        with open(cfg, "w") as f:
            f.write("global: {}\n")
        servers = []
        tdir = os.path.join(work, "promtui")
        subprocess.run([args.promtui, "tsdb", "import", "openmetrics", data,
                        f"--storage.tsdb.path={tdir}", "--storage.tsdb.retention.time=0"],
                       check=True, stdout=subprocess.DEVNULL)
        port = qc.free_port()
        servers.append(("promtui", [args.promtui, "serve", f"--config.file={cfg}",
                                    f"--storage.tsdb.path={tdir}",
                                    f"--web.listen-address=127.0.0.1:{port}",
                                    "--storage.tsdb.retention.time=0"] + args.promtui_arg,
                        port))
        if args.prometheus:
            pdir = os.path.join(work, "prom")
            subprocess.run([args.promtool, "tsdb", "create-blocks-from", "openmetrics", data, pdir],
                           check=True, stdout=subprocess.DEVNULL)
            port = qc.free_port()
            servers.append(("prometheus", [args.prometheus, f"--config.file={cfg}",
                                           f"--storage.tsdb.path={pdir}",
                                           f"--web.listen-address=127.0.0.1:{port}"]
                            + args.prometheus_arg, port))
        for who, argv, port in servers:
            base = f"http://127.0.0.1:{port}"
            p = start(argv, base, who, procs)
            # Warm-up: every query once, alone (page cache, first-touch allocations).
            for _, q in STORM_QUERIES:
                one_query(base, {"query": q, "start": RANGE_START, "end": RANGE_END,
                                 "step": args.step}, args.timeout)
            r = storm(base, p.pid, args.clients, args.step, args.timeout, args.rss_cap_mb * 1024)
            r["argv"] = argv[1:]
            out["servers"][who] = r
            if p.poll() is None:
                qc.stop([p])
            else:
                r["exit_code"] = p.returncode
            procs.remove(p)
        print(f"{args.clients} concurrent range queries, {RANGE_END - RANGE_START} s at "
              f"{args.step} step, cycling through {len(STORM_QUERIES)} queries")
        print(f"{'server':<11} {'rss_before_MB':>13} {'peak_MB':>8} {'storm_s':>7} "
              f"{'median_s':>8} {'max_s':>6}  outcomes")
        for who, r in out["servers"].items():
            peak = (f">{args.rss_cap_mb}" if r["killed_at_cap"]
                    else f"{max(r['peak_kb'], r['sampled_peak_kb']) / 1024:.1f}")
            print(f"{who:<11} {r['rss_before_kb'] / 1024:>13.1f} {peak:>8} "
                  f"{r['seconds']:>7} {r['median_s']:>8} {r['max_s']:>6}  {r['outcomes']}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        qc.stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
