//! Creating a workspace's session with `tmuxp load`, and knowing when that failed.
//!
//! tmuxp says so in more than one way, depending on its version and on where it failed: a
//! non-zero exit (a traceback on stderr), an error printed on stdout (`[Plugin Error] …`),
//! or an exit 0 after printing an error and leaving a session half built (its
//! error-recovery prompt answered by an empty stdin). So a load is taken to have failed
//! when any of these holds: tmuxp exited non-zero, was killed, or ran past
//! [`LOAD_TIMEOUT`]; it printed a traceback or one of its error markers at the start of a
//! line ([`ERROR_MARKERS`]); or the session is missing or has fewer windows or panes than
//! the workspace describes (job windows are not counted). A failure is E207 with tmuxp's
//! stdout and stderr, and the session, when this load made it, is killed: the next run
//! loads the workspace anew instead of running in a half-built session.

use super::workspace::{Workspace, read_workspace};
use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result};
use crate::paths;
use crate::tmux::{SEP, Tmux};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

/// How long `tmuxp load` may take (its `before_script`, `sleep_before`, …).
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of each of tmuxp's streams is kept (the end of it).
const KEEP_OUTPUT: usize = 64 * 1024;
/// How many of the last lines of each stream the message shows (all are in `details`).
const SHOW_LINES: usize = 20;
/// How much of one line the message shows.
const SHOW_WIDTH: usize = 300;
/// Lines that start so are tmuxp reporting an error.
pub const ERROR_MARKERS: [&str; 5] = [
    "Traceback (most recent call last)",
    "[Error]",
    "[Plugin Error]",
    "[Builder Error]",
    "Error loading workspace",
];

/// Creates the session of the workspace `file` with `tmuxp load -d`, under the session's
/// flock, unless it exists. A load that failed is E207 (see the module's notes).
pub(super) fn load_workspace(ctx: &Ctx, session: &str, file: &Path) -> Result<()> {
    let ws = read_workspace(file, &ctx.env, &ctx.cwd)?;
    let tmux = &ctx.tmux;
    let _lock = paths::lock_in(&ctx.home, session)?;
    if tmux.has_session(session)? {
        return Ok(());
    }
    let tmuxp = tmux.find("tmuxp").ok_or_else(|| {
        Error::from(Kind::Tmuxp(
            "tmuxp is not installed (needed to create a session from a tmuxp workspace)".into(),
        ))
        .hint("install tmuxp: 'apt-get install tmuxp' (Debian/Ubuntu), 'pip install tmuxp' or 'brew install tmuxp'")
    })?;
    let before = session_ids(tmux);
    let ran = run_tmuxp(ctx, &tmuxp, &ws.file)?;
    let built = built(tmux, session);
    let why = failures(&ran, &ws, built.as_ref());
    if why.is_empty() {
        return Ok(());
    }
    // the session is ours when it was not there before tmuxp ran: kill it, so that
    // nothing runs in a half-built session and the next run starts clean
    let killed = match &built {
        Some(b) if !before.contains(&b.id) => {
            let (ok, _, _) = tmux.exec(&[crate::cmd!["kill-session", "-t", &b.id]])?;
            Some(ok)
        }
        Some(_) => Some(false),
        None => None,
    };
    Err(load_failed(tmux, &ws, &ran, built.as_ref(), &why, killed))
}

