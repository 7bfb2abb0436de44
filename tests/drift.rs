//! The drift test: the flag tables of src/cli/flags.rs against the hand-written parsers, the man
//! pages, the completion scripts and `--help`. A flag in one and not the others fails.

use crate::harness::require;
use std::collections::BTreeSet;
use std::path::Path;
use taskmux::cli::flags::{self, Flag};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn longs(flags: &[Flag]) -> BTreeSet<String> {
    flags.iter().map(|f| f.long.to_string()).collect()
}

/// Every long flag any table names, for the `taskmux` binary and for `taskmux-run`.
fn table_longs() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut taskmux = longs(flags::GLOBAL);
    for (_, fl) in flags::COMMANDS {
        taskmux.extend(longs(fl));
    }
    let mut run = longs(flags::GLOBAL);
    run.extend(longs(flags::RUN));
    (taskmux, run)
}

/// The commands whose parser is a hand-written lexopt loop (the others read the table), and
/// the files (comma-separated) it is in.
const HAND_PARSED: &[(&str, &str)] = &[
    ("logs", "src/cli/logs.rs"),
    ("events", "src/cli/logs.rs"),
    ("run", "src/cli/jobs.rs"),
    ("jobs", "src/cli/jobs.rs"),
    ("send", "src/cli/observe.rs"),
    ("add", "src/cli/authoring.rs"),
    ("init", "src/cli/authoring.rs"),
    ("mcp", "src/cli/mcp.rs"),
    ("dns", "src/cli/dns.rs,src/cli/dns_serve.rs"),
];

fn literal_longs(src: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r#"Long\("([a-z][a-z-]*)"\)"#).expect("valid regex");
    re.captures_iter(src).map(|c| c[1].to_string()).collect()
}

#[test]
fn parsers_accept_exactly_the_tables_flags() {
    let (taskmux, run) = table_longs();
    let all: BTreeSet<String> = taskmux.union(&run).cloned().collect();
    let mut parsed = BTreeSet::new();
    for file in [
        "src/cli/logs.rs",
        "src/cli/jobs.rs",
        "src/cli/observe.rs",
        "src/cli/authoring.rs",
        "src/cli/watch.rs",
        "src/cli/mcp.rs",
        "src/cli/dns.rs",
        "src/cli/dns_serve.rs",
    ] {
        parsed.extend(literal_longs(&read(file)));
    }
    let unknown: Vec<_> = parsed.difference(&all).collect();
    assert!(
        unknown.is_empty(),
        "flags parsed but missing from src/cli/flags.rs: {unknown:?}"
    );
    for (cmd, file) in HAND_PARSED {
        let src: BTreeSet<String> = file.split(',').flat_map(|f| literal_longs(&read(f))).collect();
        let missing: Vec<_> = flags::of(cmd)
            .iter()
            .filter(|f| !src.contains(f.long))
            .map(|f| f.long)
            .collect();
        assert!(
            missing.is_empty(),
            "flags of '{cmd}' in src/cli/flags.rs that {file} does not parse: {missing:?}"
        );
    }
}

fn man_longs(text: &str) -> BTreeSet<String> {
    // roff writes a hyphen as \- (and some pages use \(hy); font escapes may sit between
    let plain = text
        .replace("\\-", "-")
        .replace("\\(hy", "-")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "");
    let re = regex::Regex::new(r"(?:^|[^a-zA-Z0-9-])--([a-z][a-z-]*[a-z])").expect("valid regex");
    re.captures_iter(&plain).map(|c| c[1].to_string()).collect()
}

/// Flags of other programs that the man pages mention in examples.
const FOREIGN: &[&str] = &["path", "prefix", "release", "yes"];

