//! The test harness: a scratch project, its own TASKMUX_HOME and tmux socket, and a guard
//! whose Drop kills the tmux server and every process it started, even on panic.
//!
//! Every test keeps these rules; the suite runs on 2 cores with another process keeping one
//! of them busy, and has to pass there every time:
//!
//! - **Its own world.** An [`Env`]: scratch directory, `TASKMUX_HOME`, tmux socket (`-L`),
//!   ports from [`free_port`] or a server's own `bind(0)`. Never the default tmux server,
//!   `~/.taskmux` or the machine's `/etc`. No network beyond loopback: the tools and
//!   packages a test uses are the ones `.ci/run` installs before the suite runs, and a
//!   missing one is [`require`]d.
//! - **Only this world's processes.** Another run of the suite may be on the machine, with
//!   the same project names and task markers: look for processes through
//!   [`Env::our_processes`] or [`task_procs`] (this world's tmux server), never by a marker
//!   or a name alone.
//! - **Wait for a condition, not for a while.** [`wait_for`] polls under a timeout. A sleep
//!   is only for a quiet window in which something must *not* happen.
//! - **Measure a duration from the instant it starts.** A timer that starts when the server
//!   has answered is measured from before the question was sent (a lower bound holds) and
//!   to when the test saw the end (an upper bound with room for a busy core).
//! - **Retry EINTR on every blocking socket call with a timeout.** The tests are threads
//!   of one process, and many of them spawn children. glibc's `posix_spawn` blocks every
//!   signal in the spawning thread until the child has exec'd; a child of that thread that
//!   exits then leaves a SIGCHLD pending that is not discarded, and the kernel wakes
//!   another thread for it. With no handler anywhere, a `read`/`recv`/`accept` on a socket
//!   with a timeout (`SO_RCVTIMEO`) then fails with `EINTR` (Linux does not restart those),
//!   often a millisecond after it began. `read_exact`, `read_to_end`, `read_line` and
//!   `write_all` retry by themselves; `read`, `recv` and `recv_from` do not: call them
//!   through [`retry_eintr`].
//! - **Every loop is bounded** in count and in time, and no test takes more than 30 s.
//!   The whole `cargo test` (warm build) stays under 5 minutes on 2 cores.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The taskmux binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskmux")
}

