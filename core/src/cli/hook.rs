//! `otto-hooks hook …`: the lifecycle hooks for orchestrators.
//!
//! Contract for orchestrator authors (also in the README):
//! - `run-start` prints the run id, and nothing else, on stdout.
//! - `event` reads one JSON event per line on stdin (or one event as an
//!   argument) and delivers them in batches (at most 1000 events, or what
//!   arrived within 100 ms). A malformed line is reported with its line
//!   number and skipped; the valid ones are delivered; the exit code is 2.
//! - A plugin that fails is a warning on stderr and exit 0, unless
//!   `--strict` (or `hooks.strict = true`): then exit 1.
//! - An unknown run id, a duplicate one, or a bad argument: exit 2.
//! - With no storage configured, the records go through the history daemon
//!   when it runs (started on demand with `daemon.auto_start`, announced
//!   on stderr), else into `history.db` directly. `--no-daemon` and
//!   `--no-history` mean what they mean in choo's design; `--direct` and
//!   `--no-autostart` keep the other behaviours (docs/HOOKS.md).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use otto_hooks_plugin_api::{DocumentKind, Event, Timestamp};
use otto_hooks_redact::Redactor;

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::client::DaemonFiles;
use crate::config::InstanceSpec;
use crate::daemon::control;
use crate::hooks::wire::{self, WireEvent};
use crate::hooks::{
    self, HookError, HookOutcome, ProjectRef, RunCompleteRequest, RunStartRequest, Runtime,
};

/// The largest batch delivered in one call.
const MAX_BATCH: usize = 1000;
/// How long an event may wait for others to join its batch.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Lifecycle hooks.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// A run starts: prints its run id on stdout.
    #[command(
        after_help = "Examples:\n  id=$(otto-hooks hook run-start --repo . --parallelism 4 --total-units 12)\n  otto-hooks hook run-start --project web-1a2b3c4d --run-id 1795342500"
    )]
    RunStart(RunStartArgs),
    /// Events of a run: NDJSON on stdin (or one JSON event as an argument).
    #[command(
        after_help = "Event shape (choo's): {\"time\": \"<RFC 3339>\", \"type\": \"unit.started\", \"unit\": \"api\",\n  \"task\": 1, \"pr\": 12, \"payload\": {...}, \"error\": \"...\"} — `timestamp` may replace `time`.\n\nExamples:\n  otto-hooks hook event --run \"$id\" '{\"type\":\"unit.started\",\"unit\":\"api\"}'\n  my-orchestrator --events-ndjson | otto-hooks hook event --run \"$id\""
    )]
    Event(EventArgs),
    /// A run ends: calls every plugin and prints a summary.
    #[command(
        after_help = "Examples:\n  otto-hooks hook run-complete --run \"$id\" --status completed --completed-units 12\n  otto-hooks hook run-complete --run \"$id\" --status failed --error 'unit api failed' --failed-units 1"
    )]
    RunComplete(RunCompleteArgs),
    /// A run was stopped on purpose; it may be resumed with the same id.
    #[command(
        after_help = "Examples:\n  otto-hooks hook run-stop --run \"$id\" --reason 'user pressed ctrl-c'\n  otto-hooks hook run-resume --run \"$id\""
    )]
    RunStop(RunStopArgs),
    /// A stopped run resumes: same id, events continue.
    RunResume(RunResumeArgs),
}

/// `hook run-stop`.
#[derive(Debug, Args)]
pub struct RunStopArgs {
    /// The run id from `run-start`.
    #[arg(long, value_name = "ID")]
    pub run: String,
    /// Why it stopped.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `hook run-resume`.
#[derive(Debug, Args)]
pub struct RunResumeArgs {
    /// The run id from `run-start`.
    #[arg(long, value_name = "ID")]
    pub run: String,
    #[command(flatten)]
    pub common: Common,
}

impl HookCommand {
    /// Whether `--strict` was given.
    pub fn strict(&self) -> bool {
        self.common().strict
    }

