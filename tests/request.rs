//! `taskmux __request`, the API's wire format over stdin and stdout, driven as a client
//! would: one long-lived process, one JSON request a line in, one JSON reply a line out,
//! each echoing its request's `id`. A whole session of lifecycle requests; replies that are
//! the very JSON `--json` prints; errors after which the loop goes on; jobs; authoring.

use crate::harness::{Env, bin, entry, read, show, strings, task_procs, wait_for, windows};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long one reply may take before the test fails instead of hanging. `start`, `stop`
/// and `restart` of `sleep` tasks take well under a second; this is only a hang detector.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `taskmux __request`: its stdin, and its stdout lines arriving on a channel
/// from a reader thread, so every read has a timeout. Drop kills it if it still runs.
struct Loop {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: PathBuf,
}

impl Loop {
    /// `taskmux __request -L SOCKET` in the project dir, with the Env's TASKMUX_HOME: the
    /// global flags after `__request`, as its usage line has them.
    fn spawn(env: &Env) -> Loop {
        Loop::spawn_args(env, &["__request", "-L", &env.socket])
    }

    /// The binary with exactly these arguments (no `-L` added, unlike `Env::command`), in
    /// the Env's world: its project dir, TASKMUX_HOME and no outer tmux.
    fn spawn_args(env: &Env, args: &[&str]) -> Loop {
        Loop::spawn_with(env, args, &[])
    }

