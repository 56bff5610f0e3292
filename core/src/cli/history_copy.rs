//! `otto-hooks history copy --from SPEC --to SPEC`: move a run history
//! between history.db and PostgreSQL, idempotently.

use clap::{Args, Subcommand};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::history_copy::{StoreSpec, copy};

/// `history`.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Copy every run and event from one history to another (idempotent).
    #[command(
        after_help = "Examples:\n  otto-hooks history copy --from sqlite:$HOME/.otto-hooks/history.db --to postgres:postgres://otto@db.example/otto_hooks\n  otto-hooks history copy --from postgres://otto@db.example/otto_hooks --to sqlite:./backup.db --json\n\nThe PostgreSQL password comes from PGPASSWORD (never from the command line).\nCopying again changes nothing for runs already copied; a run that changed since is replaced.\nSee docs/TEAM-HISTORY.md."
    )]
    Copy(CopyArgs),
}

/// `history copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The history to read: sqlite:PATH or postgres:URL.
    #[arg(long, value_name = "SPEC")]
    pub from: String,
    /// The history to write: sqlite:PATH or postgres:URL.
    #[arg(long, value_name = "SPEC")]
    pub to: String,
    /// One JSON document on stdout: {runs, inserted, updated, unchanged, events}.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(ctx: &Context, cmd: HistoryCommand) -> CmdResult {
    match cmd {
        HistoryCommand::Copy(args) => copy_cmd(ctx, &args),
    }
}

fn copy_cmd(ctx: &Context, args: &CopyArgs) -> CmdResult {
    let from = StoreSpec::parse(&args.from).map_err(Failure::usage)?;
    let to = StoreSpec::parse(&args.to).map_err(Failure::usage)?;
    if from == to {
        return Err(Failure::usage("--from and --to name the same history"));
    }
    if let StoreSpec::Sqlite(path) = &from {
        if !path.exists() {
            return Err(Failure::usage(format!(
                "{}: no such history.db",
                path.display()
            )));
        }
    }
    let source = from
        .open()
        .map_err(|e| Failure::failed(format!("--from: {e}")))?;
    let target = to
        .open()
        .map_err(|e| Failure::failed(format!("--to: {e}")))?;
    let summary = copy(&*source, &*target).map_err(|e| Failure::failed(e.to_string()))?;
    if args.json {
        let doc = serde_json::to_string_pretty(&summary)
            .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
        write_stdout(&format!("{doc}\n"))?;
    }
    if !ctx.quiet {
        eprintln!(
            "copied {} run(s), {} event(s): {} new, {} updated, {} unchanged",
            summary.runs, summary.events, summary.inserted, summary.updated, summary.unchanged
        );
    }
    Ok(exit::OK)
}
