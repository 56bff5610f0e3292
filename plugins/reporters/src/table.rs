//! The `table` reporter: aligned plain text for a terminal.
//!
//! Times are local, sizes human. Statuses are coloured on a colour terminal
//! only (see [`crate::color`]; the `color` setting overrides): the output is
//! often piped or redirected, and then carries no escapes. The status text is
//! always there, colour only underlines it.

use std::collections::BTreeSet;
use std::fmt::{Display, Write};

use chrono::{Local, TimeZone};
use otto_hooks_plugin_api::report::{
    CleanPlan, ConfigReport, PluginList, RunInfo, RunList, RunSummary, TaskInfo, UsageReport,
};
use otto_hooks_plugin_api::{
    Document, DocumentKind, Plugin, PluginConfig, PluginError, Reporter, RunStatus, TaskStatus,
};
use serde::Deserialize;

use crate::color::{self, Paint, When};

use crate::format::{
    attributes, count, entry_status, human_age, human_duration, human_size, info_status, opt_size,
    time_in,
};
use crate::grid::{Align, L, R, lay_out, lines_to_text, table};

/// Renders documents as aligned plain-text tables, with local times.
///
/// One setting: `color = "auto"` (the default: by `NO_COLOR`,
/// `CLICOLOR_FORCE` and whether stdout is a terminal), `"always"` or
/// `"never"`.
#[derive(Debug)]
pub struct TableReporter {
    color: When,
}

/// The `table` reporter's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// `auto`, `always` or `never`.
    color: Option<String>,
}

impl Plugin for TableReporter {
    const NAME: &'static str = "table";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Aligned plain-text tables for a terminal, with local times and human sizes.";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: Settings = config.parse()?;
        let color = match settings.color.as_deref() {
            None => When::Auto,
            Some(text) => When::parse(text).ok_or_else(|| {
                PluginError::invalid(format!(
                    "settings of `{}`: `color` must be \"auto\", \"always\" or \"never\", not {text:?}",
                    config.instance()
                ))
            })?,
        };
        Ok(TableReporter { color })
    }
}

impl Reporter for TableReporter {
    fn render(&self, doc: &Document<'_>) -> Result<String, PluginError> {
        use std::io::IsTerminal;
        Text {
            tz: Local,
            now: crate::format::now(),
            // The host writes the text to stdout.
            color: color::enabled_here(self.color, std::io::stdout().is_terminal()),
        }
        .render(doc)
    }
}

/// The renderer, with its time zone and reference time as parameters so
/// that tests can fix both.
pub(crate) struct Text<Tz> {
    /// The time zone times are shown in.
    pub tz: Tz,
    /// The reference time for ages, epoch seconds.
    pub now: i64,
    /// Whether statuses are coloured.
    pub color: bool,
}

