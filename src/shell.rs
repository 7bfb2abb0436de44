//! Words for a POSIX shell: the one quoter behind every command line taskmux writes for a
//! shell to read (tmux's `pipe-pane`, `sudo` hints, `ssh` remote commands, `add`'s words).

/// A word the shell reads back as itself: bare when it is plain, else in single quotes
/// (a `'` inside written as `'\''`).
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Words joined into one shell command, each quoted by [`quote`].
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(quote("/usr/bin/x-1.2_a+b=c:d@e,f%"), "/usr/bin/x-1.2_a+b=c:d@e,f%");
    }

    #[test]
    fn the_rest_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("~/x"), "'~/x'");
        assert_eq!(quote("#1"), "'#1'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("é"), "'é'");
    }

    #[test]
    fn join_quotes_each_word() {
        assert_eq!(join(&["echo", "it's a b", ""]), "echo 'it'\\''s a b' ''");
    }
}
