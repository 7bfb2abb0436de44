//! tmuxp workspaces, read as tmuxp reads them: a YAML file (anchors, aliases, merge keys
//! and flow style, by `serde-saphyr`) or a JSON one, whose `session_name` and
//! `start_directory` are expanded with tmuxp's own rules, and the windows and panes that
//! `tmuxp load` makes from it. Loading it is [`super::tmuxp`].

use crate::error::{Error, Kind, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::path::{Path, PathBuf};

/// The file names tmuxp looks for in a directory, in its order, then the same without the
/// leading dot.
const FILE_NAMES: [&str; 6] = [
    ".tmuxp.yaml",
    ".tmuxp.yml",
    ".tmuxp.json",
    "tmuxp.yaml",
    "tmuxp.yml",
    "tmuxp.json",
];

/// A tmuxp workspace, as much of it as taskmux needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    /// The file, absolute.
    pub file: PathBuf,
    /// `session_name`, expanded as tmuxp expands it.
    pub session: String,
    /// `start_directory`, expanded as tmuxp expands it and made absolute (relative to the
    /// file's directory when it starts with `.`, else to the directory tmuxp runs in).
    pub start_directory: Option<PathBuf>,
    /// The panes of each window `tmuxp load` makes (a window without `panes` has one).
    pub panes: Vec<usize>,
}

/// The keys read; tmuxp's others are its business.
#[derive(Deserialize)]
struct RawWorkspace {
    session_name: Option<String>,
    start_directory: Option<String>,
    windows: Option<Vec<RawWindow>>,
}

#[derive(Deserialize)]
struct RawWindow {
    panes: Option<Vec<IgnoredAny>>,
}

/// The workspace file `path` names: the file itself, or the first of [`FILE_NAMES`] in
/// the directory `path`.
fn workspace_file(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    FILE_NAMES
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::from(Kind::Workspace(format!(
                "No tmuxp workspace (.tmuxp.yaml, .yml or .json) in {}",
                path.display()
            )))
        })
}

/// Reads the tmuxp workspace at `path` (a `.yaml`, `.yml` or `.json` file, or a directory
/// holding one) with the environment `env` and the directory tmuxp would run in, `cwd`.
/// E109 when it cannot be read or used: not YAML or JSON, no `session_name`, or a
/// `session_name` that tmux would not keep as it is.
pub fn read_workspace(path: &Path, env: &[(String, String)], cwd: &Path) -> Result<Workspace> {
    let file = workspace_file(path)?;
    let file = std::path::absolute(&file).unwrap_or(file);
    let bad = |msg: String| Error::from(Kind::Workspace(msg)).details(serde_json::json!({"file": file}));
    let text = std::fs::read_to_string(&file).map_err(|e| {
        bad(format!("Cannot read tmuxp workspace {}: {e}", file.display()))
            .hint("pass -w with a .tmuxp.yaml/.yml/.json file or a directory holding one")
    })?;
    let raw: RawWorkspace = if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "tmuxp workspace {} is not a usable JSON workspace: {e}",
                file.display()
            ))
            .hint("fix the file: tmuxp reads it with the same JSON rules")
        })?
    } else {
        from_yaml(&text).map_err(|e| {
            bad(format!(
                "tmuxp workspace {} is not a usable YAML workspace: {e}",
                file.display()
            ))
            .hint("fix the file: tmuxp reads the same YAML")
        })?
    };
    let Some(name) = raw.session_name else {
        return Err(bad(format!("tmuxp workspace {} has no session_name", file.display()))
            .hint("add a top-level 'session_name: NAME' to the workspace"));
    };
    let session = expand_shell(&name, env);
    check_expanded_name(&session, &name, &file)?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let start_directory = raw.start_directory.map(|s| {
        let s = expand_shell(&s, env);
        // tmuxp: a path starting with '.' is relative to the workspace file's directory;
        // another relative one to the directory it runs in, which tmux then uses
        let p = if s.starts_with('.') { dir.join(&s) } else { cwd.join(&s) };
        p.canonicalize().unwrap_or(p)
    });
    let panes = raw
        .windows
        .unwrap_or_default()
        .iter()
        .map(|w| w.panes.as_ref().map_or(1, |p| p.len().max(1)))
        .collect();
    Ok(Workspace {
        file,
        session,
        start_directory,
        panes,
    })
}

/// The YAML of a workspace, as one document; errors on one line with their position. A
/// key given twice keeps its last value, as with tmuxp's PyYAML.
fn from_yaml(text: &str) -> std::result::Result<RawWorkspace, String> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string().replace('\n', " "))
}

/// The session named in the tmuxp workspace at `path` (see [`read_workspace`]): the
/// workspace file (absolute) and the session's name.
pub fn workspace_session(path: &Path, env: &[(String, String)]) -> Result<(PathBuf, String)> {
    let w = read_workspace(path, env, Path::new("/"))?;
    Ok((w.file, w.session))
}

/// Where a job in the workspace's session runs when no `--cwd` is given: the workspace's
/// `start_directory` (where its panes start), else `cwd`. E213 when that directory is not
/// there.
pub fn workspace_cwd(file: &Path, env: &[(String, String)], cwd: &Path) -> Result<PathBuf> {
    let w = read_workspace(file, env, cwd)?;
    match w.start_directory {
        None => Ok(cwd.to_path_buf()),
        Some(d) if d.is_dir() => Ok(d),
        Some(d) => Err(Error::from(Kind::CwdMissing(format!(
            "the start_directory of tmuxp workspace {} is {}, which is not a directory",
            w.file.display(),
            d.display()
        )))
        .hint("create it or fix start_directory in the workspace, or give the job --cwd DIR")),
    }
}

