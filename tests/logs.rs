//! Logs and events against real tmux and real processes: the `pipe-pane` writer (every line,
//! once, in order, timestamped; rotation; CR redraws, escape codes, invalid UTF-8, endless
//! lines), reading with `logs` (`-n`, `-g`/`-C`, `--since`, interleaving, `-f` across a
//! rotation), logs that outlive the tmux server, `logs-clean`, and the event history.

use crate::harness::{Env, alive, require, show, start_ok, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The default log file of a task.
fn log_path(env: &Env, session: &str, task: &str) -> PathBuf {
    env.home
        .join("projects")
        .join(session)
        .join("logs")
        .join(format!("{task}.log"))
}

/// `<path>.N`, a rotated file.
fn rotated(p: &Path, n: u32) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Whether a line starts with `YYYY-MM-DDTHH:MM:SS.mmm `.
fn stamped(line: &[u8]) -> bool {
    const PAT: &[u8; 24] = b"dddd-dd-ddTdd:dd:dd.ddd ";
    line.len() >= 24
        && PAT
            .iter()
            .zip(line)
            .all(|(p, c)| if *p == b'd' { c.is_ascii_digit() } else { p == c })
}

/// The complete lines of a log file (an unfinished last line is left out), as bytes with
/// their timestamps; each must be stamped.
fn raw_lines(p: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(p).unwrap_or_default();
    let mut parts: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    parts.pop(); // after the last newline: "" or an unfinished line
    parts
        .into_iter()
        .map(|l| {
            assert!(
                stamped(l),
                "{} has an unstamped line: {:?}",
                p.display(),
                String::from_utf8_lossy(l)
            );
            l.to_vec()
        })
        .collect()
}

/// The text (timestamp removed, lossy UTF-8) of every complete line of a log file.
fn texts(p: &Path) -> Vec<String> {
    raw_lines(p)
        .iter()
        .map(|l| String::from_utf8_lossy(&l[24..]).into_owned())
        .collect()
}

/// Whether a log file holds a complete line whose text is exactly `text`.
fn has_line(p: &Path, text: &str) -> bool {
    texts(p).iter().any(|t| t == text)
}

/// The strings of `v["lines"]` (a one-task `logs --json` answer).
fn json_lines(v: &Value) -> Vec<String> {
    v["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {v}"))
        .iter()
        .map(|l| l.as_str().unwrap_or_else(|| panic!("not a string: {l}")).to_string())
        .collect()
}

/// The text of a `logs --json` line (after its timestamp, which must be well formed).
fn text_of(line: &str) -> &str {
    assert!(stamped(line.as_bytes()), "unstamped line from logs: {line:?}");
    &line[24..]
}

/// Polls `cond` every 20 ms until it holds or `secs` pass; whether it held.
fn eventually(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of an epoch time.
fn iso_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Live log writers of a file: processes whose arguments are `… __log <path> …` (the tmux
/// server, whose own command line may quote the pipe command, is not one).
fn writers_of(path: &Path) -> Vec<i32> {
    let path = path.as_os_str().as_encoded_bytes();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.windows(2).any(|w| w[0] == b"__log" && w[1] == path) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// A running `taskmux logs -f`: its stdout lines arrive on a channel; killed on drop.
struct Follower {
    child: Child,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn spawn(env: &Env, args: &[&str]) -> Follower {
        let mut child = env
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn taskmux logs -f");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// Collects lines until `done` holds for the collected ones or `secs` pass; whether it held.
    fn until(&mut self, secs: f64, done: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(l) => self.seen.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return done(&self.seen),
            }
        }
        true
    }

    /// The (task, text) of each line seen; each must be a JSON object `{"task", "line"}`.
    fn items(&self) -> Vec<(String, String)> {
        self.seen
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("-f --json printed a non-JSON line ({e}): {l:?}"));
                let task = v["task"].as_str().unwrap_or_else(|| panic!("no task in {v}"));
                let line = v["line"].as_str().unwrap_or_else(|| panic!("no line in {v}"));
                (task.to_string(), text_of(line).to_string())
            })
            .collect()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a `-f --json` output line is an object whose `line` ends with `suffix`.
fn json_line_ends(l: &str, suffix: &str) -> bool {
    serde_json::from_str::<Value>(l)
        .ok()
        .and_then(|v| v["line"].as_str().map(|s| s.ends_with(suffix)))
        .unwrap_or(false)
}

/// The numbers `N` of texts `<prefix> N` of one task, in the order seen.
fn numbers(items: &[(String, String)], task: &str, prefix: &str) -> Vec<u64> {
    items
        .iter()
        .filter(|(t, _)| t == task)
        .filter_map(|(_, text)| text.strip_prefix(prefix).and_then(|n| n.trim().parse().ok()))
        .collect()
}

/// Asserts `nums` is `k, k+1, …, last` for some k, with at least `min` of them.
fn assert_run(nums: &[u64], last: u64, min: usize, what: &str) {
    assert!(nums.len() >= min, "{what}: only {} numbers seen: {nums:?}", nums.len());
    for w in nums.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{what}: {} followed by {} (lost or repeated): {nums:?}",
            w[0],
            w[1]
        );
    }
    assert_eq!(nums.last(), Some(&last), "{what}: {nums:?}");
}

