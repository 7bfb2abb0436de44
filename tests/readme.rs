//! README.md runs as written: its shell blocks, in order, in one shell, as a new user would
//! paste them into a terminal standing in a fresh clone. A block is run unless the line
//! before it is `<!-- not run: WHY -->` (an install, `sudo`, `tmux attach`, what waits for
//! Ctrl-C).
//!
//! The world is a scratch one: the clone is a copy of `examples/`, `HOME` and
//! `TASKMUX_HOME` are scratch directories, `TASKMUX_TMUX_SOCKET` names the test's tmux
//! server and a `tmux` first on `PATH` adds `-L` to every call (so `tmux kill-server` in the
//! README ends this server only), the built binaries come next on `PATH` (as `cargo
//! install` would put them), and `TASKMUX_SYSTEM_ROOT` is a scratch directory. The global
//! config is written first, with free ports for the API, the proxy and the DNS server,
//! `host_resolver = "noop"` and a heal every second. The README's fixed ports (the example's
//! 7301-7304 and the proxy's 8443) and its `/tmp/demo` are replaced by free ports and a
//! scratch directory, in the README's text and in the example's `taskmux.toml` alike.

use crate::harness::{Env, bin, free_port, processes_with_env, require, require_tmux, show};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One fenced shell block of the README.
#[derive(Debug)]
struct Block {
    /// The line of the README its first command is on (1-based).
    line: usize,
    /// Its text.
    text: String,
    /// Why it is not run, when it is marked so.
    not_run: Option<String>,
}

/// The shell blocks (```sh) of a Markdown text, in order, each with its marker.
fn shell_blocks(md: &str) -> Vec<Block> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("README.md line {}: a block that never ends", i + 1));
        if matches!(info.trim(), "sh" | "bash" | "shell" | "console") {
            let not_run = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- not run:"))
                .map(|r| r.trim_end_matches("-->").trim().to_string());
            out.push(Block {
                line: start + 1,
                text: lines[start..end].join("\n"),
                not_run,
            });
        }
        i = end + 1;
    }
    out
}

