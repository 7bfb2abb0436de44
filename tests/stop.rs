//! `stop` and `kill` against stubborn processes: signal traps, background children, setsid
//! escapees, double-forked orphans; concurrent `start`; freeing a task's port.

use crate::harness::{Env, alive, read, require, show, start_ok, wait_for};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pid written to `<project>/<name>` by a task, once the file holds one.
fn pid_file(env: &Env, name: &str) -> Option<i32> {
    read(&env.project.join(name)).trim().parse().ok()
}

/// Waits until every named pid file holds the pid of a live process; returns the pids.
fn wait_pids(env: &Env, files: &[&str]) -> Vec<i32> {
    wait_for(10.0, &format!("pid files {files:?} naming live processes"), || {
        files.iter().all(|f| pid_file(env, f).is_some_and(alive))
    });
    files
        .iter()
        .map(|f| pid_file(env, f).expect("pid file checked above"))
        .collect()
}

/// Window names of this world's tmux server, sorted.
fn window_names(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = env
        .tmux(&["list-windows", "-a", "-F", "#{window_name}"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The value of one variable in a process's environment.
fn environ_var(pid: i32, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    env.split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Waits (10 s) until one task's status satisfies `cond`; on timeout shows the last status.
fn wait_status(env: &Env, task: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(10.0, what, || cond(&env.task_status(task)))
    }));
    if let Err(e) = r {
        eprintln!("status of {task}: {}", env.task_status(task));
        std::panic::resume_unwind(e);
    }
    env.task_status(task)
}

fn wait_running(env: &Env, tasks: &[&str]) {
    wait_for(10.0, &format!("tasks {tasks:?} running"), || {
        tasks.iter().all(|t| env.task_status(t)["running"] == true)
    });
}

#[test]
fn stop_leaves_no_process_of_stubborn_tasks() {
    let Some(env) = Env::with_tmux("stop-stubborn") else {
        return;
    };
    env.config(
        r#"name = "stubborn"

[tasks.trap]
command = "trap \"\" TERM INT; echo $$ > trap.pid; while :; do sleep 0.2; done"
stop_grace_period = 1

[tasks.bg]
command = "sleep 1000 & echo $! > bg.pid; echo $$ > bg-shell.pid; wait"
stop_grace_period = 1

[tasks.setsid]
command = "setsid sh -c 'echo $$ > setsid.pid; exec sleep 1000' & wait"
stop_grace_period = 1
"#,
    );
    env.started();
    let pids = wait_pids(&env, &["trap.pid", "bg.pid", "bg-shell.pid", "setsid.pid"]);
    wait_running(&env, &["trap", "bg", "setsid"]);
    // the setsid child really escaped: it is in neither the pane's process group nor its session
    let sid_of = |pid: i32| -> Option<i32> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        s[s.rfind(')')? + 1..].split_whitespace().nth(3)?.parse().ok()
    };
    assert_eq!(
        sid_of(pids[3]),
        Some(pids[3]),
        "the setsid task's child should lead its own session"
    );
    let before = env.our_processes();
    assert!(
        pids.iter().all(|p| before.contains(p)),
        "every task pid {pids:?} should carry the server in its environment: {before:?}"
    );

    let t0 = Instant::now();
    let (v, code) = env.json(&["stop"]);
    let took = t0.elapsed();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["action"], "stopped", "{v}");
    let mut stopped: Vec<String> = v["tasks"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    stopped.sort();
    assert_eq!(stopped, ["bg", "setsid", "trap"], "{v}");

    // right after stop returns: nothing left, without waiting
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes survived stop: {left:?} (of {pids:?})");
    let survivors: Vec<i32> = before.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        survivors.is_empty(),
        "processes of the tasks survived stop: {survivors:?}"
    );
    assert_eq!(
        env.our_processes(),
        Vec::<i32>::new(),
        "processes carrying our tmux server survived stop"
    );

    // trap ignores C-c and TERM: only SIGKILL, sent 3 s after TERM (at grace = 1 s), ends it
    assert!(took < Duration::from_secs(8), "stop took {took:?}, expected about 4 s");
    assert!(
        took >= Duration::from_millis(3500),
        "stop took only {took:?}: SIGKILL should come 3 s after the SIGTERM sent at stop_grace_period (1 s)"
    );

    // windows stay, showing the exit; status says stopped
    assert_eq!(window_names(&env), ["bg", "setsid", "trap"]);
    for t in ["trap", "bg", "setsid"] {
        let s = env.task_status(t);
        assert_eq!(s["running"], false, "{t}: {s}");
        assert_eq!(s["state"], "stopped", "{t}: {s}");
    }
}

