//! `stats [TASK]`: runs and tasks of a window, against the window before
//! it, and per task; with `trend`, each task's duration series.
//!
//! Figures follow otto's own `Stats` where both have them: a run's success
//! rate is successful runs over all runs (running ones included, as otto
//! counts them), a task's is successes over successes and failures
//! (skipped ones left out); disk is the sum of the runs' recorded sizes.
//! Percentiles are nearest-rank over the finished executions' durations
//! (p50 of 1, 2, 3, 4 is 2).

use std::collections::{BTreeMap, HashMap};

use otto_hooks_plugin_api::TaskStatus;
use serde::Serialize;

use super::frame::{Exec, group_by, max_of, percentile_of, task_groups};
use super::{Execution, Result, RunRecord, Source, Window, finished};

/// How many points a trend series has.
pub const SERIES_POINTS: usize = 20;

/// What `stats` is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsQuery {
    /// Only this task.
    pub task: Option<String>,
    /// Only this project.
    pub project: Option<String>,
    /// The window.
    pub window: Window,
    /// Add each task's series.
    pub trend: bool,
}

/// The document of `stats`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatsReport {
    /// `otto.db` or `history.db`.
    pub source: &'static str,
    /// The file read.
    pub path: String,
    /// The task asked about, if any.
    pub task: Option<String>,
    /// The project filter, if any.
    pub project: Option<String>,
    /// The window.
    pub window: WindowDoc,
    /// Runs of the window (with a task: the runs that ran it).
    pub runs: RunFigures,
    /// Executions of the window.
    pub tasks: TaskFigures,
    /// The window before, of the same length (`null` for `--since all`).
    pub previous: Option<Previous>,
    /// Changes since the previous window.
    pub trend: Option<Trend>,
    /// Per task (project, name), most executions first.
    pub per_task: Vec<TaskStats>,
}

/// A window as documents show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowDoc {
    /// As given (`30d`, `all`).
    pub since: String,
    /// Start, epoch seconds (`null`: all time).
    pub from: Option<i64>,
    /// Start, RFC 3339.
    pub from_rfc3339: Option<String>,
    /// End (exclusive), epoch seconds.
    pub to: i64,
    /// End, RFC 3339.
    pub to_rfc3339: String,
}

impl From<&Window> for WindowDoc {
    fn from(w: &Window) -> Self {
        WindowDoc {
            since: w.since.clone(),
            from: w.from,
            from_rfc3339: w.from.map(super::rfc3339),
            to: w.to,
            to_rfc3339: super::rfc3339(w.to),
        }
    }
}

/// Run-level figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunFigures {
    /// Runs.
    pub total: u64,
    /// Successful.
    pub success: u64,
    /// Failed.
    pub failed: u64,
    /// Still running (or stuck so).
    pub running: u64,
    /// Any other status (stopped, unknown).
    pub other: u64,
    /// `success / total` (`null` without runs).
    pub success_rate: Option<f64>,
    /// Duration percentiles and maximum of the finished runs.
    pub p50_seconds: Option<f64>,
    /// 90th percentile.
    pub p90_seconds: Option<f64>,
    /// Maximum.
    pub max_seconds: Option<f64>,
    /// Sum of the recorded sizes (`null` when the storage records none).
    pub disk_bytes: Option<u64>,
}

/// Execution-level figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TaskFigures {
    /// Executions.
    pub total: u64,
    /// Succeeded.
    pub success: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped.
    pub skipped: u64,
    /// Running, pending, interrupted or unknown.
    pub other: u64,
    /// `success / (success + failed)`.
    pub success_rate: Option<f64>,
    /// Duration percentiles.
    pub p50_seconds: Option<f64>,
    /// 90th percentile.
    pub p90_seconds: Option<f64>,
    /// Maximum.
    pub max_seconds: Option<f64>,
}

/// The previous window's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Previous {
    /// Its bounds.
    pub window: WindowDoc,
    /// Its runs.
    pub runs: RunFigures,
    /// Its executions.
    pub tasks: TaskFigures,
}

/// This window against the previous one (`this - previous`; `null` where
/// either side has no figure).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trend {
    /// Runs.
    pub runs_delta: i64,
    /// Run success rate.
    pub success_rate_delta: Option<f64>,
    /// Run p50.
    pub p50_delta_seconds: Option<f64>,
    /// Executions.
    pub executions_delta: i64,
    /// Task success rate.
    pub task_success_rate_delta: Option<f64>,
    /// Task p50.
    pub task_p50_delta_seconds: Option<f64>,
}

