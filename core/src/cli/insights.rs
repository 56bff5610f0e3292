//! `otto-hooks history | stats | compare | flaky`: what the history tells,
//! over otto's otto.db (the default) or the hooks' SQLite history.

use clap::Args;
use otto_hooks_plugin_api::TaskStatus;
use otto_hooks_reporters::format::{human_size, local_time, opt_duration};
use otto_hooks_reporters::grid::{L, R, table};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::insights::compare::CompareReport;
use crate::insights::flaky::FlakyReport;
use crate::insights::otto::OttoSource;
use crate::insights::recorded::{self, HistorySource};
use crate::insights::stats::{StatsQuery, StatsReport, sparkline};
use crate::insights::team::TeamSource;
use crate::insights::{self, HistoryQuery, HistoryReport, InsightError, Source, Window};

/// Which history the insights read.
#[derive(Debug, Args)]
pub struct Store {
    /// `otto-fs` (otto's otto.db, the default), `sqlite` (the hooks'
    /// history.db) or `postgres` (the configured team history).
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// Read this SQLite history file (implies --backend sqlite).
    #[arg(long, value_name = "PATH", conflicts_with = "backend")]
    pub db: Option<std::path::PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `history TASK`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The task (otto) or unit (the hooks' history).
    // An Option only so that `history copy` (a subcommand, which lifts the
    // requirement) parses; without `copy` clap requires it.
    #[arg(required = true)]
    pub task: Option<String>,
    /// Only failed executions (the same as --status failed).
    #[arg(long, conflicts_with = "status")]
    pub failed: bool,
    /// Only executions that ended so: success, failed, skipped, running, interrupted.
    #[arg(long, value_name = "STATUS", value_parser = parse_task_status)]
    pub status: Option<TaskStatus>,
    /// Only this project: its directory name, its name or its hash.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// At most N executions, newest first.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub store: Store,
}

/// `stats [TASK]`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this task.
    pub task: Option<String>,
    /// Only this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// The window: 30d, 12h, 2w, … or `all` (compared with the window
    /// before it of the same length).
    #[arg(long, value_name = "LENGTH", default_value = "30d")]
    pub since: String,
    /// Each task's duration over the window, as a sparkline (JSON: `series`).
    #[arg(long)]
    pub trend: bool,
    #[command(flatten)]
    pub store: Store,
}

/// `compare RUN_A RUN_B`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The first run, as `list` shows it.
    pub a: String,
    /// The second run.
    pub b: String,
    /// Print the unified diff of every script whose cache hash changed.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub store: Store,
}

/// `flaky`.
#[derive(Debug, Args)]
pub struct FlakyArgs {
    /// Only this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// The window: 30d, 12h, 2w, … or `all`.
    #[arg(long, value_name = "LENGTH", default_value = "30d")]
    pub since: String,
    #[command(flatten)]
    pub store: Store,
}

fn parse_task_status(s: &str) -> Result<TaskStatus, String> {
    match s {
        "success" | "completed" => Ok(TaskStatus::Success),
        "failed" => Ok(TaskStatus::Failed),
        "skipped" => Ok(TaskStatus::Skipped),
        "running" => Ok(TaskStatus::Running),
        "pending" => Ok(TaskStatus::Pending),
        "interrupted" => Ok(TaskStatus::Interrupted),
        _ => Err(format!(
            "`{s}`: want success, failed, skipped, running, pending or interrupted"
        )),
    }
}

fn failure(e: InsightError) -> Failure {
    if e.bad_input {
        Failure::usage(e.message)
    } else {
        Failure::failed(e.message)
    }
}

