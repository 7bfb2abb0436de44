//! The daemon's HTTPS proxy, by curl and raw TLS sockets (python): a host task's URL served
//! with our CA, every header kept, forwarded headers on every request, bodies streamed both
//! ways, HTTP/1.0 clients, and errors a person can act on (503, 502, 504, 421, 308, 431,
//! 400 for a request that could be read two ways), against a real daemon and real task
//! processes.

use crate::harness::*;
use serde_json::json;
use std::process::{Command, Output, Stdio};

/// A project `px` with an upstream task `web` (`host = "web"`), started, and a daemon
/// serving the proxy on free ports.
struct Px {
    env: Env,
    name: String,
    https: u16,
    http: u16,
}

fn upstream_script() -> String {
    format!("{}/tests/proxy_upstream.py", env!("CARGO_MANIFEST_DIR"))
}

fn setup(name: &str, extra_tasks: &str) -> Option<Px> {
    setup_with(name, extra_tasks, |_| {})
}

/// [`setup`], with `prepare` run on the world before the project starts.
fn setup_with(name: &str, extra_tasks: &str, prepare: impl FnOnce(&Env)) -> Option<Px> {
    setup_full(name, extra_tasks, "", prepare)
}

/// [`setup`], with more lines of global config.
fn setup_global(name: &str, extra_tasks: &str, extra_global: &str) -> Option<Px> {
    setup_full(name, extra_tasks, extra_global, |_| {})
}

fn setup_full(name: &str, extra_tasks: &str, extra_global: &str, prepare: impl FnOnce(&Env)) -> Option<Px> {
    let env = Env::with_tmux(name)?;
    if !require("curl", &["curl", "--version"]) {
        return None;
    }
    env.config(&format!(
        "name = \"{name}\"\n[tasks.web]\ncommand = \"exec python3 {} $PORT\"\nhost = \"web\"\n{extra_tasks}",
        upstream_script()
    ));
    prepare(&env);
    let (https, http) = (free_port(), free_port());
    let global = format!(
        "api_port = {}\nproxy_https_port = {https}\nproxy_http_port = {http}\n{extra_global}",
        free_port()
    );
    // the config first, as a user would: the task's first line names the URL with its port
    std::fs::write(env.home.join("config.toml"), &global).expect("write");
    let (v, code) = env.json(&["start"]);
    assert_eq!(code, 0, "start: {v}");
    env.daemon_start_with(30.0, &global);
    let px = Px {
        env,
        name: name.to_string(),
        https,
        http,
    };
    wait_for(15.0, "the upstream answers through the proxy", || {
        text(&px.curl("web", "/hello", &[])).contains("hello from upstream")
    });
    Some(px)
}

impl Px {
    fn ca(&self) -> String {
        self.env.home.join("ca/ca.pem").display().to_string()
    }
    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}.{}.localhost:{}{path}", self.name(), self.https)
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// curl with our CA, the name resolved to loopback, `-sS`, and `args`.
    fn curl(&self, host: &str, path: &str, args: &[&str]) -> Output {
        let name = format!("{host}.{}.localhost", self.name());
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &self.ca()])
            .args(["--resolve", &format!("{name}:{}:127.0.0.1", self.https)])
            .args(args)
            .arg(self.url(host, path))
            .stdin(Stdio::null())
            .output()
            .expect("curl runs")
    }
}

impl Px {
    /// Sends `payload` on one TLS connection made for `sni` (None: no SNI, as for an
    /// address) with tests/proxy_client.py; what came back, as that script prints it.
    fn raw(&self, sni: Option<&str>, payload: &[u8], extra: &[&str]) -> serde_json::Value {
        use std::io::Write;
        let script = format!("{}/tests/proxy_client.py", env!("CARGO_MANIFEST_DIR"));
        let mut c = Command::new("python3");
        c.arg(&script)
            .arg(self.https.to_string())
            .arg(self.ca())
            .arg(sni.unwrap_or("localhost"))
            .args(extra);
        if sni.is_none() {
            c.arg("--no-sni");
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut stdin = child.stdin.take().expect("stdin");
        let payload = payload.to_vec();
        let feed = std::thread::spawn(move || {
            let _ = stdin.write_all(&payload);
        });
        let o = child.wait_with_output().expect("python3 ends");
        let _ = feed.join();
        assert!(o.status.success(), "{}", show(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)))
    }

    /// The method and path of every request the `web` task has had, as it lists them.
    fn seen(&self) -> String {
        text(&self.curl("web", "/seen", &[]))
    }
}