/// One task's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskStats {
    /// The project key.
    pub project: String,
    /// The task.
    pub task: String,
    /// Its figures in the window.
    #[serde(flatten)]
    pub figures: TaskFigures,
    /// How its newest execution ended.
    pub last_status: TaskStatus,
    /// Its newest execution's run.
    pub last_run: String,
    /// When that started.
    pub last_started_at: i64,
    /// Against the previous window (`null` for `--since all`).
    pub trend: Option<TaskTrend>,
    /// With `--trend`: the window cut in [`SERIES_POINTS`] equal buckets.
    pub series: Option<Vec<Point>>,
}

/// One task against the previous window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskTrend {
    /// Executions.
    pub executions_delta: i64,
    /// Success rate.
    pub success_rate_delta: Option<f64>,
    /// p50.
    pub p50_delta_seconds: Option<f64>,
}

/// One bucket of a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Start, epoch seconds.
    pub from: i64,
    /// Executions started in it.
    pub executions: u64,
    /// Of which failed.
    pub failed: u64,
    /// Their p50 duration (`null`: none finished).
    pub p50_seconds: Option<f64>,
}

/// Nearest-rank percentile `p` (0–100) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// The figures of `runs`.
pub fn run_figures<'a>(runs: impl IntoIterator<Item = &'a RunRecord>) -> RunFigures {
    let mut f = RunFigures::default();
    let mut disk: Option<u64> = None;
    let mut durations = Vec::new();
    for r in runs {
        f.total += 1;
        match r.status.as_str() {
            "success" => f.success += 1,
            "failed" => f.failed += 1,
            "running" => f.running += 1,
            _ => f.other += 1,
        }
        if let Some(b) = r.size_bytes {
            disk = Some(disk.unwrap_or(0) + b);
        }
        if let Some(d) = r.duration_seconds.filter(|_| r.status != "running") {
            durations.push(d);
        }
    }
    let durations = sorted(durations);
    f.success_rate = ratio(f.success, f.total);
    f.p50_seconds = percentile(&durations, 50.0);
    f.p90_seconds = percentile(&durations, 90.0);
    f.max_seconds = durations.last().copied();
    f.disk_bytes = disk;
    f
}

/// The figures of `executions`.
pub fn task_figures<'a>(executions: impl IntoIterator<Item = &'a Execution>) -> TaskFigures {
    let mut f = TaskFigures::default();
    let mut durations = Vec::new();
    for e in executions {
        f.total += 1;
        match e.status {
            TaskStatus::Success => f.success += 1,
            TaskStatus::Failed => f.failed += 1,
            TaskStatus::Skipped => f.skipped += 1,
            _ => f.other += 1,
        }
        if let Some(d) = e.duration_seconds.filter(|_| finished(e.status)) {
            durations.push(d);
        }
    }
    let durations = sorted(durations);
    f.success_rate = ratio(f.success, f.success + f.failed);
    f.p50_seconds = percentile(&durations, 50.0);
    f.p90_seconds = percentile(&durations, 90.0);
    f.max_seconds = durations.last().copied();
    f
}

