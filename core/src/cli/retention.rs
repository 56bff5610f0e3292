//! `otto-hooks clean | run-policies | why`: retention, with a plan shown
//! before anything goes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use otto_hooks_plugin_api::report::CleanPlan;
use otto_hooks_plugin_api::{DocumentKind, Timestamp};

use super::{CmdResult, Context, Failure, exit};
use crate::cache_gc::{self, CacheScope};
use crate::config::Override;
use crate::config::settings;
use crate::history::{History, HistoryError};
use crate::history_retention::{self, HistoryRetention};
use crate::policy::{self, Plan, PlanOptions};
use crate::registry::proxy::PluginInstance as Instance;

/// Options of every retention command.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Only this project: its directory name, its name or its hash, exactly
    /// (`--project-filter`, otto's name for it, is the same flag).
    #[arg(
        long,
        short = 'p',
        value_name = "PROJECT",
        visible_alias = "project-filter"
    )]
    pub project: Option<String>,
    /// Keep successful runs younger than DAYS (the `standard` policy's
    /// keep_days; `--keep-days`, otto's name for it, is the same flag).
    #[arg(long, value_name = "DAYS", visible_alias = "keep-days")]
    pub keep: Option<u32>,
    /// Keep the N newest finished runs of each project, whatever their age.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep failed and interrupted runs younger than DAYS (a guessed
    /// `failed?` is kept as long as an unknown run).
    #[arg(long, value_name = "DAYS")]
    pub keep_failed: Option<u32>,
    /// Read runs through this storage plugin (default: the configured one).
    /// On a run history (`sqlite`) retention is its `retention_days`.
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// Apply history retention to this SQLite history file (implies --backend sqlite).
    #[arg(long, value_name = "PATH", conflicts_with = "backend")]
    pub db: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl PolicyArgs {
    /// Retention flags become configuration overrides: they choose the
    /// `standard` policy with these settings over whatever is configured.
    pub fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let mut set = |key: &str, value: u32, flag: &str| {
            out.push(Override::new(
                format!("retention.{key}"),
                toml::Value::Integer(i64::from(value)),
                format!("{flag} {value}"),
            ));
        };
        if let Some(v) = self.keep {
            set("keep_days", v, "--keep");
        }
        if let Some(v) = self.keep_last {
            set("keep_last", v, "--keep-last");
        }
        if let Some(v) = self.keep_failed {
            set("keep_failed_days", v, "--keep-failed");
        }
        if !out.is_empty() {
            out.insert(
                0,
                Override::new(
                    "retention.plugin",
                    toml::Value::String("standard".into()),
                    "retention flags",
                ),
            );
        }
        out
    }
}

/// `clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow a plan that deletes every run of a project, or more than --max-share of it.
    #[arg(long)]
    pub force: bool,
    /// The largest share of a project's runs deleted without --force, in percent [config: clean.max_share, default 50].
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_share: Option<u8>,
    /// List the kept runs too, each with its reasons.
    #[arg(long)]
    pub reasons: bool,
    /// Also delete script-cache files no remaining run references.
    #[arg(long, conflicts_with = "cache_only")]
    pub cache: bool,
    /// Only collect the script cache; delete no run.
    #[arg(long)]
    pub cache_only: bool,
    /// Unreferenced cache files younger than this stay [config: clean.cache_grace, default 1h].
    #[arg(long, value_name = "DURATION", value_parser = settings::parse_duration)]
    pub grace: Option<Duration>,
    /// Also delete otto.db rows whose run directory is gone (`otto History` lists them).
    #[arg(long)]
    pub prune_rows: bool,
}

/// `run-policies`.
#[derive(Debug, Args)]
pub struct RunPoliciesArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do nothing unless --interval has passed since the last application.
    #[arg(long)]
    pub if_due: bool,
    /// How often policies are due, with --if-due: e.g. `24h`, `30m`, `7d` [config: policies.interval, default 24h].
    #[arg(long, value_name = "DURATION", value_parser = settings::parse_duration)]
    pub interval: Option<Duration>,
    /// Allow plans beyond --max-share.
    #[arg(long)]
    pub force: bool,
    /// The largest share of a project's runs deleted without --force, in percent [config: clean.max_share, default 50].
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_share: Option<u8>,
    /// Also delete script-cache files no remaining run references.
    #[arg(long)]
    pub cache: bool,
}

