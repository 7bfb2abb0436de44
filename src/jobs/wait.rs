//! Waiting for a job: its exit record, woken by a tmux channel, and with `--log-file`,
//! the log complete.

use super::*;
use crate::cmd;
use crate::ctx::Ctx;
use crate::error::{Kind, Result};
use std::path::Path;

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

pub(super) fn wait_exit(ctx: &Ctx, id: &str, pane_id: &str) -> Result<i32> {
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
pub(super) fn wrapper_running(home: &Path, id: &str) -> bool {
    let spec = jobs_dir(home).join(format!("{id}.json"));
    let spec = spec.as_os_str().as_encoded_bytes();
    crate::proc::snapshot().iter().filter(|p| p.alive()).any(|p| {
        std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == spec))
    })
}

/// Whether the log writer of job `id` still runs (its environment carries [`LOG_MARK`]).
pub(super) fn log_writer_running(id: &str) -> bool {
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
pub(super) fn wait_log(ctx: &Ctx, id: &str, pane_id: &str, log: &Path, code: i32) {
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
pub(super) fn log_ends_with(path: &Path, text: &str) -> bool {
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
