//! What a query keeps: `--since` values (durations or ISO times), the visible text `-g`
//! matches (after the timestamp, escape codes removed), and the collector that applies
//! `--since`, `-g` with `-C` context and `-n` to one task's lines in file order.

use super::merge::Entry;
use super::types::{Query, make_line, parse_ts};
use crate::error::{Error, Kind, Result};
use crate::time;
use regex::Regex;
use std::borrow::Cow;
use std::collections::VecDeque;

const SINCE_FORMS: &str = "a duration such as 30s, 5m, 1h30m or 2d (units s, m, h, d, w), or an ISO time such as \
2024-01-01T14:00, 2024-01-01T14:00:00, 2024-01-01 14:00:00 or 2024-01-01 (UTC unless it ends in Z or +HH:MM)";

/// Parses a `--since` value: a duration back from `now` (`30s`, `5m`, `1h30m`, `1h 30m`, `2d`)
/// or an ISO time (zone-less means UTC). A bad value is E500 naming it and the accepted forms.
pub fn parse_since(s: &str, now: f64) -> Result<f64> {
    let t = s.trim();
    if let Some(d) = parse_duration(t) {
        return Ok(now - d);
    }
    if let Some(ts) = time::parse_iso(t) {
        return Ok(ts);
    }
    Err(Error::from(Kind::Usage(format!(
        "invalid --since value '{s}': expected {SINCE_FORMS}"
    )))
    .hint("try --since 10m or --since 2024-01-01T14:00"))
}

/// A sum of `<number><unit>` terms, spaces allowed between them.
fn parse_duration(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    let mut terms = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = s.get(start..i)?.parse().ok()?;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = s.get(ustart..i)?.to_ascii_lowercase();
        let mult = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            _ => return None,
        };
        total += num * mult;
        terms += 1;
    }
    (terms > 0 && total.is_finite()).then_some(total)
}

fn is_dropped_control(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c)
}