/// `why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The run as `list` shows it (`<project-dir>/<timestamp>[-n]`); a bare
    /// `<timestamp>[-n]` when one project has it.
    pub run: String,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

fn failure(e: HistoryError) -> Failure {
    if e.bad_input {
        Failure::usage(e.message)
    } else {
        Failure::failed(e.message)
    }
}

/// Makes the plan with the configured (or flag-chosen) policies over the
/// runs of `spec`; also returns the storage's `$OTTO_HOME` when it is
/// otto's (for the cache).
fn make_plan(
    ctx: &Context,
    registry: &crate::registry::Registry,
    spec: &crate::config::InstanceSpec,
    args: &PolicyArgs,
    force: bool,
    max_share: Option<u8>,
) -> Result<(Plan, Option<PathBuf>), Failure> {
    let max_share = max_share.map_or_else(
        || ctx.config.setting_int("clean.max_share") as f64,
        f64::from,
    ) / 100.0;
    let plan = {
        let history =
            History::open(&ctx.config, registry, &ctx.hooks_home, spec).map_err(failure)?;
        // An unknown --project is a mistake, not an empty plan.
        if let Some(p) = &args.project {
            history.check_project(p).map_err(failure)?;
        }
        let _reading = ctx.slow_notice(history.storage_name());
        policy::plan(
            &history,
            &ctx.config,
            registry,
            &ctx.hooks_home,
            &PlanOptions {
                project: args.project.clone(),
                now: Timestamp::now(),
                max_share,
                force,
            },
        )
        .map_err(failure)?
    };
    for w in &plan.warnings {
        ctx.warn(w);
    }
    let otto_home = (spec.plugin == "otto-fs")
        .then(|| {
            let config = otto_hooks_plugin_api::PluginConfig::new(
                spec.instance.clone(),
                spec.settings.clone(),
                ctx.hooks_home.clone(),
            );
            otto_hooks_otto_fs::otto_home_of(&config).ok()
        })
        .flatten();
    Ok((plan, otto_home))
}

/// Finishes what an interrupted earlier clean left in `$OTTO_HOME`'s
/// trash, under the clean lock, and says so in one line; on a dry run only
/// says what is there. Every command that deletes calls it first, whether
/// or not it has anything of its own to delete.
fn finish_interrupted(
    ctx: &Context,
    otto_home: Option<&Path>,
    dry_run: bool,
) -> Result<(), Failure> {
    let Some(otto_home) = otto_home else {
        return Ok(());
    };
    let Ok(root) = crate::fsops::OttoRoot::open(otto_home) else {
        return Ok(()); // No otto home: the plan says so.
    };
    let pending = root.trash_entries().map_err(Failure::failed)?;
    if pending == 0 {
        return Ok(());
    }
    if dry_run {
        ctx.warn(&format!(
            "{pending} entr{} left in {} by an interrupted clean; the next clean or run-policies finishes deleting {}",
            if pending == 1 { "y is" } else { "ies are" },
            root.path().join(crate::fsops::TRASH_DIR).display(),
            if pending == 1 { "it" } else { "them" },
        ));
        return Ok(());
    }
    let lock = crate::fsops::lock_clean(&ctx.hooks_home).map_err(Failure::failed)?;
    let (entries, bytes) = root.finish_interrupted(&lock).map_err(Failure::failed)?;
    if entries > 0 {
        ctx.warn(&format!(
            "finished deleting {entries} entr{} ({}) left in the trash by an interrupted clean",
            if entries == 1 { "y" } else { "ies" },
            otto_hooks_reporters::format::human_size(bytes)
        ));
    }
    Ok(())
}

/// The storage a retention command works on.
fn chosen(ctx: &Context, args: &PolicyArgs) -> Result<crate::config::InstanceSpec, Failure> {
    super::history::chosen_storage(ctx, args.backend.as_deref(), args.db.as_deref())
}