/// Opens the history `store` names and calls `f` with it.
fn with_source<T>(
    ctx: &Context,
    store: &Store,
    f: impl FnOnce(&dyn Source) -> Result<T, InsightError>,
) -> Result<T, Failure> {
    let team = match (&store.db, store.backend.as_deref()) {
        (None, Some("postgres")) => true,
        (None, None) => ctx
            .config
            .default_selection()
            .storage
            .first()
            .is_some_and(|s| s.plugin == "postgres"),
        _ => false,
    };
    if team {
        return with_team_source(ctx, f);
    }
    let db = match (&store.db, store.backend.as_deref()) {
        (Some(db), _) => Some(db.clone()),
        (None, Some("sqlite")) => {
            Some(crate::import::default_db_path(&ctx.config, &ctx.hooks_home))
        }
        (None, Some("otto-fs")) => None,
        (None, Some(other)) => {
            return Err(Failure::usage(format!(
                "--backend {other}: history, stats, compare and flaky read `otto-fs` (otto.db), `sqlite` (history.db) or `postgres` (the configured team history)"
            )));
        }
        (None, None) => {
            let configured = ctx.config.default_selection().storage;
            match configured.first() {
                Some(s) if s.plugin == "sqlite" => {
                    Some(crate::import::default_db_path(&ctx.config, &ctx.hooks_home))
                }
                _ => None,
            }
        }
    };
    match db {
        Some(path) => {
            let conn = recorded::open(&path).map_err(failure)?;
            let source = HistorySource::new(&conn, path.display().to_string())
                .with_cache(ctx.hooks_home.join("insights"));
            f(&source).map_err(failure)
        }
        None => {
            let spec = crate::history::storage_spec(&ctx.config, Some("otto-fs"))
                .map_err(|e| Failure::usage(e.message))?;
            let home = crate::ottodb_rows::otto_home_of_spec(&spec, &ctx.hooks_home)
                .unwrap_or_else(crate::paths::otto_home);
            let source = OttoSource::open(&home)
                .map_err(failure)?
                .with_cache(ctx.hooks_home.join("insights"));
            f(&source).map_err(failure)
        }
    }
}

/// Calls `f` with the configured PostgreSQL history.
fn with_team_source<T>(
    ctx: &Context,
    f: impl FnOnce(&dyn Source) -> Result<T, InsightError>,
) -> Result<T, Failure> {
    let team = crate::daemon::team::configured(&ctx.config, &ctx.hooks_home)
        .map_err(Failure::usage)?
        .ok_or_else(|| {
            Failure::usage(
                "--backend postgres: no `postgres` storage is configured (docs/TEAM-HISTORY.md)",
            )
        })?;
    let store = (team.open)().map_err(Failure::failed)?;
    let Some(db) = store
        .as_any()
        .and_then(|a| a.downcast_ref::<otto_hooks_postgres::PgHistory>())
    else {
        return Err(Failure::failed(format!(
            "{} is not a PostgreSQL history",
            store.location()
        )));
    };
    f(&TeamSource::new(db)).map_err(failure)
}

fn print_json<T: serde::Serialize>(doc: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
    write_stdout(&format!("{text}\n"))
}

fn now() -> i64 {
    otto_hooks_plugin_api::Timestamp::now().secs
}

/// `history TASK`.
pub(super) fn history(ctx: &Context, args: HistoryArgs) -> CmdResult {
    let status = if args.failed {
        Some(TaskStatus::Failed)
    } else {
        args.status
    };
    let Some(task) = args.task.clone() else {
        return Err(Failure::usage(
            "history: name a task (`otto-hooks history TASK`) or `copy`",
        ));
    };
    let query = HistoryQuery {
        task,
        project: args.project.clone(),
        status,
        limit: args.limit.max(1),
    };
    let report = with_source(ctx, &args.store, |s| insights::history(s, &query))?;
    if args.store.json {
        print_json(&report)?;
    } else {
        write_stdout(&render_history(&report))?;
    }
    Ok(exit::OK)
}

fn status_text(s: TaskStatus) -> &'static str {
    s.as_str()
}