/// Removes terminal escape sequences: CSI (`ESC [` … final byte), OSC/DCS/APC/PM/SOS strings
/// (ended by BEL or `ESC \`), other ESC sequences, and every other control character but TAB.
pub fn strip_ansi(s: &str) -> String {
    if !s.chars().any(is_dropped_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        let kind = match c {
            '\x1b' => match it.next() {
                Some('[') => '[',
                Some(']' | 'P' | 'X' | '^' | '_') => ']',
                Some(' '..='/') => {
                    // nF: intermediates, then one final byte.
                    while it.next_if(|d| (' '..='/').contains(d)).is_some() {}
                    it.next_if(|d| ('0'..='~').contains(d));
                    continue;
                }
                _ => continue,
            },
            '\u{9b}' => '[',
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => ']',
            c if is_dropped_control(c) => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        if kind == '[' {
            while it.next_if(|d| (' '..='?').contains(d)).is_some() {}
            it.next_if(|d| ('@'..='~').contains(d));
        } else {
            while let Some(d) = it.next() {
                match d {
                    '\x07' | '\u{9c}' => break,
                    '\x1b' => {
                        it.next_if_eq(&'\\');
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The text a person sees: after the timestamp, escape codes removed.
fn visible(raw: &str) -> Cow<'_, str> {
    let text = match time::parse_log_stamp(raw.as_bytes()) {
        Some((_, off)) => raw.get(off..).unwrap_or(raw),
        None => raw,
    };
    if text.chars().any(is_dropped_control) {
        Cow::Owned(strip_ansi(text))
    } else {
        Cow::Borrowed(text)
    }
}

pub(super) fn grep_matches(re: &Regex, bytes: &[u8]) -> bool {
    re.is_match(&visible(&String::from_utf8_lossy(bytes)))
}

/// Applies `since`, `grep` with context and `tail` to one task's lines, in file order.
pub(super) struct Collector<'a> {
    task: &'a str,
    q: &'a Query,
    /// The time of the last stamped line seen.
    pub(super) last_ts: f64,
    before: VecDeque<Entry>,
    after: usize,
    /// The lines kept, in file order.
    pub(super) out: VecDeque<Entry>,
}

impl<'a> Collector<'a> {
    pub(super) fn new(task: &'a str, q: &'a Query) -> Self {
        Collector {
            task,
            q,
            last_ts: f64::NEG_INFINITY,
            before: VecDeque::new(),
            after: 0,
            out: VecDeque::new(),
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        let ts = parse_ts(bytes);
        let eff = match ts {
            Some(t) => {
                self.last_ts = t;
                t
            }
            None => self.last_ts,
        };
        if let Some(since) = self.q.since
            && eff < since
        {
            return;
        }
        let Some(re) = &self.q.grep else {
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
            return;
        };
        if grep_matches(re, bytes) {
            while let Some(e) = self.before.pop_front() {
                self.keep(e);
            }
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
            self.after = self.q.context;
        } else if self.after > 0 {
            self.after -= 1;
            self.keep(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
        } else if self.q.context > 0 {
            if self.before.len() == self.q.context {
                self.before.pop_front();
            }
            self.before.push_back(Entry {
                eff,
                line: make_line(self.task, bytes),
            });
        }
    }

    fn keep(&mut self, e: Entry) {
        self.out.push_back(e);
        if let Some(n) = self.q.tail
            && self.out.len() > n
        {
            self.out.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::files::{BLOCK, BYTES_READ};
    use crate::logs::read::read;
    use crate::logs::testutil::*;
    use crate::logs::types::Line;
    use std::fs;
    use std::path::PathBuf;

    #[test]
    fn parse_since_durations() {
        let now = 10_000_000.0;
        assert_eq!(parse_since("30s", now).unwrap(), now - 30.0);
        assert_eq!(parse_since("5m", now).unwrap(), now - 300.0);
        assert_eq!(parse_since("1h30m", now).unwrap(), now - 5400.0);
        assert_eq!(parse_since("1h 30m", now).unwrap(), now - 5400.0);
        assert_eq!(parse_since("2d", now).unwrap(), now - 172_800.0);
        assert_eq!(parse_since("1d2h3m4s", now).unwrap(), now - 93_784.0);
        assert_eq!(parse_since(" 10 min ", now).unwrap(), now - 600.0);
    }

    #[test]
    fn parse_since_iso() {
        let now = 0.0;
        assert_eq!(parse_since("2024-01-01T14:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01 14:00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01", now).unwrap(), T0 - 14.0 * 3600.0);
        assert_eq!(parse_since("2024-01-01T14:00:00Z", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00+00:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T15:00:00+01:00", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T13:30:00-00:30", now).unwrap(), T0);
        assert_eq!(parse_since("2024-01-01T14:00:00.5", now).unwrap(), T0 + 0.5);
        assert_eq!(parse_since("2024-01-01T14:00:00.250000+00:00", now).unwrap(), T0 + 0.25);
        assert_eq!(
            parse_since("2024-02-29", now).unwrap(),
            T0 - 14.0 * 3600.0 + 59.0 * 86_400.0
        );
    }

    #[test]
    fn parse_since_errors() {
        for bad in [
            "",
            "abc",
            "5x",
            "30",
            "m5",
            "1h30",
            "2024-13-01",
            "2023-02-29",
            "2024-01-01T25:00",
            "2024-01-01T14",
            "2024-01-01T14:00:00+",
            "yesterday",
        ] {
            let e = parse_since(bad, 0.0).unwrap_err();
            assert_eq!(e.code(), "E500", "{bad}");
            assert!(e.message().contains(&format!("'{bad}'")), "{}", e.message());
            for form in ["30s", "5m", "1h30m", "2d", "2024-01-01T14:00"] {
                assert!(e.message().contains(form), "{}", e.message());
            }
        }
    }

    #[test]
    fn strip_ansi_sequences() {
        assert_eq!(strip_ansi("plain text"), "plain text");
        assert_eq!(strip_ansi("\x1b[31mERROR\x1b[0m boom"), "ERROR boom");
        assert_eq!(strip_ansi("\x1b[1;38;5;208mx\x1b[m"), "x");
        assert_eq!(strip_ansi("\x1b[2K\x1b[1Gprogress 50%"), "progress 50%");
        assert_eq!(strip_ansi("\x1b[?25lhidden\x1b[?25h"), "hidden");
        assert_eq!(strip_ansi("\x1b]0;my title\x07after"), "after");
        assert_eq!(strip_ansi("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(strip_ansi("\x1b(Bascii\x1b=\x1b>"), "ascii");
        assert_eq!(strip_ansi("a\tb\rc\x00d\x07e\x7f"), "a\tbcde");
        assert_eq!(strip_ansi("\u{9b}31mred"), "red");
        assert_eq!(strip_ansi("ünï\x1b[0mcödé ✓"), "ünïcödé ✓");
        assert_eq!(strip_ansi("trailing\x1b"), "trailing");
        assert_eq!(strip_ansi("trailing\x1b["), "trailing");
    }

    #[test]
    fn grep_with_context_across_files() {
        let d = TempDir::new("grep");
        let base = d.path("g.log");
        let mk = |i: usize| {
            let t = format!("{} ", stamp(T0 + i as f64));
            match i {
                5 | 7 => format!("{t}\x1b[31mERROR\x1b[0m boom {i}\n"),
                15 => format!("{t}Error: boom {i}\n"),
                _ => format!("{t}ok {i}\n"),
            }
        };
        // 0-9 rotated, 10-19 current: context crosses the file boundary around 10? (no match
        // there), and the match at 15 has context 14 and 16.
        write(&d.path("g.log.1"), &(0..10).map(mk).collect::<String>());
        write(&base, &(10..20).map(mk).collect::<String>());
        let s = [src("g", base)];
        let nums = |lines: Vec<Line>| -> Vec<usize> {
            lines
                .iter()
                .map(|l| l.raw.rsplit(' ').next().unwrap().parse().unwrap())
                .collect()
        };
        let q = Query {
            grep: re("error boom"),
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), vec![5, 7]);
        let q = Query {
            grep: re("error:? boom"),
            context: 1,
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), vec![4, 5, 6, 7, 8, 14, 15, 16]);
        let q = Query {
            grep: re("boom 7|ok 11"),
            context: 3,
            ..Query::default()
        };
        assert_eq!(nums(read(&s, &q).unwrap()), (4..15).collect::<Vec<_>>());
        // The timestamp is not searched; escape codes are kept in the output.
        let q = Query {
            grep: re("2024|31m"),
            ..Query::default()
        };
        assert!(read(&s, &q).unwrap().is_empty());
        let q = Query {
            grep: re("boom"),
            context: 2,
            tail: Some(3),
            ..Query::default()
        };
        let got = read(&s, &q).unwrap();
        assert_eq!(nums(got), vec![15, 16, 17]);
        let q = Query {
            grep: re("boom 5"),
            ..Query::default()
        };
        assert!(read(&s, &q).unwrap()[0].raw.contains("\x1b[31mERROR"));
    }

    #[test]
    fn since_filters_and_skips_old_files() {
        let d = TempDir::new("since");
        let base = rotated_set(&d);
        let s = [src("api", base)];
        let q = |since: f64, tail: Option<usize>| Query {
            since: Some(since),
            tail,
            ..Query::default()
        };
        assert_eq!(texts(&read(&s, &q(T0 + 4.0, None)).unwrap()), numbered(4..9));
        assert_eq!(texts(&read(&s, &q(T0 + 3.5, None)).unwrap()), numbered(4..9));
        assert_eq!(texts(&read(&s, &q(T0 + 4.0, Some(2))).unwrap()), numbered(7..9));
        assert_eq!(texts(&read(&s, &q(T0 - 1.0, None)).unwrap()), numbered(0..9));
        assert!(read(&s, &q(T0 + 100.0, None)).unwrap().is_empty());
        // An old rotated file is not read line by line: only its last block.
        let big = d.path("big.log");
        write(
            &PathBuf::from(format!("{}.1", big.display())),
            &lines_text("old", (0..20_000).map(|i| (T0 + i as f64 / 1000.0, i))),
        );
        write(&big, &lines_text("new", [(T0 + 100.0, 0)]));
        let old_len = fs::metadata(format!("{}.1", big.display())).unwrap().len();
        BYTES_READ.with(|c| c.set(0));
        let got = read(&[src("big", big)], &q(T0 + 50.0, None)).unwrap();
        assert_eq!(texts(&got), ["new0"]);
        let bytes = BYTES_READ.with(|c| c.get());
        assert!(bytes <= BLOCK as u64 + 1000 && bytes < old_len, "{bytes} of {old_len}");
    }
}
