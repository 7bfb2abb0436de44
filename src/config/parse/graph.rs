//! The task graph of a parsed config: dependencies on itself or on tasks the file does not
//! have, and cycles.

use super::{Parser, in_task};
use crate::config::Project;
use crate::error::Kind;
use toml::de::DeTable;

/// Keeps the dependency errors: on itself, on a task the file does not have (`written`:
/// every task name in the file, valid or not), cycles.
pub(super) fn validate_graph(project: &Project, p: &Parser<'_>, doc: &DeTable<'_>, written: &[String]) {
    let span_of = |task: &str| Parser::task_key_span(doc, task, "depends_on");
    for t in &project.tasks {
        for d in &t.depends_on {
            if d == &t.name {
                let e = p.err(
                    Kind::SelfDependency,
                    span_of(&t.name),
                    format!("Task '{}' depends on itself", t.name),
                );
                p.keep::<()>(Err(in_task(e, &t.name)));
            } else if !written.contains(d) {
                let e = p
                    .err(
                        Kind::UnknownDependency,
                        span_of(&t.name),
                        format!("Task '{}' depends on unknown task '{d}'", t.name),
                    )
                    .hint(format!("known tasks: {}", written.join(", ")));
                p.keep::<()>(Err(in_task(e, &t.name)));
            }
        }
    }
    if let Some(cycle) = find_cycle(project) {
        let first = cycle[0].clone();
        let e = p
            .err(
                Kind::Cycle,
                span_of(&first),
                format!("Dependency cycle: {}", cycle.join(" -> ")),
            )
            .details(serde_json::json!({"cycle": cycle}));
        p.keep::<()>(Err(e));
    }
}

/// A dependency cycle as a path that returns to its start (`a -> b -> a`), if any.
fn find_cycle(project: &Project) -> Option<Vec<String>> {
    let idx = |n: &str| project.tasks.iter().position(|t| t.name == n);
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut mark = vec![0u8; project.tasks.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        project: &Project,
        mark: &mut [u8],
        stack: &mut Vec<usize>,
        idx: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<String>> {
        mark[i] = 1;
        stack.push(i);
        for d in &project.tasks[i].depends_on {
            let Some(j) = idx(d) else { continue };
            if mark[j] == 1 {
                let pos = stack.iter().position(|&s| s == j).unwrap_or(0);
                let mut cyc: Vec<String> = stack[pos..].iter().map(|&s| project.tasks[s].name.clone()).collect();
                cyc.push(project.tasks[j].name.clone());
                return Some(cyc);
            }
            if mark[j] == 0
                && let Some(c) = visit(j, project, mark, stack, idx)
            {
                return Some(c);
            }
        }
        stack.pop();
        mark[i] = 2;
        None
    }
    for i in 0..project.tasks.len() {
        if mark[i] == 0
            && let Some(c) = visit(i, project, &mut mark, &mut stack, &idx)
        {
            return Some(c);
        }
    }
    None
}
