#!/usr/bin/env python3
"""The built-in Alertmanager against Debian's Alertmanager 0.25, in one run.

Each peer gets the same alertmanager.yml (group_by [alertname, group], group_wait 1s,
group_interval 5m, a webhook receiver on a local sink that answers 200) and the same
load: 1,000 active silences (regex matchers that select nothing, so every alert is
checked against all of them), then 10,000 active alerts in 500 groups re-posted every
--interval seconds (default 15) as a fleet of Prometheus servers would: batches of 64
alerts per POST /api/v2/alerts, from --senders parallel connections (one process each,
--client threads for threads of one), endsAt 4 minutes
ahead as Prometheus sets it.

Per peer, over --cycles re-post cycles after a warm-up cycle:
  ingest throughput  alerts accepted per second while a cycle is being posted
  CPU per cycle      utime+stime of the peer process over the measured cycles (/proc),
                     divided by their number (/proc counts 10 ms ticks: a mean over
                     the cycles resolves what a median of single cycles cannot)
  RSS                resident memory at the end (/proc/PID/status VmRSS)
  notification p99   time from posting a new group's first alert to its webhook
                     arriving, minus group_wait, over --probes new groups

Peers run one after the other (the machine is shared: running them at once would let
one starve the other). Ratios promtui/Alertmanager are printed at the end.

With --repeats N the whole comparison runs N times and the medians of each figure and
ratio are printed (the machine may be shared: CPU-time ratios are the reliable ones,
wall-clock throughput moves with the load, which is printed with each run).
--peers promtui runs promtui alone (e.g. under `perf record -p PID`; its PID is printed).

Usage: bench/alertmanager_compare.py [--promtui target/release/promtui] [--cycles 4]
       [--interval 15] [--senders 4] [--probes 50] [--repeats 1]
       [--peers alertmanager,promtui]
"""
import argparse
import http.client
import http.server
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

TICKS = os.sysconf("SC_CLK_TCK")
ALERTS, GROUPS, SILENCES, BATCH = 10_000, 500, 1_000, 64


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Sink(http.server.BaseHTTPRequestHandler):
    """Answers 200 and records when each group key first arrives."""
    arrivals = {}
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.monotonic()
        try:
            key = json.loads(body)["groupKey"]
            with Sink.lock:
                Sink.arrivals.setdefault(key, now)
        except (ValueError, KeyError):
            pass
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def config(sink_port):
    return f"""
route:
  receiver: sink
  group_by: [alertname, group]
  group_wait: 1s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:{sink_port}/
"""


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def batches(start, ends):
    alerts = []
    for i in range(ALERTS):
        g = i % GROUPS
        alerts.append({
            "labels": {"alertname": f"Fleet{g % 25}", "group": f"g{g}", "instance": f"host-{i}:9100",
                       "job": "node", "severity": "warning"},
            "annotations": {"summary": f"instance host-{i} is unhappy", "runbook": "http://runbooks/fleet"},
            "startsAt": start, "endsAt": ends, "generatorURL": "http://prometheus:9090/graph?g0.expr=up"})
    return [json.dumps(alerts[i:i + BATCH]).encode() for i in range(0, ALERTS, BATCH)]


