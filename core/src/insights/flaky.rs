//! `flaky`: tasks that both failed and succeeded without their script
//! changing (otto: the same script hash) or, where no hash is known (the
//! history's units), within the window.
//!
//! The executions of one (project, task, script hash) that ended
//! (succeeded or failed; skipped, running and interrupted ones are left
//! out) are put in start order; a *flip* is an execution whose outcome
//! differs from the one before. The flip rate is flips over the
//! executions that could flip (n − 1): 1.0 alternates every time, a task
//! that failed once among 99 successes has 2/99 (the failure and the
//! recovery). Ranked by flip rate, then by failures.

use std::collections::BTreeMap;

use otto_hooks_plugin_api::TaskStatus;
use serde::Serialize;

use super::frame::{Exec, FastMap, Frame, NONE, group_by, task_groups};
use super::stats::WindowDoc;
use super::{Execution, Result, Source, Window, finished, rfc3339};

/// How many of the runs that show a flip are listed per task.
pub const RUNS_SHOWN: usize = 10;

/// The document of `flaky`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlakyReport {
    /// `otto.db` or `history.db`.
    pub source: &'static str,
    /// The file read.
    pub path: String,
    /// The project filter, if any.
    pub project: Option<String>,
    /// The window.
    pub window: WindowDoc,
    /// Flaky tasks, the flakiest first.
    pub tasks: Vec<FlakyTask>,
}

/// One flaky task (of one script hash).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlakyTask {
    /// The project key.
    pub project: String,
    /// The task.
    pub task: String,
    /// The script hash its executions share (`null`: not known, the
    /// window is the group).
    pub script_hash: Option<String>,
    /// Executions that ended (success or failure).
    pub executions: u64,
    /// Of which succeeded.
    pub success: u64,
    /// Of which failed.
    pub failed: u64,
    /// Changes of outcome between consecutive executions.
    pub flips: u64,
    /// `flips / (executions - 1)`.
    pub flip_rate: f64,
    /// How its newest execution ended.
    pub last_status: TaskStatus,
    /// The runs where the outcome changed, newest first (at most 10).
    pub runs: Vec<FlipRun>,
}

/// A run where a task's outcome changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlipRun {
    /// The run.
    pub run: String,
    /// The outcome it changed to.
    pub status: TaskStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Start, epoch seconds.
    pub started_at: i64,
    /// Start, RFC 3339.
    pub started_at_rfc3339: String,
}

/// `flaky`, computed from the source's [`Frame`] of the window: the
/// document [`flaky_straight`] gives.
pub fn flaky(source: &dyn Source, project: Option<&str>, window: &Window) -> Result<FlakyReport> {
    super::check_project(source, project)?;
    let frame = source.frame(&window.scope(project), None)?;
    Ok(FlakyReport {
        source: source.kind(),
        path: source.path(),
        project: project.map(str::to_owned),
        window: window.into(),
        tasks: rank_frame(&frame),
    })
}

/// `flaky` computed the straightforward way, from every execution as an
/// [`Execution`] ([`rank`]): what [`flaky`] is tested against.
pub fn flaky_straight(
    source: &dyn Source,
    project: Option<&str>,
    window: &Window,
) -> Result<FlakyReport> {
    super::check_project(source, project)?;
    let executions = source.executions(&window.scope(project), None)?;
    Ok(FlakyReport {
        source: source.kind(),
        path: source.path(),
        project: project.map(str::to_owned),
        window: window.into(),
        tasks: rank(executions),
    })
}

/// [`rank`] over a frame: the same groups, orders and tie-breaks.
pub fn rank_frame(frame: &Frame) -> Vec<FlakyTask> {
    // Groups: (project, task) pairs, then script hashes within each.
    let (pair_ids, pairs) = task_groups(frame);
    let mut groups: FastMap<(u32, u32), u32> = FastMap::default();
    let mut keys: Vec<(u32, u32)> = Vec::new();
    let ids: Vec<u32> = frame
        .execs
        .iter()
        .zip(&pair_ids)
        .map(|(e, &pair)| {
            if !finished(e.status) {
                return NONE;
            }
            *groups.entry((pair, e.hash)).or_insert_with(|| {
                keys.push((pair, e.hash));
                (keys.len() - 1) as u32
            })
        })
        .collect();
    let (offsets, order) = group_by(&frame.execs, keys.len(), |i, _| ids[i]);
    let name = |e: &Exec| frame.run_of(e).run.as_str();
    let mut out: Vec<FlakyTask> = Vec::new();
    for (g, &(pair, hash)) in keys.iter().enumerate() {
        let mut list: Vec<&Exec> = order[offsets[g]..offsets[g + 1]]
            .iter()
            .map(|&i| &frame.execs[i as usize])
            .collect();
        let failed = list
            .iter()
            .filter(|e| e.status == TaskStatus::Failed)
            .count() as u64;
        let success = list.len() as u64 - failed;
        if failed == 0 || success == 0 {
            continue;
        }
        list.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| name(a).cmp(name(b)))
        });
        let flipped: Vec<&Exec> = list
            .windows(2)
            .filter(|w| w[0].status != w[1].status)
            .map(|w| w[1])
            .collect();
        let flips = flipped.len() as u64;
        let (project, task) = pairs[pair as usize];
        out.push(FlakyTask {
            project: frame.projects.name(project).to_owned(),
            task: frame.tasks.name(task).to_owned(),
            script_hash: (hash != NONE).then(|| frame.hashes.name(hash).to_owned()),
            executions: list.len() as u64,
            success,
            failed,
            flips,
            flip_rate: flips as f64 / (list.len() - 1) as f64,
            last_status: list.last().map_or(TaskStatus::Unknown, |e| e.status),
            runs: flipped
                .iter()
                .rev()
                .take(RUNS_SHOWN)
                .map(|e| FlipRun {
                    run: name(e).to_owned(),
                    status: e.status,
                    exit_code: e.exit_code,
                    started_at: e.started_at,
                    started_at_rfc3339: rfc3339(e.started_at),
                })
                .collect(),
        });
    }
    // The straightforward computation ranks groups met in (project, task,
    // hash) order with a stable sort: the hash breaks the remaining ties.
    out.sort_by(|a, b| {
        b.flip_rate
            .total_cmp(&a.flip_rate)
            .then_with(|| b.failed.cmp(&a.failed))
            .then_with(|| a.project.cmp(&b.project))
            .then_with(|| a.task.cmp(&b.task))
            .then_with(|| a.script_hash.cmp(&b.script_hash))
    });
    out
}

