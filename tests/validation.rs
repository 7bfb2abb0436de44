//! Issue 9 (reliability): every number range-checked with its key named, ordinary input
//! and I/O errors with their own codes (never E900), `check` reporting every error at once,
//! and the other validation gaps.

use crate::harness::{Env, show};
use serde_json::Value;

fn errors_of(v: &Value) -> Vec<Value> {
    v["errors"].as_array().cloned().unwrap_or_default()
}

/// `start --json` fails with `code`, exit 2, quickly and without a panic.
fn refused(env: &Env, code: &str) -> Value {
    let t = std::time::Instant::now();
    let o = env.run(&["--json", "start"]);
    assert!(t.elapsed().as_secs() < 20, "start took {:?}: {}", t.elapsed(), show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(o.status.code(), Some(2), "{v}");
    v
}

#[test]
fn every_duration_and_count_is_range_checked_with_its_key_named() {
    let cases = [
        ("health_timeout", "1e20"),
        ("health_interval", "1e20"),
        ("health_interval", "0"),
        ("stop_grace_period", "1e20"),
        ("boot_grace", "86401"),
        ("restart_backoff", "1e300"),
        ("max_restarts", "100000000000000000000"),
        ("health_retries", "10001"),
        ("log_max_files", "5000"),
        ("log_max_size", "\"99999999999GB\""),
        ("port", "70000"),
        ("port", "0"),
    ];
    for (key, value) in cases {
        let env = Env::new("rel-range");
        // a dependency: before the fix, its probe panicked and the start waited forever
        env.config(&format!(
            "[tasks.db]\ncommand = \"sleep 1000\"\nhealth_check = \"true\"\n{key} = {value}\n\
             [tasks.api]\ncommand = \"sleep 1000\"\ndepends_on = [\"db\"]\n"
        ));
        let v = refused(&env, "E104");
        let m = v["error"].as_str().unwrap_or_default();
        assert!(
            m.contains(&format!("'{key}'")) || m.contains(key),
            "{key}: names the key: {m}"
        );
        assert!(m.contains("taskmux.toml:4:"), "{key}: names the line: {m}");
        if key == "port" {
            assert!(m.contains("between 1 and 65535"), "{m}");
        }
    }
}

#[test]
fn environment_numbers_are_range_checked_with_the_variable_named() {
    let env = Env::new("rel-envnum");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\n");
    for (var, value) in [
        ("TASKMUX_HOOK_TIMEOUT", "1e20"),
        ("TASKMUX_HOOK_TIMEOUT", "abc"),
        ("TASKMUX_HOOK_TIMEOUT", "-1"),
        ("TASKMUX_EVENTS_MAX", "abc"),
        ("TASKMUX_EVENTS_KEEP", "1e20"),
    ] {
        let o = env
            .command(&["--json", "start"])
            .env(var, value)
            .output()
            .expect("runs");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
        assert_eq!(v["code"], "E104", "{var}={value}: {v}");
        assert_eq!(o.status.code(), Some(2), "{var}={value}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(var), "{var}: {v}");
    }
    assert_eq!(env.tmux(&["list-sessions"]), "", "nothing started");
}

#[test]
fn config_paths_that_are_no_file_say_what_they_are() {
    let env = Env::new("rel-cfgpath");
    std::fs::create_dir_all(env.root.join("adir")).expect("mkdir");
    let lp = env.root.join("loop.toml");
    std::os::unix::fs::symlink(&lp, &lp).expect("symlink");
    let adir = env.root.join("adir").display().to_string();
    let lps = lp.display().to_string();
    for (path, what) in [
        (adir.as_str(), "is a directory"),
        (lps.as_str(), "symlink loop"),
        ("/dev/null", "is not a regular file"),
    ] {
        let (v, rc) = env.json(&["-c", path, "status"]);
        assert_eq!((v["code"].as_str(), rc), (Some("E100"), 2), "{path}: {v}");
        let m = v["error"].as_str().unwrap_or_default();
        assert!(m.contains(what) && m.contains(path), "{path}: {m}");
    }
    // an I/O error reading the config is not a bug
    let (v, rc) = env.json(&["-c", "/proc/self/mem", "status"]);
    assert_ne!(v["code"], "E900", "{v}");
    assert_eq!(v["code"], "E701", "{v}");
    assert_eq!(rc, 1, "{v}");
    assert!(
        v["error"].as_str().unwrap_or_default().contains("/proc/self/mem"),
        "{v}"
    );
    // a taskmux.toml found upward that is a directory says so
    std::fs::create_dir_all(env.root.join("up").join("taskmux.toml")).expect("mkdir");
    let o = env
        .command(&["--json", "status"])
        .current_dir(env.root.join("up"))
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["code"], "E100", "{v}");
    assert!(
        v["error"].as_str().unwrap_or_default().contains("is a directory"),
        "{v}"
    );
}

#[test]
fn check_reports_every_error_at_once_with_its_task() {
    let env = Env::new("rel-checkall");
    env.config(
        "nmae = \"x\"\n\
         [tasks.a]\ncommand = \"sleep 1000\"\ndepend_on = [\"b\"]\n\
         [tasks.b]\ncommand = \"sleep 1000\"\nhealth_timeout = 1e20\n\
         [tasks.c]\ncommand = \"sleep\\u0000 1\"\n\
         [tasks.d]\ncommand = \"sleep 1000\"\nenv = { X = \"a\\u0000b\" }\n\
         [tasks.f]\ncommand = \"sleep 1000\"\nport = 4000\n\
         [tasks.e]\ncommand = \"sleep 1000\"\nport = 4000\n",
    );
    let (v, rc) = env.json(&["check"]);
    assert_eq!(rc, 2, "{v}");
    let errs = errors_of(&v);
    let find = |task: Option<&str>, code: &str, needle: &str| {
        errs.iter().any(|e| {
            e["task"].as_str() == task
                && e["code"] == code
                && e["message"].as_str().unwrap_or_default().contains(needle)
        })
    };
    assert!(
        find(None, "E103", "at the top level of") && find(None, "E103", "did you mean `name`?"),
        "top-level typo: {v}"
    );
    assert!(
        !errs
            .iter()
            .any(|e| e["message"].as_str().unwrap_or_default().contains("[project]")),
        "a top-level key is not in a table [project]: {v}"
    );
    assert!(find(Some("a"), "E103", "did you mean `depends_on`?"), "{v}");
    assert!(find(Some("b"), "E104", "'health_timeout'"), "{v}");
    assert!(find(Some("c"), "E104", "NUL"), "{v}");
    assert!(find(Some("d"), "E104", "NUL"), "{v}");
    assert!(find(Some("e"), "E104", "'f'"), "a second task on port 4000: {v}");
    assert!(errs.len() >= 6, "every error at once: {v}");
}

#[test]
fn a_cwd_that_is_a_file_is_not_a_directory() {
    let env = Env::new("rel-cwdfile");
    env.file("afile", "x");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\ncwd = \"afile\"\n");
    let (v, _) = env.json(&["start"]);
    assert_eq!(v["code"], "E213", "{v}");
    let (v, _) = env.json(&["start", "a"]);
    let text = v.to_string();
    assert!(text.contains("is not a directory"), "{v}");
    let (v, _) = env.json(&["check"]);
    assert!(v.to_string().contains("is not a directory"), "{v}");
}

