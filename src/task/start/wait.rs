//! Waiting on a started task: its health probed until it answers, its pane ends or time
//! runs out (`start --wait`, a dependency's gate), and the log tail an error shows.

use super::*;

/// `start --wait`: probes every task of `list` (name, pane) until healthy; E214 naming the
/// first that is not, its probe and the last reason. A skipped task is E214 too.
pub(super) fn wait_all(
    ctx: &Ctx,
    list: &[(String, String)],
    prepared: &HashMap<String, Prepared>,
    report: &StartReport,
    began: f64,
) -> Result<()> {
    let project = &ctx.project;
    let results: Vec<(String, String, Probe)> = std::thread::scope(|s| {
        let hs: Vec<_> = list
            .iter()
            .filter_map(|(name, pane)| {
                let t = project.task(name).ok()?;
                let prep = prepared.get(name)?;
                Some((
                    t,
                    pane,
                    s.spawn(move || wait_health(ctx, t, pane, &prep.env, prep.since).0),
                ))
            })
            .collect();
        hs.into_iter()
            .map(|(t, pane, h)| {
                (
                    t.name.clone(),
                    pane.clone(),
                    h.join().unwrap_or_else(|_| health::probe_crashed(t)),
                )
            })
            .collect()
    });
    let panes: Vec<(String, Probe)> = results.iter().map(|(_, pane, p)| (pane.clone(), p.clone())).collect();
    record_health(&ctx.tmux, &panes);
    let failures: Vec<_> = results.into_iter().filter(|(_, _, p)| !p.ok).collect();
    if let Some((name, pane, p)) = failures.first() {
        let t = project.task(name)?;
        let e = Error::from(Kind::NotHealthy(format!(
            "Task '{name}' is not healthy: {}",
            probe_desc(t, p)
        )))
        .hint(format!(
            "the whole log: 'taskmux logs {name}'; its state: 'taskmux inspect {name}'"
        ))
        .details(Unhealthy {
            task: name,
            method: p.method,
            reason: p.reason.as_deref(),
            unhealthy: failures.iter().map(|(n, _, _)| n.as_str()).collect(),
            started: &report.started,
            skipped: report
                .skipped
                .iter()
                .map(|(task, reason)| NotStarted { task, reason })
                .collect(),
        });
        let since = report.started.contains(name).then_some(began);
        let dead = !pane_state(&ctx.tmux, pane).ok().flatten().is_some_and(|r| r.running());
        return Err(with_log_tail(ctx, t, since, dead, e));
    }
    if let Some((name, reason)) = report.skipped.first() {
        return Err(
            Error::from(Kind::NotHealthy(format!("Task '{name}' was not started: {reason}")))
                .details(NotStarted { task: name, reason }),
        );
    }
    Ok(())
}

/// The details of E214 for a task whose probes failed on start.
#[derive(Serialize)]
struct Unhealthy<'a> {
    task: &'a str,
    method: health::Method,
    reason: Option<&'a str>,
    unhealthy: Vec<&'a str>,
    started: &'a [String],
    skipped: Vec<NotStarted<'a>>,
}

/// A task not started, and why (in the details of E214).
#[derive(Serialize)]
struct NotStarted<'a> {
    task: &'a str,
    reason: &'a str,
}

/// How many of a task's last log lines an error of its start shows.
const LOG_TAIL: usize = 10;
/// How long a start that saw its task end waits for the task's last words to reach its log.
const LOG_FLUSH: Duration = Duration::from_secs(1);

/// `e` with the last lines of task `t`'s log in its details (`log_file`, `log_tail`), which
/// the CLI shows under the error: those since `since` (epoch seconds) when the start
/// launched it, else its last ones. A task that ended (`dead`) may have written its last
/// words a moment ago: they are waited for, briefly.
pub(super) fn with_log_tail(ctx: &Ctx, t: &Task, since: Option<f64>, dead: bool, e: Error) -> Error {
    let path = crate::logs::log_path(&ctx.home, &ctx.project, t);
    let source = [crate::logs::Source {
        task: t.name.clone(),
        path: path.clone(),
        index: None,
    }];
    let q = crate::logs::Query {
        tail: Some(LOG_TAIL),
        // a line stamped in the millisecond the start began is this run's
        since: since.map(|s| s - 0.001),
        ..Default::default()
    };
    let deadline = Instant::now() + LOG_FLUSH;
    let lines = loop {
        let lines = crate::logs::read(&source, &q).unwrap_or_default();
        if !lines.is_empty() || !dead || Instant::now() >= deadline || ctx.cancel.sleep(Duration::from_millis(50)) {
            break lines;
        }
    };
    let mut details = match e.details.clone() {
        Some(Value::Object(m)) => m,
        Some(Value::Null) => Map::new(),
        _ => Map::from_iter([("task".to_string(), Value::from(t.name.as_str()))]),
    };
    details.insert("log_file".into(), Value::from(path.to_string_lossy().as_ref()));
    let tail: Vec<&str> = lines.iter().map(|l| l.raw.as_str()).collect();
    details.insert("log_tail".into(), Value::from(tail));
    e.details(details)
}

