#!/usr/bin/env python3
"""Query latency and result equality: promtui and Debian's Prometheus 2.42 side by side on
the storage issue's 10k-series dataset (bench/gen_dataset.py: 50 targets x 200 series, 2 h
at 15 s).

Steps: generate the OpenMetrics file (unless --file), backfill Prometheus with
`promtool tsdb create-blocks-from openmetrics`, load the same file into a promtui data
directory, either as blocks with `promtui tsdb import openmetrics` (--load import, the
default, like Prometheus' blocks) or into WAL + head with `examples/load_openmetrics.rs`
(--load head, the path a scrape takes),
start `prometheus` and `promtui serve` on free loopback ports with an empty scrape
config, then run every query of QUERIES as an instant query and as a 1 h range query at
15 s step, --reps times each (more for sub-millisecond queries, up to 200) against both
servers, spread over --passes rounds through all queries and alternating in runs of up
to 10, each over one kept-alive
HTTP connection per server (as Grafana's data source keeps them), so latencies are not
dominated by TCP connection setup. Prints one row per query
and kind: median latency of each server, the promtui/prometheus ratio, and whether the
results are identical (same series; values equal within 1e-9 relative; order checked for
sort_desc/topk instant queries), then the HTTP round trip alone (/api/v1/status/buildinfo)
for reference and the machine's CPU idle policy, which decides what a wake-up costs.
Then, for MEMORY_QUERIES (range queries over all 10k
series), the peak RSS of each server process while it answers, with the kernel's peak mark
reset just before (/proc/PID/clear_refs).

Evaluation times are offset by 7 s from the 15 s sample grid: Prometheus 2.42 selects
closed windows [t-r, t] while promtui follows 3.x's left-open (t-r, t], so a window edge
exactly on a sample would count it in one and not the other.

Usage: bench/query_compare.py [--file DATA.om] [--reps 5] [--passes 5] [--load import|head]
       [--promtui target/release/promtui] [--loader target/release/examples/load_openmetrics]
       [--json OUT.json] [--post] [--host-alternation N]

--host-alternation N replaces the queries with two whose matcher is a regex alternation of
N instance values (`instance=~"10\\.0\\.0\\.0:9100|..."`, the dataset's 50 among them), sent
as form POSTs as Grafana sends long queries.
"""
import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
START = 1_700_006_400  # gen_dataset.py's first timestamp (s)
INSTANT_T = START + 7007  # near the end of the 2 h, off the sample grid
RANGE_START = START + 3607
RANGE_END = RANGE_START + 3600
STEP = "15s"