/// The text a raw exchange got back.
fn data(v: &serde_json::Value) -> &str {
    v["data"].as_str().unwrap_or_default()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_host_task_is_served_with_every_header_kept_and_bodies_streamed() {
    let Some(px) = setup("pxa", "") else { return };
    let o = px.curl("web", "/hello", &["-i"]);
    let out = text(&o);
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("hello from upstream"),
        "{}",
        show(&o)
    );
    // two Set-Cookie headers both arrive
    let out = text(&px.curl("web", "/cookies", &["-i"]));
    assert!(
        out.contains("Set-Cookie: a=1; Path=/") && out.contains("Set-Cookie: b=2; Path=/"),
        "{out}"
    );
    // X-Forwarded-* on the second request of one keep-alive connection
    let second = px.url("web", "/headers");
    let o = px.curl("web", "/headers", &["-w", "\nconnects=%{num_connects}\n", &second]);
    let out = text(&o);
    let parts: Vec<&str> = out.split("connects=").collect();
    assert_eq!(parts.len(), 3, "two responses: {}", show(&o));
    assert!(
        parts[1].trim_start().starts_with('1') && parts[2].trim_start().starts_with('0'),
        "one connection: {out}"
    );
    let second_headers = parts[1].split_once('\n').map(|x| x.1).unwrap_or("");
    let h: serde_json::Value = serde_json::from_str(second_headers.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let has = |k: &str, v: &str| {
        h.as_array()
            .expect("pairs")
            .iter()
            .any(|p| p[0].as_str().is_some_and(|x| x.eq_ignore_ascii_case(k)) && p[1] == v)
    };
    let host = format!("web.{}.localhost:{}", px.name(), px.https);
    assert!(has("X-Forwarded-For", "127.0.0.1"), "{h}");
    assert!(has("X-Forwarded-Proto", "https"), "{h}");
    assert!(has("X-Forwarded-Host", &host), "{h}");
    // an upstream that closes a kept-alive connection as the next GET arrives: the GET is
    // sent again on a new connection, not answered with a 502
    let arm = px.url("web", "/close-next");
    let o = px.curl("web", "/hello", &["-w", "%{http_code}\n", &arm]);
    assert_eq!(text(&o), "armed\n200\nhello from upstream\n200\n", "{}", show(&o));
    // a chunked POST, echoed back; and a big one (curl sends Expect: 100-continue)
    let body = px.env.root.join("body.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&body, &data).expect("write");
    let at = format!("@{}", body.display());
    let echoed = px.env.root.join("echoed.bin");
    let e = echoed.display().to_string();
    let o = px.curl(
        "web",
        "/echo",
        &["-H", "Transfer-Encoding: chunked", "--data-binary", &at, "-o", &e],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        std::fs::read(&echoed).expect("echo"),
        data,
        "the chunked body comes back whole"
    );
    let o = px.curl("web", "/echo", &["--data-binary", &at, "-o", &e, "-w", "%{http_code}"]);
    assert_eq!(text(&o), "200", "{}", show(&o));
    assert_eq!(
        std::fs::read(&echoed).expect("echo"),
        data,
        "a Content-Length body (Expect: 100-continue)"
    );
    // a 10 MB download arrives whole, and without stalls. Loopback moves it in tens of
    // milliseconds even under load; a loop that sleeps until its 500 ms tick with bytes
    // it could have moved took 1.5-9 s here (and ran out curl's 10 s in CI)
    let w = "%{size_download} %{time_total}";
    let o = px.curl("web", "/big?n=10000000", &["-o", "/dev/null", "-w", w]);
    let out = text(&o);
    let (size, secs) = out.split_once(' ').expect("size and time");
    assert_eq!(size, "10000000", "{}", show(&o));
    let secs: f64 = secs.parse().expect("time_total");
    assert!(secs < 1.0, "10 MB took {secs} s through the proxy");
    // the task's first log line says where it is served; url and proxy_routes agree
    let (logs, _) = px.env.json(&["logs", "web"]);
    let url = format!("https://web.{}.localhost:{}", px.name(), px.https);
    let first = logs["lines"][0].to_string();
    assert!(
        first.contains(&format!("[taskmux] serving {url} -> http://127.0.0.1:")),
        "{logs}"
    );
    let (u, _) = px.env.json(&["url", "web"]);
    assert_eq!(u["url"], url.as_str(), "{u}");
    // a task added while the daemon runs is served at once, without a restart
    let cmd = format!("exec python3 {} $PORT", upstream_script());
    let (v, code) = px.env.json(&["add", "late", &cmd, "--host", "late"]);
    assert_eq!(code, 0, "{v}");
    let (v, code) = px.env.json(&["start", "late"]);
    assert_eq!(code, 0, "{v}");
    wait_for(10.0, "the new task's URL", || {
        text(&px.curl("late", "/hello", &[])).contains("hello from upstream")
    });
}

#[test]
fn server_sent_events_arrive_at_once_and_a_huge_head_gets_431() {
    let Some(px) = setup("pxs", "") else { return };
    // the first event arrives while the upstream keeps the response open (curl times out)
    let t0 = std::time::Instant::now();
    let o = px.curl("web", "/sse", &["-N", "--max-time", "3"]);
    assert!(text(&o).contains("data: first"), "the event arrived: {}", show(&o));
    assert_eq!(
        o.status.code(),
        Some(28),
        "the stream stayed open until curl gave up: {}",
        show(&o)
    );
    assert!(t0.elapsed().as_secs_f64() < 8.0);
    // a 64 KB header
    let big = format!("X-Big: {}", "a".repeat(64 * 1024));
    let o = px.curl("web", "/hello", &["-H", &big, "-o", "/dev/null", "-w", "%{http_code}"]);
    assert_eq!(text(&o), "431", "{}", show(&o));
    // the proxy still serves afterwards
    assert!(text(&px.curl("web", "/hello", &[])).contains("hello"));
}

#[test]
fn unknown_hosts_stopped_tasks_and_plain_http_get_answers_that_say_what_to_do() {
    let Some(px) = setup(
        "pxe",
        "[tasks.api]\ncommand = \"sleep 1000\"\nhost = \"api\"\nauto_start = false\n",
    ) else {
        return;
    };
    // unknown host: 503 naming the known hosts and the fix
    let o = px.curl("nope", "/", &["-i"]);
    let out = text(&o);
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(
        out.contains(&px.url("web", "")) && out.contains("host = \"NAME\""),
        "{out}"
    );
    assert!(
        out.contains("The project is registered with the daemon, and started."),
        "{out}"
    );
    assert!(
        out.contains(&format!("taskmux -p {} restart <task>", px.name())),
        "{out}"
    );
    // a project no one started: not registered, and the page says which are
    let ghost = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &px.ca()])
        .args(["--resolve", &format!("web.ghost.localhost:{}:127.0.0.1", px.https)])
        .arg(format!("https://web.ghost.localhost:{}/", px.https))
        .output()
        .expect("curl runs");
    let out = text(&ghost);
    assert!(
        out.contains("No registered project serves web.ghost.localhost.")
            && out.contains(&format!("The registered projects: {} (started).", px.name()))
            && out.contains("'taskmux start' in its directory"),
        "{}",
        show(&ghost)
    );
    let o = px.curl("nope", "/", &["-H", "Accept: text/html"]);
    assert!(
        text(&o).contains("<html>") || text(&o).contains("<!doctype html>"),
        "{}",
        show(&o)
    );
    // with a big body sent at once (no Expect): the 503 still arrives, not a broken pipe
    // (the proxy drains what it did not read before it closes)
    let big = px.env.root.join("big-upload");
    std::fs::write(&big, vec![b'x'; 8 << 20]).expect("write");
    let at = format!("@{}", big.display());
    for _ in 0..3 {
        let o = px.curl(
            "nope",
            "/",
            &[
                "-H",
                "Expect:",
                "--data-binary",
                &at,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ],
        );
        assert_eq!(text(&o), "503", "{}", show(&o));
    }
    // a task with a host that never started (no port yet): 502 naming it
    let out = text(&px.curl("api", "/", &["-i"]));
    let logs_api = format!("taskmux -p {} logs api", px.name());
    assert!(
        out.starts_with("HTTP/1.1 502") && out.contains("task 'api'") && out.contains(&logs_api),
        "{out}"
    );
    // a stopped task: 502 naming it, its state and its logs
    let (v, code) = px.env.json(&["stop", "web"]);
    assert_eq!(code, 0, "{v}");
    let out = text(&px.curl("web", "/hello", &["-i"]));
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(out.contains("task 'web'") && out.contains("stopped"), "{out}");
    // and the commands it gives work as written, from any directory
    for (label, want) in [("See what it said: ", "serving"), ("Start it: ", "")] {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no '{label}' line: {out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"taskmux"), "{line}");
        let mut cmd = px.env.command(&words[1..]);
        cmd.current_dir(&px.env.root);
        let o = cmd.output().expect("taskmux runs");
        assert_eq!(o.status.code(), Some(0), "{line}: {}", show(&o));
        assert!(text(&o).contains(want), "{line}: {}", show(&o));
    }
    wait_for(15.0, "web to serve again", || {
        text(&px.curl("web", "/hello", &[])).contains("hello from upstream")
    });
    // the http port: 308 to https, path and query kept
    let o = Command::new("curl")
        .args(["-sS", "-i", "-H", &format!("Host: web.{}.localhost", px.name())])
        .arg(format!("http://127.0.0.1:{}/a/b?c=1&d=2", px.http))
        .output()
        .expect("curl");
    let out = text(&o);
    assert!(out.starts_with("HTTP/1.1 308"), "{out}");
    let want = format!("Location: https://web.{}.localhost:{}/a/b?c=1&d=2", px.name(), px.https);
    assert!(out.contains(&want), "{out}");
    // daemon status says where the proxy listens
    let (st, _) = px.env.json(&["daemon", "status"]);
    assert_eq!(st["proxy"]["state"], "up", "{st}");
}

