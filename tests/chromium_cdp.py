"""Loads a page in headless Chromium and prints the text of its #out element once it
starts with "got:" (or what it is after 15 s), through the DevTools protocol.

python chromium_cdp.py URL PROFILE_DIR   (HOME as the caller set it: Chromium reads its NSS
database from $HOME/.pki/nssdb; TMPDIR too, where it leaves its singleton socket)

Chromium runs in a process group of its own, killed whole at the end, and dies with this
script if this script is killed.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from websockets.sync.client import connect


def die_with_parent():
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(url, profile):
    os.makedirs(profile, exist_ok=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    proc = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent)
    try:
        deadline = time.time() + 20
        # Chromium creates the file, then writes "PORT\nPATH" into it: wait for the line,
        # not for the file (an empty file was read under load)
        port = None
        while port is None and time.time() < deadline:
            try:
                with open(port_file) as f:
                    first = f.read().split("\n")
                if len(first) > 1 and first[0].isdigit():
                    port = first[0]
            except FileNotFoundError:
                pass
            if port is None:
                time.sleep(0.05)
        if port is None:
            raise SystemExit(f"no DevTools port from Chromium in {port_file} within 20 s")
        targets = []
        while not targets and time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                targets = [t for t in json.load(r) if t.get("type") == "page"]
            if not targets:
                time.sleep(0.05)
        with connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            ids = iter(range(1, 10**6))

            def call(method, **params):
                i = next(ids)
                ws.send(json.dumps({"id": i, "method": method, "params": params}))
                while True:
                    m = json.loads(ws.recv(timeout=10))
                    if m.get("id") == i:
                        return m

            call("Page.navigate", url=url)
            text = ""
            end = time.time() + 15
            while time.time() < end:
                r = call("Runtime.evaluate", expression="(document.getElementById('out')||{}).textContent||document.title", returnByValue=True)
                text = r.get("result", {}).get("result", {}).get("value", "") or ""
                if text.startswith("got:"):
                    break
                time.sleep(0.2)
            print(text)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