fn render_history(r: &HistoryReport) -> String {
    if r.executions.is_empty() {
        return format!("no executions of `{}` match\n", r.task);
    }
    let rows = r
        .executions
        .iter()
        .map(|e| {
            vec![
                local_time(e.started_at),
                e.run.clone(),
                status_text(e.status).to_owned(),
                e.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                opt_duration(e.duration_seconds),
                e.log.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = table(
        &["STARTED", "RUN", "STATUS", "EXIT", "DURATION", "LOG"],
        rows,
        &[L, L, L, R, R, L],
    );
    if r.executions.len() >= r.limit {
        out.push_str(&format!(
            "… the newest {}; more with --limit\n",
            r.executions.len()
        ));
    }
    out
}

/// `stats [TASK]`.
pub(super) fn stats(ctx: &Context, args: StatsArgs) -> CmdResult {
    let window = Window::parse(&args.since, now()).map_err(failure)?;
    let query = StatsQuery {
        task: args.task.clone(),
        project: args.project.clone(),
        window,
        trend: args.trend,
    };
    let report = with_source(ctx, &args.store, |s| {
        crate::insights::stats::stats(s, &query)
    })?;
    if args.store.json {
        print_json(&report)?;
    } else {
        write_stdout(&render_stats(&report, args.trend))?;
    }
    Ok(exit::OK)
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn signed_pts(d: Option<f64>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:+.1} pts", d * 100.0))
}

fn signed_secs(d: Option<f64>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d < 0.0 => format!("-{}", opt_duration(Some(-d))),
        Some(d) => format!("+{}", opt_duration(Some(d))),
    }
}

fn render_stats(r: &StatsReport, trend: bool) -> String {
    let mut out = String::new();
    let span = match r.window.from {
        Some(from) => format!(
            "{} → {} (last {})",
            local_time(from),
            local_time(r.window.to),
            r.window.since
        ),
        None => "all time".to_owned(),
    };
    out.push_str(&format!("{} {} — {span}\n", r.source, r.path));
    if let Some(t) = &r.task {
        out.push_str(&format!("task {t}\n"));
    }
    out.push('\n');
    let mut rows = vec![
        vec![
            "runs".to_owned(),
            r.runs.total.to_string(),
            pct(r.runs.success_rate),
            r.runs.failed.to_string(),
            opt_duration(r.runs.p50_seconds),
            opt_duration(r.runs.p90_seconds),
            opt_duration(r.runs.max_seconds),
            r.runs.disk_bytes.map_or_else(|| "-".into(), human_size),
        ],
        vec![
            "tasks".to_owned(),
            r.tasks.total.to_string(),
            pct(r.tasks.success_rate),
            r.tasks.failed.to_string(),
            opt_duration(r.tasks.p50_seconds),
            opt_duration(r.tasks.p90_seconds),
            opt_duration(r.tasks.max_seconds),
            String::new(),
        ],
    ];
    if let Some(p) = &r.previous {
        rows.push(vec![
            "runs before".to_owned(),
            p.runs.total.to_string(),
            pct(p.runs.success_rate),
            p.runs.failed.to_string(),
            opt_duration(p.runs.p50_seconds),
            opt_duration(p.runs.p90_seconds),
            opt_duration(p.runs.max_seconds),
            p.runs.disk_bytes.map_or_else(|| "-".into(), human_size),
        ]);
    }
    out.push_str(&table(
        &[
            "", "COUNT", "SUCCESS", "FAILED", "P50", "P90", "MAX", "DISK",
        ],
        rows,
        &[L, R, R, R, R, R, R, R],
    ));
    if let Some(t) = &r.trend {
        out.push_str(&format!(
            "trend: runs {:+}, success {}, p50 {}; tasks {:+}, success {}, p50 {}\n",
            t.runs_delta,
            signed_pts(t.success_rate_delta),
            signed_secs(t.p50_delta_seconds),
            t.executions_delta,
            signed_pts(t.task_success_rate_delta),
            signed_secs(t.task_p50_delta_seconds),
        ));
    }
    if r.per_task.is_empty() {
        out.push_str("\nno task ran in this window\n");
        return out;
    }
    out.push('\n');
    let mut headers = vec![
        "PROJECT", "TASK", "RUNS", "SUCCESS", "FAILED", "P50", "P90", "MAX", "LAST", "LAST RUN",
    ];
    headers.push(if trend { "P50 OVER TIME" } else { "P50 TREND" });
    let rows = r
        .per_task
        .iter()
        .map(|t| {
            let last = if t.last_started_at > 0 {
                local_time(t.last_started_at)
            } else {
                "-".to_owned()
            };
            let tail = match (&t.series, &t.trend) {
                (Some(series), _) => {
                    let values: Vec<Option<f64>> = series.iter().map(|p| p.p50_seconds).collect();
                    sparkline(&values)
                }
                (None, Some(tr)) => signed_secs(tr.p50_delta_seconds),
                (None, None) => "-".to_owned(),
            };
            vec![
                t.project.clone(),
                t.task.clone(),
                t.figures.total.to_string(),
                pct(t.figures.success_rate),
                t.figures.failed.to_string(),
                opt_duration(t.figures.p50_seconds),
                opt_duration(t.figures.p90_seconds),
                opt_duration(t.figures.max_seconds),
                status_text(t.last_status).to_owned(),
                last,
                tail,
            ]
        })
        .collect();
    out.push_str(&table(&headers, rows, &[L, L, R, R, R, R, R, R, L, L, L]));
    out
}

/// `compare RUN_A RUN_B`.
pub(super) fn compare(ctx: &Context, args: CompareArgs) -> CmdResult {
    let report = with_source(ctx, &args.store, |s| {
        crate::insights::compare::compare(s, &args.a, &args.b, args.diff)
    })?;
    if args.store.json {
        print_json(&report)?;
    } else {
        write_stdout(&render_compare(&report))?;
    }
    Ok(exit::OK)
}

fn render_compare(r: &CompareReport) -> String {
    let mut out = String::new();
    for (label, run) in [("A", &r.a), ("B", &r.b)] {
        out.push_str(&format!(
            "{label}  {}  {}  {}  {}\n",
            run.run,
            local_time(run.started_at),
            run.status,
            opt_duration(run.duration_seconds)
        ));
    }
    out.push('\n');
    let side = |t: &crate::insights::compare::TaskSide| {
        format!(
            "{} ({}, exit {})",
            t.task,
            status_text(t.status),
            t.exit_code.map_or_else(|| "-".into(), |c| c.to_string())
        )
    };
    for t in &r.added {
        out.push_str(&format!("+ {}\n", side(t)));
    }
    for t in &r.removed {
        out.push_str(&format!("- {}\n", side(t)));
    }
    if !r.changed.is_empty() {
        let arrow = |a: String, b: String, changed: bool| {
            if changed { format!("{a} → {b}") } else { a }
        };
        let rows = r
            .changed
            .iter()
            .map(|c| {
                let code = |c: Option<i32>| c.map_or_else(|| "-".into(), |c| c.to_string());
                let duration = match c.duration_delta_seconds {
                    Some(d) if c.duration_changed => format!(
                        "{} → {} ({})",
                        opt_duration(c.a.duration_seconds),
                        opt_duration(c.b.duration_seconds),
                        signed_secs(Some(d))
                    ),
                    _ => opt_duration(c.b.duration_seconds),
                };
                vec![
                    c.task.clone(),
                    arrow(
                        status_text(c.a.status).into(),
                        status_text(c.b.status).into(),
                        c.status_changed,
                    ),
                    arrow(
                        code(c.a.exit_code),
                        code(c.b.exit_code),
                        c.exit_code_changed,
                    ),
                    duration,
                    arrow(
                        c.a.script_hash.clone().unwrap_or_else(|| "-".into()),
                        c.b.script_hash.clone().unwrap_or_else(|| "-".into()),
                        c.script_changed,
                    ),
                ]
            })
            .collect();
        out.push_str(&table(
            &["TASK", "STATUS", "EXIT", "DURATION", "SCRIPT"],
            rows,
            &[L, L, L, L, L],
        ));
    }
    out.push_str(&format!(
        "{} added, {} removed, {} changed, {} unchanged (durations change beyond {}s and {:.0}%)\n",
        r.added.len(),
        r.removed.len(),
        r.changed.len(),
        r.unchanged.len(),
        r.noise.min_seconds,
        r.noise.min_ratio * 100.0
    ));
    for c in &r.changed {
        if let Some(d) = &c.diff {
            out.push('\n');
            out.push_str(d);
        } else if c.script_changed {
            out.push_str(&format!(
                "{}: script changed{}\n",
                c.task,
                if r.changed.iter().any(|c| c.diff.is_some()) {
                    " (a cached script is gone: no diff)"
                } else {
                    " (--diff shows how)"
                }
            ));
        }
    }
    out
}

/// `flaky`.
pub(super) fn flaky(ctx: &Context, args: FlakyArgs) -> CmdResult {
    let window = Window::parse(&args.since, now()).map_err(failure)?;
    let report = with_source(ctx, &args.store, |s| {
        crate::insights::flaky::flaky(s, args.project.as_deref(), &window)
    })?;
    if args.store.json {
        print_json(&report)?;
    } else {
        write_stdout(&render_flaky(&report))?;
    }
    Ok(exit::OK)
}

fn render_flaky(r: &FlakyReport) -> String {
    if r.tasks.is_empty() {
        return format!(
            "no flaky task in {} (last {}): none both failed and succeeded on one script\n",
            r.source, r.window.since
        );
    }
    let rows = r
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.project.clone(),
                t.task.clone(),
                t.script_hash.clone().unwrap_or_else(|| "-".into()),
                t.executions.to_string(),
                t.failed.to_string(),
                t.flips.to_string(),
                format!("{:.0}%", t.flip_rate * 100.0),
                status_text(t.last_status).to_owned(),
                t.runs
                    .iter()
                    .take(3)
                    .map(|f| format!("{} {}", f.run, status_text(f.status)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    table(
        &[
            "PROJECT",
            "TASK",
            "SCRIPT",
            "RUNS",
            "FAILED",
            "FLIPS",
            "FLIP RATE",
            "LAST",
            "FLIPPED IN (NEWEST)",
        ],
        rows,
        &[L, L, L, R, R, R, R, L, L],
    )
}
