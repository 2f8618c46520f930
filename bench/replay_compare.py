#!/usr/bin/env python3
"""Head memory per series and WAL replay: promtui and Debian's Prometheus 2.42 side by
side on the same work, in one run.

Each peer scrapes the same loopback target exposing N series (default 1M) until its head
holds N x K samples (default K=10); we read its RSS (memory per active series), kill -9 it,
restart it with nothing to scrape and time the restart until /-/ready (WAL replay), with
its peak RSS. Both peers take the same flags (--config.file, --storage.tsdb.path,
--web.listen-address), so the procedure is identical.

Usage: bench/replay_compare.py [--series 1000000] [--samples 10] [--peers prometheus,promtui]
       [--promtui target/release/promtui]
Prints one JSON line per peer and the promtui/Prometheus ratios.
"""
import argparse
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def series_body(n, value):
    # 1000 metric names x (n / 1000) series each, 3 labels: a realistic fleet shape.
    per = max(1, n // 1000)
    lines = []
    for m in range(n // per):
        name = f"bench_metric_{m}"
        lines.append(f"# TYPE {name} gauge\n")
        for i in range(per):
            lines.append(f'{name}{{pod="pod-{i}",zone="z{i % 3}",path="/api/v{i % 7}"}} {value + i % 17}\n')
    return "".join(lines).encode()


class Target(http.server.BaseHTTPRequestHandler):
    bodies = []
    count = 0

    def do_GET(self):
        body = Target.bodies[Target.count % len(Target.bodies)]
        Target.count += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def self_metric(port, name):
    """Sums a metric from Prometheus' own /metrics (it does not scrape itself here)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        total = 0.0
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def wait_ready(port, proc, timeout=600):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"prometheus exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit("prometheus not ready in time")


PEERS = {
    # name: (metric prefix on its own /metrics, command line without the common flags)
    "prometheus": ("prometheus", ["prometheus", "--log.level=warn"]),
    "promtui": ("promtui", None),
}


def measure(peer, binary, a, tport, work):
    prefix, base = PEERS[peer]
    if base is None:
        base = [binary, "--log.level=warn", "serve"]
    work = os.path.join(work, peer)
    os.makedirs(work, exist_ok=True)
    pport = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(f"""global:
  scrape_interval: {a.interval}
  scrape_timeout: {a.interval}
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: ['127.0.0.1:{tport}']
""")
    data = os.path.join(work, "data")
    args = base + [f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                   f"--web.listen-address=127.0.0.1:{pport}"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(pport, p)
    # Wait until every series has K samples.
    want = a.series * a.samples
    t0 = time.monotonic()
    while True:
        time.sleep(2)
        got = self_metric(pport, f"{prefix}_tsdb_head_samples_appended_total")
        if got >= want:
            break
        if time.monotonic() - t0 > 1800:
            raise SystemExit(f"only {got} samples after 30 min")
    head_series = self_metric(pport, f"{prefix}_tsdb_head_series")
    rss = rss_kb(p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    wal_bytes = sum(os.path.getsize(os.path.join(dp, fn))
                    for dp, _, fns in os.walk(os.path.join(data, "promtui-wal")) for fn in fns)

    # Restart with nothing to scrape: the time to ready is the WAL replay.
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1h\n")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replay_s = wait_ready(pport, p)
    hwm = rss_kb(p.pid, "VmHWM")
    p.send_signal(signal.SIGKILL)
    p.wait()
    return {
        "peer": peer,
        "series": a.series,
        "samples_appended": got,
        "head_series": head_series,
        "rss_kb_after_ingest": rss,
        "bytes_per_series": rss * 1024 / max(head_series, 1),
        "wal_bytes": wal_bytes,
        "replay_seconds": round(replay_s, 3),
        "replay_peak_rss_kb": hwm,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--interval", default="10s")
    ap.add_argument("--peers", default="prometheus,promtui")
    ap.add_argument("--promtui", default="target/release/promtui")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="replay-compare-")
    Target.bodies = [series_body(a.series, v) for v in (1, 2)]
    tport = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", tport), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    results = {}
    for peer in a.peers.split(","):
        results[peer] = measure(peer, a.promtui, a, tport, work)
        print(json.dumps(results[peer]), flush=True)
    srv.shutdown()
    if "prometheus" in results and "promtui" in results:
        p, o = results["prometheus"], results["promtui"]
        print(json.dumps({
            "ratio_bytes_per_series": round(o["bytes_per_series"] / p["bytes_per_series"], 3),
            "ratio_replay_seconds": round(o["replay_seconds"] / p["replay_seconds"], 3),
            "ratio_replay_peak_rss": round(o["replay_peak_rss_kb"] / p["replay_peak_rss_kb"], 3),
        }))


if __name__ == "__main__":
    sys.exit(main())
