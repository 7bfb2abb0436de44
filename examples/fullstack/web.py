#!/usr/bin/env python3
"""web: the front end (stdlib only).

  GET /            -> an HTML page whose script fetches /api/items
  GET /api/items   -> proxied to $API_URL/items (same origin for the browser)

Listens on 127.0.0.1:$PORT; the api is at $API_URL.
"""

import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_URL = os.environ.get("API_URL", "http://127.0.0.1:7302").rstrip("/")

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>fullstack</title></head>
<body>
<h1>fullstack</h1>
<p>Items from the api (via the store):</p>
<ul id="items"><li>loading...</li></ul>
<script>
fetch("/api/items")
  .then(r => r.json())
  .then(data => {
    const ul = document.getElementById("items");
    ul.innerHTML = "";
    for (const [k, v] of Object.entries(data.items || {})) {
      const li = document.createElement("li");
      li.textContent = k + ": " + v;
      ul.appendChild(li);
    }
  })
  .catch(err => { document.getElementById("items").textContent = "error: " + err; });
</script>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "web/1"

    def _send(self, status, body, ctype):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._send(200, PAGE, "text/html; charset=utf-8")
        if path == "/api/items":
            try:
                with urllib.request.urlopen(API_URL + "/items", timeout=2.0) as resp:
                    return self._send(resp.status, resp.read(), "application/json")
            except urllib.error.HTTPError as exc:
                return self._send(exc.code, exc.read(), "application/json")
            except (urllib.error.URLError, OSError) as exc:
                return self._send(502, f'{{"error": "api unavailable: {exc}"}}', "application/json")
        return self._send(404, "not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main():
    port = int(os.environ.get("PORT", "7303"))

    def stop(signum, _frame):
        print(f"web: caught {signal.Signals(signum).name}, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", port), Handler) as httpd:
        print(f"web: open http://127.0.0.1:{port}/ (api: {API_URL})", flush=True)
        try:
            httpd.serve_forever()
        except SystemExit:
            pass
    print("web: bye", flush=True)


if __name__ == "__main__":
    main()
