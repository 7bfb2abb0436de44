"""Real clients of taskmuxd's API for tests/api.rs: each mode prints one JSON object.

  ws_auth URL TOKEN          handshakes with and without the token and origins; pings
  ws_request URL TOKEN JSON  one request over the WebSocket; prints its reply
  ws_subscribe URL TOKEN PID subscribes to events, kills PID, prints the first task_exited
  ws_limits URL TOKEN        plain HTTP (raw socket) and a 5 MB message: what each gets back
  unix SOCKET                malformed, unknown, oversized and 20 pipelined requests
  unix_ping SOCKET           one ping (run as another uid: prints how it was refused)

The websockets client is the sync one (websockets >= 13); the Unix client is the plain
socket module. No proxies from the environment.
"""

import json
import os
import signal
import socket
import sys
import time


def ws_connect(url, **kw):
    from websockets.sync.client import connect

    return connect(url, proxy=None, open_timeout=10, **kw)


def handshake_status(url, **kw):
    """101 when the handshake succeeds, else the HTTP status and body of the refusal."""
    from websockets.exceptions import InvalidStatus

    try:
        with ws_connect(url, **kw):
            return {"status": 101}
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
        return {"status": e.response.status_code, "body": body}


def ws_auth(url, token):
    bearer = {"Authorization": "Bearer " + token}
    out = {
        "none": handshake_status(url),
        "wrong": handshake_status(url, additional_headers={"Authorization": "Bearer nope"}),
        "evil": handshake_status(url, additional_headers=bearer, origin="https://evil.example"),
        "listed": handshake_status(url, additional_headers=bearer, origin="http://localhost:3000"),
    }
    with ws_connect(url, additional_headers=bearer) as ws:
        ws.send(json.dumps({"command": "ping", "id": "by-header"}))
        out["header"] = json.loads(ws.recv(timeout=10))
        # a message past 1 MiB is answered, and the connection goes on
        ws.send(json.dumps({"command": "ping", "pad": "x" * (1024 * 1024 + 10)}))
        out["large"] = json.loads(ws.recv(timeout=10))
        ws.send(b'{"command": "ping"}')
        out["binary"] = json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"command": "ping", "id": 3}))
        out["after"] = json.loads(ws.recv(timeout=10))
    with ws_connect(url.rstrip("/") + "/?token=" + token) as ws:
        ws.send(json.dumps({"command": "ping", "id": 2}))
        out["query"] = json.loads(ws.recv(timeout=10))
    return out


def ws_request(url, token, request):
    with ws_connect(url, additional_headers={"Authorization": "Bearer " + token}) as ws:
        ws.send(request)
        return json.loads(ws.recv(timeout=30))


def ws_subscribe(url, token, pid):
    with ws_connect(url, additional_headers={"Authorization": "Bearer " + token}) as ws:
        ws.send(json.dumps({"command": "subscribe", "params": {"events": True}, "id": 1}))
        out = {"reply": json.loads(ws.recv(timeout=10)), "pushed": []}
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                m = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            except TimeoutError:
                break
            out["pushed"].append(m)
            if m.get("event") == "task_exited":
                out["exited"] = m
                break
        return out


def http_raw(url, data):
    """Sends raw bytes to the WebSocket port; returns the HTTP answer, or how it ended."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(data)
        raw = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    except OSError as e:
        return {"error": repr(e)}
    finally:
        s.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2) if lines[0].startswith("HTTP/") else []
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return {
        "status": int(parts[1]) if len(parts) > 1 else None,
        "headers": headers,
        "body": body.decode("utf-8", "replace"),
    }


def closed(e):
    """What a ConnectionClosed says: the close frame received, and what caused it."""
    return {
        "type": type(e).__name__,
        "rcvd": e.rcvd.code if e.rcvd else None,
        "cause": repr(e.__cause__) if e.__cause__ else None,
    }


def ws_limits(url, token):
    from websockets.exceptions import ConnectionClosed

    get = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: plain\r\n\r\n"
    post = (
        b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 300000\r\n\r\n" + b"x" * 300000
    )
    out = {
        "get": http_raw(url, get),
        "post": http_raw(url, post),
        "garbage": http_raw(url, b"\x16\x03\x01 not http at all\r\n\r\n"),
        "no_key": http_raw(
            url, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        ),
    }
    ws = ws_connect(url, additional_headers={"Authorization": "Bearer " + token})
    big = {"command": "ping", "id": 5, "pad": "x" * 5_000_000}
    try:
        ws.send(json.dumps(big))
        out["sent"] = True
    except ConnectionClosed as e:
        out["send_closed"] = closed(e)
    except OSError as e:
        out["send_error"] = repr(e)
    try:
        out["reply"] = json.loads(ws.recv(timeout=10))
    except ConnectionClosed as e:
        out["recv_closed"] = closed(e)
    except (OSError, TimeoutError) as e:
        out["recv_error"] = repr(e)
    try:
        ws.recv(timeout=10)
    except ConnectionClosed as e:
        out["then"] = closed(e)
    except (OSError, TimeoutError) as e:
        out["then_error"] = repr(e)
    ws.close()
    # the daemon goes on: a new connection is answered
    with ws_connect(url, additional_headers={"Authorization": "Bearer " + token}) as ws:
        ws.send(json.dumps({"command": "ping", "id": 6}))
        out["after"] = json.loads(ws.recv(timeout=10))
    return out


class Lines:
    """A Unix socket client reading replies a line at a time."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the daemon hung up")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def unix(path):
    c = Lines(path)
    out = {}
    c.send(b"{not json\n")
    out["malformed"] = c.line()
    c.send(b'{"command": "frobnicate", "id": 41}\n')
    out["unknown"] = c.line()
    c.send(b'{"command": "ping", "pad": "' + b"x" * (1024 * 1024 + 100) + b'"}\n')
    out["large"] = c.line()
    c.send(b'{"command": "ping", "id": "after"}\n')
    out["after"] = c.line()
    c.send(b"".join(b'{"command": "ping", "id": %d}\n' % i for i in range(1, 21)))
    out["pipelined"] = [c.line() for _ in range(20)]
    # nothing more than the 20: a further ping's reply is the next line
    c.send(b'{"command": "ping", "id": "last"}\n')
    out["last"] = c.line()
    return out


def unix_ping(path):
    try:
        c = Lines(path)
    except PermissionError as e:
        return {"refused": "permission_denied", "message": str(e)}
    except OSError as e:
        return {"refused": "os_error", "message": str(e)}
    try:
        c.send(b'{"command": "ping", "id": 1}\n')
        return {"reply": c.line()}
    except (OSError, EOFError) as e:
        return {"refused": "hung_up", "message": str(e)}


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "ws_auth":
        out = ws_auth(*args)
    elif mode == "ws_request":
        out = ws_request(*args)
    elif mode == "ws_subscribe":
        out = ws_subscribe(args[0], args[1], int(args[2]))
    elif mode == "ws_limits":
        out = ws_limits(*args)
    elif mode == "unix":
        out = unix(args[0])
    elif mode == "unix_ping":
        out = unix_ping(args[0])
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
