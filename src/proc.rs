//! Processes through /proc: liveness, exit codes, process groups, controlling ttys,
//! ancestry, the environment marker every task process carries, signals, the one
//! termination primitive (signal, wait, escalate), and who listens on a port.

use rustix::process::{Pid, Signal};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What /proc/<pid>/stat says about one process.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// Controlling tty, in the kernel's `tty_nr` encoding (0 = none).
    pub tty_nr: i64,
    /// State letter (`R`, `S`, `Z`, …).
    pub state: char,
    /// When it started, in clock ticks since boot.
    pub start_time: u64,
    /// Its command name (`comm`, at most 15 bytes).
    pub comm: String,
}

impl ProcInfo {
    /// Alive: exists and is neither a zombie nor dead.
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads /proc/<pid>/stat.
pub fn stat(pid: i32) -> Option<ProcInfo> {
    parse_stat(&read_stat(pid)?)
}

/// /proc/<pid>/stat in one read (it is well under 1 KB).
fn read_stat(pid: i32) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 1024];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn parse_stat(s: &str) -> Option<ProcInfo> {
    // the command name is in parentheses and may hold spaces or ')': split after the last ')'
    let close = s.rfind(')')?;
    let pid: i32 = s[..s.find(' ')?].parse().ok()?;
    let rest: Vec<&str> = s[close + 1..].split_whitespace().collect();
    Some(ProcInfo {
        pid,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgid: rest.get(2)?.parse().ok()?,
        sid: rest.get(3)?.parse().ok()?,
        tty_nr: rest.get(4)?.parse().ok()?,
        start_time: rest.get(19).and_then(|t| t.parse().ok()).unwrap_or(0),
        comm: s.get(s.find('(')? + 1..close).unwrap_or_default().to_string(),
    })
}

/// The exit code of a zombie (128+N when killed by signal N), read from its stat: for a
/// dead pane whose status tmux has not collected.
pub fn zombie_exit_code(pid: i32) -> Option<i32> {
    let s = read_stat(pid)?;
    let rest: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    if rest.first() != Some(&"Z") {
        return None;
    }
    // field 52 of stat is the wait status; `rest` starts at field 3
    let status: i32 = rest.get(49)?.parse().ok()?;
    Some(wait_status_code(status))
}

/// The exit code a raw wait status stands for: the process's own code, or 128+N when
/// signal N ended it. The one decoder of wait statuses (zombies, `std` child statuses).
pub fn wait_status_code(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

/// The exit code of a finished child, as [`wait_status_code`] reads it.
pub fn status_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    wait_status_code(status.into_raw())
}

/// The exit code of a dead tmux pane: `#{pane_dead_status}`, else 128 +
/// `#{pane_dead_signal}`, else the wait status of its zombie `pid` in /proc (tmux has not
/// collected it yet). None when none of them says. The one decoder of pane exits.
pub fn exit_code(status: Option<i32>, signal: Option<i32>, pid: i32) -> Option<i32> {
    status
        .or_else(|| signal.map(|s| 128 + s))
        .or_else(|| zombie_exit_code(pid))
}

/// Whether `pid` is a live process (a zombie is not).
pub fn alive(pid: i32) -> bool {
    pid > 0 && stat(pid).is_some_and(|p| p.alive())
}

/// The live children of `pid`: from `/proc/<pid>/task/<pid>/children`, else (a kernel
/// without that file) by scanning every process's parent.
pub fn children(pid: i32) -> Vec<i32> {
    match std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        Ok(list) => list
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .filter(|c| alive(*c))
            .collect(),
        Err(_) => snapshot()
            .into_iter()
            .filter(|p| p.ppid == pid && p.alive())
            .map(|p| p.pid)
            .collect(),
    }
}