impl<Tz: TimeZone> Text<Tz>
where
    Tz::Offset: Display,
{
    pub fn render(&self, doc: &Document<'_>) -> Result<String, PluginError> {
        Ok(match doc.kind {
            DocumentKind::RunList => self.run_list(&crate::parse(doc)?),
            DocumentKind::RunInfo => self.run_info(&crate::parse(doc)?),
            DocumentKind::Usage => self.usage(&crate::parse(doc)?),
            DocumentKind::CleanPlan => clean_plan(&crate::parse(doc)?, &|t| self.time(t), self.now),
            DocumentKind::RunSummary => run_summary(&crate::parse(doc)?, self.color),
            DocumentKind::PluginList => plugin_list(&crate::parse(doc)?),
            DocumentKind::Config => config(&crate::parse(doc)?),
            DocumentKind::Unknown => crate::pretty_json(doc)?,
        })
    }

    fn time(&self, timestamp: i64) -> String {
        time_in(timestamp, &self.tz)
    }

    fn run_list(&self, runs: &RunList) -> String {
        if runs.is_empty() {
            return "No runs found: none recorded yet, or none match the filter.\n".to_owned();
        }
        // The ID names an otto run with its project; a run the hooks
        // recorded is named by its id alone, so its project gets a column.
        let project_column = runs.iter().any(|r| !run_id(r).starts_with(&r.project));
        let rows = runs
            .iter()
            .map(|r| {
                let mut row = vec![run_id(r)];
                if project_column {
                    row.push(r.project.clone());
                }
                row.extend([
                    self.time(r.timestamp),
                    r.tasks.to_string(),
                    run_status(self.color, r.status, entry_status(r)),
                    opt_size(r.size_bytes),
                ]);
                row
            })
            .collect();
        if project_column {
            table(
                &["ID", "PROJECT", "TIMESTAMP", "TASKS", "STATUS", "SIZE"],
                rows,
                &[L, L, L, R, L, R],
            )
        } else {
            table(
                &["ID", "TIMESTAMP", "TASKS", "STATUS", "SIZE"],
                rows,
                &[L, L, R, L, R],
            )
        }
    }

    fn run_info(&self, info: &RunInfo) -> String {
        let mut fields = vec![
            (
                "Run".to_owned(),
                if info.id.is_empty() {
                    info.run.clone()
                } else {
                    info.id.clone()
                },
            ),
            ("Project".to_owned(), info.project.clone()),
            ("Path".to_owned(), info.path.clone()),
            (
                "Status".to_owned(),
                format!(
                    "{} ({})",
                    run_status(self.color, info.status, info_status(info)),
                    info.status_source
                ),
            ),
            ("Started".to_owned(), self.time(info.timestamp)),
        ];
        if let Some(d) = info.duration_seconds {
            fields.push(("Duration".to_owned(), human_duration(d)));
        }
        fields.push(("Size".to_owned(), opt_size(info.size_bytes)));
        fields.extend(attributes(&info.attributes).map(|(k, v)| (label(k), v)));

        let width = fields
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            + 1;
        let mut out = String::new();
        for (key, value) in &fields {
            let key = format!("{key}:");
            let _ = writeln!(out, "{key:<width$} {value}");
        }
        out.push('\n');
        out.push_str(&tasks(&info.tasks, self.color));
        out
    }

    fn usage(&self, usage: &UsageReport) -> String {
        // Apparent size (what the files hold, `du -sb`) and, beside it, what
        // they take on disk (`du -sB1`): small files take whole blocks.
        let mut out = match usage.total_allocated_bytes {
            Some(a) => format!(
                "Disk usage: {} ({} on disk)\n\n",
                human_size(usage.total_bytes),
                human_size(a)
            ),
            None => format!("Disk usage: {}\n\n", human_size(usage.total_bytes)),
        };
        if usage.projects.is_empty() {
            out.push_str("No runs recorded.\n");
        } else {
            out.push_str("By project:\n");
            let on_disk = usage.projects.iter().any(|p| p.allocated_bytes.is_some());
            let digits = usage
                .projects
                .iter()
                .map(|p| p.runs.to_string().len())
                .max()
                .unwrap_or(1);
            let rows: Vec<Vec<String>> = usage
                .projects
                .iter()
                .map(|p| {
                    let oldest = p.oldest_timestamp.map_or_else(
                        || "no runs".to_owned(),
                        |t| format!("oldest {} ago", human_age(self.now - t)),
                    );
                    let mut row = vec![p.project.clone(), human_size(p.bytes)];
                    if on_disk {
                        row.push(p.allocated_bytes.map_or_else(
                            || "(on disk: -)".to_owned(),
                            |a| format!("({} on disk)", human_size(a)),
                        ));
                    }
                    row.extend([
                        format!(
                            "{:>digits$} {}",
                            p.runs,
                            if p.runs == 1 { "run" } else { "runs" }
                        ),
                        oldest,
                        format!("cache {}", human_size(p.cache_bytes)),
                    ]);
                    row
                })
                .collect();
            let align: &[_] = if on_disk {
                &[L, R, R, L, L, L]
            } else {
                &[L, R, L, L, L]
            };
            out.push_str(&lines_to_text(&lay_out(&rows, align, "  ")));
        }
        if !usage.largest_runs.is_empty() {
            out.push_str("\nLargest runs:\n");
            let rows: Vec<Vec<String>> = usage
                .largest_runs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    vec![
                        format!("{}.", i + 1),
                        format!("{}/{}", r.project, r.run),
                        human_size(r.size_bytes),
                    ]
                })
                .collect();
            out.push_str(&lines_to_text(&lay_out(&rows, &[R, L, R], "  ")));
        }
        match usage.orphaned_cache_bytes {
            0 => out.push_str("\nOrphaned cache: none\n"),
            b => {
                let _ = writeln!(out, "\nOrphaned cache: {} (no run uses it)", human_size(b));
            }
        }
        if usage.trash_entries > 0 {
            let _ = writeln!(
                out,
                "\nTrash: {} in {} left by an interrupted clean; the next `otto-hooks clean` finishes deleting {}",
                human_size(usage.trash_bytes),
                count(usage.trash_entries, "entry", "entries"),
                if usage.trash_entries == 1 {
                    "it"
                } else {
                    "them"
                },
            );
        }
        if !usage.recommendations.is_empty() {
            out.push_str("\nRecommendations:\n");
            for r in &usage.recommendations {
                let _ = writeln!(out, "  • {}", r.message);
                if let Some(command) = &r.command {
                    let _ = writeln!(out, "    {command}");
                }
            }
        }
        out
    }
}

