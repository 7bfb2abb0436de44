//! Hook output: when one command runs the hooks of several tasks (in parallel, for the
//! first wave of a start), each line on stderr carries its task's name, `[api] …`, and a
//! project hook's lines `[project hook] …`; a command that runs one task's hooks prints
//! them as they are. The `--json` result on stdout is the same either way.

use crate::harness::{Env, show};
use serde_json::Value;

/// Each task's hooks print `LINES` numbered lines, half to stdout, half to stderr, and
/// end without a newline, so lines of parallel hooks would interleave if anything did.
const LINES: usize = 200;

fn config() -> String {
    let hooks = |t: &str, kind: &str| {
        format!(
            "{kind} = \"i=0; while [ $i -lt {LINES} ]; do echo {t}-{kind}-$i; echo {t}-{kind}-err-$i >&2; \
             i=$((i+2)); done; printf {t}-{kind}-last\"\n"
        )
    };
    let mut c = String::from(
        "name = \"hooklabels\"\n[hooks]\nbefore_start = \"echo project-before-start\"\n\
         before_stop = \"echo project-before-stop\"\n",
    );
    for t in ["api", "web"] {
        c += &format!("[tasks.{t}]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n[tasks.{t}.hooks]\n");
        for kind in ["before_start", "after_start", "before_stop"] {
            c += &hooks(t, kind);
        }
    }
    // a task without hooks: it never counts towards "several tasks"
    c += "[tasks.quiet]\ncommand = \"sleep 1000\"\nstop_grace_period = 1\n";
    c
}

/// Runs `taskmux --json ARGS`; returns its JSON and its stderr's lines.
fn run(env: &Env, args: &[&str]) -> (Value, Vec<String>) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = env.run(&a);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
    let err = String::from_utf8_lossy(&o.stderr);
    (v, err.lines().map(str::to_string).collect())
}

/// The lines every hook of `task` of `kinds` prints, in order.
fn expected(task: &str, kinds: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for kind in kinds {
        for i in (0..LINES).step_by(2) {
            v.push(format!("{task}-{kind}-{i}"));
            v.push(format!("{task}-{kind}-err-{i}"));
        }
        v.push(format!("{task}-{kind}-last"));
    }
    v
}

/// The lines labelled `[label] `, without the label, in order.
fn labelled(lines: &[String], label: &str) -> Vec<String> {
    let prefix = format!("[{label}] ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

#[test]
fn hook_lines_of_several_tasks_carry_their_task() {
    let Some(env) = Env::with_tmux("hooklabels") else {
        return;
    };
    env.config(&config());

    // start: api's and web's before_start hooks run in parallel
    let (v, err) = run(&env, &["start"]);
    assert_eq!(v["ok"], true, "{v}");
    let mut keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "action",
            "already_running",
            "failed",
            "ok",
            "session",
            "skipped",
            "tasks",
            "warnings"
        ],
        "the JSON result keeps its shape: {v}"
    );
    for t in ["api", "web"] {
        assert_eq!(
            labelled(&err, t),
            expected(t, &["before_start", "after_start"]),
            "every line of {t}'s hooks, whole and labelled, in its order; stderr: {err:#?}"
        );
    }
    assert_eq!(labelled(&err, "project hook"), ["project-before-start"], "{err:#?}");
    let unlabelled: Vec<&String> = err.iter().filter(|l| !l.starts_with('[')).collect();
    assert!(unlabelled.is_empty(), "lines without a label: {unlabelled:?}");

    // stop of one task: its own hooks only, printed as they are
    let (v, err) = run(&env, &["stop", "api"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(err, expected("api", &["before_stop"]), "one task's hooks: no labels");

    // stop of the rest: api is stopped already and quiet has no hooks, so only web's
    // (and the project's) run: no labels
    let (_, err) = run(&env, &["stop"]);
    let mut want = vec!["project-before-stop".to_string()];
    want.extend(expected("web", &["before_stop"]));
    assert_eq!(err, want, "one task with hooks among those stopped: no labels");

    // start both again, then stop both: labelled again
    let (_, err) = run(&env, &["start"]);
    assert_eq!(labelled(&err, "web"), expected("web", &["before_start", "after_start"]));
    let (_, err) = run(&env, &["stop"]);
    for t in ["api", "web"] {
        assert_eq!(labelled(&err, t), expected(t, &["before_stop"]), "{err:#?}");
    }
    assert_eq!(labelled(&err, "project hook"), ["project-before-stop"], "{err:#?}");
}
