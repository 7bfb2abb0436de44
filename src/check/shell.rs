//! Enough of the shell's grammar to find the program a task's command runs first: a rough
//! tokenizer (words, quotes, operators) and the prefixes and builtins to skip.

/// Shell builtins and keywords: never looked up on PATH, so never linted.
const BUILTINS: &[&str] = &[
    ":", ".", "[", "[[", "]]", "!", "{", "}", "alias", "bg", "break", "builtin", "case", "cd", "continue", "declare",
    "do", "done", "echo", "elif", "else", "esac", "eval", "exit", "export", "false", "fc", "fg", "fi", "for",
    "function", "getopts", "hash", "if", "in", "jobs", "kill", "let", "local", "printf", "pwd", "read", "readonly",
    "return", "select", "set", "shift", "source", "test", "then", "time", "times", "trap", "true", "type", "typeset",
    "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

/// A shell token, roughly: a word (quotes removed; `dynamic` when it holds an unquoted or
/// double-quoted `$` or a backquote) or an operator.
#[derive(Debug, PartialEq)]
enum Token {
    Word { text: String, dynamic: bool },
    Op(String),
}

fn tokenize(cmd: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = cmd.chars().peekable();
    let mut cur = String::new();
    let mut dynamic = false;
    let mut in_word = false;
    let flush = |out: &mut Vec<Token>, cur: &mut String, dynamic: &mut bool, in_word: &mut bool| {
        if *in_word {
            out.push(Token::Word {
                text: std::mem::take(cur),
                dynamic: *dynamic,
            });
        }
        *dynamic = false;
        *in_word = false;
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut out, &mut cur, &mut dynamic, &mut in_word),
            '#' if !in_word => break,
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                flush(&mut out, &mut cur, &mut dynamic, &mut in_word);
                let mut op = c.to_string();
                while let Some(&n) = chars.peek() {
                    if matches!(n, '&' | '|' | '>' | '<') && !matches!(c, '(' | ')' | ';') {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Op(op));
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        '$' | '`' => {
                            dynamic = true;
                            cur.push(q);
                        }
                        _ => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '$' | '`' => {
                in_word = true;
                dynamic = true;
                cur.push(c);
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    flush(&mut out, &mut cur, &mut dynamic, &mut in_word);
    out
}

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The program a shell command runs first, when it can be known without running anything:
/// `VAR=x`, `exec`, `env`, `command`, `nohup` and leading redirections are skipped; builtins,
/// keywords, subshells and words built from variables give none.
pub fn first_program(cmd: &str) -> Option<String> {
    let tokens = tokenize(cmd);
    let mut it = tokens.iter().peekable();
    // a wrapper that runs the next word: exec, env, command, nohup
    let mut wrapper: Option<&str> = None;
    while let Some(t) = it.next() {
        let (text, dynamic) = match t {
            Token::Op(op) if op.contains('<') || op.contains('>') => {
                it.next(); // the redirection's target
                continue;
            }
            Token::Op(_) => return None,
            Token::Word { text, dynamic } => (text.as_str(), *dynamic),
        };
        // `2>file`: a file descriptor number glued to the redirection that follows
        if text.chars().all(|c| c.is_ascii_digit())
            && matches!(it.peek(), Some(Token::Op(op)) if op.starts_with(['<', '>']))
        {
            continue;
        }
        if is_assignment(text) && wrapper.is_none_or(|w| w == "env") {
            continue;
        }
        if dynamic || text.is_empty() {
            return None;
        }
        if let Some(w) = wrapper
            && text.starts_with('-')
        {
            match (w, text) {
                ("command", "-v" | "-V") => return None,
                ("env", "-u" | "-C" | "-S") | ("exec", "-a") => {
                    it.next();
                }
                _ => {}
            }
            continue;
        }
        match text {
            "exec" | "env" | "command" | "nohup" => {
                wrapper = Some(text);
                continue;
            }
            _ if BUILTINS.contains(&text) => return None,
            _ => return Some(text.to_string()),
        }
    }
    None
}