#[test]
fn a_taken_port_leaves_the_daemon_running_with_the_proxy_down_and_why() {
    let Some(env) = Env::with_tmux("pxp") else { return };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    env.daemon_start_with(
        30.0,
        &format!(
            "api_port = {}\nproxy_https_port = {port}\nproxy_http_port = 0\n",
            free_port()
        ),
    );
    let (st, code) = env.json(&["daemon", "status"]);
    assert_eq!(code, 0, "the daemon runs: {st}");
    assert_eq!(st["proxy"]["state"], "down", "{st}");
    let err = st["proxy"]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("cannot bind 127.0.0.1:{port}")) && err.contains("address in use"),
        "{st}"
    );
    let o = env.run(&["daemon", "status"]);
    assert!(text(&o).contains("proxy: down (cannot bind"), "{}", show(&o));
    drop(taken);
}

#[test]
fn the_daemon_answers_dns_for_the_tld_when_host_resolver_is_dns_server() {
    let Some(env) = Env::with_tmux("pxd") else { return };
    if !require("dig", &["dig", "-v"]) {
        return;
    }
    let port = free_port();
    env.daemon_start_with(
        30.0,
        &format!(
            "api_port = {}\nproxy_enabled = false\nhost_resolver = \"dns_server\"\ndns_server_port = {port}\n",
            free_port()
        ),
    );
    let dig = |name: &str, t: &str| {
        let o = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "+short",
                "+time=2",
                "+tries=1",
                name,
                t,
            ])
            .output()
            .expect("dig");
        text(&o).trim().to_string()
    };
    assert_eq!(dig("api.myproj.localhost", "A"), "127.0.0.1");
    assert_eq!(dig("api.myproj.localhost", "AAAA"), "::1");
    let (st, _) = env.json(&["daemon", "status"]);
    assert_eq!(st["dns"]["state"], "up", "{st}");
    assert_eq!(st["proxy"]["state"], "off", "{st}");
    // our own query command agrees
    let (q, code) = env.json(&[
        "dns",
        "query",
        "web.p.localhost",
        "--server",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!((code, q["rcode"].as_str()), (0, Some("NOERROR")), "{q}");
    // a new TLD takes effect on SIGHUP
    let (v, code) = env.json(&["config", "set", "dns_managed_tld", "test"]);
    assert_eq!(code, 0, "{v}");
    let pid = env.daemon_pid().expect("daemon pid");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::Signal::HUP,
    )
    .expect("HUP");
    wait_for(5.0, "the new TLD", || dig("api.myproj.test", "A") == "127.0.0.1");
}