#[test]
fn two_hundred_thousand_lines_each_once_in_order_stamped() {
    let Some(env) = Env::with_tmux("seq200k") else { return };
    env.tasks("flood", &[("a", "seq 1 200000; sleep 1000")]).started();
    let log = log_path(&env, "flood", "a");
    wait_for(30.0, "line 200000 in the log", || {
        std::fs::read(&log).is_ok_and(|d| d.ends_with(b" 200000\n"))
    });
    let data = std::fs::read(&log).expect("log");
    let lines: Vec<&[u8]> = data
        .strip_suffix(b"\n")
        .unwrap_or(&data)
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(lines.len(), 200_000, "every line once, no extra line");
    for (i, l) in lines.iter().enumerate() {
        let want = (i + 1).to_string();
        assert!(
            stamped(l) && l.len() == 24 + want.len() && &l[24..] == want.as_bytes(),
            "line {} should be `<stamp> {want}`, is {:?}",
            i + 1,
            String::from_utf8_lossy(l)
        );
    }
    // the same lines through the reader: the last ones, and a well-formed timestamp order
    let (v, code) = env.json(&["logs", "a", "-n", "2"]);
    assert_eq!(code, 0, "{v}");
    let got: Vec<String> = json_lines(&v).iter().map(|l| text_of(l).to_string()).collect();
    assert_eq!(got, vec!["199999", "200000"], "{v}");
    let first = String::from_utf8_lossy(&lines[0][..23]).into_owned();
    let last = String::from_utf8_lossy(&lines[199_999][..23]).into_owned();
    assert!(first <= last, "timestamps go forward: {first} .. {last}");
}

#[test]
fn the_first_line_of_a_task_that_exits_at_once_is_logged() {
    let Some(env) = Env::with_tmux("firstline") else { return };
    env.config(
        r#"name = "quick"
[tasks.q]
command = "echo first-line; exit 0"
restart_policy = "no"
"#,
    );
    env.started();
    let log = log_path(&env, "quick", "q");
    let ok = eventually(10.0, || has_line(&log, "first-line"));
    assert!(
        ok,
        "first-line never reached {}: {:?}",
        log.display(),
        std::fs::read(&log).map(|d| String::from_utf8_lossy(&d).into_owned())
    );
    let (v, code) = env.json(&["logs", "q"]);
    assert_eq!(code, 0, "{v}");
    assert!(json_lines(&v).iter().any(|l| text_of(l) == "first-line"), "{v}");
}

