#!/usr/bin/env python3
"""store: a tiny in-memory key-value store over HTTP (stdlib only).

  GET    /health      -> 200 "ok"
  GET    /kv          -> 200 JSON object of every key
  GET    /kv/<key>    -> 200 value, or 404
  PUT    /kv/<key>    -> 204 (body is the value)
  DELETE /kv/<key>    -> 204, or 404

Listens on 127.0.0.1:$PORT. Sleeps STORE_BOOT_DELAY seconds (default 1)
before binding, so taskmux's dependency gating is visible.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = {"greeting": "hello from store", "fruit": "apple", "colour": "teal"}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "store/1"

    def _send(self, status, body=b"", ctype="text/plain; charset=utf-8"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _key(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/kv/") and len(path) > 4:
            return path[4:]
        return None

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self._send(200, "ok")
        if path == "/kv":
            with LOCK:
                body = json.dumps(DATA, sort_keys=True)
            return self._send(200, body, "application/json")
        key = self._key()
        if key is not None:
            with LOCK:
                value = DATA.get(key)
            if value is None:
                return self._send(404, f"no such key: {key}\n")
            return self._send(200, value)
        return self._send(404, "not found\n")

    do_HEAD = do_GET

    def do_PUT(self):
        key = self._key()
        if key is None:
            return self._send(404, "not found\n")
        length = int(self.headers.get("Content-Length") or 0)
        value = self.rfile.read(length).decode("utf-8", "replace")
        with LOCK:
            DATA[key] = value
        print(f"set {key}={value!r}", flush=True)
        return self._send(204)

    def do_DELETE(self):
        key = self._key()
        with LOCK:
            found = key is not None and DATA.pop(key, None) is not None
        return self._send(204 if found else 404)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main():
    port = int(os.environ.get("PORT", "7301"))
    delay = float(os.environ.get("STORE_BOOT_DELAY", "1"))

    def stop(signum, _frame):
        print(f"store: caught {signal.Signals(signum).name}, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    print(f"store: warming up for {delay:g}s ...", flush=True)
    time.sleep(delay)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", port), Handler) as httpd:
        env = os.environ.get("APP_ENV", "unset")
        print(f"store: listening on http://127.0.0.1:{port} (APP_ENV={env})", flush=True)
        try:
            httpd.serve_forever()
        except SystemExit:
            pass
    print("store: bye", flush=True)


if __name__ == "__main__":
    main()
