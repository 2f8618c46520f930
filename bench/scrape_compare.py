#!/usr/bin/env python3
"""Scrape-engine cost: promtui, Debian's Prometheus 2.42 and VictoriaMetrics side by side
on the same synthetic fleet, in one run.

The fleet (--fleet realistic, the default) is --targets targets (default 100) of --series
series each (default 1000: 100k active series) scraped every --interval (default 1 s):
about 40% counters, 20% gauges and 40% classic histogram series (12 buckets plus _sum and
_count), labelled method, code and handler in the body and job and instance (production-
length values) by the scrape config, every value moving by a random increment every tick.
--fleet simple is the earlier fleet: one counter family with three short labels and four
rotating bodies, which understates per-series memory.

One loopback server process serves every target on one port (`?member=mN`); a thread in
it re-renders all bodies once per interval, so a request is a lookup and a write (the
render time per tick is printed; it must stay well under the interval). The peers run at
the same time against it, so load from the rest of the shared machine hits all alike
(--sequential runs them one after the other). Each peer scrapes for --seconds after
--warmup; from its /proc entry and its own /metrics we take CPU seconds per million
ingested samples, steady RSS (median over the window) and peak RSS (VmHWM) per active
series, the RSS growth per minute over the window, and scrapes done versus expected.
With --repeats N the whole run is repeated and medians are reported. The load average
and the CPU idle policy are printed, as in the other benches.

Usage: bench/scrape_compare.py [--fleet realistic|simple] [--targets 100] [--series 1000]
       [--interval 1] [--seconds 120] [--repeats 3] [--json out.json]
       [--peers prometheus,victoriametrics,promtui] [--promtui target/release/promtui]
       [--sequential]
"""
import argparse
import http.server
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_bodies(series, variants=4):
    """The simple fleet (--fleet simple): a few versions of one target's body, one metric
    with three short labels; the server rotates them so values change."""
    bodies = []
    for k in range(variants):
        lines = ["# TYPE fleet_requests_total counter\n"]
        for i in range(series):
            lines.append(f'fleet_requests_total{{path="/p{i % 50}",code="{200 + i % 5}",shard="{i}"}} {1000 + i * 7 + k * (i % 13)}\n')
        bodies.append("".join(lines).encode())
    return bodies


