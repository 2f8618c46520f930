#!/usr/bin/env python3
"""Deterministic generator of a realistic scrape dataset for storage-size and import
benchmarks: 10,000 series (50 targets x 200 series), 2 hours at a 15 s interval (480
samples per series), written as OpenMetrics text with timestamps in seconds, ending in
`# EOF`. Fixed seed: the output is byte-identical on every run.

Per target (200 series) the mix is:
  constants .......... up, build_info, process_start_time_seconds, filesystem sizes (8)
  near-constant ...... open fds, goroutines stepping occasionally (2)
  integer counters ... http_requests_total with Poisson increments, rates from 0.01 to
                       300 per scrape (44); network byte counters with noisy large
                       increments (8)
  decimal counters ... node_cpu_seconds_total (USER_HZ: 2 decimals) (32),
                       process_cpu_seconds_total (1)
  histograms ......... http_request_duration_seconds, 6 handlers x (12 `le` buckets +
                       _count + _sum); _sum is a float64 accumulation of durations,
                       i.e. full-precision floats (84)
  gauges ............. memory in pages / kB multiples (6 + 1), Go heap bytes (1),
                       filesystem free bytes (4), load averages (2 decimals) (3),
                       temperatures (3 decimals) (2), queue lengths (2)
  full-precision ..... ratio gauges computed by division (3)
5 of the 50 targets have millisecond scrape jitter (0-25 ms); the others are exactly
regular. Usage: gen_dataset.py [OUTPUT]  (stdout when omitted); the sample count is
printed to stderr. GEN_DATASET_START (Unix seconds) moves the start, e.g. so the data
reaches the present for rule-evaluation benchmarks.
"""
import math
import os
import random
import sys

SEED = 20240601
TARGETS = 50
START = int(os.environ.get("GEN_DATASET_START", 1_700_006_400))  # a multiple of 2 h: one block
STEPS = 480            # 2 h at 15 s
INTERVAL = 15

rng = random.Random(SEED)


def fmt(v):
    if isinstance(v, int):
        return str(v)
    if v == math.inf:
        return "+Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def poisson(lam):
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


class Target:
    def __init__(self, i):
        self.instance = f"10.0.{i // 256}.{i % 256}:9100"
        self.job = ["api", "web", "worker", "db", "cache"][i % 5]
        self.jitter = i % 10 == 3
        self.ts = []
        for s in range(STEPS):
            ms = (START + s * INTERVAL) * 1000
            if self.jitter:
                ms += rng.randint(0, 25)
            self.ts.append(ms)

    def base(self):
        return {"instance": self.instance, "job": self.job}


def ts_str(ms):
    if ms % 1000 == 0:
        return str(ms // 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


def labels_str(name, labels):
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


families = {}  # name -> (type, help, [lines generator])
order = []


def family(name, typ, help_):
    if name not in families:
        families[name] = (typ, help_, [])
        order.append(name)
    return families[name][2]


samples = 0


def series(fam, sample_name, labels, target, values):
    """Adds one series: a list of values, one per scrape of target."""
    global samples
    ls = labels_str(sample_name, labels)
    fam.append([f"{ls} {fmt(v)} {ts_str(t)}" for t, v in zip(target.ts, values)])
    samples += len(values)


def walk(start, step, lo, hi, n, quantum=1):
    v, out = start, []
    for _ in range(n):
        v += rng.gauss(0, step)
        v = min(max(v, lo), hi)
        out.append(int(round(v / quantum)) * quantum)
    return out


def counter(start, rate_fn, n):
    v, out = start, []
    for _ in range(n):
        v += rate_fn()
        out.append(v)
    return out


BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf]
HANDLERS = ["/api/v1/query", "/api/v1/write", "/login", "/metrics", "/static", "/search"]

