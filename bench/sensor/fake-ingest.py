#!/usr/bin/env python3
"""A stand-in for the triage service, on 127.0.0.1, for the sensor benchmarks.

POST /api/v1/alerts (bearer token required, 401 otherwise; body one alert or an array, as the real endpoint takes)
answers 202 and logs one line per alert: receive time (epoch s), id, rule, container id or "-", and the latency from
the alert's `time` (the syscall's time, which the sensor derives from the kernel's timestamp) to its arrival here, ms.
The command long poll (GET .../commands?wait=N) answers [] after N seconds (at most 25), as an idle service does;
any other POST (heartbeats, results, evidence) answers 204. HTTP/1.1 keep-alive, as Kestrel offers.

Usage: fake-ingest.py TOKEN PORT_FILE LOG_FILE   (binds port 0 and writes the port it got to PORT_FILE)
"""
import json
import re
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

token, port_file, log_file = sys.argv[1:4]
log = open(log_file, "a", buffering=1)
lock = threading.Lock()
FRACTION = re.compile(r"\.(\d+)")


def parse_time(text):
    # .NET writes 7 fraction digits; Python takes at most 6.
    text = FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text.replace("Z", "+00:00"), count=1)
    return datetime.fromisoformat(text).timestamp()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path.endswith("/commands"):
            wait = float(parse_qs(url.query).get("wait", ["25"])[0])
            time.sleep(min(max(wait, 0), 25))
            return self.answer(200, b"[]")
        self.answer(404)

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # HttpClient streams JsonContent without a length.
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def do_POST(self):
        body = self.body()
        if self.path.rstrip("/") != "/api/v1/alerts":
            return self.answer(204)
        now = time.time()
        if self.headers.get("Authorization") != f"Bearer {token}":
            return self.answer(401)
        doc = json.loads(body)
        alerts = doc if isinstance(doc, list) else [doc]
        lines = []
        for a in alerts:
            latency_ms = (now - parse_time(a["time"])) * 1000 if a.get("time") else -1
            container = (a.get("container") or {}).get("id") or "-"
            lines.append(f"{now:.6f}\t{a.get('id')}\t{a.get('rule')}\t{container}\t{latency_ms:.3f}\n")
        with lock:
            log.writelines(lines)
        self.answer(202, json.dumps({"accepted": len(alerts)}).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
