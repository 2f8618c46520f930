#!/usr/bin/env python3
"""Scrape-engine cost: promtui and Debian's Prometheus 2.42 side by side on the same
synthetic fleet, in one run.

A loopback HTTP server exposes --targets targets (default 100) of --series series each
(default 1000: 100k active series in total); every target's values change on every
scrape. Both peers run at the same time, each scraping its own fleet server process, so
load from the rest of the shared machine hits both alike (--sequential runs them one
after the other against one server instead). Each peer scrapes the fleet every second for --seconds (default 120) after a
warm-up. From the peer's own /proc entry and /metrics we take: CPU seconds per million
ingested samples, steady RSS per active series, and scrapes done versus the scrapes the
interval asks for (a miss is a scrape that did not happen).

Usage: bench/scrape_compare.py [--targets 100] [--series 1000] [--seconds 120]
       [--peers prometheus,promtui] [--promtui target/release/promtui] [--sequential]
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
    """A few versions of one target's body; the server rotates them so values change."""
    bodies = []
    for k in range(variants):
        lines = ["# TYPE fleet_requests_total counter\n"]
        for i in range(series):
            lines.append(f'fleet_requests_total{{path="/p{i % 50}",code="{200 + i % 5}",shard="{i}"}} {1000 + i * 7 + k * (i % 13)}\n')
        bodies.append("".join(lines).encode())
    return bodies


class Fleet(http.server.BaseHTTPRequestHandler):
    bodies = []
    counter = 0
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_GET(self):
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


def wait_ready(port, proc, timeout=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"peer exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit("peer not ready")


PEERS = {
    # samples counter, scrapes counter on the peer's own /metrics
    "prometheus": ("prometheus_tsdb_head_samples_appended_total",
                   "prometheus_target_interval_length_seconds_count",
                   "prometheus_tsdb_head_series"),
    "promtui": ("promtui_tsdb_head_samples_appended_total",
                "promtui_target_scrapes_total",
                "promtui_tsdb_head_series"),
}


def run_peer(peer, a, fleet_port, work):
    samples_m, scrapes_m, series_m = PEERS[peer]
    d = os.path.join(work, peer)
    os.makedirs(d, exist_ok=True)
    # Distinct targets need distinct labels: one static group per fleet member, and the
    # member in the URL and in `instance`.
    cfg = os.path.join(d, "config.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n")
        f.write("  - job_name: fleet\n    static_configs:\n")
        for i in range(a.targets):
            f.write(f"      - targets: ['127.0.0.1:{fleet_port}']\n        labels:\n          member: 'm{i}'\n")
        f.write("    relabel_configs:\n      - source_labels: [member]\n        target_label: __param_member\n")
        f.write("      - source_labels: [__address__, member]\n        separator: '/'\n        target_label: instance\n")
    port = free_port()
    common = [f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(d, 'data')}",
              f"--web.listen-address=127.0.0.1:{port}"]
    if peer == "prometheus":
        cmd = ["prometheus", "--log.level=warn"] + common
    else:
        cmd = [a.promtui, "--log.level=warn", "serve"] + common
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, p)
        time.sleep(a.warmup)
        m0, c0, t0 = metrics(port), cpu_seconds(p.pid), time.monotonic()
        rss_samples = []
        while time.monotonic() - t0 < a.seconds:
            time.sleep(5)
            rss_samples.append(rss_kb(p.pid))
        m1, c1, t1 = metrics(port), cpu_seconds(p.pid), time.monotonic()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    samples = metric_sum(m1, samples_m) - metric_sum(m0, samples_m)
    scrapes = metric_sum(m1, scrapes_m) - metric_sum(m0, scrapes_m)
    series = metric_sum(m1, series_m)
    elapsed = t1 - t0
    expected = a.targets * elapsed
    rss_samples.sort()
    steady_rss = rss_samples[len(rss_samples) // 2] if rss_samples else rss_kb(p.pid)
    return {
        "peer": peer,
        "seconds": round(elapsed, 1),
        "samples": samples,
        "cpu_seconds": round(c1 - c0, 2),
        "cpu_s_per_million_samples": round((c1 - c0) / (samples / 1e6), 3) if samples else None,
        "head_series": series,
        "steady_rss_kb": steady_rss,
        "rss_bytes_per_series": round(steady_rss * 1024 / series, 1) if series else None,
        "scrapes": scrapes,
        "scrapes_expected": round(expected),
        "missed_fraction": round(max(0.0, 1 - scrapes / expected), 4) if expected else None,
    }


def serve_fleet(port, series):
    """A fleet server in its own process (one per peer when they run together)."""
    Fleet.bodies = make_bodies(series)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Fleet).serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--peers", default="prometheus,promtui")
    ap.add_argument("--promtui", default="target/release/promtui")
    ap.add_argument("--sequential", action="store_true",
                    help="run the peers one after the other (default: at the same time, "
                         "each against its own fleet server process, so machine load hits "
                         "both alike)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="scrape-compare-")
    peers = a.peers.split(",")
    res = {}
    if a.sequential:
        Fleet.bodies = make_bodies(a.series)
        port = free_port()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Fleet)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        for peer in peers:
            res[peer] = run_peer(peer, a, port, work)
            print(json.dumps(res[peer]), flush=True)
        srv.shutdown()
    else:
        fleets, threads = [], []
        for peer in peers:
            port = free_port()
            fp = multiprocessing.Process(target=serve_fleet, args=(port, a.series), daemon=True)
            fp.start()
            fleets.append(fp)

            def go(peer=peer, port=port):
                res[peer] = run_peer(peer, a, port, work)

            threads.append(threading.Thread(target=go))
        time.sleep(1)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for fp in fleets:
            fp.terminate()
        for peer in peers:
            if peer in res:
                print(json.dumps(res[peer]), flush=True)
    if "prometheus" in res and "promtui" in res:
        p, o = res["prometheus"], res["promtui"]
        print(json.dumps({
            "ratio_cpu_per_million_samples": round(o["cpu_s_per_million_samples"] / p["cpu_s_per_million_samples"], 3),
            "ratio_rss_per_series": round(o["rss_bytes_per_series"] / p["rss_bytes_per_series"], 3),
        }))


if __name__ == "__main__":
    main()