#[test]
fn a_websocket_is_spliced_through_and_a_task_restart_ends_it_cleanly() {
    let py = python();
    if !require("websockets", &[&py, "-c", "import websockets"]) {
        return;
    }
    let script = format!("{}/tests/proxy_ws.py", env!("CARGO_MANIFEST_DIR"));
    let ws_task = format!("[tasks.ws]\ncommand = \"exec {py} {script} serve $PORT\"\nhost = \"ws\"\n");
    let Some(px) = setup("pxw", &ws_task) else { return };
    let url = px.url("ws", "/").replacen("https://", "wss://", 1);
    wait_for(15.0, "the WebSocket task to listen", || {
        text(&px.curl("ws", "/", &["-o", "/dev/null", "-w", "%{http_code}"])) != "502"
    });
    let mut client = Command::new(&py)
        .args([&script, "client", &url, &px.ca()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python runs");
    let _reap = KillOnDrop(client.id() as i32);
    let out = client.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let mut next = || lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(next(), "ready", "an echo through the proxy over wss");
    let (v, code) = px.env.json(&["restart", "ws"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(next(), "closed", "the restart ends the connection cleanly");
    assert_eq!(next(), "reconnected", "and a reconnect echoes again");
    let st = client.wait().expect("wait");
    assert!(st.success(), "{st:?}");
}

/// Kills a pid when dropped.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = rustix::process::Pid::from_raw(self.0) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
}

#[test]
fn chromium_loads_a_host_page_without_a_certificate_error_and_its_websocket_echoes() {
    let py = python();
    if !require("chromium", &["chromium", "--version"])
        || !require("certutil", &["sh", "-c", "command -v certutil"])
        || !require("websockets", &[&py, "-c", "import websockets"])
    {
        return;
    }
    let script = format!("{}/tests/proxy_ws.py", env!("CARGO_MANIFEST_DIR"));
    let tasks = format!(
        "[tasks.ws]\ncommand = \"exec {py} {script} serve $PORT\"\nhost = \"ws\"\n\
         [tasks.app]\ncommand = \"exec python3 -m http.server $PORT --bind 127.0.0.1\"\nhost = \"app\"\ncwd = \"site\"\n"
    );
    let Some(px) = setup_with("pxc", &tasks, |env| {
        std::fs::create_dir_all(env.project.join("site")).expect("mkdir");
    }) else {
        return;
    };
    let ws_url = px.url("ws", "/").replacen("https://", "wss://", 1);
    std::fs::write(
        px.env.project.join("site/index.html"),
        format!(
            "<!doctype html><html><body><div id=out>waiting</div><script>\n\
             const ws = new WebSocket({ws_url:?});\n\
             ws.onopen = () => ws.send('hot-reload');\n\
             ws.onmessage = (e) => {{ document.getElementById('out').textContent = 'got:' + e.data; }};\n\
             ws.onerror = () => {{ document.getElementById('out').textContent = 'ws-error'; }};\n\
             </script></body></html>\n"
        ),
    )
    .expect("page");
    wait_for(15.0, "the page and the WebSocket task", || {
        text(&px.curl("app", "/", &[])).contains("hot-reload")
            && text(&px.curl("ws", "/", &["-o", "/dev/null", "-w", "%{http_code}"])) != "502"
    });
    let cdp = format!("{}/tests/chromium_cdp.py", env!("CARGO_MANIFEST_DIR"));
    let dump = |home: &std::path::Path| {
        let o = Command::new(&py)
            .arg(&cdp)
            .arg(px.url("app", "/"))
            .arg(home.join("profile"))
            .env("HOME", home)
            .env("TMPDIR", home)
            .stdin(Stdio::null())
            .output()
            .expect("python runs");
        assert!(o.status.success(), "{}", show(&o));
        text(&o).trim().to_string()
    };
    // a HOME whose NSS database trusts our CA
    let trusted = px.env.root.join("chrome-home");
    let db = trusted.join(".pki/nssdb");
    std::fs::create_dir_all(&db).expect("mkdir");
    let sql = format!("sql:{}", db.display());
    for args in [
        vec!["-N", "--empty-password", "-d", &sql],
        vec!["-A", "-d", &sql, "-t", "C,,", "-n", "taskmux-test", "-i", &px.ca()],
    ] {
        let o = Command::new("certutil").args(&args).output().expect("certutil");
        assert!(o.status.success(), "certutil {args:?}: {}", show(&o));
    }
    let page = dump(&trusted);
    assert_eq!(page, "got:hot-reload", "the page loaded and its WebSocket echoed");
    // without the CA, the page does not load
    let untrusted = px.env.root.join("bare-home");
    std::fs::create_dir_all(&untrusted).expect("mkdir");
    let page = dump(&untrusted);
    assert!(!page.contains("got:") && page != "waiting", "refused: {page}");
}

#[test]
fn a_daemon_started_through_sudo_binds_a_privileged_port_then_becomes_the_user() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (sudo is simulated by SUDO_UID and SUDO_GID)");
        return;
    }
    let env = Env::new("pxsudo");
    let nobody = 65534;
    let own = |p: &std::path::Path| {
        rustix::fs::chown(
            p,
            Some(rustix::fs::Uid::from_raw_unchecked(nobody)),
            Some(rustix::fs::Gid::from_raw_unchecked(nobody)),
        )
        .expect("chown")
    };
    // a free port below 1024: only root may bind it
    let low = (700..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024");
    let config = env.home.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "api_port = {}\nproxy_https_port = {low}\nproxy_http_port = 0\n",
            free_port()
        ),
    )
    .expect("config");
    own(&env.home);
    own(&config);
    let o = env
        .command(&["--json", "daemon", "start"])
        .env("SUDO_UID", nobody.to_string())
        .env("SUDO_GID", nobody.to_string())
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", show(&o));
    let pid = env.daemon_pid().expect("the daemon runs");
    let status = read(std::path::Path::new(&format!("/proc/{pid}/status")));
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec!["65534"; 4],
        "real, effective, saved and fs uid are the user's: {uid}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", low)).is_ok(),
        "the privileged port is served"
    );
    let (st, _) = env.json(&["daemon", "status"]);
    assert_eq!(st["proxy"]["state"], "up", "{st}");
    use std::os::unix::fs::MetadataExt;
    for f in ["daemon.lock", "daemon.sock", "daemon.log", "ca/ca-key.pem"] {
        let m = std::fs::metadata(env.home.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(m.uid(), nobody, "{f} belongs to the user");
    }
}

