"""WebSocket ends for the proxy's tests.

python proxy_ws.py serve PORT      an echo server on 127.0.0.1:PORT
python proxy_ws.py client URL CA   through the proxy (the URL's host resolved to 127.0.0.1):
    echoes once and prints "ready"; waits for the server to close the connection (a task
    restart) and prints "closed"; reconnects until an echo works and prints "reconnected".
"""
import socket
import warnings
import ssl
import sys
import time
from urllib.parse import urlsplit

warnings.simplefilter("ignore", DeprecationWarning)


def serve(port):
    from websockets.sync.server import serve as ws_serve

    def echo(ws):
        for msg in ws:
            ws.send(msg)

    with ws_serve(echo, "127.0.0.1", port) as server:
        server.serve_forever()


def connect(url, ctx):
    from websockets.sync.client import connect as ws_connect

    u = urlsplit(url)
    sock = socket.create_connection(("127.0.0.1", u.port), timeout=5)
    return ws_connect(url, sock=sock, ssl=ctx, open_timeout=5, close_timeout=2)


def client(url, ca):
    from websockets.exceptions import ConnectionClosed

    ctx = ssl.create_default_context(cafile=ca)
    ws = connect(url, ctx)
    ws.send("one")
    assert ws.recv(timeout=5) == "one"
    print("ready", flush=True)
    try:
        ws.recv(timeout=30)
        print("no close: got a message", flush=True)
        return 1
    except ConnectionClosed:
        print("closed", flush=True)
    except TimeoutError:
        print("no close: timed out", flush=True)
        return 1
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            ws = connect(url, ctx)
            ws.send("two")
            if ws.recv(timeout=5) == "two":
                print("reconnected", flush=True)
                ws.close()
                return 0
        except Exception:
            time.sleep(0.2)
    print("no reconnect", flush=True)
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(client(sys.argv[2], sys.argv[3]))