/// A storage that keeps run histories (the `sqlite` history), with the
/// retention that applies to it.
struct HistoryTarget {
    instance: Instance,
    retention: HistoryRetention,
    /// Where the audit log is.
    hooks_home: PathBuf,
}

impl HistoryTarget {
    /// `spec`'s instance when it keeps run histories; `keep` (a `--keep
    /// DAYS` flag) replaces its `retention_days`.
    fn open(
        ctx: &Context,
        registry: &crate::registry::Registry,
        spec: &crate::config::InstanceSpec,
        keep: Option<u32>,
    ) -> Result<Option<Self>, Failure> {
        let instance = registry
            .instantiate(spec, &ctx.hooks_home)
            .map_err(Failure::failed)?;
        if !history_retention::keeps_history(&instance) {
            return Ok(None);
        }
        // choo's `history.retention_days` applies when the storage section
        // sets no `retention_days` of its own.
        let mut spec = spec.clone();
        if !spec.settings.contains_key("retention_days") {
            spec.settings.insert(
                "retention_days".to_owned(),
                toml::Value::Integer(ctx.config.history_retention_days().value),
            );
        }
        let retention = HistoryRetention::of(&spec, keep).map_err(Failure::usage)?;
        Ok(Some(HistoryTarget {
            instance,
            retention,
            hooks_home: ctx.hooks_home.clone(),
        }))
    }

    /// Applies (or previews) the retention, as a plan document.
    fn apply(&self, now: Timestamp, dry_run: bool) -> Result<CleanPlan, Failure> {
        let history = if dry_run {
            self.retention.apply(&self.instance, now, true)
        } else {
            // Every real deletion is in the audit log first.
            crate::audit::hook::expire_audited(
                &self.retention,
                &self.instance,
                now,
                &self.hooks_home,
            )
        }
        .map_err(Failure::failed)?;
        Ok(CleanPlan {
            dry_run,
            history,
            ..CleanPlan::default()
        })
    }
}

/// The flags that choose runs by policy mean nothing to history retention.
fn refuse_run_flags(args: &PolicyArgs, cache: bool) -> Result<(), Failure> {
    let flag = if args.keep_last.is_some() {
        "--keep-last"
    } else if args.keep_failed.is_some() {
        "--keep-failed"
    } else if args.project.is_some() {
        "--project"
    } else if cache {
        "--cache"
    } else {
        return Ok(());
    };
    Err(Failure::usage(format!(
        "{flag} does not apply to a run history: it keeps every run that ended within `retention_days` (or --keep DAYS)"
    )))
}

/// History retention of the storages the hooks record into (the SQLite
/// history by default), for `run-policies`. A failure is a warning and
/// makes the command fail; the rest of the work stands.
fn hooks_history(
    ctx: &Context,
    registry: &crate::registry::Registry,
    history: Option<&crate::config::InstanceSpec>,
    now: Timestamp,
    dry_run: bool,
) -> (Option<otto_hooks_plugin_api::report::HistoryExpiry>, bool) {
    let storages = match history {
        Some(spec) => vec![spec.clone()],
        None => crate::hooks::hook_storages(&ctx.config.default_selection().storage),
    };
    for spec in storages {
        let target = match HistoryTarget::open(ctx, registry, &spec, None) {
            Ok(Some(target)) => target,
            Ok(None) => continue,
            Err(e) => {
                ctx.warn(&format!(
                    "history retention of {}: {}",
                    spec.instance, e.message
                ));
                return (None, false);
            }
        };
        return match target.apply(now, dry_run) {
            Ok(doc) => (doc.history, true),
            Err(e) => {
                ctx.warn(&e.message);
                (None, false)
            }
        };
    }
    (None, true)
}