/// The process of a task's command, in a pane whose own process `pane_pid` runs it as
/// `/bin/sh -c COMMAND`: the pane's process itself once it is no longer that wrapper (the
/// shell exec'd the command, or the command is `exec …`), else the wrapper's only child;
/// None while it has none, or several (`a & b`).
pub fn command_pid(pane_pid: i32, pane_comm: &str) -> Option<i32> {
    if pane_comm != "sh" {
        // no longer the wrapper: the pane's process is the command, and nothing is read
        return Some(pane_pid);
    }
    // still the `/bin/sh -c COMMAND` wrapper (by its name, from the stat already read; a
    // command that is itself an exec'd `sh script` looks the same, and then its one child
    // is shown: a price worth not reading every cmdline): its only child
    let kids: Vec<i32> = match std::fs::read_to_string(format!("/proc/{pane_pid}/task/{pane_pid}/children")) {
        Ok(list) => list.split_whitespace().filter_map(|c| c.parse().ok()).collect(),
        Err(_) => children(pane_pid),
    };
    match kids[..] {
        [] => Some(pane_pid),
        [one] => Some(one),
        _ => None,
    }
}

/// Every process on the machine, as a snapshot.
pub fn snapshot() -> Vec<ProcInfo> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// The `tty_nr` encoding of a tty device path such as `/dev/pts/3`.
pub fn tty_nr_of(path: &str) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    if path.is_empty() {
        return None;
    }
    let rdev = std::fs::metadata(path).ok()?.rdev();
    let (maj, min) = (rustix::fs::major(rdev) as i64, rustix::fs::minor(rdev) as i64);
    Some((min & 0xff) | (maj << 8) | ((min & !0xff) << 12))
}

/// The markers found in processes' environments: pid -> (`TASKMUX_TASK` value, `TMUX` value).
pub type Markers = std::collections::HashMap<i32, (String, String)>;

/// What a process's environment said, by the process: its pid, start time and command
/// name. A process is the same one while the three hold, and its environment is the one it
/// was given when it last exec'd (an exec changes the name, but for a program that execs
/// itself, which is left out by [`MARKER_MEMO_AFTER`]).
type MarkerMemo = std::collections::HashMap<(i32, u64, String), Option<(String, String)>>;

/// The daemon reads every process's environment at each relaunch and reap: reading another
/// process's memory costs tens of microseconds, which 250 processes made 18 ms of each
/// relaunch. A long-lived process remembers what it read, and reads only new processes.
static MARKER_MEMO: Mutex<Option<MarkerMemo>> = Mutex::new(None);

/// A process is remembered once it is this old (in clock ticks, 100 a second on Linux): a younger
/// one may still be between its fork and its exec (tmux's pane process before `__exec`
/// execs the task with its marker).
const MARKER_MEMO_AFTER: u64 = 200;

/// Reads the environment of every live process and keeps the two variables that say which
/// task of which tmux server a process belongs to; what was read of a process before is
/// not read again.
pub fn markers(procs: &[ProcInfo]) -> Markers {
    let mut memo = crate::sync::guard(&MARKER_MEMO);
    let memo = memo.get_or_insert_with(MarkerMemo::new);
    let now = uptime_ticks();
    let mut seen = MarkerMemo::new();
    let mut out = Markers::new();
    // kernel threads (kthreadd, pid 2, and its children) have no environment: most of a
    // quiet machine's processes, skipped without a read
    for p in procs.iter().filter(|p| p.alive() && p.pid != 2 && p.ppid != 2) {
        let key = (p.pid, p.start_time, p.comm.clone());
        let found = match memo.remove(&key) {
            Some(m) => m,
            None => match std::fs::read(format!("/proc/{}/environ", p.pid)) {
                Ok(env) => marker_in(&env),
                Err(_) => continue,
            },
        };
        if let Some(m) = &found {
            out.insert(p.pid, m.clone());
        }
        if now.is_some_and(|n| n >= p.start_time + MARKER_MEMO_AFTER) {
            seen.insert(key, found);
        }
    }
    // what is gone is forgotten
    *memo = seen;
    out
}

/// `TASKMUX_TASK` and `TMUX` in an environment block (None without the first).
fn marker_in(env: &[u8]) -> Option<(String, String)> {
    let mut task = None;
    let mut tmux = String::new();
    for e in env.split(|b| *b == 0) {
        if let Some(v) = e.strip_prefix(b"TASKMUX_TASK=") {
            task = Some(String::from_utf8_lossy(v).into_owned());
        } else if let Some(v) = e.strip_prefix(b"TMUX=") {
            tmux = String::from_utf8_lossy(v).into_owned();
        }
    }
    Some((task?, tmux))
}

