//! Human and JSON output: aligned tables, color only on a tty and never with `NO_COLOR`,
//! and a broken pipe that ends the program quietly.

use std::io::{IsTerminal, Write};

/// How to print: JSON or for people, with or without color.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json` was given.
    pub json: bool,
    /// stdout is a tty and `NO_COLOR` is unset.
    pub color: bool,
}

/// Raised (as a panic payload never seen by users) when stdout is closed: the program
/// exits 0 at once, as `taskmux status | head -1` expects.
fn broken_pipe() -> ! {
    std::process::exit(0)
}

impl Out {
    /// Decides color from the environment.
    pub fn new(json: bool) -> Out {
        let color =
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Out { json, color }
    }

    /// Writes text to stdout; a closed pipe exits 0 quietly.
    pub fn print(&self, text: &str) {
        if captured("", text) {
            return;
        }
        let mut o = std::io::stdout().lock();
        if o.write_all(text.as_bytes()).and_then(|_| o.flush()).is_err() {
            broken_pipe();
        }
    }

    /// Writes one line to stdout.
    pub fn line(&self, text: &str) {
        self.print(&format!("{text}\n"));
    }

    /// Writes a JSON value as one line.
    pub fn json(&self, v: &serde_json::Value) {
        self.line(&v.to_string());
    }

    /// Wraps text in an ANSI color when color is on.
    pub fn paint(&self, text: &str, color: Color) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match color {
            Color::Green => "32",
            Color::Red => "31",
            Color::Yellow => "33",
            Color::Dim => "2",
            Color::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// The line for a task whose operation failed: `failed NAME: error[CODE]: message`.
    pub fn failed_line(&self, name: &str, e: &crate::error::Error) -> String {
        format!(
            "{} {name}: error[{}]: {}",
            self.paint("failed", Color::Red),
            e.code(),
            e.message()
        )
    }

    /// Prints rows as an aligned table; `header` is printed bold. Cells may hold color codes.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        let visible = |s: &str| crate::logs::strip_ansi(s).chars().count();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(visible(c));
                }
            }
        }
        let fmt_row = |cells: Vec<String>| {
            let n = cells.len();
            let mut line = String::new();
            for (i, c) in cells.into_iter().enumerate() {
                line.push_str(&c);
                if i + 1 < n {
                    line.push_str(&" ".repeat(widths[i].saturating_sub(visible(&c)) + 2));
                }
            }
            line.trim_end().to_string()
        };
        let mut text = fmt_row(header.iter().map(|h| self.paint(h, Color::Bold)).collect());
        text.push('\n');
        for r in rows {
            text.push_str(&fmt_row(r.clone()));
            text.push('\n');
        }
        self.print(&text);
    }
}

/// Colors used in human output.
#[derive(Debug, Clone, Copy)]
pub enum Color {
    /// Good.
    Green,
    /// Bad.
    Red,
    /// In between.
    Yellow,
    /// Unimportant.
    Dim,
    /// Headers.
    Bold,
}

/// Writes an error to stderr (or JSON to stdout) in the one shape of taskmux(1) DIAGNOSTICS.
pub fn print_error(out: &Out, prog: &str, e: &crate::error::Error) {
    if out.json {
        out.json(&e.to_json());
    } else {
        let mut s = format!("{prog}: error[{}]: {}\n", e.code(), e.message());
        s.push_str(&log_tail(e));
        if let Some(h) = &e.hint {
            s.push_str(&format!("  hint: {h}\n"));
        }
        note(&s);
    }
}

/// The last lines of a task's log that an error carries (`details.log_tail`, from a start
/// that failed), indented under it; "" when it carries none.
fn log_tail(e: &crate::error::Error) -> String {
    let Some(d) = &e.details else { return String::new() };
    let lines: Vec<&str> = d["log_tail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .collect();
    let task = d["task"].as_str().unwrap_or("the task");
    if lines.is_empty() {
        return match d.get("log_tail") {
            Some(_) => format!("  {task} wrote nothing to its log\n"),
            None => String::new(),
        };
    }
    let mut s = format!("  the last lines of {task}'s log:\n");
    for l in lines {
        s.push_str(&format!("    {}\n", escape_control(&crate::logs::strip_ansi(l))));
    }
    s
}

/// `s` with its control characters escaped, so a command cannot move the cursor, color
/// the terminal or break a table row: `\e` for ESC, `\n`, `\r`, `\t`, else `\xNN`.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Writes a warning to stderr (never in JSON's stdout).
pub fn warn(prog: &str, msg: &str) {
    note(&format!("{prog}: warning: {msg}\n"));
}

/// Writes notes that go with what stdout carries (where a file would go, what to run next)
/// to stderr, so stdout stays the thing itself.
pub fn note(text: &str) {
    if captured("stderr: ", text) {
        return;
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[cfg(test)]
thread_local! {
    /// What this thread printed, while [`capture`] runs.
    static CAPTURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps `text` (marked with `stream`) when this thread is capturing; whether it did.
#[cfg(test)]
fn captured(stream: &str, text: &str) -> bool {
    CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(s) => {
            s.push_str(stream);
            s.push_str(text);
            true
        }
        None => false,
    })
}

#[cfg(not(test))]
fn captured(_: &str, _: &str) -> bool {
    false
}

/// Runs `f`, and returns what it printed to stdout and stderr (stderr's lines marked).
#[cfg(test)]
pub fn capture(f: impl FnOnce()) -> String {
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    f();
    CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default()
}
