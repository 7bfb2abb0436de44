//! A signal while one of the daemon's threads waits in a read with a timeout must not end
//! its client's connection. Linux ends such a read with EINTR on any signal the process
//! handles (the daemon handles HUP, INT, QUIT, USR1, USR2, TERM and PIPE) and on a SIGCHLD
//! that one of its threads left pending while it spawned a child, so the read is made again.
//! Here SIGHUP (the daemon rereads its global config) goes to the one thread that serves
//! the test's client, again and again while it waits: the WebSocket's handshake and a
//! subscription, and the proxy's plain-HTTP port.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The ids of the threads of process `pid` named `name`.
fn threads(pid: i32, name: &str) -> Vec<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .filter_map(|t| t.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Waits until the daemon has one thread named `name` (the one serving the test's client)
/// and sends it SIGHUP 25 times, 20 ms apart. kill(2) with a thread's id delivers the signal
/// to that thread when it can take it, as one that waits in a read can.
fn interrupt(daemon: i32, name: &str) {
    let mut tid = 0;
    wait_for(10.0, &format!("one '{name}' thread in the daemon"), || {
        match threads(daemon, name)[..] {
            [t] => {
                tid = t;
                true
            }
            _ => false,
        }
    });
    let tid = rustix::process::Pid::from_raw(tid).expect("a thread id > 0");
    for i in 0..25 {
        if let Err(e) = rustix::process::kill_process(tid, rustix::process::Signal::HUP) {
            panic!("the '{name}' thread has gone after {i} signals, and the connection with it: {e}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test's end of a WebSocket: each read waits at most 10 s and is made again after an
/// EINTR of the test process's own (see the harness's rules).
struct Client(TcpStream);

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let s = &self.0;
        retry_eintr(Instant::now() + Duration::from_secs(10), |left| {
            s.set_read_timeout(Some(left))?;
            (&*s).read(buf)
        })
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The next message that answers request `id`, past any pushed events.
fn reply(ws: &mut tungstenite::WebSocket<Client>, id: i64) -> Value {
    for _ in 0..100 {
        let m = ws.read().unwrap_or_else(|e| panic!("the reply to {id}: {e}"));
        if let tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("a JSON message");
            if v["id"] == id {
                return v;
            }
        }
    }
    panic!("no reply to {id} in 100 messages")
}

#[test]
fn signals_end_neither_a_websocket_handshake_nor_a_subscription() {
    let env = Env::new("eintr-ws");
    let port = free_port();
    let daemon = env.daemon_start_with(30.0, &format!("api_port = {port}\n"));
    let token = read(&env.home.join("api.token")).trim().to_string();
    // connected, its handshake not sent yet: the daemon's thread waits in the handshake's read
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    interrupt(daemon, "ws client");
    let url = format!("ws://127.0.0.1:{port}/?token={token}");
    let (mut ws, resp) = tungstenite::client(url.as_str(), Client(sock))
        .unwrap_or_else(|e| panic!("the handshake after the signals: {e}"));
    assert_eq!(resp.status(), 101);
    let subscribe = json!({"command": "subscribe", "params": {"events": true}, "id": 1});
    ws.send(tungstenite::Message::text(subscribe.to_string()))
        .expect("send");
    assert_eq!(reply(&mut ws, 1)["ok"], true);
    // subscribed: the thread waits in reads of 100 ms between pushes
    interrupt(daemon, "ws client");
    ws.send(tungstenite::Message::text(
        json!({"command": "ping", "id": 2}).to_string(),
    ))
    .expect("send after the signals");
    assert_eq!(reply(&mut ws, 2)["ok"], true, "the connection outlived the signals");
    assert!(
        read(&env.home.join("daemon.log")).contains("global config reread"),
        "the signals reached the daemon"
    );
}

#[test]
fn signals_do_not_end_a_request_to_the_plain_http_port() {
    let env = Env::new("eintr-http");
    let (https, http) = (free_port(), free_port());
    let daemon = env.daemon_start_with(
        30.0,
        &format!(
            "api_port = {}\nproxy_https_port = {https}\nproxy_http_port = {http}\n",
            free_port()
        ),
    );
    // connected, nothing sent yet: the daemon's thread waits in the head's read
    let mut c = TcpStream::connect(("127.0.0.1", http)).expect("connects");
    interrupt(daemon, "proxy-conn");
    c.write_all(b"GET /x HTTP/1.1\r\nHost: nothing.localhost\r\n\r\n")
        .expect("the request after the signals");
    // the proxy answers, shuts its side and closes when the client does
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("HTTP/1.1 "),
        "an answer, not a dropped connection: {got:?}"
    );
}
