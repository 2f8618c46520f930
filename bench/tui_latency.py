#!/usr/bin/env python3
"""TUI responsiveness under ingest load, measured through tmux.

Starts a loopback fleet of --targets targets x --series series (default 100 x 1000: the
100k-series bench load of bench/scrape_compare.py, values changing on every scrape),
then `promtui` (TUI, engine in-process) scraping it every second inside a tmux session.
After a warm-up it measures:

- keypress-to-screen latency: send a key with `tmux send-keys` that switches views, then
  poll `tmux capture-pane` until the new view is on screen; --presses presses, p50/p99/max.
  The poll interval (about 1-2 ms of tmux round trip) is included, so this is an upper
  bound of what the terminal shows.
- idle CPU of the TUI: CPU% of the promtui process with the TUI open and idle for
  --idle-seconds, minus the CPU% of `promtui serve` (same config, same load, no TUI)
  over the same duration: what the TUI adds.

Usage: bench/tui_latency.py [--targets 100] [--series 1000] [--presses 200]
       [--idle-seconds 30] [--promtui target/release/promtui]
"""
import argparse
import http.server
import os
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scrape_compare as sc  # noqa: E402  (Fleet server, bodies, /proc helpers)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def write_config(path, a, fleet_port):
    with open(path, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n")
        f.write("  - job_name: fleet\n    static_configs:\n")
        for i in range(a.targets):
            f.write(f"      - targets: ['127.0.0.1:{fleet_port}']\n        labels:\n          member: 'm{i}'\n")
        f.write("    relabel_configs:\n      - source_labels: [member]\n        target_label: __param_member\n")
        f.write("      - source_labels: [__address__, member]\n        separator: '/'\n        target_label: instance\n")


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True).stdout


def pid_of_pane(sock):
    return int(tmux(sock, "display-message", "-p", "-t", "t", "#{pane_pid}").strip())


def cpu_pct(pid, seconds):
    c0, t0 = sc.cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (sc.cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--presses", type=int, default=200)
    ap.add_argument("--idle-seconds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--promtui", default="target/release/promtui")
    a = ap.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is not installed")
    sc.Fleet.bodies = sc.make_bodies(a.series)
    fleet = Server(("127.0.0.1", 0), sc.Fleet)
    threading.Thread(target=fleet.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp(prefix="tui-latency-")
    cfg = os.path.join(work, "config.yml")
    write_config(cfg, a, fleet.server_address[1])
    port = sc.free_port()
    sock = f"tui-latency-{os.getpid()}"
    home = os.path.join(work, "home")
    os.makedirs(home)
    cmd = (f"env HOME={home} LANG=C.UTF-8 {os.path.abspath(a.promtui)} --config.file {cfg} "
           f"--storage.tsdb.path {work}/data --web.listen-address 127.0.0.1:{port}")
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                    "-x", "200", "-y", "60", cmd], check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        pid = pid_of_pane(sock)
        print(f"promtui pid {pid}; warming up {a.warmup}s with {a.targets}x{a.series} series at 1s")
        time.sleep(a.warmup)
        head = sc.metric_sum(sc.metrics(port), "promtui_tsdb_head_series")
        print(f"head series: {head:.0f}")
        lat = []
        markers = {"2": "HEALTH  ENDPOINT", "1": "last hour"}
        for i in range(a.presses):
            key = "2" if i % 2 == 0 else "1"
            t0 = time.monotonic()
            tmux(sock, "send-keys", "-t", "t", key)
            while markers[key] not in tmux(sock, "capture-pane", "-p", "-t", "t"):
                if time.monotonic() - t0 > 5:
                    raise SystemExit(f"key {key} not on screen after 5s")
            lat.append((time.monotonic() - t0) * 1000)
            time.sleep(0.05)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"keypress-to-screen over {len(lat)} presses: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms")
        tui_cpu = cpu_pct(pid, a.idle_seconds)
    finally:
        tmux(sock, "send-keys", "-t", "t", ":q", "Enter")
        time.sleep(3)
        tmux(sock, "kill-server")
    # The same engine and load without the TUI.
    serve = subprocess.Popen([a.promtui, "serve", "--config.file", cfg, "--storage.tsdb.path",
                              f"{work}/data2", "--web.listen-address", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sc.wait_ready(port, serve)
        time.sleep(a.warmup)
        serve_cpu = cpu_pct(serve.pid, a.idle_seconds)
    finally:
        serve.terminate()
        serve.wait(30)
    print(f"idle CPU over {a.idle_seconds}s under load: TUI {tui_cpu:.1f}%  serve {serve_cpu:.1f}%  "
          f"TUI adds {tui_cpu - serve_cpu:+.1f}% of one core")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