#[test]
fn stop_one_task_leaves_the_others_running() {
    let Some(env) = Env::with_tmux("stop-one") else { return };
    env.config(
        r#"name = "one"
[tasks.a]
command = "echo $$ > a.pid; exec sleep 1000"
stop_grace_period = 1
[tasks.b]
command = "echo $$ > b.pid; exec sleep 1000"
stop_grace_period = 1
[tasks.c]
command = "echo $$ > c.pid; exec sleep 1000"
stop_grace_period = 1
"#,
    );
    env.started();
    let pids = wait_pids(&env, &["a.pid", "b.pid", "c.pid"]);
    wait_running(&env, &["a", "b", "c"]);
    let pid_b = env.task_status("b")["pid"].clone();
    let pid_c = env.task_status("c")["pid"].clone();

    let (v, code) = env.json(&["stop", "a"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["task"], "a", "{v}");
    assert_eq!(v["action"], "stopped", "{v}");

    assert!(!alive(pids[0]), "task a's process {} survived stop", pids[0]);
    assert!(
        alive(pids[1]) && alive(pids[2]),
        "b or c died with stop a: {pids:?}; pid files now: {:?}; status: {}",
        [pid_file(&env, "b.pid"), pid_file(&env, "c.pid")],
        env.json(&["status"]).0
    );
    let a = env.task_status("a");
    assert_eq!(a["running"], false, "{a}");
    for (t, pid) in [("b", &pid_b), ("c", &pid_c)] {
        let s = env.task_status(t);
        assert_eq!(s["running"], true, "{t}: {s}");
        assert_eq!(&s["pid"], pid, "{t} was restarted or replaced: {s}");
    }
    assert_eq!(window_names(&env), ["a", "b", "c"]);

    // a second stop of the same task is an idempotent no-op
    let (v, code) = env.json(&["stop", "a"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["action"], "already_stopped", "{v}");
    assert!(alive(pids[1]) && alive(pids[2]), "b or c died with the second stop a");
}

#[test]
fn stop_reaps_orphan_of_a_task_that_already_exited() {
    let Some(env) = Env::with_tmux("stop-orphan") else {
        return;
    };
    env.config(
        r#"name = "orphan"
[tasks.forker]
command = "(trap \"\" HUP; sleep 1000 & echo $! > orphan.pid); echo started"
restart_policy = "no"
stop_grace_period = 1
[tasks.keep]
command = "exec sleep 1000"
"#,
    );
    env.started();
    let orphan = wait_pids(&env, &["orphan.pid"])[0];
    // the pane's own process exits at once; the double-forked sleep lives on
    let s = wait_status(&env, "forker", "forker's pane process to exit", |s| {
        !s["exit_code"].is_null()
    });
    assert_eq!(s["exit_code"], 0, "{s}");
    assert!(alive(orphan), "the orphan should still run before stop");
    assert!(env.our_processes().contains(&orphan), "the orphan carries our server");
    let keep = env.task_status("keep")["pid"].as_i64().expect("keep has a pid") as i32;

    let t0 = Instant::now();
    let (v, code) = env.json(&["stop", "forker"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        !alive(orphan),
        "the orphan {orphan} of an exited task survived stop: {v}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "stop of a dead pane's orphan took {:?}",
        t0.elapsed()
    );
    assert!(alive(keep), "stop forker killed the other task");
}

/// The tty tmux reports for a window's pane (kept after the pane dies).
fn pane_tty(env: &Env, window: &str) -> String {
    env.tmux(&["list-panes", "-a", "-F", "#{window_name} #{pane_tty}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{window} ")).map(str::to_string))
        .unwrap_or_default()
}

/// Allocates ptys until it gets the wanted /dev/pts/N (freed, so the kernel hands it out
/// again), then forks a child that makes it its controlling tty and execs `sleep 1000`; the
/// parent keeps the master open, prints the child's pid and waits. Like a terminal someone
/// opens on the machine.
const PTY_TAKER: &str = r#"
import os, sys, time
want = sys.argv[1]
held, deadline = [], time.time() + 5
while time.time() < deadline:
    m, s = os.openpty()
    name = os.ttyname(s)
    n, w = int(name.rsplit('/', 1)[1]), int(want.rsplit('/', 1)[1])
    if n == w:
        pid = os.fork()
        if pid == 0:
            os.setsid()
            fd = os.open(name, os.O_RDWR)
            for i in (0, 1, 2):
                os.dup2(fd, i)
            os.execvp('sleep', ['sleep', '1000'])
        for a, b in held:
            os.close(a); os.close(b)
        while time.time() < deadline:
            st = open('/proc/%d/stat' % pid).read()
            if st.rsplit(')', 1)[1].split()[4] != '0' and open('/proc/%d/cmdline' % pid).read().startswith('sleep'):
                break
            time.sleep(0.005)
        print(pid, flush=True)
        os.waitpid(pid, 0)
        sys.exit(0)
    if n < w:
        held.append((m, s))
    else:
        os.close(m); os.close(s)
        time.sleep(0.01)
print('none', flush=True)
"#;

/// A process (not of any task) whose controlling tty is a given /dev/pts/N; killed on drop.
struct PtyTaker {
    parent: Child,
    child: i32,
}

impl PtyTaker {
    /// None when the pty could not be had (another process on the machine took it first).
    fn take(tty: &str) -> Option<PtyTaker> {
        let mut parent = Command::new("python3")
            .args(["-c", PTY_TAKER, tty])
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn python3");
        let mut line = String::new();
        let out = parent.stdout.take().expect("piped");
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
        match line.trim().parse::<i32>() {
            Ok(child) => Some(PtyTaker { parent, child }),
            Err(_) => {
                let _ = parent.kill();
                let _ = parent.wait();
                None
            }
        }
    }
}

impl Drop for PtyTaker {
    fn drop(&mut self) {
        if let Some(p) = rustix::process::Pid::from_raw(self.child) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
        let _ = self.parent.kill();
        let _ = self.parent.wait();
    }
}

/// Whether python3 is installed (see [`require`]).
fn have_python() -> bool {
    require("python3", &["python3", "-V"])
}

/// A dead pane keeps reporting its old `#{pane_tty}`, but the kernel frees the pty and hands
/// the same /dev/pts/N to the next program that opens one. Processes on that tty belong to
/// someone else now: `stop` of the exited task must not signal them.
#[test]
fn stop_of_an_exited_task_spares_a_process_that_reuses_its_tty() {
    let Some(env) = Env::with_tmux("stop-ttyreuse") else {
        return;
    };
    if !have_python() {
        return;
    }
    env.config(
        r#"name = "reuse"
[tasks.x]
command = "exit 0"
restart_policy = "no"
stop_grace_period = 1
[tasks.keep]
command = "exec sleep 1000"
"#,
    );
    env.started();
    let x = wait_status(&env, "x", "x to exit", |s| !s["exit_code"].is_null());
    assert_eq!(x["exit_code"], 0, "{x}");
    let x_tty = pane_tty(&env, "x");
    wait_for(5.0, "tmux to free x's pty", || !Path::new(&x_tty).exists());
    let Some(other) = PtyTaker::take(&x_tty) else {
        eprintln!("{x_tty} was taken by another process first; nothing to check this run");
        return;
    };
    assert!(alive(other.child));

    let (v, code) = env.json(&["stop", "x"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        alive(other.child),
        "'stop x' (x exited; its dead pane still reports {x_tty}) killed pid {}, an unrelated process \
         whose controlling tty is now {x_tty}",
        other.child
    );
}

/// While `stop` waits for a stubborn task, a quicker task's pane dies (SIGTERM after its
/// 0.5 s grace) and its pty is freed; a terminal opened now (here: a process outside
/// taskmux) gets the same /dev/pts/N. The rest of the stop must not signal it.
#[test]
fn stop_spares_a_process_that_takes_a_pty_freed_during_the_stop() {
    let Some(env) = Env::with_tmux("stop-ptyrace") else {
        return;
    };
    if !have_python() {
        return;
    }
    env.config(
        r#"name = "ptyrace"
[tasks.quick]
command = "trap \"\" INT; exec sleep 1000"
stop_grace_period = 0.5
[tasks.stubborn]
command = "trap \"\" TERM INT; while :; do sleep 0.2; done"
stop_grace_period = 1
"#,
    );
    env.started();
    wait_running(&env, &["quick", "stubborn"]);
    let quick_tty = pane_tty(&env, "quick");
    let stop = env
        .command(&["--json", "stop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stop");
    wait_for(5.0, "tmux to free quick's pty", || !Path::new(&quick_tty).exists());
    let taker = PtyTaker::take(&quick_tty);
    let o = stop.wait_with_output().expect("stop finishes");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let Some(other) = taker else {
        eprintln!("{quick_tty} was taken by another process first; nothing to check this run");
        return;
    };
    assert!(
        alive(other.child),
        "'stop' (quick's pane died early and freed {quick_tty}) killed pid {}, an unrelated process that \
         opened {quick_tty} while stop waited for 'stubborn'",
        other.child
    );
}

#[test]
fn concurrent_starts_make_one_session_one_window_one_process_per_task() {
    let Some(env) = Env::with_tmux("stop-concurrent") else {
        return;
    };
    let tasks = ["t1", "t2", "t3", "t4", "t5"];
    let mut cfg = String::from("name = \"race\"\n");
    for t in tasks {
        cfg.push_str(&format!(
            "[tasks.{t}]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n"
        ));
    }
    env.config(&cfg);

    let children: Vec<Child> = (0..20)
        .map(|_| {
            env.command(&["start", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn taskmux")
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("taskmux finishes"))
        .collect();
    let mut started: HashMap<String, usize> = HashMap::new();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", show(o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)));
        assert_eq!(v["ok"], true, "{v}");
        for t in v["tasks"].as_array().into_iter().flatten() {
            *started.entry(t.as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
    }
    for t in tasks {
        assert_eq!(
            started.get(t).copied().unwrap_or(0),
            1,
            "task {t} should be reported 'started' by exactly one of the 20 starts: {started:?}"
        );
    }

    let sessions: Vec<String> = env
        .tmux(&["list-sessions", "-F", "#{session_name}"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(sessions, ["race"], "exactly one session");
    assert_eq!(window_names(&env), tasks, "exactly one window per task");

    // exactly one live `sleep 1000` per task
    let count = || -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for pid in env.our_processes() {
            if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x001000\x00") {
                let task = environ_var(pid, "TASKMUX_TASK").unwrap_or_default();
                *m.entry(task).or_default() += 1;
            }
        }
        m
    };
    wait_for(10.0, "a sleep process for every task", || count().len() == tasks.len());
    let m = count();
    for t in tasks {
        assert_eq!(
            m.get(&format!("race/{t}")).copied(),
            Some(1),
            "sleep processes per task: {m:?}"
        );
    }
    assert_eq!(m.len(), tasks.len(), "sleep processes per task: {m:?}");

    let (v, _) = env.json(&["status"]);
    assert_eq!(v["active_tasks"], 5, "{v}");
    let running = v["tasks"]
        .as_array()
        .map(|a| a.iter().filter(|t| t["running"] == true).count())
        .unwrap_or(0);
    assert_eq!(running, 5, "{v}");
}

#[test]
fn kill_sigkills_a_stubborn_task_at_once_and_destroys_its_window() {
    let Some(env) = Env::with_tmux("stop-kill") else { return };
    env.config(
        r#"name = "killer"
[tasks.trap]
command = "trap \"\" TERM INT; echo $$ > trap.pid; while :; do sleep 0.2; done"
stop_grace_period = 5
[tasks.other]
command = "echo $$ > other.pid; exec sleep 1000"
"#,
    );
    env.started();
    let pids = wait_pids(&env, &["trap.pid", "other.pid"]);
    wait_running(&env, &["trap", "other"]);

    let t0 = Instant::now();
    let (v, code) = env.json(&["kill", "trap"]);
    let took = t0.elapsed();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["task"], "trap", "{v}");
    assert_eq!(v["action"], "killed", "{v}");
    assert!(
        took < Duration::from_secs(2),
        "kill took {took:?}: it should SIGKILL at once, not wait for the grace period (5 s)"
    );
    assert!(!alive(pids[0]), "the trap task survived kill");
    let left: Vec<i32> = env
        .our_processes()
        .into_iter()
        .filter(|p| environ_var(*p, "TASKMUX_TASK").as_deref() == Some("killer/trap"))
        .collect();
    assert!(left.is_empty(), "processes of the killed task survived: {left:?}");
    assert_eq!(
        window_names(&env),
        ["other"],
        "the trap window should be gone, the other kept"
    );
    assert!(alive(pids[1]), "kill trap killed the other task");
    let s = env.task_status("trap");
    assert_eq!(s["running"], false, "{s}");
}

/// A process the test started itself; killed and reaped on drop.
struct Squatter(Child);

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET / on a local port; the response text, or None if nothing answers.
fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn start_frees_the_port_of_a_task_from_a_squatter() {
    let Some(env) = Env::with_tmux("stop-port") else { return };
    if !have_python() {
        return;
    }
    let port = crate::harness::free_port();
    let squat_dir = env.root.join("squat");
    std::fs::create_dir_all(&squat_dir).expect("mkdir");
    std::fs::write(squat_dir.join("squatter-marker.txt"), "x").expect("write");
    let mut squatter = Squatter(
        Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(&squat_dir)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn python3"),
    );
    wait_for(10.0, "the squatter to listen", || {
        http_get(port).is_some_and(|r| r.contains("squatter-marker"))
    });

    env.config(&format!(
        r#"name = "porty"
[tasks.web]
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
port = {port}
stop_grace_period = 1
"#
    ));
    let v = env.started();
    assert_eq!(v["tasks"], serde_json::json!(["web"]), "{v}");
    wait_for(5.0, "the squatter to die", || {
        squatter.0.try_wait().ok().flatten().is_some()
    });
    wait_for(10.0, "the task to serve on its port", || {
        http_get(port).is_some_and(|r| r.contains("taskmux.toml"))
    });
    let r = http_get(port).unwrap_or_default();
    assert!(!r.contains("squatter-marker"), "the squatter still answers: {r}");
    let s = env.task_status("web");
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(s["port"], port, "{s}");
}

/// The `events` of one kind in this world's history.
fn events_named(env: &Env, event: &str) -> Vec<Value> {
    let (v, code) = env.json(&["events"]);
    assert_eq!(code, 0, "events: {v}");
    v["events"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["event"] == event).cloned().collect())
        .unwrap_or_default()
}

/// Live processes of `session/task` (by marker and our server), waited for until there is one.
fn wait_task_procs(env: &Env, session: &str, task: &str) -> Vec<i32> {
    wait_for(10.0, &format!("a process of {session}/{task}"), || {
        !crate::harness::task_procs(env, session, task).is_empty()
    });
    crate::harness::task_procs(env, session, task)
}

/// A task that ignores SIGHUP outlives its session (`tmux kill-session`) or its whole server
/// (`kill-server`): `stop` still finds it by its marker, and `start` reaps it (an
/// `orphan_reaped` event naming its pids) before it launches the one copy that runs.
#[test]
fn stop_and_start_find_a_task_whose_session_or_server_is_gone() {
    let Some(env) = Env::with_tmux("stop-nosession") else {
        return;
    };
    env.config(
        r#"name = "gone"
[tasks.hup]
command = "trap '' HUP; sleep 1000"
stop_grace_period = 1
[tasks.keep]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
    for kill in [&["kill-session", "-t", "gone"][..], &["kill-server"]] {
        env.started();
        let pids = wait_task_procs(&env, "gone", "hup");
        env.tmux(kill);
        wait_for(10.0, "the session to go", || env.tmux(&["list-sessions"]).is_empty());
        assert!(
            pids.iter().all(|p| alive(*p)),
            "{kill:?}: the task ignores HUP and lives on"
        );
        let (v, code) = env.json(&["stop"]);
        assert_eq!(code, 0, "{kill:?}: {v}");
        assert_eq!(v["tasks"], serde_json::json!(["hup"]), "{kill:?}: stop found it: {v}");
        let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        assert!(left.is_empty(), "{kill:?}: stop left {left:?} running: {v}");
    }

    for kill in [&["kill-server"][..], &["kill-window", "-t", "=gone:hup"]] {
        env.started();
        let old = wait_task_procs(&env, "gone", "hup");
        env.tmux(kill);
        wait_for(10.0, "the window to go", || !window_names(&env).contains(&"hup".into()));
        assert!(old.iter().all(|p| alive(*p)), "{kill:?}: the task lives on");
        let before = events_named(&env, "orphan_reaped").len();
        env.started();
        let left: Vec<i32> = old.iter().copied().filter(|p| alive(*p)).collect();
        assert!(left.is_empty(), "{kill:?}: start left the old copy {left:?} running");
        let reaped = events_named(&env, "orphan_reaped");
        assert_eq!(reaped.len(), before + 1, "{kill:?}: {reaped:?}");
        let last = &reaped[before];
        assert_eq!(last["task"], "hup", "{last}");
        let mut got: Vec<i64> = last["pids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        got.sort();
        let mut want: Vec<i64> = old.iter().map(|p| *p as i64).collect();
        want.sort();
        assert_eq!(got, want, "{kill:?}: the event names the reaped pids: {last}");
        let now = wait_task_procs(&env, "gone", "hup");
        assert!(
            now.iter().all(|p| !old.contains(p)),
            "{kill:?}: one new copy runs: {now:?}"
        );
        let (v, code) = env.json(&["stop"]);
        assert_eq!(code, 0, "{v}");
    }
}

/// Processes whose command line is `argv` exactly.
fn processes_running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| alive(*p) && std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == want))
                .collect()
        })
        .unwrap_or_default()
}

/// Kills a pid on drop, so a process the harness cannot see (no marker) never outlives its test.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Some(pid) = rustix::process::Pid::from_raw(*p) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// A child that left the pane's session (`setsid -f`) and cleared its environment (`env -i`)
/// has neither the group, the session, the controlling tty nor the marker of its task, but
/// it still holds the pane's tty open: `stop` finds it by that.
#[test]
fn stop_finds_a_detached_child_with_a_cleared_environment_by_its_open_tty() {
    let Some(env) = Env::with_tmux("stop-envi") else { return };
    if !require("setsid", &["setsid", "--version"]) {
        return;
    }
    // a duration no other test uses, to tell this sleep from any other
    let secs = format!("1023.{}", std::process::id());
    env.config(&format!(
        r#"name = "envi"
[tasks.escape]
command = "setsid -f env -i sleep {secs}; sleep 1000"
stop_grace_period = 1
"#
    ));
    env.started();
    let tty = pane_tty(&env, "escape");
    let on_tty = |p: &i32| std::fs::read_link(format!("/proc/{p}/fd/0")).is_ok_and(|l| l.to_string_lossy() == tty);
    wait_for(10.0, "the detached sleep", || {
        processes_running(&["sleep", &secs]).iter().any(on_tty)
    });
    let escapee: Vec<i32> = processes_running(&["sleep", &secs])
        .into_iter()
        .filter(on_tty)
        .collect();
    let _guard = KillOnDrop(escapee.clone());
    assert_eq!(
        environ_var(escapee[0], "TASKMUX_TASK"),
        None,
        "the environment is cleared"
    );
    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
    let left: Vec<i32> = escapee.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "the detached child {left:?} survived stop: {v}");
}

/// `kill` and `start` of one task at the same time, many times over: each finishes on its
/// own terms, never with tmux's raw `can't find pane` (E204).
#[test]
fn kill_racing_start_never_fails_with_a_raw_tmux_error() {
    let Some(env) = Env::with_tmux("stop-race") else { return };
    env.config(
        r#"name = "race"
[tasks.a]
command = "sleep 1000"
stop_grace_period = 1
[tasks.b]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
    start_ok(&env, &["b"]);
    for round in 0..20 {
        // a runs, then one kill while starts follow each other: a start lands in the kill
        start_ok(&env, &["a"]);
        let (starts, kill) = std::thread::scope(|s| {
            let kill = s.spawn(|| env.json(&["kill", "a"]));
            let starts: Vec<(Value, i32)> = (0..4).map(|_| env.json(&["start", "a"])).collect();
            (starts, kill.join().expect("kill"))
        });
        for (what, (v, code)) in starts.iter().map(|r| ("start", r)).chain([("kill", &kill)]) {
            assert_ne!(
                v["code"], "E204",
                "round {round}: {what} failed with a raw tmux error: {v}"
            );
            assert_eq!(*code, 0, "round {round}: {what}: {v}");
        }
    }
}
