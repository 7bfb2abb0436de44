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

/// A man page's text with roff's escapes for hyphens, quotes and fonts taken out.
fn roff_plain(text: &str) -> String {
    let mut s = text
        .replace("\\-", "-")
        .replace("\\(hy", "-")
        .replace("\\(aq", "'")
        .replace("\\(dq", "\"");
    for font in ["\\fB", "\\fR", "\\fI", "\\fP"] {
        s = s.replace(font, "");
    }
    s
}

/// The `.SS` headings of a man page, plain.
fn subsections(page: &str) -> Vec<String> {
    roff_plain(&read(page))
        .lines()
        .filter_map(|l| l.strip_prefix(".SS "))
        .map(|l| l.trim_matches('"').to_string())
        .collect()
}

/// Whether `text` holds `word` as a whole word (not inside a longer name).
fn has_word(text: &str, word: &str) -> bool {
    let re = regex::Regex::new(&format!(r"(?:^|[^a-z_-]){}(?:$|[^a-z_-])", regex::escape(word))).expect("valid regex");
    re.is_match(text)
}

/// `taskmux ARGS` run, its stdout.
fn taskmux_out(args: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_taskmux"))
        .args(args)
        .output()
        .expect("taskmux runs");
    assert_eq!(o.status.code(), Some(0), "taskmux {args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every command of the command table, and each of its subcommands, is in `taskmux --help`,
/// in its own `--help` and in a heading of taskmux(1) (`.SS "daemon [start|stop|...]"` or
/// `.SS "daemon register ..."`).
#[test]
fn every_command_and_subcommand_is_in_help_and_the_man_page() {
    let main = taskmux_out(&["--help"]);
    let headings = subsections("man/taskmux.1");
    for c in taskmux::cli::help::COMMANDS {
        assert!(
            main.lines().any(|l| l.trim_start().split(' ').next() == Some(c.name)),
            "taskmux --help lacks {}",
            c.name
        );
        let own: Vec<&String> = headings
            .iter()
            .filter(|h| h.split(' ').next() == Some(c.name))
            .collect();
        assert!(!own.is_empty(), "man/taskmux.1 has no heading for {}", c.name);
        let help = taskmux_out(&[c.name, "--help"]);
        for sub in c.subcommands {
            assert!(has_word(&help, sub), "taskmux {} --help lacks {sub}: {help}", c.name);
            assert!(
                own.iter().any(|h| has_word(h, sub)),
                "no heading of man/taskmux.1 names '{} {sub}': {own:?}",
                c.name
            );
        }
    }
}

/// Subcommands a dispatcher takes that are not in the table, and why they need no words.
const UNLISTED: &[(&str, &str)] = &[
    // `taskmux daemon run`: the foreground daemon, as `taskmux daemon` alone (what the
    // service units and `daemon start` run)
    ("daemon", "run"),
    // `taskmux jobs ls`: an alias of `jobs list`
    ("jobs", "ls"),
    // `taskmux alias rm`: an alias of `alias remove`
    ("alias", "rm"),
];

/// The string literals in the patterns of the match arms of function `func` of `file`: the
/// words a dispatcher takes.
fn dispatched(file: &str, func: &str) -> BTreeSet<String> {
    let src = read(file);
    let start = src
        .find(&format!("fn {func}("))
        .unwrap_or_else(|| panic!("{file} has no fn {func}"));
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    // a flag's name in a parse loop (`Long("tag")`) is not a subcommand
    let word = regex::Regex::new(r#"(Long\()?"([a-z][a-z-]*)""#).expect("valid regex");
    body.lines()
        .filter_map(|l| l.split_once("=>").map(|(pattern, _)| pattern))
        .flat_map(|p| {
            word.captures_iter(p)
                .filter(|c| c.get(1).is_none())
                .map(|c| c[2].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The command table is what the dispatchers take: the commands `run` in src/cli/mod.rs
/// hands on, and each command's subcommands, so a new one cannot miss `--help` and the man
/// page (the test above holds those to the table).
#[test]
fn the_command_table_is_what_the_dispatchers_take() {
    let table: BTreeSet<String> = taskmux::cli::help::COMMANDS
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    let src = read("src/cli/mod.rs");
    let arm =
        regex::Regex::new(r#"(?m)^\s*"([a-z][a-z-]*)" => [a-z_]+::[a-z_]+\(g, args, out\)"#).expect("valid regex");
    let handled: BTreeSet<String> = arm.captures_iter(&src).map(|c| c[1].to_string()).collect();
    assert_eq!(
        handled, table,
        "src/cli/mod.rs dispatches exactly the commands of src/cli/help.rs"
    );
    for (cmd, file, func) in [
        ("daemon", "src/cli/daemon.rs", "daemon"),
        ("config", "src/cli/config.rs", "config"),
        ("ca", "src/cli/ca.rs", "ca"),
        ("dns", "src/cli/dns.rs", "dns"),
        ("jobs", "src/cli/jobs.rs", "jobs"),
        ("alias", "src/cli/alias.rs", "alias"),
        ("completions", "src/cli/completions.rs", "completions"),
    ] {
        let listed: BTreeSet<String> = taskmux::cli::help::COMMANDS
            .iter()
            .find(|c| c.name == cmd)
            .map(|c| c.subcommands.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        let taken: BTreeSet<String> = dispatched(file, func)
            .into_iter()
            .filter(|s| !UNLISTED.contains(&(cmd, s.as_str())))
            .collect();
        assert_eq!(
            taken, listed,
            "the subcommands {file} takes are those of '{cmd}' in src/cli/help.rs"
        );
    }
    let with_subcommands: Vec<&str> = taskmux::cli::help::COMMANDS
        .iter()
        .filter(|c| !c.subcommands.is_empty())
        .map(|c| c.name)
        .collect();
    assert_eq!(
        with_subcommands,
        ["jobs", "daemon", "config", "ca", "dns", "alias", "completions"]
    );
}

/// Every key of the global config is in taskmux(1)'s table of keys (under `config`), in
/// taskmuxd(8) and in `taskmux config --help`.
#[test]
fn every_global_config_key_is_in_the_man_pages_and_help() {
    let keys: Vec<&str> = taskmux::config::global_edit::KEYS.iter().map(|k| k.name).collect();
    let help = taskmux_out(&["config", "--help"]);
    let page = roff_plain(&read("man/taskmux.1"));
    let config = &page[page.find(".SS \"config").expect("taskmux(1) documents config")..];
    let table: Vec<&str> = config
        .lines()
        .skip_while(|l| *l != ".EX")
        .skip(1)
        .take_while(|l| *l != ".EE")
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(table, keys, "taskmux(1)'s table of keys, in the order of KEYS");
    let daemon = roff_plain(&read("man/taskmuxd.8"));
    for k in keys {
        assert!(has_word(&help, k), "taskmux config --help lacks {k}");
        assert!(
            has_word(&daemon, k),
            "taskmuxd(8) does not say what {k} does to the daemon"
        );
    }
}