/// Asks before deleting `what` (`doc` is shown first). `Ok(false)`: the
/// user said no. Without a terminal and without `--yes` it is an error.
fn ask_before_deleting(
    ctx: &Context,
    registry: &crate::registry::Registry,
    json: bool,
    doc: &CleanPlan,
    what: &str,
    bytes: Option<u64>,
) -> Result<bool, Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        ctx.print(registry, json, DocumentKind::CleanPlan, doc)?;
        let held = if doc.held.is_empty() {
            String::new()
        } else {
            format!(" ({} as well)", held_note(doc))
        };
        return Err(Failure::usage(format!(
            "not deleting {what} without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to only show the plan){held}"
        )));
    }
    ctx.print(registry, false, DocumentKind::CleanPlan, doc)?;
    let question = match bytes {
        Some(bytes) => format!(
            "Delete {what}, {}?",
            otto_hooks_reporters::format::human_size(bytes)
        ),
        None => format!("Delete {what}?"),
    };
    if confirm(&question) {
        Ok(true)
    } else {
        eprintln!("nothing deleted");
        Ok(false)
    }
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// What a retention command deletes.
struct Work<'a> {
    plan: &'a Plan,
    /// Delete the plan's runs (not with `--cache-only`).
    runs: bool,
    /// Collect the cache in this scope.
    cache: Option<CacheScope>,
    /// otto's home (its otto.db is reported) and whether orphan rows go.
    rows: policy::RowOptions,
    /// The otto.db warnings the preview gave (the execution says each once).
    warned: std::cell::RefCell<Vec<String>>,
}

impl Work<'_> {
    /// The plan as a document, with the cache preview when asked for.
    fn preview(&self, ctx: &Context, with_kept: bool) -> CleanPlan {
        let mut doc = if self.runs {
            self.plan.document(with_kept)
        } else {
            CleanPlan {
                dry_run: true,
                ..CleanPlan::default()
            }
        };
        if let Some(scope) = &self.cache {
            let cache = cache_gc::preview(self.runs.then_some(self.plan), scope);
            for w in &cache.warnings {
                ctx.warn(w);
            }
            doc.refused.extend(cache.refused);
            doc.cache = Some(cache.plan);
        }
        if let Some(home) = &self.rows.otto_home {
            let mut warnings = Vec::new();
            doc.otto_db.extend(crate::ottodb_rows::preview(
                home,
                &doc.deleted,
                self.rows.prune_rows,
                &mut warnings,
            ));
            for w in &warnings {
                ctx.warn(w);
            }
            self.warned.borrow_mut().extend(warnings);
        }
        doc
    }

    /// How many runs and cache files would go.
    fn counts(&self, doc: &CleanPlan) -> (usize, usize) {
        (
            doc.deleted.len(),
            doc.cache.as_ref().map_or(0, |c| c.deleted.len()),
        )
    }

    /// How many orphan otto.db rows would go (with `--prune-rows`).
    fn orphan_rows(&self, doc: &CleanPlan) -> usize {
        doc.otto_db
            .iter()
            .filter(|d| d.prune_orphans && d.not_written.is_none())
            .map(|d| d.orphan_rows.len())
            .sum()
    }
}

/// Deletes what `work` says; the result as a document.
fn execute_work(ctx: &Context, work: &Work<'_>, json: bool) -> Result<CleanPlan, Failure> {
    let lock = crate::fsops::lock_clean(&ctx.hooks_home).map_err(Failure::failed)?;
    // No audit log, no deletion (see crate::audit).
    let mut audit = crate::audit::AuditLog::open(&ctx.hooks_home)
        .map_err(|e| Failure::failed(format!("{e}: nothing deleted")))?;
    let progress = !ctx.quiet && !json && std::io::stderr().is_terminal();
    let mut document = if work.runs || work.rows.prune_rows {
        // With --cache-only no run goes, but --prune-rows still applies.
        let empty = Plan::default();
        let plan = if work.runs { work.plan } else { &empty };
        let result =
            policy::execute_audited(plan, &lock, &work.rows, Some(&mut audit), |done, total| {
                if progress {
                    eprint!("\rdeleting runs: {done}/{total}");
                    if done == total {
                        eprintln!();
                    }
                }
            })
            .map_err(Failure::failed)?;
        let warned = work.warned.borrow();
        for w in result.warnings.iter().filter(|w| !warned.contains(w)) {
            ctx.warn(w);
        }
        result.document
    } else {
        CleanPlan::default()
    };
    if let Some(scope) = &work.cache {
        if progress {
            eprintln!("collecting the script cache…");
        }
        let cache = if let Some(broken) = audit.broken() {
            // Nothing more goes once the audit log cannot be written.
            ctx.warn(&format!("the script cache is not collected: {broken}"));
            None
        } else {
            Some(cache_gc::collect(scope))
        };
        if let Some(cache) = cache {
            for w in &cache.warnings {
                ctx.warn(w);
            }
            if let Err(e) = crate::audit::hook::record_cache(&mut audit, &cache.plan) {
                ctx.warn(&e);
            }
            document.refused.extend(cache.refused);
            document.cache = Some(cache.plan);
        }
    }
    // A log that broke mid-way (or cannot be synced) fails the command.
    let trouble = audit.broken().map(str::to_owned);
    let synced = audit.finish();
    if let Some(e) = trouble.or(synced.err()) {
        document
            .refused
            .push(otto_hooks_plugin_api::report::RefusedRun {
                project: "*".to_owned(),
                run: "*".to_owned(),
                error: format!("audit log: {e}"),
            });
    }
    drop(lock);
    Ok(document)
}

