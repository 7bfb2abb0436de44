//! Jobs: fire-and-forget commands in tagged tmux windows (`job:<tag>:<timestamp>`). Where
//! the job runs (a project, a session, a tmuxp workspace), the `__job` wrapper that runs
//! the argv, reports its end and cleans up, and listing, killing and waiting.

use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::tmux::{Cmd, SEP, Tmux};
use crate::{cmd, events, paths};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// What happens to a job's window when the job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// Keep the window after success.
    pub keep_on_success: bool,
    /// Keep the window after failure (with `[exited N]`).
    pub keep_on_failure: bool,
}

/// Everything `taskmux-run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The session to run in.
    pub session: String,
    /// How to create the session when it is missing: a tmuxp workspace file, else a plain
    /// session whose first window is the job.
    pub workspace: Option<PathBuf>,
    /// The tag (defaults to the command's basename).
    pub tag: String,
    /// The command, as argv.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Log the output to this file through the log writer.
    pub log_file: Option<PathBuf>,
    /// Run in this existing window (a new pane) instead of a new window.
    pub window: Option<String>,
    /// Window cleanup.
    pub cleanup: Cleanup,
}

/// A started job, as printed (the JobRef).
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRef {
    /// Session.
    pub session: String,
    /// `@N`.
    pub window_id: String,
    /// `%N`.
    pub pane_id: String,
    /// `job:<tag>:<stamp>` (or the existing window's name with `--window`).
    pub window_name: String,
    /// The tag.
    pub tag: String,
    /// The log file, if any.
    pub log_file: Option<PathBuf>,
    /// The id the wrapper reports the end under.
    #[serde(skip)]
    pub id: String,
    /// The job's exit code, once it has ended and someone waited for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl JobRef {
    /// The JobRef JSON of REFERENCE section 4.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Makes a tag safe for a window name: no `:`, `.`, spaces or control characters.
pub fn clean_tag(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let t = t.trim_matches('-').to_string();
    if t.is_empty() { "job".into() } else { t }
}

/// The default tag: the command's basename.
pub fn default_tag(argv: &[String]) -> String {
    clean_tag(argv.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("job"))
}

/// Where job specs and exit records live: `<home>/jobs`. The wrapper finds the state
/// directory from its spec's path, so the spec needs to carry none.
fn jobs_dir(home: &Path) -> PathBuf {
    home.join("jobs")
}

/// The file the wrapper writes the job's exit code to.
fn exit_file(home: &Path, id: &str) -> PathBuf {
    jobs_dir(home).join(format!("{id}.exit"))
}

/// The lock that orders a job's events: see [`run`].
fn started_lock_path(home: &Path, id: &str) -> PathBuf {
    home.join("locks").join(format!("job-{id}.lock"))
}

fn started_lock(home: &Path, id: &str) -> Result<paths::Lock> {
    paths::lock_in(home, &format!("job-{id}"))
}

/// The tmux channel the wrapper signals when the job ends.
fn channel(id: &str) -> String {
    format!("taskmux-job-{id}")
}

/// A window name unique in the session: `job:<tag>:<YYYYmmdd-HHMMSS>`, with `-N` added
/// when another job of this state directory took that second already.
fn allocate_name(home: &Path, session: &str, tag: &str) -> Result<(String, String)> {
    // the clock is read under the lock, so the seconds seen in turn never go back and a
    // name once given is never given again
    let _lock = paths::lock_in(home, &format!("{session}.jobs"))?;
    let now = paths::now_secs();
    let iso = paths::iso_time(now); // 2026-02-11T14:30:12.123456+00:00
    let stamp = format!(
        "{}{}{}-{}{}{}",
        &iso[0..4],
        &iso[5..7],
        &iso[8..10],
        &iso[11..13],
        &iso[14..16],
        &iso[17..19]
    );
    let seq_path = home.join("locks").join(format!("{session}.jobseq"));
    let prev = std::fs::read_to_string(&seq_path).unwrap_or_default();
    let (last, n) = prev.split_once(' ').unwrap_or(("", "0"));
    // a clock set back keeps counting on the last second rather than reusing a name
    let (stamp, n): (String, u64) = if last >= stamp.as_str() && !last.is_empty() {
        (last.to_string(), n.trim().parse::<u64>().unwrap_or(0) + 1)
    } else {
        (stamp, 1)
    };
    std::fs::write(&seq_path, format!("{stamp} {n}")).map_err(|e| Error::io("write", &seq_path, e))?;
    let name = if n == 1 {
        format!("job:{tag}:{stamp}")
    } else {
        format!("job:{tag}:{stamp}-{n}")
    };
    let id = format!("{}-{}-{n}", stamp, std::process::id());
    Ok((name, id))
}

/// The session named in a tmuxp workspace (`.tmuxp.yaml`, `.yml`, `.json`, or a directory
/// holding one). Only `session_name` is read; every other key is tolerated.
pub fn workspace_session(path: &Path) -> Result<(PathBuf, String)> {
    let file = if path.is_dir() {
        [
            ".tmuxp.yaml",
            ".tmuxp.yml",
            ".tmuxp.json",
            "tmuxp.yaml",
            "tmuxp.yml",
            "tmuxp.json",
        ]
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::from(Kind::Workspace(format!(
                "No tmuxp workspace (.tmuxp.yaml, .yml or .json) in {}",
                path.display()
            )))
        })?
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::from(Kind::Workspace(format!(
            "Cannot read tmuxp workspace {}: {e}",
            file.display()
        )))
        .hint("pass -w with a .tmuxp.yaml/.yml/.json file or a directory holding one")
    })?;
    let name = if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["session_name"].as_str().map(str::to_string))
    } else {
        text.lines().find_map(|l| {
            // a top-level key: no indentation
            let rest = l.strip_prefix("session_name:")?;
            let v = rest.split(" #").next().unwrap_or("").trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    let abs = std::path::absolute(&file).unwrap_or(file.clone());
    match name {
        Some(n) => Ok((abs, n)),
        None => Err(Error::from(Kind::Workspace(format!(
            "tmuxp workspace {} has no session_name",
            file.display()
        )))
        .hint("add a top-level 'session_name: NAME' to the workspace")),
    }
}

/// Creates the session from a tmuxp workspace under the session's flock, unless it exists.
fn load_workspace(ctx: &Ctx, session: &str, file: &Path) -> Result<()> {
    let tmux = &ctx.tmux;
    let _lock = paths::lock_in(&ctx.home, session)?;
    if tmux.has_session(session)? {
        return Ok(());
    }
    let tmuxp = tmux.find("tmuxp").ok_or_else(|| {
        Error::from(Kind::Tmuxp(
            "tmuxp is not installed (needed to create a session from a tmuxp workspace)".into(),
        ))
        .hint("install it: 'apt-get install tmuxp' (Debian/Ubuntu), 'pip install tmuxp' or 'brew install tmuxp'")
    })?;
    let mut c = std::process::Command::new(tmuxp);
    c.arg("load").arg("-d").arg("-y");
    if let Some(s) = &tmux.socket {
        c.arg("-L").arg(s);
    }
    c.arg(file).stdin(std::process::Stdio::null());
    let out = c
        .output()
        .map_err(|e| Error::from(Kind::Tmuxp(format!("cannot run tmuxp: {e}"))))?;
    if !tmux.has_session(session)? {
        return Err(Error::from(Kind::Tmuxp(format!(
            "tmuxp load {} did not create session '{session}': {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))));
    }
    Ok(())
}

/// Starts a job: writes its spec, makes its window in one tmux invocation (creating the
/// session when it is missing), and returns its JobRef.
pub fn run(ctx: &Ctx, req: &RunRequest) -> Result<JobRef> {
    if req.argv.is_empty() {
        return Err(Error::from(Kind::Usage("no command after --".into()))
            .hint("usage: taskmux-run [OPTIONS] -- CMD [ARGS...]"));
    }
    let exe = crate::task::self_exe()?;
    let (name, id) = allocate_name(&ctx.home, &req.session, &req.tag)?;
    let spec_path = write_job_spec(ctx, req, &id)?;
    let wrapper = [
        exe.to_string_lossy().into_owned(),
        "__job".into(),
        spec_path.to_string_lossy().into_owned(),
    ];
    let chain = job_chain(req, &name, &id, &exe, &wrapper)?;
    // held from before the window exists until job_started is written: the wrapper takes
    // it before it writes job_finished, so even an instant job's events come in order, and
    // job_started still carries the ids tmux gave (a caller that dies releases it)
    let started = started_lock(&ctx.home, &id)?;
    let out = match run_job_chain(ctx, req, &chain) {
        Ok(out) => out,
        Err(e) => {
            drop(started);
            let _ = std::fs::remove_file(started_lock_path(&ctx.home, &id));
            return Err(e);
        }
    };
    let mut f = out.lines().next().unwrap_or("").splitn(3, SEP);
    let window_id = f.next().unwrap_or("").to_string();
    let pane_id = f.next().unwrap_or("").to_string();
    let window_name = f.next().unwrap_or(&name).to_string();
    ctx.events.emit(
        "job_started",
        &req.session,
        None,
        json!({"tag": req.tag, "window_id": window_id, "pane_id": pane_id, "window_name": window_name, "argv": req.argv}),
    );
    drop(started);
    Ok(JobRef {
        session: req.session.clone(),
        window_id,
        pane_id,
        window_name,
        tag: req.tag.clone(),
        log_file: req.log_file.clone(),
        id,
        exit_code: None,
    })
}

/// Writes what the `__job` wrapper runs: argv, directory, the caller's environment with the
/// job's `-e` on top, where to report, and what to keep. Its path tells the wrapper the
/// state directory.
fn write_job_spec(ctx: &Ctx, req: &RunRequest, id: &str) -> Result<PathBuf> {
    let spec_path = jobs_dir(&ctx.home).join(format!("{id}.json"));
    let mut env = ctx.env.clone();
    crate::task::merge_env(&mut env, req.env.iter().cloned());
    let spec = json!({
        "argv": req.argv, "cwd": req.cwd, "env": env.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
        "id": id, "session": req.session, "tag": req.tag, "socket": ctx.tmux.socket,
        "keep_on_success": req.cleanup.keep_on_success, "keep_on_failure": req.cleanup.keep_on_failure,
    });
    paths::write_replace(&spec_path, spec.to_string().as_bytes(), 0o600)?;
    let _ = std::fs::remove_file(exit_file(&ctx.home, id));
    Ok(spec_path)
}

/// The variable in the environment of a job's log writer: the job's id.
const LOG_MARK: &str = "TASKMUX_LOG_JOB";

/// The job's pane, then its options and pipe, in one command list: nothing can end the job
/// before remain-on-exit is on or print before the pipe is attached.
fn job_chain(req: &RunRequest, name: &str, id: &str, exe: &Path, wrapper: &[String]) -> Result<Vec<Cmd>> {
    let session = &req.session;
    let cwd = req.cwd.to_string_lossy().into_owned();
    let ids = format!("#{{window_id}}{SEP}#{{pane_id}}{SEP}#{{window_name}}");
    let (first, target, opt_scope): (Cmd, String, &str) = match &req.window {
        Some(w) => {
            // a window id is taken as it is; a name must be one tmux's target syntax keeps whole
            let win = if w.starts_with('@') && w[1..].bytes().all(|b| b.is_ascii_digit()) {
                w.clone()
            } else if w.contains(['.', ':']) || w.is_empty() {
                return Err(Error::from(Kind::Usage(format!(
                    "--window '{w}': a window name with '.' or ':' cannot be targeted"
                )))
                .hint(
                    "give the window's id instead (@N, from 'tmux list-windows -F \"#{window_id} #{window_name}\"')",
                ));
            } else {
                format!("={session}:={w}")
            };
            let mut c = cmd!["split-window", "-t", &win, "-c", &cwd, "-P", "-F", &ids];
            c.extend(wrapper.iter().cloned());
            // without -d the new pane is the window's active pane, which the target names
            (c, win, "-p")
        }
        None => {
            let mut c = cmd![
                "new-window",
                "-d",
                "-t",
                format!("={session}:"),
                "-n",
                name,
                "-c",
                &cwd,
                "-P",
                "-F",
                &ids
            ];
            c.extend(wrapper.iter().cloned());
            (c, format!("={session}:={name}"), "-w")
        }
    };
    let opt = |k: &str, v: String| cmd!["set-option", "-w", "-t", &target, k, v];
    let mut chain: Vec<Cmd> = vec![first];
    chain.push(cmd!["set-option", opt_scope, "-t", &target, "remain-on-exit", "on"]);
    // tmux writes its "Pane is dead" line after a line feed at the bottom of the screen,
    // which scrolls the job's first line out of sight: the wrapper's own [exited N] says
    // how the job ended, so tmux's line is turned off (-q: tmux 3.2 has no such option)
    chain.push(cmd![
        "set-option",
        "-q",
        opt_scope,
        "-t",
        &target,
        "remain-on-exit-format",
        ""
    ]);
    if req.window.is_none() {
        chain.push(opt("@taskmux-job", id.to_string()));
        chain.push(opt("@taskmux-job-tag", req.tag.clone()));
        chain.push(opt("@taskmux-job-started", paths::iso_time(paths::now_secs())));
        if let Some(l) = &req.log_file {
            chain.push(opt("@taskmux-job-log", l.to_string_lossy().into_owned()));
        }
    }
    if let Some(l) = &req.log_file {
        // the writer carries the job's id, so a waiter can tell when it has finished
        let pipe = format!("{LOG_MARK}={id} {}", crate::logs::pipe_command(exe, l, 10 << 20, 3));
        chain.push(cmd!["pipe-pane", "-t", &target, pipe]);
    }
    Ok(chain)
}

/// Runs the job's command list. A session made for jobs ends with its last job window, so
/// it can vanish (and the server with it) between two calls: whatever is missing is made
/// again (from the workspace, or with this job as its first window), a few times.
fn run_job_chain(ctx: &Ctx, req: &RunRequest, chain: &[Cmd]) -> Result<String> {
    let tmux = &ctx.tmux;
    let session = &req.session;
    let gone =
        |err: &str| crate::tmux::is_missing(err) || err.contains("server exited") || err.contains("no current target");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (ok, out, err) = tmux.exec(chain)?;
        if ok {
            return Ok(out);
        }
        if !gone(&err) || attempt > 5 {
            return Err(tmux.failed(chain, &err));
        }
        if req.window.is_some() {
            return Err(Error::from(Kind::WindowNotFound {
                window: req.window.clone().unwrap_or_default(),
                session: session.clone(),
            })
            .hint("name an existing window with --window, or leave --window out to open a new one"));
        }
        if let Some(ws) = &req.workspace {
            load_workspace(ctx, session, ws)?;
            continue;
        }
        let _lock = paths::lock_in(&ctx.home, session)?;
        if tmux.has_session(session)? {
            continue;
        }
        let mut c = chain.to_vec();
        c[0] = Tmux::as_new_session(&chain[0], session);
        let (ok, out, err) = tmux.exec(&c)?;
        if ok {
            return Ok(out);
        }
        if !gone(&err) && !err.contains("duplicate session") {
            return Err(tmux.failed(&c, &err));
        }
    }
}

/// Blocks until the job `id` ends and returns its exit code (128+N for signal N). The end
/// wakes the waiter at once through a tmux channel (tmux remembers a signal sent before
/// anyone waits); a slow check every 200 ms notices a job whose pane vanished without
/// reporting (its wrapper was SIGKILLed). With `log` (its `--log-file`), it returns only
/// once that log is complete: see [`wait_log`].
pub fn wait(ctx: &Ctx, id: &str, pane_id: &str, log: Option<&Path>) -> Result<i32> {
    let code = wait_exit(ctx, id, pane_id)?;
    if let Some(log) = log {
        wait_log(ctx, id, pane_id, log, code);
    }
    Ok(code)
}

fn wait_exit(ctx: &Ctx, id: &str, pane_id: &str) -> Result<i32> {
    let tmux = &ctx.tmux;
    let read_exit = |id: &str| read_exit(&ctx.home, id);
    let mut waiter = Some(tmux.spawn_wait_for(&channel(id))?);
    let mut ticks = 0u32;
    let mut nap = std::time::Duration::from_micros(500);
    let result = loop {
        if let Some(code) = read_exit(id) {
            break Ok(code);
        }
        if let Some(st) = waiter.as_mut().and_then(|w| w.try_wait().ok().flatten()) {
            if let Some(code) = read_exit(id) {
                break Ok(code);
            }
            // a failed wait-for (the server is gone) is not waited on again: the checks
            // below find the end
            waiter = if st.success() {
                Some(tmux.spawn_wait_for(&channel(id))?)
            } else {
                None
            };
        }
        ticks += 1;
        if ticks % 40 == 0 {
            let (ok, out, _) = tmux.exec(&[cmd![
                "display-message",
                "-p",
                "-t",
                pane_id,
                "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}|#{pane_pid}"
            ]])?;
            if let Some(code) = read_exit(id) {
                break Ok(code);
            }
            let f: Vec<&str> = out.trim().split('|').collect();
            // tmux 3.3 answers for a vanished pane with empty fields and success
            if !ok || f.first().is_none_or(|d| d.is_empty()) {
                // a window closed under a running job (kill-window, kill-server): its
                // wrapper is ending the job and records the end before it exits
                if wrapper_running(&ctx.home, id) {
                    continue;
                }
                if let Some(code) = read_exit(id) {
                    break Ok(code);
                }
                break Err(Kind::JobLost(format!("Job {pane_id} is gone without reporting its exit code")).into());
            }
            if f[0] == "1" {
                // the wrapper itself ended without its record (killed): its own status
                let num = |i: usize| f.get(i).and_then(|c| c.parse::<i32>().ok());
                match crate::proc::exit_code(num(1), num(2), num(3).unwrap_or(0)) {
                    Some(c) => break Ok(c),
                    None => {
                        break Err(
                            Kind::JobLost(format!("Job {pane_id} ended without reporting its exit code")).into(),
                        );
                    }
                }
            }
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(std::time::Duration::from_millis(5));
    };
    if let Some(mut w) = waiter {
        let _ = w.kill();
        let _ = w.wait();
    }
    result
}

/// Whether the `__job` wrapper of job `id` still runs: a process whose argv names its spec.
fn wrapper_running(home: &Path, id: &str) -> bool {
    let spec = jobs_dir(home).join(format!("{id}.json"));
    let spec = spec.as_os_str().as_encoded_bytes();
    crate::proc::snapshot().iter().filter(|p| p.alive()).any(|p| {
        std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == spec))
    })
}

/// Whether the log writer of job `id` still runs (its environment carries [`LOG_MARK`]).
fn log_writer_running(id: &str) -> bool {
    let mark = format!("{LOG_MARK}={id}");
    crate::proc::snapshot().iter().filter(|p| p.alive()).any(|p| {
        std::fs::read(format!("/proc/{}/environ", p.pid))
            .is_ok_and(|e| e.split(|b| *b == 0).any(|x| x == mark.as_bytes()))
    })
}

/// Waits until the log of a job that has ended holds all of its output. The chain is pty →
/// tmux → pipe → the `__log` writer → the file, and the end is known in two steps:
/// 1. tmux marks a pane dead only once it has read all the pane's output and handed it to
///    the pipe (tmux's `window_pane_destroy_ready`): so first the pane must be dead or gone.
///    (This is also why the wrapper no longer kill-panes its own window: a kill drops what
///    tmux has not read or piped yet; the window now closes itself once it has.)
/// 2. A window that closed had its pipe closed after that hand-over: the writer reads to
///    the end, writes the last line, partial or not, and exits. Its exit is the end of the
///    log, exactly. A kept window keeps its pipe open (tmux refuses `pipe-pane` on a dead
///    pane), so its writer sees no end of input: there the end is the writer's exit (a
///    writer whose pane is dead exits once it has flushed) or, before that, the wrapper's
///    own last line `[exited N]` in the log, or, after a kept success (no such line), a
///    log unchanged for longer than the writer holds a partial line.
///
/// Bounded (10 s): a writer that cannot write (full disk, unusable path) never holds the
/// caller for good.
fn wait_log(ctx: &Ctx, id: &str, pane_id: &str, log: &Path, code: i32) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut nap = Duration::from_millis(1);
    let pause = |nap: &mut Duration| {
        std::thread::sleep(*nap);
        *nap = (*nap * 2).min(Duration::from_millis(20));
    };
    let kept = loop {
        let state = ctx
            .tmux
            .exec(&[cmd!["display-message", "-p", "-t", pane_id, "#{pane_dead}"]])
            .ok()
            .filter(|(ok, _, _)| *ok)
            .map(|(_, out, _)| out.trim().to_string())
            .unwrap_or_default();
        match state.as_str() {
            "1" => break true,
            "0" if Instant::now() < deadline => pause(&mut nap),
            "0" => return,
            _ => break false, // gone
        }
    };
    let last_line = format!("[exited {code}]");
    let mut seen: Option<(u64, Instant)> = None;
    while Instant::now() < deadline && log_writer_running(id) {
        if kept {
            let len = std::fs::metadata(log).map_or(0, |m| m.len());
            if code != 0 && log_ends_with(log, &last_line) {
                return;
            }
            match seen {
                Some((l, since)) if l == len => {
                    if since.elapsed() > Duration::from_millis(1200) {
                        return;
                    }
                }
                _ => seen = Some((len, Instant::now())),
            }
        }
        pause(&mut nap);
    }
}

/// Whether the last line of a log file ends with `text`.
fn log_ends_with(path: &Path, text: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let _ = f.read_to_end(&mut buf);
    buf.strip_suffix(b"\n").is_some_and(|b| b.ends_with(text.as_bytes()))
}

fn read_exit(home: &Path, id: &str) -> Option<i32> {
    std::fs::read_to_string(exit_file(home, id)).ok()?.trim().parse().ok()
}

/// `taskmux __job SPEC`: runs the job's argv as a child, and when it ends records the exit
/// code, signals waiters, writes `[exited N]` on failure, and lets its pane close unless
/// kept. When its pane goes away under it (SIGHUP: `kill-window`, `kill-server`, a lost
/// tty), it ends the job first (SIGHUP, then SIGTERM, then SIGKILL) and records that end.
pub fn job_main(spec_path: &str, pane: &crate::task::PaneEnv, out: &mut dyn std::io::Write) -> std::process::ExitCode {
    let spec: Value = match std::fs::read(spec_path).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        _ => {
            let _ = writeln!(out, "taskmux: cannot read job spec {spec_path}");
            return std::process::ExitCode::from(127);
        }
    };
    let _ = std::fs::remove_file(spec_path);
    let signals = JobSignals::register();
    let s = |k: &str| spec[k].as_str().unwrap_or("").to_string();
    let argv0 = spec["argv"][0].as_str().unwrap_or("").to_string();
    let mut c = crate::task::spec_command(&spec, pane).unwrap_or_else(|| std::process::Command::new("true"));
    let code = match c.spawn() {
        Ok(child) => run_job(child, &signals, pane),
        Err(e) => {
            let _ = writeln!(out, "taskmux-run: cannot run {argv0}: {e}");
            127
        }
    };
    let id = s("id");
    // the state directory is the caller's: the one the spec was written in (this process
    // has the tmux server's environment, whose TASKMUX_HOME may be another one or none)
    let home = Path::new(spec_path)
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let exit = exit_file(home, &id);
    let _ = paths::write_replace(&exit, format!("{code}\n").as_bytes(), 0o600);
    // after the caller's job_started (it holds this lock until it has written it)
    let started = started_lock(home, &id);
    events::EventLog::new(home, events::Limits::default()).emit(
        "job_finished",
        &s("session"),
        None,
        json!({"tag": s("tag"), "exit_code": code, "id": id}),
    );
    drop(started);
    let _ = std::fs::remove_file(started_lock_path(home, &id));
    let tmux = Tmux::new(spec["socket"].as_str().map(String::from), pane.path.clone(), None);
    let keep = if code == 0 {
        spec["keep_on_success"].as_bool()
    } else {
        spec["keep_on_failure"].as_bool()
    };
    let keep = keep.unwrap_or(code != 0);
    if signals.hung_up() {
        // the pane is gone: nothing to print into, no window to close
        let _ = tmux.exec(&[cmd!["wait-for", "-S", channel(&id)]]);
    } else if keep {
        if code != 0 {
            let _ = writeln!(out, "[exited {code}]");
            let _ = out.flush();
        }
        let _ = tmux.exec(&[cmd!["wait-for", "-S", channel(&id)]]);
    } else if let Some(pane) = pane.pane.as_ref().and_then(|p| p.to_str()) {
        // not kill-pane: that drops output tmux has not read or piped to the log yet.
        // With remain-on-exit off, tmux closes the pane itself once this process has
        // exited and all of its output is read and handed to the log's pipe
        let _ = tmux.exec(&[
            cmd!["wait-for", "-S", channel(&id)],
            cmd!["set-option", "-p", "-t", pane, "remain-on-exit", "off"],
        ]);
    }
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}

/// The wrapper's signals: it outlives the job's INT and TERM (a handler, unlike SIG_IGN,
/// is not inherited), and a SIGHUP (its pane closed) or a SIGCHLD wakes it.
struct JobSignals {
    hup: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: Option<std::os::unix::net::UnixStream>,
}

impl JobSignals {
    fn register() -> JobSignals {
        use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
        use std::sync::{Arc, atomic::AtomicBool};
        for sig in [SIGINT, SIGTERM] {
            let _ = signal_hook::flag::register(sig, Arc::new(AtomicBool::new(false)));
        }
        let hup = Arc::new(AtomicBool::new(false));
        let _ = signal_hook::flag::register(SIGHUP, hup.clone());
        let wake = std::os::unix::net::UnixStream::pair().ok().and_then(|(r, w)| {
            let w2 = w.try_clone().ok()?;
            signal_hook::low_level::pipe::register(SIGHUP, w).ok()?;
            signal_hook::low_level::pipe::register(SIGCHLD, w2).ok()?;
            r.set_nonblocking(true).ok()?;
            Some(r)
        });
        JobSignals { hup, wake }
    }

    fn hung_up(&self) -> bool {
        self.hup.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sleeps until a signal came (or `max` passed).
    fn sleep(&self, max: std::time::Duration) {
        use std::io::Read;
        let Some(r) = &self.wake else {
            std::thread::sleep(max.min(std::time::Duration::from_millis(50)));
            return;
        };
        let mut fds = [rustix::event::PollFd::new(r, rustix::event::PollFlags::IN)];
        let t = rustix::event::Timespec::try_from(max).ok();
        let _ = rustix::event::poll(&mut fds, t.as_ref());
        let mut buf = [0u8; 64];
        while matches!((&*r).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Waits for the job; when the pane hangs up, ends it: SIGHUP to the wrapper's group (the
/// job's, the wrapper survives its own), a second for the job to go, then
/// [`crate::proc::terminate`] on what is left of the pane's processes (its group and
/// session, their descendants, whatever carries the pane in its environment): SIGTERM,
/// and SIGKILL 2 s later. The code is the job's own (129 for the SIGHUP, …).
fn run_job(mut child: std::process::Child, signals: &JobSignals, pane: &crate::task::PaneEnv) -> i32 {
    use std::time::{Duration, Instant};
    let status = |st: std::io::Result<std::process::ExitStatus>| st.map_or(127, crate::proc::status_code);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if !signals.hung_up() => return crate::proc::status_code(st),
            Ok(_) if !signals.hung_up() => signals.sleep(Duration::from_secs(3600)),
            Err(_) => return status(child.wait()),
            _ => break,
        }
    }
    let me = std::process::id() as i32;
    crate::proc::signal_group(me, rustix::process::Signal::HUP);
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
        signals.sleep(Duration::from_millis(50));
    }
    let server = pane
        .tmux
        .as_ref()
        .and_then(|t| t.to_str())
        .and_then(|t| t.split(',').next())
        .unwrap_or("")
        .to_string();
    let target = crate::proc::Target {
        id: crate::proc::TaskIdentity {
            pane_pid: me,
            tty_nr: None,
            marker: String::new(),
            server,
        },
        pane: pane.pane.as_ref().map(|p| p.to_string_lossy().into_owned()),
        spare_leader: true,
        grace: Duration::ZERO,
    };
    let opts = crate::proc::Terminate {
        kill_after: Duration::from_secs(2),
        ..crate::proc::Terminate::default()
    };
    let _ = crate::proc::terminate(&[target], &opts, &crate::proc::Cancel::new(), || {});
    status(child.wait())
}

/// One job window, as `jobs` lists it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// Its JobRef.
    pub job: JobRef,
    /// The job has ended (its window stayed).
    pub dead: bool,
    /// Its exit code when dead.
    pub exit_code: Option<i32>,
    /// When it started.
    pub started_at: Option<String>,
    /// The wrapper's pid (the pane's process, leader of the job's group); 0 when dead.
    pub pane_pid: i32,
    /// The tmux server's socket path.
    pub socket: String,
}

impl serde::Serialize for JobInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl JobInfo {
    /// JobRef + `dead`, `exit_code`, `started_at`.
    pub fn to_json(&self) -> Value {
        let mut v = self.job.to_json();
        v["dead"] = json!(self.dead);
        v["exit_code"] = json!(self.exit_code);
        v["started_at"] = json!(self.started_at);
        v
    }
}

/// The job windows of a session, optionally of one tag.
pub fn list(ctx: &Ctx, session: &str, tag: Option<&str>) -> Result<Vec<JobInfo>> {
    let tmux = &ctx.tmux;
    let fields = [
        "window_id",
        "pane_id",
        "pane_dead",
        "pane_dead_status",
        "@taskmux-job",
        "@taskmux-job-tag",
        "@taskmux-job-started",
        "@taskmux-job-log",
        "pane_pid",
        "pane_dead_signal",
        "socket_path",
        "window_name",
    ];
    let rows = tmux.list_panes(Some(session), &fields)?.unwrap_or_default();
    let mut out: Vec<JobInfo> = Vec::new();
    for r in rows {
        if r.len() < fields.len() || !r[11].starts_with("job:") {
            continue;
        }
        if out.iter().any(|j| j.job.window_id == r[0]) {
            continue;
        }
        let t = if r[5].is_empty() {
            r[11].split(':').nth(1).unwrap_or("").to_string()
        } else {
            r[5].clone()
        };
        if tag.is_some_and(|want| want != t) {
            continue;
        }
        // the wrapper records the exit before its pane dies (it still prints and signals):
        // a recorded job has ended, whatever tmux says of its pane
        let recorded = read_exit(&ctx.home, &r[4]);
        let dead = r[2] == "1" || recorded.is_some();
        out.push(JobInfo {
            job: JobRef {
                session: session.to_string(),
                window_id: r[0].clone(),
                pane_id: r[1].clone(),
                window_name: r[11].clone(),
                tag: t,
                log_file: (!r[7].is_empty()).then(|| PathBuf::from(&r[7])),
                id: r[4].clone(),
                exit_code: None,
            },
            dead,
            // the wrapper's own record first: tmux's status can be late or missing
            exit_code: if dead {
                recorded
                    .or_else(|| crate::proc::exit_code(r[3].parse().ok(), r[9].parse().ok(), r[8].parse().unwrap_or(0)))
            } else {
                None
            },
            started_at: (!r[6].is_empty()).then(|| r[6].clone()),
            pane_pid: if dead { 0 } else { r[8].parse().unwrap_or(0) },
            socket: r[10].clone(),
        });
    }
    Ok(out)
}

/// Ends jobs and closes their windows: SIGTERM to each job's processes (the wrapper
/// records the end, 143, and wakes waiters), SIGKILL to what is left after 3 s, then
/// `kill-window`.
pub fn kill(ctx: &Ctx, jobs: &[JobInfo]) -> Result<()> {
    let tmux = &ctx.tmux;
    use crate::proc::{Target, TaskIdentity, Terminate};
    // the job's processes: its group and session, and whatever carries its pane in its
    // environment (a child that made a group of its own); the wrapper itself is spared, so
    // it survives to record the end
    let targets: Vec<Target> = jobs
        .iter()
        .filter(|j| j.pane_pid > 0)
        .map(|j| Target {
            id: TaskIdentity {
                pane_pid: j.pane_pid,
                tty_nr: None,
                marker: String::new(),
                server: j.socket.clone(),
            },
            pane: Some(j.job.pane_id.clone()),
            spare_leader: true,
            grace: std::time::Duration::ZERO,
        })
        .collect();
    let opts = Terminate {
        rescan: std::time::Duration::ZERO,
        ..Terminate::default()
    };
    // what outlives SIGKILL (stuck in the kernel) cannot be helped here: the windows go anyway
    let _ = crate::proc::terminate(&targets, &opts, &ctx.cancel, || {});
    // give each wrapper a moment to record the end before its window goes
    let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while jobs.iter().any(|j| j.pane_pid > 0 && crate::proc::alive(j.pane_pid)) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let cmds: Vec<Cmd> = jobs
        .iter()
        .map(|j| cmd!["kill-window", "-t", &j.job.window_id])
        .collect();
    if !cmds.is_empty() && !tmux.exec(&cmds)?.0 {
        // a window already closed by its own job stops the chain: the rest one by one
        for c in cmds {
            let _ = tmux.exec(&[c])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_safe() {
        assert_eq!(default_tag(&["/usr/bin/make".into(), "test".into()]), "make");
        assert_eq!(clean_tag("a:b.c d"), "a-b-c-d");
        assert_eq!(clean_tag(":::"), "job");
    }

    #[test]
    fn workspace_session_name() {
        let d = std::env::temp_dir().join(format!("tmx-ws-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(".tmuxp.yaml"),
            "session_name: 'dev' # mine\nwindows:\n  - window_name: x\n",
        )
        .unwrap();
        assert_eq!(workspace_session(&d).unwrap().1, "dev");
        std::fs::write(d.join("w.json"), "{\"session_name\": \"js\", \"windows\": []}").unwrap();
        assert_eq!(workspace_session(&d.join("w.json")).unwrap().1, "js");
        std::fs::write(d.join("none.yaml"), "windows: []\n").unwrap();
        assert_eq!(workspace_session(&d.join("none.yaml")).unwrap_err().code(), "E109");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
