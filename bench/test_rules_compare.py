#!/usr/bin/env python3
"""`promtui test rules` against `promtool test rules` on one corpus, wall time.

Generates a corpus of rule unit tests (default 200 tests in 20 files: recording chains,
alerts with `for` and templates, promql_expr_tests, staleness and `x` repeats, series of
a few hundred samples each), checks both tools pass it, then times each tool over the
whole corpus in one invocation, alternating, and prints medians and the ratio.

    python3 bench/test_rules_compare.py [--tests 200] [--files 20] [--repeat 7]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RULES = """groups:
  - name: record
    rules:
      - record: job:requests:rate1m
        expr: sum by (job) (rate(requests_total[90s]))
      - record: job:errors:ratio
        expr: sum by (job) (rate(errors_total[2m])) / sum by (job) (rate(requests_total[2m]))
      - record: job:latency:p90
        expr: histogram_quantile(0.9, sum by (job, le) (rate(latency_bucket[2m])))
  - name: alerts
    rules:
      - alert: HighRate
        expr: job:requests:rate1m > 2
        for: 2m
        labels:
          severity: '{{ if gt $value 3.0 }}critical{{ else }}warning{{ end }}'
        annotations:
          summary: 'Rate of {{ $labels.job }} is {{ $value | humanize }}'
      - alert: ErrorRatio
        expr: job:errors:ratio > 0.1
        for: 1m
        annotations:
          description: '{{ $labels.job }} errors at {{ $value | humanizePercentage }}'
      - alert: Down
        expr: up == 0
        for: 3m
        annotations:
          description: '{{ $labels.instance }} down'
"""


def test_case(i):
    """One test: its own rates so results differ per case, exact expectations."""
    rate = 1 + (i % 4)  # per second: requests grow 60*rate per minute
    jobs = ["api", "web", "db"]
    series = []
    for j, job in enumerate(jobs):
        series.append(f"      - series: 'requests_total{{job=\"{job}\", instance=\"i{j}\"}}'\n"
                      f"        values: '0+{60 * (rate + j)}x60'")
        series.append(f"      - series: 'errors_total{{job=\"{job}\", instance=\"i{j}\"}}'\n"
                      f"        values: '0+{6 * (rate + j) * (j + 1)}x60'")
        for le, frac in (("0.1", 1), ("0.5", 3), ("1", 4), ("+Inf", 5)):
            series.append(f"      - series: 'latency_bucket{{job=\"{job}\", instance=\"i{j}\", le=\"{le}\"}}'\n"
                          f"        values: '0+{frac * 10}x60'")
        up = "1x60" if j != 2 else "1 1 0x58"
        series.append(f"      - series: 'up{{job=\"{job}\", instance=\"i{j}\"}}'\n        values: '{up}'")
    series.append("      - series: heartbeat\n        values: '1 1 stale _x5 1x10'")
    # Rates: job j has (rate + j) requests/s.
    exp_rate = [rate + j for j in range(3)]
    high = [(jobs[j], r) for j, r in enumerate(exp_rate) if r > 2]
    exp_alerts = "\n".join(
        f"          - exp_labels: {{job: {job}, severity: {'critical' if r > 3 else 'warning'}}}\n"
        f"            exp_annotations: {{summary: 'Rate of {job} is {r}'}}"
        for job, r in high)
    alerts = f"""      - eval_time: 10m
        alertname: HighRate
        exp_alerts:{' []' if not high else chr(10) + exp_alerts}
      - eval_time: 1m
        alertname: HighRate
        exp_alerts: []
      - eval_time: 10m
        alertname: Down
        exp_alerts:
          - exp_labels: {{job: db, instance: i2}}
            exp_annotations: {{description: 'i2 down'}}
      - eval_time: 2m
        alertname: Down
        exp_alerts: []"""
    samples = "\n".join(
        f"          - labels: 'job:requests:rate1m{{job=\"{jobs[j]}\"}}'\n            value: {r}"
        for j, r in enumerate(exp_rate))
    return f"""  - name: case {i}
    interval: 1m
    input_series:
{chr(10).join(series)}
    alert_rule_test:
{alerts}
    promql_expr_test:
      - expr: job:requests:rate1m
        eval_time: 20m
        exp_samples:
{samples}
      - expr: count(latency_bucket)
        eval_time: 30m
        exp_samples:
          - labels: '{{}}'
            value: 12
"""


def write_corpus(d, tests, files):
    with open(os.path.join(d, "rules.yml"), "w") as f:
        f.write(RULES)
    per = max(1, tests // files)
    names = []
    for k in range(files):
        name = os.path.join(d, f"test_{k:03}.yml")
        with open(name, "w") as f:
            f.write("rule_files: [rules.yml]\nevaluation_interval: 1m\n"
                    "group_eval_order: [record, alerts]\ntests:\n")
            for i in range(per):
                f.write(test_case(k * per + i))
        names.append(name)
    return names


def run(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return time.perf_counter() - t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=200)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--promtui", default=os.path.join(ROOT, "target/release/promtui"))
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        files = write_corpus(d, a.tests, a.files)
        tools = {"promtool": [a.promtool, "test", "rules", *files],
                 "promtui": [a.promtui, "test", "rules", *files]}
        for name, cmd in tools.items():
            _, p = run(cmd)
            if p.returncode != 0:
                print(f"{name} failed the corpus:\n{p.stdout[-3000:]}", file=sys.stderr)
                sys.exit(1)
        times = {n: [] for n in tools}
        for _ in range(a.repeat):
            for name, cmd in tools.items():
                times[name].append(run(cmd)[0])
        med = {n: statistics.median(v) for n, v in times.items()}
        print(f"corpus: {a.tests} tests in {a.files} files; {a.repeat} alternating runs each")
        for n in tools:
            print(f"{n:9} median {med[n] * 1000:8.1f} ms  (min {min(times[n]) * 1000:.1f}, max {max(times[n]) * 1000:.1f})")
        print(f"promtui / promtool = {med['promtui'] / med['promtool']:.3f} "
              f"({med['promtool'] / med['promtui']:.1f}x faster)")


if __name__ == "__main__":
    main()
