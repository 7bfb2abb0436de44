//! Format-preserving edits of `taskmux.toml`: add, replace or remove one task while every
//! other byte of the file (comments, blank lines, key order, quoting, line endings) stays as
//! the person wrote it.
//!
//! `toml_edit` reads the file and knows where each header, key and value sits; the edit is
//! then made on the text itself, so what is not edited is not re-rendered either. New task
//! tables are rendered by `toml_edit`, which quotes keys and escapes strings. The rare
//! layouts a line-based edit cannot express (a task inside an inline `tasks = { … }`, a task
//! spread over dotted keys `tasks.a.command = …`) are edited through `toml_edit`'s document
//! model instead.
//!
//! What goes with a removed task: its header (or key) line, its body, the comment lines
//! directly above it up to and including the blank line above them, and the comment lines
//! directly below its last key when a blank line follows them (commented-out keys of the
//! task). Comment lines that touch the next table stay with that table; comment blocks set
//! apart by blank lines on both sides stay where they are.

use crate::error::{Error, Kind, Result};
use std::ops::Range;
use toml_edit::{Array, Document, DocumentMut, InlineTable, Item, Table, Value};

/// A task as `add` writes it: the keys the command line can set.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewTask {
    /// The task's name.
    #[serde(rename = "task")]
    pub name: String,
    /// The shell command.
    pub command: String,
    /// `cwd`, relative to the config's directory.
    pub cwd: Option<String>,
    /// `host`, for the proxy.
    pub host: Option<String>,
    /// `health_check`, a shell probe.
    pub health_check: Option<String>,
    /// `depends_on`.
    pub depends_on: Vec<String>,
}

impl NewTask {
    /// The task's keys as a standard table, in a fixed order: `command` first.
    fn table(&self) -> Table {
        let mut t = Table::new();
        t.insert("command", Item::Value(one_line(&self.command)));
        for (key, v) in [
            ("cwd", &self.cwd),
            ("host", &self.host),
            ("health_check", &self.health_check),
        ] {
            if let Some(v) = v {
                t.insert(key, Item::Value(one_line(v)));
            }
        }
        if !self.depends_on.is_empty() {
            let deps: Array = self.depends_on.iter().map(String::as_str).collect();
            t.insert("depends_on", toml_edit::value(deps));
        }
        t
    }

    /// The task as one value: a bare string when it has only a command, else an inline table.
    fn value(&self) -> Value {
        let t = self.table();
        if t.len() == 1 {
            return one_line(&self.command);
        }
        let mut it = InlineTable::new();
        for (k, v) in t.iter() {
            if let Some(v) = v.as_value() {
                it.insert(k, v.clone());
            }
        }
        Value::InlineTable(it)
    }

    /// `[tasks.NAME]` and its keys, one per line, ending with a newline.
    pub fn header_text(&self) -> String {
        let mut tasks = Table::new();
        tasks.set_implicit(true);
        tasks.insert(&self.name, Item::Table(self.table()));
        let mut doc = DocumentMut::new();
        doc.insert("tasks", Item::Table(tasks));
        doc.to_string()
    }
}

