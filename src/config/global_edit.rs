//! `taskmux config`: the global config's keys and the type of each, what `config show`
//! reports, and the edits `config set` and `config unset` make to
//! `$TASKMUX_HOME/config.toml`, keeping the file's comments, order and formatting.

pub use super::global::keys::{KEYS, Key, ValueType, key_list};
use super::global::{self, GlobalConfig, read_text};
use crate::error::{Error, Kind, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Value};

mod value;

pub use value::parse_value;

/// The key of that name; an unknown one is E104 with the known keys in the hint.
pub fn key(name: &str) -> Result<Key> {
    KEYS.iter().copied().find(|k| k.name == name).ok_or_else(|| {
        Error::invalid(format!("Unknown global config key '{name}'"))
            .hint(format!("the keys are: {}", key_list()))
            .details(serde_json::json!({
                "key": name,
                "known": KEYS.iter().map(|k| k.name).collect::<Vec<_>>(),
            }))
    })
}

/// The global config as `config show` reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Shown {
    /// The file.
    pub path: PathBuf,
    /// Whether it exists; when not, every value is the default.
    pub exists: bool,
    /// Every key with its effective value, defaults filled in.
    pub config: GlobalConfig,
    /// The keys the file sets, in [`KEYS`] order; the others are defaults.
    pub from_file: Vec<String>,
}

/// Reads and validates the global config of a state directory. An invalid file is an
/// error (E101, E104) that names it.
pub fn show(home: &Path) -> Result<Shown> {
    let path = GlobalConfig::path(home);
    let Some(text) = read_text(&path)? else {
        return Ok(Shown {
            path,
            exists: false,
            config: GlobalConfig::default(),
            from_file: Vec::new(),
        });
    };
    let config = GlobalConfig::parse(&text, &path)?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| Error::internal(format!("{} parsed once and not twice: {e}", path.display())))?;
    let from_file = KEYS
        .iter()
        .filter(|k| table.contains_key(k.name))
        .map(|k| k.name.to_string())
        .collect();
    Ok(Shown {
        path,
        exists: true,
        config,
        from_file,
    })
}

/// What an edit did to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditAction {
    /// The key was written.
    Set,
    /// The key was removed: it is back to its default.
    Unset,
    /// The file already said so; nothing was written.
    Unchanged,
}

/// The result of `config set` and `config unset`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Edited {
    /// Always true: a failed edit is an error.
    pub ok: bool,
    /// The file.
    pub path: PathBuf,
    /// The key edited.
    pub key: String,
    /// Its effective value now (null for an unknown key removed by `unset`).
    pub value: serde_json::Value,
    /// What was done.
    pub action: EditAction,
    /// Every key with its effective value now.
    pub config: GlobalConfig,
}

/// `config set KEY VALUE`: reads VALUE as the key's type, sets it in the file (created when
/// missing) and writes the file only when the whole result is a valid global config.
pub fn set(home: &Path, name: &str, raw: &str) -> Result<Edited> {
    if let Some(rest) = name.strip_prefix("hosts.") {
        return set_host(home, name, rest, raw);
    }
    let key = key(name)?;
    let mut value = parse_value(key, raw)?;
    edit(home, key.name, EditAction::Set, |doc| {
        put(doc, key.name, &mut value);
        Ok(())
    })
}

/// `config unset KEY`: removes the key from the file, so it takes its default; comments
/// above it stay in the file. An unknown key is E104, unless the file has it: removing it
/// is how such a file is fixed.
pub fn unset(home: &Path, name: &str) -> Result<Edited> {
    if let Some(rest) = name.strip_prefix("hosts.") {
        let (host, field) = host_key(name, rest)?;
        return edit(home, name, EditAction::Unset, |doc| {
            unset_host(doc, &host, field);
            Ok(())
        });
    }
    let known = key(name);
    edit(home, name, EditAction::Unset, |doc| {
        if let Err(e) = known
            && !doc.as_table().contains_key(name)
        {
            return Err(e);
        }
        remove(doc, name);
        Ok(())
    })
}

