//! `otto-hooks list | info | usage`: run history through the storage and
//! status plugins.

use clap::Args;
use otto_hooks_plugin_api::{DocumentKind, RunStatus, Timestamp};

use super::{CmdResult, Context, Failure, exit, pager};
use crate::history::{History, HistoryError, ListQuery, storage_spec};

/// Options shared by the history commands.
#[derive(Debug, Args)]
pub struct Source {
    /// Read runs through this storage plugin: `otto-fs` (otto's directories,
    /// the default) or `sqlite` (the hooks' history), or another.
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// Read this SQLite history file (implies --backend sqlite).
    #[arg(long, value_name = "PATH", conflicts_with = "backend")]
    pub db: Option<std::path::PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl Source {
    /// The storage instance to read.
    pub(crate) fn spec(&self, ctx: &Context) -> Result<crate::config::InstanceSpec, Failure> {
        chosen_storage(ctx, self.backend.as_deref(), self.db.as_deref())
    }
}

/// The storage a command works on: the history file `--db` names, else the
/// plugin `--backend` names, else the configured one.
pub(crate) fn chosen_storage(
    ctx: &Context,
    backend: Option<&str>,
    db: Option<&std::path::Path>,
) -> Result<crate::config::InstanceSpec, Failure> {
    match db {
        Some(db) => {
            if !db.is_file() {
                return Err(Failure::usage(format!(
                    "--db {}: no such history file",
                    db.display()
                )));
            }
            crate::hooks::history_db_storage(db)
                .map_err(|e| Failure::usage(format!("--db {}: {e}", db.display())))
        }
        None => {
            let spec = storage_spec(&ctx.config, backend).map_err(failure)?;
            // What the storage would pass over in silence (an otto home
            // that is a file, a project it may not read) is said here.
            super::otto_home_check::check(ctx, &spec)?;
            Ok(spec)
        }
    }
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this project: its directory name, its name or its hash, exactly.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// At most N runs (newest first); 0 for all [default on a terminal: 50,
    /// else all].
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Every run (the same as --limit 0).
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// Never page the output through $PAGER (`less -FRX` by default), as
    /// on a terminal it is.
    #[arg(long)]
    pub no_pager: bool,
    /// Only runs with this status: success (or completed), failed, running, interrupted, stopped, unknown.
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    pub status: Option<RunStatus>,
    /// Only runs of this repository (its canonical path is the project key
    /// the hooks recorded).
    #[arg(long, value_name = "PATH", conflicts_with = "project")]
    pub repo: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub source: Source,
}

fn parse_status(s: &str) -> Result<RunStatus, String> {
    if s == "completed" {
        return Ok(RunStatus::Success);
    }
    s.parse()
}

/// `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The run as `list` shows it (`<project-dir>/<timestamp>[-n]`, or a
    /// history id `run_…`); a bare `<timestamp>[-n]` when one project has it.
    pub run: String,
    /// Look only in this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    #[command(flatten)]
    pub source: Source,
}

