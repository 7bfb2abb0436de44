//! Shell completions: `completions SHELL` prints the committed scripts byte for byte, and
//! the bash script, sourced into a real bash, completes commands, flags and task names.
//! fish and zsh, when installed (always under CI), must parse theirs. No tmux needed.

use crate::harness::{Env, bin, require, show};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions").join(name)
}

/// Whether the shell `prog` is installed (see [`require`]).
fn have(prog: &str) -> bool {
    require(prog, &[prog, "--version"])
}

/// A PATH whose first directory holds the taskmux under test.
fn path_with_bin() -> String {
    let dir = Path::new(bin()).parent().expect("the binary has a directory");
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

/// Completes `line` (the cursor at its end) with the bash script, in `dir`; returns COMPREPLY.
fn bash_complete(dir: &Path, line: &str) -> Vec<String> {
    let program = r#"
        source "$1" || exit 3
        read -ra COMP_WORDS <<<"$2"
        [[ $2 == *' ' ]] && COMP_WORDS+=('')
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$2
        COMP_POINT=${#2}
        _taskmux taskmux "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", program, "bash"])
        .arg(script("taskmux.bash"))
        .arg(line)
        .current_dir(dir)
        .env("PATH", path_with_bin())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "bash completion of {line:?} failed: {}", show(&o));
    assert!(
        o.stderr.is_empty(),
        "bash completion of {line:?} wrote to stderr: {}",
        show(&o)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn project() -> Env {
    let env = Env::new("completions");
    env.config(
        "name = \"comp\"\n\n# two tasks\n[tasks.api]\ncommand = \"sleep 60\"\n\n[tasks.web]\ncommand = \"sleep 60\"\ndepends_on = [\"api\"]\n",
    );
    env
}

#[test]
fn prints_the_committed_scripts() {
    let env = Env::new("completions-print");
    for (shell, file) in [("bash", "taskmux.bash"), ("zsh", "_taskmux"), ("fish", "taskmux.fish")] {
        let o = env.run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "completions {shell}: {}", show(&o));
        let want = std::fs::read(script(file)).expect("the script is committed");
        assert!(o.stdout == want, "completions {shell} differs from completions/{file}");
        assert!(o.stderr.is_empty(), "completions {shell}: {}", show(&o));
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let env = Env::new("completions-nosuch");
    let o = env.run(&["completions", "nosuch"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("E500"), "{}", show(&o));
    let o = env.run(&["completions"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let (v, rc) = env.json(&["completions", "nosuch"]);
    assert_eq!(rc, 2);
    assert_eq!(v["code"], "E500", "{v}");
}

#[test]
fn hidden_tasks_lists_the_config_tasks() {
    let env = project();
    let sub = env.project.join("deep/er");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let o = Command::new(bin())
        .arg("__tasks")
        .current_dir(&sub)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "api\nweb\n");
    // -c PATH, relative to the current directory
    let o = Command::new(bin())
        .args(["__tasks", "-c", "../../taskmux.toml"])
        .current_dir(&sub)
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "api\nweb\n", "{}", show(&o));
    // no config, or an invalid one: nothing, and success
    let o = Command::new(bin())
        .arg("__tasks")
        .current_dir(&env.home)
        .output()
        .expect("runs");
    assert_eq!((o.status.code(), o.stdout.is_empty()), (Some(0), true), "{}", show(&o));
    let bad = env.file("bad/taskmux.toml", "name = \"x\"\n[tasks.a]\ncommand = 3\n");
    let o = Command::new(bin())
        .arg("__tasks")
        .current_dir(bad.parent().expect("dir"))
        .output()
        .expect("runs");
    assert_eq!((o.status.code(), o.stdout.is_empty()), (Some(0), true), "{}", show(&o));
}

#[test]
fn bash_completes_commands_flags_and_tasks() {
    if !have("bash") {
        return;
    }
    let env = project();
    let dir = &env.project;
    assert_eq!(sorted(bash_complete(dir, "taskmux st")), ["start", "status", "stop"]);
    assert_eq!(sorted(bash_complete(dir, "taskmux start ")), ["api", "web"]);
    assert_eq!(sorted(bash_complete(dir, "taskmux start api ")), ["api", "web"]);
    assert_eq!(bash_complete(dir, "taskmux logs w"), ["web"]);
    assert_eq!(bash_complete(dir, "taskmux logs web "), Vec::<String>::new());
    assert_eq!(bash_complete(dir, "taskmux --json -L sock inspect a"), ["api"]);
    // a task list from -c, and from a subdirectory
    let sub = dir.join("src");
    std::fs::create_dir_all(&sub).expect("mkdir");
    assert_eq!(sorted(bash_complete(&sub, "taskmux stop ")), ["api", "web"]);
    assert_eq!(
        sorted(bash_complete(&env.home, "taskmux -c ../proj/taskmux.toml kill ")),
        ["api", "web"]
    );
    assert_eq!(bash_complete(&env.home, "taskmux kill "), Vec::<String>::new());

    let logs = bash_complete(dir, "taskmux logs -");
    for f in [
        "-f",
        "-n",
        "-g",
        "-C",
        "--since",
        "--follow",
        "--lines",
        "--grep",
        "--context",
        "--json",
    ] {
        assert!(logs.iter().any(|x| x == f), "'taskmux logs -' misses {f}: {logs:?}");
    }
    assert_eq!(sorted(bash_complete(dir, "taskmux logs --s")), ["--since", "--socket"]);
    assert_eq!(bash_complete(dir, "taskmux add x y --dep"), ["--depends-on"]);
    assert_eq!(
        sorted(bash_complete(dir, "taskmux add x y --depends-on ")),
        ["api", "web"]
    );
    assert_eq!(bash_complete(dir, "taskmux completions z"), ["zsh"]);
    assert_eq!(bash_complete(dir, "taskmux ls"), ["ls"]);
    assert_eq!(
        sorted(bash_complete(dir, "taskmux-run --k")),
        ["--keep", "--keep-on-fail"]
    );
    assert_eq!(bash_complete(dir, "taskmux run --no-k"), ["--no-keep-on-fail"]);

    let o = Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            "source \"$1\" && complete -p taskmux taskmux-run",
            "bash",
        ])
        .arg(script("taskmux.bash"))
        .output()
        .expect("bash runs");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "complete -F _taskmux taskmux\ncomplete -F _taskmux taskmux-run\n",
        "{}",
        show(&o)
    );
}

#[test]
fn zsh_and_fish_parse_their_scripts() {
    for (shell, file) in [("zsh", "_taskmux"), ("fish", "taskmux.fish")] {
        if !have(shell) {
            continue;
        }
        let o = Command::new(shell)
            .arg("-n")
            .arg(script(file))
            .output()
            .expect("the shell runs");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{shell} -n {file}: {}",
            show(&o)
        );
    }
}

#[test]
fn fish_completes_commands_and_tasks() {
    if !have("fish") {
        return;
    }
    let env = project();
    let complete = |line: &str| -> Vec<String> {
        let o = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(script("taskmux.fish"))
            .arg(line)
            .current_dir(&env.project)
            .env("PATH", path_with_bin())
            .output()
            .expect("fish runs");
        assert!(o.status.success(), "fish completion of {line:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(sorted(complete("taskmux st")), ["start", "status", "stop"]);
    assert_eq!(sorted(complete("taskmux start ")), ["api", "web"]);
    let logs = complete("taskmux logs -");
    for f in ["-f", "-n", "-g", "-C"] {
        assert!(logs.iter().any(|x| x == f), "'taskmux logs -' misses {f}: {logs:?}");
    }
    assert_eq!(complete("taskmux logs --si"), ["--since"]);
}
