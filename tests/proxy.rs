//! The daemon's HTTPS proxy, by curl: a host task's URL served with our CA, every header
//! kept, forwarded headers on every request, bodies streamed both ways, and errors a
//! person can act on (503, 502, 308, 431), against a real daemon and real task processes.

use crate::harness::*;
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
    if !have_tmux() || !require("curl", &["curl", "--version"]) {
        return None;
    }
    let env = Env::new(name);
    env.config(&format!(
        "name = \"{name}\"\n[tasks.web]\ncommand = \"exec python3 {} $PORT\"\nhost = \"web\"\n{extra_tasks}",
        upstream_script()
    ));
    prepare(&env);
    let (https, http) = (free_port(), free_port());
    let global = format!(
        "api_port = {}\nproxy_https_port = {https}\nproxy_http_port = {http}\n",
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
    assert!(
        out.starts_with("HTTP/1.1 502") && out.contains("task 'api'") && out.contains("taskmux logs api"),
        "{out}"
    );
    // a stopped task: 502 naming it, its state and its logs
    let (v, code) = px.env.json(&["stop", "web"]);
    assert_eq!(code, 0, "{v}");
    let out = text(&px.curl("web", "/hello", &["-i"]));
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(
        out.contains("task 'web'") && out.contains("stopped") && out.contains("taskmux logs web"),
        "{out}"
    );
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
    if !have_tmux() {
        return;
    }
    let env = Env::new("pxp");
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
    if !have_tmux() || !require("dig", &["dig", "-v"]) {
        return;
    }
    let env = Env::new("pxd");
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