    /// `spawn_args` with extra environment variables.
    fn spawn_with(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Loop {
        static N: AtomicUsize = AtomicUsize::new(0);
        let stderr = env
            .root
            .join(format!("request-{}.stderr", N.fetch_add(1, Ordering::SeqCst)));
        let err = std::fs::File::create(&stderr).expect("stderr file");
        let mut child = env
            .bare(bin())
            .args(args)
            .env("NO_COLOR", "1")
            .envs(vars.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("taskmux __request runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Loop {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            stderr,
        }
    }

    /// What the process said on stderr and whether it still runs, for failure messages.
    fn diagnose(&mut self) -> String {
        format!(
            "process status: {:?}\nstderr: {}",
            self.child.try_wait(),
            read(&self.stderr)
        )
    }

    /// Writes one line (a newline is added).
    fn send_raw(&mut self, line: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let r = stdin
            .write_all(line)
            .and_then(|_| stdin.write_all(b"\n"))
            .and_then(|_| stdin.flush());
        if let Err(e) = r {
            let d = self.diagnose();
            panic!(
                "cannot write {:?} to __request: {e}\n{d}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// The next reply line, parsed: fails on a hang, on a closed stdout, and on a line that
    /// is not one JSON object (anything else on stdout breaks the protocol).
    fn recv(&mut self, what: &str) -> Value {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("reply to {what} is not JSON ({e}): {line:?}"));
                assert!(v.is_object(), "reply to {what} is not a JSON object: {line}");
                v
            }
            Err(RecvTimeoutError::Timeout) => {
                let d = self.diagnose();
                panic!("no reply to {what} within {REPLY_TIMEOUT:?}\n{d}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                // give the process a moment to be reaped, so the status says how it ended
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let d = self.diagnose();
                panic!("__request closed stdout before replying to {what}\n{d}")
            }
        }
    }

    /// Sends `{"command": C, "params": P, "id": ID}` (params and id left out when None) and
    /// returns the reply, after checking it echoes the id: the same value when one was
    /// sent, no `id` key at all when none was.
    fn call(&mut self, command: &str, params: Option<Value>, id: Option<Value>) -> Value {
        let mut req = json!({ "command": command });
        if let Some(p) = params {
            req["params"] = p;
        }
        if let Some(i) = &id {
            req["id"] = i.clone();
        }
        let line = req.to_string();
        self.send_raw(line.as_bytes());
        let reply = self.recv(&line);
        match &id {
            Some(i) => assert_eq!(reply.get("id"), Some(i), "reply to {line} echoes its id: {reply}"),
            None => assert!(reply.get("id").is_none(), "reply to {line} (no id) has no id: {reply}"),
        }
        reply
    }

    /// `call`, asserting the reply is `ok: true`.
    fn ok(&mut self, command: &str, params: Option<Value>, id: Option<Value>) -> Value {
        let r = self.call(command, params.clone(), id);
        assert_eq!(r["ok"], true, "{command} {params:?} succeeds: {r}");
        r
    }

    /// Closes stdin and waits (5 s) for the process to exit; returns how it exited. Fails
    /// when it is still running, or when it wrote a line nobody asked for.
    fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let d = self.diagnose();
                panic!("__request still runs 5 s after its stdin closed\n{d}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // whatever it wrote before exiting has reached the reader by the time the pipe
        // reports its end (or, if a server it started holds the pipe, within a moment)
        let mut extra = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(300)) {
            extra.push(l);
        }
        assert!(extra.is_empty(), "lines no request asked for: {extra:?}");
        status
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The strings of a JSON array, sorted.
fn sorted(v: &Value) -> Vec<String> {
    let mut s = strings(v);
    s.sort();
    s
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

const SESSION_CONFIG: &str = r#"name = "rq-session"

[hooks]
before_start = "echo a hook writes this to its stdout"

[tasks.a]
command = "sh -c 'echo ready-a; sleep 1000'"
stop_grace_period = 1

[tasks.b]
command = "sleep 1000"
stop_grace_period = 1

[tasks.web]
command = "sleep 1000"
host = "web"
health_check = "true"
stop_grace_period = 1
"#;

#[test]
fn a_session_of_requests_in_one_process() {
    let Some(env) = Env::with_tmux("rq-session") else {
        return;
    };
    env.config(SESSION_CONFIG);
    let session = "rq-session";
    let mut rq = Loop::spawn(&env);

    let pong = rq.call("ping", None, Some(json!(1)));
    assert_pong(&pong, json!(1));

    // start, no params: every auto_start task; the hook's stdout must not reach ours
    let r = rq.ok("start", None, Some(json!("start-1")));
    assert_eq!(r["session"], session, "{r}");
    assert_eq!(r["action"], "started", "{r}");
    assert_eq!(sorted(&r["tasks"]), ["a", "b", "web"], "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");
    for t in ["a", "b", "web"] {
        wait_for(5.0, &format!("{t} has a process"), || {
            !task_procs(&env, session, t).is_empty()
        });
        assert!(
            windows(&env).contains(&t.to_string()),
            "{t} window: {:?}",
            windows(&env)
        );
    }

    // status without an id: the reply has none
    let st = rq.call("status", None, None);
    assert_eq!(st["session"], session, "{st}");
    assert_eq!(st["active_tasks"], 3, "{st}");
    for t in ["a", "b", "web"] {
        assert_eq!(entry(&st, t)["running"], true, "{t}: {st}");
    }
    let a_pid = entry(&st, "a")["pid"].as_i64().expect("a has a pid");

    let ins = rq.call("inspect", Some(json!({"task": "a"})), Some(json!(3)));
    assert_eq!(ins["name"], "a", "{ins}");
    assert_eq!(ins["running"], true, "{ins}");
    assert_eq!(ins["pid"], a_pid, "inspect and status agree on the pid: {ins}");
    assert!(ins["window_id"].as_str().is_some_and(|w| w.starts_with('@')), "{ins}");
    assert!(ins["pane_id"].as_str().is_some_and(|p| p.starts_with('%')), "{ins}");

    let h = rq.call("health", None, Some(json!({"n": 4})));
    assert_eq!(h["total_count"], 3, "{h}");
    assert_eq!(h["healthy_count"], 3, "{h}");
    assert_eq!(entry(&h, "a")["method"], "proc", "{h}");
    assert_eq!(entry(&h, "web")["method"], "shell", "{h}");

    let marker = "typed-through-the-request-loop";
    let s = rq.ok("send", Some(json!({"task": "a", "text": marker})), Some(json!(5)));
    assert_eq!((&s["task"], &s["action"]), (&json!("a"), &json!("sent")), "{s}");

    // the pane echoes what was typed, and the log writer puts it in a's log
    let mut n = 600;
    let mut last = Value::Null;
    wait_for(10.0, "a's log to show its output and the text sent", || {
        n += 1;
        last = rq.call("logs", Some(json!({"task": "a", "lines": 5})), Some(json!(n)));
        let lines = strings(&last["lines"]);
        lines.iter().any(|l| l.ends_with("ready-a")) && lines.iter().any(|l| l.contains(marker))
    });
    assert_eq!(last["task"], "a", "{last}");
    assert!(strings(&last["lines"]).len() <= 5, "lines: 5 caps the tail: {last}");

    let ev = rq.call("events", None, Some(json!("ev")));
    let evs = ev["events"].as_array().expect("events").clone();
    assert_eq!(ev["count"], evs.len(), "{ev}");
    for t in ["a", "b", "web"] {
        assert!(
            evs.iter().any(|e| e["event"] == "task_started" && e["task"] == t),
            "task_started of {t}: {ev}"
        );
    }
    assert!(evs.iter().any(|e| e["event"] == "session_started"), "{ev}");

    let u = rq.ok("url", Some(json!({"task": "web"})), Some(json!(8)));
    assert_eq!(u["task"], "web", "{u}");
    assert_eq!(u["url"], entry(&st, "web")["url"], "url agrees with status: {u}");
    assert!(u["url"].as_str().is_some_and(|s| s.starts_with("https://web.")), "{u}");

    // stop one task, named with "task"
    let r = rq.call("stop", Some(json!({"task": "b"})), Some(json!(9)));
    assert_eq!(
        r,
        json!({"ok": true, "task": "b", "action": "stopped", "session": session, "response": "stop", "id": 9}),
        "stop b"
    );
    assert!(
        task_procs(&env, session, "b").is_empty(),
        "b has no process once stop replies"
    );
    assert!(!task_procs(&env, session, "a").is_empty(), "a still runs");

    // restart several, named with "tasks": b was stopped, a runs
    let r = rq.ok("restart", Some(json!({"tasks": ["a", "b"]})), Some(json!(10)));
    let results = r["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 2, "{r}");
    for (res, t) in results.iter().zip(["a", "b"]) {
        assert_eq!(res, &json!({"ok": true, "task": t, "action": "restarted"}), "{r}");
    }
    let st = rq.call("status", None, Some(json!(11)));
    for t in ["a", "b", "web"] {
        assert_eq!(entry(&st, t)["running"], true, "{t} after restart: {st}");
    }
    assert_ne!(entry(&st, "a")["pid"], a_pid, "a runs a new process: {st}");
    wait_for(5.0, "b to run again", || !task_procs(&env, session, "b").is_empty());

    let r = rq.call("kill", Some(json!({"task": "a"})), Some(json!(12)));
    assert_eq!(
        r,
        json!({"ok": true, "task": "a", "action": "killed", "response": "kill", "id": 12}),
        "kill a"
    );
    wait_for(5.0, "a's processes to be gone", || {
        task_procs(&env, session, "a").is_empty()
    });
    assert!(
        !windows(&env).contains(&"a".to_string()),
        "a's window destroyed: {:?}",
        windows(&env)
    );

    // stop, no params: what still runs (a was killed already)
    let r = rq.ok("stop", None, Some(json!(13)));
    assert_eq!(r["action"], "stopped", "{r}");
    assert_eq!(sorted(&r["tasks"]), ["b", "web"], "{r}");
    for t in ["a", "b", "web"] {
        assert!(task_procs(&env, session, t).is_empty(), "{t} has no process after stop");
    }

    let status = rq.finish();
    assert!(status.success(), "exit 0 at the end of stdin: {status:?}");
}

/// A reply, minus its envelope, against what `taskmux --json ARGS` prints (which must
/// exit `code`). The envelope is `id`, which `--json` never has, and `ok` where `--json`
/// has none (`status`, `inspect`, `logs`, `events`, `jobs`): the loop adds one to every
/// reply so a client tells a failure apart without knowing the command, and for these it
/// must be `true`. No other field is dropped: between the two reads nothing probes (the
/// probes were recorded before, so `last_health.at` and `state` hold still), starts, stops
/// or writes a log line, so every other field, timestamps and pids included, is the same.
fn assert_same_json(env: &Env, reply: &Value, args: &[&str], code: i32) {
    let (cli, got) = env.json(args);
    assert_eq!(got, code, "taskmux --json {args:?} exits {code}: {cli}");
    let mut r = reply.clone();
    let m = r.as_object_mut().expect("reply is an object");
    m.remove("id");
    assert!(
        m.remove("response").is_some_and(|t| t.is_string()),
        "{args:?}: the reply's tag: {reply}"
    );
    if cli.get("ok").is_none() {
        assert_eq!(
            m.remove("ok"),
            Some(Value::Bool(true)),
            "{args:?}: the reply's envelope ok: {reply}"
        );
    }
    if cli["ok"] == false && cli.get("code").is_some() {
        // an error: the API's shape on the wire, the CLI's with --json, one error
        let m = r.as_object_mut().expect("object");
        assert_eq!(
            m.remove("message"),
            cli.get("error").cloned(),
            "{args:?}: the message: {reply}"
        );
        assert!(
            m.get("error").and_then(Value::as_str).is_some(),
            "{args:?}: the name: {reply}"
        );
        m.insert("error".into(), cli["error"].clone());
    }
    assert_eq!(
        r, cli,
        "{args:?}: the __request reply (without id/envelope ok) is what --json prints"
    );
}

const SAME_CONFIG: &str = r#"name = "rq-same"

[tasks.a]
command = "sh -c 'echo ready-a; sleep 1000'"
stop_grace_period = 1

[tasks.b]
command = "sleep 1000"
stop_grace_period = 1

[tasks.web]
command = "sleep 1000"
host = "web"
health_check = "true"
stop_grace_period = 1

[tasks.manual]
command = "sleep 1000"
auto_start = false
depends_on = ["b"]
"#;

#[test]
fn replies_are_the_json_of_json_flag() {
    let Some(env) = Env::with_tmux("rq-same") else { return };
    env.config(SAME_CONFIG).started();
    // a dead job, kept after its failure, for `jobs` to list
    let o = env.run(&["run", "--tag", "t", "--wait", "--", "sh", "-c", "echo job; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "the job's exit code: {}", show(&o));
    wait_for(10.0, "a's log to hold its output", || {
        strings(&env.json(&["logs", "a"]).0["lines"])
            .iter()
            .any(|l| l.ends_with("ready-a"))
    });
    // record a probe of every task now, so no state moves from starting to running later
    let (h, _) = env.json(&["health"]);
    assert_eq!(h["healthy_count"], 3, "a, b and web pass, manual is stopped: {h}");

    let mut rq = Loop::spawn(&env);
    let cases: &[(&str, Option<Value>, &[&str], i32)] = &[
        ("status", None, &["status"], 0),
        ("inspect", Some(json!({"task": "a"})), &["inspect", "a"], 0),
        ("inspect", Some(json!({"task": "manual"})), &["inspect", "manual"], 0),
        ("url", Some(json!({"task": "web"})), &["url", "web"], 0),
        ("check", None, &["check"], 0),
        ("events", Some(json!({"lines": 3})), &["events", "-n", "3"], 0),
        (
            "logs",
            Some(json!({"task": "a", "lines": 5})),
            &["logs", "a", "-n", "5"],
            0,
        ),
        ("jobs", None, &["jobs"], 0),
        // failures too: the error object is the same
        ("inspect", Some(json!({"task": "ghost"})), &["inspect", "ghost"], 1),
        ("url", Some(json!({"task": "b"})), &["url", "b"], 1),
    ];
    let mut replies = Vec::new();
    for (i, (command, params, args, code)) in cases.iter().enumerate() {
        let r = rq.call(command, params.clone(), Some(json!(i)));
        assert_same_json(&env, &r, args, *code);
        replies.push(r);
    }
    // and what was compared is the real thing, not two empty answers
    assert_eq!(replies[0]["active_tasks"], 3, "{}", replies[0]);
    assert_eq!(entry(&replies[0], "web")["last_health"]["ok"], true, "{}", replies[0]);
    assert_eq!(replies[1]["running"], true, "{}", replies[1]);
    assert_eq!(replies[2]["state"], "stopped", "{}", replies[2]);
    assert_eq!(replies[5]["count"], 3, "{}", replies[5]);
    assert!(
        strings(&replies[6]["lines"]).iter().any(|l| l.ends_with("ready-a")),
        "{}",
        replies[6]
    );
    assert_eq!(replies[7]["jobs"][0]["exit_code"], 3, "{}", replies[7]);
    assert_eq!(replies[8]["code"], "E200", "{}", replies[8]);
    assert_eq!(replies[9]["code"], "E200", "{}", replies[9]);

    assert!(rq.finish().success(), "exit 0");
    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
}

/// Asserts an error reply in the API's shape: `ok: false`, the code and its name, a
/// message, the tag `error`, nothing but the error keys.
fn assert_error(r: &Value, code: &str, id: Option<Value>) {
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["code"], code, "{r}");
    assert_eq!(r["response"], "error", "{r}");
    let name = r["error"].as_str().unwrap_or_default();
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "the code's name: {r}"
    );
    assert!(r["message"].as_str().is_some_and(|e| !e.is_empty()), "a message: {r}");
    for k in keys(r) {
        assert!(
            ["ok", "code", "error", "message", "hint", "details", "id", "response"].contains(&k.as_str()),
            "error key {k}: {r}"
        );
    }
    assert_eq!(r.get("id"), id.as_ref(), "the id, where one could be read: {r}");
}

/// Asserts `ping`'s reply: the versions spoken and this taskmux's version.
fn assert_pong(p: &Value, id: Value) {
    assert_eq!(
        p,
        &json!({"command": "ping", "ok": true, "v": 2, "versions": [2],
            "version": env!("CARGO_PKG_VERSION"), "response": "ping", "id": id}),
        "ping"
    );
}

#[test]
fn errors_get_a_reply_and_the_loop_goes_on() {
    let Some(env) = Env::with_tmux("rq-errors") else { return };
    env.tasks("rq-errors", &[("a", "sleep 1000")]);
    let mut rq = Loop::spawn(&env);
    let raw: &[(&str, &str, Option<Value>)] = &[
        ("{", "E502", None),
        ("[1]", "E502", None),
        (r#"{"id": 4}"#, "E502", Some(json!(4))),
        (r#"{"command": "bogus", "id": 5}"#, "E501", Some(json!(5))),
        (
            r#"{"command": "kill", "params": {"tsk": "a"}, "id": 6}"#,
            "E500",
            Some(json!(6)),
        ),
        (
            r#"{"command": "inspect", "params": {"task": "ghost"}, "id": 7}"#,
            "E200",
            Some(json!(7)),
        ),
    ];
    for (line, code, id) in raw {
        rq.send_raw(line.as_bytes());
        let r = rq.recv(line);
        assert_error(&r, code, id.clone());
        let p = rq.call("ping", None, Some(json!(format!("after {line}"))));
        assert_eq!((&p["ok"], &p["v"]), (&json!(true), &json!(2)), "ping after {line}: {p}");
    }
    // empty and blank lines get no reply: the next reply is the ping's (call checks its id)
    rq.send_raw(b"");
    rq.send_raw(b"  \t ");
    let p = rq.call("ping", None, Some(json!("after blank lines")));
    assert_eq!(p["ok"], true, "{p}");
    let status = rq.finish();
    assert!(status.success(), "exit 0 at the end of stdin: {status:?}");
}

#[test]
fn a_line_that_is_not_utf8_gets_an_error_reply_and_the_loop_goes_on() {
    let Some(env) = Env::with_tmux("rq-utf8") else { return };
    env.tasks("rq-utf8", &[("a", "sleep 1000")]);
    let mut rq = Loop::spawn(&env);
    rq.call("ping", None, Some(json!(1)));
    rq.send_raw(b"{\"command\": \"ping\", \"id\": \"\xff\xfe\"}");
    let r = rq.recv("a line that is not UTF-8");
    assert_error(&r, "E502", None);
    let p = rq.call("ping", None, Some(json!(2)));
    assert_eq!(p["ok"], true, "ping after a line that is not UTF-8: {p}");
    assert!(rq.finish().success(), "exit 0");
}

#[test]
fn a_line_over_the_cap_gets_too_large_and_the_loop_goes_on() {
    let Some(env) = Env::with_tmux("rq-long") else {
        return;
    };
    env.config("name = \"rq-long\"\n[tasks.a]\ncommand = \"sleep 1000\"\n");
    let mut rq = Loop::spawn(&env);
    rq.call("ping", None, Some(json!(1)));
    // the daemon's cap (1 MiB), and its error: the line is read to its end and dropped
    let mut long = br#"{"command": "ping", "id": 2, "pad": ""#.to_vec();
    long.resize(1024 * 1024 + 10, b'x');
    long.extend_from_slice(br#""}"#);
    rq.send_raw(&long);
    let r = rq.recv("a line over the cap");
    assert_error(&r, "E504", None);
    assert_eq!(r["message"], "a request line is at most 1048576 bytes", "{r}");
    let p = rq.call("ping", None, Some(json!(3)));
    assert_eq!(p["ok"], true, "ping after a line over the cap: {p}");
    assert!(rq.finish().success(), "exit 0");
}

#[test]
fn global_flags_before_request_are_honored() {
    let Some(env) = Env::with_tmux("rq-flags") else { return };
    env.config("name = \"rq-flags\"\n[tasks.a]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n")
        .started();
    // `taskmux -L SOCKET __request`: global flags go anywhere before `--`, as Env::command
    // and every other command put them
    let mut rq = Loop::spawn_args(&env, &["-L", &env.socket, "__request"]);
    let p = rq.call("ping", None, Some(json!(1)));
    assert_pong(&p, json!(1));
    let st = rq.call("status", None, Some(json!(2)));
    assert_eq!(
        entry(&st, "a")["running"],
        true,
        "the loop talks to the -L server: {st}"
    );
    assert!(rq.finish().success(), "exit 0");
}

#[test]
fn config_flag_after_request_picks_the_config() {
    let env = Env::new("rq-cflag");
    env.file(
        "sub/other.toml",
        "name = \"rq-cflag\"\n[tasks.x]\ncommand = \"sleep 1\"\n",
    );
    let mut rq = Loop::spawn_args(&env, &["__request", "-c", "sub/other.toml", "-L", &env.socket]);
    let c = rq.ok("check", None, Some(json!(1)));
    let want = std::fs::canonicalize(env.project.join("sub/other.toml")).expect("config exists");
    let got = std::fs::canonicalize(c["config"].as_str().expect("config path")).expect("reported path exists");
    assert_eq!(got, want, "{c}");
    let u = rq.call("url", Some(json!({"task": "x"})), Some(json!(2)));
    assert_error(&u, "E200", Some(json!(2)));
    assert!(rq.finish().success(), "exit 0");
}

#[test]
fn jobs_through_the_loop() {
    let Some(env) = Env::with_tmux("rq-jobs") else { return };
    env.config("name = \"rq-jobs\"\n[tasks.idle]\ncommand = \"sleep 1000\"\nauto_start = false\n");
    let mut rq = Loop::spawn(&env);

    let params = json!({"argv": ["sh", "-c", "echo hi; exit 3"], "tag": "t", "wait": true});
    let j = rq.ok("run", Some(params), Some(json!(1)));
    assert_eq!(
        keys(&j),
        [
            "exit_code",
            "id",
            "log_file",
            "ok",
            "pane_id",
            "response",
            "session",
            "tag",
            "window_id",
            "window_name"
        ],
        "a JobRef with exit_code: {j}"
    );
    assert_eq!(j["exit_code"], 3, "{j}");
    assert_eq!(j["session"], "rq-jobs", "in the project's session: {j}");
    assert_eq!(j["tag"], "t", "{j}");
    assert_eq!(j["log_file"], Value::Null, "{j}");
    assert!(
        j["window_name"].as_str().is_some_and(|n| n.starts_with("job:t:")),
        "{j}"
    );
    let t_window = j["window_id"].as_str().expect("window_id").to_string();
    assert!(t_window.starts_with('@'), "{j}");
    assert!(j["pane_id"].as_str().is_some_and(|p| p.starts_with('%')), "{j}");

    let l = rq.ok("jobs", None, Some(json!(2)));
    assert_eq!(l["session"], "rq-jobs", "{l}");
    let list = l["jobs"].as_array().expect("jobs").clone();
    assert_eq!(list.len(), 1, "{l}");
    assert_eq!(list[0]["window_id"], t_window.as_str(), "{l}");
    assert_eq!(list[0]["tag"], "t", "{l}");
    assert_eq!(list[0]["dead"], true, "{l}");
    assert_eq!(list[0]["exit_code"], 3, "{l}");

    // a job not waited for: no exit_code until jobs_wait
    let w = rq.ok(
        "run",
        Some(json!({"argv": ["sh", "-c", "sleep 0.3; exit 4"], "tag": "w"})),
        Some(json!(3)),
    );
    assert!(w.get("exit_code").is_none(), "not waited for: {w}");
    let w_window = w["window_id"].as_str().expect("window_id").to_string();
    let done = rq.ok("jobs_wait", Some(json!({"id": w_window})), Some(json!(4)));
    assert_eq!(done["exit_code"], 4, "{done}");
    assert_eq!(done["window_id"], w_window.as_str(), "{done}");

    let l = rq.ok("jobs", Some(json!({"tag": "t"})), Some(json!(5)));
    assert_eq!(l["jobs"].as_array().map(Vec::len), Some(1), "only tag t: {l}");

    let k = rq.call("jobs_kill", Some(json!({"tag": "t"})), Some(json!(6)));
    assert_eq!(
        k,
        json!({"ok": true, "action": "killed", "jobs": [t_window], "response": "jobs_kill", "id": 6}),
        "jobs_kill tag t"
    );
    let ids = env.tmux(&["list-windows", "-a", "-F", "#{window_id}"]);
    assert!(!ids.lines().any(|w| w == t_window), "t's window is gone: {ids}");
    let l = rq.ok("jobs", None, Some(json!(7)));
    let left: Vec<&Value> = l["jobs"].as_array().expect("jobs").iter().collect();
    assert_eq!(left.len(), 1, "only w is left: {l}");
    assert_eq!(left[0]["window_id"], w_window.as_str(), "{l}");

    let k = rq.ok("jobs_kill", Some(json!({"all": true})), Some(json!(8)));
    assert_eq!(k["jobs"], json!([w_window]), "{k}");
    assert!(rq.finish().success(), "exit 0");
}

#[test]
fn init_add_check_remove_through_the_loop() {
    let env = Env::new("rq-author");
    let path = env.project.join("taskmux.toml");
    let tasks = || -> toml::Table {
        let doc: toml::Table = toml::from_str(&read(&path)).expect("the config is TOML");
        doc.get("tasks").and_then(|t| t.as_table()).cloned().unwrap_or_default()
    };
    let mut rq = Loop::spawn(&env);

    let i = rq.ok("init", Some(json!({})), Some(json!(1)));
    assert_eq!(i["session"], "proj", "named after the directory: {i}");
    let reported = std::fs::canonicalize(i["config_path"].as_str().expect("config_path")).expect("written");
    assert_eq!(reported, std::fs::canonicalize(&path).expect("written"), "{i}");
    assert!(read(&path).contains("name = \"proj\""), "{}", read(&path));
    assert!(tasks().is_empty(), "no task yet: {}", read(&path));
    for f in ["AGENTS.md", "CLAUDE.md"] {
        assert!(env.project.join(f).is_file(), "{f} written: {i}");
    }
    let before = read(&path);
    let again = rq.call("init", Some(json!({})), Some(json!(2)));
    assert_error(&again, "E105", Some(json!(2)));
    assert_eq!(read(&path), before, "a second init changes nothing");

    let a = rq.call(
        "add",
        Some(json!({"task": "api", "command": "sleep 100"})),
        Some(json!(3)),
    );
    assert_eq!(
        a,
        json!({"ok": true, "task": "api", "command": "sleep 100", "action": "added",
            "config_path": path, "response": "add", "id": 3}),
        "add"
    );
    assert_eq!(
        tasks()
            .get("api")
            .and_then(|t| t.get("command"))
            .and_then(|c| c.as_str()),
        Some("sleep 100"),
        "[tasks.api] on disk: {}",
        read(&path)
    );
    let c = rq.ok("check", None, Some(json!(4)));
    assert_eq!((&c["errors"], &c["warnings"]), (&json!([]), &json!([])), "{c}");
    let with_api = read(&path);
    let dup = rq.call(
        "add",
        Some(json!({"task": "api", "command": "sleep 5"})),
        Some(json!(5)),
    );
    assert_error(&dup, "E106", Some(json!(5)));
    assert_eq!(read(&path), with_api, "a refused add changes nothing");

    let r = rq.call("remove", Some(json!({"task": "api"})), Some(json!(6)));
    assert_eq!(
        r,
        json!({"ok": true, "task": "api", "action": "removed", "stopped": false,
            "config_path": path, "response": "remove", "id": 6}),
        "remove"
    );
    assert!(tasks().is_empty(), "api gone from disk: {}", read(&path));
    assert!(
        read(&path).contains("name = \"proj\""),
        "the rest stays: {}",
        read(&path)
    );
    let c = rq.ok("check", None, Some(json!(7)));
    assert_eq!(c["errors"], json!([]), "{c}");
    let gone = rq.call("remove", Some(json!({"task": "api"})), Some(json!(8)));
    assert_error(&gone, "E200", Some(json!(8)));
    assert!(rq.finish().success(), "exit 0");
}

/// The tmux on PATH, for a shim to hand over to.
fn real_tmux() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("tmux"))
        .find(|p| p.is_file())
        .expect("tmux on PATH")
}

#[test]
fn jobs_right_after_run_wait_lists_the_job_dead() {
    // `run` with `wait` answers once the job's wrapper has recorded the exit code; the
    // wrapper then signals its waiters (`tmux wait-for -S`) and only then ends its pane.
    // A tmux shim that takes a second over `wait-for -S` holds that gap open, so `jobs`
    // asked at once sees what a client racing it sees a few times in ten: the same job
    // still running. A job whose exit code `run` has returned has ended.
    let Some(env) = Env::with_tmux("rq-jobrace") else {
        return;
    };
    env.config("name = \"rq-jobrace\"\n[tasks.idle]\ncommand = \"sleep 1000\"\nauto_start = false\n");
    let shims = env.root.join("shims");
    std::fs::create_dir_all(&shims).expect("mkdir");
    let shim = shims.join("tmux");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprev=\nfor a in \"$@\"; do [ \"$prev\" = wait-for ] && [ \"$a\" = -S ] && sleep 1; prev=$a; done\nexec '{}' \"$@\"\n",
            real_tmux().display()
        ),
    )
    .expect("write shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap_or_default());
    let mut rq = Loop::spawn_with(&env, &["__request", "-L", &env.socket], &[("PATH", &path)]);
    let params = json!({"argv": ["sh", "-c", "exit 3"], "tag": "t", "wait": true});
    let j = rq.ok("run", Some(params), Some(json!(1)));
    assert_eq!(j["exit_code"], 3, "{j}");
    let l = rq.ok("jobs", None, Some(json!(2)));
    let job = l["jobs"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["window_id"] == j["window_id"]).cloned())
        .unwrap_or_else(|| panic!("the job is listed: {l}"));
    assert_eq!(
        (&job["dead"], &job["exit_code"]),
        (&json!(true), &json!(3)),
        "jobs right after run returned exit_code 3: {l}"
    );
    assert!(rq.finish().success(), "exit 0");
}
