#!/usr/bin/env python3
"""One local contract server for the SaaS APIs deployguard speaks to
(PagerDuty, Opsgenie, Jira / JSM, Statuspage, Slack, LaunchDarkly), shaped as
../shared/contracts.md §5-§9 and the vendors' documented APIs say. Any request
whose method, path, headers or JSON shape differ is rejected with 400 and a
reason (and recorded as rejected), so a test fails on a wrong request.

  contract_server.py PORT_FILE [NAME=SECRET ...]
      NAME: pagerduty_routing_key, opsgenie_key, jira_email, jira_token,
            statuspage_key, ld_token

Control (JSON):
  POST /_control/faults   {"match": "/v2/enqueue", "faults": [{"status":409,"method":"PATCH"},{"status":429,"retry_after":"1"},
                           {"status":500}, {"delay":2.0}, {"hang":true}]}  consumed in order
  POST /_control/jira_index_lag {"seconds": 3600}   search ignores issues younger than that
  POST /_control/ld_flag  {"key":..., "env":..., "flag": {...}}   seed a LaunchDarkly flag
  GET  /_control/requests  every request: method, path, query, body, accepted, reason
  GET  /_control/state     what each service holds now
Stdlib only."""
import base64, json, re, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs, unquote

SECRETS = {}
LOCK = threading.Lock()
REQUESTS = []
FAULTS = []          # [(match, fault)]
STATE = {"pagerduty": {}, "opsgenie": {}, "jira": {}, "jira_comments": {}, "jira_transitions": {},
         "statuspage": {}, "slack": [], "ld": {}, "jira_creates": 0, "statuspage_creates": 0}
JIRA_LAG = [0.0]


class Reject(Exception):
    pass


