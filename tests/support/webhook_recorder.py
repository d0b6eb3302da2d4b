#!/usr/bin/env python3
"""An incident webhook for tests: records every POST body as one JSON line.

  webhook_recorder.py PORTFILE OUTFILE [STALL_SECONDS]
Answers 200 after STALL_SECONDS (default 0) while the file STALL exists next
to OUTFILE (OUTFILE + ".stall"), so a test can hold deliveries in flight and
kill the sender. Writes its port to PORTFILE once it listens; stops by itself
after 300 s.
"""
import http.server
import os
import sys
import threading
import time

portfile, outfile = sys.argv[1], sys.argv[2]
stall = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock, open(outfile, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        while os.path.exists(outfile + ".stall"):
            time.sleep(0.05)
        if stall:
            time.sleep(stall)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(portfile + ".tmp", portfile)
threading.Timer(300, srv.shutdown).start()
srv.serve_forever()