/// Every `<!-- not run` marker is followed by a shell block: a marker that lost its block
/// would silently mark the next one.
fn check_markers(md: &str) {
    let lines: Vec<&str> = md.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("<!-- not run") {
            assert!(
                l.trim().starts_with("<!-- not run: ") && l.trim().ends_with("-->") && l.len() > 20,
                "README.md line {}: a marker is `<!-- not run: WHY -->`: {l}",
                i + 1
            );
            let next = lines.get(i + 1).copied().unwrap_or_default();
            assert!(
                next.starts_with("```sh"),
                "README.md line {}: a not-run marker must stand right above a ```sh block",
                i + 1
            );
        }
    }
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Replaces each `from` by its `to` in one pass (a new value that holds an old one is not
/// replaced again).
fn substitute(text: &str, pairs: &[(String, String)]) -> String {
    let mut s = text.to_string();
    for (i, (from, _)) in pairs.iter().enumerate() {
        s = s.replace(from.as_str(), &format!("\u{1}{i}\u{1}"));
    }
    for (i, (_, to)) in pairs.iter().enumerate() {
        s = s.replace(&format!("\u{1}{i}\u{1}"), to);
    }
    s
}

/// Kills, on drop, every process that carries the run's marker in its environment: what
/// the README starts in the background (`taskmux-dns &`), and anything else it left.
struct Marked(String);

impl Drop for Marked {
    fn drop(&mut self) {
        for _ in 0..3 {
            let pids = processes_with_env(&self.0);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(p).expect("pid > 0"),
                    rustix::process::Signal::KILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn the_readme_runs_as_written() {
    if !require_tmux() || !require("python3", &["python3", "-V"]) || !require("curl", &["curl", "--version"]) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    check_markers(&md);
    let blocks = shell_blocks(&md);
    let run: Vec<&Block> = blocks.iter().filter(|b| b.not_run.is_none()).collect();
    assert!(run.len() >= 8, "the README's blocks are mostly run: {blocks:#?}");

    let env = Env::new("readme");
    let clone = env.root.join("clone");
    copy_tree(&repo.join("examples"), &clone.join("examples"));
    let user_home = env.root.join("user-home");
    let system_root = env.root.join("system-root");
    let bin_dir = env.root.join("bin");
    for d in [&user_home, &system_root, &bin_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }

    // the README's fixed ports and paths, and the scratch ones that stand for them
    let mut pairs: Vec<(String, String)> = (7301..=7304)
        .map(|p| (p.to_string(), free_port().to_string()))
        .collect();
    pairs.push(("8443".into(), free_port().to_string()));
    pairs.push(("/tmp/demo".into(), env.root.join("demo").display().to_string()));
    let example = clone.join("examples/fullstack/taskmux.toml");
    let text = std::fs::read_to_string(&example).expect("the example's config");
    std::fs::write(&example, substitute(&text, &pairs)).expect("write");

    std::fs::write(
        env.home.join("config.toml"),
        format!(
            "health_check_interval = 1\napi_port = {}\nproxy_https_port = {}\nproxy_http_port = {}\n\
             dns_server_port = {}\nhost_resolver = \"noop\"\n",
            free_port(),
            free_port(),
            free_port(),
            free_port()
        ),
    )
    .expect("write the global config");

    // tmux: the real one, on this test's server whatever the call
    let tmux = which("tmux");
    let wrapper = bin_dir.join("tmux");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{}' -L '{}' \"$@\"\n", tmux.display(), env.socket),
    )
    .expect("write the tmux wrapper");
    set_executable(&wrapper);

    // one script: each block sourced in turn by one shell, so `cd` and variables carry
    // over as in a terminal; the first command that fails names its block and line
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'echo \"README.md line $((BLOCK_LINE + LINENO - 1)) failed (exit $?): $BASH_COMMAND\" >&2' ERR\n",
    );
    for (n, b) in run.iter().enumerate() {
        let file = env.root.join(format!("block-{n}.sh"));
        std::fs::write(&file, substitute(&b.text, &pairs)).expect("write a block");
        script.push_str(&format!(
            "BLOCK_LINE={}\necho \"=== README.md line {} ===\"\nsource '{}'\n",
            b.line,
            b.line,
            file.display()
        ));
    }
    script.push_str("echo '=== the end ==='\n");

    let marker = format!("TASKMUX_README_RUN={}", env.socket);
    let _guard = Marked(marker.clone());
    let built = Path::new(bin()).parent().expect("the binaries' directory");
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        built.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let t0 = Instant::now();
    let child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&clone)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &user_home)
        .env("USER", std::env::var("USER").unwrap_or_else(|_| "root".into()))
        .env("LANG", "C.UTF-8")
        .env("TERM", "xterm-256color")
        .env("TASKMUX_HOME", &env.home)
        .env("TASKMUX_TMUX_SOCKET", &env.socket)
        .env("TASKMUX_SYSTEM_ROOT", &system_root)
        .env("NO_COLOR", "1")
        .env("TASKMUX_README_RUN", &env.socket)
        .stdin(Stdio::null())
        // files, not pipes: what the README leaves running in the background
        // (`taskmux-dns &`) holds them open after the shell exits
        .stdout(std::fs::File::create(env.root.join("stdout")).expect("create"))
        .stderr(std::fs::File::create(env.root.join("stderr")).expect("create"))
        .spawn()
        .expect("bash runs");
    let o = wait_with_deadline(child, Duration::from_secs(120), &env.root);
    let took = t0.elapsed();
    eprintln!("the README's {} runnable blocks took {took:?}", run.len());
    assert_eq!(
        o.status.code(),
        Some(0),
        "the README does not run as written:\n{}",
        show(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.ends_with("=== the end ===\n"), "{}", show(&o));
    // what the README promises along the way
    assert!(
        out.contains("exit 3"),
        "jobs wait exits with the job's code: {}",
        show(&o)
    );
    crate::harness::wait_for(10.0, "the REPL's answer to what send typed", || {
        let mut c = env.command(&["logs", "repl"]);
        c.current_dir(clone.join("examples/fullstack"));
        let o = c.output().expect("taskmux runs");
        String::from_utf8_lossy(&o.stdout).lines().any(|l| l.ends_with(" 42"))
    });
}

/// The absolute path of a program on `PATH`.
fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn set_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The child's exit and what it wrote (to `dir/stdout`, `dir/stderr`) once it exits, or,
/// killed, once `limit` has passed.
fn wait_with_deadline(mut child: std::process::Child, limit: Duration, dir: &Path) -> std::process::Output {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(dir.join("stdout")).unwrap_or_default(),
        stderr: std::fs::read(dir.join("stderr")).unwrap_or_default(),
    }
}

#[test]
fn shell_blocks_and_their_markers_are_read() {
    let md = "a\n```sh\nx\ny\n```\n<!-- not run: waits -->\n```sh\nz\n```\n```toml\nq\n```\n";
    let b = shell_blocks(md);
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(
        (b[0].line, b[0].text.as_str(), b[0].not_run.as_deref()),
        (3, "x\ny", None)
    );
    assert_eq!(
        (b[1].line, b[1].text.as_str(), b[1].not_run.as_deref()),
        (8, "z", Some("waits"))
    );
    check_markers(md);
    assert_eq!(
        substitute(
            "7301 and 73011, /tmp/demo",
            &[("7301".into(), "7302".into()), ("7302".into(), "9".into())]
        ),
        "7302 and 73021, /tmp/demo"
    );
}