#[test]
fn man_pages_document_exactly_the_tables_flags() {
    let (_, run) = table_longs();
    // taskmux.1 documents the global flags and every command but `run`, which is taskmux-run.1
    let mut taskmux = longs(flags::GLOBAL);
    for (_, fl) in flags::COMMANDS.iter().filter(|(c, _)| *c != "run") {
        taskmux.extend(longs(fl));
    }
    for (page, table) in [("man/taskmux.1", &taskmux), ("man/taskmux-run.1", &run)] {
        let found = man_longs(&read(page));
        let missing: Vec<_> = table.difference(&found).collect();
        assert!(missing.is_empty(), "{page} does not document: {missing:?}");
        let known: BTreeSet<String> = taskmux.union(&run).cloned().collect();
        let extra: Vec<_> = found
            .iter()
            .filter(|f| !known.contains(*f) && !FOREIGN.contains(&f.as_str()))
            .collect();
        assert!(extra.is_empty(), "{page} documents flags no parser has: {extra:?}");
    }
}

fn script_longs(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"(?:^|[\s'(\x22|,])--([a-z][a-z-]*)").expect("valid regex");
    let mut out: BTreeSet<String> = re.captures_iter(text).map(|c| c[1].to_string()).collect();
    // fish names long flags with -l NAME
    let fish = regex::Regex::new(r"(?:^|\s)-l\s+'?([a-z][a-z-]*)").expect("valid regex");
    out.extend(fish.captures_iter(text).map(|c| c[1].to_string()));
    out
}

#[test]
fn completion_scripts_complete_exactly_the_tables_flags() {
    let (taskmux, run) = table_longs();
    let all: BTreeSet<String> = taskmux.union(&run).cloned().collect();
    for script in [
        "completions/taskmux.bash",
        "completions/_taskmux",
        "completions/taskmux.fish",
    ] {
        let found = script_longs(&read(script));
        let missing: Vec<_> = all.difference(&found).collect();
        assert!(missing.is_empty(), "{script} does not complete: {missing:?}");
        let extra: Vec<_> = found.difference(&all).collect();
        assert!(extra.is_empty(), "{script} completes flags no parser has: {extra:?}");
    }
}

#[test]
fn help_lists_every_flag_of_the_table() {
    for (cmd, fl) in flags::COMMANDS {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_taskmux"))
            .args([cmd, "--help"])
            .output()
            .expect("taskmux runs");
        assert_eq!(o.status.code(), Some(0), "taskmux {cmd} --help");
        let text = String::from_utf8_lossy(&o.stdout);
        for f in fl.iter() {
            assert!(
                text.contains(&format!("--{}", f.long)),
                "taskmux {cmd} --help lacks --{}: {text}",
                f.long
            );
        }
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_taskmux-run"))
        .arg("--help")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&o.stdout);
    for f in flags::RUN.iter().chain(flags::GLOBAL) {
        assert!(
            text.contains(&format!("--{}", f.long)),
            "taskmux-run --help lacks --{}",
            f.long
        );
    }
}

#[test]
fn man_pages_render_without_warnings() {
    if !require("groff", &["groff", "--version"]) {
        return;
    }
    let pages = [
        "man/taskmux.1",
        "man/taskmux-run.1",
        "man/taskmuxd.8",
        "man/taskmux-dns.8",
        "man/taskmux.toml.5",
    ];
    for page in pages {
        // -ww: every warning groff has; -z: parse and check, print nothing
        let o = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(root().join(page))
            .output()
            .expect("groff runs");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = std::process::Command::new("groff")
            .args(["-man", "-ww", "-Tutf8"])
            .arg(root().join(page))
            .output()
            .expect("groff runs");
        assert!(
            o.stderr.is_empty(),
            "{page} renders with warnings: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout.len() > 500, "{page} renders to almost nothing");
    }
    if require("man", &["man", "--version"]) {
        let o = std::process::Command::new("man")
            .arg("-l")
            .arg(root().join("man/taskmux.1"))
            .env("MANWIDTH", "80")
            .output()
            .expect("man runs");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("taskmux"),
            "man -l renders the page"
        );
    }
}