/// `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The run as `list --backend sqlite` shows it (`run_…`, or
    /// `<project-dir>/<timestamp>` for an imported otto run).
    pub run: String,
    /// Only events whose type starts with these dotted segments (`unit`, `task.retry`).
    #[arg(long = "type", value_name = "PREFIX")]
    pub type_prefix: Option<String>,
    /// Only events of this unit.
    #[arg(long, value_name = "UNIT")]
    pub unit: Option<String>,
    /// Only events after this sequence number (the previous page's last).
    #[arg(long, value_name = "N")]
    pub after_seq: Option<u64>,
    /// At most N events (1-1000).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Read events through this storage plugin (default: the hooks' storage, `sqlite`).
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// Read this SQLite history file.
    #[arg(long, value_name = "PATH", conflicts_with = "backend")]
    pub db: Option<std::path::PathBuf>,
    /// One JSON document on stdout: `{events, has_more, total}`.
    #[arg(long)]
    pub json: bool,
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
    let spec = source.spec(ctx)?;
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
        eprintln!("note: to try otto-hooks on sample data, run `otto-hooks demo`");
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
    use std::io::IsTerminal;
    let project = match &args.repo {
        Some(repo) => Some(
            crate::hooks::ProjectRef::from_repo(repo)
                .map_err(|e| Failure::usage(e.to_string()))?
                .key,
        ),
        None => args.project.clone(),
    };
    let terminal = std::io::stdout().is_terminal();
    let json = args.source.json;
    let limit = pager::list_limit(args.limit, args.all, terminal, json);
    // The default limit says how many it left out: it lists them all.
    let default_limit = args.limit.is_none() && limit.is_some();
    with_history(ctx, &args.source, |history, registry| {
        if let Some(p) = &args.project {
            history.check_project(p).map_err(failure)?;
        }
        let reading = ctx.slow_notice(history.storage_name());
        let mut runs = history
            .list(&ListQuery {
                project: project.clone(),
                status: args.status,
                limit: if default_limit { None } else { limit },
            })
            .map_err(failure)?;
        drop(reading);
        if runs.is_empty() && project.is_none() && args.status.is_none() {
            note_empty(ctx, history);
        }
        let total = runs.len();
        runs.truncate(limit.unwrap_or(usize::MAX));
        let more = pager::more_note(runs.len(), total).filter(|_| default_limit);
        // Serialised, then freed: a list of 100,000 runs is held once.
        let text = crate::render::to_json(DocumentKind::RunList, &runs).map_err(Failure::failed)?;
        drop(runs);
        let env = |k: &str| std::env::var(k).ok();
        match pager::pager_command(&env, terminal, json, args.no_pager)
            .and_then(|c| pager::Pager::start(&c))
        {
            Some(mut pager) => {
                if let Some(input) = pager.input() {
                    print_to(ctx, registry, json, DocumentKind::RunList, &text, input)?;
                }
                pager.finish();
            }
            None => ctx.print_json(registry, json, DocumentKind::RunList, &text)?,
        }
        if let Some(note) = more.filter(|_| !ctx.quiet) {
            eprintln!("{note}");
        }
        Ok(exit::OK)
    })
}

/// Renders `text` (a serialised document) to `out` (a pager) with the
/// chosen reporter; the pager quitting early is not an error.
fn print_to(
    ctx: &Context,
    registry: &crate::registry::Registry,
    json: bool,
    kind: DocumentKind,
    text: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let streamed = crate::render::render_json_to(
        registry,
        &ctx.reporter_for_pager(json),
        &ctx.hooks_home,
        kind,
        text,
        &mut out,
        &mut |w| ctx.warn(w),
    );
    let flushed = std::io::Write::flush(&mut out);
    match (streamed, flushed) {
        (crate::render::Streamed::Failed(e), _) => Err(Failure::failed(e)),
        _ => Ok(()),
    }
}

pub(super) fn info(ctx: &Context, args: InfoArgs) -> CmdResult {
    let explicit = args.source.backend.is_some() || args.source.db.is_some();
    let project = args.project.as_deref();
    // Found: shown, and done. Not found: the error this storage words, and
    // whether it is the history already.
    let missing = with_history(ctx, &args.source, |history, registry| {
        match history.find_info(&args.run, project).map_err(failure)? {
            Some(info) => {
                ctx.print(registry, args.source.json, DocumentKind::RunInfo, &info)?;
                Ok(None)
            }
            None => Ok(Some((
                history.not_found_error(&args.run, project),
                history.storage_name() == "sqlite",
            ))),
        }
    })?;
    let Some((error, is_history)) = missing else {
        return Ok(exit::OK);
    };
    // Not among otto's runs: a run the hooks recorded is in the history.
    // `--backend`/`--db` choose one storage. The history is read only when
    // it exists (no file is created, no daemon started).
    let db = crate::import::default_db_path(&ctx.config, &ctx.hooks_home);
    if explicit || is_history || !db.is_file() {
        return Err(failure(error));
    }
    let spec = crate::hooks::history_db_storage(&db)
        .map_err(|e| Failure::failed(format!("{}: {e}", db.display())))?;
    let registry = ctx.registry();
    let history = History::open(&ctx.config, &registry, &ctx.hooks_home, &spec).map_err(failure)?;
    let found = history.find_info(&args.run, project);
    for w in history.take_warnings() {
        ctx.warn(&w);
    }
    match found.map_err(failure)? {
        Some(info) => {
            ctx.print(&registry, args.source.json, DocumentKind::RunInfo, &info)?;
            Ok(exit::OK)
        }
        None => Err(Failure::usage(format!(
            "{}; not in the history {} either",
            error.message,
            db.display()
        ))),
    }
}