/// The time since boot in clock ticks, as `start_time` counts it.
fn uptime_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some((secs * rustix::param::clock_ticks_per_second() as f64) as u64)
}

/// Live processes that tmux started in pane `pane_id` of the server at `socket_path`, or
/// that descend from it: `TMUX_PANE` and the `TMUX` socket in their environment, which a
/// child keeps when it leaves its process group.
pub fn pane_processes(procs: &[ProcInfo], pane_id: &str, socket_path: &str) -> Vec<i32> {
    if pane_id.is_empty() || socket_path.is_empty() {
        return Vec::new();
    }
    let want_pane = format!("TMUX_PANE={pane_id}");
    let want_tmux = format!("TMUX={socket_path},");
    procs
        .iter()
        .filter(|p| p.alive())
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid)).is_ok_and(|env| {
                let mut entries = env.split(|b| *b == 0);
                let pane = entries.clone().any(|e| e == want_pane.as_bytes());
                pane && entries.any(|e| e.starts_with(want_tmux.as_bytes()))
            })
        })
        .map(|p| p.pid)
        .collect()
}

/// How to recognise the processes of one task.
#[derive(Debug, Clone)]
pub struct TaskIdentity {
    /// The pane's process (a session and group leader), 0 if none.
    pub pane_pid: i32,
    /// The pane's tty in `tty_nr` encoding.
    pub tty_nr: Option<i64>,
    /// The value of `TASKMUX_TASK`: `<session>/<task>`.
    pub marker: String,
    /// The tmux socket path: the marker only counts when `TMUX` starts with it.
    pub server: String,
}

/// Finds every live process of a task in `procs`: its group, its tty (as controlling tty or
/// as an open file descriptor), its descendants, and (when `markers` are given) anything
/// carrying its marker — which finds children that called setsid or were orphaned, and,
/// by the tty, a detached child that cleared its environment. `known` is added to.
pub fn task_processes(id: &TaskIdentity, procs: &[ProcInfo], known: &mut HashSet<i32>, markers: Option<&Markers>) {
    let me = std::process::id() as i32;
    let live: Vec<&ProcInfo> = procs.iter().filter(|p| p.alive() && p.pid != me).collect();
    known.retain(|pid| live.iter().any(|p| p.pid == *pid));
    let tty = id.tty_nr.filter(|t| *t != 0);
    let mut devices = TtyDevices::default();
    // only a session leader with no controlling tty that started after the pane can be a
    // child that detached itself (setsid) holding the pane's tty open; what it starts is
    // found as its descendant. The rest (tmux's log writers among them) need no look at
    // their file descriptors, which would cost a directory read per process and task.
    let pane_start = live.iter().find(|p| p.pid == id.pane_pid).map(|p| p.start_time);
    let may_hold = |p: &ProcInfo| p.tty_nr == 0 && p.sid == p.pid && pane_start.is_some_and(|s| p.start_time >= s);
    for p in &live {
        let ours = (id.pane_pid > 0 && (p.pid == id.pane_pid || p.pgid == id.pane_pid || p.sid == id.pane_pid))
            || tty.is_some_and(|t| p.tty_nr == t || (may_hold(p) && devices.held_by(p.pid, t)));
        if ours {
            known.insert(p.pid);
        }
    }
    if let Some(m) = markers {
        for p in &live {
            if let Some((task, tmux)) = m.get(&p.pid)
                && !id.marker.is_empty()
                && *task == id.marker
                && !id.server.is_empty()
                && tmux
                    .strip_prefix(id.server.as_str())
                    .is_some_and(|r| r.starts_with(','))
            {
                known.insert(p.pid);
            }
        }
    }
    // descendants of anything we know
    loop {
        let before = known.len();
        for p in &live {
            if known.contains(&p.ppid) {
                known.insert(p.pid);
            }
        }
        if known.len() == before {
            break;
        }
    }
}

