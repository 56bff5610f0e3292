//! `otto-hooks export` and `otto-hooks import --from`: runs as archives.

use std::path::{Path, PathBuf};

use clap::Args;
use otto_hooks_reporters::format::human_size;

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::archive::export::{ExportSummary, Source, export};
use crate::archive::import::{Destination, ImportReport, import};
use crate::history::{History, storage_spec};

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The runs: otto runs as `list` shows them (`<project>/<ts>[-n]`, or a
    /// bare `<ts>` one project has), history run ids (`run_…`).
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<String>,
    /// The archive to write (a new file; `.tar.zst` by convention).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// otto's directory (default: the configured otto-fs storage's, else $OTTO_HOME, else ~/.otto).
    #[arg(long, value_name = "PATH")]
    pub otto_home: Option<PathBuf>,
    /// The history database history runs come from (default: the configured sqlite storage's `db`, else $OTTO_HOOKS_HOME/history.db).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Narrows a bare otto run name to this project.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// One JSON document on stdout: {output, runs, archive_bytes, sha256, warnings}.
    #[arg(long)]
    pub json: bool,
}

/// `import --from FILE`.
#[derive(Debug, Args)]
pub struct FromArgs {
    /// otto's directory to import otto runs into (default: as `list` reads).
    #[arg(long, value_name = "PATH")]
    pub otto_home: Option<PathBuf>,
    /// The history database to import history runs into.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// One JSON document on stdout: {archive, runs, imported, unchanged, conflicts, failed}.
    #[arg(long)]
    pub json: bool,
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The otto-fs storage, reading `otto_home` when given.
fn otto_spec(
    ctx: &Context,
    otto_home: Option<&Path>,
) -> Result<crate::config::InstanceSpec, Failure> {
    let mut spec =
        storage_spec(&ctx.config, Some("otto-fs")).map_err(|e| Failure::usage(e.message))?;
    if let Some(home) = otto_home {
        spec.settings.insert(
            "otto_home".to_owned(),
            toml::Value::String(absolute(home).to_string_lossy().into_owned()),
        );
    }
    Ok(spec)
}

fn otto_home_of(ctx: &Context, spec: &crate::config::InstanceSpec) -> Result<PathBuf, Failure> {
    let config = otto_hooks_plugin_api::PluginConfig::new(
        spec.instance.clone(),
        spec.settings.clone(),
        ctx.hooks_home.clone(),
    );
    otto_hooks_otto_fs::otto_home_of(&config).map_err(|e| Failure::usage(e.to_string()))
}

fn history_db(ctx: &Context, db: Option<&Path>) -> PathBuf {
    match db {
        Some(p) => absolute(p),
        None => crate::import::default_db_path(&ctx.config, &ctx.hooks_home),
    }
}

pub(super) fn export_cmd(ctx: &Context, args: ExportArgs) -> CmdResult {
    let registry = ctx.registry();
    let spec = otto_spec(ctx, args.otto_home.as_deref())?;
    let db = history_db(ctx, args.db.as_deref());
    let mut sources = Vec::new();
    {
        let history = History::open(&ctx.config, &registry, &ctx.hooks_home, &spec)
            .map_err(|e| Failure::failed(e.message))?;
        for name in &args.runs {
            if let Some(run) = history
                .find(name, args.project.as_deref())
                .map_err(|e| Failure::usage(e.message))?
            {
                let home = crate::policy::otto_root_of(&run).ok_or_else(|| {
                    Failure::failed(format!(
                        "{name}: not an otto run directory ({})",
                        run.location
                    ))
                })?;
                sources.push(Source::Otto {
                    home,
                    project: run.project,
                    run: run.id,
                });
                continue;
            }
            let in_history = crate::archive::check::is_history_id(name)
                && db.is_file()
                && otto_hooks_sqlite::HistoryDb::open(&db, &otto_hooks_sqlite::Options::default())
                    .ok()
                    .and_then(|h| h.get_run(name).ok().flatten())
                    .is_some();
            if !in_history {
                return Err(Failure::usage(format!(
                    "no run `{name}`: neither an otto run under {} nor a run of the history {} (see `otto-hooks list`)",
                    otto_home_of(ctx, &spec)?.display(),
                    db.display()
                )));
            }
            sources.push(Source::History {
                db: db.clone(),
                id: name.clone(),
            });
        }
    }
    let summary = export(&sources, &absolute(&args.output)).map_err(Failure::failed)?;
    for w in &summary.warnings {
        ctx.warn(w);
    }
    if args.json {
        let text = serde_json::to_string(&summary).map_err(|e| Failure::failed(e.to_string()))?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        write_stdout(&export_text(&summary))?;
    }
    Ok(exit::OK)
}

fn export_text(s: &ExportSummary) -> String {
    let mut out = format!(
        "exported {} run(s) into {} ({}, sha256 {})\n",
        s.runs.len(),
        s.output,
        human_size(s.archive_bytes),
        s.sha256
    );
    for r in &s.runs {
        let rows = match (r.kind, r.rows) {
            ("otto", true) => ", with its otto.db rows",
            ("otto", false) => ", without otto.db rows (otto.db has none naming its directory)",
            _ => "",
        };
        out.push_str(&format!(
            "  {} {}: {} entries, {}{rows}\n",
            r.kind,
            r.run,
            r.entries,
            human_size(r.bytes)
        ));
    }
    out
}

pub(super) fn import_from(ctx: &Context, from: &Path, args: FromArgs) -> CmdResult {
    let spec = otto_spec(ctx, args.otto_home.as_deref())?;
    let dest = Destination {
        otto_home: otto_home_of(ctx, &spec)?,
        history_db: history_db(ctx, args.db.as_deref()),
    };
    // A missing archive, or a path that is not a file, is the caller's
    // mistake (exit 2), not a failed import.
    match std::fs::metadata(from) {
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                from.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(Failure::usage(format!(
                "{} is not an archive file (a regular file written by `otto-hooks export`)",
                from.display()
            )));
        }
        Ok(_) => {}
    }
    let report =
        import(&absolute(from), &dest, crate::archive::Limits::default()).map_err(|e| {
            if e.starts_with("archive refused") {
                Failure::usage(e)
            } else {
                Failure::failed(e)
            }
        })?;
    for r in &report.runs {
        if let Some(e) = &r.error {
            eprintln!("error: {} {}: {e}", r.kind, r.run);
        }
        if let Some(rows) = r
            .rows
            .as_deref()
            .and_then(|r| r.strip_prefix("not-imported: "))
        {
            ctx.warn(&format!(
                "{}: its otto.db rows were not imported: {rows}",
                r.run
            ));
        }
    }
    if args.json {
        let text = serde_json::to_string(&report).map_err(|e| Failure::failed(e.to_string()))?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        write_stdout(&import_text(&report))?;
    }
    Ok(if report.conflicts + report.failed > 0 {
        exit::FAILURES
    } else {
        exit::OK
    })
}

fn import_text(r: &ImportReport) -> String {
    let mut out = String::new();
    for run in &r.runs {
        let rows = match run.rows.as_deref() {
            Some("imported") => " (otto.db rows imported)",
            Some(s) if s.starts_with("not-imported") => " (otto.db rows NOT imported)",
            _ => "",
        };
        out.push_str(&format!(
            "{:<9}  {} {}  {}{rows}\n",
            run.outcome, run.kind, run.run, run.path
        ));
    }
    if r.imported == 0 && r.conflicts == 0 && r.failed == 0 {
        out.push_str(&format!(
            "nothing changed: every run of {} is here already ({} unchanged)\n",
            r.archive, r.unchanged
        ));
    } else {
        out.push_str(&format!(
            "{} imported, {} unchanged, {} conflict(s), {} failed\n",
            r.imported, r.unchanged, r.conflicts, r.failed
        ));
    }
    out
}
