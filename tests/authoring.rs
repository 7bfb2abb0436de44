//! `init`, `add` and `remove`: the config and the agent files change by exactly what was
//! asked, byte for byte; every refusal leaves them untouched; `remove` stops a running task.

use crate::harness::{Env, alive, read, require_tmux, show, wait_for};
use serde_json::Value;
use std::path::{Path, PathBuf};

const START: &str = "<!-- taskmux:start -->";
const END: &str = "<!-- taskmux:end -->";

/// A config as people write them: comments above and beside everything, blank lines, an
/// inline table, keys in no particular order, a multi-line string, sub-tables.
const COMMENTED: &str = r#"# demo project: the services we run while developing
name = "demo"   # the tmux session

auto_start = true

# ===================== tasks =====================

# the database comes first
[tasks.db]
port = 5432      # freed before start
command = "postgres -D data"
# health_check = "pg_isready"

[tasks.api]
# keys in odd order on purpose
depends_on = ["db"]
env = { PORT = "3000", DEBUG = "1" }   # inline table
command = "npm run api"

# the web front end, directly above its table
[tasks.web]
command = """
npm run web \
  --port 8080
"""
[tasks.web.hooks]
before_start = "echo building"

[hooks]
before_start = "echo project"   # trailing comment

# vim: set ft=toml:
"#;

fn config_path(env: &Env) -> PathBuf {
    env.project.join("taskmux.toml")
}

fn config_text(env: &Env) -> String {
    read(&config_path(env))
}

/// `taskmux --json ARGS` must succeed; returns its JSON.
fn ok(env: &Env, args: &[&str]) -> Value {
    let (v, code) = env.json(args);
    assert_eq!(code, 0, "{args:?} failed: {v}");
    assert_eq!(v["ok"], true, "{args:?} failed: {v}");
    v
}

/// `taskmux --json ARGS` must fail with `code` and exit `exit` and leave every named file
/// byte-identical (or still absent).
fn refused(env: &Env, args: &[&str], code: &str, exit: i32, files: &[&Path]) -> Value {
    let before: Vec<Option<Vec<u8>>> = files.iter().map(|f| std::fs::read(f).ok()).collect();
    let (v, rc) = env.json(args);
    assert_eq!(v["ok"], false, "{args:?}: {v}");
    assert_eq!(v["code"], code, "{args:?}: {v}");
    assert_eq!(rc, exit, "exit status of {code} for {args:?}: {v}");
    assert!(v["error"].as_str().is_some_and(|s| !s.is_empty()), "no message: {v}");
    for (f, b) in files.iter().zip(before) {
        assert_eq!(
            std::fs::read(f).ok(),
            b,
            "{} changed after a refused {args:?}",
            f.display()
        );
    }
    v
}

/// The agent block of a file: from the start marker to the end marker, inclusive.
fn block_of(text: &str) -> &str {
    let s = text.find(START).expect("the file has a start marker");
    let e = text[s..].find(END).expect("the block has an end marker") + s + END.len();
    &text[s..e]
}