/// A run's age for plan lines: `127 days`, `1 day`, `5h`, `12m`.
fn age(seconds: i64) -> String {
    let days = seconds.max(0) / 86_400;
    match days {
        0 => human_age(seconds),
        _ => count(days as u64, "day", "days"),
    }
}

/// The run's name as `info` accepts it: the document's `id`, else (a
/// document from before it) `<project>/<run>`.
fn run_id(r: &otto_hooks_plugin_api::report::RunEntry) -> String {
    if r.id.is_empty() {
        format!("{}/{}", r.project, r.run)
    } else {
        r.id.clone()
    }
}

/// `ottofile` → `Ottofile`, `exit_code` → `Exit code`.
fn label(key: &str) -> String {
    let key = key.replace('_', " ");
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => key,
    }
}

/// `text` (a run's status) in its status's colour, when `color`.
fn run_status(color: bool, status: RunStatus, text: String) -> String {
    let paint = match status {
        RunStatus::Success => Paint::Green,
        RunStatus::Failed => Paint::Red,
        RunStatus::Running => Paint::Cyan,
        RunStatus::Interrupted | RunStatus::Stopped => Paint::Yellow,
        _ => Paint::Dim,
    };
    if color { paint.wrap(&text) } else { text }
}

/// `text` (a task's status) in its status's colour, when `color`.
fn task_status(color: bool, status: TaskStatus, text: String) -> String {
    let paint = match status {
        TaskStatus::Success => Paint::Green,
        TaskStatus::Failed => Paint::Red,
        TaskStatus::Running => Paint::Cyan,
        _ => Paint::Dim,
    };
    if color { paint.wrap(&text) } else { text }
}