#[test]
fn rotation_keeps_max_files_each_under_the_size_with_whole_lines() {
    let Some(env) = Env::with_tmux("rotate") else { return };
    env.config(
        r#"name = "rot"
[tasks.a]
command = "seq -f 'line %08g xxxxxxxxxxxxxxxxxxxxxxxxxx' 1 3000; sleep 1000"
log_max_size = "2KB"
log_max_files = 2
"#,
    );
    env.started();
    let log = log_path(&env, "rot", "a");
    let last = "line 00003000 xxxxxxxxxxxxxxxxxxxxxxxxxx";
    wait_for(20.0, "line 3000 in a.log", || {
        texts(&log).last().is_some_and(|t| t == last)
    });
    let dir = log.parent().expect("logs dir");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("logs dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["a.log", "a.log.1", "a.log.2"], "never a .log.3");
    let mut nums = Vec::new();
    for p in [rotated(&log, 2), rotated(&log, 1), log.clone()] {
        let data = std::fs::read(&p).expect("log file");
        assert!(data.len() <= 2048, "{} is {} bytes", p.display(), data.len());
        assert!(data.ends_with(b"\n"), "{} ends inside a line", p.display());
        let t = texts(&p);
        assert!(!t.is_empty(), "{} is empty", p.display());
        for line in t {
            let n = line
                .strip_prefix("line ")
                .and_then(|r| r.strip_suffix(" xxxxxxxxxxxxxxxxxxxxxxxxxx"))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{} holds a broken line {line:?}", p.display()));
            nums.push(n);
        }
    }
    assert_run(&nums, 3000, 60, ".log.2 -> .log.1 -> .log");
}

#[test]
fn awkward_output_cr_ansi_invalid_utf8_and_an_endless_line() {
    let Some(env) = Env::with_tmux("awkward") else { return };
    let python = require("python3", &["python3", "-c", "pass"]);
    let mut cfg = String::from(
        r#"name = "awk"
[tasks.cr]
command = '''printf '10%%\r50%%\r100%%\n'; sleep 1000'''
[tasks.ansi]
command = '''printf '\033[31mred\033[0m\n'; sleep 1000'''
[tasks.bad]
command = '''printf 'bad \377\376 bytes\n'; sleep 1000'''
"#,
    );
    if python {
        cfg.push_str(
            r#"[tasks.big]
command = '''python3 -c "import sys; sys.stdout.write('y'*10_000_000); sys.stdout.flush()"; sleep 1000'''
log_max_size = "64MB"
"#,
        );
    } else {
        eprintln!("the 10 MB line part is skipped");
    }
    env.config(&cfg).started();

    // CR redraws: the final state once, no intermediate state as a line of its own
    let cr = log_path(&env, "awk", "cr");
    wait_for(10.0, "100% in cr.log", || has_line(&cr, "100%"));
    let t = texts(&cr);
    assert!(
        !t.iter().any(|l| l == "10%" || l == "50%" || l.contains('\r')),
        "a redrawn progress line is logged in its last state only: {t:?}"
    );
    assert_eq!(t.iter().filter(|l| l.contains("100%")).count(), 1, "{t:?}");

    // ANSI colors: kept in the file, removed from --json, invisible to -g
    let ansi = log_path(&env, "awk", "ansi");
    wait_for(10.0, "the red line in ansi.log", || {
        texts(&ansi).iter().any(|l| l.contains("red"))
    });
    assert!(
        texts(&ansi).iter().any(|l| l == "\u{1b}[31mred\u{1b}[0m"),
        "the file keeps the escapes: {:?}",
        texts(&ansi)
    );
    let o = env.run(&["--json", "logs", "ansi"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!o.stdout.contains(&0x1b), "--json carries no ESC: {}", show(&o));
    let (v, _) = env.json(&["logs", "ansi"]);
    let lines = json_lines(&v);
    assert!(lines.iter().any(|l| text_of(l) == "red"), "{v}");
    // -g matches the visible text, case-insensitively, anchored at its start and end
    let (v, code) = env.json(&["logs", "ansi", "-g", "^RED$"]);
    assert_eq!(code, 0, "{v}");
    let lines = json_lines(&v);
    assert_eq!(lines.len(), 1, "-g '^RED$' finds the red line: {v}");
    assert_eq!(text_of(&lines[0]), "red", "{v}");
    let o = env.run(&["logs", "ansi", "-g", "red"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("red"), "{}", show(&o));

    // invalid UTF-8: the bytes are in the file, and --json is still valid JSON
    let bad = log_path(&env, "awk", "bad");
    wait_for(10.0, "the bad line in bad.log", || {
        texts(&bad).iter().any(|l| l.starts_with("bad "))
    });
    assert!(
        raw_lines(&bad).iter().any(|l| &l[24..] == b"bad \xff\xfe bytes"),
        "the raw bytes are kept: {:?}",
        texts(&bad)
    );
    let (v, code) = env.json(&["logs", "bad"]); // panics when not JSON
    assert_eq!(code, 0, "{v}");
    let lines = json_lines(&v);
    assert!(
        lines
            .iter()
            .any(|l| text_of(l).starts_with("bad ") && l.ends_with(" bytes")),
        "{v}"
    );

    if !python {
        return;
    }
    // a 10 MB line with no newline: every byte arrives, in lines of at most 64 KiB
    let big = log_path(&env, "awk", "big");
    let total = 10_000_000usize;
    let files = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = (1..=3).map(|n| rotated(&big, n)).filter(|p| p.exists()).collect();
        v.reverse();
        v.push(big.clone());
        v
    };
    let count_y = || -> usize {
        files()
            .iter()
            .map(|p| {
                std::fs::read(p)
                    .unwrap_or_default()
                    .iter()
                    .filter(|b| **b == b'y')
                    .count()
            })
            .sum()
    };
    let size = || -> u64 {
        files()
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let mut seen = 0;
    let ok = eventually(60.0, || {
        // counting 10 MB is slow in a debug build: only when the size says it can be done
        size() >= total as u64 && {
            seen = count_y();
            seen >= total
        }
    });
    assert!(ok, "only {seen} of {total} y bytes reached the log ({} bytes)", size());
    let mut n = 0;
    for p in files() {
        for l in raw_lines(&p) {
            let text = &l[24..];
            assert!(
                text.len() <= 65_536,
                "{}: a line of {} bytes is over the cap",
                p.display(),
                text.len()
            );
            assert!(
                text.iter().all(|b| *b == b'y'),
                "{}: a line that is not all y",
                p.display()
            );
            n += text.len();
        }
    }
    assert_eq!(n, total, "every y once, no partial line left");
}

#[test]
fn logs_survive_tmux_kill_server() {
    let Some(env) = Env::with_tmux("killsrv") else { return };
    env.tasks("surv", &[("a", "seq -f 'row %g' 1 50; sleep 1000")])
        .started();
    let log = log_path(&env, "surv", "a");
    wait_for(10.0, "row 50 in the log", || has_line(&log, "row 50"));
    env.tmux(&["kill-server"]);
    wait_for(10.0, "the tmux server to be gone", || {
        !Command::new("tmux")
            .args(["-L", &env.socket, "has-session"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let (v, code) = env.json(&["logs", "a", "-n", "5"]);
    assert_eq!(code, 0, "{v}");
    let got: Vec<String> = json_lines(&v).iter().map(|l| text_of(l).to_string()).collect();
    assert_eq!(got, vec!["row 46", "row 47", "row 48", "row 49", "row 50"], "{v}");
    let o = env.run(&["logs", "a", "-g", "^row 7$"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let hits: Vec<&str> = out.lines().collect();
    assert_eq!(hits.len(), 1, "{}", show(&o));
    assert!(
        hits[0].ends_with(" row 7") && stamped(hits[0].as_bytes()),
        "{}",
        show(&o)
    );
    // all tasks, too
    let (v, code) = env.json(&["logs", "-g", "row 1[0-2]$"]);
    assert_eq!(code, 0, "{v}");
    let lines = v["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 3, "{v}");
    assert!(lines.iter().all(|l| l["task"] == "a"), "{v}");
}

#[test]
fn logs_filters_tail_grep_context_since_and_interleaving() {
    let Some(env) = Env::with_tmux("filters") else { return };
    env.tasks("filt", &[("nums", "seq 1 20; sleep 1000"), ("since", "echo old; sleep 3; echo new; sleep 1000"), ("ping", "for i in 1 2 3; do while [ ! -e turn-ping-$i ]; do sleep 0.02; done; echo ping $i; sleep 0.3; touch turn-pong-$i; done; sleep 1000"), ("pong", "for i in 1 2 3; do while [ ! -e turn-pong-$i ]; do sleep 0.02; done; echo pong $i; sleep 0.3; touch turn-ping-$((i+1)); done; sleep 1000")]);
    env.file("turn-ping-1", "");
    env.started();

    // -n
    let nums = log_path(&env, "filt", "nums");
    wait_for(10.0, "20 in nums.log", || has_line(&nums, "20"));
    let texts_of = |v: &Value| -> Vec<String> { json_lines(v).iter().map(|l| text_of(l).to_string()).collect() };
    let (v, code) = env.json(&["logs", "nums", "-n", "3"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["task"], "nums", "{v}");
    assert_eq!(texts_of(&v), vec!["18", "19", "20"], "{v}");
    // -g with -C
    let (v, code) = env.json(&["logs", "nums", "-g", "^10$", "-C", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(texts_of(&v), vec!["9", "10", "11"], "{v}");
    let (v, code) = env.json(&["logs", "nums", "-g", "^1[05]$"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(texts_of(&v), vec!["10", "15"], "-g without -C: {v}");
    // bad values
    let (v, code) = env.json(&["logs", "nums", "-g", "(unclosed"]);
    assert_eq!((code, v["code"].as_str()), (2, Some("E500")), "invalid regex: {v}");
    let (v, code) = env.json(&["logs", "nums", "--since", "bogus"]);
    assert_eq!((code, v["code"].as_str()), (2, Some("E500")), "--since bogus: {v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("bogus") && msg.contains("5m") && msg.contains("ISO"),
        "the message names the value and the accepted forms: {msg}"
    );
    let o = env.run(&["logs", "nums", "--since", "bogus"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E500]"),
        "{}",
        show(&o)
    );

    // interleaving: ping and pong take turns, 0.3 s apart
    let pong = log_path(&env, "filt", "pong");
    wait_for(15.0, "pong 3 in pong.log", || has_line(&pong, "pong 3"));
    let (v, code) = env.json(&["logs"]);
    assert_eq!(code, 0, "{v}");
    let all = v["lines"].as_array().unwrap_or_else(|| panic!("no lines: {v}"));
    let mut stamps = Vec::new();
    let mut turns = Vec::new();
    for item in all {
        let task = item["task"].as_str().unwrap_or_else(|| panic!("no task in {item}"));
        let line = item["line"].as_str().unwrap_or_else(|| panic!("no line in {item}"));
        stamps.push(line[..23].to_string());
        if task == "ping" || task == "pong" {
            turns.push(format!("{task}:{}", text_of(line)));
        }
    }
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "lines ordered by timestamp: {v}"
    );
    assert_eq!(
        turns,
        vec![
            "ping:ping 1",
            "pong:pong 1",
            "ping:ping 2",
            "pong:pong 2",
            "ping:ping 3",
            "pong:pong 3"
        ],
        "{v}"
    );
    assert!(all.iter().any(|i| i["task"] == "nums"), "every task's lines: {v}");

    // --since: "old" is 3 s older than "new"
    let since = log_path(&env, "filt", "since");
    wait_for(10.0, "new in since.log", || has_line(&since, "new"));
    let (v, code) = env.json(&["logs", "since", "--since", "2s"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(texts_of(&v), vec!["new"], "{v}");
    let (v, code) = env.json(&["logs", "since", "--since", "1h"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(texts_of(&v), vec!["old", "new"], "{v}");
    let future = iso_utc(now_secs() + 120);
    let (v, code) = env.json(&["logs", "since", "--since", &future]);
    assert_eq!(code, 0, "{v}");
    assert!(texts_of(&v).is_empty(), "--since {future}: {v}");
}

#[test]
fn follow_across_rotation_for_one_task_and_for_all() {
    let Some(env) = Env::with_tmux("follow") else { return };
    env.config(
        r#"name = "fol"
[tasks.tick]
command = "for i in $(seq 1 150); do echo tick $i; sleep 0.02; done; sleep 1000"
log_max_size = "1KB"
log_max_files = 3
[tasks.tock]
command = "for i in $(seq 1 40); do echo tock $i; sleep 0.05; done; sleep 1000"
"#,
    );
    env.started();
    let mut one = Follower::spawn(&env, &["--json", "logs", "tick", "-f"]);
    let mut all = Follower::spawn(&env, &["--json", "logs", "-f"]);
    let done_tick = |seen: &[String]| seen.iter().any(|l| json_line_ends(l, " tick 150"));
    let ok = one.until(20.0, done_tick);
    assert!(ok, "logs tick -f never showed tick 150; saw {:?}", one.items());
    let items = one.items();
    assert!(items.iter().all(|(t, _)| t == "tick"), "{items:?}");
    // a file holds at most 31 such lines, so 70 in a row cross at least one rotation
    assert_run(&numbers(&items, "tick", "tick "), 150, 70, "logs tick -f");
    assert!(
        rotated(&log_path(&env, "fol", "tick"), 2).exists(),
        "the log did rotate"
    );

    let ok = all.until(20.0, |seen| {
        done_tick(seen) && seen.iter().any(|l| json_line_ends(l, " tock 40"))
    });
    assert!(ok, "logs -f never showed tick 150 and tock 40; saw {:?}", all.items());
    let items = all.items();
    assert_run(&numbers(&items, "tick", "tick "), 150, 70, "logs -f (tick)");
    assert_run(&numbers(&items, "tock", "tock "), 40, 20, "logs -f (tock)");
}

#[test]
fn the_pipe_survives_restart_with_one_writer() {
    let Some(env) = Env::with_tmux("pipe") else { return };
    env.config(
        r#"name = "piped"
[tasks.r]
command = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; sleep 1000'
stop_grace_period = 1
"#,
    );
    env.started();
    let log = log_path(&env, "piped", "r");
    wait_for(10.0, "run 1 in the log", || has_line(&log, "run 1"));
    let pane = |env: &Env| -> String {
        let (v, code) = env.json(&["inspect", "r"]);
        assert_eq!(code, 0, "{v}");
        v["pane_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no pane_id: {v}"))
            .to_string()
    };
    let p = pane(&env);
    assert_eq!(env.tmux(&["display", "-p", "-t", &p, "#{pane_pipe}"]).trim(), "1");

    assert_eq!(writers_of(&log).len(), 1, "one log writer after start");
    // lines of the restarted process land in the log (whatever the stop left on the line)
    let ends = |n: u32| {
        let want = format!("run {n}");
        move |t: &String| t.ends_with(&want)
    };
    let mut writers = Vec::new();
    for n in 2..=3 {
        let (v, code) = env.json(&["restart", "r"]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["ok"], true, "{v}");
        let ok = eventually(10.0, || texts(&log).iter().any(ends(n)));
        assert!(ok, "run {n} never reached the log: {:?}", texts(&log));
        let p = pane(&env);
        assert_eq!(
            env.tmux(&["display", "-p", "-t", &p, "#{pane_pipe}"]).trim(),
            "1",
            "the pane is still piped after restart {}",
            n - 1
        );
        let one = eventually(5.0, || {
            writers = writers_of(&log);
            writers.len() == 1
        });
        assert!(one, "one log writer after restart {}, found {writers:?}", n - 1);
    }
    let t = texts(&log);
    for n in 1..=3 {
        assert_eq!(t.iter().filter(|l| ends(n)(l)).count(), 1, "run {n} logged once: {t:?}");
    }
    // the stop's C-c is echoed by the terminal as "^C" with no newline; the restarted
    // process's first line must still be a line of its own, findable with -g '^run 2$'
    for n in 2..=3 {
        let want = format!("run {n}");
        assert!(
            t.contains(&want),
            "the first line after restart is glued to what the stop left: want a line {want:?}, log is {t:?}"
        );
    }
}

#[test]
fn logs_clean_deletes_and_the_writer_recreates() {
    let Some(env) = Env::with_tmux("clean") else { return };
    env.config(
        r#"name = "cln"
[tasks.c]
command = "seq -f 'pre %g' 1 100; while [ ! -e go ]; do sleep 0.05; done; echo after-go; sleep 1000"
log_max_size = "1KB"
log_max_files = 2
"#,
    );
    env.started();
    let log = log_path(&env, "cln", "c");
    wait_for(10.0, "pre 100 in the log", || has_line(&log, "pre 100"));
    let files: Vec<PathBuf> = [log.clone(), rotated(&log, 1), rotated(&log, 2)]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    assert_eq!(files.len(), 3, "100 lines of 32 bytes fill three 1 KB files");
    let (v, code) = env.json(&["logs-clean", "c"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["deleted"], 3, "{v}");
    for p in &files {
        assert!(!p.exists(), "{} is gone", p.display());
    }
    let (v, code) = env.json(&["logs", "c"]);
    assert_eq!(code, 0, "reading a cleaned log is not an error: {v}");
    assert!(json_lines(&v).is_empty(), "{v}");
    let (v, code) = env.json(&["logs-clean", "c"]);
    assert_eq!(
        (code, &v["deleted"]),
        (0, &Value::from(0)),
        "nothing left to delete: {v}"
    );

    // new output of the running task re-creates the file
    env.file("go", "");
    wait_for(10.0, "after-go in a new log", || has_line(&log, "after-go"));
    let t = texts(&log);
    assert!(
        !t.iter().any(|l| l.starts_with("pre ")),
        "old lines stay deleted: {t:?}"
    );
}

#[test]
fn events_record_each_lifecycle_command_and_filter() {
    let Some(env) = Env::with_tmux("events") else { return };
    env.config(
        r#"name = "evp"
[tasks.a]
command = "sleep 1000"
stop_grace_period = 1
[tasks.b]
command = "sleep 1000"
stop_grace_period = 1
"#,
    );
    let other = env.root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(
        other.join("taskmux.toml"),
        "name = \"otherp\"\n[tasks.x]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n",
    )
    .expect("write config");
    let other_cfg = other.join("taskmux.toml").to_string_lossy().into_owned();
    let before = iso_utc(now_secs() - 60);

    env.started();
    for args in [&["stop"][..], &["restart", "a"], &["kill", "a"]] {
        let (v, code) = env.json(args);
        assert_eq!(code, 0, "{args:?}: {v}");
        assert_eq!(v["ok"], true, "{args:?}: {v}");
    }
    start_ok(&env, &["-c", &other_cfg]);

    let ts_ok = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$").expect("regex");
    let evs = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["events"];
        a.extend_from_slice(args);
        let (v, code) = env.json(&a);
        assert_eq!(code, 0, "events {args:?}: {v}");
        let list = v["events"]
            .as_array()
            .unwrap_or_else(|| panic!("no events: {v}"))
            .clone();
        assert_eq!(v["count"], list.len(), "count matches: {v}");
        list
    };
    let all = evs(&[]);
    let find = |event: &str, task: Option<&str>| -> usize {
        all.iter()
            .position(|e| e["event"] == event && task.is_none_or(|t| e["task"] == t))
            .unwrap_or_else(|| panic!("no {event} {task:?} in {all:#?}"))
    };
    let started = find("task_started", Some("a"));
    find("task_started", Some("b"));
    find("session_started", None);
    let stopped = find("task_stopped", Some("a"));
    find("task_stopped", Some("b"));
    let restarted = find("task_restarted", Some("a"));
    let killed = find("task_killed", Some("a"));
    assert!(
        started < stopped && stopped < restarted && restarted < killed,
        "oldest first: {all:#?}"
    );
    for e in &all {
        let ts = e["ts"].as_str().unwrap_or_else(|| panic!("no ts: {e}"));
        assert!(ts_ok.is_match(ts), "ts is ISO UTC with +00:00: {e}");
        assert_eq!(e["session"], "evp", "plain events is this project only: {e}");
        assert!(e["event"].is_string(), "{e}");
        if e["event"].as_str().is_some_and(|s| s.starts_with("task_")) {
            assert!(e["task"] == "a" || e["task"] == "b", "task events name the task: {e}");
        }
    }

    let b = evs(&["--task", "b"]);
    assert!(!b.is_empty() && b.iter().all(|e| e["task"] == "b"), "{b:#?}");
    assert!(b.iter().any(|e| e["event"] == "task_stopped"), "{b:#?}");
    let last2 = evs(&["-n", "2"]);
    assert_eq!(last2, all[all.len() - 2..].to_vec(), "-n 2 is the last two");
    assert_eq!(evs(&["--since", "1h"]), all, "--since 1h holds them all");
    assert_eq!(evs(&["--since", &before]), all, "--since {before} holds them all");
    let future = iso_utc(now_secs() + 60);
    assert!(evs(&["--since", &future]).is_empty(), "--since {future} holds none");
    let (v, code) = env.json(&["events", "--since", "bogus"]);
    assert_eq!((code, v["code"].as_str()), (2, Some("E500")), "{v}");

    let everyone = evs(&["--all-projects"]);
    for s in ["evp", "otherp"] {
        assert!(
            everyone.iter().any(|e| e["session"] == s),
            "--all-projects shows {s}: {everyone:#?}"
        );
    }
    let theirs = evs(&["-c", &other_cfg]);
    assert!(
        !theirs.is_empty() && theirs.iter().all(|e| e["session"] == "otherp"),
        "-c other: only otherp: {theirs:#?}"
    );
    assert!(
        theirs.iter().any(|e| e["event"] == "task_started" && e["task"] == "x"),
        "{theirs:#?}"
    );
}

/// The permission bits of a path.
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn state_is_private_events_and_logs_0600_directories_0700() {
    let Some(env) = Env::with_tmux("modes") else { return };
    // a state directory taskmux makes itself, not the one the harness made
    let home = env.home.join("fresh");
    env.tasks("modes", &[("m", "echo hello; sleep 1000")]);
    let o = env
        .command(&["--json", "start"])
        .env("TASKMUX_HOME", &home)
        .output()
        .expect("start");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let log = home.join("projects/modes/logs/m.log");
    wait_for(10.0, "hello in the log", || has_line(&log, "hello"));
    let run = env
        .command_of(
            env!("CARGO_BIN_EXE_taskmux-run"),
            &["--wait", "--", "echo", "secret-arg"],
        )
        .env("TASKMUX_HOME", &home)
        .output()
        .expect("taskmux-run");
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    for f in ["events.jsonl", "events.count", "projects/modes/logs/m.log"] {
        assert_eq!(mode_of(&home.join(f)), 0o600, "{f} is private");
    }
    for d in [
        "",
        "projects",
        "projects/modes",
        "projects/modes/logs",
        "projects/modes/run",
        "locks",
        "jobs",
    ] {
        assert_eq!(mode_of(&home.join(d)), 0o700, "{:?} is private", home.join(d));
    }
}

#[test]
fn stopped_tasks_leave_no_log_writer_and_a_restart_still_logs() {
    let Some(env) = Env::with_tmux("writersgone") else {
        return;
    };
    env.config(
        r#"name = "wg"
[tasks.a]
command = 'echo "a up $(date +%s%N)"; sleep 1000'
stop_grace_period = 1
[tasks.b]
command = 'echo "b up"; sleep 1000'
stop_grace_period = 1
[tasks.c]
command = 'trap "" INT; echo "c up"; sleep 1000'
stop_grace_period = 1
"#,
    );
    env.started();
    let logs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|t| log_path(&env, "wg", t)).collect();
    for (t, l) in ["a", "b", "c"].iter().zip(&logs) {
        wait_for(10.0, &format!("{t} up in its log"), || {
            texts(l).iter().any(|x| x.starts_with(&format!("{t} up")))
        });
        assert_eq!(writers_of(l).len(), 1, "one writer of {t} while it runs");
    }
    let (v, code) = env.json(&["stop"]);
    assert_eq!(code, 0, "{v}");
    let mut left = Vec::new();
    let gone = eventually(5.0, || {
        left = logs.iter().flat_map(|l| writers_of(l)).collect();
        left.is_empty()
    });
    assert!(gone, "log writers left after stop: {left:?}");
    let wins = crate::harness::windows(&env);
    for t in ["a", "b", "c"] {
        assert!(
            wins.iter().any(|w| w == t),
            "the window of {t} stays after stop: {wins:?}"
        );
    }
    // a restart respawns the pane with a new pipe: its output is logged by one new writer
    let before = texts(&logs[0]).len();
    start_ok(&env, &["a"]);
    wait_for(10.0, "a's second run in its log", || {
        texts(&logs[0]).iter().filter(|x| x.starts_with("a up")).count() == 2
    });
    assert!(texts(&logs[0]).len() > before);
    assert_eq!(writers_of(&logs[0]).len(), 1, "one writer of the restarted task");
}

#[test]
fn follow_reports_exactly_what_rotation_took_before_it_could_read() {
    let Some(env) = Env::with_tmux("followlost") else {
        return;
    };
    env.config(
        r#"name = "fl"
[tasks.b]
command = "echo ready; while [ ! -e go ]; do sleep 0.05; done; seq -f 'n %g' 1 20000; sleep 1000"
log_max_size = "4KB"
log_max_files = 2
"#,
    );
    env.started();
    let log = log_path(&env, "fl", "b");
    wait_for(10.0, "ready in the log", || has_line(&log, "ready"));
    let mut f = Follower::spawn(&env, &["--json", "logs", "b", "-f"]);
    assert!(
        f.until(10.0, |s| s.iter().any(|l| json_line_ends(l, " ready"))),
        "follow shows the tail: {:?}",
        f.seen
    );
    env.file("go", "");
    // the last line of the burst stays in the current file, so it is read, and read last
    let done = |s: &[String]| s.last().is_some_and(|l| json_line_ends(l, " n 20000"));
    assert!(
        f.until(60.0, done),
        "follow never showed n 20000 ({} lines)",
        f.seen.len()
    );
    // each number is the one after the last, or after the lines a report says were lost
    let (mut next, mut read, mut lost) = (1u64, 0u64, 0u64);
    for l in &f.seen {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
        assert_eq!(v["task"], "b", "{v}");
        if let Some(k) = v.get("lost") {
            let k = k.as_u64().unwrap_or_else(|| panic!("lost is a count: {v}"));
            assert!(k > 0, "{v}");
            next += k;
            lost += k;
            continue;
        }
        let text = text_of(v["line"].as_str().unwrap_or_else(|| panic!("no line in {v}")));
        if text == "ready" {
            continue;
        }
        let n: u64 = text
            .strip_prefix("n ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {text:?}"));
        assert_eq!(n, next, "line {n} where {next} was due (lost {lost} so far)");
        next += 1;
        read += 1;
    }
    eprintln!("follow: read {read}, lost {lost}");
    assert_eq!(next, 20_001, "read {read}, lost {lost}");
    assert_eq!(read + lost, 20_000);
}

#[test]
fn a_log_path_that_cannot_hold_a_log_is_refused_before_anything_starts() {
    let Some(env) = Env::with_tmux("badlog") else { return };
    env.file("adir/.keep", "");
    for (what, path) in [("a directory", "adir"), ("a /proc file", "/proc/version")] {
        env.config(&format!(
            "name = \"bl\"\n[tasks.ok]\ncommand = \"sleep 1000\"\n[tasks.bad]\ncommand = \"echo hi; sleep 1000\"\nlog_file = \"{path}\"\n"
        ));
        let (v, code) = env.json(&["check"]);
        assert_eq!(code, 1, "check refuses {what}: {v}");
        let errors = v["errors"].as_array().unwrap_or_else(|| panic!("errors: {v}"));
        assert!(
            errors.iter().any(|e| e["code"] == "E104" && e["task"] == "bad"),
            "check lists {what} as E104 of task bad: {v}"
        );
        let (v, code) = env.json(&["start"]);
        assert_eq!(
            (code, v["code"].as_str()),
            (2, Some("E104")),
            "start refuses {what}: {v}"
        );
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("log_file") && e.contains(path)),
            "names the key and the path: {v}"
        );
        assert!(
            env.tmux(&["list-windows", "-a", "-F", "#{window_name}"]).is_empty(),
            "nothing started for {what}"
        );
    }
    let run = env
        .command_of(
            env!("CARGO_BIN_EXE_taskmux-run"),
            &["-s", "bl", "--log-file", "adir", "--", "echo", "x"],
        )
        .output()
        .expect("taskmux-run");
    assert_eq!(run.status.code(), Some(2), "{}", show(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("error[E104]: --log-file"),
        "taskmux-run refuses a directory: {}",
        show(&run)
    );
    assert!(
        env.tmux(&["list-windows", "-a", "-F", "#{window_name}"]).is_empty(),
        "no job started"
    );
}

/// A small tmpfs mounted for a test, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` at `dir`; `None` (after printing why, or failing under CI)
    /// when this process may not mount.
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).expect("mount point");
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .output();
        if o.as_ref().is_ok_and(|o| o.status.success()) {
            return Some(SmallDisk(dir.to_path_buf()));
        }
        let ci = std::env::var("CI").unwrap_or_default();
        let why = o
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_else(|e| e.to_string());
        assert!(
            !(ci.eq_ignore_ascii_case("true") || ci == "1"),
            "CI={ci} and a tmpfs cannot be mounted: {why}"
        );
        eprintln!("skipping: cannot mount a tmpfs: {why}");
        None
    }

    /// Fills it: a file grows until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.0.join("fill");
        let mut f = std::fs::File::create(&p).expect("create the filler");
        let block = [0u8; 512];
        while f.write_all(&block).is_ok() {}
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_reported_drained_and_logging_resumes_with_whole_lines() {
    let Some(env) = Env::with_tmux("fulldisk") else { return };
    let Some(disk) = SmallDisk::mount(&env.root.join("small"), "64k") else {
        return;
    };
    let log = disk.0.join("t.log");
    env.config(&format!(
        r#"name = "fd"
[tasks.t]
command = 'i=0; while :; do i=$((i+1)); echo "tick $(cat phase 2>/dev/null) $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; sleep 0.02; done'
log_file = "{}"
"#,
        log.display()
    ));
    env.file("phase", "before");
    env.started();
    wait_for(10.0, "ticks in the log", || {
        texts(&log).iter().any(|t| t.starts_with("tick before"))
    });
    let writer = writers_of(&log);
    assert_eq!(writer.len(), 1, "one writer");
    let filler = disk.fill();
    env.file("phase", "full");
    let mut st = Value::Null;
    let reported = eventually(15.0, || {
        st = env.task_status("t");
        st["log_error"]["dropped"].as_u64().is_some_and(|d| d > 0)
    });
    assert!(reported, "status shows the failing log: {st}");
    assert!(
        st["log_error"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space")),
        "{st}"
    );
    assert_eq!(st["running"], true, "the task runs on: {st}");
    let (v, _) = env.json(&["inspect", "t"]);
    assert!(v["log_error"].is_object(), "inspect shows it too: {v}");
    assert_eq!(writers_of(&log), writer, "the writer keeps draining the pane");
    let (ev, _) = env.json(&["events", "--task", "t"]);
    let failed: Vec<&Value> = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "log_write_failed")
        .collect();
    assert_eq!(failed.len(), 1, "one event for the episode: {ev}");
    assert!(
        failed[0]["error"].as_str().is_some_and(|e| e.contains("No space")),
        "{ev}"
    );

    // space again: logging resumes, with whole lines, and the report goes
    std::fs::remove_file(&filler).expect("free the disk");
    env.file("phase", "after");
    wait_for(15.0, "ticks after the disk was freed", || {
        texts(&log).iter().any(|t| t.starts_with("tick after"))
    });
    wait_for(10.0, "log_error cleared", || {
        env.task_status("t")["log_error"].is_null()
    });
    let data = std::fs::read(&log).expect("log");
    let body = &data[..data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)];
    for l in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let text = String::from_utf8_lossy(l);
        assert!(
            stamped(l)
                && text.ends_with(" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
                && text[24..].starts_with("tick "),
            "a torn line in the log: {text:?}"
        );
    }
    let (ev, _) = env.json(&["events", "--task", "t"]);
    let resumed = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["event"] == "log_write_resumed")
        .cloned()
        .unwrap_or_else(|| panic!("no log_write_resumed in {ev}"));
    assert!(resumed["dropped"].as_u64().is_some_and(|d| d > 0), "{resumed}");
    drop(disk);
}