/// Refuses a `session_name` that tmux would store other than as written, so that the
/// session could never be found by its name: tmux 3.3 writes `$` as `\$` and `\` as `\\`.
/// A `$` left after expansion is a variable that is not set: it is named.
fn check_expanded_name(session: &str, written: &str, file: &Path) -> Result<()> {
    if !session.contains(['$', '\\']) {
        return Ok(());
    }
    let unset = variables(session);
    let (why, hint) = if unset.is_empty() {
        (
            "it holds '$' or '\\', which tmux keeps escaped ('\\$'), so the session could not be found by name"
                .to_string(),
            "use letters, digits, spaces, '-' and '_' in session_name".to_string(),
        )
    } else {
        (
            format!(
                "{} not set, and tmux would keep the '$' escaped",
                unset.join(", ") + if unset.len() == 1 { " is" } else { " are" }
            ),
            format!(
                "set {} in the environment taskmux-run runs with, as tmuxp needs it too",
                unset.join(" and ")
            ),
        )
    };
    Err(Error::from(Kind::Workspace(format!(
        "session_name {written:?} of tmuxp workspace {} expands to {session:?}: {why}",
        file.display()
    )))
    .hint(hint)
    .details(serde_json::json!({"file": file, "session_name": written, "expanded": session, "unset": unset})))
}

/// The names of the `$NAME` and `${NAME}` references in `s`, in order, each once.
fn variables(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let (name, len) = reference(after);
        if let Some(n) = name.filter(|n| !n.is_empty())
            && !out.iter().any(|o| o == n)
        {
            out.push(n.to_string());
        }
        rest = &after[len..];
    }
    out
}

/// tmuxp's `expandshell`: `~` first (Python's `os.path.expanduser`), then variables
/// (`os.path.expandvars`), from `env`.
pub fn expand_shell(s: &str, env: &[(String, String)]) -> String {
    let home = lookup(env, "HOME");
    expand_vars(&expand_user(s, home), env)
}

fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `~` alone or before the first `/` becomes `home` (its trailing `/` dropped; `/` when
/// nothing is left). `~user` is left as it is (Python would look the user up), and so is
/// `~` when there is no `HOME`.
fn expand_user(s: &str, home: Option<&str>) -> String {
    let Some(rest) = s.strip_prefix('~') else {
        return s.to_string();
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return s.to_string();
    }
    let Some(home) = home else {
        return s.to_string();
    };
    let out = format!("{}{rest}", home.trim_end_matches('/'));
    if out.is_empty() { "/".into() } else { out }
}

/// The variable a `$` is followed by in `after`: (its name, the length of the reference
/// after the `$`), as Python's `\$(\w+|\{[^}]*\})` with ASCII `\w`; (None, 0) when none.
fn reference(after: &str) -> (Option<&str>, usize) {
    if let Some(braced) = after.strip_prefix('{') {
        return match braced.find('}') {
            Some(j) => (Some(&braced[..j]), j + 2),
            None => (None, 0),
        };
    }
    let n = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if n == 0 { (None, 0) } else { (Some(&after[..n]), n) }
}

/// Python's `os.path.expandvars`: each `$NAME` or `${NAME}` whose NAME is set becomes its
/// value (not expanded again); one that is not set, and a `$` with no name after it, stay.
fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = reference(after);
        match name.and_then(|n| lookup(env, n)) {
            Some(v) => out.push_str(v),
            None => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn variables_expand_as_python_expandvars() {
        let e = env(&[("USER", "ann"), ("HOME", "/home/ann/"), ("A_1", "x$USER"), ("E", "")]);
        let x = |s: &str| expand_shell(s, &e);
        assert_eq!(x("session - ${USER} (${MY_ENV_VAR})"), "session - ann (${MY_ENV_VAR})");
        assert_eq!(x("$USER$USER"), "annann");
        assert_eq!(x("$A_1"), "x$USER", "a value is not expanded again");
        assert_eq!(x("a$"), "a$");
        assert_eq!(
            x("$-x ${} ${USER ${E}|"),
            "$-x ${} ${USER ${E}|",
            "a braced name runs to the first closing brace"
        );
        assert_eq!(x("${USER}x $USERx"), "annx $USERx");
        assert_eq!(x("${a$USER}"), "${a$USER}", "an unset braced name is kept whole");
        assert_eq!(x("$é$USER"), "$éann");
        assert_eq!(x("~"), "/home/ann");
        assert_eq!(x("~/src/$USER"), "/home/ann/src/ann");
        assert_eq!(x("~bob/src"), "~bob/src");
        assert_eq!(x("a~"), "a~");
        assert_eq!(expand_shell("~", &env(&[("HOME", "/")])), "/");
        assert_eq!(
            expand_shell("~/x", &[]),
            "~/x",
            "no HOME: left (Python would ask the password database)"
        );
        assert_eq!(variables("a ${B} $C ${B} $ ${}"), ["B", "C"]);
    }

    #[test]
    fn yaml_anchors_merge_keys_and_flow_style() {
        let d = std::env::temp_dir().join(format!("tmx-ws-yaml-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let f = d.join("w.yaml");
        std::fs::write(
            &f,
            "defaults: &win {layout: tiled, panes: [a, b, {shell_command: [c]}]}\n\
             session_name: &name \"dev ${PROJ}\"\n\
             start_directory: ./sub\n\
             windows:\n  - <<: *win\n    window_name: one\n  - {window_name: two}\n  - window_name: *name\n    panes:\n      -\n",
        )
        .unwrap();
        let w = read_workspace(&f, &env(&[("PROJ", "api")]), Path::new("/tmp")).unwrap();
        assert_eq!(w.session, "dev api");
        assert_eq!(w.panes, [3, 1, 1]);
        assert_eq!(w.start_directory, Some(d.join("sub").canonicalize().unwrap()));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
