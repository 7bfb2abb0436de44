//! Jobs and hands-on control against real tmux and real processes: `taskmux-run` (argv,
//! cleanup knobs, `--wait` codes, the JobRef, concurrency, logs, `--window`, `--cwd`/`-e`,
//! where the job runs, tmuxp workspaces), `jobs`, `send` and `attach`.

use crate::harness::{Env, bin, read, require, require_tmux, show, wait_for};
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};

/// The `taskmux-run` binary under test.
fn run_bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskmux-run")
}

/// A `taskmux-run` command in this world: its socket (`-L`), state dir and project dir.
fn job_command(env: &Env, args: &[&str]) -> Command {
    env.command_of(run_bin(), args)
}

/// Runs `taskmux-run` and returns its output.
fn job_run(env: &Env, args: &[&str]) -> Output {
    job_command(env, args).output().expect("taskmux-run runs")
}

/// The JobRef printed on stdout.
fn jobref(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("JobRef is not JSON ({e}): {}", show(o)))
}

/// Runs `taskmux-run`, asserts exit 0, returns the JobRef.
fn job_ok(env: &Env, args: &[&str]) -> Value {
    let o = job_run(env, args);
    assert_eq!(o.status.code(), Some(0), "taskmux-run {args:?}: {}", show(&o));
    jobref(&o)
}

/// A string field of a JSON object.
fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no string '{k}' in {v}"))
}

/// Makes session `name` holding one idle window. The tmux command carries this world's
/// TASKMUX_HOME, so a server it starts hands it to every pane (as taskmux's own would).
fn new_session(env: &Env, name: &str) {
    let o = Command::new("tmux")
        .args(["-L", &env.socket, "new-session", "-d", "-s", name])
        .args(["-x", "200", "-y", "50", "sleep", "1000"])
        .env("TASKMUX_HOME", &env.home)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::null())
        .output()
        .expect("tmux runs");
    assert!(o.status.success(), "new-session {name}: {}", show(&o));
}

/// `(window_id, window_name)` of every window of a session ([] when it is gone).
fn windows(env: &Env, session: &str) -> Vec<(String, String)> {
    env.tmux(&[
        "list-windows",
        "-t",
        &format!("={session}:"),
        "-F",
        "#{window_id} #{window_name}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

fn has_window(env: &Env, session: &str, window_id: &str) -> bool {
    windows(env, session).iter().any(|(id, _)| id == window_id)
}

/// `(dead, dead_status)` of a pane, or None when the pane is gone.
fn pane_state(env: &Env, pane: &str) -> Option<(bool, String)> {
    env.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_dead} #{pane_dead_status}"])
        .lines()
        .find_map(|l| {
            let mut f = l.split(' ');
            (f.next() == Some(pane)).then(|| (f.next() == Some("1"), f.next().unwrap_or("").to_string()))
        })
}

/// Sends SIGCHLD to this world's tmux server. Debian's tmux 3.3a spawns panes through
/// libutempter, whose own SIGCHLD handler can swallow the signal of a child that exits
/// during a spawn (tmux/tmux#311): the pane then shows dead without a status until some
/// other child exits. The nudge makes the server reap what it missed.
fn nudge_tmux(env: &Env) {
    let pid = env.tmux(&["display-message", "-p", "#{pid}"]);
    if let Some(pid) = pid.trim().parse().ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CHILD);
    }
}

/// Waits until a pane is dead and returns its exit status; a timeout shows the pane and
/// its processes.
fn dead_status(env: &Env, pane: &str) -> String {
    let start = std::time::Instant::now();
    let mut nudged = false;
    loop {
        // tmux marks a pane dead at the end of its output, its status once it is reaped
        match pane_state(env, pane) {
            Some((true, st)) if !st.is_empty() => return st,
            Some((true, _)) if !nudged && start.elapsed() > std::time::Duration::from_secs(1) => {
                eprintln!("pane {pane}: dead for 1 s without a status; sending tmux SIGCHLD");
                nudge_tmux(env);
                nudged = true;
            }
            _ if start.elapsed() < std::time::Duration::from_secs(10) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            state => {
                let panes = env.tmux(&[
                    "list-panes",
                    "-a",
                    "-F",
                    "#{pane_id} dead=#{pane_dead} status=#{pane_dead_status} signal=#{pane_dead_signal} pid=#{pane_pid} #{window_name}",
                ]);
                panic!(
                    "timed out after 10s waiting for pane {pane} to be dead with a status: {state:?}\npanes:\n{panes}"
                );
            }
        }
    }
}

/// The whole text of a pane, history included.
fn pane_text(env: &Env, pane: &str) -> String {
    env.tmux(&["capture-pane", "-p", "-S", "-", "-t", pane])
}

/// `job:<tag>:<YYYYmmdd-HHMMSS>`, optionally followed by `-N`.
fn is_job_name(name: &str, tag: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("job:{tag}:")) else {
        return false;
    };
    let b = rest.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 15 || !digits(0..8) || b[8] != b'-' || !digits(9..15) {
        return false;
    }
    match &rest[15..] {
        "" => true,
        suffix => suffix
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())),
    }
}

