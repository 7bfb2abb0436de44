//! tmuxp workspaces (`taskmux-run -w`) against the real tmuxp of the test venv and, as
//! fixtures, tmuxp's own `examples/` at the same version (`.ci/run` pins it, installs it in
//! target/pyvenv and unpacks its source distribution in target/tmuxp-VERSION/): each
//! example loads and runs a job as `tmuxp load` alone would load it, or fails with a clear
//! error and leaves nothing behind. Also `${VAR}` and `~` in `session_name` and
//! `start_directory`, YAML anchors, merge keys and flow style, and a failed load (E207 with
//! tmuxp's output, the half-built session killed, a retry that starts clean). Every example
//! gets its own world: scratch dir, TASKMUX_HOME and tmux socket, which tmuxp is pointed at
//! (`tmuxp load -L`).

use crate::harness::{Env, python, read, require, require_tmux, show};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The tmuxp of the test venv (the bin/ of [`python`]) and the examples of its version.
struct Tmuxp {
    bin: PathBuf,
    examples: PathBuf,
}

/// The bin/ of the test venv when it has tmuxp (and tmux is there); None (skip) off CI.
pub fn venv_bin() -> Option<PathBuf> {
    if !require_tmux() {
        return None;
    }
    let py = PathBuf::from(python());
    let bin = py.parent().map(Path::to_path_buf).unwrap_or_default();
    let exe = bin.join("tmuxp");
    require(
        "tmuxp in the test venv (.ci/run installs it)",
        &[&exe.to_string_lossy(), "-V"],
    )
    .then_some(bin)
}

/// PATH with the venv's bin/ first, so that taskmux finds the venv's tmuxp.
pub fn path_with(bin: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs).expect("a PATH")
}

/// The venv's tmuxp and its examples; None (skip) when either is missing off CI.
fn tmuxp() -> Option<Tmuxp> {
    let bin = venv_bin()?;
    let out = Command::new(bin.join("tmuxp")).arg("-V").output().expect("tmuxp -V");
    // "tmuxp 1.76.0, libtmux 0.62.0"
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .strip_prefix("tmuxp ")
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("tmuxp -V: {text:?}"))
        .to_string();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("tmuxp-{version}"))
        .join("examples");
    let probe = examples.to_string_lossy().into_owned();
    if !require(
        &format!("tmuxp {version}'s examples in {probe} (.ci/run unpacks them)"),
        &["test", "-d", &probe],
    ) {
        return None;
    }
    Some(Tmuxp { bin, examples })
}

/// `taskmux-run ARGS` in this world, with the venv's tmuxp first on PATH and the variables
/// env-variables.yaml uses: `USER`, `MY_ENV_VAR` (bin, so that its before_script is
/// `${PWD}/test/bin/test3.sh`, made by [`scratch`]) and `PWD` (the project directory).
fn run(env: &Env, t: &Tmuxp, args: &[&str]) -> Command {
    let mut c = env.command_of(env!("CARGO_BIN_EXE_taskmux-run"), args);
    c.env("PATH", path_with(&t.bin))
        .env("USER", "tester")
        .env("MY_ENV_VAR", "bin")
        .env("PWD", &env.project);
    c
}