QUERIES = [
    ("selector", 'http_requests_total{job="api",code="200"}'),
    ("rate", 'rate(http_requests_total{job="web"}[5m])'),
    ("sum_by_rate", "sum by (job, code) (rate(http_requests_total[5m]))"),
    ("topk", "topk(5, rate(node_network_bytes_total[5m]))"),
    ("histogram_quantile",
     "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("group_left",
     "sum by (instance, job) (rate(node_cpu_seconds_total[5m])) * on (instance, job) group_left (version) build_info"),
    ("subquery",
     'max_over_time(rate(http_requests_total{job="web",code="200"}[5m] offset 7s)[30m:1m])'),
    ("avg_over_time", "avg_over_time(node_load1[10m])"),
    ("count_by", "count by (job) (up)"),
    ("label_replace", 'label_replace(up, "host", "$1", "instance", "(.*):.*")'),
    ("absent", 'absent(nonexistent_metric{job="x"})'),
    ("sort_desc",
     'sort_desc(sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])))'),
    ("binary_ratio",
     "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.5"),
    ("quantile_over_time", "quantile_over_time(0.95, queue_length[10m])"),
]
ORDERED = {"topk", "sort_desc"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(url, proc, what, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} not ready after {timeout}s")


_CONNS = {}


class _Conn:
    """A minimal HTTP/1.1 keep-alive client over a raw socket: http.client's own cost
    (~80 us a request here) would otherwise dominate sub-millisecond queries."""

    def __init__(self, host):
        h, p = host.rsplit(":", 1)
        self.sock = socket.create_connection((h, int(p)), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")
        self.host = host

    def get(self, url, body=None):
        if body is None:
            self.sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        else:
            # Form POST, as Grafana sends queries too long for a URL.
            self.sock.sendall(
                f"POST {url} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = self.f.readline()
        if not status:
            raise ConnectionError("connection closed")
        length, chunked = None, False
        while True:
            line = self.f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                n = int(self.f.readline().split(b";")[0], 16)
                if n == 0:
                    self.f.readline()
                    break
                parts.append(self.f.read(n))
                self.f.readline()
            return b"".join(parts)
        if length is None:
            # No length and not chunked: the body runs to the end of the connection.
            body = self.f.read()
            raise ConnectionError(f"{status!r} without length: {body[:200]!r}")
        return self.f.read(length)

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def start_servers(args, cfg, pdir, tdir, procs):
    """Starts args.prometheus and `args.promtui serve` on free loopback ports over `cfg`
    and the two data directories, appending each process to `procs` as it starts (so the
    caller's cleanup stops it whatever fails next); waits until both are ready and returns
    ((prometheus process, URL), (promtui process, URL))."""
    pp, tp = free_port(), free_port()
    prom = subprocess.Popen(
        [args.prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={pdir}",
         f"--web.listen-address=127.0.0.1:{pp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(prom)
    tui = subprocess.Popen(
        [args.promtui, "serve", f"--config.file={cfg}", f"--storage.tsdb.path={tdir}",
         f"--web.listen-address=127.0.0.1:{tp}", "--storage.tsdb.retention.time=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(tui)
    purl, turl = f"http://127.0.0.1:{pp}", f"http://127.0.0.1:{tp}"
    wait_ready(purl, prom, "prometheus")
    wait_ready(turl, tui, "promtui")
    return (prom, purl), (tui, turl)


def stop(procs):
    """Terminates each process, killing any that has not exited 20 s later."""
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def call(base, path, params):
    """One GET over a kept-alive connection per server (as Grafana's data source does),
    so the figure is the server's time plus a small constant client cost, not TCP setup.
    Returns (seconds, parsed JSON body)."""
    body = None
    if USE_POST and params:
        url, body = path, urllib.parse.urlencode(params).encode()
    else:
        url = path + "?" + urllib.parse.urlencode(params)
    host = urllib.parse.urlparse(base).netloc
    for attempt in (0, 1):
        conn = _CONNS.get(host)
        if conn is None:
            conn = _CONNS[host] = _Conn(host)
        t0 = time.perf_counter()
        try:
            resp = conn.get(url, body)
            dt = time.perf_counter() - t0
            # A server may close a kept-alive connection after a large POST (an empty
            # body here); reconnect and retry like a connection error.
            parsed = json.loads(resp)
        except (OSError, ValueError, ConnectionError) as e:
            print(f"{host}{path}: {e!r}; retrying on a new connection", file=sys.stderr)
            conn.close()
            del _CONNS[host]
            if attempt:
                raise
            continue
        return dt, parsed


# Set by --post or --host-alternation: send queries as form POSTs.
USE_POST = False


def host_alternation_queries(n):
    """Queries selecting by a regex alternation of n instance values, the dataset's 50
    among them, escaped as Grafana's "All" on a multi-value variable escapes them."""
    alt = "|".join(f"10\\\\.0\\\\.{i // 256}\\\\.{i % 256}:9100" for i in range(n))
    return [
        (f"hosts{n}_up", f'up{{instance=~"{alt}"}}'),
        (f"hosts{n}_sum_rate",
         f'sum by (job) (rate(node_cpu_seconds_total{{instance=~"{alt}"}}[5m]))'),
    ]


MEMORY_QUERIES = [
    ("all_series", '{__name__=~".+"}'),
    # A comparison without `bool` keeps names, so every series stays distinct.
    ("filter_all", '{__name__=~".+"} > -Inf'),
]


def idle_policy():
    """How this machine's idle CPUs wait, which sets the cost of waking one: a vCPU that
    halts at once (haltpoll with guest_halt_poll_ns 0) exits to the hypervisor and is
    woken by it, tens of microseconds, where a polling one answers at once. The HTTP round
    trip of a sub-100 us query is mostly such wake-ups, so runs are only comparable under
    the same policy."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    gov = read("/sys/devices/system/cpu/cpuidle/current_governor") or \
        read("/sys/devices/system/cpu/cpuidle/current_governor_ro") or "unknown"
    poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    return f"cpuidle governor {gov}" + (f", guest_halt_poll_ns {poll}" if poll is not None else "")


def proc_status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_rss(base, pid, params):
    """Resets the process' peak-RSS mark (clear_refs 5), runs one range query and returns
    (peak RSS kB during it, RSS kB before, seconds, series in the result)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    before = proc_status_kb(pid, "VmRSS")
    dt, body = call(base, "/api/v1/query_range", params)
    peak = proc_status_kb(pid, "VmHWM")
    res = body.get("data", {}).get("result", [])
    return peak, before, dt, len(res) if isinstance(res, list) else 0


def fval(s):
    return float(s.replace("+Inf", "inf").replace("-Inf", "-inf"))


def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare(name, kind, a, b):
    """None when equal, else a short reason."""
    if a.get("status") != b.get("status"):
        return f"status {a.get('status')} vs {b.get('status')}: {a.get('error') or b.get('error')}"
    if a["status"] != "success":
        return None
    da, db = a["data"], b["data"]
    if da["resultType"] != db["resultType"]:
        return f"resultType {da['resultType']} vs {db['resultType']}"
    ra, rb = da["result"], db["result"]
    if da["resultType"] in ("scalar", "string"):
        return None if close(fval(ra[1]), fval(rb[1])) and ra[0] == rb[0] else f"{ra} vs {rb}"
    key = lambda s: json.dumps(s["metric"], sort_keys=True)
    if len(ra) != len(rb):
        return f"{len(ra)} series vs {len(rb)}"
    if kind == "instant" and name in ORDERED:
        va = [fval(s["value"][1]) for s in ra]
        vb = [fval(s["value"][1]) for s in rb]
        if not all(close(x, y) for x, y in zip(va, vb)):
            return "order/values differ"
    ma = {key(s): s for s in ra}
    mb = {key(s): s for s in rb}
    if set(ma) != set(mb):
        missing = sorted(set(ma) ^ set(mb))[:2]
        return f"series differ, e.g. {missing}"
    for k, sa in ma.items():
        sb = mb[k]
        pa = sa.get("values") or [sa["value"]]
        pb = sb.get("values") or [sb["value"]]
        if len(pa) != len(pb):
            return f"{k}: {len(pa)} points vs {len(pb)}"
        for (ta, xa), (tb, xb) in zip(pa, pb):
            if ta != tb or not close(fval(xa), fval(xb)):
                return f"{k}: [{ta},{xa}] vs [{tb},{xb}]"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--promtui", default=os.path.join(ROOT, "target/release/promtui"))
    ap.add_argument("--loader", default=os.path.join(ROOT, "target/release/examples/load_openmetrics"))
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--load", choices=["import", "head"], default="import")
    ap.add_argument("--json")
    ap.add_argument("--post", action="store_true", help="send queries as form POSTs")
    ap.add_argument("--host-alternation", type=int, metavar="N",
                    help="instead of QUERIES, run queries whose matcher is an alternation of "
                         "N instance values (Grafana's \"All\"); implies --post, skips the "
                         "memory section")
    args = ap.parse_args()
    global USE_POST, QUERIES
    USE_POST = args.post or bool(args.host_alternation)
    if args.host_alternation:
        QUERIES = host_alternation_queries(args.host_alternation)

    work = tempfile.mkdtemp(prefix="query_compare_")
    procs = []
    try:
        data = args.file
        if not data:
            data = os.path.join(work, "data.om")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_dataset.py"), data], check=True)
        cfg = os.path.join(work, "empty.yml")
        with open(cfg, "w") as f:
            f.write("global: {}\n")
        pdir, tdir = os.path.join(work, "prom"), os.path.join(work, "promtui")
        t0 = time.time()
        subprocess.run([args.promtool, "tsdb", "create-blocks-from", "openmetrics", data, pdir],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"promtool backfill: {time.time() - t0:.1f}s", file=sys.stderr)
        t0 = time.time()
        if args.load == "import":
            subprocess.run([args.promtui, "tsdb", "import", "openmetrics", data,
                            f"--storage.tsdb.path={tdir}", "--storage.tsdb.retention.time=0"],
                           check=True, stdout=subprocess.DEVNULL)
        else:
            subprocess.run([args.loader, data, tdir], check=True)
        print(f"promtui load ({args.load}): {time.time() - t0:.1f}s", file=sys.stderr)

        (prom, purl), (tui, turl) = start_servers(args, cfg, pdir, tdir, procs)

        # Every case: warm-up (page cache, first touch), which is also the pair of
        # results compared, and its number of repetitions.
        cases = []
        for name, q in QUERIES:
            for kind in ("instant", "range"):
                if kind == "instant":
                    path, params = "/api/v1/query", {"query": q, "time": INSTANT_T}
                else:
                    path, params = "/api/v1/query_range", {
                        "query": q, "start": RANGE_START, "end": RANGE_END, "step": STEP}
                dpa, ra = call(purl, path, params)
                dta, rb = call(turl, path, params)
                # Sub-millisecond queries get more repetitions (up to 200, about half a
                # second each) so their medians are not at the mercy of a few wake-ups.
                reps = max(args.reps, min(200, int(0.5 / max(dpa, dta, 1e-4))))
                cases.append({"name": name, "kind": kind, "path": path, "params": params,
                              "ra": ra, "diff": compare(name, kind, ra, rb), "reps": reps,
                              "tp": [], "tt": []})
        # The HTTP round trip alone, for reference: no PromQL, not in the mean.
        floor = {"name": "buildinfo", "kind": "http", "path": "/api/v1/status/buildinfo",
                 "params": {}, "reps": 200, "tp": [], "tt": []}
        # Samples are taken in --passes rounds over all cases rather than all of one case
        # at once. Noise on a small shared VM comes in spells of seconds (which vCPU the
        # kernel wakes a server's thread on, a neighbour's burst), longer than one case's
        # half second, so a case measured in one go gets one spell's luck; spread over the
        # whole run, every case sees the run's mix, as both servers do.
        # Within a round, alternate in runs of up to 10, so drift in machine load hits both
        # servers alike, while one server's after-response work (Go's GC, for one) rarely
        # lands inside the other's measured request.
        passes = max(1, args.passes)
        for i in range(passes):
            for c in cases + [floor]:
                want = c["reps"] * (i + 1) // passes
                while len(c["tt"]) < want:
                    n = min(10, want - len(c["tt"]))
                    c["tp"].extend(call(purl, c["path"], c["params"])[0] for _ in range(n))
                    c["tt"].extend(call(turl, c["path"], c["params"])[0] for _ in range(n))
        rows = []
        for c in cases:
            mp, mt = statistics.median(c["tp"]), statistics.median(c["tt"])
            ra = c["ra"]
            nseries = len(ra["data"]["result"]) if ra.get("status") == "success" and isinstance(ra["data"]["result"], list) and ra["data"]["resultType"] in ("vector", "matrix") else 1
            rows.append({"query": c["name"], "kind": c["kind"], "series": nseries,
                         "prometheus_ms": round(mp * 1000, 2), "promtui_ms": round(mt * 1000, 2),
                         "ratio": round(mt / mp, 2) if mp > 0 else None,
                         "identical": c["diff"] is None, "diff": c["diff"]})
        w = max(len(r["query"]) for r in rows)
        print(f"{'query':<{w}}  kind     series  prometheus_ms  promtui_ms  ratio  identical")
        for r in rows:
            print(f"{r['query']:<{w}}  {r['kind']:<7}  {r['series']:>6}  {r['prometheus_ms']:>13}  "
                  f"{r['promtui_ms']:>10}  {r['ratio']:>5}  {'yes' if r['identical'] else 'NO: ' + r['diff']}")
        ratios = [r["ratio"] for r in rows if r["ratio"]]
        print(f"geometric mean ratio promtui/prometheus: "
              f"{math.exp(sum(math.log(x) for x in ratios) / len(ratios)):.2f}; "
              f"identical {sum(r['identical'] for r in rows)}/{len(rows)}")
        print(f"idle policy: {idle_policy()}; {os.cpu_count()} CPUs")
        fp, ft = statistics.median(floor["tp"]), statistics.median(floor["tt"])
        http = {"prometheus_ms": round(fp * 1000, 3), "promtui_ms": round(ft * 1000, 3),
                "ratio": round(ft / fp, 2)}
        print(f"HTTP round trip alone (/api/v1/status/buildinfo, {len(floor['tt'])} requests): "
              f"prometheus {http['prometheus_ms']} ms, promtui {http['promtui_ms']} ms, "
              f"ratio {http['ratio']}")
        mem = []
        for name, q in ([] if args.host_alternation else MEMORY_QUERIES):
            params = {"query": q, "start": RANGE_START, "end": RANGE_END, "step": STEP}
            row = {"query": name}
            for who, base, proc in (("prometheus", purl, prom), ("promtui", turl, tui)):
                peak, base_rss, dt, nseries = peak_rss(base, proc.pid, params)
                row[who] = {"peak_kb": peak, "rss_before_kb": base_rss, "seconds": round(dt, 3),
                            "series": nseries}
            row["peak_ratio"] = round(row["promtui"]["peak_kb"] / row["prometheus"]["peak_kb"], 3)
            mem.append(row)
        print("\nrange query over every series (1 h at 15 s): peak RSS of the server process")
        print(f"{'query':<12} {'series':>6}  {'prometheus_MB':>13}  {'promtui_MB':>10}  ratio  "
              f"{'prometheus_s':>12}  {'promtui_s':>9}")
        for r in mem:
            pm, tm = r["prometheus"], r["promtui"]
            print(f"{r['query']:<12} {tm['series']:>6}  {pm['peak_kb'] / 1024:>13.1f}  "
                  f"{tm['peak_kb'] / 1024:>10.1f}  {r['peak_ratio']:>5}  {pm['seconds']:>12}  "
                  f"{tm['seconds']:>9}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"latency": rows, "http_round_trip": http, "idle_policy": idle_policy(),
                       "memory": mem}, f, indent=1)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
