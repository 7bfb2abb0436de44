//! Starting a job: a unique window name, the spec the wrapper reads, and one tmux command
//! list that makes the window (and the session when it is missing).

use super::tmuxp::load_workspace;
use super::*;
use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::tmux::{Cmd, SEP, Tmux};
use crate::{cmd, paths};
use std::path::{Path, PathBuf};

/// A window name unique in the session: `job:<tag>:<YYYYmmdd-HHMMSS>`, with `-N` added
/// when another job of this state directory took that second already.
pub(super) fn allocate_name(home: &Path, session: &str, tag: &str) -> Result<(String, String)> {
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
        &req.session,
        None,
        crate::events::Event::JobStarted {
            tag: req.tag.clone(),
            window_id: window_id.clone(),
            pane_id: pane_id.clone(),
            window_name: window_name.clone(),
            argv: req.argv.clone(),
        },
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

/// What the `__job` wrapper runs and how it reports: written by [`run`], read by the
/// wrapper in the job's pane.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct JobSpec {
    /// The command, its directory and environment.
    #[serde(flatten)]
    pub(super) command: crate::task::LaunchSpec,
    /// The id its end is recorded under.
    pub(super) id: String,
    /// Its session.
    pub(super) session: String,
    /// Its tag.
    pub(super) tag: String,
    /// The tmux server's `-L` socket (null: the default server).
    pub(super) socket: Option<String>,
    /// Keep the window after success.
    pub(super) keep_on_success: bool,
    /// Keep the window after failure.
    pub(super) keep_on_failure: bool,
}

/// Writes what the `__job` wrapper runs: argv, directory, the caller's environment with the
/// job's `-e` on top, where to report, and what to keep. Its path tells the wrapper the
/// state directory.
pub(super) fn write_job_spec(ctx: &Ctx, req: &RunRequest, id: &str) -> Result<PathBuf> {
    let spec_path = jobs_dir(&ctx.home).join(format!("{id}.json"));
    let mut env = ctx.env.clone();
    crate::task::merge_env(&mut env, req.env.iter().cloned());
    let spec = JobSpec {
        command: crate::task::LaunchSpec {
            argv: req.argv.clone(),
            cwd: req.cwd.clone(),
            env,
            banner: None,
        },
        id: id.to_string(),
        session: req.session.clone(),
        tag: req.tag.clone(),
        socket: ctx.tmux.socket.clone(),
        keep_on_success: req.cleanup.keep_on_success,
        keep_on_failure: req.cleanup.keep_on_failure,
    };
    let text = serde_json::to_string(&spec).map_err(|e| Error::internal(format!("cannot write a job spec: {e}")))?;
    paths::write_replace(&spec_path, text.as_bytes(), 0o600)?;
    let _ = std::fs::remove_file(exit_file(&ctx.home, id));
    Ok(spec_path)
}

/// The job's pane, then its options and pipe, in one command list: nothing can end the job
/// before remain-on-exit is on or print before the pipe is attached.
pub(super) fn job_chain(req: &RunRequest, name: &str, id: &str, exe: &Path, wrapper: &[String]) -> Result<Vec<Cmd>> {
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
pub(super) fn run_job_chain(ctx: &Ctx, req: &RunRequest, chain: &[Cmd]) -> Result<String> {
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