HANDLERS = [
    "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
    "/api/v1/label/:name/values", "/api/v1/targets", "/api/v1/rules", "/api/v1/alerts",
    "/api/v2/users/:id", "/api/v2/users/:id/orders", "/api/v2/orders/:id/items",
    "/api/v2/catalog/products", "/api/v2/catalog/products/:sku", "/api/v2/cart",
    "/api/v2/cart/checkout", "/api/v2/payments/authorize", "/api/v2/payments/:id/capture",
    "/api/v2/shipping/quotes", "/api/v2/inventory/reservations", "/api/v2/search",
    "/internal/healthz", "/internal/readyz", "/internal/metrics", "/static/*filepath",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
CODES = ["200", "201", "204", "301", "400", "401", "403", "404", "429", "500", "502", "503"]
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def label_combos():
    """(method, code, handler) triples in a fixed, varied order."""
    out = []
    for i in range(len(HANDLERS) * len(METHODS) * len(CODES)):
        out.append((METHODS[i % len(METHODS)], CODES[(i // 3) % len(CODES)],
                    HANDLERS[(i * 7) % len(HANDLERS)]))
    return list(dict.fromkeys(out))


class RealisticTarget:
    """One target of the realistic fleet: about 40% counter, 20% gauge and 40% classic
    histogram series (12 buckets plus _sum and _count), each with method, code and handler
    labels (job and instance come from the scrape config, five labels in all); every
    value moves by a random increment on every tick."""

    def __init__(self, series, seed):
        import random
        self.rng = random.Random(seed)
        combos = label_combos()
        n_hist = max(1, round(series * 0.4 / (len(BUCKETS) + 2)))
        n_gauge = round(series * 0.2)
        n_counter = max(0, series - n_gauge - n_hist * (len(BUCKETS) + 2))
        lines = []  # (text before the value, kind)
        head = []
        counter_fams = ["http_requests_total", "http_response_size_bytes_total",
                        "http_request_errors_total"]
        head.append("# HELP http_requests_total Requests served, by handler, method and code.\n")
        for f in counter_fams:
            head.append(f"# TYPE {f} counter\n")
        for i in range(n_counter):
            m, c, h = combos[(i // len(counter_fams)) % len(combos)]
            f = counter_fams[i % len(counter_fams)]
            lines.append((f'{f}{{code="{c}",handler="{h}",method="{m}"}} ', "c"))
        gauge_fams = ["http_requests_in_flight", "http_connection_pool_idle"]
        for f in gauge_fams:
            head.append(f"# TYPE {f} gauge\n")
        for i in range(n_gauge):
            m, c, h = combos[(i // len(gauge_fams) + 97) % len(combos)]
            f = gauge_fams[i % len(gauge_fams)]
            lines.append((f'{f}{{code="{c}",handler="{h}",method="{m}"}} ', "g"))
        self.hist_start = len(lines)
        head.append("# TYPE http_request_duration_seconds histogram\n")
        for i in range(n_hist):
            m, c, h = combos[(i + 211) % len(combos)]
            lbl = f'code="{c}",handler="{h}",method="{m}"'
            for le in BUCKETS:
                lines.append((f'http_request_duration_seconds_bucket{{{lbl},le="{le}"}} ', "b"))
            lines.append((f'http_request_duration_seconds_sum{{{lbl}}} ', "s"))
            lines.append((f'http_request_duration_seconds_count{{{lbl}}} ', "n"))
        self.n_hist = n_hist
        self.head = "".join(head)
        self.prefixes = [p for p, _ in lines]
        self.kinds = [k for _, k in lines]
        self.values = [float(self.rng.randrange(1, 100000)) if k in "cg" else 0.0
                       for k in self.kinds]
        self.series = len(lines)

    def tick(self):
        """Moves every value by a random increment and renders the body."""
        r = self.rng.random
        v = self.values
        for i in range(self.hist_start):
            if self.kinds[i] == "c":
                v[i] += int(r() * 50)
            else:
                v[i] = max(0.0, v[i] + int(r() * 21) - 10)
        nb = len(BUCKETS)
        for h in range(self.n_hist):
            base = self.hist_start + h * (nb + 2)
            obs = 1 + int(r() * 40)
            # New observations fall into a random bucket and every bucket above it.
            first = int(r() * nb)
            for b in range(first, nb):
                v[base + b] += obs
            v[base + nb] += round(obs * r() * 0.3, 6)
            v[base + nb + 1] = v[base + nb - 1]
        parts = [self.head]
        for p, x in zip(self.prefixes, v):
            parts.append(p)
            parts.append(repr(x) if x != int(x) else str(int(x)))
            parts.append("\n")
        return "".join(parts).encode()


class Fleet(http.server.BaseHTTPRequestHandler):
    """Serves a pre-rendered body per target (`?member=mN`): the bodies are rebuilt once a
    tick by a background thread, so serving is a dictionary lookup and a write."""
    bodies = []          # simple fleet: rotated per request
    per_target = {}      # realistic fleet: member -> current body
    counter = 0
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if Fleet.per_target:
            member = self.path.rsplit("member=", 1)[-1].split("&", 1)[0]
            body = Fleet.per_target.get(member)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        else:
            with Fleet.lock:
                Fleet.counter += 1
                body = Fleet.bodies[Fleet.counter % len(Fleet.bodies)]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """A peer closing a connection mid-request (its scrape timed out) is not worth a
    traceback; the miss shows in the peer's scrape counts."""
    def handle_error(self, request, client_address):
        pass


def render_loop(targets, interval):
    """Re-renders every realistic target once per `interval`; reports in `Fleet.render_s`
    how long a tick of rendering takes (must stay well under the interval)."""
    while True:
        t0 = time.monotonic()
        fresh = {f"m{i}": t.tick() for i, t in enumerate(targets)}
        Fleet.per_target = fresh
        took = time.monotonic() - t0
        Fleet.render_s = took
        time.sleep(max(0.0, interval - took))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICKS


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metrics(port):
    out = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, value = line.rsplit(" ", 1)
            out[name_labels] = out.get(name_labels, 0.0) + float(value)
    return out


def metric_sum(m, prefix):
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))


def wait_ready(port, proc, timeout=120, path="/-/ready"):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"peer exited with {proc.returncode}; its output: "
                             f"{proc.args[0]} ... (see log.txt in its work directory)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit("peer not ready")


PEERS = {
    # samples counter, scrapes counter, active series gauge on the peer's own /metrics
    "prometheus": ("prometheus_tsdb_head_samples_appended_total",
                   "prometheus_target_interval_length_seconds_count",
                   "prometheus_tsdb_head_series"),
    "promtui": ("promtui_tsdb_head_samples_appended_total",
                "promtui_target_scrapes_total",
                "promtui_tsdb_head_series"),
    # VictoriaMetrics: rows scraped and stored, scrapes done, series active this hour.
    "victoriametrics": ('vm_rows_inserted_total{type="promscrape"}',
                        "vm_promscrape_scrapes_total",
                        'vm_cache_entries{type="storage/hour_metric_ids"}'),
}
VICTORIA = "/usr/bin/victoria-metrics"


def peer_metric(m, name):
    if "{" in name:
        return m.get(name, 0.0)
    return metric_sum(m, name)


def write_config(path, a, fleet_port):
    """One static group per fleet member; the member goes in the URL (`?member=`) and,
    for the realistic fleet, `instance` and `job` get production-like values."""
    with open(path, "w") as f:
        iv = int(a.interval * 1000)
        f.write(f"global:\n  scrape_interval: {iv}ms\n  scrape_timeout: {min(iv, 10000)}ms\n")
        f.write("scrape_configs:\n")
        job = "checkout-api" if a.fleet == "realistic" else "fleet"
        f.write(f"  - job_name: {job}\n    static_configs:\n")
        for i in range(a.targets):
            f.write(f"      - targets: ['127.0.0.1:{fleet_port}']\n        labels:\n          member: 'm{i}'\n")
            if a.fleet == "realistic":
                f.write(f"          instance: 'checkout-api-{i:03d}.prod.svc.cluster.local:8080'\n")
        f.write("    relabel_configs:\n      - source_labels: [member]\n        target_label: __param_member\n")
        if a.fleet == "simple":
            f.write("      - source_labels: [__address__, member]\n        separator: '/'\n        target_label: instance\n")
        if a.fleet == "realistic":
            f.write("      - regex: member\n        action: labeldrop\n")


def run_peer(peer, a, fleet_port, work):
    samples_m, scrapes_m, series_m = PEERS[peer]
    d = os.path.join(work, peer)
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "config.yml")
    write_config(cfg, a, fleet_port)
    port = free_port()
    data = os.path.join(d, "data")
    if peer == "victoriametrics":
        cmd = [VICTORIA, "-loggerLevel=ERROR", f"-promscrape.config={cfg}",
               f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}"]
        ready = "/health"
    else:
        common = [f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                  f"--web.listen-address=127.0.0.1:{port}"]
        if peer == "prometheus":
            cmd = ["prometheus", "--log.level=warn"] + common
        else:
            cmd = [a.promtui, "--log.level=warn", "serve"] + common
        ready = "/-/ready"
    log = open(os.path.join(d, "log.txt"), "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        wait_ready(port, p, path=ready)
        time.sleep(a.warmup)
        m0, c0, t0 = metrics(port), cpu_seconds(p.pid), time.monotonic()
        rss_samples, rss_times = [], []
        while time.monotonic() - t0 < a.seconds:
            time.sleep(min(5, a.seconds / 4))
            rss_samples.append(rss_kb(p.pid))
            rss_times.append(time.monotonic() - t0)
        m1, c1, t1 = metrics(port), cpu_seconds(p.pid), time.monotonic()
        peak = proc_status_kb(p.pid, "VmHWM")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    samples = peer_metric(m1, samples_m) - peer_metric(m0, samples_m)
    scrapes = peer_metric(m1, scrapes_m) - peer_metric(m0, scrapes_m)
    head_series = peer_metric(m1, series_m)
    # RSS is divided by the fleet's series (the same for every peer), not by each peer's
    # own count, which differs in what it includes (report series, hour windows).
    series = a.targets * a.series_per_target
    elapsed = t1 - t0
    expected = a.targets * elapsed / a.interval
    # Least-squares slope of RSS over the window: a store that keeps closed chunks on the
    # heap grows by their size every chunk period (120 samples), one that writes them out
    # does not; a short window's median hides that.
    growth = None
    if len(rss_samples) >= 2:
        mt, mr = sum(rss_times) / len(rss_times), sum(rss_samples) / len(rss_samples)
        den = sum((t - mt) ** 2 for t in rss_times)
        if den:
            growth = sum((t - mt) * (r - mr) for t, r in zip(rss_times, rss_samples)) / den * 60
    rss_samples.sort()
    steady_rss = rss_samples[len(rss_samples) // 2] if rss_samples else rss_kb(p.pid)
    return {
        "peer": peer,
        "seconds": round(elapsed, 1),
        "samples": samples,
        "cpu_seconds": round(c1 - c0, 2),
        "cpu_s_per_million_samples": round((c1 - c0) / (samples / 1e6), 3) if samples else None,
        "cpu_us_per_sample": round((c1 - c0) / samples * 1e6, 3) if samples else None,
        "active_series": series,
        "peer_head_series": head_series,
        "steady_rss_kb": steady_rss,
        "peak_rss_kb": peak,
        "rss_bytes_per_series": round(steady_rss * 1024 / series, 1),
        "peak_rss_bytes_per_series": round(peak * 1024 / series, 1),
        "rss_growth_bytes_per_series_per_min": round(growth * 1024 / series, 1) if growth is not None else None,
        "scrapes": scrapes,
        "scrapes_expected": round(expected),
        "missed_fraction": round(max(0.0, 1 - scrapes / expected), 4) if expected else None,
    }


def proc_status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def idle_policy():
    """How idle CPUs wait (see bench/query_compare.py): runs compare only under one policy."""
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


def serve_fleet(port, a, render_report=None):
    """The fleet server, in its own process so that rendering and serving do not share an
    interpreter lock with the bench's measuring loop. One port serves every target."""
    if a.fleet == "realistic":
        targets = [RealisticTarget(a.series, seed=i) for i in range(a.targets)]
        a.series_per_target = targets[0].series
        Fleet.per_target = {f"m{i}": t.tick() for i, t in enumerate(targets)}
        threading.Thread(target=render_loop, args=(targets, a.interval), daemon=True).start()
        if render_report is not None:
            def report():
                while True:
                    time.sleep(2)
                    render_report.value = getattr(Fleet, "render_s", 0.0)
            threading.Thread(target=report, daemon=True).start()
    else:
        Fleet.bodies = make_bodies(a.series)
    srv = QuietServer(("127.0.0.1", port), Fleet)
    srv.daemon_threads = True
    srv.request_queue_size = 1024
    srv.serve_forever()


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fleet", choices=["realistic", "simple"], default="realistic",
                    help="realistic: counters, gauges and 12-bucket histograms with five "
                         "production-length labels, values moving every tick; simple: the "
                         "earlier one-metric fleet with four rotating bodies")
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--series", type=int, default=1000, help="series per target")
    ap.add_argument("--interval", type=float, default=1.0, help="scrape interval, seconds")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--repeats", type=int, default=1, help="runs; figures are medians")
    ap.add_argument("--peers", default="prometheus,victoriametrics,promtui")
    ap.add_argument("--promtui", default="target/release/promtui")
    ap.add_argument("--json", help="write every run and the medians here")
    ap.add_argument("--sequential", action="store_true",
                    help="run the peers one after the other (default: at the same time, "
                         "against one fleet server, so machine load hits all alike)")
    a = ap.parse_args()
    a.series_per_target = a.series
    if a.fleet == "realistic":
        a.series_per_target = RealisticTarget(a.series, seed=0).series
    peers = a.peers.split(",")
    if "victoriametrics" in peers and not os.path.exists(VICTORIA):
        print(f"skipping victoriametrics: {VICTORIA} not installed")
        peers.remove("victoriametrics")
    print(f"fleet {a.fleet}: {a.targets} targets x {a.series_per_target} series every "
          f"{a.interval}s; idle policy: {idle_policy()}; {os.cpu_count()} CPUs; "
          f"load average at start {os.getloadavg()}", flush=True)
    runs = {p: [] for p in peers}
    render = multiprocessing.Value("d", 0.0)
    port = free_port()
    fp = multiprocessing.Process(target=serve_fleet, args=(port, a, render), daemon=True)
    fp.start()
    time.sleep(2 if a.fleet == "simple" else 2 + a.targets * a.series / 50000)
    try:
        for rep in range(a.repeats):
            work = tempfile.mkdtemp(prefix="scrape-compare-")
            res = {}
            if a.sequential:
                for peer in peers:
                    res[peer] = run_peer(peer, a, port, work)
            else:
                threads = []
                for peer in peers:
                    def go(peer=peer):
                        # SystemExit in a thread would vanish silently: report it.
                        try:
                            res[peer] = run_peer(peer, a, port, work)
                        except BaseException as e:
                            print(f"{peer}: {e}", flush=True)
                    threads.append(threading.Thread(target=go))
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            load = os.getloadavg()
            for peer in peers:
                if peer in res:
                    res[peer]["load_average_end"] = [round(x, 2) for x in load]
                    res[peer]["fleet_render_s_per_tick"] = round(render.value, 3)
                    runs[peer].append(res[peer])
                    print(json.dumps({"repeat": rep, **res[peer]}), flush=True)
            if all(p in res for p in peers):
                subprocess.run(["rm", "-rf", work])
            else:
                print(f"kept {work} for the failed peers' logs")
    finally:
        fp.terminate()
    keys = ["cpu_s_per_million_samples", "cpu_us_per_sample", "rss_bytes_per_series",
            "peak_rss_bytes_per_series", "rss_growth_bytes_per_series_per_min", "missed_fraction"]
    med = {p: {k: median([r[k] for r in runs[p]]) for k in keys} for p in peers if runs[p]}
    for p, m in med.items():
        print(json.dumps({"median": p, "repeats": len(runs[p]), **m}), flush=True)
    ratios = {}
    if "prometheus" in med:
        base = med["prometheus"]
        for p in med:
            if p == "prometheus":
                continue
            ratios[p] = {k: round(med[p][k] / base[k], 3)
                         for k in ["cpu_s_per_million_samples", "rss_bytes_per_series",
                                   "peak_rss_bytes_per_series"] if med[p][k] and base[k]}
        print(json.dumps({"ratio_to_prometheus": ratios}), flush=True)
    print(f"load average at end {os.getloadavg()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "medians": med, "ratios": ratios,
                       "idle_policy": idle_policy()}, f, indent=1)


if __name__ == "__main__":
    main()