/// Reads the file, applies `change`, validates the whole result and writes it atomically
/// (0600) under the config's lock. A file that is a symlink is written where it points.
fn edit(
    home: &Path,
    name: &str,
    action: EditAction,
    change: impl FnOnce(&mut DocumentMut) -> Result<()>,
) -> Result<Edited> {
    let path = GlobalConfig::path(home);
    let _lock = crate::paths::lock_in(home, global::FILE_NAME)?;
    let old = read_text(&path)?;
    let text = old.as_deref().unwrap_or("");
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        // the same error `show` gives, with the position
        GlobalConfig::parse(text, &path)
            .err()
            .unwrap_or_else(|| Error::from(Kind::InvalidToml(format!("Invalid TOML in {}: {e}", path.display()))))
    })?;
    change(&mut doc)?;
    let new = doc.to_string();
    let config = GlobalConfig::parse(&new, &path).map_err(|e| {
        let hint = e.hint.clone().unwrap_or_default();
        e.hint(
            format!("{hint}; nothing was written")
                .trim_start_matches("; ")
                .to_string(),
        )
    })?;
    let action = if old.as_deref() == Some(new.as_str()) || (old.is_none() && action == EditAction::Unset) {
        EditAction::Unchanged
    } else {
        let target = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        crate::paths::write_atomic(&target, new.as_bytes(), 0o600)?;
        action
    };
    let all =
        serde_json::to_value(&config).map_err(|e| Error::internal(format!("cannot encode the global config: {e}")))?;
    // `hosts.a.taskmux` is looked up a part at a time
    let value = name
        .split('.')
        .try_fold(&all, |v, part| v.get(part))
        .cloned()
        .unwrap_or_default();
    Ok(Edited {
        ok: true,
        path,
        key: name.to_string(),
        value,
        action,
        config,
    })
}

/// `hosts.NAME` (the destination, `hosts.NAME.dest` too) or `hosts.NAME.taskmux`: the host
/// and which of its fields; E104 for anything else.
fn host_key(name: &str, rest: &str) -> Result<(String, HostField)> {
    let (host, field) = match rest.rsplit_once('.') {
        Some((h, "taskmux")) => (h, HostField::Taskmux),
        Some((h, "dest")) => (h, HostField::Dest),
        _ => (rest, HostField::Dest),
    };
    if let Some(why) = global::bad_host_name(host) {
        return Err(Error::invalid(format!("{name}: {host:?} is not a host name: {why}"))
            .hint("for example: taskmux config set hosts.build me@build.example.org"));
    }
    Ok((host.to_string(), field))
}

/// Which field of a host an edit is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostField {
    /// Its ssh destination.
    Dest,
    /// The taskmux program there.
    Taskmux,
}

/// `config set hosts.NAME DEST` (or `hosts.NAME.taskmux PATH`): the host in `[hosts]`,
/// created when missing; a host whose taskmux is named becomes `{ dest, taskmux }`.
fn set_host(home: &Path, name: &str, rest: &str, raw: &str) -> Result<Edited> {
    let (host, field) = host_key(name, rest)?;
    let value = raw.trim();
    let bad = |why: &str, example: &str| {
        Err(Error::invalid(format!("{name} {raw:?}: {why}"))
            .hint(format!("for example: taskmux config set {name} {example}")))
    };
    match field {
        HostField::Dest => {
            if let Some(why) = global::bad_dest(value) {
                return bad(&format!("not an ssh destination: {why}"), "me@build.example.org");
            }
        }
        HostField::Taskmux if value.is_empty() || value.chars().any(char::is_control) => {
            return bad("not a program path", "~/.cargo/bin/taskmux");
        }
        HostField::Taskmux => {}
    }
    edit(home, name, EditAction::Set, |doc| {
        put_host(doc, &host, field, value, name)
    })
}

/// The `[hosts]` table of the document, made when missing.
fn hosts_table(doc: &mut DocumentMut) -> Result<&mut dyn toml_edit::TableLike> {
    let item = doc
        .as_table_mut()
        .entry("hosts")
        .or_insert(Item::Table(toml_edit::Table::new()));
    item.as_table_like_mut()
        .ok_or_else(|| Error::invalid("hosts in config.toml is not a table").hint("make it [hosts], or unset it"))
}

fn put_host(doc: &mut DocumentMut, host: &str, field: HostField, value: &str, name: &str) -> Result<()> {
    let hosts = hosts_table(doc)?;
    let old_dest = hosts.get(host).and_then(|i| match i {
        Item::Value(Value::String(s)) => Some(s.value().clone()),
        other => other.get("dest").and_then(Item::as_str).map(String::from),
    });
    let keeps_table = hosts.get(host).is_some_and(|i| i.is_table_like());
    match (field, keeps_table) {
        (HostField::Dest, false) => {
            let mut v = Value::from(value);
            match hosts.get_mut(host) {
                Some(Item::Value(old)) => {
                    *v.decor_mut() = old.decor().clone();
                    *old = v;
                }
                _ => {
                    hosts.insert(host, Item::Value(v));
                }
            }
        }
        (_, true) => {
            let key = if field == HostField::Dest { "dest" } else { "taskmux" };
            if let Some(t) = hosts.get_mut(host).and_then(Item::as_table_like_mut) {
                t.insert(key, Item::Value(Value::from(value)));
            }
        }
        (HostField::Taskmux, false) => {
            let Some(dest) = old_dest else {
                return Err(
                    Error::invalid(format!("{name}: there is no host '{host}' yet")).hint(format!(
                        "name its ssh destination first: taskmux config set hosts.{host} DEST"
                    )),
                );
            };
            let mut t = toml_edit::InlineTable::new();
            t.insert("dest", Value::from(dest));
            t.insert("taskmux", Value::from(value));
            let mut v = Value::InlineTable(t);
            if let Some(Item::Value(old)) = hosts.get_mut(host) {
                *v.decor_mut() = old.decor().clone();
                *old = v;
            }
        }
    }
    Ok(())
}

