"""A raw HTTPS client for the proxy's tests: it sends bytes no well-behaved client would.

python3 proxy_client.py PORT CA SNI [--alpn PROTO] [--wait SECS] [--no-sni]

Reads the bytes to send from stdin, sends them on one TLS connection to 127.0.0.1:PORT made
for SNI (trusting CA), then reads until the proxy closes or SECS (default 5) pass, and
prints one JSON object: the ALPN protocol agreed, the seconds from the first byte sent to
the close (or the wait's end), whether the proxy closed, what sending said if it failed, and
what came back (latin-1, so every byte survives).
"""
import json
import socket
import ssl
import sys
import time


def main():
    port, ca, sni = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    alpn = args[args.index("--alpn") + 1] if "--alpn" in args else None
    wait = float(args[args.index("--wait") + 1]) if "--wait" in args else 5.0
    ctx = ssl.create_default_context(cafile=ca)
    if "--no-sni" in args:
        ctx.check_hostname = False
        sni = None
    if alpn:
        ctx.set_alpn_protocols([alpn])
    payload = sys.stdin.buffer.read()
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    tls = ctx.wrap_socket(sock, server_hostname=sni)
    send_error = None
    start = time.monotonic()
    try:
        tls.sendall(payload)
    except OSError as e:
        send_error = str(e)
    sent = time.monotonic()
    got, closed = b"", False
    while True:
        left = wait - (time.monotonic() - sent)
        if left <= 0:
            break
        tls.settimeout(left)
        try:
            b = tls.recv(65536)
        except socket.timeout:
            break
        except (ssl.SSLError, OSError):
            closed = True
            break
        if not b:
            closed = True
            break
        got += b
    print(json.dumps({
        "alpn": tls.selected_alpn_protocol(),
        "secs": round(time.monotonic() - start, 3),
        "closed": closed,
        "send_error": send_error,
        "data": got.decode("latin-1"),
    }))


if __name__ == "__main__":
    main()