/// How a wait for a task's health ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// A probe passed.
    Healthy,
    /// Its probe budget ran out while it ran.
    TimedOut,
    /// It ended by itself: exited, or its window went.
    Died,
    /// `taskmux stop` or `kill` ended it (its manual-stop mark is set).
    Stopped,
    /// The wait was cancelled.
    Cancelled,
}

/// The first wait between probes of a task not yet healthy; each next one is twice as
/// long, up to 500 ms (or its `health_interval`, when shorter).
const FIRST_PROBE_STEP: Duration = Duration::from_millis(100);
/// How often a wait between probes looks for a stop by hand.
const STOP_LOOK: Duration = Duration::from_millis(100);

/// Probes a task until healthy, or until `health_retries x health_interval` seconds pass, or
/// it exits, or it is stopped by hand after stop number `since`. Until the first pass the
/// probes come at short, growing intervals (100 ms, doubling up to 500 ms or `health_interval`), so
/// a server ready in a moment is seen at once. Returns the last probe and how the wait
/// ended. `env` is the task's full environment.
pub(super) fn wait_health(
    ctx: &Ctx,
    task: &Task,
    pane_id: &str,
    env: &[(String, String)],
    since: u64,
) -> (Probe, Ended) {
    let budget =
        Duration::try_from_secs_f64(task.health_interval * task.health_retries as f64).unwrap_or(Duration::MAX);
    let deadline = Instant::now().checked_add(budget);
    let interval = Duration::try_from_secs_f64(task.health_interval).unwrap_or(Duration::MAX);
    let mut step = FIRST_PROBE_STEP.min(interval);
    let stopped = || State::load(&ctx.home, &ctx.project.name).is_ok_and(|s| s.stopped_since(&task.name, since));
    loop {
        let st = pane_state(&ctx.tmux, pane_id).ok().flatten();
        let running = st.as_ref().is_some_and(Runtime::running);
        let mut p = health::probe(task, running, env);
        if p.ok {
            return (p, Ended::Healthy);
        }
        // a stop writes its mark before its first signal, so a task it ended has it by now
        let by_hand = stopped()
            || (!running && State::load(&ctx.home, &ctx.project.name).is_ok_and(|s| s.manual_stop(&task.name)));
        if by_hand {
            p.reason = Some("was stopped (by 'taskmux stop' or 'kill') during the wait".into());
            return (p, Ended::Stopped);
        }
        if !running {
            p.reason = Some(match st {
                Some(Runtime {
                    dead: true,
                    exit_code: Some(code),
                    ..
                }) => format!("exited with code {code}"),
                Some(_) => "its process is gone".into(),
                None => "its window is gone".into(),
            });
            return (p, Ended::Died);
        }
        let now = Instant::now();
        let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
        if left.is_zero() {
            return (p, Ended::TimedOut);
        }
        let until = now + step.min(left);
        // growing, but never past the daemon's boot probe (500 ms): a server ready in 3 s
        // is seen within half a second of it, not at the next doubling
        step = (step * 2).min(interval).min(Duration::from_millis(500));
        loop {
            let rest = until.saturating_duration_since(Instant::now());
            if rest.is_zero() {
                break;
            }
            if ctx.cancel.sleep(rest.min(STOP_LOOK)) {
                p.reason = Some("the wait was cancelled".into());
                return (p, Ended::Cancelled);
            }
            if stopped() {
                p.reason = Some("was stopped (by 'taskmux stop' or 'kill') during the wait".into());
                return (p, Ended::Stopped);
            }
        }
    }
}
