"""A small upstream for the proxy's tests: python3 proxy_upstream.py PORT.

GET /hello: "hello from upstream"; GET /cookies: two Set-Cookie headers; GET /headers: the
request's headers as JSON pairs; POST /echo: the body back (Content-Length or chunked in);
GET /sse: one event at once, then the response stays open for 30 s; GET /big?n=N: N bytes;
GET /close-next: "armed", and the next request on that connection is closed unanswered
(a keep-alive timeout firing as a request arrives); GET /silent: nothing for 30 s;
GET /chunked: a chunked body whatever the request's version (as a careless server sends);
GET /seen: the method and path of every request so far, as JSON.
"""
import json
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        SEEN.append(["GET", self.path])
        if getattr(self, "armed", False):
            self.close_connection = True
            return
        if self.path == "/close-next":
            self.armed = True
            self.send_body(b"armed\n")
        elif self.path == "/seen":
            self.send_body(json.dumps(SEEN).encode(), "application/json")
        elif self.path == "/silent":
            time.sleep(30)
            self.close_connection = True
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/hello":
            self.send_body(b"hello from upstream\n")
        elif self.path == "/cookies":
            self.send_response(200)
            self.send_header("Set-Cookie", "a=1; Path=/")
            self.send_header("Set-Cookie", "b=2; Path=/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        elif self.path == "/headers":
            self.send_body(json.dumps(list(self.headers.items())).encode(), "application/json")
        elif self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            time.sleep(30)
        elif self.path.startswith("/big?n="):
            n = int(self.path.split("=", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                k = min(n, len(chunk))
                self.wfile.write(chunk[:k])
                n -= k
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self):
        SEEN.append(["POST", self.path])
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_body(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