/// The `Tasks:` section of a run: one line per task, its files beneath.
fn tasks(tasks: &[TaskInfo], color: bool) -> String {
    if tasks.is_empty() {
        return "Tasks: none recorded\n".to_owned();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                task_status(color, t.status, t.status.to_string()),
                t.duration_seconds
                    .map_or_else(String::new, |d| format!("({})", human_duration(d))),
                match t.exit_code {
                    Some(code) if code != 0 => format!("exit {code}"),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    let mut out = format!("Tasks ({}):\n", tasks.len());
    for (line, task) in lay_out(&rows, &[L, L, R, L], "  ").iter().zip(tasks) {
        let _ = writeln!(out, "{line}");
        let files = [
            ("stdout", &task.stdout),
            ("stderr", &task.stderr),
            ("script", &task.script),
        ];
        for (what, path) in files {
            let Some(path) = path else { continue };
            match (&task.script_target, what) {
                (Some(target), "script") => {
                    let _ = writeln!(out, "    {what}  {path} -> {target}");
                }
                _ => {
                    let _ = writeln!(out, "    {what}  {path}");
                }
            }
        }
    }
    out
}

/// A clean plan, or what a clean did: the groups, the runs deleted (or
/// to delete), held by a guard, kept and refused, each run with its
/// start (`time`: local time) and age (at `now`); the cache and history
/// parts.
fn clean_plan(plan: &CleanPlan, time: &dyn Fn(i64) -> String, now: i64) -> String {
    let projects: BTreeSet<&str> = plan
        .groups
        .iter()
        .map(|g| g.project.as_str())
        .chain(
            plan.deleted
                .iter()
                .chain(&plan.kept)
                .map(|r| r.project.as_str()),
        )
        .chain(plan.refused.iter().map(|r| r.project.as_str()))
        .collect();
    // Run ids are unique within a project only: name the project when the
    // plan spans several.
    let run = |project: &str, run: &str| {
        if projects.len() > 1 {
            format!("{project}/{run}")
        } else {
            run.to_owned()
        }
    };
    let mut sections = Vec::new();

    if !plan.groups.is_empty() {
        let any_held = plan.groups.iter().any(|g| g.held > 0);
        let rows = plan
            .groups
            .iter()
            .map(|g| {
                let mut row = vec![
                    g.project.clone(),
                    g.policy.clone().unwrap_or_else(|| "-".to_owned()),
                    format!("{} ({})", g.kept, human_size(g.kept_bytes)),
                    format!("{} ({})", g.deleted, human_size(g.deleted_bytes)),
                ];
                if any_held {
                    row.push(if g.held == 0 {
                        "-".to_owned()
                    } else {
                        format!("{} ({})", g.held, human_size(g.held_bytes))
                    });
                }
                row
            })
            .collect();
        let headers: &[&str] = match (plan.dry_run, any_held) {
            (true, false) => &["PROJECT", "POLICY", "KEEP", "DELETE"],
            (true, true) => &["PROJECT", "POLICY", "KEEP", "DELETE", "HELD BY GUARD"],
            (false, false) => &["PROJECT", "POLICY", "KEPT", "DELETED"],
            (false, true) => &["PROJECT", "POLICY", "KEPT", "DELETED", "HELD BY GUARD"],
        };
        sections.push(table(headers, rows, &[]));
    }

    let planned = |title: &str, runs: &[otto_hooks_plugin_api::report::PlannedRun]| {
        // Dates only when the document has them (a host before they
        // were added sends none).
        let dated = runs.iter().any(|r| r.timestamp.is_some());
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                let mut row = vec![run(&r.project, &r.run)];
                if dated {
                    row.push(r.timestamp.map_or_else(String::new, time));
                    row.push(
                        r.timestamp
                            .map_or_else(String::new, |t| format!("({})", age(now - t))),
                    );
                }
                row.push(opt_size(r.size_bytes));
                row.push(r.reasons.join(", "));
                if let Some(held) = &r.held {
                    row.push(format!("— {held}"));
                }
                row
            })
            .collect();
        let align: &[Align] = if dated {
            &[L, L, R, R, L, L]
        } else {
            &[L, R, L, L]
        };
        format!(
            "{title} ({}):\n{}",
            runs.len(),
            lines_to_text(&lay_out(&rows, align, "  "))
        )
    };
    if !plan.deleted.is_empty() {
        let title = if plan.dry_run {
            "Would delete"
        } else {
            "Deleted"
        };
        sections.push(planned(title, &plan.deleted));
    }
    if !plan.held.is_empty() {
        sections.push(planned("Held by the guard", &plan.held));
    }
    if !plan.kept.is_empty() {
        sections.push(planned("Kept", &plan.kept));
    }
    if !plan.refused.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .refused
            .iter()
            .map(|r| vec![run(&r.project, &r.run), r.error.clone()])
            .collect();
        sections.push(format!(
            "Refused ({}):\n{}",
            plan.refused.len(),
            lines_to_text(&lay_out(&rows, &[], "  "))
        ));
    }

    let mut cache_bytes = 0;
    if let Some(cache) = &plan.cache {
        let listed: u64 = cache.deleted.iter().map(|f| f.size_bytes).sum();
        cache_bytes = if plan.dry_run {
            listed
        } else {
            cache.bytes_freed
        };
        if cache.deleted.is_empty() {
            sections.push("Cache: nothing to delete\n".to_owned());
        } else {
            let verb = if plan.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            let files = count(cache.deleted.len() as u64, "file", "files");
            let rows: Vec<Vec<String>> = cache
                .deleted
                .iter()
                .map(|f| vec![f.project.clone(), f.file.clone(), human_size(f.size_bytes)])
                .collect();
            sections.push(format!(
                "Cache: {verb} {files} ({})\n{}",
                human_size(listed),
                lines_to_text(&lay_out(&rows, &[L, L, R], "  "))
            ));
        }
        sections.push(cache_notes(cache));
    }

    if let Some(history) = &plan.history {
        sections.push(history_section(history, plan.dry_run));
    }
    for db in &plan.otto_db {
        sections.push(otto_db_section(db, plan.dry_run));
    }

    let runs_bytes = if plan.dry_run {
        plan.deleted.iter().filter_map(|r| r.size_bytes).sum()
    } else {
        plan.bytes_freed
    };
    let history_runs = plan.history.as_ref().map_or(0, |h| h.runs);
    let history_only = plan.history.is_some() && plan.deleted.is_empty() && plan.cache.is_none();
    let mut last = String::new();
    let group_deletions: u64 = plan.groups.iter().map(|g| g.deleted).sum();
    if plan.deleted.is_empty()
        && group_deletions == 0
        && plan.cache.as_ref().is_none_or(|c| c.deleted.is_empty())
        && history_runs == 0
    {
        last.push_str("Nothing to delete.\n");
    } else if history_only && plan.dry_run {
        // The database's space is only known once the pages are given back.
        return sections.join("\n");
    }
    let history_bytes = plan.history.as_ref().map_or(0, |h| h.bytes_freed);
    let verb = if plan.dry_run { "Would free" } else { "Freed" };
    let _ = write!(
        last,
        "{verb} {}",
        human_size(runs_bytes + cache_bytes + history_bytes)
    );
    if plan.cache.is_some() && cache_bytes > 0 {
        let _ = write!(
            last,
            " (runs {}, cache {})",
            human_size(runs_bytes),
            human_size(cache_bytes)
        );
    }
    last.push('\n');
    let held: u64 = plan.groups.iter().map(|g| g.held).sum();
    if held > 0 {
        let bytes: u64 = plan.groups.iter().map(|g| g.held_bytes).sum();
        let _ = write!(
            last,
            "The guard holds {} ({})",
            count(held, "run", "runs"),
            human_size(bytes)
        );
        match &plan.allow {
            Some(allow) => {
                let _ = writeln!(last, "; to delete them too, pass {allow}");
            }
            None => last.push_str(".\n"),
        }
    }
    sections.push(last);
    sections.join("\n")
}

