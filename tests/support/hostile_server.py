#!/usr/bin/env python3
"""A hostile HTTP peer for tests: accepts every connection and then stalls.

  hostile_server.py PORTFILE [MODE]
MODE "silent" (default) never answers; "trickle" sends a valid status line and
headers, then one body byte every 200 ms, forever. Writes its port to PORTFILE
once it listens. Stops by itself after 120 s so a crashed test leaves nothing.
"""
import socket
import sys
import threading
import time

portfile = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "silent"
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
import os
os.replace(portfile + ".tmp", portfile)
deadline = time.monotonic() + 120


def serve(conn):
    try:
        conn.settimeout(1)
        try:
            conn.recv(65536)
        except OSError:
            pass
        if mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n")
        while time.monotonic() < deadline:
            if mode == "trickle":
                conn.sendall(b"a")
            time.sleep(0.2)
    except OSError:
        pass
    finally:
        conn.close()


srv.settimeout(1)
while time.monotonic() < deadline:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