fn exit_of(doc: &CleanPlan) -> u8 {
    if doc.refused.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    }
}

pub(super) fn clean(ctx: &Context, args: CleanArgs) -> CmdResult {
    let registry = ctx.registry();
    let spec = chosen(ctx, &args.policy)?;
    if let Some(target) = HistoryTarget::open(ctx, &registry, &spec, args.policy.keep)? {
        refuse_run_flags(&args.policy, args.cache || args.cache_only)?;
        if args.prune_rows {
            return Err(Failure::usage(
                "--prune-rows applies to otto's runs (their otto.db rows), not to a run history",
            ));
        }
        return clean_history(ctx, &args, &registry, &target);
    }
    let (plan, otto_home) = make_plan(
        ctx,
        &registry,
        &spec,
        &args.policy,
        args.force,
        args.max_share,
    )?;
    finish_interrupted(ctx, otto_home.as_deref(), args.dry_run)?;
    let grace = args
        .grace
        .unwrap_or_else(|| ctx.config.setting_duration("clean.cache_grace"));
    let rows = policy::RowOptions {
        otto_home: otto_home.clone(),
        prune_rows: args.prune_rows,
    };
    let work = Work {
        plan: &plan,
        runs: !args.cache_only,
        cache: (args.cache || args.cache_only)
            .then(|| CacheScope::new(&plan, otto_home, args.policy.project.clone(), grace)),
        rows,
        warned: Default::default(),
    };
    let doc = work.preview(ctx, args.reasons || args.policy.json);
    let (runs, files) = work.counts(&doc);
    let orphan_rows = work.orphan_rows(&doc);
    if args.dry_run {
        // A plan is what was asked for: the guard's holds are in it, and
        // holding is not a failure until a deletion is refused.
        ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
        return Ok(exit_of(&doc));
    }
    if runs + files + orphan_rows == 0 {
        if doc.held.is_empty() {
            ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
            return Ok(exit_of(&doc));
        }
        // Everything the policy would delete is held: the deletions are
        // refused, as a clean with something to delete reports them.
        let mut done = doc;
        done.dry_run = false;
        done.refused.extend(plan.refusals());
        // The held runs are in the audit log, as when something else goes.
        match crate::audit::AuditLog::open(&ctx.hooks_home) {
            Ok(mut audit) => {
                crate::audit::hook::record_held(&mut audit, &plan);
                if let Err(e) = audit.finish() {
                    ctx.warn(&e);
                }
            }
            Err(e) => ctx.warn(&e),
        }
        ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &done)?;
        if !ctx.quiet {
            eprintln!("nothing deleted: {}", held_note(&done));
        }
        return Ok(exit::FAILURES);
    }
    let interactive = !args.yes;
    if interactive {
        let mut what = match (runs, files) {
            (0, 0) => String::new(),
            (r, 0) => format!("{r} run(s)"),
            (0, f) => format!("{f} cache file(s)"),
            (r, f) => format!("{r} run(s) and {f} cache file(s)"),
        };
        if orphan_rows > 0 {
            let sep = if what.is_empty() { "" } else { " and " };
            what = format!("{what}{sep}{orphan_rows} otto.db row(s) of runs already gone");
        }
        let bytes: u64 = doc.deleted.iter().filter_map(|d| d.size_bytes).sum::<u64>()
            + doc
                .cache
                .as_ref()
                .map_or(0, |c| c.deleted.iter().map(|f| f.size_bytes).sum());
        if !ask_before_deleting(ctx, &registry, args.policy.json, &doc, &what, Some(bytes))? {
            return Ok(exit::OK);
        }
    }
    let done = execute_work(ctx, &work, args.policy.json)?;
    // After a prompt the plan is on the screen: only the outcome follows.
    let shown = if interactive && !args.policy.json {
        outcome(&done)
    } else {
        done.clone()
    };
    ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &shown)?;
    Ok(exit_of(&done))
}