/// What `tmuxp load` did.
struct Ran {
    /// Its exit code; None when it was killed by a signal or ran past [`LOAD_TIMEOUT`].
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// What tmux has of the session after the load: its id, and its windows and panes that
/// are not jobs.
struct Built {
    id: String,
    windows: usize,
    panes: usize,
}

/// Runs `tmuxp load -d -y [-L SOCKET] FILE` as `tmuxp load` alone would run from the
/// caller's shell: with the caller's environment (whose variables tmuxp expands, and which
/// a tmux server it starts inherits) and working directory; stdin empty.
fn run_tmuxp(ctx: &Ctx, tmuxp: &Path, file: &Path) -> Result<Ran> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut c = std::process::Command::new(tmuxp);
    c.arg("load").arg("-d").arg("-y");
    if let Some(s) = &ctx.tmux.socket {
        c.arg("-L").arg(s);
    }
    c.arg(file)
        .env_clear()
        .envs(ctx.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&ctx.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // the threads first, each waiting for its part of the child: a thread that cannot be
    // made is an error before tmuxp runs, never a child nobody waits for
    let cannot = |e: std::io::Error| Error::from(Kind::Tmuxp(format!("cannot run tmuxp: no thread for it: {e}")));
    let (out_tx, out) = on_thread(drain).map_err(cannot)?;
    let (err_tx, err) = on_thread(drain).map_err(cannot)?;
    let (child_tx, status) = on_thread(|mut c: std::process::Child| c.wait()).map_err(cannot)?;
    let mut child = c
        .spawn()
        .map_err(|e| Error::from(Kind::Tmuxp(format!("cannot run {}: {e}", tmuxp.display()))))?;
    let pid = child.id() as i32;
    let _ = out_tx.send(child.stdout.take());
    let _ = err_tx.send(child.stderr.take());
    let _ = child_tx.send(child);
    let (status, timed_out) = match status.recv_timeout(LOAD_TIMEOUT) {
        Ok(st) => (st.ok(), false),
        Err(_) => {
            crate::proc::signal_group(pid, rustix::process::Signal::KILL);
            (status.recv().ok().and_then(|st| st.ok()), true)
        }
    };
    // its output is complete once its pipes close; something it left behind holding them
    // (it should not: tmux's server lets go of its stdio) is not waited for long
    let text = |rx: Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(2))
            .map(|b| clean(&b))
            .unwrap_or_default()
    };
    Ok(Ran {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: text(out),
        stderr: text(err),
    })
}

/// A thread that runs `f` on the one value sent to it; its result comes on the receiver.
fn on_thread<T: Send + 'static, R: Send + 'static>(
    f: impl FnOnce(T) -> R + Send + 'static,
) -> std::io::Result<(Sender<T>, Receiver<R>)> {
    let (in_tx, in_rx) = std::sync::mpsc::channel::<T>();
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("tmuxp".into()).spawn(move || {
        if let Ok(v) = in_rx.recv() {
            let _ = out_tx.send(f(v));
        }
    })?;
    Ok((in_tx, out_rx))
}