def _send(port, chunk):
    """One sender: posts `chunk` over one keep-alive connection; returns (start, end) on
    the system-wide monotonic clock, so spans from several processes compare."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.monotonic()
    for b in chunk:
        c.request("POST", "/api/v2/alerts", body=b, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"POST answered {r.status}")
    t1 = time.monotonic()
    c.close()
    return t0, t1


def post_all(port, bodies, senders, pool=None):
    """Posts the bodies from `senders` parallel keep-alive connections; returns the
    seconds from the first sender's first request to the last sender's last answer.

    With `pool` (a process pool) each sender is its own process: Python threads share
    one interpreter lock, and a server that answers a 64-alert POST in well under a
    millisecond would otherwise be measured at the client's speed, not its own."""
    chunks = [bodies[i::senders] for i in range(senders)]
    if pool is not None:
        spans = pool.starmap(_send, [(port, ch) for ch in chunks])
    else:
        with ThreadPoolExecutor(senders) as ex:
            spans = list(ex.map(lambda ch: _send(port, ch), chunks))
    return max(e for _, e in spans) - min(s for s, _ in spans)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def add_silences(port):
    now = datetime.now(timezone.utc)
    for k in range(SILENCES):
        body = json.dumps({
            "matchers": [{"name": "instance", "value": f"decommissioned-{k}-.*", "isRegex": True, "isEqual": True}],
            "startsAt": iso(now), "endsAt": iso(now + timedelta(hours=2)),
            "createdBy": "bench", "comment": f"silence {k}"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/silences", data=body,
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()


def start_peer(name, binary, workdir, sink_port):
    cfg = os.path.join(workdir, "am.yml")
    with open(cfg, "w") as f:
        f.write(config(sink_port))
    port = free_port()
    if name == "alertmanager":
        cmd = [binary, f"--config.file={cfg}", f"--storage.path={workdir}/am",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    else:
        prom = os.path.join(workdir, "promtui.yml")
        with open(prom, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        cmd = [binary, "serve", "--log.level=warn", f"--config.file={prom}",
               f"--storage.tsdb.path={workdir}/data", f"--web.listen-address=127.0.0.1:{free_port()}",
               f"--alertmanager.listen-address=127.0.0.1:{port}", f"--alertmanager.config.file={cfg}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"  {name} pid {p.pid}", flush=True)
    wait_ready(f"http://127.0.0.1:{port}/-/ready")
    return p, port


def run_peer(name, binary, args, sink_port):
    with Sink.lock:
        Sink.arrivals.clear()  # probe group keys repeat across --repeats
    workdir = tempfile.mkdtemp(prefix=f"ambench-{name}-")
    p, port = start_peer(name, binary, workdir, sink_port)
    try:
        add_silences(port)
        start = iso(datetime.now(timezone.utc))
        rates, cpus = [], []
        pool = (multiprocessing.get_context("fork").Pool(args.senders)
                if args.client == "processes" else None)
        for cycle in range(args.cycles + 1):
            t_cycle = time.monotonic()
            bodies = batches(start, iso(datetime.now(timezone.utc) + timedelta(minutes=4)))
            c0 = cpu_seconds(p.pid)
            took = post_all(port, bodies, args.senders, pool)
            rest = args.interval - (time.monotonic() - t_cycle)
            if rest > 0:
                time.sleep(rest)
            c1 = cpu_seconds(p.pid)
            if cycle > 0:  # the first cycle creates the groups: warm-up
                rates.append(ALERTS / took)
                cpus.append(c1 - c0)
            print(f"  {name} cycle {cycle}: posted in {took:.2f}s ({ALERTS / took:,.0f} alerts/s), "
                  f"CPU {c1 - c0:.2f}s", flush=True)
        if pool is not None:
            pool.close()
        rss = rss_mib(p.pid)
        # Notification latency: new groups, first alert each; time to the webhook.
        lat = []
        for k in range(args.probes):
            key_label = f"Probe{name}{k}"
            body = json.dumps([{"labels": {"alertname": key_label, "group": "probe"}}]).encode()
            with Sink.lock:
                pass
            t0 = time.monotonic()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=body,
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
            deadline = t0 + 10
            got = None
            while time.monotonic() < deadline and got is None:
                with Sink.lock:
                    for gk, t in Sink.arrivals.items():
                        if f'alertname="{key_label}"' in gk:
                            got = t
                time.sleep(0.002)
            if got is not None:
                lat.append(max(0.0, got - t0 - 1.0) * 1000)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
        return {"rate": statistics.median(rates), "cpu": sum(cpus) / len(cpus), "rss": rss,
                "p99_ms": p99, "probes": len(lat)}
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--promtui", default="target/release/promtui")
    ap.add_argument("--alertmanager", default="/usr/bin/prometheus-alertmanager")
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--interval", type=float, default=15)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--client", choices=("processes", "threads"), default="processes",
                    help="senders as processes (default) or as threads of this one")
    ap.add_argument("--probes", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--peers", default="alertmanager,promtui")
    args = ap.parse_args()
    peers = [n for n in args.peers.split(",") if n]
    binaries = {"alertmanager": args.alertmanager, "promtui": args.promtui}
    for n in peers:
        if n not in binaries:
            sys.exit(f"unknown peer {n!r}")
        if not os.path.exists(binaries[n]):
            sys.exit(f"{binaries[n]} not found")
    sink_port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"{ALERTS} alerts in {GROUPS} groups, {SILENCES} silences, re-posted every {args.interval}s, "
          f"{args.cycles} measured cycles, {args.repeats} repeat(s); promtui = {args.promtui}")
    runs = []
    for rep in range(args.repeats):
        res = {}
        for name in peers:
            res[name] = run_peer(name, binaries[name], args, sink_port)
        res["load"] = loadavg()
        runs.append(res)
        if len(peers) == 2:
            report(res, f"run {rep + 1}/{args.repeats}, load average at the end {res['load']}")
        else:
            print(f"run {rep + 1}: {res}")
    if len(peers) == 2 and args.repeats > 1:
        med = {}
        for name in peers:
            med[name] = {k: statistics.median(r[name][k] for r in runs)
                         for k in ("rate", "cpu", "rss", "p99_ms", "probes")}
        ratios = {k: statistics.median(r["promtui"][k] / max(r["alertmanager"][k], 1e-9) for r in runs)
                  for k in ("rate", "cpu", "rss")}
        report(med, f"medians over {args.repeats} runs (load averages: "
                    f"{'; '.join(r['load'] for r in runs)})", ratios)


def report(res, title, ratios=None):
    a, p = res["alertmanager"], res["promtui"]
    r = ratios or {k: p[k] / max(a[k], 1e-9) for k in ("rate", "cpu", "rss")}
    print()
    print(title)
    print(f"{'':22}{'Alertmanager 0.25':>20}{'promtui':>14}{'ratio':>10}")
    print(f"{'ingest (alerts/s)':22}{a['rate']:>20,.0f}{p['rate']:>14,.0f}{r['rate']:>9.2f}x")
    print(f"{'CPU per cycle (s)':22}{a['cpu']:>20.3f}{p['cpu']:>14.3f}{r['cpu']:>9.2f}x")
    print(f"{'RSS (MiB)':22}{a['rss']:>20.1f}{p['rss']:>14.1f}{r['rss']:>9.2f}x")
    print(f"{'notify p99 (ms)':22}{a['p99_ms']:>20.1f}{p['p99_ms']:>14.1f}"
          f"   ({a['probes']:.0f}/{p['probes']:.0f} probes beyond group_wait)")
    print("targets: ingest >= 5x, CPU <= 0.3x, RSS <= 0.5x, promtui p99 < 50 ms", flush=True)


if __name__ == "__main__":
    main()