#[test]
fn a_request_that_could_be_read_two_ways_gets_400_and_never_reaches_the_task() {
    let Some(px) = setup("pxsm", "") else { return };
    let host = format!("web.{}.localhost", px.name());
    // Content-Length and Transfer-Encoding: a reader by the one would take the rest as a
    // second request (RFC 9112 section 6.3)
    let smuggle = format!(
        "POST /cl-te HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    // chunked must be the last coding; a chunk size of 20 hex digits is past 64 bits
    let te_list = format!(
        "POST /te-list HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    let huge = format!(
        "POST /chunk-size HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n{}\r\nabc",
        "1".repeat(20)
    );
    for (payload, why) in [
        (&smuggle, "both Content-Length and Transfer-Encoding"),
        (&te_list, "last coding is not chunked"),
        (&huge, "chunk size past 64 bits"),
    ] {
        let v = px.raw(Some(&host), payload.as_bytes(), &[]);
        let got = data(&v);
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{why}: {v}");
        assert!(got.contains(why) && got.contains("Connection: close"), "{v}");
        assert_eq!(
            got.matches("HTTP/1.1 ").count(),
            1,
            "one answer, no second request: {v}"
        );
        assert_eq!(v["closed"], true, "the connection ends: {v}");
    }
    let seen = px.seen();
    assert!(seen.starts_with('['), "{seen}");
    for path in ["/cl-te", "/smuggled", "/te-list"] {
        assert!(!seen.contains(path), "{path} reached the task: {seen}");
    }
}

#[test]
fn a_head_over_the_limit_gets_431_at_once_whatever_its_size() {
    let Some(px) = setup("pxhd", "") else { return };
    let host = format!("web.{}.localhost", px.name());
    for size in [65 * 1024, 70_000, 200_000] {
        let head = format!(
            "GET /hello HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let v = px.raw(Some(&host), head.as_bytes(), &["--wait", "8"]);
        assert!(data(&v).starts_with("HTTP/1.1 431 "), "{size}: {v}");
        let secs = v["secs"].as_f64().expect("secs");
        assert!(secs < 3.0, "{size} bytes: 431 after {secs} s");
    }
    // a head just under the limit is served
    let head = format!(
        "GET /hello HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(60_000)
    );
    let v = px.raw(Some(&host), head.as_bytes(), &[]);
    assert!(data(&v).starts_with("HTTP/1.1 200 "), "{v}");
}

#[test]
fn a_task_that_never_answers_gets_504_naming_it_and_a_started_response_is_never_cut() {
    let Some(px) = setup_global("pxto", "", "proxy_upstream_timeout = 1\n") else {
        return;
    };
    let t0 = std::time::Instant::now();
    let o = px.curl("web", "/silent", &["-i"]);
    let secs = t0.elapsed().as_secs_f64();
    let out = text(&o);
    assert!(out.starts_with("HTTP/1.1 504 Gateway Timeout"), "{}", show(&o));
    assert!(
        out.contains("task 'web'")
            && out.contains("proxy_upstream_timeout")
            && out.contains(&format!("taskmux -p {} logs web", px.name())),
        "{out}"
    );
    assert!((0.9..5.0).contains(&secs), "504 after {secs} s, with a limit of 1 s");
    // server-sent events: the head and a first event at once, then silence past the limit;
    // the stream stays open until curl gives up (28)
    let o = px.curl("web", "/sse", &["-N", "--max-time", "3"]);
    assert!(text(&o).contains("data: first"), "{}", show(&o));
    assert_eq!(o.status.code(), Some(28), "the stream was cut: {}", show(&o));
    // the key is range-checked, naming it
    let (v, code) = px.env.json(&["config", "set", "proxy_upstream_timeout", "-5"]);
    assert_eq!((code, v["code"].as_str()), (2, Some("E104")), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("proxy_upstream_timeout"),
        "{v}"
    );
}

#[test]
fn the_http_port_redirects_only_the_names_it_serves() {
    let Some(px) = setup("pxhr", "") else { return };
    let plain = |host: &str| {
        let o = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "10", "-H", &format!("Host: {host}")])
            .arg(format!("http://127.0.0.1:{}/a?b=1", px.http))
            .output()
            .expect("curl");
        text(&o)
    };
    let served = format!("web.{}.localhost", px.name());
    let out = plain(&served);
    assert!(out.starts_with("HTTP/1.1 308"), "{out}");
    assert!(
        out.contains(&format!("Location: https://{served}:{}/a?b=1", px.https)),
        "{out}"
    );
    for other in ["evil.com", "evil.com:80", &format!("nope.{}.localhost", px.name())] {
        let out = plain(other);
        assert!(out.starts_with("HTTP/1.1 503"), "{other}: {out}");
        assert!(!out.to_ascii_lowercase().contains("location:"), "{other}: {out}");
        assert!(
            out.contains(&px.url("web", "")),
            "the page names the known hosts: {out}"
        );
    }
}