#[test]
fn ordinary_input_errors_are_not_bugs() {
    let env = Env::new("rel-notbug");
    env.file("taskmux.toml", "[tasks.a]\r\ncommand = \"sleep 1000\"\r\n");
    // a session name with '/' would split the state paths: refused before anything runs
    let o = env
        .command_of(
            env!("CARGO_BIN_EXE_taskmux-run"),
            &["--json", "-s", "a/b", "--", "true"],
        )
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    assert_eq!((v["code"].as_str(), o.status.code()), (Some("E500"), Some(2)), "{v}");
    assert_eq!(env.tmux(&["list-sessions"]), "", "nothing started");
    // a command with a newline added to a CRLF file
    let (v, rc) = env.json(&["add", "b", "echo 1\necho 2"]);
    assert_eq!(rc, 0, "{v}");
    let (v, rc) = env.json(&["check"]);
    assert_eq!(rc, 0, "{v}");
    let text = std::fs::read_to_string(env.project.join("taskmux.toml")).expect("config");
    assert!(text.contains("[tasks.a]\r\n") && !text.contains("\n\n\n"), "{text:?}");
    let (v, _) = env.json(&["status"]);
    let b = v["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "b").cloned());
    assert_eq!(b.map(|b| b["command"].clone()), Some("echo 1\necho 2".into()), "{v}");
}

#[test]
fn extra_arguments_are_usage_errors() {
    let env = Env::new("rel-extra");
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\n");
    for args in [
        &["status", "extra"][..],
        &["help", "bogus"],
        &["health", "x"],
        &["check", "x"],
        &["list", "x"],
    ] {
        let (v, rc) = env.json(args);
        assert_eq!((v["code"].as_str(), rc), (Some("E500"), 2), "{args:?}: {v}");
    }
}

#[test]
fn two_projects_with_one_name_never_share_a_session() {
    let Some(env) = Env::with_tmux("rel-collide") else {
        return;
    };
    let one = env.root.join("one").join("app");
    let two = env.root.join("two").join("app");
    for d in [&one, &two] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::write(d.join("taskmux.toml"), "[tasks.web]\ncommand = \"sleep 1000\"\n").expect("config");
    }
    let (v, rc) = env.json_in(&one, &["start"]);
    assert_eq!(rc, 0, "{v}");
    for cmd in [&["start"][..], &["stop"], &["status"], &["kill", "web"], &["restart"]] {
        let (v, rc) = env.json_in(&two, cmd);
        assert_eq!((v["code"].as_str(), rc), (Some("E305"), 1), "{cmd:?}: {v}");
        let m = v["error"].as_str().unwrap_or_default();
        assert!(
            m.contains(&one.join("taskmux.toml").display().to_string())
                && m.contains(&two.join("taskmux.toml").display().to_string()),
            "names both: {m}"
        );
        assert!(v["hint"].as_str().unwrap_or_default().contains("`name`"), "{v}");
    }
    let (v, _) = env.json_in(&one, &["status"]);
    assert_eq!(
        v["tasks"][0]["running"], true,
        "the first project's task still runs: {v}"
    );
    // a name of its own: no collision
    std::fs::write(
        two.join("taskmux.toml"),
        "name = \"app-two\"\n[tasks.web]\ncommand = \"sleep 1000\"\n",
    )
    .expect("config");
    let (v, rc) = env.json_in(&two, &["status"]);
    assert_eq!((rc, v["session"].as_str()), (0, Some("app-two")), "{v}");
    // the owner deleted: not a collision any more
    std::fs::write(two.join("taskmux.toml"), "[tasks.web]\ncommand = \"sleep 1000\"\n").expect("config");
    env.json_in(&one, &["stop"]);
    std::fs::remove_file(one.join("taskmux.toml")).expect("rm");
    let (v, rc) = env.json_in(&two, &["status"]);
    assert_eq!(rc, 0, "a deleted config owns nothing: {v}");
}