/// `config unset hosts.NAME` removes the host; `hosts.NAME.taskmux` leaves it as its
/// destination alone.
fn unset_host(doc: &mut DocumentMut, host: &str, field: HostField) {
    let Some(hosts) = doc.as_table_mut().get_mut("hosts").and_then(Item::as_table_like_mut) else {
        return;
    };
    match field {
        HostField::Dest => {
            hosts.remove(host);
        }
        HostField::Taskmux => {
            let dest = hosts
                .get(host)
                .and_then(|i| i.get("dest"))
                .and_then(Item::as_str)
                .map(String::from);
            if let Some(dest) = dest {
                let mut v = Value::from(dest);
                if let Some(Item::Value(old)) = hosts.get_mut(host) {
                    *v.decor_mut() = old.decor().clone();
                    *old = v;
                } else {
                    hosts.insert(host, Item::Value(v));
                }
            }
        }
    }
}

/// Sets `name` at the top of the document: in place, keeping the comment after the old
/// value, or as a new last key. In a file of comments only, the new key goes after them.
fn put(doc: &mut DocumentMut, name: &str, value: &mut Value) {
    let trailing = doc.trailing().as_str().unwrap_or_default().to_string();
    let root = doc.as_table_mut();
    if let Some(Item::Value(old)) = root.get_mut(name) {
        let decor = old.decor().clone();
        *old = value.clone();
        *old.decor_mut() = decor;
        return;
    }
    value.decor_mut().clear();
    let first = root.is_empty();
    root.insert(name, Item::Value(value.clone()));
    if first && !trailing.is_empty() {
        let mut prefix = trailing;
        if !prefix.ends_with('\n') {
            prefix.push('\n');
        }
        if let Some(mut k) = root.key_mut(name) {
            k.leaf_decor_mut().set_prefix(prefix);
        }
        doc.set_trailing("");
    }
}