/// The ttys that processes hold open, by the path their file descriptors link to; each
/// device path is looked up once per scan.
#[derive(Default)]
struct TtyDevices {
    nr: std::collections::HashMap<std::path::PathBuf, Option<i64>>,
}

impl TtyDevices {
    /// Whether process `pid` has a file descriptor open on the tty `tty_nr` (a child that
    /// left the pane's session still holds its stdio there). Only links into `/dev/` are
    /// looked at, and never followed otherwise.
    fn held_by(&mut self, pid: i32, tty_nr: i64) -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                return false;
            };
            if !link.starts_with("/dev/") {
                return false;
            }
            let nr = self
                .nr
                .entry(link)
                .or_insert_with_key(|l| tty_nr_of(&l.to_string_lossy()));
            *nr == Some(tty_nr)
        })
    }
}

/// Asks a long wait in progress ([`terminate`], a health gate) to stop: a supervisor that
/// shuts down need not sit out a task's grace period or probe budget. Whoever holds it may
/// cancel; nobody else can. A wait sleeps on it, so a cancel wakes it at once.
#[derive(Debug, Default)]
pub struct Cancel {
    cancelled: AtomicBool,
    lock: std::sync::Mutex<()>,
    wake: std::sync::Condvar,
}

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every wait that watches this token to return ([`Unfinished::Cancelled`]).
    pub fn cancel(&self) {
        let _g = self.lock.lock();
        self.cancelled.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, or less when cancelled meanwhile; true when cancelled.
    pub fn sleep(&self, d: Duration) -> bool {
        let Ok(g) = self.lock.lock() else {
            std::thread::sleep(d);
            return self.is_cancelled();
        };
        if self.is_cancelled() {
            return true;
        }
        let _ = self.wake.wait_timeout_while(g, d, |_| !self.is_cancelled());
        self.is_cancelled()
    }
}

/// One set of processes to end (a task's, a job's) and how long it may take.
#[derive(Debug, Clone)]
pub struct Target {
    /// How its processes are found: group and session of the pane's process, the tty (on
    /// the first look only: a dead pane's pty can be reused), the marker, descendants.
    pub id: TaskIdentity,
    /// Also its processes: those whose environment names this tmux pane (`TMUX_PANE`) of
    /// the server at `id.server`; this finds a job's children that left its group.
    pub pane: Option<String>,
    /// Never signal `id.pane_pid` itself (nor its group as a whole) and do not wait for it:
    /// a job's wrapper, which must outlive its job to record how it ended.
    pub spare_leader: bool,
    /// How long after the interrupt SIGTERM waits; it comes at once when the pane's own
    /// process is gone.
    pub grace: Duration,
}

/// How [`terminate`] escalates. [`Terminate::default`] is `stop`'s: TERM after each
/// target's grace, KILL 3 s later, environments read again every 500 ms.
#[derive(Debug, Clone)]
pub struct Terminate {
    /// SIGKILL at once instead of SIGTERM first (`kill`).
    pub kill_at_once: bool,
    /// From SIGTERM to SIGKILL.
    pub kill_after: Duration,
    /// How long SIGKILL may take before the processes count as stuck.
    pub stuck_after: Duration,
    /// How often the environments of all processes are read again (markers and panes;
    /// the first and the last look always read them). Zero: on every look.
    pub rescan: Duration,
}

impl Default for Terminate {
    fn default() -> Terminate {
        Terminate {
            kill_at_once: false,
            kill_after: Duration::from_secs(3),
            stuck_after: Duration::from_secs(10),
            rescan: Duration::from_millis(500),
        }
    }
}

/// Why [`terminate`] returned with processes left.
#[derive(Debug, Clone, PartialEq)]
pub enum Unfinished {
    /// The processes of target `target` outlived SIGKILL by [`Terminate::stuck_after`]
    /// (stuck in the kernel, or another user's).
    Stuck {
        /// The index of the target in the slice given.
        target: usize,
        /// What was left of it.
        pids: HashSet<i32>,
    },
    /// The [`Cancel`] token was cancelled.
    Cancelled,
}