/// `N run(s) (SIZE) held by the guard; pass FLAG to delete them too`.
fn held_note(doc: &CleanPlan) -> String {
    let bytes: u64 = doc.held.iter().filter_map(|r| r.size_bytes).sum();
    let mut note = format!(
        "{} run(s) ({}) held by the guard",
        doc.held.len(),
        otto_hooks_reporters::format::human_size(bytes)
    );
    if let Some(allow) = &doc.allow {
        note.push_str(&format!("; pass {allow} to delete them too"));
    }
    note
}

/// An executed clean's document without its lists of runs (they were in
/// the plan shown before the prompt): per project what was deleted and
/// freed, every refusal and failure, the cache and history outcome.
fn outcome(done: &CleanPlan) -> CleanPlan {
    let mut out = done.clone();
    for g in &mut out.groups {
        let deleted: Vec<_> = done
            .deleted
            .iter()
            .filter(|r| r.project == g.project)
            .collect();
        let planned = g.deleted;
        g.deleted = deleted.len() as u64;
        g.deleted_bytes = deleted.iter().filter_map(|r| r.size_bytes).sum();
        // A planned deletion that did not happen left the run in place.
        g.kept += planned.saturating_sub(g.deleted);
    }
    out.deleted.clear();
    out.held.clear();
    out.kept.clear();
    if let Some(history) = &mut out.history {
        history.run_ids.clear();
    }
    out
}

/// `clean` on a run history: its `retention_days`, plan first.
fn clean_history(
    ctx: &Context,
    args: &CleanArgs,
    registry: &crate::registry::Registry,
    target: &HistoryTarget,
) -> CmdResult {
    let json = args.policy.json;
    // One `now` for the plan and the deletion: what goes is what was shown
    // (a run that ends meanwhile ends after the cutoff).
    let now = Timestamp::now();
    let plan = target.apply(now, true)?;
    let Some(history) = &plan.history else {
        if !ctx.quiet {
            eprintln!(
                "{}: retention_days is 0, the whole history is kept; nothing to do",
                target.retention.storage
            );
        }
        ctx.print(registry, json, DocumentKind::CleanPlan, &plan)?;
        return Ok(exit::OK);
    };
    if args.dry_run || history.runs == 0 {
        ctx.print(registry, json, DocumentKind::CleanPlan, &plan)?;
        return Ok(exit::OK);
    }
    let what = format!(
        "{} run(s) and {} event(s) from the history",
        history.runs, history.events
    );
    if !args.yes {
        if !ask_before_deleting(ctx, registry, json, &plan, &what, None)? {
            return Ok(exit::OK);
        }
        // What goes must be what was shown: a run that ended meanwhile with
        // an old time would otherwise go unseen.
        let again = target.apply(now, true)?;
        if again.history.as_ref().map(|h| &h.run_ids) != Some(&history.run_ids) {
            return Err(Failure::failed(
                "the history changed while the plan was shown; nothing deleted — run the command again",
            ));
        }
    }
    let done = target.apply(now, false)?;
    // After a prompt the run ids were on the screen: only the outcome.
    let shown = if args.yes || json {
        done
    } else {
        outcome(&done)
    };
    ctx.print(registry, json, DocumentKind::CleanPlan, &shown)?;
    Ok(exit::OK)
}