/// A string value written on one line: a basic string with its line breaks escaped, so the
/// file's line endings (CRLF, which new text is converted to) never reach inside it.
fn one_line(s: &str) -> Value {
    if !s.contains(['\n', '\r']) {
        return Value::from(s);
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push('\t'),
            c if c.is_control() => q.push_str(&format!("\\u{:04X}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q.parse().unwrap_or_else(|_| Value::from(s))
}

/// The config text's lines: where each starts, and which hold TOML content (a header, a
/// key or part of a value) rather than only comments or blanks.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    content: Vec<bool>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&i| i < text.len()));
        if text.is_empty() {
            starts.clear();
        }
        let content = vec![false; starts.len()];
        Lines { text, starts, content }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// The line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// Byte offset where line `i` starts; the text's length past the last line.
    fn start(&self, i: usize) -> usize {
        self.starts.get(i).copied().unwrap_or(self.text.len())
    }

    fn blank(&self, i: usize) -> bool {
        self.text[self.start(i)..self.start(i + 1)].trim().is_empty()
    }

    fn mark(&mut self, span: Range<usize>) {
        if self.starts.is_empty() {
            return;
        }
        let first = self.line_of(span.start);
        let last = self.line_of(span.end.saturating_sub(1).max(span.start));
        for c in &mut self.content[first..=last] {
            *c = true;
        }
    }

    /// The bytes that go when content lines `first..=last` are removed: those lines, the
    /// comment lines directly above them from the last blank line above on, and the comment
    /// lines directly below them up to the next blank line (if there is one before the next
    /// content).
    fn removal(&self, first: usize, last: usize) -> Range<usize> {
        let mut gap_start = first;
        while gap_start > 0 && !self.content[gap_start - 1] {
            gap_start -= 1;
        }
        let own = (gap_start..first).rev().find(|&i| self.blank(i)).unwrap_or(gap_start);
        let mut gap_end = last + 1;
        while gap_end < self.len() && !self.content[gap_end] {
            gap_end += 1;
        }
        let lead_end = (last + 1..gap_end).find(|&i| self.blank(i)).unwrap_or(last + 1);
        self.start(own)..self.start(lead_end)
    }

    /// The last content line after `first` and before line `before`, else `first`.
    fn last_content(&self, first: usize, before: usize) -> usize {
        (first..before.min(self.len()))
            .rev()
            .find(|&i| self.content[i])
            .unwrap_or(first)
    }
}

/// A table header of the file: its line and its key path.
struct Header {
    line: usize,
    path: Vec<String>,
}

/// Marks every content line of `t` and collects its headers, depth first.
fn walk(t: &Table, path: &mut Vec<String>, lines: &mut Lines<'_>, headers: &mut Vec<Header>) {
    if !path.is_empty()
        && !t.is_implicit()
        && !t.is_dotted()
        && t.position().is_some()
        && let Some(span) = t.span()
    {
        lines.mark(span.clone());
        headers.push(Header {
            line: lines.line_of(span.start),
            path: path.clone(),
        });
    }
    for (k, item) in t.iter() {
        path.push(k.to_string());
        match item {
            Item::Value(v) => {
                let key = t.key(k).and_then(|k| k.span());
                if let Some(vs) = v.span() {
                    let start = key.map_or(vs.start, |ks| ks.start.min(vs.start));
                    lines.mark(start..vs.end);
                }
            }
            Item::Table(sub) => walk(sub, path, lines, headers),
            Item::ArrayOfTables(a) => {
                for sub in a.iter() {
                    walk(sub, path, lines, headers);
                }
            }
            Item::None => {}
        }
        path.pop();
    }
}

/// How a task is written in the file.
enum Form {
    /// Not there.
    Missing,
    /// `[tasks.NAME]` with its keys below.
    Header,
    /// One key: `NAME = "cmd"` or `NAME = { … }` under `[tasks]`, or `tasks.NAME = …`.
    Key { key: Range<usize>, value: Range<usize> },
    /// Anything else: inside an inline `tasks = { … }`, or spread over dotted keys.
    Other,
}

/// The parsed file, its lines and its headers.
struct Parsed<'a> {
    doc: Document<&'a str>,
    lines: Lines<'a>,
    headers: Vec<Header>,
    crlf: bool,
}

impl<'a> Parsed<'a> {
    fn new(text: &'a str) -> Result<Parsed<'a>> {
        let doc = Document::parse(text).map_err(|e| {
            Error::from(Kind::InvalidToml(format!("Invalid TOML: {}", e.message().trim()))).hint("fix the syntax first")
        })?;
        let mut lines = Lines::new(text);
        let mut headers = Vec::new();
        walk(doc.as_table(), &mut Vec::new(), &mut lines, &mut headers);
        headers.sort_by_key(|h| h.line);
        Ok(Parsed {
            doc,
            lines,
            headers,
            crlf: text.contains("\r\n"),
        })
    }

    /// Whether the tasks live in an inline table, `tasks = { … }`.
    fn inline_tasks(&self) -> bool {
        matches!(self.doc.as_table().get("tasks"), Some(Item::Value(_)))
    }

    fn form(&self, name: &str) -> Form {
        match self.doc.as_table().get("tasks") {
            None => Form::Missing,
            Some(Item::Table(tasks)) => match tasks.get(name) {
                None => Form::Missing,
                Some(Item::Table(t)) if !t.is_implicit() && !t.is_dotted() && t.position().is_some() => Form::Header,
                Some(Item::Value(v)) => match (tasks.key(name).and_then(|k| k.span()), v.span()) {
                    (Some(key), Some(value)) => Form::Key { key, value },
                    _ => Form::Other,
                },
                Some(_) => Form::Other,
            },
            Some(Item::Value(v)) => match v.as_inline_table().and_then(|t| t.get(name)) {
                Some(_) => Form::Other,
                None => Form::Missing,
            },
            Some(_) => Form::Other,
        }
    }

    /// The first and last content line of the header at `index` (its body included).
    fn header_unit(&self, index: usize) -> (usize, usize) {
        let first = self.headers[index].line;
        let next = self.headers.get(index + 1).map_or(self.lines.len(), |h| h.line);
        (first, self.lines.last_content(first, next))
    }

    /// Indexes of the headers of task `name` (its own and its sub-tables), in file order.
    fn task_headers(&self, name: &str) -> Vec<usize> {
        (0..self.headers.len())
            .filter(|&i| {
                let p = &self.headers[i].path;
                p.len() >= 2 && p[0] == "tasks" && p[1] == name
            })
            .collect()
    }

    /// Text with line endings matching the file's.
    fn eol(&self, s: &str) -> String {
        if self.crlf {
            s.replace("\r\n", "\n").replace('\n', "\r\n")
        } else {
            s.to_string()
        }
    }
}

/// Applies non-overlapping `(range, replacement)` edits to `text`; overlapping or touching
/// removals are merged first.
fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut merged: Vec<(Range<usize>, String)> = Vec::new();
    for (r, s) in edits {
        match merged.last_mut() {
            Some((last, ls)) if r.start <= last.end && s.is_empty() && ls.is_empty() => {
                last.end = last.end.max(r.end);
            }
            _ => merged.push((r, s)),
        }
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for (r, s) in merged {
        let start = r.start.max(at);
        out.push_str(&text[at..start]);
        out.push_str(&s);
        at = r.end.max(at);
    }
    out.push_str(&text[at..]);
    out
}

/// Whether the file holds task `name` (in any form).
pub fn has_task(text: &str, name: &str) -> Result<bool> {
    Ok(!matches!(Parsed::new(text)?.form(name), Form::Missing))
}

/// The text with `task` appended at the end as a `[tasks.NAME]` table, or, when it exists,
/// replaced where it stands. Returns the new text and whether a task was replaced.
pub fn add_task(text: &str, task: &NewTask) -> Result<(String, bool)> {
    let p = Parsed::new(text)?;
    match p.form(&task.name) {
        Form::Missing if p.inline_tasks() => Ok((with_document(text, |tasks| insert_value(tasks, task))?, false)),
        Form::Missing => {
            let nl = if p.crlf { "\r\n" } else { "\n" };
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(nl);
            }
            if !out.trim().is_empty() {
                out.push_str(nl);
            }
            out.push_str(&p.eol(&task.header_text()));
            Ok((out, false))
        }
        Form::Header => {
            let own = p.task_headers(&task.name);
            let mut edits = Vec::new();
            for &i in &own {
                let (first, last) = p.header_unit(i);
                if p.headers[i].path.len() == 2 {
                    let range = p.lines.start(first)..p.lines.start(last + 1);
                    edits.push((range, p.eol(&task.header_text())));
                } else {
                    edits.push((p.lines.removal(first, last), String::new()));
                }
            }
            Ok((apply(text, edits), true))
        }
        Form::Key { value, .. } => Ok((apply(text, vec![(value, task.value().to_string())]), true)),
        Form::Other => Ok((with_document(text, |tasks| insert_value(tasks, task))?, true)),
    }
}

/// The text without task `name`. Errors with E200 when the file has no such task.
pub fn remove_task(text: &str, name: &str) -> Result<String> {
    let p = Parsed::new(text)?;
    match p.form(name) {
        Form::Missing => Err(Kind::TaskNotFound {
            task: name.to_string(),
            path: None,
            known: Vec::new(),
        }
        .into()),
        Form::Header => {
            let edits = p
                .task_headers(name)
                .into_iter()
                .map(|i| {
                    let (first, last) = p.header_unit(i);
                    (p.lines.removal(first, last), String::new())
                })
                .collect();
            Ok(apply(text, edits))
        }
        Form::Key { key, value } => {
            let first = p.lines.line_of(key.start.min(value.start));
            let last = p.lines.line_of(value.end.saturating_sub(1));
            Ok(apply(text, vec![(p.lines.removal(first, last), String::new())]))
        }
        Form::Other => with_document(text, |tasks| {
            tasks.remove(name);
        }),
    }
}

/// Inserts (or replaces in place) the task as one value in a table-like `tasks`.
fn insert_value(tasks: &mut dyn toml_edit::TableLike, task: &NewTask) {
    let mut v = task.value();
    if let Some(old) = tasks.get(&task.name).and_then(Item::as_value) {
        *v.decor_mut() = old.decor().clone();
    }
    tasks.insert(&task.name, Item::Value(v));
}

/// Edits the `tasks` table through `toml_edit`'s document model and renders the whole file:
/// for the layouts a line-based edit cannot express.
fn with_document(text: &str, edit: impl FnOnce(&mut dyn toml_edit::TableLike)) -> Result<String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::from(Kind::InvalidToml(format!("Invalid TOML: {}", e.message().trim())))
    })?;
    let tasks = doc
        .as_table_mut()
        .entry("tasks")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| Error::from(Kind::InvalidTask("[tasks] must be a table".into())))?;
    edit(tasks);
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests;
