#!/usr/bin/env python3
"""Checks `deployguard review` against the facts of a journal, for the e2e tests.

usage: review_check.py DEPLOYGUARD_BIN JOURNAL OUT_DIR [--secret S]... [--expect-state KEYWORD]...

For every incident in the journal (a policy's trip, or an alarm raised by a
person): the Markdown review of that incident states the journal's time to
detect and to mitigate (the engine's own from policy_recovered, else the
record times: trip − release start), lists every action of the incident once
and in order (each action_intent's seq in the timeline, as many rows in the
response table), names the journal head, leaves the people's sections empty;
the HTML review passes `tidy -errors` and has its SVG timeline and print CSS;
no secret given appears in either. Prints one line per incident.
"""
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

args = sys.argv[1:]
binary, journal, out_dir = args[0], args[1], args[2]
secrets, expect_states = [], []
i = 3
while i < len(args):
    if args[i] == "--secret":
        secrets.append(args[i + 1])
    elif args[i] == "--expect-state":
        expect_states.append(args[i + 1])
    i += 2
os.makedirs(out_dir, exist_ok=True)


def fail(msg):
    print("FAIL: review: " + msg, file=sys.stderr)
    sys.exit(1)


def ms(t):
    return int(round(datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000))


recs = [json.loads(l) for l in open(journal) if l.endswith("\n")]
head = f'{recs[-1]["seq"]}:{recs[-1]["hash"]}'

# The incidents and what belongs to each, from the journal directly.
incidents = []  # dicts: key, policy, trip record, start record, intents, recovered
run_start, release_start = {}, {}
for r in recs:
    k, d = r["kind"], r.get("data", {})
    if k == "verify_started":
        run_start[r["run"]] = (r, False)
    elif k == "config_loaded" and d.get("mode") == "watch":
        run_start[r["run"]] = (r, True)
    elif k == "release_started":
        release_start[(d["service"], d["release"])] = r

    def start_for(rec, service, release):
        rs = run_start.get(rec["run"])
        if rs and not rs[1]:
            return rs[0]
        return release_start.get((service, release)) or (rs[0] if rs else None)

    if k == "policy_tripped":
        key = d["incident"]["key"]
        if not any(x["key"] == key for x in incidents):
            incidents.append({"key": key, "policy": r["policy"], "trip": r, "intents": [], "recovered": None,
                              "start": start_for(r, r["service"], d.get("release", r["release"])), "open": True})
        for x in incidents:
            if x["policy"] == r["policy"]:
                x["open"] = x["key"] == key
    elif k == "alarm_raised" and not r.get("policy") and not d.get("updated"):
        incidents.append({"key": d["incident"], "policy": "", "trip": r, "intents": [], "recovered": None,
                          "start": start_for(r, d["service"], r["release"]), "open": False})
    elif k in ("action_intent", "policy_recovered", "mitigation_failed", "mitigation_lifted") and r.get("policy"):
        for x in incidents:
            if x["policy"] == r["policy"] and x["open"]:
                if k == "action_intent":
                    x["intents"].append(r)
                elif k == "policy_recovered":
                    x["recovered"] = r
                elif k == "mitigation_lifted":
                    x["open"] = False
if not incidents:
    fail("the journal has no incident")

for n, inc in enumerate(incidents):
    key = inc["key"]
    md_path = os.path.join(out_dir, f"review-{key}.md")
    html_path = os.path.join(out_dir, f"review-{key}.html")
    for fmt, path in (("md", md_path), ("html", html_path)):
        p = subprocess.run([binary, "review", "--journal", journal, "--incident", key, "--format", fmt, "--out", path],
                           capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"review --format {fmt} exited {p.returncode}: {p.stderr}")
    md = open(md_path).read()
    html = open(html_path).read()

    # Time to detect and to mitigate, as the journal has them.
    if inc["recovered"]:
        ttd = inc["recovered"]["data"]["time_to_detect_ms"]
        ttm = inc["recovered"]["data"]["time_to_mitigate_ms"]
    else:
        if not inc["start"]:
            fail(f"{key}: no release start in the journal")
        ttd = ms(inc["trip"]["time"]) - ms(inc["start"]["time"])
        ttm = None
    row = re.search(r"^\| Time to detect \| (.*) \|$", md, re.M)
    if not row or not row.group(1).split(";")[0].endswith(f"({ttd} ms) from the release start"):
        fail(f"{key}: time to detect {ttd} ms not in: {row.group(0) if row else md[:800]}")
    if inc["trip"]["kind"] == "policy_tripped":
        since = inc["trip"]["data"]["since"]
        ff = ms(inc["trip"]["time"]) - ms(since)
        if f"({ff} ms) from the first failing observation" not in row.group(1):
            fail(f"{key}: time to detect from the first failing observation ({ff} ms): {row.group(0)}")
    row = re.search(r"^\| Time to mitigate \| (.*) \|$", md, re.M)
    want = f"({ttm} ms) from the release start" if ttm is not None else "not mitigated"
    if not row or not row.group(1).endswith(want):
        fail(f"{key}: time to mitigate: expected '{want}' in {row.group(0) if row else '(none)'}")

    # Every action once, in order.
    seqs = [r["seq"] for r in inc["intents"]]
    shown = [int(m.group(1)) for m in re.finditer(r"^\| [^|]+ \| (\d+) \| step \d+ intent: ", md, re.M)]
    if shown != seqs:
        fail(f"{key}: the timeline's intents {shown} are not the journal's {seqs}")
    response = md.split("# Response and recovery", 1)[1].split("\n#", 1)[0]
    rows = [l for l in response.splitlines() if re.match(r"^\| \d+ \| ", l)]
    if len(rows) != len(seqs) or [int(l.split("|")[1]) for l in rows] != list(range(1, len(seqs) + 1)):
        fail(f"{key}: {len(rows)} action row(s) for {len(seqs)} action(s):\n{response}")
    for intent, line in zip(inc["intents"], rows):
        a = intent["data"]["action"]
        word = {"flag": "set flag", "undo_flag": "restore flag", "rollback": "run rollback"}[a]
        if word not in line:
            fail(f"{key}: action row '{line}' is not the journal's {a}")

    # The proof, the sections for people, the state.
    if head not in md:
        fail(f"{key}: the journal head {head} is not in the review")
    for section in ["Summary", "Impact", "Detection", "Response and recovery", "Timeline", "Proof",
                    "Contributing factors", "Lessons learned", "Corrective actions"]:
        if f"# {section}\n" not in md:
            fail(f"{key}: no section {section}")
    if n < len(expect_states) and expect_states[n] not in md.split("| Outcome |", 1)[1].split("\n", 1)[0]:
        fail(f"{key}: outcome is not '{expect_states[n]}': {md.split('| Outcome |', 1)[1].splitlines()[0]}")

    # HTML: valid (tidy), an SVG timeline, a print stylesheet.
    t = subprocess.run(["tidy", "-errors", "-quiet", html_path], capture_output=True, text=True)
    if t.returncode >= 2 or "Error:" in t.stderr:
        fail(f"{key}: tidy found errors in {html_path}:\n{t.stderr}")
    if "<svg" not in html or "@media print" not in html:
        fail(f"{key}: the HTML has no SVG timeline or no print CSS")

    for s in secrets:
        if s and (s in md or s in html):
            fail(f"{key}: a secret appears in the review")
    print(f"review {key}: TTD {ttd} ms, TTM {ttm if ttm is not None else '-'} ms, {len(seqs)} action(s) in order, "
          f"tidy {'clean' if t.returncode == 0 else 'warnings only'}, no secret")