targets = [Target(i) for i in range(TARGETS)]
for tg in targets:
    b = tg.base()
    n = STEPS
    # Constants.
    series(family("up", "gauge", "Target health."), "up", b, tg, [1] * n)
    series(family("build_info", "gauge", "Build information."), "build_info",
           {**b, "version": "2.4.1", "revision": "abc123", "goversion": "go1.21.4"}, tg, [1] * n)
    st = round(START - rng.uniform(1000, 900000), 2)
    series(family("process_start_time_seconds", "gauge", "Start time."),
           "process_start_time_seconds", b, tg, [st] * n)
    fam = family("node_filesystem_size_bytes", "gauge", "Filesystem size.")
    fam_av = family("node_filesystem_avail_bytes", "gauge", "Filesystem free space.")
    for mp in ["/", "/home", "/var", "/boot"]:
        size = rng.randint(1 << 18, 1 << 24) * 4096
        series(fam, "node_filesystem_size_bytes", {**b, "mountpoint": mp}, tg, [size] * n)
        series(fam_av, "node_filesystem_avail_bytes", {**b, "mountpoint": mp}, tg,
               walk(size * 0.4, size * 1e-5, 0, size, n, 4096))
    # Near-constants.
    fds = rng.randint(10, 200)
    series(family("process_open_fds", "gauge", "Open file descriptors."), "process_open_fds", b, tg,
           [fds + (1 if rng.random() < 0.05 else 0) for _ in range(n)])
    g, gs = rng.randint(20, 200), []
    for _ in range(n):
        if rng.random() < 0.1:
            g = max(1, g + rng.randint(-3, 3))
        gs.append(g)
    series(family("go_goroutines", "gauge", "Goroutines."), "go_goroutines", b, tg, gs)
    # Integer counters with varying increments.
    fam = family("http_requests", "counter", "Requests served.")
    for h in HANDLERS[:-1] + ["/health", "/api/v1/labels", "/api/v1/series", "/api/v1/rules",
                              "/api/v1/alerts", "/api/v1/targets"]:
        for method in ["GET", "POST"]:
            for code in ["200", "500"]:
                rate = math.exp(rng.uniform(math.log(0.01), math.log(300)))
                if code == "500":
                    rate /= 50
                series(fam, "http_requests_total", {**b, "handler": h, "method": method, "code": code},
                       tg, counter(rng.randint(0, 10**6), lambda r=rate: poisson(r), n))
    fam = family("node_network_bytes", "counter", "Network traffic.")
    for dev in ["eth0", "eth1", "lo", "docker0"]:
        for d in ["receive", "transmit"]:
            mean = math.exp(rng.uniform(math.log(1e3), math.log(5e7)))
            series(fam, "node_network_bytes_total", {**b, "device": dev, "direction": d}, tg,
                   counter(rng.randint(0, 10**12),
                           lambda m=mean: max(0, int(rng.gauss(m, m / 3))), n))
    # Decimal counters (centiseconds).
    fam = family("node_cpu_seconds", "counter", "CPU time.")
    for cpu in range(4):
        for mode in ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"]:
            share = {"idle": 0.7, "user": 0.15, "system": 0.08}.get(mode, 0.01)
            cs = counter(rng.randint(0, 10**8),
                         lambda s=share: max(0, int(rng.gauss(1500 * s, 150 * s + 1))), n)
            series(fam, "node_cpu_seconds_total", {**b, "cpu": str(cpu), "mode": mode}, tg,
                   [c / 100 for c in cs])
    cs = counter(rng.randint(0, 10**6), lambda: rng.randint(0, 300), n)
    series(family("process_cpu_seconds", "counter", "CPU seconds."), "process_cpu_seconds_total", b, tg,
           [c / 100 for c in cs])
    # Histograms.
    fam = family("http_request_duration_seconds", "histogram", "Request latency.")
    for h in HANDLERS:
        rate = math.exp(rng.uniform(math.log(0.5), math.log(200)))
        mu = rng.uniform(math.log(0.005), math.log(0.5))
        counts = [rng.randint(0, 1000)] * len(BUCKETS)
        total = counts[-1]
        s = round(rng.uniform(0, 1000), 3)
        rows = []
        for _ in range(n):
            k = poisson(rate)
            obs = [rng.lognormvariate(mu, 1.0) for _ in range(k)]
            for o in obs:
                s += o
                for bi, ub in enumerate(BUCKETS):
                    if o <= ub:
                        counts[bi] += 1
            total += k
            rows.append((list(counts), total, s))
        lines = []
        for (cts, tot, sm), t in zip(rows, tg.ts):
            hl = {**b, "handler": h}
            for ub, c in zip(BUCKETS, cts):
                lines.append(f"{labels_str('http_request_duration_seconds_bucket', {**hl, 'le': fmt(ub) if ub != math.inf else '+Inf'})} {c} {ts_str(t)}")
            lines.append(f"{labels_str('http_request_duration_seconds_count', hl)} {tot} {ts_str(t)}")
            lines.append(f"{labels_str('http_request_duration_seconds_sum', hl)} {fmt(sm)} {ts_str(t)}")
        fam.append(lines)
        samples += len(lines)
    # Gauges.
    fam = family("node_memory_bytes", "gauge", "Memory by kind.")
    for kind in ["MemFree", "Cached", "Active", "Inactive", "Dirty", "Slab"]:
        top = rng.randint(1 << 20, 1 << 24)
        series(fam, "node_memory_bytes", {**b, "kind": kind}, tg,
               walk(top * 1024 / 2, top * 2, 0, top * 1024, n, 1024))
    rss = rng.randint(10000, 500000) * 4096
    series(family("process_resident_memory_bytes", "gauge", "RSS."), "process_resident_memory_bytes", b, tg,
           walk(rss, 40960, 4096, rss * 4, n, 4096))
    heap = rng.randint(5 * 10**6, 5 * 10**8)
    series(family("go_memstats_alloc_bytes", "gauge", "Heap bytes."), "go_memstats_alloc_bytes", b, tg,
           [int(heap * (1 + 0.3 * math.sin(i / 7.0)) + rng.randint(0, 100000)) for i in range(n)])
    base_load = rng.uniform(0.1, 8)
    for name, smooth in [("node_load1", 1), ("node_load5", 5), ("node_load15", 15)]:
        lv = [round(max(0.0, base_load + rng.gauss(0, 0.5 / smooth)), 2) for _ in range(n)]
        series(family(name, "gauge", "Load average."), name, b, tg, lv)
    fam = family("node_hwmon_temp_celsius", "gauge", "Temperatures.")
    for sensor in ["cpu", "board"]:
        t0 = rng.uniform(35, 70)
        series(fam, "node_hwmon_temp_celsius", {**b, "sensor": sensor}, tg,
               [round(t0 + rng.gauss(0, 1.5), 3) for _ in range(n)])
    fam = family("queue_length", "gauge", "Items waiting.")
    for q in ["ingest", "notify"]:
        series(fam, "queue_length", {**b, "queue": q}, tg, walk(20, 3, 0, 500, n))
    fam = family("cache_hit_ratio", "gauge", "Cache hit ratio.")
    for c in ["l1", "l2", "disk"]:
        hits, tot, vals = 1, 1, []
        p = rng.uniform(0.5, 0.99)
        for _ in range(n):
            k = rng.randint(50, 5000)
            tot += k
            hits += sum(1 for _ in range(k // 50) if rng.random() < p) * 50
            vals.append(hits / tot)
        series(fam, "cache_hit_ratio", {**b, "cache": c}, tg, vals)

out = open(sys.argv[1], "w") if len(sys.argv) > 1 else sys.stdout
for name in order:
    typ, help_, blocks = families[name]
    out.write(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n")
    for blk in blocks:
        out.write("\n".join(blk))
        out.write("\n")
out.write("# EOF\n")
out.close()
print(f"samples={samples}", file=sys.stderr)
