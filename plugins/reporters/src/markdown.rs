//! The `markdown` reporter: GitHub-flavoured Markdown for CI step summaries.
//!
//! Times are UTC (a CI machine's local time means nothing to the reader),
//! sizes human, statuses bold; names, ids and paths are code spans, and
//! every table cell has its pipes escaped.

use std::fmt::Write;

use otto_hooks_plugin_api::report::{
    CleanPlan, ConfigReport, PlannedRun, PluginList, RunInfo, RunList, RunSummary, TaskInfo,
    UsageReport,
};
use otto_hooks_plugin_api::{Document, DocumentKind, Plugin, PluginConfig, PluginError, Reporter};

use crate::format::{
    attributes, count, entry_status, human_duration, human_size, info_status, opt_duration,
    opt_size, rfc3339_as_utc, utc_time,
};
use crate::grid::{Align, L, R};

/// Renders documents as GitHub-flavoured Markdown, for
/// `$GITHUB_STEP_SUMMARY` and the like.
///
/// Takes no settings.
#[derive(Debug)]
pub struct MarkdownReporter;

impl Plugin for MarkdownReporter {
    const NAME: &'static str = "markdown";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "GitHub-flavoured Markdown with UTC times, for CI step summaries.";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        config.expect_empty()?;
        Ok(MarkdownReporter)
    }
}

impl Reporter for MarkdownReporter {
    fn render(&self, doc: &Document<'_>) -> Result<String, PluginError> {
        Ok(match doc.kind {
            DocumentKind::RunList => run_list(&crate::parse(doc)?),
            DocumentKind::RunInfo => run_info(&crate::parse(doc)?),
            DocumentKind::Usage => usage(&crate::parse(doc)?),
            DocumentKind::CleanPlan => clean_plan(&crate::parse(doc)?),
            DocumentKind::RunSummary => run_summary(&crate::parse(doc)?),
            DocumentKind::PluginList => plugin_list(&crate::parse(doc)?),
            DocumentKind::Config => config(&crate::parse(doc)?),
            DocumentKind::Unknown => format!("```json\n{}```\n", crate::pretty_json(doc)?),
        })
    }
}

// ---------------------------------------------------------------------------
// Markdown building blocks
// ---------------------------------------------------------------------------

/// A table cell: pipes escaped, line breaks as `<br>`.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// Free text with Markdown's inline punctuation escaped, on one line.
/// (Pipes are left to [`cell`]; the text never starts a line.)
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span, fenced with more backticks than `s` holds in a row.
fn code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 || s.is_empty() {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

fn bold(s: impl std::fmt::Display) -> String {
    format!("**{s}**")
}

/// A pipe table; every cell goes through [`cell`].
fn table(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&line(&mut headers.iter().map(|h| cell(h))));
    out.push_str(&line(&mut (0..headers.len()).map(|i| match align.get(i) {
        Some(Align::Right) => "---:".to_owned(),
        _ => "---".to_owned(),
    })));
    for row in rows {
        out.push_str(&line(
            &mut (0..headers.len()).map(|i| row.get(i).map_or_else(String::new, |c| cell(c))),
        ));
    }
    out
}

/// A bullet list of `**Label:** value` lines.
fn fields(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("- **{k}:** {v}\n"))
        .collect()
}

// ---------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------

fn run_list(runs: &RunList) -> String {
    let mut out = String::from("### Runs\n\n");
    if runs.is_empty() {
        out.push_str("_No runs found: none recorded yet, or none match the filter._\n");
        return out;
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                code(&r.project),
                code(if r.id.is_empty() { &r.run } else { &r.id }),
                utc_time(r.timestamp),
                r.tasks.to_string(),
                bold(entry_status(r)),
                opt_size(r.size_bytes),
            ]
        })
        .collect();
    out.push_str(&table(
        &["Project", "Run", "Started", "Tasks", "Status", "Size"],
        &[L, L, L, R, L, R],
        &rows,
    ));
    out
}