/// No leftover temp file from an atomic write in the project directory.
fn no_temp_files(env: &Env) {
    let temps: Vec<String> = std::fs::read_dir(&env.project)
        .expect("project dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(temps.is_empty(), "temp files left behind: {temps:?}");
}

#[test]
fn init_in_an_empty_directory() {
    let env = Env::new("auth-init");
    let v = ok(&env, &["init"]);
    let cfg = config_path(&env);
    assert_eq!(v["session"], "proj", "{v}");
    assert_eq!(v["config_path"], cfg.display().to_string(), "{v}");
    let agents = [env.project.join("AGENTS.md"), env.project.join("CLAUDE.md")];
    let listed: Vec<&str> = v["agent_files"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let expected: Vec<String> = agents.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(listed, expected, "{v}");

    let text = config_text(&env);
    assert!(text.contains("name = \"proj\""), "{text}");
    assert!(text.contains("# [tasks."), "a commented example task: {text}");
    let project = taskmux::config::load(&cfg).expect("init writes a valid config");
    assert_eq!(project.name, "proj");
    assert!(project.tasks.is_empty());
    if require_tmux() {
        let s = env.status();
        assert_eq!(s["session"], "proj", "{s}");
    }

    for f in &agents {
        let t = read(f);
        assert!(t.starts_with(START) && t.ends_with(&format!("{END}\n")), "{t}");
        assert_eq!(t.matches(START).count(), 1, "{t}");
        for needle in [
            "taskmux status --json",
            "taskmux logs TASK -n 50",
            "taskmux inspect TASK --json",
            "taskmux-run --wait -- CMD",
            "&",
            "`taskmux mcp`",
            "`claude mcp add taskmux -- taskmux mcp`",
            r#"`{"mcpServers": {"taskmux": {"command": "taskmux", "args": ["mcp"]}}}`"#,
        ] {
            assert!(t.contains(needle), "{} lacks {needle:?}:\n{t}", f.display());
        }
    }
    assert_eq!(read(&agents[0]), read(&agents[1]));
    no_temp_files(&env);

    // human output names what was made
    let env = Env::new("auth-init-human");
    let o = env.run(&["init", "--defaults"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("taskmux.toml") && stdout.contains("AGENTS.md"),
        "{}",
        show(&o)
    );
}

#[test]
fn init_keeps_existing_agent_files_byte_for_byte() {
    let env = Env::new("auth-init-keep");
    let agents_md = "# Agents\n\nRun the tests with `make test`.\n  trailing spaces  \n";
    let claude_before = "Intro line\n\n";
    let claude_after = "\n\n## Later section\nno final newline";
    let claude_md = format!("{claude_before}{START}\nan old block\n{END}{claude_after}");
    env.file("AGENTS.md", agents_md);
    env.file("CLAUDE.md", &claude_md);
    ok(&env, &["init"]);

    let agents = read(&env.project.join("AGENTS.md"));
    let block = block_of(&agents).to_string();
    assert!(block.contains("taskmux status --json"), "{block}");
    assert_eq!(
        agents,
        format!("{agents_md}\n{block}\n"),
        "AGENTS.md: appended after a blank line"
    );
    let claude = read(&env.project.join("CLAUDE.md"));
    assert_eq!(
        claude,
        format!("{claude_before}{block}{claude_after}"),
        "CLAUDE.md: the block replaced in place"
    );
    assert!(!claude.contains("an old block"));
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let env = Env::new("auth-init-twice");
    ok(&env, &["init"]);
    let cfg = config_path(&env);
    let agents = env.project.join("AGENTS.md");
    let claude = env.project.join("CLAUDE.md");
    // a file without the block must not gain one, a deleted one must not come back
    std::fs::write(&agents, "mine\n").expect("write");
    std::fs::remove_file(&claude).expect("rm");
    let v = refused(&env, &["init", "--defaults"], "E105", 2, &[&cfg, &agents, &claude]);
    assert!(v["error"].as_str().unwrap_or("").contains("taskmux.toml"), "{v}");
    assert!(!claude.exists());

    let o = env.run(&["init"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("taskmux: error[E105]: "), "{err}");
    assert!(o.stdout.is_empty(), "{}", show(&o));

    // -c names another place: created there, and refused there the second time
    let other = env.root.join("elsewhere");
    std::fs::create_dir_all(&other).expect("mkdir");
    let target = other.join("taskmux.toml");
    let v = ok(&env, &["-c", target.to_str().expect("utf-8 path"), "init"]);
    assert_eq!(v["session"], "elsewhere", "{v}");
    assert!(other.join("AGENTS.md").exists());
    refused(
        &env,
        &["-c", target.to_str().expect("utf-8 path"), "init"],
        "E105",
        2,
        &[&target],
    );
}

#[test]
fn agent_block_lists_the_tasks_and_follows_add_and_remove() {
    let env = Env::new("auth-block");
    env.file("AGENTS.md", "# Notes\n");
    ok(&env, &["init"]);
    let agents = env.project.join("AGENTS.md");
    let claude = env.project.join("CLAUDE.md");
    // a file that never had the block is left alone
    std::fs::write(&claude, "no block here\n").expect("write");
    let v = ok(&env, &["add", "api", "npm run dev", "--host", "api"]);
    assert_eq!(v["action"], "added", "{v}");
    ok(&env, &["add", "db", "docker compose up postgres"]);
    let text = read(&agents);
    assert!(text.starts_with("# Notes\n\n<!-- taskmux:start -->"), "{text}");
    let block = block_of(&text);
    assert!(block.contains("`api`: `npm run dev` (host `api`)"), "{block}");
    assert!(block.contains("`db`: `docker compose up postgres`"), "{block}");
    assert_eq!(text.matches(START).count(), 1, "{text}");
    assert_eq!(read(&claude), "no block here\n");

    ok(&env, &["remove", "api"]);
    let text = read(&agents);
    let block = block_of(&text);
    assert!(!block.contains("`api`"), "{block}");
    assert!(block.contains("`db`"), "{block}");
    assert!(text.starts_with("# Notes\n\n<!-- taskmux:start -->") && text.ends_with(&format!("{END}\n")));
}

#[test]
fn add_and_remove_change_only_their_task() {
    let env = Env::new("auth-edit");
    env.config(COMMENTED);
    let cfg = config_path(&env);

    let v = ok(
        &env,
        &[
            "add",
            "worker",
            "python -m worker --queue 'jobs'",
            "--cwd",
            "services/worker",
            "--host",
            "worker",
            "--health-check",
            "test -e /tmp",
            "--depends-on",
            "db",
            "--depends-on",
            "api",
        ],
    );
    assert_eq!(v["task"], "worker", "{v}");
    assert_eq!(v["command"], "python -m worker --queue 'jobs'", "{v}");
    assert_eq!(v["action"], "added", "{v}");
    let appended = "\n[tasks.worker]\n\
        command = \"python -m worker --queue 'jobs'\"\n\
        cwd = \"services/worker\"\n\
        host = \"worker\"\n\
        health_check = \"test -e /tmp\"\n\
        depends_on = [\"db\", \"api\"]\n";
    assert_eq!(config_text(&env), format!("{COMMENTED}{appended}"));
    let project = taskmux::config::load(&cfg).expect("valid after add");
    assert_eq!(project.task_names(), vec!["db", "api", "web", "worker"]);

    let v = ok(&env, &["remove", "worker"]);
    assert_eq!(v["action"], "removed", "{v}");
    assert_eq!(v["stopped"], false, "{v}");
    assert_eq!(
        config_text(&env),
        COMMENTED,
        "remove gives back the original byte for byte"
    );

    // a table in the middle: it goes with its comment directly above and its commented-out
    // key below; the section banner and everything else stay
    ok(&env, &["remove", "web"]);
    let without_web = COMMENTED.replace(
        "\n# the web front end, directly above its table\n[tasks.web]\ncommand = \"\"\"\nnpm run web \\\n  --port 8080\n\"\"\"\n[tasks.web.hooks]\nbefore_start = \"echo building\"\n",
        "",
    );
    assert_ne!(without_web, COMMENTED);
    assert_eq!(config_text(&env), without_web);
    std::fs::write(&cfg, COMMENTED).expect("write");
    // api is the one that depends on db, so db can only go after it
    ok(&env, &["remove", "api"]);
    ok(&env, &["remove", "db"]);
    let expected = COMMENTED
        .replace(
            "\n[tasks.api]\n# keys in odd order on purpose\ndepends_on = [\"db\"]\nenv = { PORT = \"3000\", DEBUG = \"1\" }   # inline table\ncommand = \"npm run api\"\n",
            "",
        )
        .replace(
            "\n# the database comes first\n[tasks.db]\nport = 5432      # freed before start\ncommand = \"postgres -D data\"\n# health_check = \"pg_isready\"\n",
            "",
        );
    assert_eq!(config_text(&env), expected);
    assert!(expected.contains("# ===================== tasks ====================="));

    // --force replaces the table where it stands
    std::fs::write(&cfg, COMMENTED).expect("write");
    let v = ok(&env, &["add", "db", "pg_ctl start", "--force"]);
    assert_eq!(v["action"], "replaced", "{v}");
    let expected = COMMENTED.replace(
        "[tasks.db]\nport = 5432      # freed before start\ncommand = \"postgres -D data\"\n",
        "[tasks.db]\ncommand = \"pg_ctl start\"\n",
    );
    assert_eq!(config_text(&env), expected);
    no_temp_files(&env);
}

#[test]
fn add_and_remove_keep_the_file_mode_and_other_forms() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("auth-forms");
    let text = "name = \"p\"\ntasks.a = \"echo a\"   # bare string task\n\n[tasks.b]\ncommand = \"echo b\"\n";
    env.config(text);
    let cfg = config_path(&env);
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    ok(&env, &["add", "c", "echo", "c d", "--depends-on", "a,b"]);
    assert_eq!(
        config_text(&env),
        format!("{text}\n[tasks.c]\ncommand = \"echo 'c d'\"\ndepends_on = [\"a\", \"b\"]\n")
    );
    let mode = std::fs::metadata(&cfg).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file's mode is kept");
    ok(&env, &["remove", "c"]);
    assert_eq!(config_text(&env), text);
    ok(&env, &["remove", "a"]);
    assert_eq!(config_text(&env), "name = \"p\"\n\n[tasks.b]\ncommand = \"echo b\"\n");
    // from a subdirectory the config is found upward, as for every command
    let sub = env.project.join("deep").join("er");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let o = env
        .command(&["--json", "add", "z", "echo z"])
        .current_dir(&sub)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(config_text(&env).ends_with("\n[tasks.z]\ncommand = \"echo z\"\n"));
}

#[test]
fn refusals_leave_the_file_byte_identical() {
    let env = Env::new("auth-refuse");
    env.config(COMMENTED);
    env.file("AGENTS.md", &format!("keep\n{START}\nold\n{END}\n"));
    let cfg = config_path(&env);
    let agents = env.project.join("AGENTS.md");
    let files = [cfg.as_path(), agents.as_path()];

    let v = refused(&env, &["add", "api", "other"], "E106", 2, &files);
    assert!(v["hint"].as_str().unwrap_or("").contains("--force"), "{v}");
    let v = refused(&env, &["add", "x", "echo", "--depends-on", "nope"], "E210", 2, &files);
    assert!(v["error"].as_str().unwrap_or("").contains("nope"), "{v}");
    refused(&env, &["add", "x", "echo", "--depends-on", "x"], "E211", 2, &files);
    refused(&env, &["add", "bad name!", "echo"], "E102", 2, &files);
    refused(&env, &["add", "job", "echo"], "E102", 2, &files);
    refused(&env, &["add", "-x", "echo"], "E500", 2, &files);
    refused(&env, &["add", "x", ""], "E102", 2, &files);
    refused(&env, &["add", "x"], "E500", 2, &files);
    // caught only by validating the new text: an invalid host
    refused(&env, &["add", "x", "echo", "--host", "Not_A_Host"], "E104", 2, &files);
    // a cycle through --force
    refused(
        &env,
        &["add", "db", "echo", "--depends-on", "api", "--force"],
        "E212",
        2,
        &files,
    );

    let v = refused(&env, &["remove", "db"], "E210", 2, &files);
    assert_eq!(v["details"]["dependents"], serde_json::json!(["api"]), "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("api"), "{v}");
    refused(&env, &["remove", "ghost"], "E200", 1, &files);
    refused(&env, &["remove"], "E500", 2, &files);
    refused(&env, &["init"], "E105", 2, &files);
    assert_eq!(config_text(&env), COMMENTED);

    // a config that is already broken is not edited further
    let broken = format!("{COMMENTED}\n[tasks.bad]\ncommand = \"x\"\nbogus = 1\n");
    std::fs::write(&cfg, &broken).expect("write");
    refused(&env, &["add", "x", "echo"], "E103", 2, &files);
    refused(&env, &["remove", "web"], "E103", 2, &files);

    // no config at all
    let env = Env::new("auth-refuse-none");
    refused(&env, &["add", "x", "echo"], "E100", 2, &[&config_path(&env)]);
    assert!(!config_path(&env).exists());
}

#[test]
fn remove_stops_a_running_task_and_refuses_a_needed_one() {
    let Some(env) = Env::with_tmux("auth-running") else {
        return;
    };
    env.config(
        "name = \"authrun\"\n\n\
         [tasks.db]\ncommand = \"echo $$ > db.pid; exec sleep 300\"\n\n\
         [tasks.api]\ncommand = \"echo $$ > api.pid; exec sleep 300\"\ndepends_on = [\"db\"]\n\n\
         [tasks.extra]\ncommand = \"echo $$ > extra.pid; exec sleep 300\"\n",
    );
    let cfg = config_path(&env);
    ok(&env, &["start"]);
    let pid = |name: &str| -> i32 {
        let f = env.project.join(format!("{name}.pid"));
        wait_for(10.0, &format!("{name} writes its pid"), || {
            read(&f).trim().parse::<i32>().is_ok_and(alive)
        });
        read(&f).trim().parse().unwrap_or(0)
    };
    let (db, extra) = (pid("db"), pid("extra"));
    pid("api");

    // refused before anything is stopped
    let before = config_text(&env);
    refused(&env, &["remove", "db"], "E210", 2, &[&cfg]);
    assert!(alive(db), "db was stopped although its removal was refused");
    assert_eq!(env.task_status("db")["running"], true);
    assert_eq!(config_text(&env), before);

    let v = ok(&env, &["remove", "extra"]);
    assert_eq!(v["stopped"], true, "{v}");
    wait_for(5.0, "extra's process to be gone", || !alive(extra));
    let windows = env.tmux(&["list-windows", "-t", "=authrun", "-F", "#{window_name}"]);
    assert!(
        !windows.lines().any(|w| w == "extra"),
        "extra's window is still there: {windows}"
    );
    assert!(windows.lines().any(|w| w == "db"), "{windows}");
    assert!(!config_text(&env).contains("extra"), "{}", config_text(&env));
    assert!(alive(db), "removing extra touched db");
    let (s, _) = env.json(&["status"]);
    let names: Vec<&str> = s["tasks"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["db", "api"], "{s}");
}

/// Runs `taskmux ARGS` in `dir` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_tty(env: &Env, dir: &Path, args: &str, input: &str) -> Option<std::process::Output> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !crate::harness::require("script", &["script", "--version"]) {
        return None;
    }
    let mut child = Command::new("script")
        .args(["-qec", &format!("'{}' {args}", crate::harness::bin()), "/dev/null"])
        .current_dir(dir)
        .env("TASKMUX_HOME", &env.home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input.as_bytes()).expect("type the answers");
    }
    Some(child.wait_with_output().expect("script ends"))
}

#[test]
fn init_asks_on_a_terminal_and_not_with_defaults() {
    let env = Env::new("auth-tty");
    let dir = env.root.join("My App");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // an invalid name is asked again; AGENTS.md declined, CLAUDE.md by default
    let Some(o) = on_a_tty(&env, &dir, "init", "Bad_Name\ncool-app\nn\n\n") else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("[my-app]"), "the default name is shown: {said}");
    assert!(read(&dir.join("taskmux.toml")).contains("name = \"cool-app\""));
    assert!(!dir.join("AGENTS.md").exists(), "{said}");
    assert!(read(&dir.join("CLAUDE.md")).contains(START), "{said}");

    let dir = env.root.join("other one");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let Some(o) = on_a_tty(&env, &dir, "init --defaults", "") else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(!said.contains("[Y/n]"), "--defaults asked: {said}");
    assert!(read(&dir.join("taskmux.toml")).contains("name = \"other-one\""));
    assert!(dir.join("AGENTS.md").exists() && dir.join("CLAUDE.md").exists());
}
