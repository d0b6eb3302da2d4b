#!/usr/bin/env python3
"""deployguard watch at scale (docs/benchmarks.md): N HTTP probes and N
policies (one per probe, 3 consecutive failures, a flag flip) at 1 s
intervals against one local nginx (Debian nginx-light: one worker, keep-alive
on, a 1 KiB /edit page; the same target as the blackbox anchor).

  bench/watch_scale.py DEPLOYGUARD_BIN [N=1000] [SECONDS=60]

Reports the config load + check time (`deployguard check`, median of 5),
then runs the watcher, waits until every history is full (the policies keep
at most 2 x 3 + 4 observations per probe: 20 s of 1 s probes is plenty), and
measures its RSS and CPU (utime + stime from /proc) over the next SECONDS.
"""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
secs = int(sys.argv[3]) if len(sys.argv) > 3 else 60
nginx = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


work = tempfile.mkdtemp(prefix="dg-scale-")
os.chmod(work, 0o755)  # nginx's worker (another user when started as root) reads the page from here
try:
    www = os.path.join(work, "www")
    os.makedirs(www)
    os.chmod(www, 0o755)
    body = '<!doctype html><script defer src="/static/editor-bootstrap.js"></script>'
    open(os.path.join(www, "edit"), "w").write(body + " " * (1024 - len(body)))
    nport, wport = free_port(), free_port()
    open(os.path.join(work, "nginx.conf"), "w").write(f"""
worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{nport} backlog=4096; root {www}; location / {{ default_type text/html; }} }} }}
""")
    ngx = subprocess.Popen([nginx, "-c", os.path.join(work, "nginx.conf"), "-p", work])
    time.sleep(0.5)
    state = os.path.join(work, ".state")
    os.makedirs(state)
    open(os.path.join(state, "flags.json"), "w").write(
        '{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}')
    lines = ['[agent]\nservice = "scale"\njournal = ".state/journal.jsonl"\n',
             f'[watch]\nport = {wport}\n',
             '[flag_providers.flags]\ntype = "flagd-file"\npath = ".state/flags.json"\n',
             '[incident_sinks.log]\ntype = "file"\npath = ".state/incidents.jsonl"\n']
    for i in range(n):
        lines.append(f'[probes.p{i}]\ntype = "http"\nurl = "http://127.0.0.1:{nport}/edit"\ninterval = "1s"\ntimeout = "2s"\n'
                     f'[probes.p{i}.expect]\nstatus = 200\nbody_contains = ["editor-bootstrap.js"]\n'
                     f'[policies.q{i}]\nprobes = ["p{i}"]\nconsecutive_failures = 3\nverify_for = "5s"\n'
                     f'[[policies.q{i}.actions]]\ntype = "flag"\nprovider = "flags"\nflag = "f"\nvariant = "off"\n')
    cfg = os.path.join(work, "deployguard.toml")
    open(cfg, "w").write("\n".join(lines))
    checks = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([binary, "check", "--config", cfg], check=True, stdout=subprocess.DEVNULL)
        checks.append((time.perf_counter() - t) * 1000)
    print(f"config: {n} probes + {n} policies, {os.path.getsize(cfg)} bytes; check (load + validate + build) median {statistics.median(checks):.0f} ms")
    w = subprocess.Popen([binary, "watch", "--config", cfg, "--log-format", "json"], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(work, "watch.log"), "w"))
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        f = open(f"/proc/{w.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / tick

    def rss():
        for l in open(f"/proc/{w.pid}/status"):
            if l.startswith("VmRSS"):
                return int(l.split()[1]) / 1024
    time.sleep(20)
    c0, t0 = cpu(), time.monotonic()
    peak = 0
    for _ in range(secs):
        time.sleep(1)
        peak = max(peak, rss())
    c1, t1 = cpu(), time.monotonic()
    metrics = subprocess.run(["curl", "-s", f"http://127.0.0.1:{wport}/metrics"], capture_output=True, text=True).stdout
    runs = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("deployguard_probe_results_total{"))
    over = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("deployguard_scheduler_overruns_total{"))
    failed = sum(float(l.split()[-1]) for l in metrics.splitlines()
                 if l.startswith("deployguard_probe_results_total{") and 'outcome="passed"' not in l)
    print(f"watch: {secs} s measured after 20 s: CPU {100 * (c1 - c0) / (t1 - t0):.1f} % of a core, RSS {rss():.1f} MB (peak {peak:.1f} MB); "
          f"{runs:.0f} probe runs so far, {failed:.0f} not passed, {over:.0f} overruns")
    w.send_signal(signal.SIGTERM)
    w.wait(30)
    ngx.terminate()
    ngx.wait()
finally:
    shutil.rmtree(work, ignore_errors=True)