#[test]
fn a_linked_git_worktree_gets_its_branch_in_the_default_name() {
    let env = Env::new("rel-worktree");
    let main_git = env.root.join("repo").join(".git");
    let gitdir = main_git.join("worktrees").join("feat");
    std::fs::create_dir_all(&gitdir).expect("mkdir");
    std::fs::write(gitdir.join("HEAD"), "ref: refs/heads/feature/Login_Form\n").expect("HEAD");
    let wt = env.root.join("repo-feat");
    std::fs::create_dir_all(wt.join("sub")).expect("mkdir");
    std::fs::write(wt.join(".git"), format!("gitdir: {}\n", gitdir.display())).expect(".git");
    std::fs::write(
        wt.join("sub").join("taskmux.toml"),
        "[tasks.a]\ncommand = \"sleep 1000\"\n",
    )
    .expect("config");
    std::fs::write(wt.join("taskmux.toml"), "[tasks.a]\ncommand = \"sleep 1000\"\n").expect("config");
    let (v, rc) = env.json_in(&wt, &["status"]);
    assert_eq!(
        (rc, v["session"].as_str()),
        (0, Some("repo-feat-feature-login-form")),
        "{v}"
    );
    let (v, _) = env.json_in(&wt.join("sub"), &["status"]);
    assert_eq!(v["session"], "sub-feature-login-form", "{v}");
    // the main checkout (a .git directory) keeps the plain slug
    std::fs::write(
        main_git.parent().expect("repo").join("taskmux.toml"),
        "[tasks.a]\ncommand = \"true\"\n",
    )
    .expect("config");
    let (v, _) = env.json_in(&env.root.join("repo"), &["status"]);
    assert_eq!(v["session"], "repo", "{v}");
}