fn run_info(info: &RunInfo) -> String {
    let id = if info.id.is_empty() {
        &info.run
    } else {
        &info.id
    };
    let mut out = format!("### Run {} — {}\n\n", code(id), bold(info_status(info)));
    let mut list = vec![
        ("Project", code(&info.project)),
        ("Path", code(&info.path)),
        (
            "Status",
            format!(
                "{} ({})",
                bold(info_status(info)),
                text(&info.status_source)
            ),
        ),
        ("Started", utc_time(info.timestamp)),
    ];
    if let Some(ended) = &info.ended_at {
        list.push(("Ended", rfc3339_as_utc(ended)));
    }
    if let Some(d) = info.duration_seconds {
        list.push(("Duration", human_duration(d)));
    }
    list.push(("Size", opt_size(info.size_bytes)));
    out.push_str(&fields(&list));
    let attributes: Vec<Vec<String>> = attributes(&info.attributes)
        .map(|(k, v)| vec![text(k), code(&v)])
        .collect();
    if !attributes.is_empty() {
        out.push_str("\n#### Attributes\n\n");
        out.push_str(&table(&["Attribute", "Value"], &[], &attributes));
    }
    out.push_str(&tasks(&info.tasks));
    out
}

fn tasks(tasks: &[TaskInfo]) -> String {
    let mut out = format!("\n#### Tasks ({})\n\n", tasks.len());
    if tasks.is_empty() {
        out.push_str("_No tasks recorded._\n");
        return out;
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut files = Vec::new();
            for (what, path) in [
                ("stdout", &t.stdout),
                ("stderr", &t.stderr),
                ("script", &t.script),
            ] {
                if let Some(path) = path {
                    files.push(format!("{what}: {}", code(path)));
                }
            }
            if let (Some(target), Some(_)) = (&t.script_target, &t.script) {
                files.push(format!("script target: {}", code(target)));
            }
            vec![
                code(&t.name),
                bold(t.status),
                opt_duration(t.duration_seconds),
                t.exit_code.map_or_else(String::new, |c| c.to_string()),
                files.join("<br>"),
            ]
        })
        .collect();
    out.push_str(&table(
        &["Task", "Status", "Duration", "Exit", "Files"],
        &[L, L, R, R, L],
        &rows,
    ));
    out
}

fn usage(usage: &UsageReport) -> String {
    let mut out = match usage.total_allocated_bytes {
        Some(a) => format!(
            "### Disk usage: {} ({} on disk)\n\n",
            human_size(usage.total_bytes),
            human_size(a)
        ),
        None => format!("### Disk usage: {}\n\n", human_size(usage.total_bytes)),
    };
    if usage.projects.is_empty() {
        out.push_str("_No runs recorded._\n");
    } else {
        let rows: Vec<Vec<String>> = usage
            .projects
            .iter()
            .map(|p| {
                vec![
                    code(&p.project),
                    human_size(p.bytes),
                    p.allocated_bytes.map_or_else(|| "-".to_owned(), human_size),
                    p.runs.to_string(),
                    human_size(p.runs_bytes),
                    human_size(p.cache_bytes),
                    p.oldest_timestamp.map_or_else(|| "-".to_owned(), utc_time),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "Project",
                "Total",
                "On disk",
                "Runs",
                "Runs size",
                "Cache",
                "Oldest run",
            ],
            &[L, R, R, R, R, R, L],
            &rows,
        ));
    }
    if !usage.largest_runs.is_empty() {
        out.push_str("\n#### Largest runs\n\n");
        for (i, r) in usage.largest_runs.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. {} — {}",
                i + 1,
                code(&format!("{}/{}", r.project, r.run)),
                human_size(r.size_bytes)
            );
        }
    }
    let orphaned = match usage.orphaned_cache_bytes {
        0 => "none".to_owned(),
        b => human_size(b),
    };
    let _ = writeln!(out, "\n**Orphaned cache:** {orphaned}");
    if !usage.recommendations.is_empty() {
        out.push_str("\n#### Recommendations\n\n");
        for r in &usage.recommendations {
            let _ = write!(out, "- {}", text(&r.message));
            if let Some(command) = &r.command {
                let _ = write!(out, ": {}", code(command));
            }
            out.push('\n');
        }
    }
    out
}

