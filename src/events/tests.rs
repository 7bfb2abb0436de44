//! The event history's unit tests: appends, trims, the counter file, queries and follows.

use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "taskmux-events-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BIG: Limits = Limits {
    max: MAX_LINES,
    keep: KEEP_LINES,
};

fn put(dir: &Path, ts: &str, event: &str, session: &str, task: Option<&str>, limits: Limits) {
    let line = named_line(ts, event, session, task, json!({"n": 1}));
    append_in(dir, line.as_bytes(), 1, limits).unwrap();
}

/// The line of an event of any name (the history keeps what it is given), with the
/// fields of `extra`.
fn named_line(ts: &str, event: &str, session: &str, task: Option<&str>, extra: Value) -> String {
    let mut body = json!({"event": event});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    line_of(ts, session, task, body)
}

fn lines_of(dir: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(dir.join(EVENTS_FILE)).unwrap())
        .lines()
        .map(str::to_owned)
        .collect()
}

fn names(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn parses_event_times() {
    assert_eq!(parse_event_ts("1970-01-01T00:00:00.000000+00:00"), Some(0.0));
    assert_eq!(parse_event_ts("2024-01-01T14:00:00+00:00"), Some(1_704_117_600.0));
    let t = parse_event_ts("2024-01-01T14:00:00.123456+00:00").unwrap();
    assert!((t - 1_704_117_600.123456).abs() < 1e-6);
    assert_eq!(parse_event_ts("2024-01-01T16:00:00+02:00"), Some(1_704_117_600.0));
    assert_eq!(parse_event_ts("2024-01-01T09:30:00-0430"), Some(1_704_117_600.0));
    assert_eq!(parse_event_ts("2024-01-01T14:00:00Z"), Some(1_704_117_600.0));
    assert_eq!(parse_event_ts("2024-01-01 14:00"), Some(1_704_117_600.0));
    assert_eq!(parse_event_ts("2024-01-01"), Some(1_704_067_200.0));
    assert_eq!(parse_event_ts("2024-02-29T00:00:00"), Some(1_709_164_800.0));
    let now = paths::now_secs();
    let back = parse_event_ts(&paths::iso_time(now)).unwrap();
    assert!((back - now).abs() < 1e-5);
    for bad in [
        "",
        "yesterday",
        "2024-1-01",
        "2023-02-29",
        "2024-13-01",
        "2024-01-01T24:00:00",
        "2024-01-01T14:00:00.",
        "2024-01-01T14:00:00+00:00x",
        "2024-01-01T14",
        "2024-01-01X14:00",
        "2024-01-01T14:00:00+0",
    ] {
        assert_eq!(parse_event_ts(bad), None, "{bad}");
    }
}

#[test]
fn extra_fields_never_replace_core_fields() {
    let line = line_of(
        "T",
        "p",
        None,
        json!({"event": "task_exited", "exit_code": 3, "ts": "x", "task": "y", "session": "q"}),
    );
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v,
        json!({"ts": "T", "event": "task_exited", "session": "p", "exit_code": 3})
    );
    assert!(line.ends_with('\n'));
}

#[test]
fn a_typed_event_is_the_line_it_always_was() {
    let exited = Event::TaskExited {
        exit_code: Some(3),
        signal: None,
    };
    assert_eq!(
        event_line("T", "p", Some("api"), &exited),
        "{\"ts\":\"T\",\"event\":\"task_exited\",\"session\":\"p\",\"task\":\"api\",\"exit_code\":3}\n"
    );
    let restart = Event::AutoRestart {
        reason: "exited".into(),
        attempt: 2,
        exit_code: Some(None),
    };
    assert_eq!(
        event_line("T", "p", Some("api"), &restart),
        "{\"ts\":\"T\",\"event\":\"auto_restart\",\"session\":\"p\",\"task\":\"api\",\"reason\":\"exited\",\"attempt\":2,\"exit_code\":null}\n"
    );
    let stopped = Event::TaskStopped {
        manual: true,
        restart_cancelled: false,
    };
    assert_eq!(
        event_line("T", "p", Some("api"), &stopped),
        "{\"ts\":\"T\",\"event\":\"task_stopped\",\"session\":\"p\",\"task\":\"api\",\"manual\":true}\n"
    );
    assert_eq!(
        event_line("T", "p", None, &Event::SessionStopped {}),
        "{\"ts\":\"T\",\"event\":\"session_stopped\",\"session\":\"p\"}\n"
    );
}

#[test]
fn a_machine_wide_event_has_no_session_and_no_session_filter_matches_it() {
    let line = event_line("T", "", None, &Event::DaemonStarted { pid: 9 });
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v, json!({"ts": "T", "event": "daemon_started", "pid": 9}));
    let tmp = TempDir::new("machine");
    put(
        &tmp.0,
        "2024-01-01T14:00:00.000000+00:00",
        "daemon_started",
        "",
        None,
        BIG,
    );
    assert_eq!(query_in(&tmp.0, None, None, None, None).unwrap().len(), 1);
    assert!(query_in(&tmp.0, Some(""), None, None, None).unwrap().is_empty());
}

