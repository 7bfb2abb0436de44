//! Unit tests of the format-preserving edits: every byte not edited stays.

use super::*;

fn task(name: &str, command: &str) -> NewTask {
    NewTask {
        name: name.into(),
        command: command.into(),
        ..NewTask::default()
    }
}

const COMMENTED: &str = r#"# Project header comment
name = "demo"   # trailing comment on name

auto_start = true

# ===== tasks =====

# the database
[tasks.db]
command = "postgres -D data"   # runs postgres
port = 5432
# health_check = "pg_isready"

[tasks.api]
# odd key order
depends_on = ["db"]
command = "npm run api"
env = { PORT = "3000", DEBUG = "1" }

# web server, directly above
[tasks.web]
command = """
npm run web
[tasks.fake]
"""
[tasks.web.hooks]
before_start = "echo hi"

[hooks]
before_start = "echo project"   # trailing

# end of file comment
"#;

#[test]
fn add_appends_and_remove_gives_back_the_original() {
    let t = NewTask {
        name: "new-one".into(),
        command: "echo \"hi\" | tee x".into(),
        cwd: Some("sub dir".into()),
        host: Some("app".into()),
        health_check: Some("true".into()),
        depends_on: vec!["db".into(), "api".into()],
    };
    let (added, replaced) = add_task(COMMENTED, &t).expect("adds");
    assert!(!replaced);
    let block = "\n[tasks.new-one]\ncommand = 'echo \"hi\" | tee x'\ncwd = \"sub dir\"\nhost = \"app\"\nhealth_check = \"true\"\ndepends_on = [\"db\", \"api\"]\n";
    assert_eq!(added, format!("{COMMENTED}{block}"));
    assert_eq!(remove_task(&added, "new-one").expect("removes"), COMMENTED);
}

#[test]
fn remove_keeps_comments_that_belong_elsewhere() {
    let out = remove_task(COMMENTED, "db").expect("removes");
    assert_eq!(
        out,
        COMMENTED.replace(
            "\n# the database\n[tasks.db]\ncommand = \"postgres -D data\"   # runs postgres\nport = 5432\n# health_check = \"pg_isready\"\n",
            ""
        )
    );
    let out = remove_task(COMMENTED, "api").expect("removes");
    assert_eq!(
        out,
        COMMENTED.replace(
            "\n[tasks.api]\n# odd key order\ndepends_on = [\"db\"]\ncommand = \"npm run api\"\nenv = { PORT = \"3000\", DEBUG = \"1\" }\n",
            ""
        )
    );
    let out = remove_task(COMMENTED, "web").expect("removes");
    assert!(out.contains("DEBUG = \"1\" }\n\n[hooks]\n"), "{out}");
    assert!(
        !out.contains("web") && !out.contains("fake") && !out.contains("echo hi"),
        "{out}"
    );
    assert!(out.ends_with("# trailing\n\n# end of file comment\n"), "{out}");
}

#[test]
fn force_replaces_in_place() {
    let (out, replaced) = add_task(COMMENTED, &task("web", "serve")).expect("replaces");
    assert!(replaced);
    let start = COMMENTED.find("[tasks.web]").expect("there");
    let end = COMMENTED.find("[hooks]").expect("there");
    assert_eq!(
        out,
        format!(
            "{}[tasks.web]\ncommand = \"serve\"\n\n{}",
            &COMMENTED[..start],
            &COMMENTED[end..]
        )
    );
    let (out, _) = add_task(COMMENTED, &task("db", "pg")).expect("replaces");
    assert!(
        out.contains("# the database\n[tasks.db]\ncommand = \"pg\"\n# health_check"),
        "{out}"
    );
}

#[test]
fn key_forms() {
    let text = "name = \"p\"\ntasks.a = \"x\"   # a\n\n# about b\ntasks.b = \"y\"\ntasks.c = \"z\"\n";
    assert_eq!(
        remove_task(text, "b").expect("removes"),
        "name = \"p\"\ntasks.a = \"x\"   # a\ntasks.c = \"z\"\n"
    );
    let (out, replaced) = add_task(
        text,
        &NewTask {
            cwd: Some("d".into()),
            ..task("a", "new")
        },
    )
    .expect("replaces");
    assert!(replaced);
    assert_eq!(
        out,
        text.replace("tasks.a = \"x\"", "tasks.a = { command = \"new\", cwd = \"d\" }")
    );
    let (out, _) = add_task(text, &task("d", "w")).expect("adds");
    assert_eq!(out, format!("{text}\n[tasks.d]\ncommand = \"w\"\n"));

    let text = "[tasks]\na = \"x\"\nb = { command = \"y\" }\n";
    assert_eq!(
        remove_task(text, "a").expect("removes"),
        "[tasks]\nb = { command = \"y\" }\n"
    );
    assert_eq!(remove_task(text, "b").expect("removes"), "[tasks]\na = \"x\"\n");
}