/// Whether `tool` works: `probe` (a program and its arguments, e.g. `["tmux", "-V"]`) runs and
/// exits 0. When it does not, a test that needs the tool skips, printing
/// `skipping: TOOL is not installed` and getting false, except under CI (`CI` is `true` or
/// `1`), where it fails: `.ci/run` installs every tool the suite uses, so a missing one there
/// would otherwise turn the suite green having tested nothing.
pub fn require(tool: &str, probe: &[&str]) -> bool {
    let (program, args) = probe.split_first().expect("a probe names a program");
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").unwrap_or_default();
        if ci.eq_ignore_ascii_case("true") || ci == "1" {
            panic!("CI={ci} and {tool} is not installed: .ci/run must install it");
        }
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// The Python that has the `mcp` SDK and `websockets`: `TASKMUX_TEST_PYTHON`, else the venv
/// `.ci/run` makes (`target/pyvenv`), else `python3`.
pub fn python() -> String {
    if let Some(p) = std::env::var_os("TASKMUX_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return p.to_string_lossy().into_owned();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

/// Whether tmux is installed, [`require`]d: a printed skip off CI, a failure under it.
pub fn require_tmux() -> bool {
    require("tmux", &["tmux", "-V"])
}

/// One test's world: scratch dir, project dir, state dir and tmux socket.
pub struct Env {
    pub root: PathBuf,
    pub project: PathBuf,
    pub home: PathBuf,
    pub socket: String,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("tmx-{}-{n}-{name}", std::process::id());
        let root = std::env::temp_dir().join(&tag);
        let _ = std::fs::remove_dir_all(&root);
        let project = root.join("proj");
        let home = root.join("home");
        std::fs::create_dir_all(&project).expect("scratch dir is writable");
        std::fs::create_dir_all(&home).expect("scratch dir is writable");
        // private, as taskmux makes a state directory (doctor warns about an open one)
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("scratch dir is ours");
        Env {
            root,
            project,
            home,
            socket: tag,
        }
    }

    /// A world for a test that needs tmux: None (the test returns) when tmux is missing,
    /// after [`require_tmux`]'s skip, or its failure under CI.
    pub fn with_tmux(name: &str) -> Option<Env> {
        require_tmux().then(|| Env::new(name))
    }

    /// Writes `taskmux.toml` in the project directory.
    pub fn config(&self, text: &str) -> &Self {
        std::fs::write(self.project.join("taskmux.toml"), text).expect("write config");
        self
    }

    /// Writes a file relative to the project directory.
    pub fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.project.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// A taskmux command with this world's socket, state dir and project dir.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(bin(), args)
    }

    /// The same for another of the suite's binaries (`taskmux-run`).
    pub fn command_of(&self, program: &str, args: &[&str]) -> Command {
        let mut c = self.bare(program);
        c.arg("-L").arg(&self.socket).args(args);
        c.env("NO_COLOR", "1").stdin(Stdio::null());
        c
    }

    /// `program` in the project directory with this world's state directory and none of the
    /// caller's tmux: for a client or a wrapper (`script`, `sh`) that chooses its own
    /// arguments, `-L` among them or not.
    pub fn bare(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.project)
            .env("TASKMUX_HOME", &self.home)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .env_remove("TASKMUX_TMUX_SOCKET");
        c
    }

    /// Runs taskmux and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("taskmux runs")
    }

    /// Runs taskmux with `--json` and parses stdout; returns (json, exit code).
    pub fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        let text = String::from_utf8_lossy(&o.stdout);
        let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): stdout={text:?} stderr={:?}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (v, o.status.code().unwrap_or(-1))
    }

    /// The same, run in `dir` instead of the project directory.
    pub fn json_in(&self, dir: &Path, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.command(&a).current_dir(dir).output().expect("taskmux runs");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
        (v, o.status.code().unwrap_or(-1))
    }

    /// Writes a `taskmux.toml` for the project `name` with `tasks`, each (name, command)
    /// and nothing else; for more keys, write it with [`Env::config`].
    pub fn tasks(&self, name: &str, tasks: &[(&str, &str)]) -> &Self {
        let mut text = format!("name = {name:?}\n");
        for (task, command) in tasks {
            text.push_str(&format!("[tasks.{task}]\ncommand = {command:?}\n"));
        }
        self.config(&text)
    }

    /// Runs `start` with `--json`, which must succeed (exit 0, `ok`); its answer. With
    /// [`Env::config`] or [`Env::tasks`]: `env.config(TEXT).started()`.
    pub fn started(&self) -> Value {
        start_ok(self, &[])
    }

    /// `status --json`, which must exit 0.
    pub fn status(&self) -> Value {
        let (v, code) = self.json(&["status"]);
        assert_eq!(code, 0, "status: {v}");
        v
    }

    /// Runs tmux on this world's socket; returns stdout ("" on failure).
    pub fn tmux(&self, args: &[&str]) -> String {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The status JSON of one task.
    pub fn task_status(&self, task: &str) -> Value {
        let (v, _) = self.json(&["status"]);
        v["tasks"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["name"] == task).cloned())
            .unwrap_or(Value::Null)
    }

    /// The socket path of this world's tmux server.
    pub fn socket_path(&self) -> String {
        format!("/tmp/tmux-{}/{}", rustix_uid(), self.socket)
    }

    /// Pids of every live process whose environment carries this world's tmux socket.
    pub fn our_processes(&self) -> Vec<i32> {
        let needle = format!("TMUX={},", self.socket_path());
        processes_with_env(&needle)
    }
}

fn rustix_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Live (non-zombie) processes whose environment has an entry starting with `needle`.
pub fn processes_with_env(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if !alive(pid) {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|x| x.starts_with(needle.as_bytes())) {
            out.push(pid);
        }
    }
    out
}

/// Whether a pid is a live process (not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let st = s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string));
        !matches!(st.as_deref(), Some("Z") | Some("X") | None)
    })
}

impl Env {
    /// `taskmux daemon start` in this world, with `health_check_interval` set to `heal`
    /// seconds and the WebSocket API on a free port (never the user's 8765); returns the
    /// daemon's pid. Drop kills it.
    pub fn daemon_start(&self, heal: f64) -> i32 {
        self.daemon_start_with(heal, &format!("api_port = {}\n", free_port()))
    }

    /// The same with more lines of global config (`extra`, which must set `api_port`). The
    /// proxy is off unless `extra` sets a `proxy_` key (it would bind 443 and 80).
    pub fn daemon_start_with(&self, heal: f64, extra: &str) -> i32 {
        let proxy = if extra.contains("proxy_") {
            ""
        } else {
            "proxy_enabled = false\n"
        };
        std::fs::write(
            self.home.join("config.toml"),
            format!("health_check_interval = {heal}\n{proxy}{extra}"),
        )
        .expect("write global config");
        let (v, code) = self.json(&["daemon", "start"]);
        assert_eq!(code, 0, "daemon start: {v}");
        v["pid"].as_i64().expect("daemon start gives its pid") as i32
    }

