//! The daemon's own faults, each against a real daemon in a scratch TASKMUX_HOME: the
//! descriptors it keeps from its caller, the modes of its files, state files of the wrong
//! shape, events it cannot write, memory after a burst of large requests, clients that
//! hold a connection with half a line, and the registry's first registration time.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;

/// `registered_at` of a project in this world's registry.
fn registered_at(env: &Env, name: &str) -> String {
    let reg: Value = serde_json::from_str(&read(&env.home.join("registry.json"))).expect("registry.json is JSON");
    reg["projects"][name]["registered_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is registered: {reg}"))
        .to_string()
}

fn register(env: &Env, dir: &Path, force: bool) {
    let config = dir.join("taskmux.toml");
    let mut args = vec!["daemon", "register", "-c", config.to_str().expect("utf-8 path")];
    if force {
        args.push("-f");
    }
    let (v, code) = env.json(&args);
    assert_eq!(code, 0, "register: {v}");
}

#[test]
fn registered_at_stays_the_first_across_a_move_and_a_forced_take_over() {
    let env = Env::new("regat");
    let config = "name = \"regat\"\n[tasks.a]\ncommand = \"sleep 300\"\n";
    let first = env.root.join("first");
    std::fs::create_dir_all(&first).expect("mkdir");
    std::fs::write(first.join("taskmux.toml"), config).expect("write config");
    register(&env, &first, false);
    let at = registered_at(&env, "regat");
    // the project moves (a process run later: its stamp, microseconds, would differ): the
    // old config is gone, the new one registers the name again
    let moved = env.root.join("moved");
    std::fs::rename(&first, &moved).expect("move the project");
    register(&env, &moved, false);
    assert_eq!(
        registered_at(&env, "regat"),
        at,
        "a moved project keeps its first registration"
    );
    // another config with the name takes it over by force
    let other = env.root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("taskmux.toml"), config).expect("write config");
    register(&env, &other, true);
    let reg = read(&env.home.join("registry.json"));
    assert!(reg.contains(other.to_str().expect("utf-8")), "taken over: {reg}");
    assert_eq!(
        registered_at(&env, "regat"),
        at,
        "register -f keeps the first registration"
    );
}

fn log_has(env: &Env, needle: &str) -> bool {
    read(&env.home.join("daemon.log")).contains(needle)
}

#[test]
fn a_registry_or_state_of_the_wrong_shape_is_corrupt_and_the_daemon_keeps_its_view() {
    let Some(env) = Env::with_tmux("shape") else { return };
    env.tasks("shape", &[("a", "sleep 300"), ("b", "sleep 300")]);
    env.daemon_start(1.0);
    env.started();
    let (v, code) = env.json(&["stop", "b"]);
    assert_eq!(code, 0, "{v}");
    let running = |t: &str| env.task_status(t)["state"] == "running";
    assert!(running("a") && !running("b"));

    // registry.json holding an array: E306 for a reader, and the daemon keeps its projects
    let reg_path = env.home.join("registry.json");
    let reg = read(&reg_path);
    std::fs::write(&reg_path, "[]").expect("write");
    wait_for(10.0, "the daemon to say it did not read the registry", || {
        log_has(&env, "registry not read")
    });
    let log = read(&env.home.join("daemon.log"));
    assert!(log.contains("not an object"), "{log}");
    assert!(!log.contains("no longer supervised"), "{log}");
    let (v, code) = env.json(&["daemon", "list"]);
    assert_eq!((code, v["projects"][0]["name"].as_str()), (0, Some("shape")), "{v}");
    std::fs::write(&reg_path, &reg).expect("put the registry back");

    // state.json holding an array: E306 for a command, and the daemon starts nothing of
    // the project (it would not know that b was stopped by hand)
    let state_path = env.home.join("projects/shape/state.json");
    let state = read(&state_path);
    assert!(state.contains("\"b\""), "b's manual stop is recorded: {state}");
    std::fs::write(&state_path, "[]").expect("write");
    let (v, code) = env.json(&["stop", "a"]);
    assert_eq!((code, v["code"].as_str()), (1, Some("E306")), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("an array, not an object"),
        "{v}"
    );
    env.tmux(&["kill-server"]);
    wait_for(10.0, "the daemon to say it will not heal", || {
        log_has(&env, "no heal or restart of its tasks until it reads")
    });
    assert!(
        env.tmux(&["list-sessions", "-F", "#{session_name}"]).trim().is_empty(),
        "nothing healed while state.json is unreadable"
    );
    // with the file back, the heal brings a back, and b stays stopped
    std::fs::write(&state_path, &state).expect("put the state back");
    wait_for(15.0, "the heal of a", || running("a"));
    wait_for(5.0, "the heal to be recorded", || {
        !env.events_named("project_healed", None).is_empty()
    });
    let healed = &env.events_named("project_healed", None)[0];
    assert_eq!(strings(&healed["tasks"]), vec!["a".to_string()], "{healed}");
    assert!(!running("b"), "b stayed stopped: {}", env.task_status("b"));
    assert!(log_has(&env, "state.json reads again"));
}

