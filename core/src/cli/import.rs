//! `otto-hooks import otto`: index otto's runs into the SQLite history.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::history::storage_spec;
use crate::import::{ImportSummary, OttoSource, default_db_path};

/// `import`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImportArgs {
    /// Where the runs come from.
    #[command(subcommand)]
    pub source: Option<ImportSource>,
    /// Import the runs of an archive made by `otto-hooks export` (checked
    /// whole before anything is written; see docs/EXPORT.md).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub archive: super::archive::FromArgs,
}

/// The sources `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// otto's runs under $OTTO_HOME (read as `list` and `info` read them).
    #[command(
        after_help = "Examples:\n  otto-hooks import otto                          every run under $OTTO_HOME into ~/.otto-hooks/history.db\n  otto-hooks import otto --project web            only project `web` (its directory, name or hash, exactly)\n  otto-hooks import otto --otto-home /mnt/ci/.otto --db ./ci-history.db --json\n\nEach otto run becomes the history run `<project-dir>:<run>` with choo's events\n(orch.started, unit.started, unit.completed | unit.failed, orch.completed | orch.failed).\nImporting again changes nothing for runs already imported; a run that was live\n(its .lock held) is imported as `running` and updated by the next import.\nExit 1 when some run could not be imported. See docs/IMPORT.md."
    )]
    Otto(OttoArgs),
}

/// `import otto`.
#[derive(Debug, Args)]
pub struct OttoArgs {
    /// otto's directory (default: `otto_home` of the configured otto-fs storage, else $OTTO_HOME, else ~/.otto).
    #[arg(long, value_name = "PATH")]
    pub otto_home: Option<PathBuf>,
    /// The history database to write (default: the configured sqlite storage's `db`, else $OTTO_HOOKS_HOME/history.db).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Only this project: its directory name, its name or its hash, exactly.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// One JSON document on stdout: {runs, inserted, updated, unchanged, db, skipped}.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(ctx: &Context, args: ImportArgs) -> CmdResult {
    match (args.source, args.from) {
        (Some(ImportSource::Otto(args)), _) => otto(ctx, args),
        (None, Some(from)) => super::archive::import_from(ctx, &from, args.archive),
        (None, None) => Err(Failure::usage(
            "import needs a source: `import otto` (otto's runs into the history) or `import --from FILE` (an archive)",
        )),
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The otto directory the spec reads (for messages).
fn otto_home_of(spec: &crate::config::InstanceSpec) -> String {
    spec.settings
        .get("otto_home")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix("~/") {
            Some(rest) => crate::paths::home_dir().join(rest).display().to_string(),
            None => s.to_owned(),
        })
        .unwrap_or_else(|| crate::paths::otto_home().display().to_string())
}

fn otto(ctx: &Context, args: OttoArgs) -> CmdResult {
    let registry = ctx.registry();
    let mut spec = storage_spec(&ctx.config, Some("otto-fs")).map_err(|e| {
        if e.bad_input {
            Failure::usage(e.message)
        } else {
            Failure::failed(e.message)
        }
    })?;
    if let Some(home) = &args.otto_home {
        spec.settings.insert(
            "otto_home".to_owned(),
            toml::Value::String(absolute(home).to_string_lossy().into_owned()),
        );
    }
    let otto_home = otto_home_of(&spec);
    let db_path = match &args.db {
        Some(p) => absolute(p),
        None => default_db_path(&ctx.config, &ctx.hooks_home),
    };
    let source = OttoSource::open(&ctx.config, &registry, &ctx.hooks_home, &spec)
        .map_err(|e| Failure::failed(e.message))?;
    let runs = source
        .runs(args.project.as_deref())
        .map_err(|e| Failure::failed(e.message))?;

    let summary = if runs.is_empty() {
        ImportSummary {
            db: db_path.display().to_string(),
            ..ImportSummary::default()
        }
    } else {
        if db_path.is_dir() {
            return Err(Failure::failed(format!(
                "cannot open the history database {}: it is a directory",
                db_path.display()
            )));
        }
        let db =
            otto_hooks_sqlite::HistoryDb::open(&db_path, &otto_hooks_sqlite::Options::default())
                .map_err(|e| {
                    Failure::failed(format!(
                        "cannot open the history database {}: {e}",
                        db_path.display()
                    ))
                })?;
        let show_progress = !ctx.quiet && runs.len() >= 200 && std::io::stderr().is_terminal();
        let step = (runs.len() / 100).max(1);
        let progress = |done: usize, total: usize| {
            if show_progress && (done % step == 0 || done == total) {
                eprint!("\rimporting otto runs: {done}/{total}");
            }
        };
        let summary = source.import(&runs, &db, &progress);
        if show_progress {
            eprintln!();
        }
        db.close().map_err(|e| {
            Failure::failed(format!(
                "cannot close the history database {}: {e}",
                db_path.display()
            ))
        })?;
        summary
    };
    for w in source.take_warnings() {
        ctx.warn(&w);
    }
    for s in &summary.skipped {
        eprintln!("error: cannot import {}: {}", s.run, s.error);
    }

    if args.json {
        let text = serde_json::to_string(&summary)
            .map_err(|e| Failure::failed(format!("cannot serialise the summary: {e}")))?;
        write_stdout(&format!("{text}\n"))?;
        if summary.runs == 0 && !ctx.quiet {
            eprintln!(
                "note: {}",
                nothing_found(&otto_home, args.project.as_deref())
            );
        }
    } else if summary.runs == 0 {
        write_stdout(&format!(
            "{}; nothing imported\n",
            nothing_found(&otto_home, args.project.as_deref())
        ))?;
    } else {
        let mut line = format!(
            "imported {} otto run(s) into {}: {} new, {} updated, {} unchanged",
            summary.runs - summary.skipped.len(),
            summary.db,
            summary.inserted,
            summary.updated,
            summary.unchanged
        );
        if !summary.skipped.is_empty() {
            line.push_str(&format!(", {} failed", summary.skipped.len()));
        }
        write_stdout(&format!("{line}\n"))?;
    }
    Ok(if summary.skipped.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    })
}

fn nothing_found(otto_home: &str, project: Option<&str>) -> String {
    let missing = !Path::new(otto_home).exists();
    match (project, missing) {
        (_, true) => format!("no otto runs: {otto_home} does not exist"),
        (Some(p), false) => format!("no otto runs of project `{p}` under {otto_home}"),
        (None, false) => format!("no otto runs under {otto_home}"),
    }
}