/// When `run-policies` last applied, as a file's mtime.
fn stamp_path(ctx: &Context) -> PathBuf {
    ctx.hooks_home.join("run-policies.last")
}

pub(super) fn run_policies(ctx: &Context, args: RunPoliciesArgs) -> CmdResult {
    let stamp = stamp_path(ctx);
    let interval = args
        .interval
        .unwrap_or_else(|| ctx.config.setting_duration("policies.interval"));
    if args.if_due {
        let last = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        if let Some(age) = last.and_then(|t| t.elapsed().ok()) {
            if age < interval {
                tracing::info!(?age, "policies applied recently; not due");
                if !ctx.quiet {
                    eprintln!(
                        "run-policies: not due (last applied {}s ago, interval {}s)",
                        age.as_secs(),
                        interval.as_secs()
                    );
                }
                return Ok(exit::OK);
            }
        }
    }
    let registry = ctx.registry();
    let (doc, history_ok) = apply_policies(ctx, &registry, &args, None)?;
    ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
    if args.dry_run {
        return Ok(exit_of(&doc));
    }
    record_application(ctx)?;
    Ok(if history_ok {
        exit_of(&doc)
    } else {
        exit::FAILURES
    })
}

/// Marks the policies applied now (for `--if-due`).
fn record_application(ctx: &Context) -> Result<(), Failure> {
    let stamp = stamp_path(ctx);
    std::fs::create_dir_all(&ctx.hooks_home)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            // Our own file: a planted link is refused, never written through.
            let file =
                crate::own_files::open(&stamp, crate::own_files::Access::ReadWrite, Some(0o600))?;
            file.set_modified(std::time::SystemTime::now())
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            Failure::failed(format!(
                "cannot record the application in {}: {e}",
                stamp.display()
            ))
        })
}

/// What `run-policies` does, without printing: the document, and whether
/// the history's retention went well.
fn apply_policies(
    ctx: &Context,
    registry: &crate::registry::Registry,
    args: &RunPoliciesArgs,
    history: Option<&crate::config::InstanceSpec>,
) -> Result<(CleanPlan, bool), Failure> {
    let spec = chosen(ctx, &args.policy)?;
    let now = Timestamp::now();
    if let Some(target) = HistoryTarget::open(ctx, registry, &spec, args.policy.keep)? {
        // A run history named on the command line: its retention alone.
        refuse_run_flags(&args.policy, args.cache)?;
        return Ok((target.apply(now, args.dry_run)?, true));
    }
    let (plan, otto_home) = make_plan(
        ctx,
        registry,
        &spec,
        &args.policy,
        args.force,
        args.max_share,
    )?;
    finish_interrupted(ctx, otto_home.as_deref(), args.dry_run)?;
    let grace = ctx.config.setting_duration("clean.cache_grace");
    let rows = policy::RowOptions {
        otto_home: otto_home.clone(),
        prune_rows: false,
    };
    let work = Work {
        plan: &plan,
        runs: true,
        cache: args
            .cache
            .then(|| CacheScope::new(&plan, otto_home, args.policy.project.clone(), grace)),
        rows,
        warned: Default::default(),
    };
    let mut doc = if args.dry_run {
        work.preview(ctx, true)
    } else {
        execute_work(ctx, &work, args.policy.json)?
    };
    // The hooks' run history has its own retention (`retention_days`);
    // it is the whole history's, so not applied for one --project.
    let mut history_ok = true;
    if args.policy.project.is_none() {
        (doc.history, history_ok) = hooks_history(ctx, registry, history, now, args.dry_run);
    }
    Ok((doc, history_ok))
}