/// Removes `name` from the top of the document, moving the comments above it to the key
/// that follows it (or to the end of the file).
fn remove(doc: &mut DocumentMut, name: &str) {
    let root = doc.as_table_mut();
    let names: Vec<String> = root.iter().map(|(k, _)| k.to_string()).collect();
    let Some(i) = names.iter().position(|n| n == name) else {
        return;
    };
    let Some((key, _)) = root.remove_entry(name) else {
        return;
    };
    let comments = key
        .leaf_decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_string();
    if !comments.contains('#') {
        return;
    }
    match names.get(i + 1).and_then(|next| root.key_mut(next)) {
        Some(mut next) => {
            let theirs = next.leaf_decor().prefix().and_then(|p| p.as_str()).unwrap_or_default();
            let prefix = format!("{comments}{theirs}");
            next.leaf_decor_mut().set_prefix(prefix);
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or_default();
            let trailing = format!("{comments}{trailing}");
            doc.set_trailing(trailing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("taskmux-global-edit-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    #[test]
    fn keys_are_the_fields_of_global_config() {
        let v = serde_json::to_value(GlobalConfig::default()).expect("encodes");
        let fields: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(fields, keys);
    }

    #[test]
    fn values_by_type() {
        let v = |name: &str, raw: &str| parse_value(key(name).expect("known"), raw).map(|v| v.to_string());
        assert_eq!(v("api_port", "9000").expect("port"), "9000");
        assert_eq!(v("proxy_http_port", "0").expect("off"), "0");
        assert_eq!(v("health_check_interval", "2.5").expect("seconds"), "2.5");
        assert_eq!(v("proxy_upstream_timeout", "0").expect("no limit"), "0");
        assert_eq!(v("proxy_upstream_timeout", "1.5").expect("seconds"), "1.5");
        assert_eq!(v("proxy_enabled", "false").expect("bool"), "false");
        assert_eq!(v("host_resolver", "noop").expect("resolver"), "\"noop\"");
        assert_eq!(
            v("api_allowed_origins", "a://b, c://d").expect("list"),
            "[\"a://b\", \"c://d\"]"
        );
        assert_eq!(v("api_allowed_origins", "[\"a://b\"]").expect("array"), "[\"a://b\"]");
        assert_eq!(v("api_allowed_origins", "").expect("none"), "[]");
        for (name, raw) in [
            ("api_port", "0"),
            ("api_port", "70000"),
            ("api_port", "abc"),
            ("proxy_http_port", "-1"),
            ("health_check_interval", "0"),
            ("health_check_interval", "NaN"),
            ("proxy_upstream_timeout", "-1"),
            ("proxy_upstream_timeout", "0.05"),
            ("proxy_upstream_timeout", "86401"),
            ("proxy_upstream_timeout", "soon"),
            ("proxy_enabled", "yes"),
            ("host_resolver", "dns"),
            ("api_bind", ""),
            ("dns_managed_tld", "-x"),
            ("api_allowed_origins", "[1]"),
            ("api_allowed_origins", "[\"a b\"]"),
        ] {
            let e = v(name, raw).expect_err(raw);
            assert_eq!(e.code(), "E104", "{name} {raw}: {e:?}");
            assert!(e.message().contains(name), "{}", e.message());
        }
        assert_eq!(key("bogus").expect_err("unknown").code(), "E104");
    }

    #[test]
    fn hosts_are_set_one_at_a_time() {
        let h = home("hosts");
        let path = GlobalConfig::path(&h);
        std::fs::write(&path, "# machines\napi_port = 9000\n").expect("write");
        let r = set(&h, "hosts.build", "me@build").expect("set");
        assert_eq!(
            (r.action, r.value.clone()),
            (EditAction::Set, serde_json::json!("me@build"))
        );
        set(&h, "hosts.build.taskmux", "~/.cargo/bin/taskmux").expect("program");
        let c = GlobalConfig::load(&h).expect("valid");
        assert_eq!(c.hosts["build"].taskmux(), Some("~/.cargo/bin/taskmux"));
        set(&h, "hosts.build", "me@build2").expect("the destination of a full entry");
        assert_eq!(
            GlobalConfig::load(&h).expect("valid").hosts["build"].dest(),
            "me@build2"
        );
        unset(&h, "hosts.build.taskmux").expect("back to a destination");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# machines\napi_port = 9000\n"), "{text}");
        assert!(text.contains("build = \"me@build2\""), "{text}");
        for (k, v) in [
            ("hosts.x", "-oProxyCommand=sh"),
            ("hosts.x", "a b"),
            ("hosts.a b", "x"),
            ("hosts.ghost.taskmux", "/t"),
            ("hosts", "x"),
            ("ssh_command", "ssh 'open"),
        ] {
            let e = set(&h, k, v).expect_err(k);
            assert_eq!(e.code(), "E104", "{k} {v}: {e}");
        }
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text, "nothing written");
        unset(&h, "hosts.build").expect("unset");
        assert!(GlobalConfig::load(&h).expect("valid").hosts.is_empty());
        set(&h, "ssh_command", "ssh -F '/my dir/cfg'").expect("a command");
        let _ = std::fs::remove_dir_all(&h);
    }

    #[test]
    fn set_keeps_comments_and_unset_keeps_them_too() {
        let h = home("edit");
        let path = GlobalConfig::path(&h);
        std::fs::write(
            &path,
            "# mine\napi_port = 9000 # the api\n\n# proxy\nproxy_https_port = 8443\n",
        )
        .expect("write");
        let r = set(&h, "api_port", "9001").expect("set");
        assert_eq!((r.action, r.value.clone()), (EditAction::Set, serde_json::json!(9001)));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "# mine\napi_port = 9001 # the api\n\n# proxy\nproxy_https_port = 8443\n"
        );
        assert_eq!(
            set(&h, "api_port", "9001").expect("again").action,
            EditAction::Unchanged
        );
        set(&h, "proxy_enabled", "false").expect("new key");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .ends_with("proxy_https_port = 8443\nproxy_enabled = false\n")
        );
        unset(&h, "api_port").expect("unset");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "# mine\n\n# proxy\nproxy_https_port = 8443\nproxy_enabled = false\n"
        );
        // a file of comments only: the key goes after them
        std::fs::write(&path, "# only a comment").expect("write");
        set(&h, "api_port", "1234").expect("set");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "# only a comment\napi_port = 1234\n"
        );
        let _ = std::fs::remove_dir_all(&h);
    }
}
