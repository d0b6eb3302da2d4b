#!/usr/bin/env python3
"""Reaction of `deployguard watch` to an injected fault (docs/benchmarks.md).

  bench/watch_reaction.py DEPLOYGUARD_BIN [N] [--no-fsync]

N times (default 100): a fresh copy of the demo wiki with release 1, the
watcher started with 1 s probes and a 2-failure policy, a random wait of
1.5-2.5 s (so the fault lands anywhere in a probe interval), then release 2
deployed (the fault). Measured per injection:
  detect    fault -> the policy_tripped record (journal time)
  flag      fault -> flags.json renamed (its mtime, ns)
  overhead  the agent's own time from the deciding observation's arrival to
            the flag file renamed (action_outcome.since_signal_us)
Prints p50/p95/p99 of each and the probe RTT (median latency of passing
probe runs). --no-fsync runs the watcher without the journal's fsyncs.
"""
import json, os, random, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 100
no_fsync = "--no-fsync" in sys.argv
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
wiki = os.path.join(src, "examples", "wiki")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.002)
    return False


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


detect, flag, overhead, rtts = [], [], [], []
for i in range(n):
    work = tempfile.mkdtemp(prefix="dg-reaction-")
    state = os.path.join(work, ".state")
    os.makedirs(state)
    for f in ("flags.json", "tenants.json"):
        shutil.copy(os.path.join(wiki, f), state)
    for f in ("deploy.sh", "rollback.sh"):
        shutil.copy(os.path.join(wiki, f), work)
    open(os.path.join(state, "release"), "w").write("1\n")
    port, wport = free_port(), free_port()
    cfg = open(os.path.join(wiki, "deployguard.toml")).read()
    cfg = cfg.replace("127.0.0.1:18080", "127.0.0.1:%d" % port).replace('interval = "500ms"', 'interval = "1s"')
    cfg = cfg.replace("consecutive_failures = 3", "consecutive_failures = 2")
    cfg += '\n[watch]\nport = %d\n' % wport
    open(os.path.join(work, "deployguard.toml"), "w").write(cfg)
    server = subprocess.Popen(["node", os.path.join(wiki, "server.js"), "--port", str(port), "--state", state],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server.stdout.readline()
    env = dict(os.environ)
    if no_fsync:
        env["DEPLOYGUARD_BENCH_JOURNAL_NO_FSYNC"] = "1"
    watch = subprocess.Popen([binary, "watch", "--config", os.path.join(work, "deployguard.toml"), "--log-format", "json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    journal = os.path.join(state, "journal.jsonl")
    flags = os.path.join(state, "flags.json")
    flags0 = os.stat(flags).st_mtime_ns
    time.sleep(random.uniform(1.5, 2.5))
    t0 = time.time_ns()
    subprocess.run([os.path.join(work, "deploy.sh"), state, "2"], check=True, stdout=subprocess.DEVNULL)
    ok = wait(lambda: os.stat(flags).st_mtime_ns != flags0, 10)
    t1 = os.stat(flags).st_mtime_ns
    time.sleep(0.05)
    watch.send_signal(signal.SIGTERM)
    watch.wait(10)
    server.kill()
    server.wait()
    recs = [json.loads(l) for l in open(journal)]
    shutil.rmtree(work)
    if not ok:
        print("injection %d: no flip within 10 s" % i, file=sys.stderr)
        continue
    from datetime import datetime
    trip = next(r for r in recs if r["kind"] == "policy_tripped")
    tt = datetime.strptime(trip["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc)
    detect.append(tt.timestamp() - t0 / 1e9)
    flag.append((t1 - t0) / 1e9)
    out = next(r for r in recs if r["kind"] == "action_outcome" and r["data"].get("action") == "flag")
    overhead.append(out["data"]["since_signal_us"] / 1000.0)
    if "--debug" in sys.argv:
        print(t0 / 1e9, trip["time"], [(e["at"], e["outcome"]) for e in trip["data"]["evidence"]], file=sys.stderr)

print("injections: %d of %d flipped; journal fsync %s" % (len(flag), n, "off" if no_fsync else "on"))
for name, v, unit in (("fault -> trip", detect, "s"), ("fault -> flag file", flag, "s"), ("agent overhead", overhead, "ms")):
    if v:
        print("%-20s p50 %8.3f  p95 %8.3f  p99 %8.3f  max %8.3f %s" % (name, pct(v, 50), pct(v, 95), pct(v, 99), max(v), unit))