/// What env-variables.yaml needs around it: `${PWD}/test` and its before_script.
fn scratch(env: &Env) {
    let script = env.file("test/bin/test3.sh", "#!/bin/sh\nexit 0\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The JSON on stdout (a JobRef, or an error with --json).
fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

/// The text lines of a job's log, without their timestamps.
fn log_lines(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .map(|l| l.get(24..).unwrap_or("").to_string())
        .collect()
}

/// The sessions of this world's server.
fn sessions(env: &Env) -> Vec<String> {
    env.tmux(&["list-sessions", "-F", "#{session_name}"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// What an example gets with tmuxp 1.76.0 and tmux 3.3a (80x24 for a detached session).
#[derive(Debug)]
enum Expect {
    /// It loads; the job runs in this directory.
    Runs(Where),
    /// tmuxp fails: E207 with this in tmuxp's output.
    TmuxpFails(&'static str),
    /// Refused before anything starts: this code, this in the message.
    Refused(&'static str, &'static str),
}

#[derive(Debug)]
enum Where {
    /// The caller's directory (no start_directory).
    Here,
    /// `~`.
    Home,
    /// `${PWD}/test`.
    PwdTest,
    Abs(&'static str),
}

fn expect(stem: &str) -> Expect {
    match stem {
        // its main-horizontal layout leaves no room in 80x24 for the third pane
        "main-pane-height" | "options" => Expect::TmuxpFails("no space for new pane"),
        "plugin-system" => Expect::TmuxpFails("No module named 'tmuxp_plugin_extended_build'"),
        // "Pause / skip command execution (…)": a '/' would make the session's lock a path
        "sleep" | "sleep-pane-level" => Expect::Refused("E500", "'/'"),
        "main-pane-height-percentage" => Expect::Runs(Where::Home),
        "env-variables" => Expect::Runs(Where::PwdTest),
        "start-directory" => Expect::Runs(Where::Abs("/var")),
        _ => Expect::Runs(Where::Here),
    }
}

/// Loads one example in a world of its own and checks what it got against [`expect`].
fn example(t: &Tmuxp, file: &Path) {
    let name = file.file_name().expect("a name").to_string_lossy().into_owned();
    let stem = file.file_stem().expect("a stem").to_string_lossy().into_owned();
    let env = Env::new("tmuxp-ex");
    scratch(&env);
    let log = env.root.join("job.log");
    let (file_s, log_s) = (file.to_string_lossy(), log.to_string_lossy());
    let args = ["--json", "-w", &file_s, "--log-file", &log_s, "--wait", "--", "pwd"];
    let o = run(&env, t, &args).output().expect("taskmux-run runs");
    let v = json(&o);
    match expect(&stem) {
        Expect::Runs(dir) => {
            assert_eq!(o.status.code(), Some(0), "{name}: {}", show(&o));
            assert_eq!(v["exit_code"], 0, "{name}: {v}");
            let session = v["session"].as_str().unwrap_or_else(|| panic!("{name}: {v}"));
            assert!(
                sessions(&env).iter().any(|s| s == session),
                "{name}: {:?}",
                sessions(&env)
            );
            let windows = env.tmux(&["list-windows", "-t", &format!("={session}:"), "-F", "#{@taskmux-job}"]);
            assert!(
                windows.lines().any(|j| j.is_empty()),
                "{name}: the workspace's windows are there: {windows:?}"
            );
            let want = match dir {
                Where::Here => env.project.clone(),
                Where::Home => PathBuf::from(std::env::var("HOME").expect("HOME")),
                Where::PwdTest => env.project.join("test"),
                Where::Abs(p) => PathBuf::from(p),
            };
            let want = want.canonicalize().unwrap_or(want);
            assert_eq!(log_lines(&log), [want.to_string_lossy()], "{name}: where the job ran");
        }
        Expect::TmuxpFails(said) => {
            // twice: a retry loads it anew, and fails the same way, instead of running the
            // job in a session the first attempt left half built
            for attempt in [1, 2] {
                let (o, v) = if attempt == 1 {
                    (o.clone(), v.clone())
                } else {
                    let o = run(&env, t, &args).output().expect("taskmux-run runs");
                    let v = json(&o);
                    (o, v)
                };
                assert_eq!(o.status.code(), Some(1), "{name} #{attempt}: {}", show(&o));
                assert_eq!(v["code"], "E207", "{name} #{attempt}: {v}");
                let msg = v["error"].as_str().unwrap_or_default();
                assert!(
                    msg.contains(said),
                    "{name} #{attempt}: tmuxp's output in the message: {msg}"
                );
                assert!(msg.contains(&*file_s), "{name}: names the file: {msg}");
                assert!(
                    sessions(&env).is_empty(),
                    "{name} #{attempt}: left {:?}",
                    sessions(&env)
                );
                assert!(!log.exists(), "{name} #{attempt}: the job ran");
            }
        }
        Expect::Refused(code, said) => {
            assert_eq!(o.status.code(), Some(2), "{name}: {}", show(&o));
            assert_eq!(v["code"], code, "{name}: {v}");
            assert!(v["error"].as_str().is_some_and(|m| m.contains(said)), "{name}: {v}");
            assert!(
                !Path::new(&env.socket_path()).exists(),
                "{name}: a tmux server was started"
            );
        }
    }
}

/// How many tests the examples are shared among: a few each keeps every test short.
const PARTS: usize = 6;

/// Part `part` (from 0) of the examples, in name order.
fn examples_part(part: usize) {
    let Some(t) = tmuxp() else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&t.examples)
        .expect("examples/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "tmuxp's examples: {files:?}");
    let per = files.len().div_ceil(PARTS);
    for f in files.iter().skip(part * per).take(per) {
        example(&t, f);
    }
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_1() {
    examples_part(0);
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_2() {
    examples_part(1);
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_3() {
    examples_part(2);
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_4() {
    examples_part(3);
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_5() {
    examples_part(4);
}

#[test]
fn tmuxp_examples_load_as_tmuxp_loads_them_part_6() {
    examples_part(5);
}

#[test]
fn session_name_and_start_directory_expand_as_tmuxp_expands_them() {
    // before: E207 "did not create session 'session - ${USER} (${MY_ENV_VAR})'", the
    // unexpanded name, while tmuxp had made the expanded one
    let Some(t) = tmuxp() else {
        return;
    };
    for ext in ["yaml", "json"] {
        let file = t.examples.join(format!("env-variables.{ext}"));
        let file_s = file.to_string_lossy();
        let env = Env::new("tmuxp-vars");
        scratch(&env);

        // MY_ENV_VAR unset: tmux would keep '${MY_ENV_VAR}' as '\${MY_ENV_VAR}', so the
        // session could never be found by its name; said before anything starts
        let o = run(&env, &t, &["--json", "-w", &file_s, "--wait", "--", "true"])
            .env_remove("MY_ENV_VAR")
            .output()
            .expect("runs");
        let v = json(&o);
        assert_eq!((o.status.code(), &v["code"]), (Some(2), &"E109".into()), "{}", show(&o));
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("MY_ENV_VAR is not set") && msg.contains("session - tester (${MY_ENV_VAR})"),
            "{msg}"
        );
        assert!(v["hint"].as_str().is_some_and(|h| h.contains("set MY_ENV_VAR")), "{v}");
        assert!(!Path::new(&env.socket_path()).exists(), "nothing started");

        let log = env.root.join("job.log");
        let o = run(
            &env,
            &t,
            &[
                "-w",
                &file_s,
                "--log-file",
                &log.to_string_lossy(),
                "--wait",
                "--",
                "pwd",
            ],
        )
        .output()
        .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let v = json(&o);
        assert_eq!(v["session"], "session - tester (bin)", "{v}");
        assert_eq!(sessions(&env), ["session - tester (bin)"]);
        let windows = env.tmux(&["list-windows", "-t", "=session - tester (bin):", "-F", "#{window_name}"]);
        assert!(windows.lines().any(|w| w == "editor"), "{windows:?}");
        // start_directory "${PWD}/test": where the workspace's panes start, and the job
        let test = env.project.join("test").canonicalize().expect("test/");
        assert_eq!(log_lines(&log), [test.to_string_lossy()]);
    }
}

#[test]
fn a_failed_load_is_e207_with_tmuxps_output_and_the_retry_starts_clean() {
    // before: options.yaml (tmuxp: "no space for new pane", 2 of 3 panes) ran the job in the
    // half-built session and said nothing; plugin-system.yaml was E207 with an empty reason
    let Some(t) = tmuxp() else {
        return;
    };
    let env = Env::new("tmuxp-fail");
    let file = t.examples.join("options.yaml");
    let file_s = file.to_string_lossy();
    for attempt in [1, 2] {
        let o = run(&env, &t, &["--json", "-w", &file_s, "--wait", "--", "true"])
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(1), "#{attempt}: {}", show(&o));
        let v = json(&o);
        assert_eq!(v["code"], "E207", "{v}");
        let d = &v["details"];
        let reasons = d["reasons"].to_string();
        // each way of telling is seen on its own: the exit code, the traceback, and the
        // session tmux has (1 window with 2 of the workspace's 3 panes)
        assert!(reasons.contains("exited with status 1"), "{reasons}");
        assert!(reasons.contains("Traceback"), "{reasons}");
        assert!(reasons.contains("2 of its 3 panes"), "{reasons}");
        assert_eq!(
            (&d["panes"]["expected"], &d["panes"]["found"]),
            (&3.into(), &2.into()),
            "{d}"
        );
        assert_eq!(d["killed"], true, "{d}");
        assert!(
            d["stderr"]
                .as_str()
                .is_some_and(|e| e.contains("no space for new pane")),
            "{d}"
        );
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains("was killed, so the next run starts clean"), "{msg}");
        assert!(
            msg.contains("tmuxp's stderr:") && msg.contains("no space for new pane"),
            "{msg}"
        );
        assert!(!msg.contains('\x1b'), "no escape sequences: {msg:?}");
        assert!(
            v["hint"]
                .as_str()
                .is_some_and(|h| h.contains(&format!("tmuxp load -d -L {}", env.socket))),
            "how to see it alone, on this socket: {v}"
        );
        assert!(
            sessions(&env).is_empty(),
            "#{attempt}: the half-built session is gone: {:?}",
            sessions(&env)
        );
    }

    // an error tmuxp prints on its stdout is in the message
    let file = t.examples.join("plugin-system.yaml");
    let o = run(&env, &t, &["-w", &file.to_string_lossy(), "--", "true"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("taskmux-run: error[E207]: "), "{err}");
    assert!(
        err.contains("tmuxp's stdout:\n    | [Plugin Error] Couldn't load tmuxp_plugin_extended_build")
            && err.contains("No module named 'tmuxp_plugin_extended_build'"),
        "{err}"
    );
    assert!(sessions(&env).is_empty());
}

#[test]
fn yaml_anchors_merge_keys_and_flow_style_are_read() {
    // before: the line-based reader took `session_name: *name` for the name "*name", and
    // found no session_name at all in a flow-style file
    let Some(t) = tmuxp() else {
        return;
    };
    let env = Env::new("tmuxp-yaml");
    let anchors = env.file(
        "anchors.yaml",
        "x-names: [&name yaml-anchors]\nx-win: &win\n  layout: even-horizontal\n  panes: [sleep 1000, sleep 1000]\n\
         session_name: *name\nwindows:\n  - <<: *win\n    window_name: merged\n",
    );
    let flow = env.file(
        "flow.yaml",
        "{session_name: \"yaml-${FLOW_NAME}\", start_directory: ./sub, windows: [{window_name: one, panes: [sleep 1000]}]}\n",
    );
    std::fs::create_dir_all(env.project.join("sub")).expect("mkdir");
    for (file, session, panes) in [(&anchors, "yaml-anchors", 2), (&flow, "yaml-flow", 1)] {
        let log = env.root.join(format!("{session}.log"));
        let o = run(
            &env,
            &t,
            &[
                "-w",
                &file.to_string_lossy(),
                "--log-file",
                &log.to_string_lossy(),
                "--wait",
                "--",
                "pwd",
            ],
        )
        .env("FLOW_NAME", "flow")
        .output()
        .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert_eq!(json(&o)["session"], session);
        let n = env.tmux(&[
            "list-panes",
            "-s",
            "-t",
            &format!("={session}:"),
            "-F",
            "#{@taskmux-job}",
        ]);
        assert_eq!(n.lines().filter(|j| j.is_empty()).count(), panes, "{session}: {n:?}");
        let want = if session == "yaml-flow" {
            env.project.join("sub")
        } else {
            env.project.clone()
        };
        let want = want.canonicalize().expect("a dir");
        assert_eq!(
            log_lines(&log),
            [want.to_string_lossy()],
            "{session}: where the job ran"
        );
    }
}