pub(super) fn usage(ctx: &Context, args: UsageArgs) -> CmdResult {
    with_history(ctx, &args.source, |history, registry| {
        if let Some(p) = &args.project {
            history.check_project(p).map_err(failure)?;
        }
        let reading = ctx.slow_notice(history.storage_name());
        let (mut report, runs) = history.usage(args.project.as_deref()).map_err(failure)?;
        // The plan `clean` would make: the same policy, scope and guard.
        let plan = crate::policy::plan_runs(
            history,
            runs,
            &ctx.config,
            registry,
            &ctx.hooks_home,
            &crate::policy::PlanOptions {
                project: args.project.clone(),
                now: Timestamp::now(),
                max_share: ctx.config.setting_int("clean.max_share") as f64 / 100.0,
                force: false,
            },
        )
        .map_err(failure)?;
        drop(reading);
        for w in &plan.warnings {
            ctx.warn(w);
        }
        if let Some(advice) = clean_advice(&plan, args.keep, args.project.as_deref()) {
            report.recommendations.insert(0, advice);
        }
        if args.project.is_none() {
            let home = args
                .source
                .spec(ctx)
                .ok()
                .and_then(|spec| crate::ottodb_rows::otto_home_of_spec(&spec, &ctx.hooks_home));
            if let Some(home) = &home {
                trash_usage(ctx, home, &mut report);
            }
            report
                .recommendations
                .extend(home.and_then(|h| crate::ottodb_rows::usage_recommendation(&h)));
        }
        if report.projects.is_empty() && args.project.is_none() {
            note_empty(ctx, history);
        }
        ctx.print(registry, args.source.json, DocumentKind::Usage, &report)?;
        Ok(exit::OK)
    })
}

/// Adds to `report` what an interrupted clean left in the trash of the
/// otto home `home` (a trash that can't be read is a warning: the rest of
/// the report stands).
fn trash_usage(
    ctx: &Context,
    home: &std::path::Path,
    report: &mut otto_hooks_plugin_api::report::UsageReport,
) {
    let Ok(root) = crate::fsops::OttoRoot::open(home) else {
        return;
    };
    match root.trash_usage() {
        Ok((entries, bytes)) => {
            report.trash_entries = entries as u64;
            report.trash_bytes = bytes;
        }
        Err(e) => ctx.warn(&e),
    }
}

/// What `usage` recommends about runs: the `clean` command that applies
/// the policy, and exactly what it deletes. When the guard would hold some
/// of it, the advice says so and the command carries the flag that lets
/// them through: the numbers are then those of that command.
fn clean_advice(
    plan: &crate::policy::Plan,
    keep: Option<u32>,
    project: Option<&str>,
) -> Option<otto_hooks_plugin_api::report::Recommendation> {
    let size = otto_hooks_reporters::format::human_size;
    let bytes_of = |runs: &[&crate::policy::PlannedDecision]| -> u64 {
        runs.iter().map(|d| d.run.size_bytes.unwrap_or(0)).sum()
    };
    let free: Vec<_> = plan.deletions().collect();
    let held: Vec<_> = plan.held().collect();
    if free.is_empty() && held.is_empty() {
        return None;
    }
    let mut command = "otto-hooks clean".to_owned();
    if let Some(days) = keep {
        command.push_str(&format!(" --keep {days}"));
    }
    if let Some(project) = project {
        command.push_str(&format!(" --project {project}"));
    }
    let policy = match keep {
        Some(days) => format!("keeping {days} days (and the last 10 runs of each project)"),
        None => "the configured retention policy".to_owned(),
    };
    let Some(allow) = plan.allow() else {
        let bytes = bytes_of(&free);
        return Some(otto_hooks_plugin_api::report::Recommendation {
            message: format!(
                "cleaning with {policy} would delete {} run(s) and free {}",
                free.len(),
                size(bytes)
            ),
            command: Some(command),
            bytes,
        });
    };
    let holds: Vec<&crate::policy::Hold> =
        plan.groups.iter().filter_map(|g| g.hold.as_ref()).collect();
    let limit = holds.iter().find_map(|h| h.limit);
    let every = holds.iter().any(|h| h.limit.is_none());
    let lose = match (every, limit) {
        (true, Some(limit)) => {
            format!("every run, or more than clean.max_share {limit}% of their runs")
        }
        (false, Some(limit)) => format!("more than clean.max_share {limit}% of their runs"),
        (_, None) => "every run".to_owned(),
    };
    let alone = if free.is_empty() {
        "nothing".to_owned()
    } else {
        format!("{} run(s) ({})", free.len(), size(bytes_of(&free)))
    };
    let bytes = bytes_of(&free) + bytes_of(&held);
    Some(otto_hooks_plugin_api::report::Recommendation {
        message: format!(
            "cleaning with {policy} would delete {} run(s) and free {}, but the guard holds {} of them ({} project(s) would lose {lose}): the command needs {allow}, without it `{command}` deletes {alone}",
            free.len() + held.len(),
            size(bytes),
            held.len(),
            holds.len(),
        ),
        command: Some(format!("{command} {allow}")),
        bytes,
    })
}