/// otto's otto.db: the rows that went (or would go) with the runs, and the
/// rows whose run directory is gone.
fn otto_db_section(db: &otto_hooks_plugin_api::report::OttoDbRows, dry_run: bool) -> String {
    let row_line = |r: &otto_hooks_plugin_api::report::OttoDbRow| {
        let place = match (&r.project, &r.run, &r.run_dir) {
            (Some(p), Some(run), _) => format!("{p}/{run}"),
            (_, _, Some(dir)) => dir.clone(),
            _ => "?".to_owned(),
        };
        format!(
            "  row {}  {place}  ({})\n",
            r.id,
            count(r.tasks, "task", "tasks")
        )
    };
    let mut out = format!("otto.db ({}): ", db.path);
    if let Some(why) = &db.not_written {
        let _ = writeln!(out, "not written: {why}");
        return out;
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    if db.rows.is_empty() {
        out.push_str("no row goes with the runs\n");
    } else {
        let _ = writeln!(
            out,
            "{verb} {} with the runs",
            count(db.rows.len() as u64, "row", "rows")
        );
        for r in &db.rows {
            out.push_str(&row_line(r));
        }
    }
    if !db.orphan_rows.is_empty() {
        let n = count(db.orphan_rows.len() as u64, "row", "rows");
        if db.prune_orphans {
            let _ = writeln!(out, "{verb} {n} whose run directory is gone:");
        } else {
            let _ = writeln!(
                out,
                "{n} whose run directory is gone (--prune-rows deletes them):"
            );
        }
        for r in &db.orphan_rows {
            out.push_str(&row_line(r));
        }
    }
    out
}

/// History retention: what went (or would go) from a run-history database.
fn history_section(
    history: &otto_hooks_plugin_api::report::HistoryExpiry,
    dry_run: bool,
) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut out = format!(
        "History ({}, retention {}): ",
        history.storage,
        count(u64::from(history.retention_days), "day", "days")
    );
    if history.runs == 0 {
        let _ = writeln!(out, "no run ended before {}", history.cutoff);
        return out;
    }
    let _ = writeln!(
        out,
        "{verb} {} and {} that ended before {}",
        count(history.runs, "run", "runs"),
        count(history.events, "event", "events"),
        history.cutoff
    );
    const SHOWN: usize = 10;
    for id in history.run_ids.iter().take(SHOWN) {
        let _ = writeln!(out, "  {id}");
    }
    if history.run_ids.len() > SHOWN {
        let _ = writeln!(out, "  … and {} more", history.run_ids.len() - SHOWN);
    }
    if dry_run {
        out.push_str(
            "The database gives the space back after the deletion (incremental vacuum).\n",
        );
    } else {
        let _ = writeln!(
            out,
            "The database gave back {}.",
            human_size(history.bytes_freed)
        );
    }
    out
}