/// `@N` or `%N`.
fn is_id(s: &str, sigil: char) -> bool {
    s.strip_prefix(sigil)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// A python3 to run argv-dumping jobs with (the system one avoids a pyenv shim).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Children this test spawned; killed and reaped on drop, even on panic.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A command running under `script` on a real pty, its stdin held open (so `script` never
/// sees an end of input); killed on drop.
struct Pty {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Pty {
    fn spawn(env: &Env, cmdline: &str) -> Pty {
        let mut child = env
            .bare("script")
            .args(["-qfec", cmdline, "/dev/null"])
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("script runs");
        let stdin = child.stdin.take();
        Pty { child, _stdin: stdin }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Single-quotes a word for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `client_session window_id` of every client of the server.
fn clients(env: &Env) -> Vec<String> {
    env.tmux(&["list-clients", "-F", "#{client_session} #{window_id}"])
        .lines()
        .map(String::from)
        .collect()
}

const ARGV_DUMP: &str = "import sys,json; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))";

fn awkward_args() -> Vec<&'static str> {
    vec![
        "it's",
        "say \"hi\"",
        "'single' and \"double\"",
        "$HOME",
        "${PATH}",
        "$(id)",
        "`id`",
        "a;b",
        ";",
        "&&",
        "x && y || z",
        "two words",
        "  padded  ",
        "line1\nline2",
        "tab\there",
        "-n",
        "--wait",
        "--json",
        "-L",
        "-c",
        "--",
        "#{pane_id}",
        "#(echo hi)",
        "*",
        "~",
        "a|b>c<d",
        "trailing;",
        "trailing\\;",
        "\\;",
        "",
        "héllo wörld ✓ 日本 🚀",
    ]
}

#[test]
fn argv_round_trips_exactly_through_taskmux_run_and_taskmux_run_subcommand() {
    let Some(env) = Env::with_tmux("jobargv") else { return };
    new_session(&env, "S");
    let awkward = awkward_args();

    let out = env.root.join("argv1.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec!["-s", "S", "--wait", "--", python(), "-c", ARGV_DUMP, &out_s];
    args.extend(awkward.iter().copied());
    let v = job_ok(&env, &args);
    assert_eq!(v["exit_code"], 0, "{v}");
    let got: Vec<String> =
        serde_json::from_str(&read(&out)).unwrap_or_else(|e| panic!("argv file: {e}: {:?}", read(&out)));
    assert_eq!(got, awkward, "taskmux-run passes argv untouched");

    // the same through `taskmux run`, global flags before the subcommand
    let out = env.root.join("argv2.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec![
        "--json",
        "run",
        "-s",
        "S",
        "--wait",
        "--",
        python(),
        "-c",
        ARGV_DUMP,
        &out_s,
    ];
    args.extend(awkward.iter().copied());
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(jobref(&o)["exit_code"], 0, "{}", show(&o));
    let got: Vec<String> =
        serde_json::from_str(&read(&out)).unwrap_or_else(|e| panic!("argv file: {e}: {:?}", read(&out)));
    assert_eq!(got, awkward, "taskmux run passes argv untouched");
}

#[test]
fn cleanup_knobs_decide_which_windows_stay() {
    let Some(env) = Env::with_tmux("jobclean") else { return };
    new_session(&env, "S");

    // success: the window closes (the job did run: it made its marker)
    let marker = env.root.join("ran");
    let v = job_ok(&env, &["-s", "S", "--", "touch", &marker.to_string_lossy()]);
    assert_eq!(s(&v, "session"), "S", "{v}");
    let w = s(&v, "window_id").to_string();
    assert!(is_id(&w, '@'), "{v}");
    wait_for(10.0, "the successful job to run", || marker.exists());
    wait_for(10.0, "the successful job's window to close", || {
        !has_window(&env, "S", &w)
    });

    // failure: the window stays, dead with status 3, showing [exited 3]
    let v = job_ok(&env, &["-s", "S", "--", "sh", "-c", "echo failing; exit 3"]);
    let (w, p) = (s(&v, "window_id").to_string(), s(&v, "pane_id").to_string());
    assert_eq!(dead_status(&env, &p), "3", "{v}");
    assert!(
        has_window(&env, "S", &w),
        "failed window stays: {:?}",
        windows(&env, "S")
    );
    let text = pane_text(&env, &p);
    assert!(
        text.lines().any(|l| l.trim() == "[exited 3]"),
        "pane shows [exited 3]: {text:?}"
    );
    assert!(
        text.lines().any(|l| l.trim() == "failing"),
        "pane shows the output: {text:?}"
    );

    // --keep: a successful window stays too, dead with status 0 and no [exited] line
    let v = job_ok(&env, &["-s", "S", "--keep", "--", "sh", "-c", "echo kept"]);
    let (w, p) = (s(&v, "window_id").to_string(), s(&v, "pane_id").to_string());
    assert_eq!(dead_status(&env, &p), "0", "{v}");
    assert!(has_window(&env, "S", &w), "kept window stays: {:?}", windows(&env, "S"));
    let text = pane_text(&env, &p);
    assert!(text.contains("kept"), "{text:?}");
    assert!(!text.contains("[exited"), "no [exited] line after success: {text:?}");

    // --rm and --no-keep-on-fail: a failed window goes
    for knob in ["--rm", "--no-keep-on-fail"] {
        let o = job_run(&env, &["-s", "S", knob, "--wait", "--", "sh", "-c", "exit 3"]);
        assert_eq!(o.status.code(), Some(3), "{knob}: {}", show(&o));
        let w = s(&jobref(&o), "window_id").to_string();
        wait_for(10.0, &format!("{knob}: the failed window to close"), || {
            !has_window(&env, "S", &w)
        });
    }

    // --keep with --rm: usage, nothing started
    let before = windows(&env, "S");
    let o = job_run(&env, &["-s", "S", "--keep", "--rm", "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(o.stdout.is_empty(), "no JobRef: {}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--keep"), "{}", show(&o));
    assert_eq!(windows(&env, "S"), before, "no window opened");
}

#[test]
fn wait_exits_with_the_jobs_code_and_fails_a_makefile_recipe() {
    let Some(env) = Env::with_tmux("jobwait") else { return };
    new_session(&env, "S");
    for (cmd, want) in [
        ("true", 0),
        ("exit 3", 3),
        ("kill -TERM $$", 143),
        ("kill -INT $$", 130),
    ] {
        let o = job_run(&env, &["-s", "S", "--wait", "--", "sh", "-c", cmd]);
        assert_eq!(o.status.code(), Some(want), "{cmd}: {}", show(&o));
        assert_eq!(jobref(&o)["exit_code"], want, "{cmd}: {}", show(&o));
    }

    // a Makefile recipe: `taskmux-run --wait -- ./migrate && deploy`
    let recipe = |job: &str| -> Output {
        let line = format!(
            "{} -L {} -s S -t migrate --wait -- {job} && echo deploy",
            sh_quote(run_bin()),
            sh_quote(&env.socket)
        );
        env.bare("sh")
            .args(["-c", &line])
            .stdin(Stdio::null())
            .output()
            .expect("sh runs")
    };
    let o = recipe("false");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "the recipe fails: {}", show(&o));
    assert!(
        !out.contains("deploy"),
        "no deploy after a failed migration: {}",
        show(&o)
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    let (w, p) = (s(&v, "window_id").to_string(), s(&v, "pane_id").to_string());
    assert_eq!(dead_status(&env, &p), "1", "{v}");
    assert!(
        has_window(&env, "S", &w),
        "the failed window stays to look at: {:?}",
        windows(&env, "S")
    );
    assert!(pane_text(&env, &p).contains("[exited 1]"), "{:?}", pane_text(&env, &p));

    let o = recipe("true");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "deploy"),
        "{}",
        show(&o)
    );
}

#[test]
fn jobref_has_the_documented_shape() {
    let Some(env) = Env::with_tmux("jobref") else { return };
    new_session(&env, "S");

    let v = job_ok(&env, &["-s", "S", "--", "/bin/sleep", "1000"]);
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("JobRef is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["log_file", "pane_id", "session", "tag", "window_id", "window_name"],
        "{v}"
    );
    assert_eq!(s(&v, "session"), "S", "{v}");
    assert!(is_id(s(&v, "window_id"), '@'), "{v}");
    assert!(is_id(s(&v, "pane_id"), '%'), "{v}");
    assert_eq!(s(&v, "tag"), "sleep", "tag defaults to the command's basename: {v}");
    assert!(is_job_name(s(&v, "window_name"), "sleep"), "{v}");
    assert_eq!(v["log_file"], Value::Null, "{v}");
    // the ids and name are the real window's
    let panes = env.tmux(&[
        "list-panes",
        "-t",
        s(&v, "window_id"),
        "-F",
        "#{pane_id} #{window_name}",
    ]);
    assert_eq!(
        panes.trim(),
        format!("{} {}", s(&v, "pane_id"), s(&v, "window_name")),
        "{v}"
    );

    let log = env.root.join("migrate.log");
    let v = job_ok(
        &env,
        &[
            "-s",
            "S",
            "-t",
            "migrate",
            "--log-file",
            &log.to_string_lossy(),
            "--",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(s(&v, "tag"), "migrate", "{v}");
    assert!(is_job_name(s(&v, "window_name"), "migrate"), "{v}");
    assert_eq!(s(&v, "log_file"), log.to_string_lossy(), "{v}");
}

#[test]
fn thirty_concurrent_jobs_make_one_session_and_thirty_windows() {
    let Some(env) = Env::with_tmux("jobmany") else { return };
    let mut kids = Kids(Vec::new());
    for _ in 0..30 {
        let c = job_command(&env, &["-s", "fresh", "--", "sleep", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskmux-run spawns");
        kids.0.push(c);
    }
    let mut refs = Vec::new();
    for c in &mut kids.0 {
        let (mut out, mut err) = (String::new(), String::new());
        c.stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        c.stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read stderr");
        let st = c.wait().expect("wait");
        assert_eq!(st.code(), Some(0), "stdout={out} stderr={err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("JobRef ({e}): {out:?} {err:?}"));
        assert_eq!(s(&v, "session"), "fresh", "{v}");
        assert!(is_job_name(s(&v, "window_name"), "sleep"), "{v}");
        refs.push(v);
    }
    let ids: std::collections::HashSet<&str> = refs.iter().map(|v| s(v, "window_id")).collect();
    let names: std::collections::HashSet<&str> = refs.iter().map(|v| s(v, "window_name")).collect();
    assert_eq!(ids.len(), 30, "distinct window ids: {ids:?}");
    assert_eq!(names.len(), 30, "distinct window names: {names:?}");
    let sessions = env.tmux(&["list-sessions", "-F", "#{session_name}"]);
    assert_eq!(sessions.lines().collect::<Vec<_>>(), ["fresh"], "exactly one session");
    let wins = windows(&env, "fresh");
    assert_eq!(wins.len(), 30, "{wins:?}");
    for (id, name) in &wins {
        assert!(
            ids.contains(id.as_str()) && names.contains(name.as_str()),
            "{id} {name} is a JobRef's"
        );
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmm ` at the start of a line.
fn stamped(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    if b.len() < 24 {
        return None;
    }
    let ok = b[..24].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'.',
        23 => *c == b' ',
        _ => c.is_ascii_digit(),
    });
    ok.then(|| &line[24..])
}

#[test]
fn log_file_gets_timestamped_output_lines() {
    let Some(env) = Env::with_tmux("joblog") else { return };
    new_session(&env, "S");
    let log = env.root.join("logs").join("job.log");
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    let o = job_run(
        &env,
        &[
            "-s",
            "S",
            "--log-file",
            &log.to_string_lossy(),
            "--wait",
            "--",
            "sh",
            "-c",
            "echo first line; echo 'second  line'",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    wait_for(10.0, "both lines in the log file", || read(&log).lines().count() >= 2);
    let text = read(&log);
    let bodies: Vec<&str> = text
        .lines()
        .map(|l| stamped(l).unwrap_or_else(|| panic!("line without a timestamp: {l:?} in {text:?}")))
        .collect();
    assert_eq!(bodies, ["first line", "second  line"], "{text:?}");
}

#[test]
fn window_option_runs_in_an_existing_window() {
    let Some(env) = Env::with_tmux("jobwin") else { return };
    new_session(&env, "S");
    env.tmux(&["new-window", "-d", "-t", "=S:", "-n", "dev", "sleep", "1000"]);
    let dev = windows(&env, "S")
        .into_iter()
        .find(|(_, n)| n == "dev")
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no dev window: {:?}", windows(&env, "S")));

    let v = job_ok(
        &env,
        &[
            "-s",
            "S",
            "--window",
            "dev",
            "--",
            "sh",
            "-c",
            "echo in-dev-window; read x",
        ],
    );
    assert_eq!(s(&v, "window_id"), dev, "{v}");
    assert_eq!(s(&v, "window_name"), "dev", "{v}");
    let pane = s(&v, "pane_id").to_string();
    let panes = || -> Vec<String> {
        env.tmux(&["list-panes", "-t", "=S:=dev", "-F", "#{pane_id}"])
            .lines()
            .map(String::from)
            .collect()
    };
    let now = panes();
    assert_eq!(now.len(), 2, "dev has its pane and the job's: {now:?}");
    assert!(now.contains(&pane), "the job's pane is in dev: {now:?} {v}");
    wait_for(10.0, "the job's output in its pane", || {
        pane_text(&env, &pane).contains("in-dev-window")
    });
    assert_eq!(windows(&env, "S").len(), 2, "no new window: {:?}", windows(&env, "S"));

    // the job succeeds: its pane goes, the window stays
    env.tmux(&["send-keys", "-t", &pane, "Enter"]);
    wait_for(10.0, "the job's pane to close", || panes().len() == 1);
    assert!(has_window(&env, "S", &dev), "{:?}", windows(&env, "S"));

    let o = job_run(&env, &["-s", "S", "--window", "nosuch", "--", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E222]"),
        "{}",
        show(&o)
    );
    assert!(o.stdout.is_empty(), "{}", show(&o));
}

#[test]
fn cwd_and_env_reach_the_job() {
    let Some(env) = Env::with_tmux("jobcwd") else { return };
    new_session(&env, "S");
    let dir = env.root.join("work dir");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = env.root.join("seen.txt");
    let o = job_run(
        &env,
        &[
            "-s",
            "S",
            "--cwd",
            &dir.to_string_lossy(),
            "-e",
            "K=a=b  c",
            "-e",
            "TASKMUX_JOB_EXTRA=1",
            "--wait",
            "--",
            "sh",
            "-c",
            r#"pwd -P > "$0"; printf '%s\n' "$K" "$TASKMUX_JOB_EXTRA" >> "$0""#,
            &out.to_string_lossy(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let want_dir = dir.canonicalize().expect("canonical");
    let text = read(&out);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [want_dir.to_string_lossy().as_ref(), "a=b  c", "1"],
        "{text:?}"
    );

    for bad in ["NOEQUALS", "=v"] {
        let o = job_run(&env, &["-s", "S", "-e", bad, "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "-e {bad}: {}", show(&o));
        assert!(o.stdout.is_empty(), "{}", show(&o));
    }
}

#[test]
fn session_comes_from_taskmux_toml_or_the_run_fails_with_e300() {
    let Some(env) = Env::with_tmux("jobplace") else { return };
    env.config(
        r#"name = "proj"
[tasks.idle]
command = "sleep 1000"
auto_start = false
"#,
    );
    let v = job_ok(&env, &["--keep", "--", "true"]);
    assert_eq!(s(&v, "session"), "proj", "{v}");
    assert!(
        has_window(&env, "proj", s(&v, "window_id")),
        "{:?}",
        windows(&env, "proj")
    );

    // found upward from a subdirectory, like git
    let sub = env.project.join("a").join("b");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let o = job_command(&env, &["--keep", "--", "true"])
        .current_dir(&sub)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v = jobref(&o);
    assert_eq!(s(&v, "session"), "proj", "{v}");
    assert!(
        has_window(&env, "proj", s(&v, "window_id")),
        "{:?}",
        windows(&env, "proj")
    );

    // no taskmux.toml here or above, no -s, no -w
    let empty = env.root.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let o = job_command(&env, &["--", "true"])
        .current_dir(&empty)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[E300]"), "{}", show(&o));
    assert!(
        err.lines().any(|l| l.starts_with("  hint: ") && l.contains("-s")),
        "{}",
        show(&o)
    );
    let o = job_command(&env, &["--json", "--", "true"])
        .current_dir(&empty)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v = jobref(&o);
    assert_eq!(v["code"], "E300", "{v}");
    assert_eq!(v["ok"], false, "{v}");

    // no command
    for args in [&["-s", "S", "--"][..], &["-s", "S"][..]] {
        let o = job_run(&env, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
    }
    let o = env.run(&["run", "-s", "S", "--"]);
    assert_eq!(o.status.code(), Some(2), "taskmux run: {}", show(&o));
    assert!(windows(&env, "S").is_empty(), "no session S made");
}

#[test]
fn tmuxp_workspace_loads_once_and_jobs_land_in_it() {
    let Some(venv) = crate::tmuxp::venv_bin() else {
        return;
    };
    let env = Env::new("jobtmuxp");
    let ws = env.root.join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let name = format!("ws-{}", std::process::id());
    std::fs::write(
        ws.join(".tmuxp.yaml"),
        format!(
            "session_name: {name}\nstart_directory: {}\nshell_command_before:\n  - echo before\n\
             environment:\n  FOO: bar\nwindows:\n  - window_name: editor\n    layout: even-horizontal\n    panes:\n      \
             - sleep 1000\n      - sleep 1000\n  - window_name: server\n    panes:\n      - shell_command:\n          \
             - sleep 1000\n",
            ws.display()
        ),
    )
    .expect("write workspace");

    let ws_s = ws.to_string_lossy().into_owned();
    let mut kids = Kids(Vec::new());
    for _ in 0..2 {
        let c = job_command(&env, &["-w", &ws_s, "--keep", "--", "true"])
            .env("PATH", crate::tmuxp::path_with(&venv))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskmux-run spawns");
        kids.0.push(c);
    }
    let mut ids = Vec::new();
    for c in &mut kids.0 {
        let (mut out, mut err) = (String::new(), String::new());
        c.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
        c.stderr.take().expect("stderr").read_to_string(&mut err).expect("read");
        assert_eq!(c.wait().expect("wait").code(), Some(0), "stdout={out} stderr={err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("JobRef ({e}): {out:?} {err:?}"));
        assert_eq!(s(&v, "session"), name, "{v}");
        ids.push(s(&v, "window_id").to_string());
    }
    let sessions = env.tmux(&["list-sessions", "-F", "#{session_name}"]);
    assert_eq!(sessions.lines().collect::<Vec<_>>(), [name.as_str()], "one session");
    let wins = windows(&env, &name);
    let count = |n: &str| wins.iter().filter(|(_, w)| w == n).count();
    assert_eq!(
        (count("editor"), count("server")),
        (1, 1),
        "workspace windows once: {wins:?}"
    );
    assert_eq!(wins.len(), 4, "the workspace's two windows and the two jobs: {wins:?}");
    for id in &ids {
        let (_, n) = wins
            .iter()
            .find(|(w, _)| w == id)
            .unwrap_or_else(|| panic!("{id} in {wins:?}"));
        assert!(is_job_name(n, "true"), "{n}");
    }
    let editor = env.tmux(&["list-panes", "-t", &format!("={name}:=editor"), "-F", "#{pane_id}"]);
    assert_eq!(editor.lines().count(), 2, "editor has its two panes: {editor:?}");
}

#[test]
fn tmuxp_workspace_errors_name_the_file_and_the_package() {
    let Some(env) = Env::with_tmux("jobtmuxperr") else {
        return;
    };
    let bad = env.root.join("bad.tmuxp.yaml");
    std::fs::write(&bad, "windows:\n  - window_name: x\n    panes:\n      - sleep 1000\n").expect("write");
    let o = job_run(&env, &["-w", &bad.to_string_lossy(), "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[E109]"), "{}", show(&o));
    assert!(err.contains(&*bad.to_string_lossy()), "names the file: {}", show(&o));
    assert!(err.contains("session_name"), "{}", show(&o));

    // tmuxp absent: a PATH holding tmux (and sh) but no tmuxp
    let ws = env.root.join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(
        ws.join(".tmuxp.yaml"),
        "session_name: nope\nwindows:\n  - panes:\n      - sleep 1000\n",
    )
    .expect("write");
    let bindir = env.root.join("bin");
    std::fs::create_dir_all(&bindir).expect("mkdir");
    for tool in ["tmux", "sh"] {
        let o = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .expect("sh");
        let real = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(real.starts_with('/'), "{tool} found: {real:?}");
        std::os::unix::fs::symlink(&real, bindir.join(tool)).expect("symlink");
    }
    let path = bindir.to_string_lossy().into_owned();
    let o = Command::new("sh")
        .args(["-c", "command -v tmuxp"])
        .env("PATH", &path)
        .output()
        .expect("sh");
    assert!(!o.status.success(), "tmuxp still on PATH={path}: {}", show(&o));
    let o = job_command(&env, &["-w", &ws.to_string_lossy(), "--", "true"])
        .env("PATH", &path)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[E207]"), "{}", show(&o));
    assert!(
        err.contains("tmuxp") && err.contains("install tmuxp"),
        "names the package: {}",
        show(&o)
    );
    assert!(env.tmux(&["list-sessions"]).trim().is_empty(), "no session made");
}

#[test]
fn jobs_lists_filters_kills_and_waits() {
    let Some(env) = Env::with_tmux("jobslist") else { return };
    new_session(&env, "S");
    let kept = job_ok(&env, &["-s", "S", "-t", "keepme", "--keep", "--", "true"]);
    let bad = job_ok(&env, &["-s", "S", "-t", "bad", "--", "sh", "-c", "exit 4"]);
    let runner = job_ok(&env, &["-s", "S", "-t", "runner", "--", "sleep", "1000"]);
    assert_eq!(dead_status(&env, s(&kept, "pane_id")), "0");
    assert_eq!(dead_status(&env, s(&bad, "pane_id")), "4");

    let (v, code) = env.json(&["jobs", "-s", "S"]);
    assert_eq!(code, 0, "{v}");
    let jobs = v["jobs"].as_array().unwrap_or_else(|| panic!("jobs list: {v}"));
    assert_eq!(jobs.len(), 3, "the three job windows, not the idle one: {v}");
    let find = |j: &Value| -> Value {
        jobs.iter()
            .find(|x| x["window_id"] == j["window_id"])
            .cloned()
            .unwrap_or_else(|| panic!("{j} not listed: {v}"))
    };
    for (j, dead, code) in [
        (&kept, true, Value::from(0)),
        (&bad, true, Value::from(4)),
        (&runner, false, Value::Null),
    ] {
        let l = find(j);
        assert_eq!(l["dead"], dead, "{l}");
        assert_eq!(l["exit_code"], code, "{l}");
        assert_eq!(l["tag"], j["tag"], "{l}");
        assert_eq!(l["window_name"], j["window_name"], "{l}");
        assert_eq!(l["pane_id"], j["pane_id"], "{l}");
        let started = l["started_at"].as_str().unwrap_or_else(|| panic!("started_at: {l}"));
        assert!(started.len() >= 19 && started.as_bytes()[10] == b'T', "{l}");
    }

    let (v, code) = env.json(&["jobs", "-s", "S", "--tag", "bad"]);
    assert_eq!(code, 0, "{v}");
    let only = v["jobs"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(only.len(), 1, "{v}");
    assert_eq!(only[0]["window_id"], bad["window_id"], "{v}");

    let (v, code) = env.json(&["jobs", "kill", "-s", "S", "--tag", "runner"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    wait_for(10.0, "the runner window to go", || {
        !has_window(&env, "S", s(&runner, "window_id"))
    });
    assert!(has_window(&env, "S", s(&kept, "window_id")), "others stay");
    assert!(has_window(&env, "S", s(&bad, "window_id")), "others stay");

    let (v, code) = env.json(&["jobs", "kill", "-s", "S", "--window-id", "@999"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "E220", "{v}");

    // wait on a running job: its code when it ends
    let short = job_ok(&env, &["-s", "S", "-t", "short", "--", "sleep", "1"]);
    let (v, code) = env.json(&["jobs", "wait", "-s", "S", s(&short, "window_id")]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["window_id"], short["window_id"], "{v}");
    // and on a failed, kept one: its code at once
    let (v, code) = env.json(&["jobs", "wait", "-s", "S", s(&bad, "window_id")]);
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["exit_code"], 4, "{v}");
    let (v, code) = env.json(&["jobs", "wait", "-s", "S", "@999"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "E220", "{v}");
}

#[test]
fn send_types_literal_text_into_a_read_loop() {
    let Some(env) = Env::with_tmux("jobsend") else { return };
    env.config(
        r#"name = "sendp"
[tasks.t]
command = "while read l; do echo got:$l >> got.txt; done"
stop_grace_period = 1
[tasks.idle]
command = "sleep 1000"
auto_start = false
"#,
    );
    let (v, code) = env.json(&["start", "t"]);
    assert_eq!(code, 0, "{v}");
    let got = env.project.join("got.txt");

    let (v, code) = env.json(&["send", "t", "hello", "world"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v, serde_json::json!({"ok": true, "task": "t", "action": "sent"}));
    wait_for(10.0, "the first line", || read(&got).lines().count() >= 1);
    assert_eq!(read(&got), "got:hello world\n");

    let (v, code) = env.json(&["send", "--no-enter", "t", "abc"]);
    assert_eq!(code, 0, "{v}");
    let (v, code) = env.json(&["send", "t", "$HOME;x"]);
    assert_eq!(code, 0, "{v}");
    wait_for(10.0, "the second line", || read(&got).lines().count() >= 2);
    assert_eq!(
        read(&got),
        "got:hello world\ngot:abc$HOME;x\n",
        "one line, typed literally"
    );

    let (v, code) = env.json(&["send", "idle", "hi"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "E202", "{v}");
    let (v, code) = env.json(&["stop", "t"]);
    assert_eq!(code, 0, "{v}");
    let o = env.run(&["send", "t", "late"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E202]"),
        "{}",
        show(&o)
    );
}

/// Writes a project with two idle tasks.
fn attach_config(env: &Env) {
    env.config(
        r#"name = "att"
[tasks.t]
command = "sleep 1000"
stop_grace_period = 1
[tasks.u]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
}

/// Starts the project; returns the window id of task `u`.
fn attach_start(env: &Env) -> String {
    env.started();
    let (i, code) = env.json(&["inspect", "u"]);
    assert_eq!(code, 0, "{i}");
    s(&i, "window_id").to_string()
}

#[test]
fn attach_outside_tmux_attaches_a_client_to_the_task_window() {
    let Some(env) = Env::with_tmux("jobattach") else { return };
    if !require("script", &["script", "--version"]) {
        return;
    }
    attach_config(&env);
    let o = env.run(&["attach"]);
    assert_eq!(o.status.code(), Some(1), "no session yet: {}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E300]"),
        "{}",
        show(&o)
    );

    let u = attach_start(&env);
    // no terminal: refused before tmux runs, with its code
    let o = env.run(&["attach", "u"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E503]"),
        "{}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a terminal"),
        "{}",
        show(&o)
    );

    // on a real pty: a client on the project's session, showing u's window
    let line = format!("{} -L {} attach u", sh_quote(bin()), sh_quote(&env.socket));
    let mut pty = Pty::spawn(&env, &line);
    wait_for(10.0, "a client on att showing u", || {
        clients(&env) == [format!("att {u}")]
    });
    env.tmux(&["detach-client", "-s", "=att"]);
    wait_for(10.0, "the client to detach and attach to return", || {
        clients(&env).is_empty() && pty.child.try_wait().ok().flatten().is_some()
    });
}

#[test]
fn attach_inside_a_tmux_pane_switches_the_client() {
    let Some(env) = Env::with_tmux("jobswitch") else { return };
    if !require("script", &["script", "--version"]) {
        return;
    }
    attach_config(&env);
    let u = attach_start(&env);
    env.tmux(&[
        "new-session",
        "-d",
        "-s",
        "outer",
        "-c",
        &env.project.to_string_lossy(),
        "sleep 1000",
    ]);
    let line = format!("tmux -L {} attach-session -t =outer", sh_quote(&env.socket));
    let _pty = Pty::spawn(&env, &line);
    wait_for(10.0, "a client on outer", || {
        clients(&env).first().is_some_and(|c| c.starts_with("outer "))
    });
    // a pane of the test server runs `taskmux attach u` (TMUX set by tmux itself)
    let cmd = format!("{} -L {} attach u; sleep 1000", sh_quote(bin()), sh_quote(&env.socket));
    env.tmux(&[
        "respawn-pane",
        "-k",
        "-t",
        "=outer:",
        "-c",
        &env.project.to_string_lossy(),
        &cmd,
    ]);
    wait_for(10.0, "the client switched to att, showing u", || {
        clients(&env) == [format!("att {u}")]
    });
    assert_eq!(
        env.tmux(&["list-sessions", "-F", "#{session_name}"]).lines().count(),
        2,
        "no nested or new session"
    );
}

#[test]
fn jobs_wait_on_a_just_failed_job_returns_its_code() {
    // tmux shows a pane dead (end of output) a moment before it knows the exit status;
    // `jobs wait` caught in that moment must still answer with the job's code
    let Some(env) = Env::with_tmux("jobrace") else { return };
    new_session(&env, "S");
    let mut caught = 0;
    for _ in 0..20 {
        let v = job_ok(&env, &["-s", "S", "--", "sh", "-c", "exit 4"]);
        let w = s(&v, "window_id").to_string();
        let mut state = String::new();
        wait_for(10.0, "the failed job's pane to be dead", || {
            state = env.tmux(&["display-message", "-p", "-t", &w, "#{pane_dead}|#{pane_dead_status}"]);
            state.starts_with("1|")
        });
        if state.trim() != "1|" {
            continue;
        }
        caught += 1;
        let (r, code) = env.json(&["jobs", "wait", "-s", "S", &w]);
        assert_eq!(
            (code, r["exit_code"].clone()),
            (4, Value::from(4)),
            "jobs wait on a job that exited 4, while tmux had it dead without a status yet: {r}"
        );
    }
    eprintln!("caught the dead-without-status moment {caught} times of 20");
}

#[test]
fn wait_returns_for_a_job_in_a_server_started_with_another_home() {
    // the server (and so every pane) was started without this world's TASKMUX_HOME: the
    // job's wrapper must still report its end to the waiter (the spec carries the home)
    let Some(env) = Env::with_tmux("jobhome") else { return };
    let other = env.root.join("otherhome");
    std::fs::create_dir_all(&other).expect("mkdir");
    let o = Command::new("tmux")
        .args(["-L", &env.socket, "new-session", "-d", "-s", "S", "sleep", "1000"])
        .env_remove("TASKMUX_HOME")
        .env("HOME", &other)
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .output()
        .expect("tmux runs");
    assert!(o.status.success(), "{}", show(&o));
    let mut kids = Kids(vec![
        job_command(&env, &["-s", "S", "--wait", "--", "true"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskmux-run spawns"),
    ]);
    let mut status = None;
    let waited = std::time::Instant::now();
    while waited.elapsed() < std::time::Duration::from_secs(5) && status.is_none() {
        status = kids.0[0].try_wait().expect("try_wait");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let c = &mut kids.0[0];
    let (mut out, mut err) = (String::new(), String::new());
    if status.is_some() {
        c.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
        c.stderr.take().expect("stderr").read_to_string(&mut err).expect("read");
    }
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "taskmux-run --wait -- true returns 0 within 5 s (the job window closed at once): stdout={out} stderr={err}"
    );
}

#[test]
fn back_to_back_jobs_into_a_session_that_ends_with_each_job() {
    // each job is its session's only window: the session, and the server, end with it,
    // so the next call can meet a server on its way out; it must make them again
    let Some(env) = Env::with_tmux("jobb2b") else { return };
    let mut failures = Vec::new();
    for i in 0..60 {
        let o = job_run(&env, &["-s", "T", "--wait", "--", "true"]);
        if o.status.code() != Some(0) {
            failures.push(format!("call {i}: {}", show(&o)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 60 back-to-back `taskmux-run -s T --wait -- true` failed; first: {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn wait_ends_when_the_jobs_wrapper_is_killed() {
    // the wrapper dies by SIGKILL without its record: the waiter must not hang, and the
    // listing must still say how the job ended (128+9)
    let Some(env) = Env::with_tmux("jobwrapkill") else {
        return;
    };
    let o = job_run(&env, &["-s", "wk", "--", "sleep", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = jobref(&o);
    let pane = r["pane_id"].as_str().expect("pane id").to_string();
    let pid: i32 = env
        .tmux(&["display", "-p", "-t", &pane, "#{pane_pid}"])
        .trim()
        .parse()
        .expect("pane pid");
    let mut waiter = Kids(vec![
        env.command(&["--json", "jobs", "-s", "wk", "wait", &pane])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawns"),
    ]);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid > 0"),
        rustix::process::Signal::KILL,
    )
    .expect("kill the wrapper");
    let mut status = None;
    wait_for(10.0, "jobs wait to return after the wrapper was killed", || {
        status = waiter.0[0].try_wait().expect("try_wait");
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(137), "128+SIGKILL");
    let (v, _) = env.json(&["jobs", "-s", "wk"]);
    let job = v["jobs"]
        .as_array()
        .and_then(|a| a.iter().find(|j| j["pane_id"] == pane.as_str()).cloned());
    assert_eq!(job.map(|j| j["exit_code"].clone()), Some(Value::from(137)), "{v}");
}

#[test]
fn jobs_kill_ends_a_child_that_left_the_jobs_group() {
    let Some(env) = Env::with_tmux("jobkillsetsid") else {
        return;
    };
    let pidfile = env.project.join("escaped.pid");
    let script = format!("setsid sleep 1000 & echo $! > '{}'; wait", pidfile.display());
    let o = job_run(&env, &["-s", "ks", "-t", "esc", "--", "sh", "-c", &script]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    wait_for(5.0, "the escaped child's pid", || {
        read(&pidfile).trim().parse::<i32>().is_ok()
    });
    let pid: i32 = read(&pidfile).trim().parse().expect("pid");
    assert!(crate::harness::alive(pid), "the escaped child runs");
    let (v, code) = env.json(&["jobs", "-s", "ks", "kill", "--tag", "esc"]);
    assert_eq!(code, 0, "{v}");
    wait_for(5.0, "the escaped child to be gone", || !crate::harness::alive(pid));
}

/// Whether this world's tmux server answers.
fn server_up(env: &Env) -> bool {
    Command::new("tmux")
        .args(["-L", &env.socket, "list-sessions"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn session_names_tmux_would_misread_are_refused_before_anything_starts() {
    // `$x` is a session id to tmux, a newline splits its answers: the job used to start
    // anyway, unlisted and unkillable, while taskmux-run said E204 "nothing started"
    let Some(env) = Env::with_tmux("jobsessname") else {
        return;
    };
    let marker = env.root.join("ran");
    let touch = format!("touch '{}'; sleep 1000", marker.display());
    for name in ["$x", "$0", "@1", "%2", "a\nb", "tab\there", "a:b", "a.b", ""] {
        let o = job_run(&env, &["-s", name, "--", "sh", "-c", &touch]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "-s {name:?}: {}", show(&o));
        assert!(
            err.contains("E500") && err.contains("session name"),
            "-s {name:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "-s {name:?}: no JobRef: {}", show(&o));
        // nothing started: no server (so no window), no job process
        assert!(!server_up(&env), "-s {name:?} started a tmux server");
        assert!(!marker.exists(), "-s {name:?}: the job ran");
        assert!(env.our_processes().is_empty(), "-s {name:?}: processes left");
    }
    let (v, code) = env.json(&["jobs", "-s", "$x"]);
    assert_eq!((code, v["code"].as_str()), (2, Some("E500")), "{v}");
}

#[test]
fn a_failed_jobs_window_keeps_its_output_every_time() {
    // tmux's "Pane is dead" line is written after a line feed at the bottom, which scrolled
    // the job's first line out of the visible screen: only [exited 3] was left to read
    let Some(env) = Env::with_tmux("jobvisible") else {
        return;
    };
    let mut panes = Vec::new();
    for _ in 0..10 {
        let o = job_run(
            &env,
            &[
                "-s",
                "vis",
                "--wait",
                "-t",
                "bad",
                "--",
                "sh",
                "-c",
                "echo visible; exit 3",
            ],
        );
        assert_eq!(o.status.code(), Some(3), "{}", show(&o));
        panes.push(s(&jobref(&o), "pane_id").to_string());
    }
    for p in &panes {
        assert_eq!(dead_status(&env, p), "3");
        let screen = env.tmux(&["capture-pane", "-p", "-t", p]);
        let lines: Vec<&str> = screen.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert!(
            lines.len() >= 2 && lines[0] == "visible" && lines[1] == "[exited 3]",
            "pane {p} shows the job's output and [exited 3]: {screen:?}"
        );
    }
}

/// The text lines of a log file, timestamps removed.
fn log_bodies(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .map(|l| stamped(l).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn wait_with_a_log_file_returns_once_the_log_holds_the_last_line() {
    let Some(env) = Env::with_tmux("joblogwait") else {
        return;
    };
    let dir = env.root.join("logs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut missing = Vec::new();
    for i in 0..30 {
        let log = dir.join(format!("{i}.log"));
        // odd runs fail, so their window stays (its pipe to the writer stays open too)
        let (script, code) = if i % 2 == 0 {
            ("seq 1 300".to_string(), 0)
        } else {
            ("seq 1 300; exit 3".to_string(), 3)
        };
        let o = job_run(
            &env,
            &[
                "-s",
                "lw",
                "--wait",
                "--log-file",
                &log.to_string_lossy(),
                "--",
                "sh",
                "-c",
                &script,
            ],
        );
        assert_eq!(o.status.code(), Some(code), "{}", show(&o));
        // read at once: --wait has returned, so the log must be complete now
        let bodies = log_bodies(&log);
        let want_last = if code == 0 { "300" } else { "[exited 3]" };
        let complete =
            bodies.len() == if code == 0 { 300 } else { 301 } && bodies.last().map(String::as_str) == Some(want_last);
        if !complete {
            // seen once in ~10 suite runs (run 0: 0 lines), never in ~2,000 runs of this
            // test alone or beside others: say whether the log came later (--wait returned
            // early) or never (the writer wrote nothing), and what the events say
            let size = std::fs::metadata(&log).map(|m| m.len());
            let t = std::time::Instant::now();
            while log_bodies(&log).len() < bodies.len().max(300) && t.elapsed().as_secs() < 2 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let later = format!("{} lines after {:?}", log_bodies(&log).len(), t.elapsed());
            let evs = env.events();
            missing.push(format!(
                "run {i}: {} lines, last {:?}; size then {size:?}; {later}; last events {:?}",
                bodies.len(),
                bodies.last(),
                &evs[evs.len().saturating_sub(2)..]
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "--wait returned before the log was complete: {missing:?}"
    );
}

#[test]
fn log_file_is_never_written_through_a_symlink_and_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(env) = Env::with_tmux("joblogsym") else { return };
    let target = env.root.join("precious");
    std::fs::write(&target, "keep me\n").expect("write");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let link = env.root.join("job.log");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let marker = env.root.join("ran");
    let o = job_run(
        &env,
        &[
            "-s",
            "sym",
            "--log-file",
            &link.to_string_lossy(),
            "--",
            "sh",
            "-c",
            &format!("touch '{}'; echo secret", marker.display()),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(err.contains("E104") && err.contains("symbolic link"), "{err}");
    assert!(!server_up(&env) && !marker.exists(), "nothing started: {}", show(&o));
    assert_eq!(read(&target), "keep me\n", "the link's target is untouched");

    // the writer itself never follows a link put at the path (after the check)
    let mut w = Command::new(crate::harness::bin())
        .args(["__log", &link.to_string_lossy(), "100000", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("__log runs");
    {
        use std::io::Write;
        let mut stdin = w.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"through the link\n");
    }
    let _ = w.wait();
    assert_eq!(read(&target), "keep me\n", "the writer did not write through the link");

    // a new log file is 0600, whatever the umask gives
    let log = env.root.join("new.log");
    let o = job_run(
        &env,
        &[
            "-s",
            "sym",
            "--wait",
            "--log-file",
            &log.to_string_lossy(),
            "--",
            "echo",
            "hi",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let mode = std::fs::metadata(&log).expect("log exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "new log file mode");
}

#[test]
fn job_started_is_recorded_before_job_finished_even_for_instant_jobs() {
    let Some(env) = Env::with_tmux("jobevorder") else {
        return;
    };
    new_session(&env, "S");
    let n = 20;
    for i in 0..n {
        job_ok(&env, &["-s", "S", "-t", &format!("t{i}"), "--", "true"]);
    }
    wait_for(20.0, "every job_finished event", || {
        env.events().iter().filter(|e| e["event"] == "job_finished").count() >= n
    });
    let evs = env.events();
    for i in 0..n {
        let tag = format!("t{i}");
        let at = |kind: &str| evs.iter().position(|e| e["event"] == kind && e["tag"] == tag.as_str());
        let (started, finished) = (at("job_started"), at("job_finished"));
        assert!(
            started.is_some() && finished.is_some() && started < finished,
            "job {tag}: job_started at {started:?}, job_finished at {finished:?}"
        );
        let e = &evs[started.unwrap_or(0)];
        assert!(is_id(s(e, "window_id"), '@') && is_id(s(e, "pane_id"), '%'), "{e}");
    }
}

/// Pid from a file the job wrote, once it is there.
fn pid_in(path: &Path) -> i32 {
    wait_for(10.0, "the job's pid file", || read(path).trim().parse::<i32>().is_ok());
    read(path).trim().parse().expect("pid")
}

#[test]
fn a_job_ends_with_its_window_or_server_and_its_exit_is_recorded() {
    if !require_tmux() {
        return;
    }
    // the wrapper swallowed the SIGHUP of a closing pane, and its job ran on; a job that
    // ignores SIGHUP must be ended too (TERM, then KILL)
    for how in ["kill-window", "kill-server"] {
        let env = Env::new("jobhup");
        new_session(&env, "S");
        let pidfile = env.root.join("job.pid");
        let script = format!(
            "trap '' HUP; sleep 1000 & echo $! > '{}'; wait; sleep 1000",
            pidfile.display()
        );
        let v = job_ok(&env, &["-s", "S", "-t", "hup", "--", "sh", "-c", &script]);
        let (w, p) = (s(&v, "window_id").to_string(), s(&v, "pane_id").to_string());
        let pid = pid_in(&pidfile);
        // the pane's own process: the wrapper, which records the end and then goes
        let wrapper: i32 = env
            .tmux(&["display-message", "-p", "-t", &p, "#{pane_pid}"])
            .trim()
            .parse()
            .expect("the pane's pid");
        let mut waiter = Kids(vec![
            env.command(&["--json", "jobs", "-s", "S", "wait", &p])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("jobs wait runs"),
        ]);
        // the waiter has found the job once it waits on the job's tmux channel
        wait_for(10.0, "jobs wait to wait on the job's channel", || {
            std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c).replace('\0', " ");
                    c.contains(&env.socket) && c.contains("wait-for taskmux-job-")
                })
            })
        });
        if how == "kill-window" {
            env.tmux(&["kill-window", "-t", &w]);
        } else {
            env.tmux(&["kill-server"]);
        }
        wait_for(10.0, &format!("{how}: the job's processes to be gone"), || {
            !crate::harness::alive(pid)
        });
        let mut status = None;
        wait_for(10.0, &format!("{how}: jobs wait to return"), || {
            status = waiter.0[0].try_wait().expect("try_wait");
            status.is_some()
        });
        let mut out = String::new();
        waiter.0[0]
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        let code = status.and_then(|s| s.code());
        assert!(
            code.is_some_and(|c| c > 128),
            "{how}: jobs wait answers with the job's signal exit, not 'gone': {code:?} {out}"
        );
        wait_for(10.0, &format!("{how}: the job_finished event"), || {
            env.events()
                .iter()
                .any(|e| e["event"] == "job_finished" && e["tag"] == "hup")
        });
        // the wrapper records job_finished and signals the waiters before it exits (its
        // last tmux call may still run): nothing of the pane is left once it has gone
        wait_for(10.0, &format!("{how}: the wrapper to exit"), || {
            !crate::harness::alive(wrapper)
        });
        let pane_entry = format!("TMUX_PANE={p}");
        let left: Vec<i32> = env
            .our_processes()
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|e| e.split(|b| *b == 0).any(|x| x == pane_entry.as_bytes()))
            })
            .collect();
        assert!(left.is_empty(), "{how}: processes of the job's pane left: {left:?}");
    }
}

/// A window or pane id names one job on the whole tmux server (ids are unique per server):
/// `jobs wait @7` from the project finds the job `taskmux-run -s scratch` started, where it
/// said `Job '@7' not found in session 'fullstack'`. A name is looked for in the project's
/// session, and the hint names `-s` for another.
#[test]
fn jobs_wait_finds_a_job_of_another_session_by_its_id() {
    let Some(env) = Env::with_tmux("jobanyid") else { return };
    env.tasks("jobanyid", &[("api", "sleep 1000")]);
    assert!(env.run(&["start"]).status.success());
    let job = |tag: &str, code: u8| {
        let v = job_ok(
            &env,
            &[
                "-s",
                "scratch",
                "-t",
                tag,
                "--",
                "sh",
                "-c",
                &format!("sleep 0.5; exit {code}"),
            ],
        );
        assert_eq!(s(&v, "session"), "scratch", "{v}");
        v
    };
    let a = job("a", 3);
    let o = env.run(&["jobs", "wait", s(&a, "window_id")]);
    assert_eq!(o.status.code(), Some(3), "by window id: {}", show(&o));
    let b = job("b", 4);
    let (v, code) = env.json(&["jobs", "wait", s(&b, "pane_id")]);
    assert_eq!(
        (code, &v["session"], &v["exit_code"]),
        (4, &json!("scratch"), &json!(4)),
        "{v}"
    );

    // from a directory with no taskmux.toml, where no session is implied at all
    let c = job("c", 5);
    let mut cmd = env.command(&["jobs", "wait", s(&c, "window_id")]);
    cmd.current_dir(&env.root);
    let o = cmd.output().expect("taskmux runs");
    assert_eq!(o.status.code(), Some(5), "{}", show(&o));

    // kill by id, the same
    let d = job("d", 0);
    let (v, code) = env.json(&["jobs", "kill", "--window-id", s(&d, "window_id")]);
    assert_eq!((code, &v["jobs"]), (0, &json!([s(&d, "window_id")])), "{v}");

    // a name of another session is not guessed: the hint says how to name its session
    let e = job("e", 6);
    let o = env.run(&["jobs", "wait", s(&e, "window_name")]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E220]") && err.contains("not found in session 'jobanyid'"),
        "{}",
        show(&o)
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("  hint: ") && l.contains("-s SESSION")),
        "{}",
        show(&o)
    );
    let o = env.run(&["jobs", "wait", "-s", "scratch", s(&e, "window_name")]);
    assert_eq!(o.status.code(), Some(6), "{}", show(&o));
    // an id no window has: E220, saying so
    let (v, code) = env.json(&["jobs", "wait", "@99999"]);
    assert_eq!((code, &v["code"]), (1, &json!("E220")), "{v}");
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("no window or pane")),
        "{v}"
    );
}