#[test]
fn a_request_for_another_host_than_its_tls_session_gets_421() {
    let Some(px) = setup("pxsn", "") else { return };
    // a second project with a host of its own, served by the same proxy
    let other = px.env.root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let config = other.join("taskmux.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"pxsnb\"\n[tasks.web]\ncommand = \"exec python3 {} $PORT\"\nhost = \"web\"\n",
            upstream_script()
        ),
    )
    .expect("write");
    let (v, code) = px.env.json(&["-c", &config.display().to_string(), "start"]);
    assert_eq!(code, 0, "{v}");
    let beta = "web.pxsnb.localhost";
    let resolve = format!("{beta}:{}:127.0.0.1", px.https);
    wait_for(15.0, "the second project's host", || {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &px.ca(), "--resolve", &resolve])
            .arg(format!("https://{beta}:{}/hello", px.https))
            .output()
            .expect("curl");
        text(&o).contains("hello from upstream")
    });
    // a connection made for this project's web, asking for the other project's
    let o = px.curl("web", "/headers", &["-i", "-H", &format!("Host: {beta}:{}", px.https)]);
    let out = text(&o);
    assert!(out.starts_with("HTTP/1.1 421 Misdirected Request"), "{}", show(&o));
    assert!(out.contains(beta) && !out.contains("X-Forwarded"), "{out}");
    // the same name in another case, with a trailing dot or another port, is the same host
    let same = format!("WEB.{}.LOCALHOST.:8443", px.name().to_uppercase());
    let o = px.curl("web", "/hello", &["-H", &format!("Host: {same}")]);
    assert_eq!(text(&o), "hello from upstream\n", "{}", show(&o));
    // a client that sends no server name (it connected to an address) is routed by Host
    let req = format!("GET /hello HTTP/1.1\r\nHost: {beta}\r\nConnection: close\r\n\r\n");
    let v = px.raw(None, req.as_bytes(), &[]);
    assert!(
        data(&v).starts_with("HTTP/1.1 200") && data(&v).ends_with("hello from upstream\n"),
        "{v}"
    );
}