/// What the cache survey found besides the orphans: files kept, and links
/// that dangle or point elsewhere (the first few of each listed).
fn cache_notes(cache: &otto_hooks_plugin_api::report::CachePlan) -> String {
    let mut out = format!(
        "Cache: {} in use",
        count(cache.referenced_files, "file", "files")
    );
    if cache.recent_files > 0 {
        let _ = write!(
            out,
            "; {} ({}) unreferenced but younger than the {} grace period, kept",
            count(cache.recent_files, "file", "files"),
            human_size(cache.recent_bytes),
            human_duration(cache.grace_seconds as f64)
        );
    }
    out.push('\n');
    const SHOWN: usize = 10;
    for (links, what) in [
        (&cache.dangling, "dangling (target missing)"),
        (&cache.outside, "pointing outside the project's .cache"),
    ] {
        if links.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {what}:",
            count(links.len() as u64, "script link", "script links")
        );
        for l in links.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "  {}/{}/tasks/{}/{} -> {}",
                l.project, l.run, l.task, l.link, l.target
            );
        }
        if links.len() > SHOWN {
            let _ = writeln!(out, "  … and {} more (see --json)", links.len() - SHOWN);
        }
    }
    out
}

fn run_summary(s: &RunSummary, color: bool) -> String {
    let mut out = format!(
        "run {} {}",
        s.run,
        run_status(color, s.status, s.status.to_string())
    );
    if let Some(d) = s.duration_seconds {
        let _ = write!(out, " in {}", human_duration(d));
    }
    let units: Vec<String> = [
        (s.completed_units, "completed"),
        (s.failed_units, "failed"),
        (s.blocked_units, "blocked"),
    ]
    .into_iter()
    .filter_map(|(n, what)| n.map(|n| format!("{n} {what}")))
    .collect();
    if !units.is_empty() {
        let _ = write!(out, " — {}", units.join(", "));
    }
    out.push('\n');
    if let Some(error) = &s.error {
        let _ = writeln!(out, "error: {error}");
    }
    for warning in &s.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

fn plugin_list(plugins: &PluginList) -> String {
    if plugins.is_empty() {
        return "No plugins found.\n".to_owned();
    }
    let rows = plugins
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.kind.to_string(),
                p.version.clone(),
                p.abi.clone(),
                p.source.clone(),
                p.state.clone(),
            ]
        })
        .collect();
    table(
        &["NAME", "KIND", "VERSION", "ABI", "SOURCE", "STATE"],
        rows,
        &[],
    )
}