    /// The daemon's pid from its pid file, when one is there and alive.
    pub fn daemon_pid(&self) -> Option<i32> {
        read(&self.home.join("daemon.pid"))
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|p| alive(*p))
    }

    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        read(&self.home.join("events.jsonl"))
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The events named `name` (of `task` when given).
    pub fn events_named(&self, name: &str, task: Option<&str>) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == name && task.is_none_or(|t| e["task"] == t))
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // the daemon first, so it restarts nothing while the rest goes
        if let Some(pid) = self.daemon_pid() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).expect("pid > 0"),
                rustix::process::Signal::KILL,
            );
            for _ in 0..100 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // every process that carries our server in its environment, then the server itself
        for _ in 0..3 {
            let pids = self.our_processes();
            for p in &pids {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(*p).expect("pid > 0"),
                    rustix::process::Signal::KILL,
                );
            }
            if pids.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(self.socket_path());
        // a log writer draining a closed pane may still write a file while the tree goes,
        // failing the removal half way (ENOTEMPTY): try again for a moment
        for _ in 0..25 {
            if std::fs::remove_dir_all(&self.root).is_ok() || !self.root.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A port of 127.0.0.1, free for TCP and UDP a moment ago, that no other call in this run
/// hands out. It is taken from 20000-31999, below the kernel's ephemeral range
/// (32768-60999), from which taskmux assigns `$PORT`s and every `bind(0)` draws: a port
/// found by binding 0 and letting go could be handed to a task or another test before the
/// caller binds it. Each run starts at its own offset, so two suites side by side rarely
/// meet either.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if tcp.is_ok() && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}-{}", LOW + SPAN - 1)
}

/// Polls `cond` every 20 ms until it holds or `secs` pass; panics naming `what`.
pub fn wait_for(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {secs}s waiting for {what}");
}

/// Runs one blocking socket call (`read`, `recv`, `recv_from`, `accept` on a socket with a
/// timeout) until it ends with something other than `EINTR` (see the module's rules), or
/// until `deadline`, then `TimedOut`. `call` gets the time left, to set as the socket's
/// timeout, so the retries together wait no longer than one call would.
pub fn retry_eintr<T>(deadline: Instant, mut call: impl FnMut(Duration) -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        // a socket timeout of zero would be refused: at least a millisecond
        match call(left.max(Duration::from_millis(1))) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Reads a file, or "" when it does not exist.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// stdout and stderr of an output, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status={:?}\nstdout={}\nstderr={}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The strings of a JSON array.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// `taskmux start ARGS` with `--json`, which must succeed; its answer.
pub fn start_ok(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["start"];
    a.extend_from_slice(args);
    let (v, code) = env.json(&a);
    assert_eq!(code, 0, "start {args:?}: {v}");
    assert_eq!(v["ok"], true, "start {args:?}: {v}");
    v
}

/// One task's entry in a `status`/`health` answer; panics when it has none.
pub fn entry(v: &Value, task: &str) -> Value {
    v["tasks"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == task).cloned())
        .unwrap_or_else(|| panic!("no task {task} in {v}"))
}

/// Window names of every window on the Env's server.
pub fn windows(env: &Env) -> Vec<String> {
    env.tmux(&["list-windows", "-a", "-F", "#{window_name}"])
        .lines()
        .map(String::from)
        .collect()
}

/// Live processes of one task: on this Env's server and carrying the task marker.
pub fn task_procs(env: &Env, session: &str, task: &str) -> Vec<i32> {
    let ours: std::collections::HashSet<i32> = env.our_processes().into_iter().collect();
    processes_with_env(&format!("TASKMUX_TASK={session}/{task}"))
        .into_iter()
        .filter(|p| ours.contains(p))
        .collect()
}

/// A file of an npm package that `.ci/run` installs into `target/node` (`rel` under
/// `node_modules/`, e.g. `vite/bin/vite.js`), when it is there and `node` runs; else None,
/// after [`require`]'s skip (or its failure under CI).
pub fn node_module(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/node/node_modules")
        .join(rel);
    let what = format!("node and target/node/node_modules/{rel} (.ci/run installs them)");
    let found = if path.exists() {
        path.display().to_string()
    } else {
        String::new()
    };
    let probe = [
        "node",
        "-e",
        "require('fs').accessSync(process.argv[1])",
        found.as_str(),
    ];
    require(&what, &probe).then_some(path)
}
