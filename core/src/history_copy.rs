//! `history copy`: moves a run history between backends — history.db and
//! a PostgreSQL database, either way — idempotently, so one machine's
//! history can grow into a team's and back.
//!
//! Each run is read whole (its row, every event in seq order) and written
//! with the target's atomic, idempotent import: a run already there with the
//! same content is left alone (`unchanged`), one that differs is replaced
//! (`updated`: e.g. it was still running at the last copy). Seq numbers,
//! times (to the nanosecond), payloads byte for byte, counters and the
//! stop/resume summary come across unchanged; database event ids do not
//! (each database numbers its own).

use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::{
    Completion, DbError, HistoryDb, HistoryStore, ImportOutcome, ImportedRun, NewEvent, NewRun,
    Options, RunFilter, RunRow, all_events, all_runs,
};
use serde::Serialize;

/// One end of a copy, as written on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// `sqlite:PATH`: a history.db file.
    Sqlite(std::path::PathBuf),
    /// `postgres:URL` (or the bare `postgres://…` URL): a PostgreSQL
    /// database; the password from `PGPASSWORD`.
    Postgres(String),
}

impl StoreSpec {
    /// Reads `sqlite:PATH`, `postgres:URL` or `postgres://…`.
    pub fn parse(text: &str) -> Result<StoreSpec, String> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("`sqlite:` needs a path: sqlite:PATH".into());
            }
            return Ok(StoreSpec::Sqlite(path.into()));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(text.to_owned()));
        }
        if let Some(url) = text.strip_prefix("postgres:") {
            return Ok(StoreSpec::Postgres(url.to_owned()));
        }
        Err(format!(
            "{text:?} names no history: use sqlite:PATH or postgres:postgres://user@host/db"
        ))
    }

    /// Opens it (a missing history.db is created; a database is migrated).
    pub fn open(&self) -> Result<Box<dyn HistoryStore>, DbError> {
        match self {
            StoreSpec::Sqlite(path) => Ok(Box::new(HistoryDb::open(path, &Options::default())?)),
            StoreSpec::Postgres(url) => Ok(Box::new(PgHistory::open(PgTarget::resolve(
                url, None, None,
            )?)?)),
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopySummary {
    /// Runs read from the source.
    pub runs: u64,
    /// Runs new to the target.
    pub inserted: u64,
    /// Runs replaced because their content differed.
    pub updated: u64,
    /// Runs already there with the same content.
    pub unchanged: u64,
    /// Events read from the source.
    pub events: u64,
}

/// A stored run as an import: its row, every event, how it ended.
pub fn exported_run(from: &dyn HistoryStore, row: &RunRow) -> Result<ImportedRun, DbError> {
    let events = all_events(from, &row.id)?
        .into_iter()
        .map(|e| NewEvent {
            time: e.time,
            kind: e.kind,
            unit: e.unit,
            task: e.task,
            pr: e.pr,
            payload: e.payload.map(|p| p.get().to_owned()),
            error: e.error,
        })
        .collect();
    let completion = (row.status != "running").then(|| Completion {
        run_id: row.id.clone(),
        ended_at: row.completed_at.unwrap_or(row.started_at),
        status: row.status.clone(),
        completed_units: Some(row.completed_units),
        failed_units: Some(row.failed_units),
        blocked_units: Some(row.blocked_units),
        error: row.error.clone(),
    });
    Ok(ImportedRun {
        run: NewRun {
            id: row.id.clone(),
            project: row.project.clone(),
            repo_path: row.repo_path.clone(),
            started_at: row.started_at,
            parallelism: row.parallelism,
            total_units: row.total_units,
            tasks_dir: row.tasks_dir.clone(),
            dry_run: row.dry_run,
        },
        events,
        completion,
    })
}

/// Copies every run of `from` into `to`, oldest first; stops at the first
/// failure (runs copied before it stay copied: running it again resumes).
pub fn copy(from: &dyn HistoryStore, to: &dyn HistoryStore) -> Result<CopySummary, DbError> {
    let mut summary = CopySummary::default();
    let mut runs = all_runs(from, &RunFilter::default())?;
    runs.reverse();
    for row in &runs {
        let imported = exported_run(from, row)?;
        summary.runs += 1;
        summary.events += imported.events.len() as u64;
        match to.import_run(imported)? {
            ImportOutcome::Inserted => summary.inserted += 1,
            ImportOutcome::Updated => summary.updated += 1,
            ImportOutcome::Unchanged => summary.unchanged += 1,
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs_are_read_or_refused_with_the_forms_to_use() {
        assert_eq!(
            StoreSpec::parse("sqlite:/tmp/h.db"),
            Ok(StoreSpec::Sqlite("/tmp/h.db".into()))
        );
        assert_eq!(
            StoreSpec::parse("postgres:postgres://u@h/db"),
            Ok(StoreSpec::Postgres("postgres://u@h/db".into()))
        );
        assert_eq!(
            StoreSpec::parse("postgres://u@h/db"),
            Ok(StoreSpec::Postgres("postgres://u@h/db".into()))
        );
        assert!(
            StoreSpec::parse("mysql://x")
                .unwrap_err()
                .contains("sqlite:PATH")
        );
        assert!(StoreSpec::parse("sqlite:").is_err());
    }
}
