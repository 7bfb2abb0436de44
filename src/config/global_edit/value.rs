//! Reading a `config set` VALUE as its key's type: the range checks, and the error and
//! example when it is not one.

use super::{Key, ValueType};
use crate::config::global;
use crate::error::{Error, Result};
use toml_edit::{Array, Value};

/// E104 for a VALUE that is not of the key's type.
fn bad_value(key: Key, raw: &str) -> Error {
    Error::invalid(format!("{} must be {}, not {raw:?}", key.name, key.ty.expected()))
        .hint(format!(
            "for example: taskmux config set {} {}",
            key.name,
            example(key.ty)
        ))
        .details(serde_json::json!({"key": key.name, "value": raw, "expected": key.ty.expected()}))
}

/// A value of the type, for hints.
fn example(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Seconds => "30",
        ValueType::SecondsOrNone => "120",
        ValueType::Port => "8443",
        ValueType::PortOrOff => "8080",
        ValueType::Bool => "false",
        ValueType::Address => "127.0.0.1",
        ValueType::Domain => "localhost",
        ValueType::Origins => "http://localhost:3000,http://localhost:5173",
        ValueType::Resolver => "dns_server",
        ValueType::Command => "'ssh -F ~/.ssh/work_config'",
        ValueType::Hosts => "",
    }
}

/// Reads a `config set` VALUE as the key's type, checking its range.
pub fn parse_value(key: Key, raw: &str) -> Result<Value> {
    let s = raw.trim();
    let bad = || bad_value(key, raw);
    let port = |min: i64| -> Result<Value> {
        match s.parse::<i64>() {
            Ok(n) if (min..=65535).contains(&n) => Ok(Value::from(n)),
            _ => Err(bad()),
        }
    };
    match key.ty {
        ValueType::Seconds => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(n), _) if (1..=86_400).contains(&n) => Ok(Value::from(n)),
            (_, Ok(x)) if x.is_finite() && (0.1..=86_400.0).contains(&x) => Ok(Value::from(x)),
            _ => Err(bad()),
        },
        ValueType::SecondsOrNone => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(n), _) if (0..=86_400).contains(&n) => Ok(Value::from(n)),
            (_, Ok(x)) if x.is_finite() && (x == 0.0 || (0.1..=86_400.0).contains(&x)) => Ok(Value::from(x)),
            _ => Err(bad()),
        },
        ValueType::Port => port(1),
        ValueType::PortOrOff => port(0),
        ValueType::Bool => match s {
            "true" => Ok(Value::from(true)),
            "false" => Ok(Value::from(false)),
            _ => Err(bad()),
        },
        ValueType::Address if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Ok(Value::from(s))
        }
        ValueType::Domain if crate::domain::is_domain(s, crate::domain::Chars::Lower) => Ok(Value::from(s)),
        ValueType::Resolver if matches!(s, "etc_hosts" | "dns_server" | "noop") => Ok(Value::from(s)),
        ValueType::Origins => origins(s).ok_or_else(bad),
        ValueType::Command if global::ssh_words(s).is_some() => Ok(Value::from(s)),
        ValueType::Hosts => Err(Error::invalid(format!("hosts is a table, not {raw:?}"))
            .hint("set one host at a time: taskmux config set hosts.NAME DEST (an ssh destination)")),
        ValueType::Address | ValueType::Domain | ValueType::Resolver | ValueType::Command => Err(bad()),
    }
}

/// A list of origins: a TOML array of strings, or strings separated by commas.
fn origins(s: &str) -> Option<Value> {
    let list: Vec<String> = if s.starts_with('[') {
        match s.parse::<Value>().ok()? {
            Value::Array(a) => a.iter().map(|v| v.as_str().map(String::from)).collect::<Option<_>>()?,
            _ => return None,
        }
    } else {
        s.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect()
    };
    let ok = |o: &String| !o.is_empty() && !o.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',');
    list.iter()
        .all(ok)
        .then(|| Value::Array(list.into_iter().collect::<Array>()))
}
