//! A project's name when the config gives none: the directory's slug, and in a linked git
//! worktree `<slug>-<branch-slug>`; and the name an invalid config would give.

use super::*;
use toml::de::DeTable;

/// The default project name: the slug of the config's directory, and in a linked git
/// worktree `<slug>-<branch slug>`, so parallel worktrees of one repository never share a
/// session.
pub(super) fn default_name(dir: &Path) -> String {
    let base = slug(
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .as_deref()
            .unwrap_or(""),
    );
    match worktree_branch(dir) {
        Some(b) => format!("{base}-{}", slug(&b)),
        None => base,
    }
}

/// The branch of the linked git worktree `dir` is in (or the worktree's name, on a
/// detached HEAD): the nearest `.git` upward is a file `gitdir: …/worktrees/NAME`, whose
/// `HEAD` is `ref: refs/heads/BRANCH`. None in a main checkout or outside git.
fn worktree_branch(dir: &Path) -> Option<String> {
    let (top, meta) = dir
        .ancestors()
        .find_map(|d| Some((d, std::fs::symlink_metadata(d.join(".git")).ok()?)))?;
    if !meta.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(top.join(".git")).ok()?;
    let gitdir = top.join(text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim());
    let worktree = gitdir.file_name()?.to_string_lossy().into_owned();
    if gitdir.parent()?.file_name()? != "worktrees" {
        return None;
    }
    let head = std::fs::read_to_string(gitdir.join("HEAD")).unwrap_or_default();
    Some(match head.trim().strip_prefix("ref: refs/heads/") {
        Some(branch) if !branch.is_empty() => branch.to_string(),
        _ => worktree,
    })
}

/// The project name a config file gives, even when it is invalid: its top-level `name`
/// when that is a valid name (read from the TOML, or from its line when the TOML does not
/// parse), else the default name of its directory. None when the file cannot be read.
pub fn project_name_of(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let from_toml = || {
        let doc = DeTable::parse(&text).ok()?;
        Some(doc.get_ref().get("name")?.get_ref().as_str()?.to_string())
    };
    let from_line = || {
        text.lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with('['))
            .find_map(|l| {
                let rest = l.strip_prefix("name")?.trim_start().strip_prefix('=')?.trim();
                let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                Some(rest[1..].split(q).next()?.to_string())
            })
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    Some(
        from_toml()
            .or_else(from_line)
            .filter(|n| valid_project_name(n))
            .unwrap_or_else(|| default_name(dir)),
    )
}
