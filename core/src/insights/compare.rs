//! `compare RUN_A RUN_B`: what changed from one run to another.
//!
//! Tasks are matched by name: added (only in B), removed (only in A), and
//! for each task in both, its status, exit code, duration and (otto) the
//! script it ran. A duration change is reported only beyond noise: the
//! difference must be at least [`NOISE_MIN_SECONDS`] *and* at least
//! [`NOISE_RATIO`] of A's duration (a 2 s task taking 2.4 s is noise; 2 s
//! to 4 s is not; a 10 min task must move by 2.5 min). Scripts are
//! compared by otto's cache hash; with a diff asked for, the two cached
//! scripts are read from the project's `.cache/` and diffed (unified).

use serde::Serialize;

use super::{Execution, InsightError, Result, RunRecord, Source};
use otto_hooks_plugin_api::TaskStatus;

/// A duration change smaller than this is noise.
pub const NOISE_MIN_SECONDS: f64 = 1.0;
/// A duration change smaller than this share of the first run's is noise.
pub const NOISE_RATIO: f64 = 0.25;
/// Cached scripts larger than this are not diffed.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// The document of `compare`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareReport {
    /// `otto.db` or `history.db`.
    pub source: &'static str,
    /// The first run.
    pub a: RunRecord,
    /// The second run.
    pub b: RunRecord,
    /// The noise threshold applied to durations.
    pub noise: Noise,
    /// Tasks only in B.
    pub added: Vec<TaskSide>,
    /// Tasks only in A.
    pub removed: Vec<TaskSide>,
    /// Tasks in both with something changed.
    pub changed: Vec<TaskChange>,
    /// Tasks in both with nothing changed.
    pub unchanged: Vec<String>,
}

/// The noise threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Noise {
    /// [`NOISE_MIN_SECONDS`].
    pub min_seconds: f64,
    /// [`NOISE_RATIO`].
    pub min_ratio: f64,
}

/// A task of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskSide {
    /// Its name.
    pub task: String,
    /// How it ended.
    pub status: TaskStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub duration_seconds: Option<f64>,
    /// Its script's cache hash.
    pub script_hash: Option<String>,
}

impl From<&Execution> for TaskSide {
    fn from(e: &Execution) -> Self {
        TaskSide {
            task: e.task.clone(),
            status: e.status,
            exit_code: e.exit_code,
            duration_seconds: e.duration_seconds,
            script_hash: e.script_hash.clone(),
        }
    }
}

/// A task in both runs, with what changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskChange {
    /// Its name.
    pub task: String,
    /// In A.
    pub a: TaskSide,
    /// In B.
    pub b: TaskSide,
    /// The status differs.
    pub status_changed: bool,
    /// The exit code differs.
    pub exit_code_changed: bool,
    /// `b - a`, when both are known.
    pub duration_delta_seconds: Option<f64>,
    /// The duration moved beyond noise.
    pub duration_changed: bool,
    /// The script's cache hash differs.
    pub script_changed: bool,
    /// With `--diff`: the unified diff of the two cached scripts (`null`
    /// when not asked, unchanged, or a cached script is gone).
    pub diff: Option<String>,
}

/// Whether a change from `a` to `b` seconds is beyond noise.
pub fn beyond_noise(a: f64, b: f64) -> bool {
    let d = (b - a).abs();
    d >= NOISE_MIN_SECONDS && d >= NOISE_RATIO * a
}

/// `compare`.
pub fn compare(source: &dyn Source, a: &str, b: &str, diff: bool) -> Result<CompareReport> {
    let ra = source.run_tasks(a)?;
    let rb = source.run_tasks(b)?;
    if ra.run.run == rb.run.run {
        return Err(InsightError::bad_input(format!(
            "`{a}` and `{b}` name the same run {}: compare two runs",
            ra.run.run
        )));
    }
    let mut report = CompareReport {
        source: source.kind(),
        a: ra.run.clone(),
        b: rb.run.clone(),
        noise: Noise {
            min_seconds: NOISE_MIN_SECONDS,
            min_ratio: NOISE_RATIO,
        },
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: Vec::new(),
    };
    for ta in &ra.tasks {
        match rb.tasks.iter().find(|t| t.task == ta.task) {
            None => report.removed.push(ta.into()),
            Some(tb) => {
                let delta = ta
                    .duration_seconds
                    .zip(tb.duration_seconds)
                    .map(|(x, y)| y - x);
                let script_changed = ta.script_hash.is_some()
                    && tb.script_hash.is_some()
                    && ta.script_hash != tb.script_hash;
                let change = TaskChange {
                    task: ta.task.clone(),
                    status_changed: ta.status != tb.status,
                    exit_code_changed: ta.exit_code != tb.exit_code,
                    duration_delta_seconds: delta,
                    duration_changed: ta
                        .duration_seconds
                        .zip(tb.duration_seconds)
                        .is_some_and(|(x, y)| beyond_noise(x, y)),
                    script_changed,
                    diff: if diff && script_changed {
                        script_diff(&ra, ta, &rb, tb)
                    } else {
                        None
                    },
                    a: ta.into(),
                    b: tb.into(),
                };
                if change.status_changed
                    || change.exit_code_changed
                    || change.duration_changed
                    || change.script_changed
                {
                    report.changed.push(change);
                } else {
                    report.unchanged.push(ta.task.clone());
                }
            }
        }
    }
    report.added = rb
        .tasks
        .iter()
        .filter(|t| !ra.tasks.iter().any(|a| a.task == t.task))
        .map(TaskSide::from)
        .collect();
    Ok(report)
}

/// The unified diff of the cached scripts of `a` and `b`.
fn script_diff(
    ra: &super::RunTasks,
    a: &Execution,
    rb: &super::RunTasks,
    b: &Execution,
) -> Option<String> {
    let old = cached_script(ra.cache_dir.as_deref()?, a.script_hash.as_deref()?)?;
    let new = cached_script(rb.cache_dir.as_deref()?, b.script_hash.as_deref()?)?;
    let header_a = format!("{}/{} ({})", ra.run.run, a.task, a.script_hash.as_deref()?);
    let header_b = format!("{}/{} ({})", rb.run.run, b.task, b.script_hash.as_deref()?);
    Some(
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&header_a, &header_b)
            .to_string(),
    )
}

/// The text of `<cache>/<hash>.sh` (or `.py`, or a legacy `<task>/<hash>`
/// — not looked for: legacy runs predate flat caches), a regular file of
/// at most 1 MiB, links not followed.
pub fn cached_script(cache: &std::path::Path, hash: &str) -> Option<String> {
    if hash.is_empty() || hash.contains(['/', '\0']) || hash.starts_with('.') {
        return None;
    }
    ["sh", "py"].iter().find_map(|ext| {
        let path = cache.join(format!("{hash}.{ext}"));
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_SCRIPT_BYTES {
            return None;
        }
        std::fs::read_to_string(path).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_or_proportionally_small_duration_changes_are_noise() {
        assert!(!beyond_noise(2.0, 2.4));
        assert!(!beyond_noise(2.0, 2.9));
        assert!(beyond_noise(2.0, 4.0));
        assert!(!beyond_noise(600.0, 700.0));
        assert!(beyond_noise(600.0, 760.0));
        assert!(beyond_noise(0.0, 1.0));
        assert!(beyond_noise(4.0, 2.0));
    }
}
