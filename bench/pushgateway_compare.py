#!/usr/bin/env python3
"""Pushgateway cost: promtui's built-in gateway and Debian's prometheus-pushgateway 1.5,
one after the other in one run, on loopback.

Per peer:
1. fill: --clients concurrent clients PUT --groups distinct groups
   (/metrics/job/bench/instance/g<i>) of --metrics metrics each, each client on one
   keep-alive connection, closed loop. Reported per 1k groups (flatness as the store
   grows) and overall: requests/s and p99 latency. A peer that has not finished after
   --fill-budget seconds stops there (Pushgateway 1.5 checks every push against all
   stored metrics and slows as groups grow); the groups reached are reported.
2. re-push: the same clients re-PUT random existing groups for --repush-seconds.
3. scrape: GET /metrics --scrapes times; median latency and body size.
4. RSS (VmRSS) of the peer after the run.
Because the consistency-checked Pushgateway may not reach --groups in the budget, a
second Pushgateway run with --push.disable-consistency-check (pushes are queued, not
checked; 202) is filled to --groups to compare scrape latency and RSS at equal size.

Both peers persist: promtui commits each push to SQLite before answering; Pushgateway
writes its --persistence.file every --persistence.interval (5m default).

Usage: bench/pushgateway_compare.py [--groups 10000] [--metrics 50] [--clients 8]
       [--fill-budget 180] [--repush-seconds 20] [--scrapes 5]
       [--promtui target/release/promtui] [--peers promtui,pushgateway]
"""
import argparse
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ok(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def body(group, metrics, gen):
    lines = ["# TYPE bench_value gauge\n", "# HELP bench_value A benchmark gauge.\n"]
    for m in range(metrics):
        lines.append(f'bench_value{{series="s{m}",shard="{m % 7}"}} {group * 1000 + m + gen}\n')
    return "".join(lines).encode()


def request(port, group, metrics, gen):
    b = body(group, metrics, gen)
    head = (
        f"PUT /metrics/job/bench/instance/g{group} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain; version=0.0.4\r\nContent-Length: {len(b)}\r\n\r\n"
    ).encode()
    return head + b


def read_response(sock, buf):
    """Reads one HTTP response; returns (status, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        rest += chunk
    return status, rest[length:]


def client(port, groups, metrics, deadline, repush, gen, out):
    """One closed-loop client: pushes its groups in order (or random ones when
    `repush`), until done or the deadline; sends (group, latency, status) back."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    res = []
    rnd = random.Random(hash((port, gen, tuple(groups[:3]))))
    i = 0
    while time.time() < deadline:
        if repush:
            g = rnd.choice(groups)
        else:
            if i >= len(groups):
                break
            g = groups[i]
            i += 1
        req = request(port, g, metrics, gen)
        t = time.perf_counter()
        sock.sendall(req)
        status, buf = read_response(sock, buf)
        res.append((g, time.perf_counter() - t, status))
    sock.close()
    out.put(res)


def run_clients(port, n_groups, metrics, clients, seconds, repush, gen, reached=None):
    out = multiprocessing.Queue()
    pool = reached if reached is not None else n_groups
    procs = []
    deadline = time.time() + seconds
    start = time.time()
    for c in range(clients):
        mine = list(range(c, pool, clients))
        p = multiprocessing.Process(
            target=client, args=(port, mine, metrics, deadline, repush, gen, out)
        )
        p.start()
        procs.append(p)
    results = []
    for _ in procs:
        results.extend(out.get())
    for p in procs:
        p.join()
    return results, time.time() - start


def p99(lat):
    if not lat:
        return float("nan")
    s = sorted(lat)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port, n):
    times, size = [], 0
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=600) as r:
            data = r.read()
        times.append(time.perf_counter() - t)
        size = len(data)
    return statistics.median(times), size


def start_peer(kind, args, tmp, check=True):
    port = free_port()
    d = tempfile.mkdtemp(dir=tmp)
    if kind == "promtui":
        cfg = os.path.join(d, "promtui.yml")
        with open(cfg, "w") as f:
            f.write("scrape_configs: []\n")
        cmd = [
            args.promtui, "serve", "--log.level=warn", f"--config.file={cfg}",
            f"--storage.tsdb.path={os.path.join(d, 'data')}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            f"--pushgateway.listen-address=127.0.0.1:{port}",
        ]
    else:
        cmd = [
            PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={os.path.join(d, 'pg.db')}", "--log.level=warn",
        ]
        if not check:
            cmd.append("--push.disable-consistency-check")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "w"))
    wait_ok(f"http://127.0.0.1:{port}/-/ready")
    return proc, port


