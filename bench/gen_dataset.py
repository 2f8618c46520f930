#!/usr/bin/env python3
"""Deterministic generator of a realistic scrape dataset for storage-size, import and query
benchmarks: 10,000 series (50 targets x 200 series) at a 15 s interval, 2 hours by default
(480 samples per series), written as OpenMetrics text with timestamps in seconds, ending
in `# EOF`. Fixed seeds: the output is byte-identical on every run.

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
regular.

Every series (a histogram: every handler's group of series) draws from its own seeded
random generator and keeps its state between calls, so the data can be written in time
chunks: with --chunk-hours C, the H hours are written as ceil(H/C) files OUTPUT.000,
OUTPUT.001, ... (each a complete OpenMetrics file covering C hours, the series continuing
across files), so week-long datasets can be imported chunk by chunk without holding a
40 GB file on disk; with --stream-chunks each file is written only after the previous one
was deleted by the consumer (the script waits), bounding disk use to one chunk.

Usage: gen_dataset.py [OUTPUT] [--hours H] [--chunk-hours C]
  (stdout when OUTPUT is omitted and there is one chunk). The sample count is printed to
stderr. GEN_DATASET_START (Unix seconds) moves the start, e.g. so the data reaches the
present for rule-evaluation benchmarks.
"""
import argparse
import bisect
import math
import os
import random
import sys
import time

SEED = 20240601
TARGETS = 50
START = int(os.environ.get("GEN_DATASET_START", 1_700_006_400))  # a multiple of 2 h: one block
INTERVAL = 15


def fmt(v):
    if isinstance(v, int):
        return str(v)
    if v == math.inf:
        return "+Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def poisson(rng, lam):
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


def ts_str(ms):
    if ms % 1000 == 0:
        return str(ms // 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


def labels_str(name, labels):
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf]
HANDLERS = ["/api/v1/query", "/api/v1/write", "/login", "/metrics", "/static", "/search"]


class Series:
    """One series: its sample name and labels and `step()`, the next value."""

    def __init__(self, name, labels, step):
        self.prefix = labels_str(name, labels) + " "
        self.step = step

    def lines(self, stamps):
        p, step = self.prefix, self.step
        return [f"{p}{fmt(step())} {t}" for t in stamps]


class Histogram:
    """One handler's classic histogram: 12 cumulative buckets, _count and _sum, written
    together per scrape."""

    def __init__(self, rng, base, handler):
        self.rng = rng
        self.rate = math.exp(rng.uniform(math.log(0.5), math.log(200)))
        self.mu = rng.uniform(math.log(0.005), math.log(0.5))
        self.counts = [rng.randint(0, 1000)] * len(BUCKETS)
        self.total = self.counts[-1]
        self.sum = round(rng.uniform(0, 1000), 3)
        hl = {**base, "handler": handler}
        self.prefixes = [
            labels_str("http_request_duration_seconds_bucket",
                       {**hl, "le": fmt(ub) if ub != math.inf else "+Inf"}) + " "
            for ub in BUCKETS]
        self.count_prefix = labels_str("http_request_duration_seconds_count", hl) + " "
        self.sum_prefix = labels_str("http_request_duration_seconds_sum", hl) + " "

    def lines(self, stamps):
        rng, out, counts = self.rng, [], self.counts
        nb = len(BUCKETS)
        for t in stamps:
            k = poisson(rng, self.rate)
            new = [0] * nb
            for _ in range(k):
                o = rng.lognormvariate(self.mu, 1.0)
                self.sum += o
                new[bisect.bisect_left(BUCKETS, o)] += 1
            run = 0
            for bi in range(nb):
                run += new[bi]
                counts[bi] += run
            self.total += k
            out.extend(f"{p}{c} {t}" for p, c in zip(self.prefixes, counts))
            out.append(f"{self.count_prefix}{self.total} {t}")
            out.append(f"{self.sum_prefix}{fmt(self.sum)} {t}")
        return out

    @property
    def series(self):
        return len(BUCKETS) + 2


def walk(rng, start, step, lo, hi, quantum=1):
    v = [start]

    def f():
        v[0] = min(max(v[0] + rng.gauss(0, step), lo), hi)
        return int(round(v[0] / quantum)) * quantum
    return f


def counter(start, inc):
    v = [start]

    def f():
        v[0] += inc()
        return v[0]
    return f


