//! The agent context block: what `AGENTS.md` and `CLAUDE.md` tell a coding agent about
//! running this project's processes, kept between two markers so it can be refreshed in
//! place without touching a byte around it.

use crate::config::Project;

/// The line that opens the block.
pub const START: &str = "<!-- taskmux:start -->";
/// The line that closes the block.
pub const END: &str = "<!-- taskmux:end -->";
/// The one line that registers `taskmux mcp` in an agent's JSON MCP configuration.
pub const MCP_JSON: &str = r#"{"mcpServers": {"taskmux": {"command": "taskmux", "args": ["mcp"]}}}"#;
/// The agent files `init` writes, next to the config.
pub const FILES: [&str; 2] = ["AGENTS.md", "CLAUDE.md"];

/// `s` as Markdown inline code, fenced with more backticks than it holds, on one line, and
/// unable to close or open a block marker.
fn code(s: &str) -> String {
    let s = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("<!--", "<!- -");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// The block for a project, from `START` to `END`, without a final newline.
pub fn block(project: &Project) -> String {
    let mut s = format!(
        "{START}\n\
         ## Dev processes: taskmux\n\n\
         This project's long-running processes (dev servers, watchers, databases) run in tmux \
         through taskmux, as defined in `taskmux.toml`. Start them with `taskmux start [TASK]`, \
         never in the background with `&` or `nohup`.\n\n\
         - State of every task: `taskmux status --json`; one in full: `taskmux inspect TASK --json`\n\
         - Output: `taskmux logs TASK -n 50` (search with `-g PATTERN`)\n\
         - After a change: `taskmux restart TASK`\n\
         - One-off commands (tests, builds, migrations): `taskmux-run --wait -- CMD`\n\
         - Edit the tasks with `taskmux add TASK \"COMMAND\"` and `taskmux remove TASK`\n\
         - MCP: `taskmux mcp` serves these as tools (status, start, stop, restart, logs, inspect, \
         health, events, run_job); register it with `claude mcp add taskmux -- taskmux mcp`, \
         or `{MCP_JSON}` in an agent's MCP config\n\n"
    );
    if project.tasks.is_empty() {
        s.push_str("Tasks: none yet.\n");
    } else {
        s.push_str("Tasks:\n");
        for t in &project.tasks {
            s.push_str(&format!("- {}: {}", code(&t.name), code(&t.command)));
            if let Some(h) = &t.host {
                s.push_str(&format!(" (host {})", code(h)));
            }
            s.push('\n');
        }
    }
    s.push_str(END);
    s
}

/// Where the first complete block sits in `text`, end marker included.
fn find(text: &str) -> Option<Result<std::ops::Range<usize>, ()>> {
    let start = text.find(START)?;
    Some(match text[start..].find(END) {
        Some(e) => Ok(start..start + e + END.len()),
        None => Err(()),
    })
}

/// Whether `text` holds a complete block.
pub fn has_block(text: &str) -> bool {
    matches!(find(text), Some(Ok(_)))
}

/// `text` with `block` in place of its block (later complete blocks dropped), or appended
/// after a blank line when it has none. None when a start marker has no end marker: the
/// file is left for a person to fix rather than guessed at.
pub fn with_block(text: &str, block: &str) -> Option<String> {
    match find(text) {
        Some(Ok(r)) => {
            let mut rest = text[r.end..].to_string();
            while let Some(Ok(again)) = find(&rest) {
                rest.replace_range(again, "");
            }
            Some(format!("{}{block}{rest}", &text[..r.start]))
        }
        Some(Err(())) => None,
        None if text.is_empty() => Some(format!("{block}\n")),
        None if text.ends_with('\n') => Some(format!("{text}\n{block}\n")),
        None => Some(format!("{text}\n\n{block}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_replaced_in_place_and_never_duplicated() {
        let b1 = format!("{START}\none\n{END}");
        let b2 = format!("{START}\ntwo\n{END}");
        assert_eq!(with_block("", &b1).as_deref(), Some(format!("{b1}\n").as_str()));
        let user = "# Notes\n\nkeep me";
        let once = with_block(user, &b1).expect("appends");
        assert_eq!(once, format!("{user}\n\n{b1}\n"));
        let tail = "\n## After\n trailing  ";
        let mixed = format!("{once}{tail}");
        let twice = with_block(&mixed, &b2).expect("replaces");
        assert_eq!(twice, format!("{user}\n\n{b2}\n{tail}"));
        assert_eq!(with_block(&twice, &b2).as_deref(), Some(twice.as_str()));
        let dup = format!("{b1}\nx\n{b1}\ny");
        assert_eq!(with_block(&dup, &b2).as_deref(), Some(format!("{b2}\nx\n\ny").as_str()));
        assert_eq!(with_block(&format!("a\n{START}\nb"), &b2), None);
        assert!(has_block(&twice) && !has_block(user));
    }

    #[test]
    fn code_spans_survive_backticks_and_markers() {
        assert_eq!(code("npm run dev"), "`npm run dev`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
        assert_eq!(code("a\n  b"), "`a b`");
        assert!(!code("echo <!-- taskmux:end -->").contains(END));
    }
}