fn clean_plan(plan: &CleanPlan) -> String {
    let mut out = String::from(if plan.dry_run {
        "### Clean plan (dry run)\n"
    } else {
        "### Clean\n"
    });
    if !plan.groups.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .groups
            .iter()
            .map(|g| {
                vec![
                    code(&g.project),
                    g.policy.as_deref().map_or_else(|| "-".to_owned(), code),
                    format!("{} ({})", g.kept, human_size(g.kept_bytes)),
                    format!("{} ({})", g.deleted, human_size(g.deleted_bytes)),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["Project", "Policy", "Keep", "Delete"],
            &[L, L, R, R],
            &rows,
        ));
    }
    let planned = |title: &str, runs: &[PlannedRun]| {
        // A start column when the document has starts; a guard column when
        // a guard holds the runs.
        let dated = runs.iter().any(|r| r.timestamp.is_some());
        let guarded = runs.iter().any(|r| r.held.is_some());
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                let mut row = vec![code(&r.project), code(&r.run)];
                if dated {
                    row.push(r.timestamp.map_or_else(|| "-".to_owned(), utc_time));
                }
                row.push(opt_size(r.size_bytes));
                row.push(
                    r.reasons
                        .iter()
                        .map(|s| text(s))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                if guarded {
                    row.push(r.held.as_deref().map_or_else(String::new, text));
                }
                row
            })
            .collect();
        let mut headers = vec!["Project", "Run"];
        let mut align = vec![L, L];
        if dated {
            headers.push("Started");
            align.push(L);
        }
        headers.extend(["Size", "Reasons"]);
        align.extend([R, L]);
        if guarded {
            headers.push("Guard");
            align.push(L);
        }
        format!(
            "\n#### {title} ({})\n\n{}",
            runs.len(),
            table(&headers, &align, &rows)
        )
    };
    if !plan.deleted.is_empty() {
        out.push_str(&planned(
            if plan.dry_run {
                "Would delete"
            } else {
                "Deleted"
            },
            &plan.deleted,
        ));
    }
    if !plan.held.is_empty() {
        out.push_str(&planned("Held by the guard", &plan.held));
        if let Some(allow) = &plan.allow {
            let _ = writeln!(out, "\nTo delete the held runs too, pass {}.", code(allow));
        }
    }
    if !plan.kept.is_empty() {
        out.push_str(&planned("Kept", &plan.kept));
    }
    if !plan.refused.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .refused
            .iter()
            .map(|r| vec![code(&r.project), code(&r.run), text(&r.error)])
            .collect();
        let _ = write!(
            out,
            "\n#### Refused ({})\n\n{}",
            plan.refused.len(),
            table(&["Project", "Run", "Error"], &[], &rows)
        );
    }
    let mut cache_bytes = 0;
    if let Some(cache) = &plan.cache {
        let listed: u64 = cache.deleted.iter().map(|f| f.size_bytes).sum();
        cache_bytes = if plan.dry_run {
            listed
        } else {
            cache.bytes_freed
        };
        let verb = if plan.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let _ = write!(
            out,
            "\n#### Cache: {verb} {} ({})\n\n",
            count(cache.deleted.len() as u64, "file", "files"),
            human_size(listed)
        );
        if !cache.deleted.is_empty() {
            let rows: Vec<Vec<String>> = cache
                .deleted
                .iter()
                .map(|f| vec![code(&f.project), code(&f.file), human_size(f.size_bytes)])
                .collect();
            out.push_str(&table(&["Project", "File", "Size"], &[L, L, R], &rows));
        }
        let _ = writeln!(
            out,
            "\n{} in use; {} ({}) unreferenced but younger than the grace period ({}), kept.",
            count(cache.referenced_files, "file", "files"),
            count(cache.recent_files, "file", "files"),
            human_size(cache.recent_bytes),
            human_duration(cache.grace_seconds as f64)
        );
        for (links, what) in [
            (&cache.dangling, "Dangling script links"),
            (&cache.outside, "Script links outside the project's cache"),
        ] {
            if !links.is_empty() {
                let rows: Vec<Vec<String>> = links
                    .iter()
                    .map(|l| {
                        vec![
                            code(&format!(
                                "{}/{}/tasks/{}/{}",
                                l.project, l.run, l.task, l.link
                            )),
                            code(&l.target),
                        ]
                    })
                    .collect();
                let _ = write!(
                    out,
                    "\n#### {what} ({})\n\n{}",
                    links.len(),
                    table(&["Link", "Target"], &[], &rows)
                );
            }
        }
    }
    if let Some(history) = &plan.history {
        let verb = if plan.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let _ = writeln!(
            out,
            "\n#### History: {verb} {} and {}\n\n{} keeps {}; runs that ended before {} go.",
            count(history.runs, "run", "runs"),
            count(history.events, "event", "events"),
            code(&history.storage),
            count(u64::from(history.retention_days), "day", "days"),
            history.cutoff
        );
        if !history.run_ids.is_empty() {
            out.push('\n');
            for id in &history.run_ids {
                let _ = writeln!(out, "- {}", code(id));
            }
        }
    }
    let runs_bytes: u64 = if plan.dry_run {
        plan.deleted.iter().filter_map(|r| r.size_bytes).sum()
    } else {
        plan.bytes_freed
    };
    if plan.deleted.is_empty()
        && plan.cache.as_ref().is_none_or(|c| c.deleted.is_empty())
        && plan.history.as_ref().is_none_or(|h| h.runs == 0)
    {
        out.push_str("\n_Nothing to delete._\n");
    }
    let history_bytes = plan.history.as_ref().map_or(0, |h| h.bytes_freed);
    let verb = if plan.dry_run { "Would free" } else { "Freed" };
    let _ = writeln!(
        out,
        "\n{}",
        bold(format!(
            "{verb} {}",
            human_size(runs_bytes + cache_bytes + history_bytes)
        ))
    );
    out
}