/// What a descriptor of a process points at (`pipe:[123]`, a path), or "" when closed.
fn fd_target(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn daemon_start_holds_no_descriptor_of_its_caller() {
    let env = Env::new("fds");
    std::fs::write(
        env.home.join("config.toml"),
        format!("api_port = {}\nproxy_enabled = false\n", free_port()),
    )
    .expect("global config");
    // `taskmux daemon start --json 9>&1 | cat`: the caller's fd 9 is the pipe's write end,
    // and the reader sees its end only when every holder of that end is gone
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 9>&1")
        .arg(bin())
        .args(["-L", &env.socket, "--json", "daemon", "start"])
        .current_dir(&env.project)
        .env("TASKMUX_HOME", &env.home)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sh runs");
    let mut out = child.stdout.take().expect("piped");
    let pipe = fd_target(std::process::id() as i32, std::os::fd::AsRawFd::as_raw_fd(&out));
    assert!(pipe.starts_with("pipe:"), "{pipe}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        let _ = tx.send(text);
    });
    let text = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| {
        let pid = env.daemon_pid().unwrap_or(0);
        let fds: Vec<String> = (0..300)
            .map(|fd| fd_target(pid, fd))
            .filter(|t| !t.is_empty())
            .collect();
        panic!("the pipe never ended: the daemon (pid {pid}) holds it: {fds:?}")
    });
    assert!(child.wait().expect("sh ends").success(), "{text}");
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    let pid = v["pid"].as_i64().expect("the daemon's pid") as i32;
    assert!(alive(pid), "{v}");
    // 0-2: /dev/null and the log
    let log = env.home.join("daemon.log").display().to_string();
    assert_eq!(
        (fd_target(pid, 0), fd_target(pid, 1), fd_target(pid, 2)),
        ("/dev/null".to_string(), log.clone(), log)
    );
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `doctor --json` in this world, with a scratch system root; its check named `name`.
fn doctor_check(env: &Env, name: &str) -> Value {
    let root = env.root.join("sysroot");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    let o = env
        .command(&["--json", "doctor"])
        .env("TASKMUX_SYSTEM_ROOT", &root)
        .output()
        .expect("doctor runs");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)));
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == name).cloned())
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

#[test]
fn the_daemon_log_is_private_and_doctor_names_an_open_state_directory() {
    let env = Env::new("logmode");
    env.daemon_start(30.0);
    let log = env.home.join("daemon.log");
    assert_eq!(mode(&log), 0o600, "daemon.log is made private");
    // a log an older taskmux left open is made private at the next start
    let (v, code) = env.json(&["daemon", "stop"]);
    assert_eq!(code, 0, "{v}");
    chmod(&log, 0o644);
    env.daemon_start(30.0);
    assert_eq!(mode(&log), 0o600, "an open daemon.log is made private again");
    assert_eq!(doctor_check(&env, "permissions")["status"], "ok");
    // a state directory that was there before, open to others, with an open file in it
    chmod(&env.home, 0o755);
    chmod(&env.home.join("events.jsonl"), 0o644);
    let c = doctor_check(&env, "permissions");
    assert_eq!(c["status"], "warn", "{c}");
    let msg = c["message"].as_str().unwrap_or_default();
    assert!(msg.contains("0755") && msg.contains("events.jsonl (0644)"), "{c}");
    let fix = c["fix"].as_str().unwrap_or_default().to_string();
    assert!(fix.contains(&format!("chmod 700 {}", env.home.display())), "{c}");
    // the fix it gives is the fix
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(&fix)
        .output()
        .expect("sh");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(mode(&env.home), 0o700);
    assert_eq!(doctor_check(&env, "permissions")["status"], "ok");
}

/// A file that cannot be written, even by root, until dropped: immutable (`chattr +i`)
/// where the file system has the flag, else a read-only bind mount of the file on itself.
struct Unwritable {
    path: std::path::PathBuf,
    bind: bool,
}