# Shapes: {"key": type | shape, "?key": optional}; a str type set is an enum;
# unknown keys are rejected (a typo in a field name is a contract break).
def check(value, shape, path="$"):
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise Reject(f"{path}: expected an object")
        known = {k.lstrip("?") for k in shape}
        for k in value:
            if k not in known:
                raise Reject(f"{path}.{k}: unknown field")
        for k, s in shape.items():
            opt = k.startswith("?")
            name = k.lstrip("?")
            if name not in value:
                if not opt:
                    raise Reject(f"{path}.{name}: required")
                continue
            check(value[name], s, f"{path}.{name}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise Reject(f"{path}: expected an array")
        for i, v in enumerate(value):
            check(v, shape[0], f"{path}[{i}]")
    elif isinstance(shape, set):
        if value not in shape:
            raise Reject(f"{path}: {value!r} not one of {sorted(shape)}")
    elif shape == "any":
        pass
    elif shape is str:
        if not isinstance(value, str) or value == "":
            raise Reject(f"{path}: expected a non-empty string")
    elif shape is bool:
        if not isinstance(value, bool):
            raise Reject(f"{path}: expected a boolean")
    elif shape is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Reject(f"{path}: expected an integer")
    elif shape == "strmap":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise Reject(f"{path}: expected an object of strings")
    elif shape == "rfc3339":
        if not isinstance(value, str) or not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
            raise Reject(f"{path}: expected an RFC 3339 time")
    elif callable(shape):
        shape(value, path)


def maxlen(n):
    def f(v, path):
        if not isinstance(v, str) or not v or len(v) > n:
            raise Reject(f"{path}: expected a string of 1..{n} characters")
    return f


def adf(v, path):
    check(v, {"type": {"doc"}, "version": {1}, "content": [{"type": {"paragraph"}, "content": [
        {"type": {"text"}, "text": str, "?marks": "any"}]}]}, path)


PD_TRIGGER = {"routing_key": str, "event_action": {"trigger"}, "dedup_key": maxlen(255), "?client": str,
              "?client_url": str, "?links": "any", "?images": "any",
              "payload": {"summary": maxlen(1024), "source": str, "severity": {"critical", "error", "warning", "info"},
                          "?timestamp": "rfc3339", "?component": str, "?group": str, "?class": str,
                          "?custom_details": "any"}}
PD_RESOLVE = {"routing_key": str, "event_action": {"resolve", "acknowledge"}, "dedup_key": maxlen(255)}
OG_CREATE = {"message": maxlen(130), "?alias": maxlen(512), "?description": maxlen(15000), "?responders": [
    {"type": {"team", "user", "escalation", "schedule"}, "name": str}], "?tags": [str], "?details": "strmap",
             "?entity": str, "?source": str, "?priority": {"P1", "P2", "P3", "P4", "P5"}}
OG_CLOSE = {"?source": str, "?note": str, "?user": str}
JIRA_CREATE = {"fields": {"project": {"key": str}, "issuetype": {"name": str}, "summary": maxlen(255),
                          "?labels": [lambda v, p: None if isinstance(v, str) and v and " " not in v else (_ for _ in ()).throw(Reject(f"{p}: bad label"))],
                          "description": adf}}
JSM_CREATE = {"serviceDeskId": str, "requestTypeId": str, "requestFieldValues": {"summary": str, "description": str}}
JIRA_SEARCH = {"jql": str, "?fields": [str], "?maxResults": int}
JIRA_COMMENT = {"body": adf}
JIRA_TRANSITION = {"transition": {"id": str}}
SP_COMPONENT_STATUS = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
SP_CREATE = {"incident": {"name": str, "status": {"investigating", "identified", "monitoring", "resolved"},
                          "?impact_override": {"none", "minor", "major", "critical"}, "?body": str,
                          "?component_ids": [str], "?components": lambda v, p: [check(x, SP_COMPONENT_STATUS, p) for x in (v.values() if isinstance(v, dict) else [None])],
                          "?deliver_notifications": bool, "?metadata": "any"}}
SP_UPDATE = {"incident": {"?name": str, "?status": {"investigating", "identified", "monitoring", "resolved"},
                          "?body": str, "?component_ids": [str],
                          "?components": lambda v, p: [check(x, SP_COMPONENT_STATUS, p) for x in (v.values() if isinstance(v, dict) else [None])],
                          "?deliver_notifications": bool}}
SLACK = {"text": str, "?blocks": [{"type": {"header", "section", "context", "divider", "actions"}, "?text": "any",
                                   "?fields": "any", "?elements": "any", "?block_id": str}],
         "?username": str, "?icon_emoji": str, "?channel": str}
LD_INSTRUCTION_KINDS = {"turnFlagOn", "turnFlagOff", "addRule", "removeRule", "replaceRules"}
LD_PATCH = {"?comment": str, "environmentKey": str, "instructions": [lambda v, p: ld_instruction(v, p)]}


def ld_instruction(v, p):
    if not isinstance(v, dict) or v.get("kind") not in LD_INSTRUCTION_KINDS:
        raise Reject(f"{p}.kind: not one of {sorted(LD_INSTRUCTION_KINDS)}")
    k = v["kind"]
    if k in ("turnFlagOn", "turnFlagOff"):
        check(v, {"kind": str}, p)
    elif k == "addRule":
        check(v, {"kind": str, "?description": str, "?beforeRuleId": str, "variationId": str,
                  "clauses": [{"contextKind": str, "attribute": str, "op": {
                      "in", "endsWith", "startsWith", "matches", "contains", "lessThan", "lessThanOrEqual",
                      "greaterThan", "greaterThanOrEqual", "before", "after", "segmentMatch", "semVerEqual",
                      "semVerLessThan", "semVerGreaterThan"}, "negate": bool, "values": ["any"]}]}, p)
    elif k == "removeRule":
        check(v, {"kind": str, "ruleId": str}, p)
    else:
        check(v, {"kind": str, "rules": "any"}, p)


def need_header(h, name, value=None, prefix=None):
    got = h.get(name)
    if got is None:
        raise Reject(f"missing header {name}")
    if value is not None and got != value:
        raise Reject(f"header {name}: unexpected value")
    if prefix is not None and not got.startswith(prefix):
        raise Reject(f"header {name}: expected {prefix}…")
    return got


def json_body(h, raw, ctype="application/json"):
    if not h.get("Content-Type", "").startswith(ctype):
        raise Reject(f"Content-Type must be {ctype}")
    try:
        return json.loads(raw.decode("utf-8"))
    except Exception:
        raise Reject("body is not JSON")


def jira_auth(h):
    want = "Basic " + base64.b64encode(f"{SECRETS.get('jira_email','')}:{SECRETS.get('jira_token','')}".encode()).decode()
    if h.get("Authorization") != want:
        return (401, {"errorMessages": ["You are not authenticated."], "errors": {}})
    return None


def ld_flag_view(flag, env):
    e = flag["environments"][env]
    return {"key": flag["key"], "variations": flag["variations"],
            "environments": {env: {"on": e["on"], "offVariation": e["offVariation"], "rules": e["rules"],
                                   "fallthrough": e.get("fallthrough", {"variation": 0}), "version": e["version"]}}}


def route(method, path, query, h, raw):
    """-> (status, body or None, headers)"""
    # PagerDuty Events v2
    if path == "/v2/enqueue":
        if method != "POST":
            return 405, {"status": "invalid event"}, {}
        if h.get("Authorization"):
            raise Reject("PagerDuty Events v2 takes no Authorization header")
        b = json_body(h, raw)
        action = b.get("event_action") if isinstance(b, dict) else None
        try:
            check(b, PD_TRIGGER if action == "trigger" else PD_RESOLVE)
        except Reject as r:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": [str(r)]}, {"_reject": str(r)}
        if b["routing_key"] != SECRETS.get("pagerduty_routing_key"):
            return 400, {"status": "invalid event", "errors": ["invalid routing key"]}, {"_reject": "routing key"}
        alerts = STATE["pagerduty"]
        key = b["dedup_key"]
        a = alerts.get(key)
        if action == "trigger":
            if a is None or a["status"] == "resolved":
                # After resolve the same key opens a new alert (counted).
                alerts[key] = {"status": "triggered", "events": 1, "opened": (a or {}).get("opened", 0) + 1,
                               "summary": b["payload"]["summary"]}
            else:
                a["events"] += 1
        elif action == "resolve" and a is not None:
            a["status"] = "resolved"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, {}
    # Opsgenie (and JSM Ops under /jsm/ops/integration)
    m = re.match(r"^(?:/jsm/ops/integration)?/v2/alerts(?:/([^/]+)/close)?$", path)
    if m:
        if method != "POST":
            return 405, {"message": "method"}, {}
        if h.get("Authorization") != "GenieKey " + SECRETS.get("opsgenie_key", "?"):
            return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}, {}
        b = json_body(h, raw)
        alerts = STATE["opsgenie"]
        if m.group(1) is None:
            check(b, OG_CREATE)
            alias = b.get("alias") or str(uuid.uuid4())
            a = alerts.get(alias)
            if a and a["status"] == "open":
                a["count"] += 1  # one open alert per alias
            else:
                alerts[alias] = {"status": "open", "count": 1, "message": b["message"],
                                 "opened": (a or {}).get("opened", 0) + 1}
        else:
            if query.get("identifierType") != ["alias"]:
                raise Reject("close by alias needs ?identifierType=alias")
            check(b, OG_CLOSE)
            alias = unquote(m.group(1))
            if alias in alerts:
                alerts[alias]["status"] = "closed"
        return 202, {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())}, {}
    # Jira
    if path.startswith("/rest/"):
        bad = jira_auth(h)
        if bad:
            return bad[0], bad[1], {}
        if not h.get("Accept", "application/json").startswith("application/json"):
            raise Reject("Accept must be application/json")
        if path == "/rest/api/3/issue" and method == "POST":
            b = json_body(h, raw)
            check(b, JIRA_CREATE)
            STATE["jira_creates"] += 1
            n = len(STATE["jira"]) + 1
            key = f"{b['fields']['project']['key']}-{n}"
            STATE["jira"][key] = {"id": str(10000 + n), "labels": b["fields"].get("labels", []), "created": time.time(),
                                  "summary": b["fields"]["summary"], "status": "Open"}
            return 201, {"id": str(10000 + n), "key": key, "self": f"/rest/api/3/issue/{10000 + n}"}, {}
        if path == "/rest/servicedeskapi/request" and method == "POST":
            b = json_body(h, raw)
            check(b, JSM_CREATE)
            STATE["jira_creates"] += 1
            n = len(STATE["jira"]) + 1
            key = f"SD-{n}"
            STATE["jira"][key] = {"id": str(20000 + n), "labels": [], "created": time.time(),
                                  "summary": b["requestFieldValues"]["summary"], "status": "Open"}
            return 201, {"issueId": str(20000 + n), "issueKey": key}, {}
        if path == "/rest/api/3/search/jql" and method == "POST":
            b = json_body(h, raw)
            check(b, JIRA_SEARCH)
            lm = re.match(r'^labels\s*=\s*"([^"]+)"$', b["jql"])
            if not lm:
                raise Reject("unexpected JQL: " + b["jql"])
            now = time.time()
            hits = [{"id": v["id"], "key": k} for k, v in STATE["jira"].items()
                    if lm.group(1) in v["labels"] and now - v["created"] >= JIRA_LAG[0]]
            return 200, {"issues": hits, "isLast": True}, {}
        cm = re.match(r"^/rest/api/3/issue/([A-Z]+-\d+)/(comment|transitions)$", path)
        if cm and method == "POST":
            key = cm.group(1)
            if key not in STATE["jira"]:
                return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}, {}
            b = json_body(h, raw)
            if cm.group(2) == "comment":
                check(b, JIRA_COMMENT)
                STATE["jira_comments"].setdefault(key, []).append(b["body"]["content"][0]["content"][0]["text"])
                return 201, {"id": str(uuid.uuid4().int % 100000)}, {}
            check(b, JIRA_TRANSITION)
            STATE["jira"][key]["status"] = "Done"
            STATE["jira_transitions"].setdefault(key, []).append(b["transition"]["id"])
            return 204, None, {}
        return 404, {"errorMessages": ["no such resource"], "errors": {}}, {}
    # Statuspage
    sm = re.match(r"^/v1/pages/([^/]+)/incidents(?:/([^/]+))?$", path)
    if sm:
        if h.get("Authorization") != "OAuth " + SECRETS.get("statuspage_key", "?"):
            return 401, {"error": "Could not authenticate"}, {}
        incidents = STATE["statuspage"]
        page, inc = sm.group(1), sm.group(2)
        if inc is None and method == "POST":
            b = json_body(h, raw)
            check(b, SP_CREATE)
            STATE["statuspage_creates"] += 1
            iid = "sp" + uuid.uuid4().hex[:10]
            incidents[iid] = dict(b["incident"], id=iid, page=page, shortlink="https://stspg.io/" + iid[:6],
                                  updates=[b["incident"].get("body", "")])
            return 201, incidents[iid], {}
        if inc == "unresolved" and method == "GET":
            return 200, [v for v in incidents.values() if v["status"] != "resolved" and v["page"] == page], {}
        if inc is not None and method == "PATCH":
            if inc not in incidents:
                return 404, {"error": "not found"}, {}
            b = json_body(h, raw)
            check(b, SP_UPDATE)
            cur = incidents[inc]
            for k, v in b["incident"].items():
                if k == "components":
                    cur.setdefault("components", {}).update(v)
                elif k == "body":
                    cur["updates"].append(v)
                else:
                    cur[k] = v
            return 200, cur, {}
        return 405, {"error": "method"}, {}
    # Slack incoming webhook: /services/T…/B…/secret
    if path.startswith("/services/"):
        if method != "POST":
            return 405, "invalid_method", {}
        if path != SECRETS.get("slack_path"):
            return 403, "invalid_token", {}
        try:
            b = json_body(h, raw)
            check(b, SLACK)
        except Reject as r:
            return 400, "invalid_payload", {"_reject": str(r)}
        for ch in ("<", ">"):
            if ch in b["text"].replace("<!here>", "").replace("<!channel>", ""):
                return 400, "invalid_payload", {"_reject": "unescaped < or > in text"}
        STATE["slack"].append(b)
        return 200, "ok", {}
    # LaunchDarkly
    lm = re.match(r"^/api/v2/flags/([^/]+)/([^/]+)$", path)
    if lm:
        if h.get("Authorization") != SECRETS.get("ld_token"):
            return 401, {"code": "unauthorized", "message": "Invalid access token"}, {}
        if h.get("LD-API-Version") != "20240415":
            raise Reject("LD-API-Version must be 20240415")
        fk = lm.group(1) + "/" + lm.group(2)
        flag = STATE["ld"].get(fk)
        if flag is None:
            return 404, {"code": "not_found", "message": "Unknown resource"}, {}
        if method == "GET":
            env = (query.get("env") or [None])[0]
            if env not in flag["environments"]:
                raise Reject("GET flag needs ?env=<environment key>")
            return 200, ld_flag_view(flag, env), {}
        if method == "PATCH":
            if h.get("Content-Type") != "application/json; domain-model=launchdarkly.semanticpatch":
                return 400, {"code": "invalid_request", "message": "semantic patch needs its Content-Type"}, {}
            b = json_body(h, raw, "application/json; domain-model=launchdarkly.semanticpatch")
            check(b, LD_PATCH)
            env = flag["environments"].get(b["environmentKey"])
            if env is None:
                return 400, {"code": "invalid_request", "message": "unknown environment"}, {}
            ids = {v["_id"] for v in flag["variations"]}
            rules = list(env["rules"])
            for ins in b["instructions"]:  # all or nothing
                k = ins["kind"]
                if k == "turnFlagOn":
                    env_on = True
                elif k == "addRule":
                    if ins["variationId"] not in ids:
                        return 400, {"code": "invalid_request", "message": "unknown variationId"}, {}
                    rule = {"_id": uuid.uuid4().hex, "description": ins.get("description", ""),
                            "clauses": ins["clauses"], "variation": [v["_id"] for v in flag["variations"]].index(ins["variationId"])}
                    if "beforeRuleId" in ins:
                        at = [r["_id"] for r in rules].index(ins["beforeRuleId"]) if ins["beforeRuleId"] in [r["_id"] for r in rules] else None
                        if at is None:
                            return 400, {"code": "invalid_request", "message": "unknown beforeRuleId"}, {}
                        rules.insert(at, rule)
                    else:
                        rules.append(rule)
                elif k == "removeRule":
                    if ins["ruleId"] not in [r["_id"] for r in rules]:
                        return 400, {"code": "invalid_request", "message": "unknown ruleId"}, {}
                    rules = [r for r in rules if r["_id"] != ins["ruleId"]]
            for ins in b["instructions"]:
                if ins["kind"] == "turnFlagOn":
                    env["on"] = True
                if ins["kind"] == "turnFlagOff":
                    env["on"] = False
            env["rules"] = rules
            env["version"] += 1
            STATE.setdefault("ld_patches", 0)
            STATE["ld_patches"] += 1
            return 200, ld_flag_view(flag, b["environmentKey"]), {}
        return 405, {"code": "method_not_allowed", "message": "method"}, {}
    return 404, {"error": "no such contract: " + path}, {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self, status, body, headers=None):
        data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            if not k.startswith("_"):
                self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        path, query = u.path, parse_qs(u.query)
        if path.startswith("/_control/"):
            return self._control(path, raw)
        with LOCK:
            fault = None
            for i, (match, f) in enumerate(FAULTS):
                if match in path and f.get("method", self.command) == self.command:
                    fault = FAULTS.pop(i)[1]
                    break
        rec = {"method": self.command, "path": path, "query": u.query, "at": time.time(),
               "headers": {k: v for k, v in self.headers.items() if k.lower() not in ("authorization",)}}
        try:
            rec["body"] = json.loads(raw) if raw else None
        except Exception:
            rec["body"] = raw.decode("utf-8", "replace")
        if fault:
            rec["fault"] = fault
            with LOCK:
                REQUESTS.append(rec)
            if fault.get("hang"):
                time.sleep(30)
                return
            if fault.get("delay"):
                time.sleep(fault["delay"])
            if "status" in fault:
                hdrs = {"Retry-After": fault["retry_after"]} if "retry_after" in fault else {}
                body = fault.get("body", {"message": "injected fault"})
                return self._answer(fault["status"], body, hdrs)
        with LOCK:
            try:
                status, body, hdrs = route(self.command, path, query, self.headers, raw)
                rec["accepted"] = 200 <= status < 300
                rec["reason"] = hdrs.get("_reject", "" if rec["accepted"] else f"HTTP {status}")
            except Reject as r:
                status, body, hdrs = 400, {"error": "contract violation", "reason": str(r)}, {}
                rec["accepted"] = False
                rec["reason"] = str(r)
            rec["status"] = status
            REQUESTS.append(rec)
        self._answer(status, body, hdrs)

    def _control(self, path, raw):
        b = json.loads(raw) if raw else {}
        with LOCK:
            if path == "/_control/faults":
                for f in b.get("faults", []):
                    FAULTS.append((b.get("match", "/"), f))
                return self._answer(200, {"ok": True})
            if path == "/_control/jira_index_lag":
                JIRA_LAG[0] = float(b.get("seconds", 0))
                return self._answer(200, {"ok": True})
            if path == "/_control/ld_flag":
                STATE["ld"][b["key"]] = b["flag"]
                return self._answer(200, {"ok": True})
            if path == "/_control/requests":
                return self._answer(200, REQUESTS)
            if path == "/_control/state":
                return self._answer(200, STATE)
        return self._answer(404, {"error": "control"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def main():
    port_file = sys.argv[1]
    for a in sys.argv[2:]:
        k, _, v = a.partition("=")
        SECRETS[k] = v
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
