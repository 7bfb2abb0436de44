//! Interleaving several tasks' lines by time: each line's effective time (its own stamp, or
//! the last one before it in its file) and a stable k-way merge, then the overall `-n`.

use super::types::Line;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// A line with the time used to order it: its own, or the last one seen before it in its file.
pub(super) struct Entry {
    /// The time the line sorts by.
    pub(super) eff: f64,
    /// The line itself.
    pub(super) line: Line,
}

/// Leading lines with no known time take the first time that follows them.
pub(super) fn backfill(entries: &mut VecDeque<Entry>) {
    if let Some(first) = entries.iter().map(|e| e.eff).find(|t| t.is_finite()) {
        for e in entries.iter_mut().take_while(|e| !e.eff.is_finite()) {
            e.eff = first;
        }
    }
}

/// The next line of one source in the merge heap: its time, then the source's position.
#[derive(PartialEq)]
struct Head {
    eff: f64,
    src: usize,
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.eff.total_cmp(&other.eff).then(self.src.cmp(&other.src))
    }
}

/// Stable k-way merge by time (ties: source order; each source keeps its own order), then tail.
pub(super) fn merge(mut per: Vec<VecDeque<Entry>>, tail: Option<usize>) -> Vec<Line> {
    let total: usize = per.iter().map(VecDeque::len).sum();
    let mut out = Vec::with_capacity(total);
    if per.len() == 1 {
        out.extend(per.iter_mut().flat_map(|d| d.drain(..)).map(|e| e.line));
    } else {
        let mut heap: BinaryHeap<Reverse<Head>> = per
            .iter()
            .enumerate()
            .filter_map(|(src, d)| d.front().map(|e| Reverse(Head { eff: e.eff, src })))
            .collect();
        while let Some(Reverse(Head { src, .. })) = heap.pop() {
            if let Some(e) = per[src].pop_front() {
                out.push(e.line);
            }
            if let Some(e) = per[src].front() {
                heap.push(Reverse(Head { eff: e.eff, src }));
            }
        }
    }
    if let Some(n) = tail
        && out.len() > n
    {
        out.drain(..out.len() - n);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::logs::read::read;
    use crate::logs::testutil::*;
    use crate::logs::types::Query;

    #[test]
    fn interleaves_tasks_by_time() {
        let d = TempDir::new("merge");
        let a = d.path("a.log");
        let b = d.path("b.log");
        // a: 0 2 4 4 (+ an unstamped line after 2); b: 1 3 4 5.
        let mut at = lines_text("a", [(T0, 0), (T0 + 2.0, 2)]);
        at.push_str("a-unstamped\n");
        at.push_str(&lines_text("a", [(T0 + 4.0, 4), (T0 + 4.0, 44)]));
        write(&a, &at);
        write(
            &b,
            &lines_text("b", [(T0 + 1.0, 1), (T0 + 3.0, 3), (T0 + 4.0, 4), (T0 + 5.0, 5)]),
        );
        let s = [src("a", a), src("b", b)];
        let got = read(&s, &Query::default()).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|l| l.raw.rsplit(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a0", "b1", "a2", "a-unstamped", "b3", "a4", "a44", "b4", "b5"]);
        let tasks: Vec<&str> = got.iter().map(|l| l.task.as_str()).collect();
        assert_eq!(tasks, ["a", "b", "a", "a", "b", "a", "a", "b", "b"]);
        for n in [1, 3, 5, 9, 20] {
            let q = Query {
                tail: Some(n),
                ..Query::default()
            };
            let t = read(&s, &q).unwrap();
            let want = &got[got.len().saturating_sub(n)..];
            assert_eq!(
                t.iter().map(|l| &l.raw).collect::<Vec<_>>(),
                want.iter().map(|l| &l.raw).collect::<Vec<_>>()
            );
        }
    }
}