impl Unwritable {
    fn new(path: &Path) -> Option<Unwritable> {
        let run = |args: &[&str]| {
            std::process::Command::new(args[0])
                .args(&args[1..])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let p = path.to_str().expect("utf-8 path");
        if run(&["chattr", "+i", p]) {
            return Some(Unwritable {
                path: path.to_path_buf(),
                bind: false,
            });
        }
        if run(&["mount", "--bind", p, p]) {
            let made = Unwritable {
                path: path.to_path_buf(),
                bind: true,
            };
            return run(&["mount", "-o", "remount,bind,ro", p, p]).then_some(made);
        }
        None
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let p = self.path.to_str().expect("utf-8 path");
        let args: &[&str] = match self.bind {
            true => &["umount", p],
            false => &["chattr", "-i", p],
        };
        let _ = std::process::Command::new(args[0]).args(&args[1..]).status();
    }
}

#[test]
fn events_that_cannot_be_written_are_said_once_shown_and_said_again_when_written() {
    let Some(env) = Env::with_tmux("evfail") else { return };
    env.tasks("evfail", &[("a", "sleep 300")]);
    env.daemon_start(30.0);
    env.started();
    let events = env.home.join("events.jsonl");
    let Some(lock) = Unwritable::new(&events) else {
        let ci = std::env::var("CI").unwrap_or_default();
        assert!(
            !(ci.eq_ignore_ascii_case("true") || ci == "1"),
            "CI: neither chattr +i nor a read-only bind mount works here"
        );
        eprintln!("skipping: cannot make a file unwritable here (chattr +i, mount --bind)");
        return;
    };
    let said = |needle: &str| read(&env.home.join("daemon.log")).matches(needle).count();
    // the daemon carries out the restart, and cannot record its events
    let (v, code) = env.json(&["restart", "a"]);
    assert_eq!(code, 0, "the restart itself works: {v}");
    wait_for(10.0, "the daemon to say it drops events", || {
        said("events: cannot write") == 1
    });
    let (s, code) = env.json(&["daemon", "status"]);
    assert_eq!(code, 0, "{s}");
    let f = &s["events_failing"];
    assert!(f["dropped"].as_u64().is_some_and(|n| n >= 1), "{s}");
    assert!(f["error"].as_str().is_some_and(|e| e.contains("events.jsonl")), "{s}");
    let human = env.run(&["daemon", "status"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("events: not written since"), "{text}");
    let c = doctor_check(&env, "events");
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(c["fix"], f["fix"], "{c}");
    // more dropped events are counted, and not said again
    let dropped = f["dropped"].as_u64().unwrap_or(0);
    let (v, code) = env.json(&["restart", "a"]);
    assert_eq!(code, 0, "{v}");
    let (s, _) = env.json(&["daemon", "status"]);
    assert!(
        s["events_failing"]["dropped"].as_u64().is_some_and(|n| n > dropped),
        "{s}"
    );
    assert_eq!(said("events: cannot write"), 1, "said once");
    // writable again: the next event is written, and that is said
    drop(lock);
    let (v, code) = env.json(&["restart", "a"]);
    assert_eq!(code, 0, "{v}");
    wait_for(10.0, "the daemon to say events are written again", || {
        said("events: written again") == 1
    });
    let (s, _) = env.json(&["daemon", "status"]);
    assert!(s.get("events_failing").is_none(), "{s}");
    assert_eq!(doctor_check(&env, "events")["status"], "ok");
    assert!(
        !env.events_named("task_restarted", Some("a")).is_empty(),
        "the last restart is recorded"
    );
}

/// One line from a client of daemon.sock, or None at its end (or after `secs`).
fn line_of(r: &mut impl std::io::BufRead, secs: u64, s: &std::os::unix::net::UnixStream) -> Option<String> {
    s.set_read_timeout(Some(std::time::Duration::from_secs(secs)))
        .expect("timeout");
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(n) if n > 0 => Some(l),
        _ => None,
    }
}

/// Whether the daemon closed this client: everything it sent is read into `got`, and
/// then its end.
fn closed(s: &mut std::os::unix::net::UnixStream, got: &mut String) -> bool {
    use std::io::Read;
    s.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            // reset: closed too
            Err(_) => return true,
        }
    }
}

fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