#[test]
fn other_forms_go_through_the_document() {
    let text = "tasks = { a = \"x\", b = \"y\" }\n";
    assert_eq!(remove_task(text, "a").expect("removes"), "tasks = { b = \"y\" }\n");
    let (out, replaced) = add_task(text, &task("c", "z")).expect("adds");
    assert!(!replaced);
    assert!(out.contains("c = \"z\""), "{out}");
    let text = "tasks.a.command = \"x\"\ntasks.a.cwd = \"y\"\ntasks.b = \"z\"\n";
    assert_eq!(remove_task(text, "a").expect("removes"), "tasks.b = \"z\"\n");
}

/// Layouts people write: every task of each can be removed, and re-added after, without
/// touching what the others mean.
#[test]
fn odd_layouts_keep_the_other_tasks() {
    let samples = [
        COMMENTED,
        "[tasks]\n# a comment\na = \"x\"\n\n  [tasks.b]   # indented header\n  command = \"y\"\n  depends_on = [\n    \"a\",  # needs a\n  ]\n\n[tasks.c]\ncommand = 'z'\n[tasks.c.env]\nK = \"v\"\n",
        "name = \"p\"\n[tasks.a]\ncommand = \"x\"\n[tasks.b]\ncommand = \"y\"\n[tasks.a.hooks]\nbefore_start = \"h\"\n# end",
        "tasks.a = \"x\"\ntasks.b.command = \"y\"\ntasks.b.cwd = \".\"\n[tasks.c]\ncommand = \"z\"\n",
    ];
    let path = std::path::Path::new("/tmp/x/taskmux.toml");
    for text in samples {
        let before = crate::config::parse(text, path).expect("sample is valid");
        for t in &before.tasks {
            if before.tasks.iter().any(|o| o.depends_on.contains(&t.name)) {
                continue;
            }
            let out = remove_task(text, &t.name).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            let after = crate::config::parse(&out, path).unwrap_or_else(|e| panic!("{}: {e}\n{out}", t.name));
            let rest: Vec<_> = before.tasks.iter().filter(|o| o.name != t.name).collect();
            assert_eq!(
                after.tasks.iter().collect::<Vec<_>>(),
                rest,
                "removing {}:\n{out}",
                t.name
            );
            let (back, replaced) = add_task(&out, &task(&t.name, "again")).expect("adds");
            assert!(!replaced);
            let again = crate::config::parse(&back, path).unwrap_or_else(|e| panic!("{e}\n{back}"));
            assert_eq!(again.tasks.len(), before.tasks.len(), "{back}");
            let (forced, replaced) = add_task(text, &task(&t.name, "forced")).expect("replaces");
            assert!(replaced);
            let f = crate::config::parse(&forced, path).unwrap_or_else(|e| panic!("{e}\n{forced}"));
            assert_eq!(
                f.task(&t.name).map(|x| x.command.as_str()).ok(),
                Some("forced"),
                "{forced}"
            );
            assert_eq!(f.task_names(), before.task_names(), "{forced}");
        }
    }
}

#[test]
fn line_endings_and_edges() {
    let text = "name = \"p\"\r\n\r\n[tasks.a]\r\ncommand = \"x\"\r\n";
    let (out, _) = add_task(text, &task("b", "y")).expect("adds");
    assert_eq!(out, format!("{text}\r\n[tasks.b]\r\ncommand = \"y\"\r\n"));
    assert_eq!(remove_task(&out, "b").expect("removes"), text);
    assert_eq!(remove_task(text, "a").expect("removes"), "name = \"p\"\r\n");

    let (out, _) = add_task("", &task("a", "x")).expect("adds");
    assert_eq!(out, "[tasks.a]\ncommand = \"x\"\n");
    let (out, _) = add_task("name = \"p\"", &task("a", "x")).expect("adds");
    assert_eq!(out, "name = \"p\"\n\n[tasks.a]\ncommand = \"x\"\n");
    let (out, _) = add_task("\u{feff}name = \"p\"\n", &task("a b", "x")).expect("adds");
    assert_eq!(out, "\u{feff}name = \"p\"\n\n[tasks.\"a b\"]\ncommand = \"x\"\n");
    assert_eq!(remove_task(&out, "a b").expect("removes"), "\u{feff}name = \"p\"\n");
    assert_eq!(remove_task("name = 1\n", "a").unwrap_err().code(), "E200");
    assert_eq!(remove_task("name = \n", "a").unwrap_err().code(), "E101");
    assert!(has_task(COMMENTED, "web").expect("parses"));
    assert!(!has_task(COMMENTED, "fake").expect("parses"));
}