fn run_summary(s: &RunSummary) -> String {
    let mut out = format!("### Run {} — {}", code(&s.run), bold(s.status));
    if let Some(d) = s.duration_seconds {
        let _ = write!(out, " in {}", human_duration(d));
    }
    out.push_str("\n\n");
    let mut list = vec![("Project", code(&s.project))];
    if let Some(started) = &s.started_at {
        list.push(("Started", rfc3339_as_utc(started)));
    }
    list.push(("Ended", rfc3339_as_utc(&s.ended_at)));
    let units: Vec<String> = [
        (s.completed_units, "completed"),
        (s.failed_units, "failed"),
        (s.blocked_units, "blocked"),
    ]
    .into_iter()
    .filter_map(|(n, what)| n.map(|n| format!("{n} {what}")))
    .collect();
    if !units.is_empty() {
        list.push(("Units", units.join(", ")));
    }
    if let Some(error) = &s.error {
        list.push(("Error", text(error)));
    }
    out.push_str(&fields(&list));
    if !s.warnings.is_empty() {
        out.push_str("\n#### Warnings\n\n");
        for w in &s.warnings {
            let _ = writeln!(out, "- {}", text(w));
        }
    }
    out
}

fn plugin_list(plugins: &PluginList) -> String {
    let mut out = String::from("### Plugins\n\n");
    if plugins.is_empty() {
        out.push_str("_No plugins found._\n");
        return out;
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            vec![
                code(&p.name),
                p.kind.to_string(),
                p.version.clone(),
                p.abi.clone(),
                code(&p.source),
                text(&p.state),
            ]
        })
        .collect();
    out.push_str(&table(
        &["Name", "Kind", "Version", "ABI", "Source", "State"],
        &[],
        &rows,
    ));
    out
}

fn config(report: &ConfigReport) -> String {
    let mut out = String::from("### Configuration\n\n");
    if report.files.is_empty() {
        out.push_str("Files: none (built-in defaults only)\n");
    } else {
        out.push_str("Files, in the order they were layered:\n\n");
        for file in &report.files {
            let _ = writeln!(out, "1. {}", code(file));
        }
    }
    out.push('\n');
    if report.values.is_empty() {
        out.push_str("_No settings._\n");
        return out;
    }
    let rows: Vec<Vec<String>> = report
        .values
        .iter()
        .map(|v| vec![code(&v.key), code(&v.value), text(&v.source)])
        .collect();
    out.push_str(&table(&["Key", "Value", "Source"], &[], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_line_breaks() {
        assert_eq!(cell("a|b\nc"), "a\\|b<br>c");
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("x"), "`x`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("a``b"), "``` a``b ```");
    }

    #[test]
    fn text_escapes_markdown_punctuation() {
        assert_eq!(text("keep_last *3* [x]"), "keep\\_last \\*3\\* \\[x\\]");
    }

    #[test]
    fn tables_have_an_alignment_row() {
        let t = table(&["A", "B"], &[L, R], &[vec!["x|y".into(), "1".into()]]);
        assert_eq!(t, "| A | B |\n| --- | ---: |\n| x\\|y | 1 |\n");
    }

    #[test]
    fn held_runs_are_listed_with_their_start_and_the_guard_and_the_flag() {
        let plan = CleanPlan {
            dry_run: true,
            held: vec![PlannedRun {
                project: "web".into(),
                run: "1689000000".into(),
                size_bytes: Some(1_000),
                reasons: vec!["older than 30d".into()],
                timestamp: Some(1_689_000_000),
                started_at: Some("2023-07-10T14:40:00Z".into()),
                held: Some("held by guard: would delete every run of web".into()),
            }],
            allow: Some("--force".into()),
            ..CleanPlan::default()
        };
        let out = clean_plan(&plan);
        assert!(
            out.contains(
                "#### Held by the guard (1)\n\n| Project | Run | Started | Size | Reasons | Guard |"
            ),
            "{out}"
        );
        assert!(out.contains("| 2023-07-10 14:40:00 UTC |"), "{out}");
        assert!(out.contains("pass `--force`"), "{out}");
    }
}