#[test]
fn status_with_an_invalid_config_still_shows_what_runs() {
    let Some(env) = Env::with_tmux("rel-badstatus") else {
        return;
    };
    env.tasks("mid-edit", &[("web", "sleep 1000"), ("db", "sleep 1001")])
        .started();
    env.config("name = \"mid-edit\"\n[tasks.web]\ncommand = \"sleep 1000\"\nbogus = 1\n[tasks.db\n");
    let v = env.status();
    assert_eq!(v["session"], "mid-edit", "{v}");
    let names: Vec<&str> = v["tasks"]
        .as_array()
        .map_or(vec![], |t| t.iter().filter_map(|t| t["name"].as_str()).collect());
    assert_eq!(names, ["web", "db"], "{v}");
    assert!(
        v["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["running"] == true && t["pid"].as_i64().is_some())),
        "{v}"
    );
    assert!(v["warnings"][0].as_str().is_some_and(|w| w.contains("E101")), "{v}");
    let o = env.run(&["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning:") && err.contains("E101"), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("web"), "{}", show(&o));
    // start still refuses
    let (v, rc) = env.json(&["start"]);
    assert_eq!((v["code"].as_str(), rc), (Some("E101"), 2), "{v}");
}

#[test]
fn status_escapes_control_characters_of_commands() {
    let env = Env::new("rel-escape");
    env.config("[tasks.a]\ncommand = \"printf '\\u001b[2J'; echo a\\nb\\tc\\u0007\"\n");
    let o = env.run(&["status"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\t'),
        "{out:?}"
    );
    assert!(out.contains("\\e[2J") && out.contains("a\\nb\\tc\\x07"), "{out:?}");
    let row: Vec<&str> = out.lines().filter(|l| l.starts_with("a ")).collect();
    assert_eq!(row.len(), 1, "one row for the task: {out:?}");
}

#[test]
fn attach_without_a_terminal_is_e503_with_a_hint() {
    let Some(env) = Env::with_tmux("rel-attach") else {
        return;
    };
    env.config("[tasks.a]\ncommand = \"sleep 1000\"\n").started();
    let (v, rc) = env.json(&["attach"]);
    assert_eq!((v["code"].as_str(), rc), (Some("E503"), 2), "{v}");
    assert!(v["error"].as_str().unwrap_or_default().contains("terminal"), "{v}");
    assert!(v["hint"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
}

#[test]
fn readme_backup_example_fails_when_its_first_command_does() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let line = readme
        .lines()
        .find(|l| l.contains("-t backup"))
        .expect("the backup example");
    let job = line.split_once(" -- ").expect("taskmux-run ... -- CMD").1;
    let (shell, rest) = job.split_once(" -c '").expect("SHELL -c 'SCRIPT'");
    let script = rest.split('\'').next().expect("a quoted script");
    let env = Env::new("rel-readme");
    // a PATH with gzip and not the command that feeds it (curl)
    let bin = env.root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let gzip = ["/usr/bin/gzip", "/bin/gzip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    std::os::unix::fs::symlink(gzip.expect("gzip is installed"), bin.join("gzip")).expect("symlink");
    let shell = ["/usr/bin/", "/bin/"]
        .iter()
        .map(|d| format!("{d}{shell}"))
        .find(|p| std::path::Path::new(p).exists())
        .expect("the example's shell is installed");
    let o = std::process::Command::new(shell)
        .args(["-c", script])
        .current_dir(&env.project)
        .env("PATH", &bin)
        .output()
        .expect("runs");
    assert!(
        !o.status.success(),
        "the example must fail when curl is missing: {}",
        show(&o)
    );
}

#[test]
fn help_fits_80_columns_and_lists_every_command() {
    let o = std::process::Command::new(crate::harness::bin())
        .arg("--help")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&o.stdout);
    for l in text.lines() {
        assert!(l.chars().count() <= 80, "a line past 80 columns: {l:?}");
    }
    // every summary starts in one column
    let commands = text
        .split("Commands:\n")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .expect("commands");
    // a row "  SYNOPSIS  SUMMARY": where SUMMARY starts
    let summary_at = |l: &str| -> Option<usize> {
        let rest = l.strip_prefix("  ").filter(|r| !r.starts_with(' '))?;
        let gap = rest.find("  ")?;
        let after = &rest[gap..];
        Some(2 + gap + after.len() - after.trim_start().len())
    };
    let cols: std::collections::BTreeSet<usize> = commands.lines().filter_map(summary_at).collect();
    assert_eq!(cols.len(), 1, "summaries aligned in one column: {cols:?}\n{text}");
    // every command is in this version: none is listed as coming
    assert!(!text.lines().any(|l| l.starts_with("Coming:")), "{text}");
    for c in ["daemon", "ca", "dns", "doctor"] {
        assert!(
            commands.lines().any(|l| l.trim_start().starts_with(c)),
            "{c} listed: {text}"
        );
    }
}
