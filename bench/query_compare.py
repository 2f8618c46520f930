#!/usr/bin/env python3
"""Query latency and result equality: promtui, Debian's Prometheus 2.42 and (when
installed) Debian's VictoriaMetrics single-node side by side on the storage issue's
10k-series dataset (bench/gen_dataset.py: 50 targets x 200 series at 15 s, 2 h by default).

Steps: generate the OpenMetrics file (unless --file), backfill Prometheus with
`promtool tsdb create-blocks-from openmetrics`, load the same file into a promtui data
directory, either as blocks with `promtui tsdb import openmetrics` (--load import, the
default, like Prometheus' blocks) or into WAL + head with `examples/load_openmetrics.rs`
(--load head, the path a scrape takes), and stream it into VictoriaMetrics'
/api/v1/import/prometheus (timestamps rewritten to ms; its rollup cache is disabled with
-search.disableCache so every repetition computes); start `prometheus` and `promtui
serve` on free loopback ports with an empty scrape config, then run every query of
QUERIES as an instant query and as a 1 h range query at 15 s step, --reps times each (more
for sub-millisecond queries, up to 200) against every server, spread over --passes rounds
through all queries and alternating in runs of up to 10, each over one kept-alive HTTP
connection per server (as Grafana's data source keeps them), so latencies are not
dominated by TCP connection setup. Prints one row per query and kind: median latency of
each server, the promtui/prometheus and victoria-metrics/prometheus ratios, and whether
the results are identical to Prometheus' (same series; values equal within 1e-9
relative; order checked for sort_desc/topk instant queries), then the HTTP round trip
alone for reference, the machine's CPU idle policy, which decides what a wake-up costs,
and the load average. Then, for MEMORY_QUERIES (selectors and range functions over all
10k series, then every query of QUERIES) as range queries over the longest span, the
peak RSS of each server process while it answers, with the kernel's peak mark reset just
before (/proc/PID/clear_refs).

--hours H (beyond 2) makes the dataset H hours long: it is generated in 2 h chunks that
are imported one by one into all three systems and deleted (a week is ~45 GB of text),
after which both TSDBs compact their 2 h blocks on startup (the bench waits until their
block counts settle); range queries then also run over the last day and the whole
dataset at 5 m step, and a per-query latency curve by range length is printed.

Evaluation times sit half a sample interval (7.5 s) off the 15 s sample grid: Prometheus
2.42 selects closed windows [t-r, t] while promtui follows 3.x's left-open (t-r, t], so a
window edge exactly on a sample would count it in one and not the other.

Usage: bench/query_compare.py [--file DATA.om] [--hours 2] [--reps 5] [--passes 5]
       [--load import|head] [--promtui target/release/promtui]
       [--victoria-metrics /usr/bin/victoria-metrics|none] [--only q1,q2] [--serve-only]
       [--loader target/release/examples/load_openmetrics]
       [--json OUT.json] [--post] [--host-alternation N]

--serve-only loads the data, starts the servers, prints their URLs and PIDs and waits
(for `perf record -p PID`). --host-alternation N replaces the queries with two whose
matcher is a regex alternation of N instance values (`instance=~"10\\.0\\.0\\.0:9100|..."`,
the dataset's 50 among them), sent as form POSTs as Grafana sends long queries.
"""
import argparse
import json
import math
import os
import shutil
import signal
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
SAMPLE_INTERVAL = 15
# Every evaluation time sits half a sample interval off the 15 s grid (see the module doc).
HALF_INTERVAL = SAMPLE_INTERVAL / 2

QUERIES = [
    ("selector", 'http_requests_total{job="api",code="200"}'),
    ("rate", 'rate(http_requests_total{job="web"}[5m])'),
    ("sum_by_rate", "sum by (job, code) (rate(http_requests_total[5m]))"),
    ("topk", "topk(5, rate(node_network_bytes_total[5m]))"),
    ("histogram_quantile",
     "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("group_left",
     "sum by (instance, job) (rate(node_cpu_seconds_total[5m])) * on (instance, job) group_left (version) build_info"),
    ("error_ratio",
     'sum by (job) (rate(http_requests_total{code="500"}[5m])) / sum by (job) (rate(http_requests_total[5m]))'),
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


def wait_ready(url, proc, what, timeout=600, path="/-/ready"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as r:
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
         f"--web.listen-address=127.0.0.1:{pp}",
         # Retention long enough that compaction may build blocks up to 31 days, as
         # promtui with retention 0 does.
         "--storage.tsdb.retention.time=10y"],
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


def raw_call(base, path):
    """One GET over the kept-alive connection, body not parsed; returns seconds."""
    host = urllib.parse.urlparse(base).netloc
    conn = _CONNS.get(host)
    if conn is None:
        conn = _CONNS[host] = _Conn(host)
    t0 = time.perf_counter()
    conn.get(path)
    return time.perf_counter() - t0


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
    # Range functions over every series: the raw samples of the whole span are read.
    # (A function over several names would drop them and collide: one name here.)
    ("max_buckets", "max_over_time(http_request_duration_seconds_bucket[1h])"),
    ("sum_rate_all", 'sum by (job) (rate({__name__=~".+"}[5m]))'),
] + QUERIES


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