/// Where one target is in its escalation.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the interrupt to work, until the grace period ends.
    Waiting,
    /// SIGTERM sent at this time.
    Termed(Instant),
    /// SIGKILL sent since this time (again on every look).
    Killing(Instant),
}

/// The processes of each target as last seen.
struct Sweep {
    targets: Vec<Target>,
    sets: Vec<HashSet<i32>>,
}

impl Sweep {
    /// One look at the processes; with `env`, also at their environments.
    fn look(&mut self, env: bool) {
        let procs = snapshot();
        let marks = (env && self.targets.iter().any(|t| !t.id.marker.is_empty())).then(|| markers(&procs));
        for (t, set) in self.targets.iter().zip(&mut self.sets) {
            task_processes(&t.id, &procs, set, marks.as_ref());
            if env && let Some(pane) = &t.pane {
                set.extend(pane_processes(&procs, pane, &t.id.server));
            }
            if t.spare_leader {
                set.remove(&t.id.pane_pid);
            }
        }
    }

    fn all_gone(&self) -> bool {
        self.sets.iter().all(HashSet::is_empty)
    }
}

/// Sends `sig` to every process of a target and to its pane's process group.
fn signal_target(t: &Target, set: &HashSet<i32>, sig: Signal) {
    for &p in set {
        signal(p, sig);
    }
    if t.id.pane_pid > 0 && !t.spare_leader {
        signal_group(t.id.pane_pid, sig);
    }
}

/// Moves one target on in its escalation; `start` is when the interrupt was sent.
fn escalate(t: &Target, set: &HashSet<i32>, phase: &mut Phase, start: Instant, opts: &Terminate) -> bool {
    let now = Instant::now();
    if matches!(phase, Phase::Waiting) && opts.kill_at_once {
        *phase = Phase::Killing(now);
    }
    let pane_alive = t.id.pane_pid > 0 && set.contains(&t.id.pane_pid);
    match *phase {
        Phase::Waiting if !pane_alive || now.duration_since(start) >= t.grace => {
            signal_target(t, set, Signal::TERM);
            *phase = Phase::Termed(now);
        }
        Phase::Termed(at) if now.duration_since(at) >= opts.kill_after => *phase = Phase::Killing(now),
        Phase::Killing(at) => {
            signal_target(t, set, Signal::KILL);
            return now.duration_since(at) <= opts.stuck_after;
        }
        _ => {}
    }
    true
}

/// Ends sets of processes and returns when none of them is left: the one termination
/// primitive of stop, kill and jobs kill. The first look (with ttys, markers and panes)
/// comes before `interrupt` (stop's C-c), while every pane still holds its tty. Then, per
/// target, SIGTERM after its grace period (or at once when the pane's own process is gone,
/// or SIGKILL at once with [`Terminate::kill_at_once`]), SIGKILL [`Terminate::kill_after`]
/// later and again on every look, until nothing is found; one last look at every
/// environment catches a double fork between looks. Returns, per target, whether the first
/// look found any process of it.
pub fn terminate(
    targets: &[Target],
    opts: &Terminate,
    cancel: &Cancel,
    interrupt: impl FnOnce(),
) -> Result<Vec<bool>, Unfinished> {
    let mut sweep = Sweep {
        targets: targets.to_vec(),
        sets: vec![HashSet::new(); targets.len()],
    };
    sweep.look(true);
    let had: Vec<bool> = sweep.sets.iter().map(|s| !s.is_empty()).collect();
    interrupt();
    let start = Instant::now();
    // the tty is only trusted for the first look: once a pane dies its pty can be reused
    for t in &mut sweep.targets {
        t.id.tty_nr = None;
    }
    let mut phases = vec![Phase::Waiting; targets.len()];
    let mut sleep = Duration::from_millis(2);
    let mut last_env = start;
    loop {
        if cancel.is_cancelled() {
            return Err(Unfinished::Cancelled);
        }
        let env = last_env.elapsed() >= opts.rescan;
        if env {
            last_env = Instant::now();
        }
        sweep.look(env);
        for (i, (t, set)) in sweep.targets.iter().zip(&sweep.sets).enumerate() {
            if !set.is_empty() && !escalate(t, set, &mut phases[i], start, opts) {
                return Err(Unfinished::Stuck {
                    target: i,
                    pids: set.clone(),
                });
            }
        }
        if sweep.all_gone() {
            sweep.look(true);
            if sweep.all_gone() {
                return Ok(had);
            }
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(25));
    }
}