/// `stats`: an unknown task or project is an error naming the closest.
///
/// Computed from the source's [`Frame`]s of the window and the one before
/// it; the document is the one [`stats_straight`] gives.
pub fn stats(source: &dyn Source, query: &StatsQuery) -> Result<StatsReport> {
    super::check_project(source, query.project.as_deref())?;
    let scope = query.window.scope(query.project.as_deref());
    let task = query.task.as_deref();
    let frame = source.frame(&scope, task)?;
    if let Some(t) = task {
        if frame.execs.is_empty() && !source.task_names()?.iter().any(|n| n == t) {
            return Err(super::unknown_task(source, t));
        }
    }
    let mut scratch = Vec::new();

    let previous_window = query.window.previous();
    let (previous, before) = match &previous_window {
        Some(w) => {
            let old = source.frame(&w.scope(query.project.as_deref()), task)?;
            let (ids, pairs) = task_groups(&old);
            let (offsets, order) = group_by(&old.execs, pairs.len(), |i, _| ids[i]);
            let mut before: HashMap<(String, String), TaskFigures> = HashMap::new();
            for (g, (project, name)) in pairs.iter().enumerate() {
                let list = &order[offsets[g]..offsets[g + 1]];
                before.insert(
                    (
                        old.projects.name(*project).to_owned(),
                        old.tasks.name(*name).to_owned(),
                    ),
                    frame_figures(list.iter().map(|&i| &old.execs[i as usize]), &mut scratch),
                );
            }
            (
                Some(Previous {
                    window: w.into(),
                    runs: run_figures(old.listed_runs(task)),
                    tasks: frame_figures(old.execs.iter(), &mut scratch),
                }),
                before,
            )
        }
        None => (None, HashMap::new()),
    };

    let runs = run_figures(frame.listed_runs(task));
    let tasks = frame_figures(frame.execs.iter(), &mut scratch);
    let trend = previous.as_ref().map(|p| Trend {
        runs_delta: runs.total as i64 - p.runs.total as i64,
        success_rate_delta: delta(runs.success_rate, p.runs.success_rate),
        p50_delta_seconds: delta(runs.p50_seconds, p.runs.p50_seconds),
        executions_delta: tasks.total as i64 - p.tasks.total as i64,
        task_success_rate_delta: delta(tasks.success_rate, p.tasks.success_rate),
        task_p50_delta_seconds: delta(tasks.p50_seconds, p.tasks.p50_seconds),
    });

    let (ids, pairs) = task_groups(&frame);
    let (offsets, order) = group_by(&frame.execs, pairs.len(), |i, _| ids[i]);
    let (series_from, series_to) = match query.window.from {
        Some(from) => (from, query.window.to.max(from + 1)),
        None => {
            let first = frame.execs.iter().map(|e| e.started_at).min();
            let last = frame.execs.iter().map(|e| e.started_at).max();
            match first.zip(last) {
                Some((first, last)) => (first, last + 1),
                None => (query.window.to, query.window.to + 1),
            }
        }
    };
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); SERIES_POINTS];
    let mut per_task: Vec<TaskStats> = pairs
        .iter()
        .enumerate()
        .map(|(g, &(project, name))| {
            let list = &order[offsets[g]..offsets[g + 1]];
            let execs = || list.iter().map(|&i| &frame.execs[i as usize]);
            let figures = frame_figures(execs(), &mut scratch);
            let last = execs().max_by(|a, b| {
                a.started_at
                    .cmp(&b.started_at)
                    .then_with(|| frame.run_of(a).run.cmp(&frame.run_of(b).run))
            });
            let project = frame.projects.name(project);
            let name = frame.tasks.name(name);
            let trend = previous.as_ref().map(|_| {
                let old = before
                    .get(&(project.to_owned(), name.to_owned()))
                    .cloned()
                    .unwrap_or_default();
                TaskTrend {
                    executions_delta: figures.total as i64 - old.total as i64,
                    success_rate_delta: delta(figures.success_rate, old.success_rate),
                    p50_delta_seconds: delta(figures.p50_seconds, old.p50_seconds),
                }
            });
            TaskStats {
                project: project.to_owned(),
                task: name.to_owned(),
                last_status: last.map_or(TaskStatus::Unknown, |e| e.status),
                last_run: last
                    .map(|e| frame.run_of(e).run.clone())
                    .unwrap_or_default(),
                last_started_at: last.map_or(0, |e| e.started_at),
                series: query
                    .trend
                    .then(|| frame_series(execs(), series_from, series_to, &mut buckets)),
                figures,
                trend,
            }
        })
        .collect();
    per_task.sort_by(|a, b| {
        b.figures
            .total
            .cmp(&a.figures.total)
            .then_with(|| a.project.cmp(&b.project))
            .then_with(|| a.task.cmp(&b.task))
    });

    Ok(StatsReport {
        source: source.kind(),
        path: source.path(),
        task: query.task.clone(),
        project: query.project.clone(),
        window: (&query.window).into(),
        runs,
        tasks,
        previous,
        trend,
        per_task,
    })
}

