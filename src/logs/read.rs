//! Reading task logs: [`read`] takes each task's files oldest first (only their ends for a
//! bare `-n`), filters them and interleaves the tasks by time.

use super::files::{Opened, for_each_line, open_set, tail_file};
use super::filter::Collector;
use super::merge::{Entry, backfill, merge};
use super::types::{Line, Query, Source, make_line, parse_ts};
use crate::error::Result;
use std::collections::VecDeque;

/// One task's lines for a query; `newest_first` is the base file then `.1`, `.2`, ….
pub(super) fn collect_source(task: &str, newest_first: &[&Opened], q: &Query) -> Result<VecDeque<Entry>> {
    let mut out = match (q.tail, &q.grep, q.since) {
        (Some(n), None, None) => {
            // Fast path: read backwards, only as far as needed.
            let mut chunks = Vec::new();
            let mut have = 0;
            for o in newest_first {
                if have >= n {
                    break;
                }
                let lines = tail_file(o, n - have)?;
                have += lines.len();
                chunks.push(lines);
            }
            let mut last = f64::NEG_INFINITY;
            chunks
                .iter()
                .rev()
                .flatten()
                .map(|b| {
                    let line = make_line(task, b);
                    if line.ts.is_finite() {
                        last = line.ts;
                    }
                    Entry { eff: last, line }
                })
                .collect()
        }
        _ => {
            let mut col = Collector::new(task, q);
            for o in newest_first.iter().rev() {
                if let Some(since) = q.since {
                    // A file whose last line is older than `since` holds nothing to show.
                    if let Some(ts) = tail_file(o, 1)?.first().and_then(|l| parse_ts(l))
                        && ts < since
                    {
                        col.last_ts = ts;
                        continue;
                    }
                }
                for_each_line(o, &mut |l| col.push(l))?;
            }
            col.out
        }
    };
    backfill(&mut out);
    Ok(out)
}

/// Reads the logs of `sources` (rotated files too, oldest first), filtered by `q`; several
/// sources interleave by timestamp. With only `tail` set, files are read from the end.
pub fn read(sources: &[Source], q: &Query) -> Result<Vec<Line>> {
    let mut per = Vec::with_capacity(sources.len());
    for s in sources {
        let (base, rot) = open_set(&s.path)?;
        let files: Vec<&Opened> = base.iter().chain(rot.iter()).collect();
        per.push(collect_source(&s.task, &files, q)?);
    }
    Ok(merge(per, q.tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::files::{BLOCK, BYTES_READ};
    use crate::logs::testutil::*;
    use std::fs::{self, File};
    use std::io::{self, Write};
    use std::time::{Duration, Instant};

    #[test]
    fn parse_ts_prefix() {
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.123 hello"), Some(T0 + 0.123));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.000 "), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.000"), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00 x"), Some(T0));
        assert_eq!(parse_ts(b"2024-01-01T14:00:00.123x"), None);
        assert_eq!(parse_ts(b"hello"), None);
        assert_eq!(parse_ts(b""), None);
        assert_eq!(parse_ts(b"2024-01-01 14:00:00.123 x"), None);
        assert_eq!(parse_ts(b"2024-13-01T14:00:00.123 x"), None);
        assert_eq!(parse_ts(b"\xff\xfe-01-01T14:00:00.123 x"), None);
    }

    #[test]
    fn read_rotation_order_and_tail() {
        let d = TempDir::new("rot");
        let base = rotated_set(&d);
        // A stray file that is not a rotation.
        write(&d.path("api.log.old"), "nope\n");
        let s = [src("api", base.clone())];
        let all = read(&s, &Query::default()).unwrap();
        assert_eq!(texts(&all), numbered(0..9));
        assert!(all.iter().all(|l| l.task == "api"));
        assert_eq!(all[0].ts, T0);
        for (n, want) in [(0, 9..9), (2, 7..9), (3, 6..9), (4, 5..9), (7, 2..9), (100, 0..9)] {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            assert_eq!(texts(&read(&s, &q).unwrap()), numbered(want), "tail {n}");
        }
        // Missing files are skipped.
        fs::remove_file(&base).unwrap();
        assert_eq!(texts(&read(&s, &Query::default()).unwrap()), numbered(0..6));
        fs::remove_file(d.path("api.log.1")).unwrap();
        let q = Query {
            tail: Some(2),
            ..Query::default()
        };
        assert_eq!(texts(&read(&s, &q).unwrap()), numbered(1..3));
        let none = [src("x", d.path("nothing.log")), src("y", d.path("no/such/dir.log"))];
        assert!(read(&none, &Query::default()).unwrap().is_empty());
    }

    #[test]
    fn read_keeps_partial_last_line_and_bad_bytes() {
        let d = TempDir::new("partial");
        let base = d.path("w.log");
        let mut text = lines_text("a", [(T0, 0)]).into_bytes();
        text.extend_from_slice(b"2024-01-01T14:00:01.000 bad \xff\xfe bytes \x1b[31mred\x1b[0m\n");
        text.extend_from_slice(b"no timestamp here\n");
        text.extend_from_slice(b"2024-01-01T14:00:02.000 unfinished");
        fs::write(&base, &text).unwrap();
        let s = [src("w", base)];
        let all = read(&s, &Query::default()).unwrap();
        assert_eq!(all.len(), 4);
        assert!(all[1].raw.contains("bad \u{fffd}\u{fffd} bytes \x1b[31mred"));
        assert!(all[2].ts.is_nan());
        assert_eq!(all[2].raw, "no timestamp here");
        assert_eq!(all[3].raw, "2024-01-01T14:00:02.000 unfinished");
        for n in 1..=4 {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            let got = read(&s, &q).unwrap();
            let want: Vec<&str> = all[4 - n..].iter().map(|l| l.raw.as_str()).collect();
            assert_eq!(got.iter().map(|l| l.raw.as_str()).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn tail_of_a_big_file_reads_only_its_end() {
        let d = TempDir::new("big");
        let base = d.path("big.log");
        {
            let mut w = io::BufWriter::new(File::create(&base).unwrap());
            for i in 0..130_000usize {
                writeln!(w, "{} line {i:08} {}", stamp(T0 + i as f64 / 1000.0), "x".repeat(50)).unwrap();
            }
            w.flush().unwrap();
        }
        let size = fs::metadata(&base).unwrap().len();
        assert!(size > 10_000_000);
        let s = [src("big", base)];
        let q = Query {
            tail: Some(100),
            ..Query::default()
        };
        BYTES_READ.with(|c| c.set(0));
        let started = Instant::now();
        let got = read(&s, &q).unwrap();
        let took = started.elapsed();
        assert_eq!(got.len(), 100);
        for (k, l) in got.iter().enumerate() {
            assert!(l.raw.contains(&format!("line {:08} ", 129_900 + k)), "{}", l.raw);
        }
        let bytes = BYTES_READ.with(|c| c.get());
        assert!(bytes <= 2 * BLOCK as u64, "read {bytes} bytes of {size}");
        assert!(took < Duration::from_millis(200), "{took:?}");
    }
}