/// One unattended application of the configured policies — what
/// `run-policies` does — summarised in one line (the daemon's schedule).
/// The history retention applies to `db`, the history the daemon serves,
/// with the `retention_days` of a configured `sqlite` storage if any.
pub(crate) fn scheduled_pass(ctx: &Context, db: &std::path::Path) -> String {
    let history = match crate::hooks::history_db_storage(db) {
        Ok(mut spec) => {
            let configured = ctx.config.default_selection().storage;
            if let Some(days) = configured
                .iter()
                .find(|s| s.plugin == "sqlite")
                .and_then(|s| s.settings.get("retention_days"))
            {
                spec.settings
                    .insert("retention_days".to_owned(), days.clone());
            }
            spec
        }
        Err(e) => return format!("run-policies failed: {}: {e}", db.display()),
    };
    scheduled_pass_on(ctx, history)
}

/// [`scheduled_pass`] with the history storage `history` (the daemon's
/// PostgreSQL history, or history.db).
pub(crate) fn scheduled_pass_on(ctx: &Context, history: crate::config::InstanceSpec) -> String {
    let args = RunPoliciesArgs {
        policy: PolicyArgs {
            project: None,
            keep: None,
            keep_last: None,
            keep_failed: None,
            backend: None,
            db: None,
            json: true,
        },
        dry_run: false,
        if_due: false,
        interval: None,
        force: false,
        max_share: None,
        cache: false,
    };
    let registry = ctx.registry();
    let (doc, history_ok) = match apply_policies(ctx, &registry, &args, Some(&history)) {
        Ok(done) => done,
        Err(e) => return format!("run-policies failed: {}", e.message),
    };
    if let Err(e) = record_application(ctx) {
        tracing::warn!("{}", e.message);
    }
    let size = otto_hooks_reporters::format::human_size;
    let mut line = format!(
        "run-policies: {} run(s) deleted ({} freed), {} refused",
        doc.deleted.len(),
        size(doc.bytes_freed),
        doc.refused.len()
    );
    if !doc.held.is_empty() {
        // Unattended, no flag can be passed: name the setting instead.
        let setting = match doc
            .allow
            .as_deref()
            .and_then(|a| a.strip_prefix("--max-share "))
        {
            Some(percent) => format!("clean.max_share = {percent} lets them through"),
            None => "a project would lose every run: only `clean --force` deletes them".to_owned(),
        };
        line.push_str(&format!(
            " ({} run(s) held by the guard; {setting})",
            doc.held.len()
        ));
    }
    match (&doc.history, history_ok) {
        (Some(h), _) => line.push_str(&format!(
            "; history: {} run(s) and {} event(s) older than {} days expired ({} given back)",
            h.runs,
            h.events,
            h.retention_days,
            size(h.bytes_freed)
        )),
        (None, false) => line.push_str("; history retention failed (see the warnings above)"),
        (None, true) => {}
    }
    line
}

pub(super) fn why(ctx: &Context, args: WhyArgs) -> CmdResult {
    let registry = ctx.registry();
    // The run as `list` shows it (or a shorter form), found in storage
    // first: an unknown one is an error naming the newest runs.
    let run = {
        let spec = chosen(ctx, &args.policy)?;
        let history =
            History::open(&ctx.config, &registry, &ctx.hooks_home, &spec).map_err(failure)?;
        history
            .resolve(&args.run, args.policy.project.as_deref())
            .map_err(failure)?
    };
    let run_id = run.id;
    let policy_args = PolicyArgs {
        project: Some(run.project),
        keep: args.policy.keep,
        keep_last: args.policy.keep_last,
        keep_failed: args.policy.keep_failed,
        backend: args.policy.backend.clone(),
        db: args.policy.db.clone(),
        json: args.policy.json,
    };
    let spec = chosen(ctx, &policy_args)?;
    let (plan, _) = make_plan(ctx, &registry, &spec, &policy_args, false, None)?;
    let found = plan.find(None, &run_id);
    let (group, decision) = match found.as_slice() {
        [] => {
            return Err(Failure::usage(format!(
                "no run `{run_id}` (see `otto-hooks list`)"
            )));
        }
        [one] => *one,
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(g, _)| format!("{}/{run_id}", g.project))
                .collect();
            return Err(Failure::usage(format!(
                "run `{run_id}` is ambiguous: {}; name one as <project>/{run_id}",
                names.join(", ")
            )));
        }
    };
    let doc = policy::why_document(group, decision);
    ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
    Ok(exit::OK)
}