/// The flaky groups of `executions`, ranked.
pub fn rank(executions: Vec<Execution>) -> Vec<FlakyTask> {
    // Grouped by reference: a million executions are not copied.
    let mut groups: BTreeMap<(&str, &str, Option<&str>), Vec<&Execution>> = BTreeMap::new();
    for e in executions.iter().filter(|e| finished(e.status)) {
        groups
            .entry((&e.project, &e.task, e.script_hash.as_deref()))
            .or_default()
            .push(e);
    }
    let mut out: Vec<FlakyTask> = groups
        .into_iter()
        .filter_map(|((project, task, script_hash), mut list)| {
            let failed = list
                .iter()
                .filter(|e| e.status == TaskStatus::Failed)
                .count() as u64;
            let success = list.len() as u64 - failed;
            if failed == 0 || success == 0 {
                return None;
            }
            list.sort_by(|a, b| {
                a.started_at
                    .cmp(&b.started_at)
                    .then_with(|| a.run.cmp(&b.run))
            });
            let flipped: Vec<&Execution> = list
                .windows(2)
                .filter(|w| w[0].status != w[1].status)
                .map(|w| w[1])
                .collect();
            let flips = flipped.len() as u64;
            Some(FlakyTask {
                project: project.to_owned(),
                task: task.to_owned(),
                script_hash: script_hash.map(str::to_owned),
                executions: list.len() as u64,
                success,
                failed,
                flips,
                flip_rate: flips as f64 / (list.len() - 1) as f64,
                last_status: list.last().map_or(TaskStatus::Unknown, |e| e.status),
                runs: flipped
                    .iter()
                    .rev()
                    .take(RUNS_SHOWN)
                    .map(|e| FlipRun {
                        run: e.run.clone(),
                        status: e.status,
                        exit_code: e.exit_code,
                        started_at: e.started_at,
                        started_at_rfc3339: rfc3339(e.started_at),
                    })
                    .collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.flip_rate
            .total_cmp(&a.flip_rate)
            .then_with(|| b.failed.cmp(&a.failed))
            .then_with(|| a.project.cmp(&b.project))
            .then_with(|| a.task.cmp(&b.task))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(task: &str, hash: &str, t: i64, ok: bool) -> Execution {
        Execution {
            project: "p-0123abcd".into(),
            task: task.into(),
            run: format!("p-0123abcd/{t}"),
            started_at: t,
            duration_seconds: Some(1.0),
            status: if ok {
                TaskStatus::Success
            } else {
                TaskStatus::Failed
            },
            exit_code: Some(if ok { 0 } else { 1 }),
            script_hash: Some(hash.into()),
            log: None,
        }
    }

    #[test]
    fn a_task_that_failed_after_its_script_changed_is_not_flaky() {
        let ranked = rank(vec![
            exec("build", "aaaa0000", 1, true),
            exec("build", "aaaa0000", 2, true),
            exec("build", "bbbb1111", 3, false),
            exec("build", "bbbb1111", 4, false),
        ]);
        assert!(ranked.is_empty(), "{ranked:?}");
    }

    #[test]
    fn flip_rate_counts_changes_between_consecutive_outcomes() {
        let ranked = rank(vec![
            exec("test", "aaaa0000", 4, true),
            exec("test", "aaaa0000", 1, true),
            exec("test", "aaaa0000", 2, false),
            exec("test", "aaaa0000", 3, true),
            exec("lint", "cccc2222", 1, true),
            exec("lint", "cccc2222", 2, true),
            exec("lint", "cccc2222", 3, true),
            exec("lint", "cccc2222", 4, false),
        ]);
        let got: Vec<(&str, u64, f64)> = ranked
            .iter()
            .map(|t| (t.task.as_str(), t.flips, t.flip_rate))
            .collect();
        assert_eq!(got, [("test", 2, 2.0 / 3.0), ("lint", 1, 1.0 / 3.0)]);
        let runs: Vec<&str> = ranked[0].runs.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(runs, ["p-0123abcd/3", "p-0123abcd/2"]);
        assert_eq!(ranked[0].last_status, TaskStatus::Success);
    }
}
