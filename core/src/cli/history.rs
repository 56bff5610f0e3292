//! `otto-hooks list | info | usage`: run history through the storage and
//! status plugins.

use clap::Args;
use otto_hooks_plugin_api::{DocumentKind, RunStatus, Timestamp};

use super::{CmdResult, Context, Failure, exit};
use crate::history::{History, HistoryError, ListQuery, storage_spec};

/// Options shared by the history commands.
#[derive(Debug, Args)]
pub struct Source {
    /// Read runs through this storage plugin (default: the configured one, `otto-fs`).
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this project: its directory name, its name or its hash, exactly.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// At most N runs (newest first).
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Only runs with this status: success, failed, running, interrupted, stopped, unknown.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<RunStatus>,
    #[command(flatten)]
    pub source: Source,
}

/// `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The run: `<timestamp>`, `<timestamp>-<n>` or `<project-dir>/<timestamp>`.
    pub run: String,
    /// Look only in this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    #[command(flatten)]
    pub source: Source,
}

/// `usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// Recommend with the `standard` policy keeping DAYS days, instead of
    /// the configured retention policy.
    #[arg(long, value_name = "DAYS")]
    pub keep: Option<u32>,
    #[command(flatten)]
    pub source: Source,
}

fn failure(e: HistoryError) -> Failure {
    if e.bad_input {
        Failure::usage(e.message)
    } else {
        Failure::failed(e.message)
    }
}

fn with_history<T>(
    ctx: &Context,
    source: &Source,
    f: impl FnOnce(&History<'_>, &crate::registry::Registry) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let registry = ctx.registry();
    let spec = storage_spec(&ctx.config, source.backend.as_deref()).map_err(failure)?;
    let history = History::open(&ctx.config, &registry, &ctx.hooks_home, &spec).map_err(failure)?;
    let result = f(&history, &registry);
    for w in history.take_warnings() {
        ctx.warn(&w);
    }
    result
}

/// Says on stderr where an empty history was looked for.
fn note_empty(ctx: &Context, history: &History<'_>) {
    if ctx.quiet {
        return;
    }
    if history.storage_name() == "otto-fs" {
        eprintln!(
            "note: no otto runs found under {} — point OTTO_HOME (or `otto_home` in [storage]) at otto's data directory",
            otto_home_hint(ctx)
        );
    } else {
        eprintln!("note: storage `{}` holds no runs", history.storage_name());
    }
}

fn otto_home_hint(ctx: &Context) -> String {
    let configured = storage_spec(&ctx.config, Some("otto-fs"))
        .ok()
        .and_then(|s| {
            s.settings
                .get("otto_home")
                .and_then(|v| v.as_str().map(str::to_owned))
        });
    configured.unwrap_or_else(|| crate::paths::otto_home().display().to_string())
}

pub(super) fn list(ctx: &Context, args: ListArgs) -> CmdResult {
    with_history(ctx, &args.source, |history, registry| {
        let runs = history
            .list(&ListQuery {
                project: args.project.clone(),
                status: args.status,
                limit: args.limit,
            })
            .map_err(failure)?;
        if runs.is_empty() && args.project.is_none() && args.status.is_none() {
            note_empty(ctx, history);
        }
        // Serialised, then freed: a list of 100,000 runs is held once.
        let text = crate::render::to_json(DocumentKind::RunList, &runs).map_err(Failure::failed)?;
        drop(runs);
        ctx.print_json(registry, args.source.json, DocumentKind::RunList, &text)?;
        Ok(exit::OK)
    })
}

pub(super) fn info(ctx: &Context, args: InfoArgs) -> CmdResult {
    with_history(ctx, &args.source, |history, registry| {
        let info = history
            .info(&args.run, args.project.as_deref())
            .map_err(failure)?;
        ctx.print(registry, args.source.json, DocumentKind::RunInfo, &info)?;
        Ok(exit::OK)
    })
}

pub(super) fn usage(ctx: &Context, args: UsageArgs) -> CmdResult {
    with_history(ctx, &args.source, |history, registry| {
        let mut report = history.usage(args.project.as_deref()).map_err(failure)?;
        let plan = crate::policy::plan(
            history,
            &ctx.config,
            registry,
            &ctx.hooks_home,
            &crate::policy::PlanOptions {
                project: args.project.clone(),
                now: Timestamp::now(),
                max_share: 1.0,
                force: true,
            },
        )
        .map_err(failure)?;
        let deletions: Vec<_> = plan.groups.iter().flat_map(|g| g.deletions()).collect();
        let bytes: u64 = deletions
            .iter()
            .map(|d| d.run.size_bytes.unwrap_or(0))
            .sum();
        if bytes > 0 {
            let command = match args.keep {
                Some(days) => format!("otto-hooks clean --keep {days}"),
                None => "otto-hooks clean".to_owned(),
            };
            let policy = match args.keep {
                Some(days) => format!("keeping {days} days (and the last 10 runs of each project)"),
                None => "the configured retention policy".to_owned(),
            };
            report.recommendations.insert(
                0,
                otto_hooks_plugin_api::report::Recommendation {
                    message: format!(
                        "cleaning with {policy} would delete {} run(s) and free {}",
                        deletions.len(),
                        otto_hooks_reporters::format::human_size(bytes)
                    ),
                    command: Some(command),
                    bytes,
                },
            );
        }
        if report.projects.is_empty() && args.project.is_none() {
            note_empty(ctx, history);
        }
        ctx.print(registry, args.source.json, DocumentKind::Usage, &report)?;
        Ok(exit::OK)
    })
}