#[test]
fn append_and_query_filters() {
    let tmp = TempDir::new("query");
    let d = &tmp.0;
    assert!(query_in(d, None, None, None, None).unwrap().is_empty());
    put(d, "2024-01-01T14:00:00.000000+00:00", "session_started", "p", None, BIG);
    put(
        d,
        "2024-01-01T14:00:01.000000+00:00",
        "task_started",
        "p",
        Some("api"),
        BIG,
    );
    put(
        d,
        "2024-01-01T14:00:02.000000+00:00",
        "task_started",
        "q",
        Some("api"),
        BIG,
    );
    put(
        d,
        "2024-01-01T14:00:03.000000+00:00",
        "task_started",
        "p",
        Some("db"),
        BIG,
    );
    put(
        d,
        "2024-01-01T14:00:04.000000+00:00",
        "task_stopped",
        "p",
        Some("api"),
        BIG,
    );

    let all = query_in(d, None, None, None, None).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[1]["task"], "api");
    assert_eq!(all[1]["n"], 1);
    assert_eq!(query_in(d, Some("p"), None, None, None).unwrap().len(), 4);
    assert_eq!(query_in(d, Some("q"), None, None, None).unwrap().len(), 1);
    assert!(query_in(d, Some("nope"), None, None, None).unwrap().is_empty());
    assert_eq!(
        names(&query_in(d, Some("p"), Some("api"), None, None).unwrap()),
        ["task_started", "task_stopped"]
    );
    assert_eq!(query_in(d, None, Some("api"), None, None).unwrap().len(), 3);
    let since = parse_event_ts("2024-01-01T14:00:03+00:00");
    let recent = query_in(d, Some("p"), None, since, None).unwrap();
    assert_eq!(names(&recent), ["task_started", "task_stopped"]);
    assert_eq!(recent[0]["task"], "db");
    let last2 = query_in(d, Some("p"), None, None, Some(2)).unwrap();
    assert_eq!(last2[0]["task"], "db");
    assert_eq!(last2[1]["event"], "task_stopped");
    assert_eq!(query_in(d, None, None, None, Some(100)).unwrap().len(), 5);
    assert!(query_in(d, None, None, None, Some(0)).unwrap().is_empty());
    assert_eq!(
        query_in(d, None, None, since, Some(1)).unwrap()[0]["event"],
        "task_stopped"
    );
}

#[test]
fn malformed_lines_are_skipped() {
    let tmp = TempDir::new("malformed");
    let d = &tmp.0;
    let mut data = b"not json\n[1,2]\n\n{\"ts\": \"bad\", \"event\": \"e0\", \"session\": \"p\"}\n".to_vec();
    data.extend_from_slice(b"\xff\xfe\n{\"ts\": \"2024-01-01T14:00:00+00:00\", \"event\": \"e1\", \"sess");
    std::fs::write(d.join(EVENTS_FILE), &data).unwrap();
    // The torn last line must not swallow the next event.
    put(d, "2024-01-01T14:00:01.000000+00:00", "e2", "p", None, BIG);
    assert_eq!(names(&query_in(d, None, None, None, None).unwrap()), ["e0", "e2"]);
    // An event whose time cannot be read is not "since" anything.
    assert_eq!(names(&query_in(d, None, None, Some(0.0), None).unwrap()), ["e2"]);
    assert_eq!(lines_of(d).len(), 7);
}

#[test]
fn trims_to_keep_when_passing_max() {
    let tmp = TempDir::new("trim");
    let d = &tmp.0;
    let limits = Limits::new(10, 4);
    for i in 0..10 {
        put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
    }
    assert_eq!(lines_of(d).len(), 10, "not trimmed at exactly max");
    put(d, "2024-01-01T14:00:00+00:00", "e10", "p", None, limits);
    assert_eq!(
        names(&query_in(d, None, None, None, None).unwrap()),
        ["e7", "e8", "e9", "e10"]
    );
    let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
    let count = File::open(d.join(COUNT_FILE)).unwrap();
    assert_eq!(read_count(&count), Some((4, size)));
    for i in 11..18 {
        put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
    }
    assert_eq!(
        names(&query_in(d, None, None, None, None).unwrap()),
        ["e14", "e15", "e16", "e17"]
    );
    // A batch that passes max in one append is trimmed too.
    let batch: String = (0..25)
        .map(|i| named_line("2024-01-01T14:00:00+00:00", &format!("b{i}"), "p", None, json!({})))
        .collect();
    append_in(d, batch.as_bytes(), 25, limits).unwrap();
    assert_eq!(
        names(&query_in(d, None, None, None, None).unwrap()),
        ["b21", "b22", "b23", "b24"]
    );
}

