//! Many machines over real OpenSSH on loopback: `-H`, `fleet`, `taskmux-run -H`, `mcp
//! --host`, `logs -f` and `events -f` streamed, `attach` through `ssh -t`. Each simulated
//! machine is an sshd of its own on 127.0.0.1 with its own host key, whose sessions get
//! their own TASKMUX_HOME, tmux socket, HOME and PATH (`SetEnv`), so machines share no
//! state; the client is a scratch ssh config, known_hosts and key, never ~/.ssh. A port
//! with nothing listening is the host that is down. Guards kill each sshd with every
//! process under it, and the client's shared connections, even when a test panics.

use crate::harness::{Env, alive, bin, free_port, read, require, show, wait_for};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Whether the OpenSSH server and client are here (see [`require`]).
fn have_ssh() -> bool {
    crate::harness::require_tmux()
        && require("sshd", &["/usr/sbin/sshd", "-V"])
        && require("ssh", &["ssh", "-V"])
        && require("ssh-keygen", &["sh", "-c", "command -v ssh-keygen"])
}

/// A new ed25519 key pair at `path` (and `path.pub`); the public key's line.
fn keygen(path: &Path) -> String {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "taskmux-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen runs");
    assert!(o.status.success(), "ssh-keygen: {}", show(&o));
    read(&path.with_extension("pub")).trim().to_string()
}

/// The pids of every process below `pid` (children, their children…), from /proc.
fn descendants(pid: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let stat = read(&PathBuf::from(format!("/proc/{p}/stat")));
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(pp) = after.split_whitespace().nth(1).and_then(|x| x.parse::<i32>().ok()) {
            parent_of.push((p, pp));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(*c);
            frontier.push(*c);
        }
    }
    out
}

fn kill(pid: i32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

/// Processes whose command line holds `needle` (a scratch path), but not this test.
fn processes_with_arg(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        if p != me && alive(p) && String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(p);
        }
    }
    out
}

/// One simulated machine: an sshd on its own port, whose sessions live in `env`'s world
/// (TASKMUX_HOME, tmux socket, a HOME of its own). Drop kills the sshd and everything
/// under it, then `env` kills its tmux server, daemon and tasks.
struct Machine {
    env: Env,
    port: u16,
    sshd: Child,
    host_key: String,
    dir: PathBuf,
}