def compare(ordered, a, b):
    """None when equal, else a short reason; `ordered`: the result order matters too."""
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
    if ordered:
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


def import_vm(url, path):
    """Streams an OpenMetrics file (timestamps in seconds) into VictoriaMetrics'
    /api/v1/import/prometheus, which takes the Prometheus text format with millisecond
    timestamps: comment lines and `# EOF` are dropped, each timestamp is rewritten in ms.
    Returns the number of samples sent."""
    host = urllib.parse.urlparse(url).netloc
    sent = 0

    def batches():
        nonlocal sent
        buf, n = [], 0
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"#"):
                    continue
                head, _, ts = line.rstrip(b"\n").rpartition(b" ")
                sec, _, frac = ts.partition(b".")
                ms = int(sec) * 1000 + (int((frac + b"00")[:3]) if frac else 0)
                buf.append(b"%s %d\n" % (head, ms))
                n += 1
                if n == 100_000:
                    sent += n
                    yield b"".join(buf)
                    buf, n = [], 0
        if buf:
            sent += n
            yield b"".join(buf)

    import http.client
    h, p = host.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(p), timeout=600)
    conn.request("POST", "/api/v1/import/prometheus", body=batches(), encode_chunked=True,
                 headers={"Content-Type": "text/plain"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status // 100 != 2:
        raise SystemExit(f"victoria-metrics import: HTTP {r.status}: {body[:300]!r}")
    return sent


def vm_flush(url):
    """Makes everything imported so far searchable (VictoriaMetrics buffers new rows)."""
    with urllib.request.urlopen(url + "/internal/force_flush", timeout=120) as r:
        r.read()


def block_count(d):
    # promtui keeps its blocks in promtui-blocks/, Prometheus in the directory itself.
    sub = os.path.join(d, "promtui-blocks")
    if os.path.isdir(sub):
        d = sub
    return sum(1 for e in os.listdir(d) if len(e) == 26 and os.path.isdir(os.path.join(d, e)))


def wait_compacted(d, what, settle=150, timeout=3600):
    """Waits until the number of blocks in data directory `d` has not changed for `settle`
    seconds (the server's compaction is done; Prometheus plans one every minute). Returns
    the final count."""
    last, since, deadline = block_count(d), time.time(), time.time() + timeout
    while time.time() < deadline:
        time.sleep(2)
        n = block_count(d)
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= settle:
            break
    print(f"{what}: {last} block(s) after compaction", file=sys.stderr)
    return last


def spans(hours, end):
    """The range queries' (label, start, end, step) for a dataset of `hours` ending at
    `end`: the last 1 h at 15 s, and for long datasets also the last day and the whole
    dataset at 5 m. `end` is half a sample interval past the grid, so every evaluation
    time is (start and steps being multiples of 15 s)."""
    out = [("1h", end - 3600, end, "15s")]
    if hours >= 24:
        out.append(("1d", end - 86400, end, "300s"))
    if hours > 24:
        out.append((f"{hours / 24:g}d", end - hours * 3600 + 15, end, "300s"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file")
    ap.add_argument("--hours", type=float, default=2,
                    help="dataset length (gen_dataset.py --hours); beyond 2 h the data is "
                         "generated and imported in 2 h chunks and the servers compact it")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--promtui", default=os.path.join(ROOT, "target/release/promtui"))
    ap.add_argument("--loader", default=os.path.join(ROOT, "target/release/examples/load_openmetrics"))
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--victoria-metrics", default="/usr/bin/victoria-metrics",
                    help="VictoriaMetrics single-node binary; 'none' leaves it out")
    ap.add_argument("--load", choices=["import", "head"], default="import")
    ap.add_argument("--json")
    ap.add_argument("--data-dir",
                    help="keep the three data directories here and reuse them on the next run "
                         "with the same directory (skips generation and loading)")
    ap.add_argument("--load-only", action="store_true",
                    help="with --data-dir: load, let the servers compact, then stop")
    ap.add_argument("--only", help="comma-separated query names to run (default: all)")
    ap.add_argument("--serve-only", action="store_true",
                    help="load and start the servers, print their URLs, wait for Ctrl-C "
                         "(for profiling with perf)")
    ap.add_argument("--post", action="store_true", help="send queries as form POSTs")
    ap.add_argument("--host-alternation", type=int, metavar="N",
                    help="instead of QUERIES, run queries whose matcher is an alternation of "
                         "N instance values (Grafana's \"All\"); implies --post, skips the "
                         "memory section")
    args = ap.parse_args()
    # SIGTERM (and SIGINT, which background jobs ignore) unwinds through `finally`, so
    # the servers started are stopped and the temporary directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    global USE_POST, QUERIES
    USE_POST = args.post or bool(args.host_alternation)
    if args.host_alternation:
        QUERIES = host_alternation_queries(args.host_alternation)
    if args.only:
        keep = set(args.only.split(","))
        QUERIES = [q for q in QUERIES if q[0] in keep]
    vm_bin = None if args.victoria_metrics == "none" else args.victoria_metrics
    if vm_bin and not os.access(vm_bin, os.X_OK):
        print(f"victoria-metrics not found at {vm_bin}: left out", file=sys.stderr)
        vm_bin = None
    chunked = args.hours > 2 and not args.file
    if chunked and args.load != "import":
        raise SystemExit("--hours beyond 2 needs --load import")
    data_end = START + args.hours * 3600
    instant_t = data_end - 187.5
    range_end = data_end + HALF_INTERVAL
    span_list = spans(args.hours, range_end)

    work = tempfile.mkdtemp(prefix="query_compare_")
    procs = []
    try:
        cfg = os.path.join(work, "empty.yml")
        with open(cfg, "w") as f:
            f.write("global: {}\n")
        store = args.data_dir or work
        os.makedirs(store, exist_ok=True)
        loaded = os.path.join(store, "loaded")
        reuse = args.data_dir is not None and os.path.exists(loaded)
        pdir, tdir, vdir = (os.path.join(store, d) for d in ("prom", "promtui", "vm"))
        vm_port = free_port()
        vurl = f"http://127.0.0.1:{vm_port}"
        vm = None
        if vm_bin:
            # No rollup-result cache (each repetition computes), data from 2023 kept.
            vm = subprocess.Popen(
                [vm_bin, f"-storageDataPath={vdir}", f"-httpListenAddr=127.0.0.1:{vm_port}",
                 "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=ERROR"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(vm)
            wait_ready(vurl, vm, "victoria-metrics", path="/health")
        times = {"promtool": 0.0, "promtui": 0.0, "victoria-metrics": 0.0}
        bd = ["--block-duration=2h"]

        def load_file(data):
            t0 = time.time()
            subprocess.run([args.promtool, "tsdb", "create-blocks-from", "openmetrics", data,
                            pdir], check=True, stdout=subprocess.DEVNULL)
            times["promtool"] += time.time() - t0
            t0 = time.time()
            if args.load == "import":
                subprocess.run([args.promtui, "tsdb", "import", "openmetrics", data, *bd,
                                f"--storage.tsdb.path={tdir}", "--storage.tsdb.retention.time=0"],
                               check=True, stdout=subprocess.DEVNULL)
            else:
                subprocess.run([args.loader, data, tdir], check=True)
            times["promtui"] += time.time() - t0
            if vm:
                t0 = time.time()
                import_vm(vurl, data)
                times["victoria-metrics"] += time.time() - t0

        if reuse:
            print(f"reusing the data loaded in {store}", file=sys.stderr)
        elif chunked:
            base = os.path.join(work, "data.om")
            gen = subprocess.Popen([sys.executable, os.path.join(HERE, "gen_dataset.py"), base,
                                    f"--hours={args.hours:g}", "--chunk-hours=2",
                                    "--stream-chunks"])
            procs.append(gen)
            n = int(math.ceil(args.hours / 2))
            for c in range(n):
                path = f"{base}.{c:03d}"
                while not os.path.exists(path):
                    if gen.poll() not in (None, 0):
                        raise SystemExit(f"gen_dataset.py exited with {gen.returncode}")
                    time.sleep(0.5)
                load_file(path)
                os.remove(path)
                print(f"chunk {c + 1}/{n} loaded", file=sys.stderr)
            gen.wait()
        else:
            data = args.file
            if not data:
                data = os.path.join(work, "data.om")
                subprocess.run([sys.executable, os.path.join(HERE, "gen_dataset.py"), data,
                                f"--hours={args.hours:g}"], check=True)
            load_file(data)
        if vm:
            vm_flush(vurl)
        if args.data_dir and not reuse:
            with open(loaded, "w") as f:
                f.write(f"{args.hours}\n")
        print("load: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()), file=sys.stderr)

        (prom, purl), (tui, turl) = start_servers(args, cfg, pdir, tdir, procs)
        servers = [("prometheus", purl, prom), ("promtui", turl, tui)]
        if vm:
            servers.append(("victoria-metrics", vurl, vm))
        if chunked:
            # Compare on compacted blocks, as a long-running server holds them.
            wait_compacted(pdir, "prometheus")
            wait_compacted(tdir, "promtui")
        if args.load_only:
            return
        if args.serve_only:
            for name, url, p in servers:
                print(f"{name}: {url} pid {p.pid}", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return

        # Every case: warm-up (page cache, first touch), which is also the set of results
        # compared, and its number of repetitions.
        cases = []
        for name, q in QUERIES:
            kinds = [("instant", "/api/v1/query", {"query": q, "time": f"{instant_t:.1f}"})]
            for label, s0, s1, step in span_list:
                kinds.append((f"range{label}", "/api/v1/query_range",
                              {"query": q, "start": f"{s0:.1f}", "end": f"{s1:.1f}", "step": step}))
            for kind, path, params in kinds:
                res, lat = {}, []
                for who, url, _ in servers:
                    dt, res[who] = call(url, path, params)
                    lat.append(dt)
                # Sub-millisecond queries get more repetitions (up to 200, about half a
                # second each) so their medians are not at the mercy of a few wake-ups.
                reps = max(args.reps, min(200, int(0.5 / max(max(lat), 1e-4))))
                ok = kind == "instant" and name in ORDERED
                cases.append({
                    "name": name, "kind": kind, "path": path, "params": params,
                    "result": res["prometheus"], "reps": reps,
                    "diff": compare(ok, res["prometheus"], res["promtui"]),
                    "vm_diff": compare(ok, res["prometheus"], res["victoria-metrics"]) if vm else None,
                    "t": {who: [] for who, _, _ in servers}})
        # The HTTP round trip alone, for reference: no PromQL, not in the mean.
        # VictoriaMetrics 1.79 has no buildinfo endpoint: its /health is the equivalent.
        floor = {"name": "round trip", "kind": "http", "reps": 200,
                 "t": {who: [] for who, _, _ in servers},
                 "paths": {who: "/health" if who == "victoria-metrics"
                           else "/api/v1/status/buildinfo" for who, _, _ in servers}}
        # Samples are taken in --passes rounds over all cases rather than all of one case
        # at once. Noise on a small shared VM comes in spells of seconds (which vCPU the
        # kernel wakes a server's thread on, a neighbour's burst), longer than one case's
        # half second, so a case measured in one go gets one spell's luck; spread over the
        # whole run, every case sees the run's mix, as all servers do.
        # Within a round, alternate in runs of up to 10, so drift in machine load hits all
        # servers alike, while one server's after-response work (Go's GC, for one) rarely
        # lands inside another's measured request.
        passes = max(1, args.passes)
        for i in range(passes):
            for c in cases + [floor]:
                want = c["reps"] * (i + 1) // passes
                while len(c["t"]["promtui"]) < want:
                    n = min(10, want - len(c["t"]["promtui"]))
                    for who, url, _ in servers:
                        if c is floor:
                            c["t"][who].extend(raw_call(url, c["paths"][who]) for _ in range(n))
                        else:
                            c["t"][who].extend(call(url, c["path"], c["params"])[0]
                                               for _ in range(n))
        rows = []
        for c in cases:
            med = {who: statistics.median(v) for who, v in c["t"].items()}
            ra = c["result"]
            nseries = len(ra["data"]["result"]) if ra.get("status") == "success" and isinstance(ra["data"]["result"], list) and ra["data"]["resultType"] in ("vector", "matrix") else 1
            row = {"query": c["name"], "kind": c["kind"], "series": nseries,
                   "identical": c["diff"] is None, "diff": c["diff"]}
            for who, m in med.items():
                row[f"{who}_ms"] = round(m * 1000, 2)
            mp = med["prometheus"]
            row["ratio"] = round(med["promtui"] / mp, 3) if mp > 0 else None
            if vm:
                row["vm_ratio"] = round(med["victoria-metrics"] / mp, 3) if mp > 0 else None
                row["vm_identical"] = c["vm_diff"] is None
                row["vm_diff"] = c["vm_diff"]
            rows.append(row)
        w = max(len(r["query"]) for r in rows)
        kw = max(len(r["kind"]) for r in rows)
        vmh = "  vm_ms    vm_ratio  ahead_of_vm" if vm else ""
        print(f"{'query':<{w}}  {'kind':<{kw}}  series  prometheus_ms  promtui_ms  ratio{vmh}  identical")
        for r in rows:
            vmc = ""
            if vm:
                ahead = "yes" if r["promtui_ms"] < r["victoria-metrics_ms"] else "NO"
                vmc = f"  {r['victoria-metrics_ms']:>7}  {r['vm_ratio']:>8}  {ahead:>11}"
            print(f"{r['query']:<{w}}  {r['kind']:<{kw}}  {r['series']:>6}  {r['prometheus_ms']:>13}  "
                  f"{r['promtui_ms']:>10}  {r['ratio']:>5}{vmc}  "
                  f"{'yes' if r['identical'] else 'NO: ' + r['diff']}")
        for who, key in (("promtui", "ratio"), ("victoria-metrics", "vm_ratio")):
            ratios = [r[key] for r in rows if r.get(key)]
            if ratios:
                print(f"geometric mean ratio {who}/prometheus: "
                      f"{math.exp(sum(math.log(x) for x in ratios) / len(ratios)):.3f}")
        print(f"promtui identical to prometheus: {sum(r['identical'] for r in rows)}/{len(rows)}")
        if vm:
            print(f"victoria-metrics identical to prometheus: "
                  f"{sum(r['vm_identical'] for r in rows)}/{len(rows)} (MetricsQL differs by "
                  f"design, e.g. rate() without extrapolation); first differences:")
            for r in [r for r in rows if not r["vm_identical"]][:6]:
                print(f"  {r['query']} {r['kind']}: {r['vm_diff'][:150]}")
        if len(span_list) > 1:
            print("\nlatency by range length (median ms; growth against the 1h range, "
                  "samples touched grow with the range):")
            for name, _ in QUERIES:
                parts = []
                for who, _, _ in servers:
                    byk = {r["kind"]: r[f"{who}_ms"] for r in rows if r["query"] == name}
                    ks = [f"range{lb}" for lb, *_ in span_list]
                    parts.append(f"{who} " + " / ".join(f"{byk[k]}" for k in ks))
                print(f"  {name}: " + "; ".join(parts) + "  (" + ", ".join(lb for lb, *_ in span_list) + ")")
        print(f"idle policy: {idle_policy()}; {os.cpu_count()} CPUs; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        http = {who: round(statistics.median(v) * 1000, 3) for who, v in floor["t"].items()}
        print(f"HTTP round trip alone ({len(floor['t']['promtui'])} requests; buildinfo, "
              f"/health for victoria-metrics): " + ", ".join(f"{k} {v} ms" for k, v in http.items()))
        mem = []
        for name, q in ([] if args.host_alternation else MEMORY_QUERIES):
            label, s0, s1, step = span_list[-1]
            params = {"query": q, "start": f"{s0:.1f}", "end": f"{s1:.1f}", "step": step}
            row = {"query": name, "span": label}
            for who, base, proc in servers:
                peak, base_rss, dt, nseries = peak_rss(base, proc.pid, params)
                row[who] = {"peak_kb": peak, "rss_before_kb": base_rss, "seconds": round(dt, 3),
                            "series": nseries}
            row["peak_ratio"] = round(row["promtui"]["peak_kb"] / row["prometheus"]["peak_kb"], 3)
            mem.append(row)
        if mem:
            label, _, _, step = span_list[-1]
            print(f"\nrange query over every series ({label} at {step}): peak RSS of the server process")
            print(f"{'query':<12} {'series':>6}  " + "  ".join(f"{who + '_MB':>14}" for who, _, _ in servers)
                  + "  ratio  " + "  ".join(f"{who + '_s':>12}" for who, _, _ in servers))
            for r in mem:
                print(f"{r['query']:<12} {r['promtui']['series']:>6}  "
                      + "  ".join(f"{r[who]['peak_kb'] / 1024:>14.1f}" for who, _, _ in servers)
                      + f"  {r['peak_ratio']:>5}  "
                      + "  ".join(f"{r[who]['seconds']:>12}" for who, _, _ in servers))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"latency": rows, "http_round_trip": http, "idle_policy": idle_policy(),
                           "loadavg": os.getloadavg(), "memory": mem, "hours": args.hours,
                           "load_seconds": times}, f, indent=1)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