#[test]
fn counter_is_rebuilt_when_missing_or_stale() {
    let tmp = TempDir::new("rebuild");
    let d = &tmp.0;
    let limits = Limits::new(10, 3);
    for i in 0..8 {
        put(d, "2024-01-01T14:00:00+00:00", &format!("e{i}"), "p", None, limits);
    }
    std::fs::remove_file(d.join(COUNT_FILE)).unwrap();
    put(d, "2024-01-01T14:00:00+00:00", "e8", "p", None, limits);
    let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
    assert_eq!(read_count(&File::open(d.join(COUNT_FILE)).unwrap()), Some((9, size)));
    // Garbage in the counter: rebuilt, and the trim still happens on time.
    std::fs::write(d.join(COUNT_FILE), "garbage").unwrap();
    put(d, "2024-01-01T14:00:00+00:00", "e9", "p", None, limits);
    assert_eq!(lines_of(d).len(), 10);
    put(d, "2024-01-01T14:00:00+00:00", "e10", "p", None, limits);
    assert_eq!(
        names(&query_in(d, None, None, None, None).unwrap()),
        ["e8", "e9", "e10"]
    );
    // Lines added behind the counter's back (size mismatch): counted again.
    let mut f = OpenOptions::new().append(true).open(d.join(EVENTS_FILE)).unwrap();
    for i in 0..7 {
        writeln!(f, "{{\"event\": \"x{i}\", \"session\": \"p\"}}").unwrap();
    }
    put(d, "2024-01-01T14:00:00+00:00", "e11", "p", None, limits);
    assert_eq!(
        names(&query_in(d, None, None, None, None).unwrap()),
        ["x5", "x6", "e11"]
    );
    // History deleted: starts over.
    std::fs::remove_file(d.join(EVENTS_FILE)).unwrap();
    put(d, "2024-01-01T14:00:00+00:00", "e12", "p", None, limits);
    assert_eq!(lines_of(d).len(), 1);
    let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
    assert_eq!(read_count(&File::open(d.join(COUNT_FILE)).unwrap()), Some((1, size)));
}

#[test]
fn limits_are_sane() {
    assert_eq!(Limits::new(0, 5), Limits { max: 1, keep: 1 });
    assert_eq!(Limits::new(10, 50), Limits { max: 10, keep: 10 });
    assert_eq!(Limits::new(10, 0), Limits { max: 10, keep: 0 });
    assert_eq!(tail_start(b"a\nb\nc\n", 2), 2);
    assert_eq!(tail_start(b"a\nb\nc\n", 3), 0);
    assert_eq!(tail_start(b"a\nb\nc\n", 9), 0);
    assert_eq!(tail_start(b"a\nb\nc\n", 0), 6);
}

#[test]
fn concurrent_appends_lose_nothing() {
    let tmp = TempDir::new("concurrent");
    let d = tmp.0.clone();
    let (threads, per) = (8, 150);
    std::thread::scope(|s| {
        for t in 0..threads {
            let d = &d;
            s.spawn(move || {
                for i in 0..per {
                    if i % 10 == 0 {
                        let items: String = (0..3)
                            .map(|k| named_line("T", &format!("{t}-{i}-{k}"), "p", None, json!({})))
                            .collect();
                        append_in(d, items.as_bytes(), 3, BIG).unwrap();
                    } else {
                        put(d, "T", &format!("{t}-{i}"), "p", None, BIG);
                    }
                }
            });
        }
    });
    let events = query_in(&d, None, None, None, None).unwrap();
    let expected = threads * (per + per / 10 * 2);
    assert_eq!(lines_of(&d).len(), expected);
    let mut seen: Vec<String> = names(&events);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), expected);
    let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
    assert_eq!(
        read_count(&File::open(d.join(COUNT_FILE)).unwrap()),
        Some((expected, size))
    );
}

#[test]
fn concurrent_appends_with_trimming_stay_consistent() {
    let tmp = TempDir::new("concurrent-trim");
    let d = tmp.0.clone();
    let limits = Limits::new(50, 20);
    std::thread::scope(|s| {
        for t in 0..6 {
            let d = &d;
            s.spawn(move || {
                for i in 0..100 {
                    put(d, "T", &format!("{t}-{i}"), "p", None, limits);
                }
            });
        }
    });
    let lines = lines_of(&d);
    assert!((20..=50).contains(&lines.len()), "{}", lines.len());
    assert_eq!(query_in(&d, None, None, None, None).unwrap().len(), lines.len());
    let size = std::fs::metadata(d.join(EVENTS_FILE)).unwrap().len();
    assert_eq!(
        read_count(&File::open(d.join(COUNT_FILE)).unwrap()),
        Some((lines.len(), size))
    );
}