    /// The options every hook has.
    pub fn common(&self) -> &Common {
        match self {
            HookCommand::RunStart(a) => &a.common,
            HookCommand::Event(a) => &a.common,
            HookCommand::RunComplete(a) => &a.common,
            HookCommand::RunStop(a) => &a.common,
            HookCommand::RunResume(a) => &a.common,
        }
    }
}

/// Options of every hook.
#[derive(Debug, Args)]
pub struct Common {
    /// Fail (exit 1) when a plugin fails, instead of warning.
    #[arg(long)]
    pub strict: bool,
    /// Record into this storage plugin (default: the project's configured
    /// storage, else the SQLite history).
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// The SQLite history file (default: $OTTO_HOOKS_HOME/history.db),
    /// written directly.
    #[arg(long, value_name = "PATH", conflicts_with = "backend")]
    pub db: Option<PathBuf>,
    /// choo's `--no-daemon`: no daemon and no history. Nothing is recorded
    /// and no daemon is started (reporters still run).
    #[arg(long, conflicts_with_all = ["backend", "db", "direct"])]
    pub no_daemon: bool,
    /// choo's `--no-history`: the daemon runs (started as usual, to serve
    /// the web UI) but this run is not recorded (reporters still run).
    #[arg(long, conflicts_with_all = ["backend", "db", "direct"])]
    pub no_history: bool,
    /// Write the history file directly; neither use nor start the history
    /// daemon.
    #[arg(long, conflicts_with_all = ["backend", "db"])]
    pub direct: bool,
    /// Do not start the history daemon: record through it when it runs,
    /// else write the history file directly (`daemon.auto_start = false`
    /// for this call).
    #[arg(long)]
    pub no_autostart: bool,
}

impl Common {
    /// The storage chosen on the command line, if any.
    fn storage(&self, ctx: &Context) -> Result<Option<crate::config::InstanceSpec>, Failure> {
        if let Some(db) = &self.db {
            return hooks::history_db_storage(db)
                .map(Some)
                .map_err(|e| Failure::usage(format!("--db {}: {e}", db.display())));
        }
        match &self.backend {
            None => Ok(None),
            Some(name) => crate::history::storage_spec(&ctx.config, Some(name))
                .map(Some)
                .map_err(|e| Failure::usage(e.message)),
        }
    }
}

/// `hook run-start`.
#[derive(Debug, Args)]
pub struct RunStartArgs {
    /// The repository the run works on (its canonical path is the project key).
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "project",
        conflicts_with = "project"
    )]
    pub repo: Option<PathBuf>,
    /// The project key, e.g. otto's `<name>-<hash>` directory name.
    #[arg(long, value_name = "KEY")]
    pub project: Option<String>,
    /// Use this run id instead of minting `run_YYYYMMDD_HHMMSS_xxxx`.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// How many units may run at once.
    #[arg(long, value_name = "N")]
    pub parallelism: Option<u32>,
    /// How many units are planned.
    #[arg(long, value_name = "N")]
    pub total_units: Option<u32>,
    /// The orchestrator's tasks directory.
    #[arg(long, value_name = "DIR")]
    pub tasks_dir: Option<String>,
    /// The run is a dry run.
    #[arg(long)]
    pub dry_run: bool,
    /// Start time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub started_at: Option<Timestamp>,
    /// An environment variable holding a secret: its value is masked
    /// (plain and base64) in every event of the run. Repeatable. Later hook
    /// calls read the value from their own environment.
    #[arg(long, value_name = "NAME")]
    pub secret_env: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `hook event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The run id from `run-start`.
    #[arg(long, value_name = "ID")]
    pub run: String,
    /// One event as JSON; without it, NDJSON is read from stdin.
    pub event: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `hook run-complete`.
#[derive(Debug, Args)]
pub struct RunCompleteArgs {
    /// The run id from `run-start`.
    #[arg(long, value_name = "ID")]
    pub run: String,
    /// How it ended: completed (or success), failed, stopped, interrupted.
    #[arg(long, value_name = "STATUS", value_parser = hooks::parse_status)]
    pub status: otto_hooks_plugin_api::RunStatus,
    /// The error that ended it.
    #[arg(long, value_name = "MSG")]
    pub error: Option<String>,
    /// Units completed.
    #[arg(long, value_name = "N")]
    pub completed_units: Option<u32>,
    /// Units failed.
    #[arg(long, value_name = "N")]
    pub failed_units: Option<u32>,
    /// Units blocked.
    #[arg(long, value_name = "N")]
    pub blocked_units: Option<u32>,
    /// End time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub ended_at: Option<Timestamp>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    wire::parse_rfc3339(s)
}

fn hook_failure(e: HookError) -> Failure {
    match e {
        HookError::Io(m) => Failure::failed(m),
        other => Failure::usage(other.to_string()),
    }
}

/// The history daemon's storage when the hooks should record through it:
/// the configuration chose no storage (so the hooks record into the
/// history, which the daemon owns while it runs) and a daemon runs — or
/// was just started (see [`ensure_daemon`]).
fn daemon_storage(
    ctx: &Context,
    strict: bool,
    autostart: bool,
) -> Result<Option<InstanceSpec>, Failure> {
    let configured = ctx.config.default_selection().storage;
    if !configured.iter().all(|s| s.origin == "default") {
        return Ok(None);
    }
    Ok(
        ensure_daemon(ctx, strict, autostart, true)?.then(|| InstanceSpec {
            kind: otto_hooks_plugin_api::PluginKind::Storage,
            plugin: "daemon".to_owned(),
            instance: "storage.daemon".to_owned(),
            settings: toml::Table::new(),
            origin: "the running history daemon".to_owned(),
        }),
    )
}

/// Whether the history daemon runs, starting it when it does not and
/// `autostart` (`daemon.auto_start`, not `--no-autostart`) allows: a start
/// is announced on stderr. A daemon that cannot be started is a warning
/// (the history is then written directly, when `recording`), or with
/// `--strict` an error.
fn ensure_daemon(
    ctx: &Context,
    strict: bool,
    autostart: bool,
    recording: bool,
) -> Result<bool, Failure> {
    let files = DaemonFiles::new(&ctx.hooks_home);
    if control::running(&files).is_some() {
        return Ok(true);
    }
    if !autostart {
        return Ok(false);
    }
    let listen = control::Listen {
        bind: super::daemon::configured_bind(ctx),
        port: super::daemon::configured_port(ctx),
    };
    match super::daemon_notice::start_announced(&files, &listen, true) {
        Ok(running) => {
            tracing::info!(
                pid = running.pid,
                port = running.port,
                "history daemon started"
            );
            Ok(true)
        }
        Err(e) if strict => Err(Failure::failed(e)),
        Err(e) if !recording => {
            ctx.warn(&format!(
                "{e}; the history daemon is not running (this run is not recorded either way; \
                 `daemon.auto_start = false` or --no-daemon silences this)"
            ));
            Ok(false)
        }
        Err(e) => {
            ctx.warn(&format!(
                "{e}; recording into {} directly (`daemon.auto_start = false` or --direct silences this)",
                otto_hooks_sqlite::db_path(None, &ctx.hooks_home).display()
            ));
            Ok(false)
        }
    }
}

pub(super) fn run(ctx: &Context, cmd: HookCommand) -> CmdResult {
    let strict = ctx.config.strict.value;
    let common = cmd.common();
    let mut runtime = Runtime::new(ctx.config.clone(), ctx.registry(), ctx.hooks_home.clone());
    let autostart = ctx.config.setting_bool("daemon.auto_start") && !common.no_autostart;
    // The flags mean what they mean in choo's design (docs/HOOKS.md has
    // the table): --no-daemon records nothing and starts nothing;
    // --no-history (or `history.enabled = false`) records nothing, but the
    // daemon runs for the web UI; --direct writes the file, no daemon.
    let storage = common.storage(ctx)?;
    let history_off = !ctx.config.setting_bool("history.enabled") && storage.is_none();
    if common.no_daemon {
        runtime = runtime.without_storage();
    } else if common.no_history || history_off {
        // `--direct` still means no daemon when the history is off.
        ensure_daemon(ctx, strict, autostart && !common.direct, false)?;
        runtime = runtime.without_storage();
    } else if let Some(storage) = storage {
        runtime = runtime.with_storage(storage);
    } else if !common.direct {
        if let Some(daemon) = daemon_storage(ctx, strict, autostart)? {
            runtime = runtime.with_default_storage(daemon);
        }
    }
    // Messages echo input (a bad value, a path, a plugin's complaint about a
    // unit): each goes through the run's redactor before it is printed.
    let (run_id, secret_env) = match &cmd {
        HookCommand::RunStart(a) => (a.run_id.clone(), a.secret_env.clone()),
        HookCommand::Event(a) => (Some(a.run.clone()), Vec::new()),
        HookCommand::RunComplete(a) => (Some(a.run.clone()), Vec::new()),
        HookCommand::RunStop(a) => (Some(a.run.clone()), Vec::new()),
        HookCommand::RunResume(a) => (Some(a.run.clone()), Vec::new()),
    };
    let scrub = runtime.message_redactor(run_id.as_deref(), &secret_env);
    dispatch(ctx, &runtime, cmd, strict, &scrub).map_err(|f| Failure {
        code: f.code,
        message: scrub.redact_error(&f.message).into_owned(),
    })
}

/// Runs one hook command on `runtime`; `scrub` redacts what is printed.
fn dispatch(
    ctx: &Context,
    runtime: &Runtime,
    cmd: HookCommand,
    strict: bool,
    scrub: &Redactor,
) -> CmdResult {
    match cmd {
        HookCommand::RunStart(args) => {
            let project = match (&args.repo, &args.project) {
                (Some(repo), _) => {
                    ProjectRef::from_repo(repo).map_err(|e| Failure::usage(e.to_string()))?
                }
                (None, Some(key)) => ProjectRef::from_key(key),
                (None, None) => return Err(Failure::usage("give --repo PATH or --project KEY")),
            };
            let repo_path = args.repo.as_ref().map(|_| project.key.clone());
            let (run_id, outcome) = runtime
                .run_start(
                    &project,
                    RunStartRequest {
                        run_id: args.run_id,
                        started_at: args.started_at,
                        repo_path,
                        parallelism: args.parallelism,
                        total_units: args.total_units,
                        tasks_dir: args.tasks_dir,
                        dry_run: args.dry_run,
                        secret_env: args.secret_env,
                        secrets: Vec::new(),
                    },
                )
                .map_err(hook_failure)?;
            write_stdout(&format!("{run_id}\n"))?;
            Ok(finish(ctx, scrub, strict, &outcome.warnings, exit::OK))
        }
        HookCommand::Event(args) => match args.event {
            Some(json) => {
                let event = wire::parse_event(&json, Timestamp::now())
                    .map_err(|e| Failure::usage(format!("event: {e}")))?;
                let outcome = runtime
                    .events(&args.run, &[event.as_event()])
                    .map_err(hook_failure)?;
                Ok(finish(ctx, scrub, strict, &outcome.warnings, exit::OK))
            }
            None => stream_events(ctx, runtime, &args.run, strict, scrub),
        },
        HookCommand::RunStop(args) => {
            let outcome = runtime
                .run_stop(&args.run, args.reason.as_deref(), None)
                .map_err(hook_failure)?;
            Ok(finish(ctx, scrub, strict, &outcome.warnings, exit::OK))
        }
        HookCommand::RunResume(args) => {
            let outcome = runtime.run_resume(&args.run, None).map_err(hook_failure)?;
            Ok(finish(ctx, scrub, strict, &outcome.warnings, exit::OK))
        }
        HookCommand::RunComplete(args) => {
            let (summary, outcome) = runtime
                .run_complete(&RunCompleteRequest {
                    run_id: args.run,
                    status: args.status,
                    ended_at: args.ended_at,
                    completed_units: args.completed_units,
                    failed_units: args.failed_units,
                    blocked_units: args.blocked_units,
                    error: args.error,
                })
                .map_err(hook_failure)?;
            if !ctx.quiet || args.json {
                ctx.print(
                    runtime.registry(),
                    args.json,
                    DocumentKind::RunSummary,
                    &summary,
                )?;
            }
            Ok(finish(ctx, scrub, strict, &outcome.warnings, exit::OK))
        }
    }
}

/// Prints warnings and picks the exit code: under `strict`, any warning
/// makes it 1 (unless it is already worse).
fn finish(ctx: &Context, scrub: &Redactor, strict: bool, warnings: &[String], code: u8) -> u8 {
    for w in warnings {
        ctx.warn(&scrub.redact_error(w));
    }
    if strict && !warnings.is_empty() {
        code.max(exit::FAILURES)
    } else {
        code
    }
}

enum Line {
    Text(usize, String),
    Bad(usize, String),
}

/// Reads NDJSON from stdin on a thread and delivers batches as they fill
/// or as their window closes, so a long-lived pipe streams.
fn stream_events(
    ctx: &Context,
    runtime: &Runtime,
    run_id: &str,
    strict: bool,
    scrub: &Redactor,
) -> CmdResult {
    // Fail fast on an unknown run, before reading anything.
    runtime.active_run(run_id).map_err(hook_failure)?;
    let (tx, rx) = mpsc::sync_channel::<Line>(4 * MAX_BATCH);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = Vec::new();
        let mut n = 0;
        loop {
            buf.clear();
            n += 1;
            let line = match stdin.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => match std::str::from_utf8(&buf) {
                    Ok(s) => Line::Text(n, s.trim_end_matches(['\n', '\r']).to_owned()),
                    Err(_) => Line::Bad(n, "the line is not UTF-8".to_owned()),
                },
                Err(e) => Line::Bad(n, format!("cannot read stdin: {e}")),
            };
            let stop = matches!(&line, Line::Bad(_, m) if m.starts_with("cannot read"));
            if tx.send(line).is_err() || stop {
                break;
            }
        }
    });

    let mut batch: Vec<WireEvent> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut bad_lines = 0usize;
    let mut warnings = BTreeSet::new();
    let mut delivered = 0usize;
    let mut flush = |batch: &mut Vec<WireEvent>| -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        let events: Vec<Event<'_>> = batch.iter().map(WireEvent::as_event).collect();
        let outcome: HookOutcome = runtime.events(run_id, &events).map_err(hook_failure)?;
        delivered += batch.len();
        for w in outcome.warnings {
            if warnings.insert(w.clone()) {
                ctx.warn(&scrub.redact_error(&w));
            }
        }
        batch.clear();
        Ok(())
    };
    loop {
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(Line::Text(n, text)) => {
                if text.trim().is_empty() {
                    continue;
                }
                match wire::parse_event(&text, Timestamp::now()) {
                    Ok(event) => {
                        batch.push(event);
                        deadline.get_or_insert_with(|| Instant::now() + BATCH_WINDOW);
                        if batch.len() >= MAX_BATCH {
                            flush(&mut batch)?;
                            deadline = None;
                        }
                    }
                    Err(e) => {
                        bad_lines += 1;
                        eprintln!(
                            "error: stdin:{n}: {} (line skipped)",
                            scrub.redact_error(&e)
                        );
                    }
                }
            }
            Ok(Line::Bad(n, e)) => {
                bad_lines += 1;
                eprintln!(
                    "error: stdin:{n}: {} (line skipped)",
                    scrub.redact_error(&e)
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                flush(&mut batch)?;
                deadline = None;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                flush(&mut batch)?;
                break;
            }
        }
    }
    tracing::info!(delivered, bad_lines, "events delivered");
    let warnings: Vec<String> = warnings.into_iter().collect();
    let code = if bad_lines > 0 {
        eprintln!(
            "error: {bad_lines} malformed event line(s) skipped; {delivered} event(s) delivered"
        );
        exit::USAGE
    } else {
        exit::OK
    };
    // Warnings were printed as they came; only the exit code is left.
    Ok(if strict && !warnings.is_empty() {
        code.max(exit::FAILURES)
    } else {
        code
    })
}
