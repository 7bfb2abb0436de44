//! Domain names as taskmux checks them: dot-separated labels of 1 to 63 characters, not
//! starting or ending with `-`, at most 253 in all. The one check behind the DNS zone, the
//! global config's TLD, certificate names and a task's `host`.

/// Which characters a label may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chars {
    /// `a-z`, `0-9` and `-`: names taskmux writes (a TLD, a task's host).
    Lower,
    /// Also `A-Z` and `_`: names as a resolver may be asked them.
    Host,
}

impl Chars {
    fn allows(self, b: u8) -> bool {
        match self {
            Chars::Lower => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
            Chars::Host => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
        }
    }
}

/// One label: 1 to 63 characters of `chars`, not starting or ending with `-`.
pub fn is_label(l: &str, chars: Chars) -> bool {
    !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| chars.allows(b))
}

/// A domain: at most 253 characters of dot-separated [`is_label`] labels.
pub fn is_domain(d: &str, chars: Chars) -> bool {
    d.len() <= 253 && d.split('.').all(|l| is_label(l, chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_label("a", Chars::Lower));
        assert!(is_label("a-1", Chars::Lower));
        assert!(is_label(&"a".repeat(63), Chars::Lower));
        assert!(!is_label(&"a".repeat(64), Chars::Lower));
        assert!(!is_label("", Chars::Lower));
        assert!(!is_label("-a", Chars::Lower));
        assert!(!is_label("a-", Chars::Lower));
        assert!(!is_label("A", Chars::Lower));
        assert!(!is_label("a_b", Chars::Lower));
        assert!(is_label("A_b", Chars::Host));
        assert!(!is_label("a.b", Chars::Host));
        assert!(!is_label("é", Chars::Host));
    }

    #[test]
    fn domains() {
        assert!(is_domain("localhost", Chars::Lower));
        assert!(is_domain("dev.test", Chars::Lower));
        assert!(!is_domain("dev..test", Chars::Lower));
        assert!(!is_domain(".test", Chars::Lower));
        assert!(!is_domain("test.", Chars::Lower));
        assert!(!is_domain("", Chars::Lower));
        assert!(!is_domain("Dev.test", Chars::Lower));
        assert!(is_domain("_x.Dev.test", Chars::Host));
        let long = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        assert_eq!(long.len(), 253);
        assert!(is_domain(&long, Chars::Lower));
        assert!(!is_domain(&format!("{long}e"), Chars::Lower));
    }
}
