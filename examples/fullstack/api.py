#!/usr/bin/env python3
"""api: a JSON API in front of the store (stdlib only).

  GET /health  -> 200 {"status": "ok", "store": "up"} when the store answers
                  its /health, else 503 {"status": "degraded", ...}
  GET /items   -> 200 {"items": {...}} read from the store's /kv, 502 on error

Listens on 127.0.0.1:$PORT; the store is at $STORE_URL.
"""

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STORE_URL = os.environ.get("STORE_URL", "http://127.0.0.1:7301").rstrip("/")


def fetch(path, timeout=2.0):
    """GET STORE_URL + path; return (status, body text)."""
    with urllib.request.urlopen(STORE_URL + path, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    server_version = "api/1"

    def _json(self, status, obj):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            try:
                status, body = fetch("/health", timeout=1.0)
                up = status == 200 and body.strip() == "ok"
            except (urllib.error.URLError, OSError) as exc:
                up, body = False, str(exc)
            if up:
                return self._json(200, {"status": "ok", "store": "up"})
            return self._json(503, {"status": "degraded", "store": "down", "detail": body})
        if path == "/items":
            try:
                _, body = fetch("/kv")
                return self._json(200, {"items": json.loads(body)})
            except (urllib.error.URLError, OSError, ValueError) as exc:
                return self._json(502, {"error": f"store unavailable: {exc}"})
        return self._json(404, {"error": "not found", "path": path})

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main():
    port = int(os.environ.get("PORT", "7302"))

    def stop(signum, _frame):
        print(f"api: caught {signal.Signals(signum).name}, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", port), Handler) as httpd:
        print(f"api: listening on http://127.0.0.1:{port} (store: {STORE_URL})", flush=True)
        try:
            httpd.serve_forever()
        except SystemExit:
            pass
    print("api: bye", flush=True)


if __name__ == "__main__":
    main()