/// [`task_figures`] of a frame's executions (`scratch`: reused).
fn frame_figures<'a>(execs: impl Iterator<Item = &'a Exec>, scratch: &mut Vec<f64>) -> TaskFigures {
    let mut f = TaskFigures::default();
    scratch.clear();
    for e in execs {
        f.total += 1;
        match e.status {
            TaskStatus::Success => f.success += 1,
            TaskStatus::Failed => f.failed += 1,
            TaskStatus::Skipped => f.skipped += 1,
            _ => f.other += 1,
        }
        if let Some(d) = e.duration_seconds.filter(|_| finished(e.status)) {
            scratch.push(d);
        }
    }
    f.success_rate = ratio(f.success, f.success + f.failed);
    f.max_seconds = max_of(scratch);
    f.p90_seconds = percentile_of(scratch, 90.0);
    f.p50_seconds = percentile_of(scratch, 50.0);
    f
}

/// [`series`] of a frame's executions (`buckets`: reused).
fn frame_series<'a>(
    execs: impl Iterator<Item = &'a Exec>,
    from: i64,
    to: i64,
    buckets: &mut [Vec<f64>],
) -> Vec<Point> {
    let n = SERIES_POINTS as i64;
    let width = ((to - from) as f64 / n as f64).max(1.0);
    let mut counts = [(0u64, 0u64); SERIES_POINTS];
    for b in buckets.iter_mut() {
        b.clear();
    }
    for e in execs {
        let i = (((e.started_at - from) as f64 / width).floor() as i64).clamp(0, n - 1) as usize;
        counts[i].0 += 1;
        if e.status == TaskStatus::Failed {
            counts[i].1 += 1;
        }
        if let Some(d) = e.duration_seconds.filter(|_| finished(e.status)) {
            buckets[i].push(d);
        }
    }
    counts
        .iter()
        .zip(buckets.iter_mut())
        .enumerate()
        .map(|(i, (&(executions, failed), durations))| Point {
            from: from + (i as f64 * width) as i64,
            executions,
            failed,
            p50_seconds: percentile_of(durations, 50.0),
        })
        .collect()
}

/// `stats` computed the straightforward way, from every execution as an
/// [`Execution`]: what [`stats`] is tested against (the same document).
pub fn stats_straight(source: &dyn Source, query: &StatsQuery) -> Result<StatsReport> {
    super::check_project(source, query.project.as_deref())?;
    let scope = query.window.scope(query.project.as_deref());
    let task = query.task.as_deref();
    let (runs, executions) = source.window(&scope, task)?;
    if let Some(t) = task {
        if executions.is_empty() && !source.task_names()?.iter().any(|n| n == t) {
            return Err(super::unknown_task(source, t));
        }
    }
    let runs = runs_of(runs, task, &executions);

    let previous_window = query.window.previous();
    let (previous, previous_executions) = match &previous_window {
        Some(w) => {
            let scope = w.scope(query.project.as_deref());
            let (runs, executions) = source.window(&scope, task)?;
            let runs = runs_of(runs, task, &executions);
            (
                Some(Previous {
                    window: w.into(),
                    runs: run_figures(&runs),
                    tasks: task_figures(&executions),
                }),
                executions,
            )
        }
        None => (None, Vec::new()),
    };

    let runs = run_figures(&runs);
    let tasks = task_figures(&executions);
    let trend = previous.as_ref().map(|p| Trend {
        runs_delta: runs.total as i64 - p.runs.total as i64,
        success_rate_delta: delta(runs.success_rate, p.runs.success_rate),
        p50_delta_seconds: delta(runs.p50_seconds, p.runs.p50_seconds),
        executions_delta: tasks.total as i64 - p.tasks.total as i64,
        task_success_rate_delta: delta(tasks.success_rate, p.tasks.success_rate),
        task_p50_delta_seconds: delta(tasks.p50_seconds, p.tasks.p50_seconds),
    });

    let mut before: BTreeMap<(&str, &str), Vec<&Execution>> = BTreeMap::new();
    for e in &previous_executions {
        before.entry((&e.project, &e.task)).or_default().push(e);
    }
    let mut groups: BTreeMap<(&str, &str), Vec<&Execution>> = BTreeMap::new();
    for e in &executions {
        groups.entry((&e.project, &e.task)).or_default().push(e);
    }
    let (series_from, series_to) = series_bounds(&query.window, &executions);
    let mut per_task: Vec<TaskStats> = groups
        .into_iter()
        .map(|((project, name), list)| {
            let figures = task_figures(list.iter().copied());
            let last = list
                .iter()
                .max_by(|a, b| {
                    a.started_at
                        .cmp(&b.started_at)
                        .then_with(|| a.run.cmp(&b.run))
                })
                .copied();
            let trend = previous.as_ref().map(|_| {
                let old = task_figures(before.get(&(project, name)).into_iter().flatten().copied());
                TaskTrend {
                    executions_delta: figures.total as i64 - old.total as i64,
                    success_rate_delta: delta(figures.success_rate, old.success_rate),
                    p50_delta_seconds: delta(figures.p50_seconds, old.p50_seconds),
                }
            });
            TaskStats {
                project: project.to_owned(),
                task: name.to_owned(),
                last_status: last.map_or(TaskStatus::Unknown, |e| e.status),
                last_run: last.map(|e| e.run.clone()).unwrap_or_default(),
                last_started_at: last.map_or(0, |e| e.started_at),
                series: query.trend.then(|| series(&list, series_from, series_to)),
                figures,
                trend,
            }
        })
        .collect();
    per_task.sort_by(|a, b| {
        b.figures
            .total
            .cmp(&a.figures.total)
            .then_with(|| a.project.cmp(&b.project))
            .then_with(|| a.task.cmp(&b.task))
    });

    Ok(StatsReport {
        source: source.kind(),
        path: source.path(),
        task: query.task.clone(),
        project: query.project.clone(),
        window: (&query.window).into(),
        runs,
        tasks,
        previous,
        trend,
        per_task,
    })
}