/// Reads a stream to its end, keeping its last [`KEEP_OUTPUT`] bytes.
fn drain(stream: Option<impl Read>) -> Vec<u8> {
    let mut kept = Vec::new();
    if let Some(mut s) = stream {
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    kept.extend_from_slice(&chunk[..n]);
                    if kept.len() > 2 * KEEP_OUTPUT {
                        kept.drain(..kept.len() - KEEP_OUTPUT);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    let start = kept.len().saturating_sub(KEEP_OUTPUT);
    kept.split_off(start)
}

/// Output made readable: a line redrawn with CR kept in its last state, colours, other
/// escape sequences and control characters gone.
fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            crate::logs::strip_ansi(l.rsplit('\r').next().unwrap_or(l))
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// The ids of the sessions of the server (none when no server runs).
fn session_ids(tmux: &Tmux) -> Vec<String> {
    match tmux.exec(&[crate::cmd!["list-sessions", "-F", "#{session_id}"]]) {
        Ok((true, out, _)) => out.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// The session's id and its windows and panes that are not jobs; None when it is gone.
fn built(tmux: &Tmux, session: &str) -> Option<Built> {
    let fmt = format!("#{{session_id}}{SEP}#{{window_id}}{SEP}#{{@taskmux-job}}");
    let target = format!("={session}:");
    let (ok, out, _) = tmux
        .exec(&[crate::cmd!["list-panes", "-s", "-t", &target, "-F", &fmt]])
        .ok()?;
    if !ok {
        return None;
    }
    let mut id = String::new();
    let mut windows: Vec<&str> = Vec::new();
    let mut panes = 0;
    for line in out.lines() {
        let mut f = line.split(SEP);
        let (sid, win, job) = (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
        id = sid.to_string();
        if job.is_empty() {
            panes += 1;
            if !windows.contains(&win) {
                windows.push(win);
            }
        }
    }
    (!id.is_empty()).then_some(Built {
        id,
        windows: windows.len(),
        panes,
    })
}

/// Why the load failed, in words; empty when it worked.
fn failures(ran: &Ran, ws: &Workspace, built: Option<&Built>) -> Vec<String> {
    let mut why = Vec::new();
    match (ran.code, ran.timed_out) {
        (_, true) => why.push(format!("it ran past {}s and was killed", LOAD_TIMEOUT.as_secs())),
        (Some(0), _) => {}
        (Some(n), _) => why.push(format!("it exited with status {n}")),
        (None, _) => why.push("it was killed by a signal".into()),
    }
    let marker = [&ran.stdout, &ran.stderr]
        .into_iter()
        .flat_map(|s| s.lines())
        .find_map(|l| ERROR_MARKERS.iter().find(|m| l.trim_start().starts_with(*m)));
    if let Some(m) = marker {
        why.push(format!("it printed an error ({m})"));
    }
    let (windows, panes) = (ws.panes.len(), ws.panes.iter().sum::<usize>());
    match built {
        None => why.push(format!("it did not create session '{}'", ws.session)),
        Some(b) if b.windows < windows || b.panes < panes => why.push(format!(
            "session '{}' has {} of its {windows} windows and {} of its {panes} panes",
            ws.session, b.windows, b.panes
        )),
        Some(_) => {}
    }
    why
}

/// The E207 of a failed load: why, what became of the session, and tmuxp's output.
fn load_failed(
    tmux: &Tmux,
    ws: &Workspace,
    ran: &Ran,
    built: Option<&Built>,
    why: &[String],
    killed: Option<bool>,
) -> Error {
    let file = ws.file.display();
    let fate = match killed {
        Some(true) => format!(
            "; the half-built session '{}' was killed, so the next run starts clean",
            ws.session
        ),
        Some(false) => format!("; session '{}' is left as it was", ws.session),
        None => String::new(),
    };
    let mut msg = format!("tmuxp load {file} failed: {}{fate}", why.join("; "));
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            msg.push_str(&format!("\n  tmuxp's {name}: (nothing)"));
            continue;
        }
        msg.push_str(&format!("\n  tmuxp's {name}:"));
        let skip = lines.len().saturating_sub(SHOW_LINES);
        if skip > 0 {
            msg.push_str(&format!("\n    | ({skip} earlier lines are in details.{name})"));
        }
        for l in &lines[skip..] {
            let cut: String = l.chars().take(SHOW_WIDTH).collect();
            let more = if cut.len() < l.len() { " …" } else { "" };
            msg.push_str(&format!("\n    | {cut}{more}"));
        }
    }
    let by_hand = match &tmux.socket {
        Some(s) => format!("tmuxp load -d -L {s} {file}"),
        None => format!("tmuxp load -d {file}"),
    };
    Error::from(Kind::Tmuxp(msg))
        .hint(format!(
            "fix the workspace (or what it needs), then run again; to see tmuxp alone: {by_hand}"
        ))
        .details(json!({
            "file": ws.file, "session": ws.session, "reasons": why,
            "exit_code": ran.code, "timed_out": ran.timed_out,
            "stdout": ran.stdout, "stderr": ran.stderr,
            "windows": {"expected": ws.panes.len(), "found": built.map(|b| b.windows)},
            "panes": {"expected": ws.panes.iter().sum::<usize>(), "found": built.map(|b| b.panes)},
            "killed": killed == Some(true),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(code: Option<i32>, stdout: &str, stderr: &str) -> Ran {
        Ran {
            code,
            timed_out: false,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_failure_is_seen_by_exit_code_output_or_what_was_built() {
        let ws = Workspace {
            file: "/w.yaml".into(),
            session: "s".into(),
            start_directory: None,
            panes: vec![3, 1],
        };
        let all = Built {
            id: "$1".into(),
            windows: 2,
            panes: 4,
        };
        let half = Built {
            id: "$1".into(),
            windows: 1,
            panes: 2,
        };
        assert!(failures(&ran(Some(0), "Session created in detached state.", ""), &ws, Some(&all)).is_empty());
        assert_eq!(
            failures(&ran(Some(1), "", ""), &ws, Some(&all)),
            ["it exited with status 1"]
        );
        let plugin = "[Plugin Error] Couldn't load x\nNo module named 'x'";
        assert_eq!(
            failures(&ran(Some(0), plugin, ""), &ws, None),
            ["it printed an error ([Plugin Error])", "it did not create session 's'"]
        );
        assert_eq!(
            failures(&ran(Some(0), "", ""), &ws, Some(&half)),
            ["session 's' has 1 of its 2 windows and 2 of its 4 panes"]
        );
        assert!(failures(&ran(None, "", ""), &ws, Some(&all))[0].contains("signal"));
    }

    #[test]
    fn output_is_cleaned_of_colours_and_control_characters() {
        assert_eq!(
            clean(b"\x1b[31m[Plugin Error] \x1b[0mno\r\nspin 1\rspin 2\n\x07bell\n\n"),
            "[Plugin Error] no\nspin 2\nbell"
        );
    }
}