class Target:
    """One scrape target: its timestamps and its series by family, in family order."""

    def __init__(self, i, families):
        self.instance = f"10.0.{i // 256}.{i % 256}:9100"
        self.job = ["api", "web", "worker", "db", "cache"][i % 5]
        self.jitter_rng = random.Random(f"{SEED}/{i}/jitter") if i % 10 == 3 else None
        self.i = i
        b = {"instance": self.instance, "job": self.job}
        fam = families

        def rng(key):
            return random.Random(f"{SEED}/{i}/{key}")

        def add(family, typ, help_, s):
            fam.setdefault(family, (typ, help_, {}))[2].setdefault(i, []).append(s)

        add("up", "gauge", "Target health.", Series("up", b, lambda: 1))
        add("build_info", "gauge", "Build information.", Series(
            "build_info", {**b, "version": "2.4.1", "revision": "abc123", "goversion": "go1.21.4"},
            lambda: 1))
        r = rng("start")
        st = round(START - r.uniform(1000, 900000), 2)
        add("process_start_time_seconds", "gauge", "Start time.",
            Series("process_start_time_seconds", b, lambda: st))
        for mp in ["/", "/home", "/var", "/boot"]:
            r = rng(f"fs{mp}")
            size = r.randint(1 << 18, 1 << 24) * 4096
            add("node_filesystem_size_bytes", "gauge", "Filesystem size.",
                Series("node_filesystem_size_bytes", {**b, "mountpoint": mp}, lambda s=size: s))
            add("node_filesystem_avail_bytes", "gauge", "Filesystem free space.",
                Series("node_filesystem_avail_bytes", {**b, "mountpoint": mp},
                       walk(r, size * 0.4, size * 1e-5, 0, size, 4096)))
        r = rng("fds")
        fds = r.randint(10, 200)
        add("process_open_fds", "gauge", "Open file descriptors.",
            Series("process_open_fds", b, lambda: fds + (1 if r.random() < 0.05 else 0)))
        r2 = rng("goroutines")
        g = [r2.randint(20, 200)]

        def goroutines():
            if r2.random() < 0.1:
                g[0] = max(1, g[0] + r2.randint(-3, 3))
            return g[0]
        add("go_goroutines", "gauge", "Goroutines.", Series("go_goroutines", b, goroutines))
        for h in HANDLERS[:-1] + ["/health", "/api/v1/labels", "/api/v1/series", "/api/v1/rules",
                                  "/api/v1/alerts", "/api/v1/targets"]:
            for method in ["GET", "POST"]:
                for code in ["200", "500"]:
                    r = rng(f"http{h}{method}{code}")
                    rate = math.exp(r.uniform(math.log(0.01), math.log(300)))
                    if code == "500":
                        rate /= 50
                    add("http_requests", "counter", "Requests served.", Series(
                        "http_requests_total", {**b, "handler": h, "method": method, "code": code},
                        counter(r.randint(0, 10**6), lambda r=r, rate=rate: poisson(r, rate))))
        for dev in ["eth0", "eth1", "lo", "docker0"]:
            for d in ["receive", "transmit"]:
                r = rng(f"net{dev}{d}")
                mean = math.exp(r.uniform(math.log(1e3), math.log(5e7)))
                add("node_network_bytes", "counter", "Network traffic.", Series(
                    "node_network_bytes_total", {**b, "device": dev, "direction": d},
                    counter(r.randint(0, 10**12),
                            lambda r=r, m=mean: max(0, int(r.gauss(m, m / 3))))))
        for cpu in range(4):
            for mode in ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"]:
                r = rng(f"cpu{cpu}{mode}")
                share = {"idle": 0.7, "user": 0.15, "system": 0.08}.get(mode, 0.01)
                c = counter(r.randint(0, 10**8),
                            lambda r=r, s=share: max(0, int(r.gauss(1500 * s, 150 * s + 1))))
                add("node_cpu_seconds", "counter", "CPU time.", Series(
                    "node_cpu_seconds_total", {**b, "cpu": str(cpu), "mode": mode},
                    lambda c=c: c() / 100))
        r = rng("pcpu")
        c = counter(r.randint(0, 10**6), lambda r=r: r.randint(0, 300))
        add("process_cpu_seconds", "counter", "CPU seconds.",
            Series("process_cpu_seconds_total", b, lambda c=c: c() / 100))
        for h in HANDLERS:
            add("http_request_duration_seconds", "histogram", "Request latency.",
                Histogram(rng(f"hist{h}"), b, h))
        for kind in ["MemFree", "Cached", "Active", "Inactive", "Dirty", "Slab"]:
            r = rng(f"mem{kind}")
            top = r.randint(1 << 20, 1 << 24)
            add("node_memory_bytes", "gauge", "Memory by kind.", Series(
                "node_memory_bytes", {**b, "kind": kind},
                walk(r, top * 1024 / 2, top * 2, 0, top * 1024, 1024)))
        r = rng("rss")
        rss = r.randint(10000, 500000) * 4096
        add("process_resident_memory_bytes", "gauge", "RSS.", Series(
            "process_resident_memory_bytes", b, walk(r, rss, 40960, 4096, rss * 4, 4096)))
        r3 = rng("heap")
        heap = r3.randint(5 * 10**6, 5 * 10**8)
        k = [0]

        def heap_bytes():
            v = int(heap * (1 + 0.3 * math.sin(k[0] / 7.0)) + r3.randint(0, 100000))
            k[0] += 1
            return v
        add("go_memstats_alloc_bytes", "gauge", "Heap bytes.",
            Series("go_memstats_alloc_bytes", b, heap_bytes))
        r = rng("load")
        base_load = r.uniform(0.1, 8)
        for name, smooth in [("node_load1", 1), ("node_load5", 5), ("node_load15", 15)]:
            rl = rng(name)
            add(name, "gauge", "Load average.", Series(
                name, b, lambda rl=rl, s=smooth: round(max(0.0, base_load + rl.gauss(0, 0.5 / s)), 2)))
        for sensor in ["cpu", "board"]:
            r = rng(f"temp{sensor}")
            t0 = r.uniform(35, 70)
            add("node_hwmon_temp_celsius", "gauge", "Temperatures.", Series(
                "node_hwmon_temp_celsius", {**b, "sensor": sensor},
                lambda r=r, t0=t0: round(t0 + r.gauss(0, 1.5), 3)))
        for q in ["ingest", "notify"]:
            r = rng(f"queue{q}")
            add("queue_length", "gauge", "Items waiting.",
                Series("queue_length", {**b, "queue": q}, walk(r, 20, 3, 0, 500)))
        for cname in ["l1", "l2", "disk"]:
            r = rng(f"cache{cname}")
            p = r.uniform(0.5, 0.99)
            state = [1, 1]

            def ratio(r=r, p=p, state=state):
                k = r.randint(50, 5000)
                state[1] += k
                state[0] += sum(1 for _ in range(k // 50) if r.random() < p) * 50
                return state[0] / state[1]
            add("cache_hit_ratio", "gauge", "Cache hit ratio.",
                Series("cache_hit_ratio", {**b, "cache": cname}, ratio))

    def stamps(self, first, n):
        """Timestamps (as written) of scrapes first..first+n."""
        out = []
        for s in range(first, first + n):
            ms = (START + s * INTERVAL) * 1000
            if self.jitter_rng is not None:
                ms += self.jitter_rng.randint(0, 25)
            out.append(ts_str(ms))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", nargs="?")
    ap.add_argument("--hours", type=float, default=2)
    ap.add_argument("--chunk-hours", type=float)
    ap.add_argument("--stream-chunks", action="store_true",
                    help="write chunk k+1 only once chunk k's file was deleted")
    args = ap.parse_args()
    steps = int(round(args.hours * 3600 / INTERVAL))
    chunk = int(round((args.chunk_hours or args.hours) * 3600 / INTERVAL))
    nchunks = max(1, -(-steps // chunk))
    if nchunks > 1 and not args.output:
        sys.exit("gen_dataset.py: --chunk-hours needs an OUTPUT path")
    families = {}
    targets = [Target(i, families) for i in range(TARGETS)]
    samples = 0
    for c in range(nchunks):
        first, n = c * chunk, min(chunk, steps - c * chunk)
        if nchunks == 1:
            path = args.output
        else:
            path = f"{args.output}.{c:03d}"
        if args.stream_chunks and c > 0:
            prev = f"{args.output}.{c - 1:03d}"
            while os.path.exists(prev):
                time.sleep(0.2)
        tmp = path + ".tmp" if path else None
        out = open(tmp, "w") if path else sys.stdout
        stamps = [tg.stamps(first, n) for tg in targets]
        for name, (typ, help_, by_target) in families.items():
            out.write(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n")
            for tg in targets:
                for s in by_target.get(tg.i, []):
                    lines = s.lines(stamps[tg.i])
                    samples += len(lines)
                    out.write("\n".join(lines))
                    out.write("\n")
        out.write("# EOF\n")
        if path:
            out.close()
            os.rename(tmp, path)
        print(f"chunk {c + 1}/{nchunks}: {path or 'stdout'}", file=sys.stderr)
    print(f"samples={samples}", file=sys.stderr)


if __name__ == "__main__":
    main()