/// How [`signal_until`] escalates on a plain list of processes (a daemon, a port's
/// listeners, a probe command's group): the small sibling of [`terminate`], for processes
/// that are not a task's.
#[derive(Debug, Clone, Copy)]
pub struct Escalation {
    /// From when SIGTERM goes, once to each process seen; None: never.
    pub term_after: Option<Duration>,
    /// From when SIGKILL goes, again on every look; None: never.
    pub kill_after: Option<Duration>,
    /// When it gives up (after the look that comes at that time, with its signals).
    pub give_up: Duration,
    /// The longest sleep between two looks (they start 1 ms apart, doubling).
    pub step: Duration,
    /// Signal the process groups the pids lead, not the processes alone.
    pub groups: bool,
}

/// [`signal_until`] gave up with the processes still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlived {
    /// Whether SIGKILL was sent.
    pub killed: bool,
}

/// Signals what `pids` finds on each look as `e` says, until `gone` holds (Ok) or `e`'s
/// time is up ([`Outlived`]). `gone` is asked first on every look.
pub fn signal_until(
    e: &Escalation,
    mut pids: impl FnMut() -> Vec<i32>,
    mut gone: impl FnMut() -> bool,
) -> Result<(), Outlived> {
    let start = Instant::now();
    let mut termed = HashSet::new();
    let mut killed = false;
    let mut sleep = Duration::from_millis(1);
    loop {
        if gone() {
            return Ok(());
        }
        let elapsed = start.elapsed();
        let kill = e.kill_after.is_some_and(|k| elapsed >= k);
        let term = !kill && e.term_after.is_some_and(|t| elapsed >= t);
        let send = |p: i32, sig: Signal| if e.groups { signal_group(p, sig) } else { signal(p, sig) };
        for p in pids() {
            if kill {
                send(p, Signal::KILL);
            } else if term && termed.insert(p) {
                send(p, Signal::TERM);
            }
        }
        killed |= kill;
        if elapsed >= e.give_up {
            return Err(Outlived { killed });
        }
        std::thread::sleep(sleep.min(e.give_up.saturating_sub(start.elapsed())));
        sleep = (sleep * 2).min(e.step);
    }
}

/// Sends a signal to a process; errors (it is gone) are ignored.
pub fn signal(pid: i32, sig: Signal) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// Sends a signal to a process group; errors are ignored.
pub fn signal_group(pgid: i32, sig: Signal) {
    if let Some(p) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(p, sig);
    }
}

/// Socket inodes listening on TCP `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> HashSet<u64> {
    let mut out = HashSet::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let Some(p) = cols[1].rsplit(':').next().and_then(|h| u16::from_str_radix(h, 16).ok()) else {
                continue;
            };
            if p == port
                && let Ok(inode) = cols[9].parse::<u64>()
                && inode != 0
            {
                out.insert(inode);
            }
        }
    }
    out
}

/// Whether anything listens on TCP `port`.
pub fn port_listening(port: u16) -> bool {
    !listening_inodes(port).is_empty()
}

