#!/usr/bin/env python3
"""An in-house flag service for the http flag provider's tests.

  flag_service.py PORTFILE LOGFILE TOKEN
GET /flags/NAME           -> {"flag": NAME, "state": {...}} (404 when unknown)
PUT /flags/NAME           -> body {"variant", "segment", "rule", ...} becomes the state
PUT /flags/NAME/state     -> the body (a state read earlier) becomes the state (restore)
Writes need "Authorization: Bearer TOKEN" (else 401); a body that is not JSON is a 400.
Every request is logged as one JSON line (method, path, body) to LOGFILE.
Starts with flag "connect-framework" = {"variant": "on"}. Writes its port to
PORTFILE once it listens; stops by itself after 300 s.
"""
import http.server
import json
import os
import sys
import threading

portfile, logfile, token = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
flags = {"connect-framework": {"variant": "on"}}


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request_line(self, body):
        with lock, open(logfile, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "body": body}) + "\n")

    def do_GET(self):
        self.log_request_line("")
        name = self.path[len("/flags/"):] if self.path.startswith("/flags/") else None
        with lock:
            state = flags.get(name)
        if state is None:
            return self.answer(404, {"error": "no such flag"})
        self.answer(200, {"flag": name, "state": state})

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.log_request_line(body)
        if self.headers.get("Authorization") != "Bearer " + token:
            return self.answer(401, {"error": "unauthorized"})
        try:
            doc = json.loads(body)
        except ValueError as e:
            return self.answer(400, {"error": "not JSON: %s" % e})
        path = self.path[len("/flags/"):]
        with lock:
            if path.endswith("/state"):
                flags[path[:-len("/state")]] = doc
            else:
                flags[path] = doc
        self.answer(200, {"ok": True})

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(portfile + ".tmp", portfile)
threading.Timer(300, srv.shutdown).start()
srv.serve_forever()
