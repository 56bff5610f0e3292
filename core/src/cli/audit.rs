//! `otto-hooks audit`: what the cleaners deleted, from the audit log.

use std::time::Duration;

use clap::Args;
use otto_hooks_reporters::format::{human_size, local_time};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::audit::{AuditQuery, AuditReport, read};
use crate::config::settings;

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only deletions within this long ago: `90s`, `30m`, `24h`, `7d`.
    #[arg(long, value_name = "DURATION", value_parser = settings::parse_duration)]
    pub since: Option<Duration>,
    /// Only this project: its directory name, its name or its hash, exactly.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// One JSON document on stdout: {entries, files, skipped_lines}.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(ctx: &Context, args: AuditArgs) -> CmdResult {
    let since = args.since.map(|d| {
        let now = otto_hooks_plugin_api::Timestamp::now().secs;
        now.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    let query = AuditQuery {
        since,
        project: args.project.clone(),
    };
    let report = read(&ctx.hooks_home, &query).map_err(Failure::failed)?;
    for w in &report.warnings {
        ctx.warn(w);
    }
    if args.json {
        let text = serde_json::to_string(&report)
            .map_err(|e| Failure::failed(format!("cannot serialise the audit: {e}")))?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        write_stdout(&table(&report))?;
    }
    Ok(exit::OK)
}

/// The table: one line per deletion, newest first, local times.
fn table(report: &AuditReport) -> String {
    if report.entries.is_empty() {
        return if report.files.is_empty() {
            "no deletions recorded: the audit log is empty\n".to_owned()
        } else {
            "no deletions recorded that match\n".to_owned()
        };
    }
    let rows: Vec<[String; 6]> = report
        .entries
        .iter()
        .map(|e| {
            let what = match &e.project {
                Some(p) => format!("{p}/{}", e.target),
                None => e.target.clone(),
            };
            let mut outcome = e.outcome.as_str().to_owned();
            if let Some(error) = &e.error {
                outcome.push_str(&format!(": {error}"));
            }
            let rule = e.rule.as_deref().unwrap_or("-");
            [
                local_time(e.timestamp),
                outcome,
                kind(e.kind),
                what,
                e.bytes.map(human_size).unwrap_or_else(|| "-".to_owned()),
                format!("{rule}  by {}@{} ({})", e.who.user, e.who.host, e.who.via),
            ]
        })
        .collect();
    let headers = ["TIME", "OUTCOME", "KIND", "WHAT", "SIZE", "RULE / WHO"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

fn kind(kind: Option<crate::audit::Kind>) -> String {
    match kind {
        Some(crate::audit::Kind::OttoRun) => "otto-run",
        Some(crate::audit::Kind::CacheFile) => "cache-file",
        Some(crate::audit::Kind::HistoryRun) => "history-run",
        Some(crate::audit::Kind::OttoDbRow) => "otto-db-row",
        None => "-",
    }
    .to_owned()
}