impl Machine {
    /// A machine that lets in the holder of `authorized` (a public key line).
    fn start(name: &str, authorized: &str) -> Machine {
        let env = Env::new(name);
        let dir = env.root.join("sshd");
        let home = env.root.join("userhome");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege separation directory");
        let host_key = keygen(&dir.join("host_key"));
        std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).expect("write");
        let port = free_port();
        let bin_dir = Path::new(bin()).parent().expect("the binary's directory");
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPidFile none\nPrintMotd no\nPrintLastLog no\nLogLevel VERBOSE\n\
             MaxSessions 50\nMaxStartups 50\n\
             SetEnv HOME={home} TASKMUX_HOME={th} TASKMUX_TMUX_SOCKET={sock} PATH={bin}:/usr/bin:/bin NO_COLOR=1\n",
            d = dir.display(),
            home = home.display(),
            th = env.home.display(),
            sock = env.socket,
            bin = bin_dir.display(),
        );
        std::fs::write(dir.join("sshd_config"), config).expect("write");
        let sshd = Command::new("/usr/sbin/sshd")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .arg("-D")
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd runs");
        let m = Machine {
            env,
            port,
            sshd,
            host_key,
            dir,
        };
        wait_for(10.0, "sshd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        m
    }

    /// sshd's log, for failure messages.
    fn log(&self) -> String {
        read(&self.dir.join("sshd.log"))
    }

    /// The pids of `taskmux __request` processes running there.
    fn request_processes(&self) -> Vec<i32> {
        crate::harness::processes_with_env(&format!("TASKMUX_HOME={}", self.env.home.display()))
            .into_iter()
            .filter(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&cmd).contains("__request")
            })
            .collect()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let pid = self.sshd.id() as i32;
        for _ in 0..5 {
            let below = descendants(pid);
            if below.is_empty() {
                break;
            }
            below.iter().for_each(|p| kill(*p));
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

/// The shell a user types in: its own TASKMUX_HOME (with `[hosts]`), an ssh config, a
/// known_hosts and a key of its own, given to taskmux as TASKMUX_SSH_COMMAND. Drop ends its
/// shared connections (`ssh -O exit`) and anything left that names its directory.
struct Client {
    root: PathBuf,
    home: PathBuf,
    key: PathBuf,
    public: String,
    blocks: std::cell::RefCell<Vec<String>>,
    hosts: std::cell::RefCell<Vec<String>>,
}

impl Client {
    fn new(name: &str) -> Client {
        let root = std::env::temp_dir().join(format!("tmx-{}-client-{name}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&root);
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::create_dir_all(root.join("userhome")).expect("mkdir");
        let key = root.join("id");
        let public = keygen(&key);
        let c = Client {
            root,
            home,
            key,
            public,
            blocks: Default::default(),
            hosts: Default::default(),
        };
        c.write();
        c
    }

    fn ssh_config(&self) -> PathBuf {
        self.root.join("ssh_config")
    }

    fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }

    /// Rewrites the ssh config, known hosts and `[hosts]`.
    fn write(&self) {
        let mut cfg = self.blocks.borrow().join("");
        cfg.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            self.key.display(),
            self.known_hosts().display()
        ));
        std::fs::write(self.ssh_config(), cfg).expect("write");
        let mut hosts = "[hosts]\n".to_string();
        for h in self.hosts.borrow().iter() {
            hosts.push_str(h);
        }
        std::fs::write(self.home.join("config.toml"), hosts).expect("write");
    }

    /// Host `name` at `port`, whose host key is `host_key`; in `[hosts]` as `entry` (the
    /// part after `name = `).
    fn add_at(&self, name: &str, port: u16, host_key: &str, entry: &str) {
        self.blocks.borrow_mut().push(format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  HostKeyAlias {name}\n"
        ));
        if !host_key.is_empty() {
            let mut kh = read(&self.known_hosts());
            kh.push_str(&format!("{name} {host_key}\n"));
            std::fs::write(self.known_hosts(), kh).expect("write");
        }
        self.hosts.borrow_mut().push(format!("{name} = {entry}\n"));
        self.write();
    }

    /// Machine `m` as host `name`.
    fn add(&self, name: &str, m: &Machine) {
        self.add_at(name, m.port, &m.host_key, &format!("\"{name}\""));
    }

    /// `taskmux` (or another binary of the suite) run from this shell: no `-L`, no project
    /// here.
    fn command_of(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&self.root)
            .env("TASKMUX_HOME", &self.home)
            .env("HOME", self.root.join("userhome"))
            .env("TASKMUX_SSH_COMMAND", format!("ssh -F {}", self.ssh_config().display()))
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .env_remove("TASKMUX_TMUX_SOCKET")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_of(bin(), args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("taskmux runs")
    }

    /// `--json` output parsed, and the exit code.
    fn json(&self, args: &[&str]) -> (Value, i32, Output) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
        (v, o.status.code().unwrap_or(-1), o)
    }

    /// The control sockets of the shared connections.
    fn sockets(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.home.join("ssh"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for s in self.sockets() {
            let _ = Command::new("ssh")
                .args(["-F", "/dev/null", "-o"])
                .arg(format!("ControlPath={}", s.display()))
                .args(["-O", "exit", "x"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let needle = self.root.display().to_string();
        for _ in 0..3 {
            let left = processes_with_arg(&needle);
            if left.is_empty() {
                break;
            }
            left.iter().for_each(|p| kill(*p));
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A project on machine `m`: tasks that run until stopped, one printing a line a second.
fn project_on(m: &Machine, name: &str) -> PathBuf {
    m.env.config(&format!(
        "name = \"{name}\"\n\n[tasks.web]\ncommand = \"sh -c 'while true; do echo tick; sleep 0.3; done'\"\n\n\
         [tasks.db]\ncommand = \"sleep 1000\"\n"
    ));
    m.env.project.join("taskmux.toml")
}

/// The tasks of a `status --json`, as (name, state, command, pid).
fn tasks_of(v: &Value) -> Vec<(String, String, String, Value)> {
    v["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {v}"))
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
                t["command"].as_str().unwrap_or_default().to_string(),
                t["pid"].clone(),
            )
        })
        .collect()
}

#[test]
fn start_there_registers_there_and_status_is_the_same_as_there() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("start");
    let a = Machine::start("a", &client.public);
    client.add("a", &a);
    let cfg = project_on(&a, "alpha");
    let cfg = cfg.display().to_string();

    let o = client.run(&["-H", "a", "-c", &cfg, "start", "--wait"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", show(&o), a.log());
    // on a's tmux server, registered in a's registry; nothing of it here
    assert!(
        a.env
            .tmux(&["list-sessions", "-F", "#{session_name}"])
            .contains("alpha")
    );
    assert!(read(&a.env.home.join("registry.json")).contains("\"alpha\""));
    assert!(!client.home.join("registry.json").exists(), "nothing registered here");

    // the same tasks, states, commands and pids as a's own status --json
    let (there, code, o) = client.json(&["-H", "a", "-p", "alpha", "status"]);
    assert_eq!(code, 0, "{}", show(&o));
    let (own, own_code) = a.env.json(&["-p", "alpha", "status"]);
    assert_eq!(own_code, 0);
    assert_eq!(tasks_of(&there), tasks_of(&own));
    assert_eq!(there["session"], "alpha");
    // for people: the same renderer
    let o = client.run(&["-H", "a", "-p", "alpha", "status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("session alpha  2/2 running"), "{text}");
    assert!(text.contains("TASK") && text.contains("sleep 1000"), "{text}");

    // an error there is the error, with its code and exit status, as there
    let (e, code, _) = client.json(&["-H", "a", "-p", "alpha", "inspect", "ghost"]);
    let (own_e, own_code) = a.env.json(&["-p", "alpha", "inspect", "ghost"]);
    assert_eq!(
        (code, &e["code"], &e["error"]),
        (own_code, &own_e["code"], &own_e["error"])
    );
    assert_eq!((code, e["code"].as_str()), (1, Some("E200")));

    // the directory here means nothing there: a project must be named
    let o = client.run(&["-H", "a", "status"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("E505") && err.contains("-p NAME"), "{err}");

    // a project name with spaces, quotes, ';' and '$' arrives as written, and runs nothing
    let marker = a.env.root.join("pwned");
    let evil = format!("we ird'\";$(touch {})", marker.display());
    let (e, code, _) = client.json(&["-H", "a", "-p", &evil, "status"]);
    assert_eq!((code, e["code"].as_str()), (1, Some("E303")), "{e}");
    assert!(e["error"].as_str().is_some_and(|m| m.contains(&evil)), "{e}");
    assert!(!marker.exists(), "nothing ran on a");

    // -H stops where a command acts on this machine
    let o = client.run(&["-H", "a", "daemon", "start"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(!client.home.join("daemon.pid").exists());
    let o = client.run(&["-H", "a", "-p", "alpha", "start", "-d"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));

    // stop there, and the project is stopped there
    let o = client.run(&["-H", "a", "-p", "alpha", "stop"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let (own, _) = a.env.json(&["-p", "alpha", "status"]);
    assert_eq!(own["active_tasks"], 0, "{own}");
}

#[test]
fn fleet_lists_every_host_and_names_the_one_that_is_down() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("fleet");
    let a = Machine::start("a", &client.public);
    let b = Machine::start("b", &client.public);
    client.add("a", &a);
    client.add("b", &b);
    let down = free_port();
    client.add_at("c", down, "", "\"c\"");
    let cfg = project_on(&a, "alpha").display().to_string();
    let o = client.run(&["-H", "a", "-c", &cfg, "start"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let pid = a.env.daemon_start(60.0);

    let (v, code, o) = client.json(&["fleet"]);
    assert_eq!(code, 1, "a host is down: {}", show(&o));
    assert_eq!(v["ok"], false);
    let hosts = v["hosts"].as_array().expect("hosts");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["host"].as_str()).collect();
    assert_eq!(hosts[0]["local"], true, "this machine first: {v}");
    assert_eq!(&names[1..], ["a", "b", "c"]);
    let (ha, hb, hc) = (&hosts[1], &hosts[2], &hosts[3]);
    assert_eq!(ha["reachable"], true, "{ha}");
    assert_eq!(ha["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ha["daemon"], json!({"running": true, "pid": pid}));
    assert_eq!(
        ha["projects"],
        json!([{"name": "alpha", "running": 2, "total": 2, "unhealthy": 0, "failed": 0}])
    );
    assert_eq!((&hb["reachable"], &hb["projects"]), (&json!(true), &json!([])), "{hb}");
    assert_eq!(hb["daemon"]["running"], false);
    assert_eq!((&hc["reachable"], &hc["code"]), (&json!(false), &json!("E310")), "{hc}");
    let err = hc["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("cannot reach c") && err.contains("Connection refused"),
        "{err}"
    );

    // for people: a row each, and why c is out
    let o = client.run(&["fleet"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("(here)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("a ") && l.contains("alpha") && l.contains("2/2")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("c ") && l.contains("unreachable")),
        "{text}"
    );
    assert!(
        text.contains("c: error[E310]: cannot reach c: ssh: connect to host"),
        "{text}"
    );

    // every host reached: a task that failed on one still fails the fleet, and says where
    b.env
        .config("name = \"beta\"\n[tasks.once]\ncommand = \"exit 2\"\nrestart_policy = \"no\"\n");
    let cfg_b = b.env.project.join("taskmux.toml").display().to_string();
    let o = client.run(&["-H", "b", "-c", &cfg_b, "start"]);
    assert!(o.status.code().is_some(), "{}", show(&o));
    std::fs::write(client.home.join("config.toml"), "[hosts]\na = \"a\"\nb = \"b\"\n").expect("c is gone");
    let mut last = Value::Null;
    wait_for(15.0, "beta's task to have failed", || {
        let (v, code, _) = client.json(&["fleet"]);
        last = v;
        code == 1 && last["hosts"][2]["projects"][0]["failed"] == 1
    });
    assert_eq!(last["ok"], false);
    assert_eq!(
        last["hosts"][2]["projects"],
        json!([{"name": "beta", "running": 0, "total": 1, "unhealthy": 0, "failed": 1}]),
        "{last}"
    );
    assert!(
        last["hosts"]
            .as_array()
            .is_some_and(|h| h.iter().all(|r| r["reachable"] == true))
    );
}

#[test]
fn a_job_there_exits_with_its_code_and_its_arguments_arrive_as_written() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("jobs");
    let b = Machine::start("b", &client.public);
    client.add("b", &b);
    let run = env!("CARGO_BIN_EXE_taskmux-run");

    let o = client
        .command_of(run, &["-H", "b", "--wait", "--", "sh", "-c", "exit 3"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}\n{}", show(&o), b.log());
    let job: Value = serde_json::from_slice(&o.stdout).expect("a JobRef");
    assert_eq!((&job["session"], &job["exit_code"]), (&json!("jobs"), &json!(3)));
    // in b's tmux server, not here
    assert!(b.env.tmux(&["list-sessions", "-F", "#{session_name}"]).contains("jobs"));

    // spaces, quotes, ';', '$' and backquotes reach the job as one argument, unexpanded
    let word = "a \"b\" 'c' ;$HOME `id` $(id)";
    let out = b.env.root.join("out");
    let cwd = b.env.root.display().to_string();
    let o = client
        .command_of(
            run,
            &[
                "-H",
                "b",
                "--wait",
                "--cwd",
                &cwd,
                "--",
                "sh",
                "-c",
                "printf %s \"$1\" > out",
                "x",
                word,
            ],
        )
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(read(&out), word);

    // a config there whose path has them too
    let dir = b.env.root.join("we ird;$x 'q'");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("taskmux.toml"),
        "name = \"odd\"\n[tasks.t]\ncommand = \"sleep 1000\"\n",
    )
    .expect("write");
    let path = dir.join("taskmux.toml").display().to_string();
    let (v, code, o) = client.json(&["-H", "b", "-c", &path, "start"]);
    assert_eq!(code, 0, "{}", show(&o));
    assert_eq!(v["session"], "odd");
    let (v, _, _) = client.json(&["-H", "b", "-c", &path, "status"]);
    assert_eq!(v["active_tasks"], 1, "{v}");
}

/// A `taskmux` whose stdout lines arrive on a channel, so every read has a timeout.
struct Reader {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Reader {
    fn spawn(mut c: Command) -> Reader {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Reader { child, lines }
    }

    /// The next line that holds `needle`, within 15 s.
    fn line_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?}");
    }

    /// Its exit status, within 15 s.
    fn wait(&mut self) -> std::process::ExitStatus {
        let mut status = None;
        wait_for(15.0, "taskmux to exit", || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.expect("exited")
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logs_and_events_stream_from_there_and_end_when_either_side_goes() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("stream");
    let a = Machine::start("a", &client.public);
    client.add("a", &a);
    let cfg = project_on(&a, "alpha").display().to_string();
    let o = client.run(&["-H", "a", "-c", &cfg, "start"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // this side goes: the process there ends too
    let mut r = Reader::spawn(client.command(&["--json", "-H", "a", "-p", "alpha", "logs", "-f", "web"]));
    let first: Value = serde_json::from_str(&r.line_with("tick")).expect("a JSON line");
    assert_eq!(first["task"], "web");
    assert!(first["line"].as_str().is_some_and(|l| l.ends_with(" tick")), "{first}");
    r.line_with("tick");
    assert!(!a.request_processes().is_empty(), "a __request serves the stream on a");
    let _ = r.child.kill();
    let _ = r.child.wait();
    wait_for(10.0, "the stream's process on a to end", || {
        a.request_processes().is_empty()
    });

    // events, for people, the same way
    let r = Reader::spawn(client.command(&["-H", "a", "-p", "alpha", "events", "-f"]));
    let line = r.line_with("task_started");
    assert!(line.contains("web") || line.contains("db"), "{line}");
    drop(r);
    wait_for(10.0, "the events stream on a to end", || {
        a.request_processes().is_empty()
    });

    // that side goes: the stream ends here, naming the host
    let mut r = Reader::spawn(client.command(&["-H", "a", "-p", "alpha", "logs", "-f"]));
    r.line_with("tick");
    let there = a.request_processes();
    assert!(!there.is_empty());
    there.iter().for_each(|p| kill(*p));
    let status = r.wait();
    assert_eq!(status.code(), Some(1));
    let err = r.stderr();
    assert!(err.contains("E311") && err.contains("taskmux on a"), "{err}");
}

/// An executable script at `path`.
fn script(path: &Path, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

/// A port that accepts connections and never says a word.
struct Silent {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = vec![];
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn each_bad_host_is_named_with_its_cause_and_the_others_stay_intact() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("bad");
    let a = Machine::start("a", &client.public);
    // a key it does not know, and a host key other than the one known here
    let stranger = Machine::start("k", &keygen(&client.root.join("stranger")));
    let other = keygen(&client.root.join("other_host_key"));
    let changed = Machine::start("h", &client.public);
    client.add("a", &a);
    client.add("k", &stranger);
    client.add_at("h", changed.port, &other, "\"h\"");
    let root = a.env.root.clone();
    let on_a = |name: &str, program: &str| {
        client.add_at(
            name,
            a.port,
            &a.host_key,
            &format!("{{ dest = \"a\", taskmux = \"{program}\" }}"),
        );
    };
    client.add_at("c", free_port(), "", "\"c\"");
    on_a("none", "/nonexistent/bin/taskmux");
    on_a(
        "garbage",
        &script(&root.join("garbage"), "read line; echo 'this is not JSON'"),
    );
    on_a(
        "huge",
        &script(
            &root.join("huge"),
            "read line; head -c 70000000 /dev/zero | tr '\\0' x; echo",
        ),
    );
    let older = "while IFS= read -r line; do case \"$line\" in \
                 *'\"v\"'*) echo '{\"ok\": false, \"error\": \"invalid_json\", \"code\": \"E502\", \"message\": \"unknown request field '\"'\"'v'\"'\"'\"}' ;; \
                 *) echo '{\"command\": \"ping\", \"ok\": true, \"v\": 1, \"version\": \"0.0.9\"}' ;; esac; done";
    on_a("older", &script(&root.join("older"), older));
    let newer = "while IFS= read -r line; do case \"$line\" in \
                 *'\"v\"'*) echo '{\"ok\": false, \"error\": \"version_mismatch\", \"code\": \"E506\", \"message\": \"the request speaks protocol version 2; this taskmux speaks 3\"}' ;; \
                 *) echo '{\"command\": \"ping\", \"ok\": true, \"v\": 3, \"versions\": [3], \"version\": \"9.0.0\"}' ;; esac; done";
    on_a("newer", &script(&root.join("newer"), newer));

    // a generous timeout: the huge reply takes a while on a busy machine
    let (v, code, o) = client.json(&["fleet", "--timeout", "25"]);
    assert_eq!(code, 1, "{}", show(&o));
    let row = |name: &str| -> Value {
        v["hosts"]
            .as_array()
            .and_then(|h| h.iter().find(|r| r["host"] == name).cloned())
            .unwrap_or_else(|| panic!("no row {name}: {v}"))
    };
    // the good host's row is whole
    assert_eq!(
        (&row("a")["reachable"], &row("a")["projects"]),
        (&json!(true), &json!([]))
    );
    assert!(row("a")["error"].is_null());
    let expect = |name: &str, code: &str, reachable: bool, words: &[&str]| {
        let r = row(name);
        assert_eq!(
            (r["code"].as_str(), &r["reachable"]),
            (Some(code), &json!(reachable)),
            "{r}"
        );
        let e = r["error"].as_str().unwrap_or_default();
        for w in words {
            assert!(e.contains(w), "{name}: {w:?} in {e:?}");
        }
        assert!(r["hint"].is_string(), "{name} has a fix: {r}");
    };
    expect("c", "E310", false, &["cannot reach c", "Connection refused"]);
    expect("k", "E310", false, &["cannot reach k", "Permission denied"]);
    expect("h", "E310", false, &["cannot reach h", "Host key verification failed"]);
    expect(
        "none",
        "E312",
        true,
        &["taskmux not found on none", "set hosts.none.taskmux"],
    );
    expect(
        "garbage",
        "E311",
        true,
        &["taskmux on garbage", "not JSON", "this is not JSON"],
    );
    expect("huge", "E311", true, &["taskmux on huge", "longer than 64 MiB"]);
    expect("older", "E506", true, &["taskmux 0.0.9 on older", "protocol version 1"]);
    assert!(
        row("older")["hint"]
            .as_str()
            .is_some_and(|h| h.contains("upgrade taskmux on older"))
    );
    expect("newer", "E506", true, &["taskmux 9.0.0 on newer", "protocol version 3"]);
    assert!(
        row("newer")["hint"]
            .as_str()
            .is_some_and(|h| h.starts_with("upgrade taskmux here"))
    );

    // one host at a time: the same words, exit 1, on stderr for people
    for (host, words) in [
        ("c", "error[E310]: cannot reach c: ssh: connect to host 127.0.0.1"),
        ("none", "error[E312]: taskmux not found on none"),
        ("older", "error[E506]: taskmux 0.0.9 on older speaks protocol version 1"),
    ] {
        let o = client.run(&["-H", host, "-p", "x", "status"]);
        assert_eq!(o.status.code(), Some(1), "{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(words), "{words:?} in {err}");
        assert!(err.contains("hint:"), "{err}");
    }

    // a host that accepts and never answers: the timeout, and the others' rows intact
    let silent = Silent::start();
    let quiet = Client::new("quiet");
    quiet.add_at("t", silent.port, "", "\"t\"");
    let started = std::time::Instant::now();
    let (v, code, o) = quiet.json(&["fleet", "--timeout", "1"]);
    assert_eq!(code, 1, "{}", show(&o));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the timeout held: {:?}",
        started.elapsed()
    );
    let t = &v["hosts"][1];
    assert_eq!(
        (&t["host"], &t["reachable"], &t["code"]),
        (&json!("t"), &json!(false), &json!("E310")),
        "{v}"
    );
    assert_eq!(v["hosts"][0]["reachable"], true, "{v}");
}

#[test]
fn connections_are_shared_and_only_the_fixed_command_goes_on_the_remote_line() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("share");
    let a = Machine::start("a", &client.public);
    client.add("a", &a);
    // an ssh_command that records its arguments, then is ssh
    let argv = client.root.join("argv");
    let wrapper = script(
        &client.root.join("sshrec"),
        &format!(
            "printf '%s\\n' \"$@\" >> '{}'; printf -- '--\\n' >> '{}'; exec ssh \"$@\"",
            argv.display(),
            argv.display()
        ),
    );
    let recorded = |args: &[&str]| {
        client
            .command(args)
            .env(
                "TASKMUX_SSH_COMMAND",
                format!("{wrapper} -F {}", client.ssh_config().display()),
            )
            .output()
            .expect("runs")
    };
    let o = recorded(&["-H", "a", "daemon", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let args: Vec<String> = read(&argv).lines().map(String::from).collect();
    for o in [
        "BatchMode=yes",
        "ConnectTimeout=10",
        "ControlMaster=auto",
        "ControlPersist=60",
    ] {
        assert!(args.iter().any(|a| a == o), "{o} in {args:?}");
    }
    let n = args.len();
    assert_eq!(&args[n - 4..], ["--", "a", "taskmux __request", "--"], "{args:?}");

    // the shared connection: a socket in $TASKMUX_HOME/ssh (0700), used by the next call
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(client.home.join("ssh"))
        .expect("made")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let sockets = client.sockets();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    let check = Command::new("ssh")
        .args(["-F", "/dev/null", "-o"])
        .arg(format!("ControlPath={}", sockets[0].display()))
        .args(["-O", "check", "a"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    assert!(check.status.success(), "the master runs: {}", show(&check));
    let logins = |log: &str| log.matches("Accepted publickey").count();
    let before = logins(&a.log());
    let o = recorded(&["-H", "a", "daemon", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(logins(&a.log()), before, "no new login: the connection was shared");
    assert_eq!(before, 1, "one login in all: {}", a.log());
}

#[test]
fn mcp_drives_the_machine_its_host_names() {
    if !have_ssh() {
        return;
    }
    let client = Client::new("mcp");
    let a = Machine::start("a", &client.public);
    client.add("a", &a);
    let cfg = project_on(&a, "alpha").display().to_string();
    let o = client.run(&["-H", "a", "-c", &cfg, "start"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let mut r = Reader::spawn(client.command(&["--host", "a", "mcp", "--session", "alpha"]));
    let mut stdin = r.child.stdin.take().expect("piped");
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"run_job","arguments":{"argv":["sh","-c","exit 4"]}}}"#,
    ] {
        writeln!(stdin, "{line}").expect("write");
    }
    stdin.flush().expect("flush");
    let reply = |r: &Reader, id: u64| -> Value {
        let line = r.line_with(&format!("\"id\":{id}"));
        serde_json::from_str(&line).expect("JSON")
    };
    reply(&r, 1);
    let status = reply(&r, 2);
    let s = &status["result"]["structuredContent"];
    assert_eq!(
        (&s["session"], &s["active_tasks"]),
        (&json!("alpha"), &json!(2)),
        "{status}"
    );
    let job = reply(&r, 3);
    let j = &job["result"]["structuredContent"];
    assert_eq!(j["exit_code"], 4, "{job}");
    // the job ran on a
    assert!(
        a.env
            .tmux(&["list-windows", "-a", "-F", "#{window_name}"])
            .contains("job:sh:")
    );
    drop(stdin);
    assert_eq!(r.wait().code(), Some(0));
}

#[test]
fn attach_goes_through_ssh_with_a_terminal() {
    if !have_ssh() || !require("script", &["script", "--version"]) {
        return;
    }
    let client = Client::new("attach");
    let a = Machine::start("a", &client.public);
    client.add("a", &a);
    let cfg = project_on(&a, "alpha").display().to_string();
    let o = client.run(&["-H", "a", "-c", &cfg, "start"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // without a terminal: said here, before ssh
    let o = client.run(&["-H", "a", "-p", "alpha", "attach"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("E503"));

    // in a terminal (script's): a client of a's tmux server, on alpha's db window
    let line = format!("{} -H a -p alpha attach db", bin());
    let mut c = client.command_of("script", &["-qfec", &line, "/dev/null"]);
    c.env("TERM", "xterm").stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().expect("script runs");
    let clients = || a.env.tmux(&["list-clients", "-F", "#{session_name} #{window_name}"]);
    wait_for(15.0, "a tmux client on a", || clients().contains("alpha db"));
    a.env.tmux(&["detach-client", "-s", "alpha"]);
    let mut status = None;
    wait_for(15.0, "attach to end", || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}
