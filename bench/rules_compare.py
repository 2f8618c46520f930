#!/usr/bin/env python3
"""Rule-evaluation cost: promtui and Debian's Prometheus 2.42 side by side, in one run.

Both load the same 10k-series dataset (bench/gen_dataset.py: 50 targets x 200 series of
mixed counters, gauges and 12-bucket histograms), generated so that its two hours end
just after both have loaded it: rules evaluated at wall-clock time then see moving,
current data for the few minutes the measurement takes, and their results append after
the imported blocks (out of bounds otherwise).
Then, for each peer at the same time:
  phase A: no rules, --seconds of idle CPU (the baseline: the head, the HTTP server);
  phase B: 1,000 rules (50 groups x 20, 15 s interval: sum by of rate, error ratios,
           histogram_quantile over rate of buckets, group_left joins, topk, alerting
           rules with `for`) loaded by /-/reload, one cycle of warm-up, then --seconds.
CPU per evaluation cycle = (CPU rate in B - CPU rate in A) x 15 s. Also the sum of
`prometheus_rule_group_last_duration_seconds` over the groups (evaluation wall time of
one cycle), missed iterations and evaluation failures, each peer's own metrics.

    python3 bench/rules_compare.py [--seconds 90] [--promtui target/release/promtui]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL = 15


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICKS


def metrics(port):
    out = {}
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    for line in body.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        try:
            out[name_labels] = float(value)
        except ValueError:
            pass
    return out


def msum(m, name):
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def wait_ready(port, proc, timeout=300):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            sys.exit(f"peer on {port} exited with {proc.returncode}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200:
                return
        except Exception:
            pass
        time.sleep(0.5)
    sys.exit(f"peer on {port} not ready")


def rules_yaml():
    handlers = ["/api/v1/query", "/api/v1/write", "/login", "/metrics", "/static",
                "/health", "/api/v1/labels", "/api/v1/series", "/api/v1/rules"]
    jobs = ["api", "web", "worker", "db", "cache"]
    exprs = []
    for i in range(1000):
        h = handlers[i % len(handlers)]
        j = jobs[i % len(jobs)]
        kind = i % 10
        if kind == 0:
            e = f'sum by (job) (rate(http_requests_total{{handler="{h}"}}[5m]))'
        elif kind == 1:
            e = (f'sum by (job, handler) (rate(http_requests_total{{code=~"5..", job="{j}"}}[5m])) / '
                 f'sum by (job, handler) (rate(http_requests_total{{job="{j}"}}[5m]))')
        elif kind == 2:
            q = [0.5, 0.9, 0.95, 0.99][i % 4]
            e = (f'histogram_quantile({q}, sum by (le, job) '
                 f'(rate(http_request_duration_seconds_bucket{{job="{j}"}}[5m])))')
        elif kind == 3:
            e = (f'sum by (instance) (rate(node_cpu_seconds_total{{mode!="idle"}}[5m])) '
                 f'* on (instance) group_left (version) build_info{{job="{j}"}}')
        elif kind == 4:
            e = f'topk(5, sum by (instance, handler) (rate(http_requests_total{{job="{j}"}}[5m])))'
        elif kind == 5:
            e = (f'1 - node_filesystem_avail_bytes{{job="{j}"}} / node_filesystem_size_bytes{{job="{j}"}}')
        elif kind == 6:
            e = f'avg_over_time(queue_length{{job="{j}"}}[10m]) > {i % 7}'
        elif kind == 7:
            e = f'sum by (job, direction) (rate(node_network_bytes_total{{job="{j}"}}[5m]))'
        elif kind == 8:
            e = (f'sum by (job) (rate(http_request_duration_seconds_sum{{handler="{h}"}}[5m])) / '
                 f'sum by (job) (rate(http_request_duration_seconds_count{{handler="{h}"}}[5m]))')
        else:
            e = f'max by (job) (node_load1{{job="{j}"}}) > {1 + i % 5}'
        exprs.append((i, kind, e))
    lines = ["groups:"]
    for g in range(50):
        lines.append(f"  - name: group_{g:02}\n    interval: {INTERVAL}s\n    rules:")
        for i, kind, e in exprs[g * 20:(g + 1) * 20]:
            if kind in (6, 9):
                lines.append(f"      - alert: Bench{i}\n        expr: '{e}'\n        for: 1m\n"
                             f"        labels: {{severity: warning}}\n"
                             f"        annotations: {{summary: 'value {{{{ $value }}}} on {{{{ $labels.job }}}}'}}")
            else:
                lines.append(f"      - record: bench:rule_{i}:rate5m\n        expr: '{e}'")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--setup", type=int, default=150,
                    help="seconds allowed for generating and importing the dataset")
    ap.add_argument("--promtui", default=os.path.join(os.path.dirname(HERE), "target/release/promtui"))
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rules-compare-")
    now = int(time.time())
    end = now + a.setup
    start = (end - 7200) // INTERVAL * INTERVAL
    data = os.path.join(work, "data.om")
    env = dict(os.environ, GEN_DATASET_START=str(start))
    subprocess.run([sys.executable, os.path.join(HERE, "gen_dataset.py"), data], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    prom_dir, ptui_dir = os.path.join(work, "prom"), os.path.join(work, "promtui")
    subprocess.run([a.promtool, "tsdb", "create-blocks-from", "openmetrics", data, prom_dir],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([a.promtui, "--log.level=warn", "tsdb", "import", "openmetrics", data,
                    "--storage.tsdb.path", ptui_dir], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(work, "rules.yml"), "w") as f:
        f.write(rules_yaml())
    cfg_none = f"global:\n  evaluation_interval: {INTERVAL}s\n"
    cfg_rules = cfg_none + f"rule_files: ['{work}/rules.yml']\n"
    peers = {}
    for name in ("prometheus", "promtui"):
        port = free_port()
        cfg = os.path.join(work, f"{name}.yml")
        with open(cfg, "w") as f:
            f.write(cfg_none)
        if name == "prometheus":
            cmd = [a.prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={prom_dir}",
                   f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"]
        else:
            cmd = [a.promtui, "serve", "--log.level=warn", f"--config.file={cfg}",
                   f"--storage.tsdb.path={ptui_dir}", f"--web.listen-address=127.0.0.1:{port}",
                   "--web.enable-lifecycle"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peers[name] = (proc, port, cfg)
    try:
        for name, (proc, port, _) in peers.items():
            wait_ready(port, proc)
        # The samples reach `end`: rule results must come after them.
        time.sleep(max(5, start + 7200 - time.time() + 2))
        c0 = {n: cpu_seconds(p.pid) for n, (p, _, _) in peers.items()}
        time.sleep(a.seconds)
        base = {n: (cpu_seconds(p.pid) - c0[n]) / a.seconds for n, (p, _, _) in peers.items()}
        for n, (p, port, cfg) in peers.items():
            with open(cfg, "w") as f:
                f.write(cfg_rules)
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/-/reload",
                                                          method="POST"), timeout=120)
        time.sleep(INTERVAL + 5)
        c1 = {n: cpu_seconds(p.pid) for n, (p, _, _) in peers.items()}
        m1 = {n: metrics(port) for n, (_, port, _) in peers.items()}
        time.sleep(a.seconds)
        with_rules = {n: (cpu_seconds(p.pid) - c1[n]) / a.seconds for n, (p, _, _) in peers.items()}
        m2 = {n: metrics(port) for n, (_, port, _) in peers.items()}
        print(f"dataset: 10k series ending {start + 7200 - now}s after start of run; "
              f"1000 rules in 50 groups at {INTERVAL}s; phases of {a.seconds:.0f}s")
        res = {}
        for n in peers:
            per_cycle = (with_rules[n] - base[n]) * INTERVAL
            evals = msum(m2[n], "prometheus_rule_evaluations_total") - msum(m1[n], "prometheus_rule_evaluations_total")
            fails = msum(m2[n], "prometheus_rule_evaluation_failures_total")
            missed = msum(m2[n], "prometheus_rule_group_iterations_missed_total")
            last = msum(m2[n], "prometheus_rule_group_last_duration_seconds")
            series = msum(m2[n], "prometheus_tsdb_head_series")
            res[n] = per_cycle
            print(f"{n:10} CPU/cycle {per_cycle * 1000:8.1f} ms  (baseline {base[n] * 100:.1f}% "
                  f"with rules {with_rules[n] * 100:.1f}%)  eval wall/cycle {last * 1000:7.1f} ms  "
                  f"evaluations {evals:.0f} failures {fails:.0f} missed {missed:.0f} head series {series:.0f}")
        for n, (_, port, _) in peers.items():
            import json
            body = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=30))
            errs = {}
            for g in body["data"]["groups"]:
                for r in g["rules"]:
                    if r.get("lastError"):
                        errs.setdefault(r["lastError"], r["query"])
            for e, q in list(errs.items())[:5]:
                print(f"  {n} rule error: {e}\n    in: {q}")
        print(f"promtui / prometheus CPU per cycle = {res['promtui'] / res['prometheus']:.3f}")
    finally:
        for p, _, _ in peers.values():
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