#[test]
fn http_1_0_clients_are_served_without_chunked_and_kept_alive_only_when_they_ask() {
    let Some(px) = setup("pxhz", "") else { return };
    // curl -0 offers ALPN http/1.0 alone
    let o = px.curl("web", "/hello", &["-0", "-i"]);
    let out = text(&o);
    assert!(o.status.success(), "{}", show(&o));
    assert!(out.ends_with("\r\n\r\nhello from upstream\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");
    // an upstream that answers chunked all the same: the client gets the data, ended by
    // the close
    let o = px.curl("web", "/chunked", &["-0", "-i"]);
    let out = text(&o);
    assert!(out.ends_with("\r\n\r\none two three"), "{}", show(&o));
    assert!(!out.to_ascii_lowercase().contains("transfer-encoding"), "{out}");
    // keep-alive when asked for, and a body with a length: two answers on one connection
    let host = format!("web.{}.localhost", px.name());
    let one = format!("GET /hello HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n");
    let v = px.raw(
        Some(&host),
        format!("{one}{one}").as_bytes(),
        &["--alpn", "http/1.0", "--wait", "2"],
    );
    assert_eq!(v["alpn"], "http/1.0", "{v}");
    assert_eq!(data(&v).matches("Connection: keep-alive\r\n").count(), 2, "{v}");
    assert_eq!(data(&v).matches("hello from upstream").count(), 2, "{v}");
    assert_eq!(v["closed"], false, "kept open: {v}");
    // not asked: one answer, then the close
    let plain = format!("GET /hello HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let v = px.raw(
        Some(&host),
        format!("{plain}{plain}").as_bytes(),
        &["--alpn", "http/1.0"],
    );
    assert_eq!(data(&v).matches("hello from upstream").count(), 1, "{v}");
    assert_eq!(v["closed"], true, "{v}");
}

/// A server taskmux does not run: the upstream script on its own port, killed when dropped.
struct Outside(std::process::Child);

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_alias_serves_a_server_taskmux_does_not_run_through_the_same_proxy() {
    let Some(px) = setup("px-alias", "") else { return };
    let env = &px.env;
    let port = free_port();
    let _outside = Outside(
        Command::new("python3")
            .arg(upstream_script())
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs"),
    );
    wait_for(10.0, "the outside server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (v, code) = env.json(&["alias", "add", "dbui", &port.to_string()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (&v["ok"], &v["alias"], &v["target"], &v["url"], &v["action"]),
        (
            &json!(true),
            &json!("dbui"),
            &json!(format!("127.0.0.1:{port}")),
            &json!(format!("https://dbui.localhost:{}", px.https)),
            &json!("added")
        ),
        "{v}"
    );
    let mode = std::fs::metadata(env.home.join("aliases.json"))
        .expect("aliases.json")
        .permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    // served at once by the running daemon, with the same headers as a task's host
    let get = || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &px.ca()])
            .args(["--resolve", &format!("dbui.localhost:{}:127.0.0.1", px.https)])
            .arg(format!("https://dbui.localhost:{}/headers", px.https))
            .stdin(Stdio::null())
            .output()
            .expect("curl runs")
    };
    wait_for(5.0, "the alias to be served", || {
        text(&get()).to_lowercase().contains("x-forwarded-proto")
    });
    assert!(
        text(&get()).contains(&format!("[\"X-Forwarded-Host\", \"dbui.localhost:{}\"]", px.https)),
        "{}",
        text(&get())
    );
    // listed by alias list, daemon status, doctor, proxy_routes and the 503 page
    let (l, _) = env.json(&["alias", "list"]);
    assert_eq!(l["aliases"][0]["alias"], "dbui", "{l}");
    let (s, _) = env.json(&["daemon", "status"]);
    assert_eq!(s["aliases"][0]["task"], "dbui", "{s}");
    let (d, _) = env.json(&["doctor"]);
    assert!(
        d["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["check"] == "alias dbui" && c["status"] == "ok")),
        "{d}"
    );
    let page = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &px.ca()])
        .args(["--resolve", &format!("nothing.localhost:{}:127.0.0.1", px.https)])
        .arg(format!("https://nothing.localhost:{}/", px.https))
        .output()
        .expect("curl runs");
    assert!(
        text(&page).contains("dbui.localhost"),
        "the 503 page lists it: {}",
        text(&page)
    );
    // bad input: a taken name, another target, not loopback, the name of a project
    for (args, says) in [
        (vec!["alias", "add", "dbui", "1234"], "already leads to"),
        (vec!["alias", "add", "x", "10.0.0.1:80"], "not on loopback"),
        (vec!["alias", "add", "Bad.Name", "80"], "not a DNS label"),
        (vec!["alias", "add", "px-alias", "80"], "registered project"),
        (vec!["alias", "remove", "ghost"], "no alias"),
    ] {
        let (v, code) = env.json(&args);
        assert_eq!((code, &v["code"]), (2, &json!("E104")), "{args:?}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| e.contains(says)), "{args:?}: {v}");
    }
    let (v, code) = env.json(&["alias", "add", "dbui", &port.to_string()]);
    assert_eq!((code, &v["action"]), (0, &json!("unchanged")), "{v}");
    // removed: gone from the proxy at once
    let (v, code) = env.json(&["alias", "remove", "dbui"]);
    assert_eq!((code, &v["action"]), (0, &json!("removed")), "{v}");
    wait_for(5.0, "the alias to be gone", || {
        text(&get()).contains("503") || text(&get()).contains("No task")
    });
}
