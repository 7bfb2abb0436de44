//! `alias_add`, `alias_remove`, `alias_list`: URLs for servers taskmux does not run, kept in
//! `aliases.json` ([`crate::aliases`]) and served by the running daemon at once.

use super::Ctx;
use crate::aliases::{self, Alias, Aliases};
use crate::config::GlobalConfig;
use crate::error::{Error, Result};
use crate::registry::Registry;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Params of `alias_add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// The name: `https://NAME.localhost`.
    pub name: String,
    /// `PORT` or a loopback `HOST:PORT`.
    pub target: String,
}

/// Params of `alias_remove`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// The name.
    pub name: String,
}

/// One alias as the requests give it: `{"alias": "db", "target": "127.0.0.1:5432", "url":
/// "https://db.localhost"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasInfo {
    /// Its name.
    pub alias: String,
    /// Where it leads.
    pub target: SocketAddr,
    /// Its URL.
    pub url: String,
}

/// What `alias_add` and `alias_remove` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasDone {
    /// Always true.
    pub ok: bool,
    /// `added`, `unchanged` or `removed`.
    pub action: String,
    /// The alias.
    #[serde(flatten)]
    pub alias: AliasInfo,
}

/// `alias_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasList {
    /// Every alias, by name.
    pub aliases: Vec<AliasInfo>,
}

fn info(global: &GlobalConfig, name: &str, a: &Alias) -> AliasInfo {
    AliasInfo {
        alias: name.to_string(),
        target: a.target,
        url: global.alias_url(name),
    }
}

/// `alias_add`: E104 for a name a registered project or another alias already uses.
pub fn add(ctx: &Ctx, p: AddParams) -> Result<AliasDone> {
    aliases::check_name(&p.name)?;
    let target = aliases::parse_target(&p.target)?;
    let global = GlobalConfig::load(&ctx.home)?;
    if Registry::load(&ctx.home)?.get(&p.name).is_some() {
        return Err(Error::invalid(format!(
            "alias name '{}' is the name of a registered project: https://{}.{} is its URL",
            p.name, p.name, global.dns_managed_tld
        ))
        .hint("choose another name"));
    }
    let name = p.name.clone();
    let action = Aliases::update(&ctx.home, |all| match all.aliases.get(&name) {
        Some(a) if a.target == target => Ok("unchanged"),
        Some(a) => Err(Error::invalid(format!("alias '{name}' already leads to {}", a.target))
            .hint(format!("remove it first: taskmux alias remove {name}"))),
        None => {
            all.aliases.insert(
                name.clone(),
                Alias {
                    target,
                    added_at: crate::paths::iso_time(crate::paths::now_secs()),
                },
            );
            Ok("added")
        }
    })?;
    let a = Aliases::load(&ctx.home)?;
    let alias = a
        .aliases
        .get(&name)
        .map(|x| info(&global, &name, x))
        .ok_or_else(|| Error::internal(format!("alias '{name}' was added and is not there")))?;
    Ok(AliasDone {
        ok: true,
        action: action.into(),
        alias,
    })
}

/// `alias_remove`: E104 for a name that is no alias.
pub fn remove(ctx: &Ctx, p: RemoveParams) -> Result<AliasDone> {
    let global = GlobalConfig::load(&ctx.home)?;
    let gone = Aliases::update(&ctx.home, |all| {
        all.aliases.remove(&p.name).ok_or_else(|| {
            Error::invalid(format!("there is no alias '{}'", p.name)).hint("list them: taskmux alias list")
        })
    })?;
    Ok(AliasDone {
        ok: true,
        action: "removed".into(),
        alias: info(&global, &p.name, &gone),
    })
}

/// `alias_list`.
pub fn list(ctx: &Ctx) -> Result<AliasList> {
    let global = GlobalConfig::load(&ctx.home).unwrap_or_default();
    Ok(AliasList {
        aliases: Aliases::load(&ctx.home)?
            .aliases
            .iter()
            .map(|(n, a)| info(&global, n, a))
            .collect(),
    })
}