#[test]
fn half_line_clients_are_capped_and_timed_out_and_a_quiet_subscriber_stays() {
    use std::io::{BufReader, Write};
    use std::os::unix::net::UnixStream;
    let env = Env::new("halfline");
    let pid = env.daemon_start(30.0);
    let sock = env.home.join("daemon.sock");
    // a subscriber that says nothing more once subscribed
    let mut sub = UnixStream::connect(&sock).expect("connects");
    sub.write_all(b"{\"command\": \"subscribe\", \"params\": {\"events\": true}}\n")
        .expect("write");
    let mut sub_in = BufReader::new(sub.try_clone().expect("clone"));
    let ack = line_of(&mut sub_in, 10, &sub).expect("the subscription's ack");
    assert!(ack.contains("\"ok\":true"), "{ack}");
    // an event appended right after the ack reaches it (the follower's thread may start
    // after the ack is sent, but it starts where the history ended before it): once it
    // has, every thread the idle daemon keeps is running
    let push = |tag: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(env.home.join("events.jsonl"))
            .expect("events.jsonl");
        f.write_all(format!("{{\"ts\": \"2030-01-01T00:00:00.000000+00:00\", \"event\": \"{tag}\"}}\n").as_bytes())
            .expect("append an event");
    };
    push("first");
    let pushed = std::iter::from_fn(|| line_of(&mut sub_in, 10, &sub))
        .take(20)
        .find(|l| l.contains("\"first\""));
    assert!(
        pushed.is_some(),
        "the event appended after the ack never reached the subscriber"
    );
    let idle = threads(pid);
    // 300 clients, each with half a request, waiting
    let mut half: Vec<(UnixStream, String)> = (0..300)
        .map(|_| {
            let mut c = UnixStream::connect(&sock).expect("connects");
            c.write_all(b"{\"command\": \"pi").expect("write");
            (c, String::new())
        })
        .collect();
    let open = |half: &mut Vec<(UnixStream, String)>| {
        let mut n = 0;
        for (c, got) in half.iter_mut() {
            n += usize::from(!closed(c, got));
        }
        n
    };
    // at the cap (64 with the subscriber), each new one took the place of the one idle
    // longest (the subscriber is not idle: it waits for what is pushed to it)
    wait_for(15.0, "all but 63 to give way", || open(&mut half) <= 63);
    // the threads of the clients that gave way end as they read their end (under load,
    // not all at the instant the last one connected): well before a half line's 10 s,
    // when each would still hold one without the cap
    wait_for(5.0, "at most a thread per seat", || threads(pid) <= idle + 64 + 2);
    // a request is answered now, not when a half line times out
    let asked = std::time::Instant::now();
    let (v, code) = env.json(&["daemon", "status"]);
    assert_eq!((code, v["running"].as_bool()), (0, Some(true)), "{v}");
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    // a line left unfinished for 10 s is told so, and closed
    wait_for(25.0, "the unfinished lines to time out", || {
        half.iter_mut().all(|(c, got)| closed(c, got))
    });
    // (the status request took the seat of one more)
    let told = half.iter().filter(|(_, got)| got.contains("unfinished")).count();
    assert!(
        told >= 62,
        "{told} clients were told why: {:?}",
        half.last().map(|h| &h.1)
    );
    wait_for(10.0, "their threads to end", || threads(pid) <= idle);
    // the quiet subscriber is still served
    push("still_here");
    let pushed = std::iter::from_fn(|| line_of(&mut sub_in, 10, &sub))
        .take(20)
        .find(|l| l.contains("still_here"));
    assert!(pushed.is_some(), "the quiet subscriber was not served");
}

fn rss_kb(pid: i32) -> u64 {
    read(Path::new(&format!("/proc/{pid}/status")))
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"))
}

#[test]
fn memory_goes_back_to_idle_after_a_burst_of_large_requests() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let env = Env::new("burst");
    let pid = env.daemon_start(30.0);
    let sock = env.home.join("daemon.sock");
    let ask = |line: &str| {
        let mut c = UnixStream::connect(&sock).expect("connects");
        c.write_all(line.as_bytes()).expect("write");
        let mut reply = String::new();
        BufReader::new(c).read_line(&mut reply).expect("a reply");
        assert!(reply.contains("\"id\""), "{reply}");
    };
    for i in 0..20 {
        ask(&format!("{{\"command\": \"ping\", \"id\": {i}}}\n"));
    }
    let idle = rss_kb(pid);
    // 200 requests of about 1 MiB each, 16 clients at a time
    let pad = "x".repeat(1000 * 1024);
    std::thread::scope(|s| {
        for t in 0..16 {
            let (ask, pad) = (&ask, &pad);
            s.spawn(move || {
                for i in (t..200).step_by(16) {
                    ask(&format!("{{\"command\": \"ping\", \"id\": {i}, \"pad\": \"{pad}\"}}\n"));
                }
            });
        }
    });
    let after = rss_kb(pid);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut now = after;
    while now > idle + 2048 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100));
        now = rss_kb(pid);
    }
    assert!(
        now <= idle + 2048,
        "VmRSS idle {idle} kB, right after the burst {after} kB, 10 s later {now} kB"
    );
}