/// The processes holding a socket that listens on TCP `port` (those we can see).
pub fn listeners(port: u16) -> Vec<i32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(Path::new("/proc").join(pid.to_string()).join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok()
                })
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_until_escalates_and_gives_up() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("sleep runs");
        let pid = child.id() as i32;
        let term = Escalation {
            term_after: Some(Duration::ZERO),
            kill_after: None,
            give_up: Duration::from_secs(10),
            step: Duration::from_millis(10),
            groups: false,
        };
        let r = signal_until(&term, || vec![pid], || child.try_wait().is_ok_and(|s| s.is_some()));
        assert_eq!(r, Ok(()), "SIGTERM ends sleep");
        // nothing to signal and never gone: it gives up when told, having sent no SIGKILL
        let none = Escalation {
            kill_after: Some(Duration::from_secs(60)),
            give_up: Duration::from_millis(30),
            ..term
        };
        let t = Instant::now();
        assert_eq!(signal_until(&none, Vec::new, || false), Err(Outlived { killed: false }));
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_cancel_wakes_a_sleeper_at_once() {
        let c = std::sync::Arc::new(Cancel::new());
        assert!(!c.sleep(Duration::from_millis(1)), "not cancelled: sleeps it out");
        let t0 = Instant::now();
        let c2 = std::sync::Arc::clone(&c);
        let h = std::thread::spawn(move || c2.sleep(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert!(h.join().expect("sleeper returns"), "woken by the cancel");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(c.sleep(Duration::from_secs(60)), "a cancelled token never sleeps");
    }

    #[test]
    fn stat_with_odd_names() {
        let p = parse_stat("42 (a) b (c)) S 1 42 42 34816 42 4194560 0").expect("parses");
        assert_eq!(
            (p.pid, p.ppid, p.pgid, p.sid, p.tty_nr, p.state),
            (42, 1, 42, 42, 34816, 'S')
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(wait_status_code(3 << 8), 3);
        assert_eq!(wait_status_code(9), 137);
        assert_eq!(wait_status_code(0x80 | 11), 139);
        assert_eq!(exit_code(Some(2), Some(9), 0), Some(2));
        assert_eq!(exit_code(None, Some(15), 0), Some(143));
        assert_eq!(exit_code(None, None, 0), None);
    }

    /// `sh -c script` in a process group of its own, and its target.
    fn group(script: &str, grace: Duration) -> (std::process::Child, Target) {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .process_group(0)
            .spawn()
            .unwrap();
        let target = Target {
            id: TaskIdentity {
                pane_pid: child.id() as i32,
                tty_nr: None,
                marker: String::new(),
                server: String::new(),
            },
            pane: None,
            spare_leader: false,
            grace,
        };
        (child, target)
    }

    fn wait_started(pid: i32, children: usize) {
        let until = Instant::now() + Duration::from_secs(5);
        while snapshot().iter().filter(|p| p.ppid == pid && p.alive()).count() < children && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn terminate_escalates_to_kill_and_kill_comes_at_once() {
        let opts = Terminate {
            kill_after: Duration::from_millis(200),
            ..Terminate::default()
        };
        let (mut child, t) = group("trap '' TERM; sleep 30 & wait", Duration::ZERO);
        wait_started(t.id.pane_pid, 1);
        let started = Instant::now();
        assert_eq!(terminate(&[t], &opts, &Cancel::new(), || {}), Ok(vec![true]));
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "TERM is ignored: KILL ended it"
        );
        child.wait().unwrap();

        let opts = Terminate {
            kill_at_once: true,
            ..Terminate::default()
        };
        let (mut child, t) = group("trap '' TERM; sleep 30 & wait", Duration::from_secs(60));
        wait_started(t.id.pane_pid, 1);
        let started = Instant::now();
        assert_eq!(terminate(&[t], &opts, &Cancel::new(), || {}), Ok(vec![true]));
        assert!(started.elapsed() < Duration::from_secs(3));
        child.wait().unwrap();
    }

    #[test]
    fn terminate_spares_the_leader_and_stops_when_cancelled() {
        let (mut child, mut t) = group("sleep 30 & exec sleep 31", Duration::ZERO);
        t.spare_leader = true;
        wait_started(t.id.pane_pid, 1);
        assert_eq!(
            terminate(&[t.clone()], &Terminate::default(), &Cancel::new(), || {}),
            Ok(vec![true])
        );
        assert!(alive(t.id.pane_pid), "the leader is spared");
        let cancel = Cancel::new();
        cancel.cancel();
        t.spare_leader = false;
        assert_eq!(
            terminate(&[t.clone()], &Terminate::default(), &cancel, || {}),
            Err(Unfinished::Cancelled)
        );
        assert!(alive(t.id.pane_pid), "a cancelled wait sends nothing more");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn self_is_alive() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(0));
    }
}