def bench_peer(kind, args, tmp, check=True):
    name = kind if check else f"{kind} (no consistency check)"
    proc, port = start_peer(kind, args, tmp, check)
    try:
        res, took = run_clients(port, args.groups, args.metrics, args.clients, args.fill_budget, False, 0)
        bad = sum(1 for _, _, s in res if s >= 300)
        reached = len({g for g, _, _ in res})
        lat = [l for _, l, _ in res]
        r = {
            "peer": name,
            "fill_groups": reached,
            "fill_rps": len(res) / took,
            "fill_p99_ms": p99(lat) * 1000,
            "fill_errors": bad,
            "buckets": [],
        }
        for b in range(0, args.groups, 1000):
            part = [l for g, l, _ in res if b <= g < b + 1000]
            if part:
                # Throughput of a bucket: its requests over the time the clients spent on them.
                r["buckets"].append((b + 1000, len(part) * args.clients / sum(part), p99(part) * 1000))
        if args.repush_seconds > 0 and reached:
            res2, took2 = run_clients(port, args.groups, args.metrics, args.clients, args.repush_seconds, True, 1, reached)
            r["repush_rps"] = len(res2) / took2
            r["repush_p99_ms"] = p99([l for _, l, _ in res2]) * 1000
            r["repush_errors"] = sum(1 for _, _, s in res2 if s >= 300)
        r["scrape_s"], r["scrape_bytes"] = scrape(port, args.scrapes)
        r["rss_mib"] = rss_mib(proc.pid)
        return r
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def show(r):
    print(f"\n== {r['peer']}")
    print(f"fill: {r['fill_groups']} groups, {r['fill_rps']:.0f} req/s, p99 {r['fill_p99_ms']:.2f} ms, errors {r['fill_errors']}")
    print("  per 1k groups (groups so far: req/s, p99 ms): " + ", ".join(
        f"{g}: {rps:.0f}/s {p:.1f}" for g, rps, p in r["buckets"]))
    if "repush_rps" in r:
        print(f"re-push: {r['repush_rps']:.0f} req/s, p99 {r['repush_p99_ms']:.2f} ms, errors {r['repush_errors']}")
    print(f"scrape /metrics: {r['scrape_s'] * 1000:.0f} ms median, {r['scrape_bytes'] / 1e6:.1f} MB")
    print(f"RSS after the run: {r['rss_mib']:.0f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=10000)
    ap.add_argument("--metrics", type=int, default=50)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--fill-budget", type=float, default=180)
    ap.add_argument("--repush-seconds", type=float, default=20)
    ap.add_argument("--scrapes", type=int, default=5)
    ap.add_argument("--promtui", default="target/release/promtui")
    ap.add_argument("--peers", default="promtui,pushgateway")
    args = ap.parse_args()
    print(f"{args.groups} groups x {args.metrics} metrics, {args.clients} clients, "
          f"{os.cpu_count()} CPUs")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for peer in args.peers.split(","):
            r = bench_peer(peer, args, tmp)
            show(r)
            results[peer] = r
        if "pushgateway" in results and results["pushgateway"]["fill_groups"] < args.groups:
            r = bench_peer("pushgateway", args, tmp, check=False)
            show(r)
            results["pushgateway_full"] = r
    if "promtui" in results and "pushgateway" in results:
        p, g = results["promtui"], results["pushgateway"]
        full = results.get("pushgateway_full", g)
        print("\n== ratios (promtui / Pushgateway 1.5)")
        print(f"fill req/s: {p['fill_rps'] / g['fill_rps']:.1f}x (Pushgateway reached {g['fill_groups']} groups)")
        if "repush_rps" in p and "repush_rps" in g:
            print(f"re-push req/s: {p['repush_rps'] / g['repush_rps']:.1f}x; "
                  f"p99 {p['repush_p99_ms']:.2f} ms vs {g['repush_p99_ms']:.2f} ms")
        print(f"scrape latency at {args.groups} groups: {p['scrape_s'] / full['scrape_s']:.2f}x "
              f"({p['scrape_s'] * 1000:.0f} ms vs {full['scrape_s'] * 1000:.0f} ms, {full['peer']})")
        print(f"RSS: {p['rss_mib'] / full['rss_mib']:.2f}x ({p['rss_mib']:.0f} MiB vs "
              f"{full['rss_mib']:.0f} MiB, {full['peer']})")
        b = p["buckets"]
        if len(b) >= 2:
            print(f"promtui flatness: last 1k groups at {b[-1][1] / b[0][1]:.2f}x the first 1k's req/s")


if __name__ == "__main__":
    main()