/// `runs`; with a task, only those that ran it.
fn runs_of(runs: Vec<RunRecord>, task: Option<&str>, executions: &[Execution]) -> Vec<RunRecord> {
    if task.is_none() {
        return runs;
    }
    let ran: std::collections::HashSet<&str> = executions.iter().map(|e| e.run.as_str()).collect();
    runs.into_iter()
        .filter(|r| ran.contains(r.run.as_str()))
        .collect()
}

/// The span a series covers: the window, or (all time) the executions'
/// own, from the first to the last.
fn series_bounds(window: &Window, executions: &[Execution]) -> (i64, i64) {
    match window.from {
        Some(from) => (from, window.to.max(from + 1)),
        None => {
            let first = executions.iter().map(|e| e.started_at).min();
            let last = executions.iter().map(|e| e.started_at).max();
            match first.zip(last) {
                Some((first, last)) => (first, last + 1),
                None => (window.to, window.to + 1),
            }
        }
    }
}

/// `list` cut into [`SERIES_POINTS`] equal buckets of `[from, to)`.
pub fn series(list: &[&Execution], from: i64, to: i64) -> Vec<Point> {
    let n = SERIES_POINTS as i64;
    let width = ((to - from) as f64 / n as f64).max(1.0);
    let mut buckets: Vec<(u64, u64, Vec<f64>)> = vec![(0, 0, Vec::new()); SERIES_POINTS];
    for e in list {
        let i = (((e.started_at - from) as f64 / width).floor() as i64).clamp(0, n - 1) as usize;
        let b = &mut buckets[i];
        b.0 += 1;
        if e.status == TaskStatus::Failed {
            b.1 += 1;
        }
        if let Some(d) = e.duration_seconds.filter(|_| finished(e.status)) {
            b.2.push(d);
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (executions, failed, durations))| Point {
            from: from + (i as f64 * width) as i64,
            executions,
            failed,
            p50_seconds: percentile(&sorted(durations), 50.0),
        })
        .collect()
}

/// A sparkline of `values` (`▁`…`█`, scaled from their minimum to their
/// maximum; a flat series is all `▄`), a space for a missing value.
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let present = values.iter().flatten().copied();
    let min = present.clone().fold(f64::INFINITY, f64::min);
    let max = present.fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if max - min <= f64::EPSILON => BARS[3],
            Some(v) => BARS[(((v - min) / (max - min)) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.0));
        assert_eq!(percentile(&v, 90.0), Some(4.0));
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 90.0), Some(9.0));
    }

    #[test]
    fn sparklines_scale_from_the_minimum_to_the_maximum() {
        assert_eq!(sparkline(&[Some(1.0), Some(8.0), None, Some(4.5)]), "▁█ ▅");
        assert_eq!(sparkline(&[Some(3.0), Some(3.0)]), "▄▄");
        assert_eq!(sparkline(&[None, None]), "  ");
    }
}