fn config(report: &ConfigReport) -> String {
    let mut out = String::new();
    if report.files.is_empty() {
        out.push_str("Files: none (built-in defaults only)\n");
    } else {
        out.push_str("Files:\n");
        for file in &report.files {
            let _ = writeln!(out, "  {file}");
        }
    }
    out.push('\n');
    if report.values.is_empty() {
        out.push_str("No settings.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = report
        .values
        .iter()
        .map(|v| {
            vec![
                v.key.clone(),
                format!("= {}", v.value),
                format!("# {}", v.source),
            ]
        })
        .collect();
    out.push_str(&lines_to_text(&lay_out(&rows, &[], "")));
    out
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use otto_hooks_plugin_api::RunStatus;
    use otto_hooks_plugin_api::report::{GroupPlan, PlannedRun, RunEntry};

    use super::*;

    fn text() -> Text<FixedOffset> {
        Text {
            tz: FixedOffset::east_opt(3600).expect("valid offset"),
            now: 1_700_000_000,
            color: false,
        }
    }

    fn render(kind: DocumentKind, json: &str) -> String {
        text().render(&Document { kind, json }).expect("renders")
    }

    #[test]
    fn run_list_uses_the_time_zone_given() {
        let runs = vec![RunEntry {
            id: "web-3f2a/1700000000".into(),
            project: "web-3f2a".into(),
            run: "1700000000".into(),
            timestamp: 1_700_000_000,
            started_at: "2023-11-14T22:13:20Z".into(),
            tasks: 12,
            status: RunStatus::Success,
            status_source: None,
            status_guessed: false,
            size_bytes: Some(45_200_000),
            allocated_bytes: None,
            path: "/home/u/.otto/web-3f2a/1700000000".into(),
        }];
        let json = serde_json::to_string(&runs).expect("serialises");
        let header = "ID                   TIMESTAMP            TASKS  STATUS      SIZE";
        let row = "web-3f2a/1700000000  2023-11-14 23:13:20     12  success  45.2 MB";
        let rule = "─".repeat(header.chars().count());
        assert_eq!(
            render(DocumentKind::RunList, &json),
            format!("{header}\n{rule}\n{row}\n")
        );
    }

    #[test]
    fn statuses_are_coloured_only_when_asked_and_the_text_stays_aligned() {
        let entry = |run: &str, status| RunEntry {
            id: format!("web/{run}"),
            status_guessed: false,
            project: "web".into(),
            run: run.into(),
            timestamp: 1_700_000_000,
            started_at: "2023-11-14T22:13:20Z".into(),
            tasks: 1,
            status,
            status_source: None,
            size_bytes: Some(1000),
            allocated_bytes: None,
            path: format!("/home/u/.otto/web/{run}"),
        };
        let runs = vec![
            entry("1", RunStatus::Success),
            entry("2", RunStatus::Failed),
            entry("3", RunStatus::Running),
            entry("4", RunStatus::Interrupted),
            entry("5", RunStatus::Unknown),
        ];
        let json = serde_json::to_string(&runs).expect("serialises");
        let doc = Document {
            kind: DocumentKind::RunList,
            json: &json,
        };
        let plain = text().render(&doc).expect("renders");
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = Text {
            color: true,
            ..text()
        }
        .render(&doc)
        .expect("renders");
        for (status, code) in [
            ("success", "32"),
            ("failed", "31"),
            ("running", "36"),
            ("interrupted", "33"),
            ("unknown", "2"),
        ] {
            assert!(
                coloured.contains(&format!("\x1b[{code}m{status}\x1b[0m")),
                "{status}: {coloured:?}"
            );
        }
        // Without its escapes, the coloured table is the plain one.
        let stripped = coloured
            .split('\x1b')
            .enumerate()
            .map(|(i, piece)| {
                if i == 0 {
                    piece
                } else {
                    &piece[piece.find('m').expect("SGR") + 1..]
                }
            })
            .collect::<String>();
        assert_eq!(stripped, plain);
    }

    #[test]
    fn the_color_setting_is_checked() {
        let config = |settings: &str| {
            PluginConfig::from_toml("reporter.table", settings, std::path::Path::new("/tmp"))
                .expect("valid TOML")
        };
        assert!(TableReporter::new(&config("color = \"never\"")).is_ok());
        let bad = TableReporter::new(&config("color = \"sometimes\"")).expect_err("refused");
        assert!(bad.to_string().contains("`color` must be"), "{bad}");
        assert!(TableReporter::new(&config("colour = \"never\"")).is_err());
    }

    #[test]
    fn clean_plan_of_one_project_names_runs_bare() {
        let plan = CleanPlan {
            dry_run: true,
            groups: vec![GroupPlan {
                project: "web".into(),
                policy: Some("standard".into()),
                kept: 1,
                kept_bytes: 1000,
                deleted: 1,
                deleted_bytes: 2_000_000,
                ..GroupPlan::default()
            }],
            deleted: vec![PlannedRun {
                project: "web".into(),
                run: "1".into(),
                size_bytes: Some(2_000_000),
                reasons: vec!["older than 30d".into()],
                ..PlannedRun::default()
            }],
            ..CleanPlan::default()
        };
        let json = serde_json::to_string(&plan).expect("serialises");
        let out = render(DocumentKind::CleanPlan, &json);
        assert!(
            out.contains("\nWould delete (1):\n  1  2.0 MB  older than 30d\n"),
            "{out}"
        );
        assert!(out.ends_with("\nWould free 2.0 MB\n"), "{out}");
        assert!(!out.contains("Kept"), "{out}");
    }

    #[test]
    fn a_held_run_shows_its_local_start_age_reasons_and_the_guard_verdict() {
        let held = "held by guard: would delete 75% of web's runs (max_share 50%)";
        let plan = CleanPlan {
            dry_run: true,
            groups: vec![GroupPlan {
                project: "web".into(),
                policy: Some("standard".into()),
                kept: 4,
                kept_bytes: 4_000,
                held: 3,
                held_bytes: 3_000,
                guard: Some(
                    "would delete 3 of 4 runs of web (75%, more than max_share 50%)".into(),
                ),
                allow: Some("--max-share 75".into()),
                ..GroupPlan::default()
            }],
            held: vec![PlannedRun {
                project: "web".into(),
                run: "1689000000".into(),
                size_bytes: Some(1_000),
                reasons: vec!["older than 30d".into()],
                timestamp: Some(1_689_000_000),
                started_at: Some("2023-07-10T14:40:00Z".into()),
                held: Some(held.into()),
            }],
            allow: Some("--max-share 75".into()),
            ..CleanPlan::default()
        };
        let json = serde_json::to_string(&plan).expect("serialises");
        let out = render(DocumentKind::CleanPlan, &json);
        // 1,700,000,000 − 1,689,000,000 s is 127 days; the time is UTC+1.
        assert!(
            out.contains(&format!(
                "\nHeld by the guard (1):\n  1689000000  2023-07-10 15:40:00  (127 days)  1 KB  older than 30d  — {held}\n"
            )),
            "{out}"
        );
        assert!(
            out.contains("HELD BY GUARD") && out.contains("3 (3 KB)"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "The guard holds 3 runs (3 KB); to delete them too, pass --max-share 75\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn history_retention_names_the_runs_and_what_the_database_gave_back() {
        let history = |dry_run| CleanPlan {
            dry_run,
            history: Some(otto_hooks_plugin_api::report::HistoryExpiry {
                storage: "storage.sqlite".into(),
                retention_days: 90,
                cutoff: "2026-08-24T00:00:00Z".into(),
                runs: 2,
                events: 81,
                bytes_freed: if dry_run { 0 } else { 40_960 },
                run_ids: vec!["run_a".into(), "run_b".into()],
            }),
            ..CleanPlan::default()
        };
        let json = serde_json::to_string(&history(true)).expect("serialises");
        let out = render(DocumentKind::CleanPlan, &json);
        assert!(
            out.starts_with("History (storage.sqlite, retention 90 days): would delete 2 runs and 81 events that ended before 2026-08-24T00:00:00Z\n  run_a\n  run_b\n"),
            "{out}"
        );
        assert!(
            !out.contains("Nothing to delete") && !out.contains("Would free"),
            "{out}"
        );
        let json = serde_json::to_string(&history(false)).expect("serialises");
        let out = render(DocumentKind::CleanPlan, &json);
        assert!(
            out.contains("deleted 2 runs") && out.contains("gave back 41 KB"),
            "{out}"
        );
        assert!(out.ends_with("Freed 41 KB\n"), "{out}");
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("exit_code"), "Exit code");
        assert_eq!(label("ottofile"), "Ottofile");
    }
}