pub(super) fn events(ctx: &Context, args: EventsArgs) -> CmdResult {
    // Events live where the hooks record: unless told otherwise, the
    // SQLite history, whatever storage `list` reads by default.
    let backend = args.backend.clone().or_else(|| {
        let configured = ctx.config.default_selection().storage;
        configured
            .iter()
            .all(|s| s.origin == "default")
            .then(|| "sqlite".to_owned())
    });
    let source = Source {
        backend: if args.db.is_some() { None } else { backend },
        db: args.db.clone(),
        json: args.json,
    };
    let spec = source.spec(ctx)?;
    let registry = ctx.registry();
    let storage = registry
        .instantiate(&spec, &ctx.hooks_home)
        .map_err(Failure::usage)?;
    let query = |run_id: &str| {
        storage.stored_events(&otto_hooks_plugin_api::EventQuery {
            run_id,
            type_prefix: args.type_prefix.as_deref(),
            unit: args.unit.as_deref(),
            after_seq: args.after_seq,
            limit: args.limit,
        })
    };
    let mut run_id = args.run.clone();
    let page = match query(&run_id) {
        // Not the history's own id: a name as `list` shows it
        // (`<project>/<ts>` of an imported run), resolved to that id.
        Err(e) if e.kind == otto_hooks_plugin_api::ErrorKind::NotFound => {
            run_id = with_history(ctx, &source, |history, _| {
                history.resolve(&args.run, None).map_err(failure)
            })?
            .id;
            query(&run_id)
        }
        other => other,
    }
    .map_err(|e| match e.kind {
        otto_hooks_plugin_api::ErrorKind::NotFound => Failure::usage(format!(
            "{} (see `otto-hooks list --backend {}`)",
            e.message, spec.plugin
        )),
        _ => Failure::failed(e.to_string()),
    })?;
    if args.json {
        // FORMATS.md's event shape, times in RFC 3339.
        let events: Vec<serde_json::Value> = page
            .events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "run_id": run_id,
                    "seq": e.seq,
                    "time": crate::hooks::wire::rfc3339(e.time),
                    "type": e.kind,
                    "unit": e.unit,
                    "task": e.task,
                    "pr": e.pr,
                    "payload": e.payload.as_deref().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()),
                    "error": e.error,
                })
            })
            .collect();
        let doc =
            serde_json::json!({"events": events, "has_more": page.has_more, "total": page.total});
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
        super::write_stdout(&format!("{text}\n"))?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for e in &page.events {
        let time = chrono::DateTime::from_timestamp(e.time.secs, e.time.nanos)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string()
            })
            .unwrap_or_default();
        let mut line = format!("{:>6}  {time}  {:<24}", e.seq, e.kind);
        if let Some(u) = &e.unit {
            line.push_str(&format!("  unit={u}"));
        }
        if let Some(t) = e.task {
            line.push_str(&format!("  task={t}"));
        }
        if let Some(p) = e.pr {
            line.push_str(&format!("  pr={p}"));
        }
        if let Some(err) = &e.error {
            line.push_str(&format!("  error={err:?}"));
        }
        if let Some(p) = &e.payload {
            let shown: String = p.chars().take(120).collect();
            line.push_str(&format!(
                "  {shown}{}",
                if shown.len() < p.len() { "…" } else { "" }
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    match (page.events.last(), page.has_more) {
        (Some(last), true) => out.push_str(&format!(
            "… more: otto-hooks events {} --after-seq {}{}\n",
            args.run,
            last.seq,
            page.total
                .map(|t| format!(" ({t} in all)"))
                .unwrap_or_default()
        )),
        (None, _) => out.push_str("no events\n"),
        _ => {}
    }
    super::write_stdout(&out)?;
    Ok(exit::OK)
}
