//! Events the history daemon did not acknowledge, written to `history.db`
//! directly, so that none is lost when the daemon dies mid-stream.
//!
//! A batch the daemon stores is one transaction: when its answer never
//! arrives (killed, crashed, the connection broke), the batch was stored
//! whole or not at all. If whole, its events are the run's last events:
//! [`deliver`] compares the run's tail with the batch (time, type, unit,
//! task and pr of each event, in order) and writes the batch only when the
//! tail does not already hold it. SQLite's locking makes this second writer
//! safe beside a daemon that is still alive or comes back: each append
//! takes the write lock and numbers its events after the run's last `seq`.
//!
//! One case stays ambiguous: a daemon that is alive but answered later than
//! the client's deadline may store the batch after the comparison; then
//! the batch is stored twice (a duplicate, never a loss).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use otto_hooks_sqlite::{EventFilter, HistoryDb, NewEvent, Options};

use super::WireEvent;
use crate::hooks::wire::rfc3339;

/// `history.db` opened on first need, for the rest of the process.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    path: PathBuf,
    db: OnceLock<HistoryDb>,
}

impl DirectWriter {
    /// A writer of the history database at `path` (not opened yet).
    pub(crate) fn new(path: PathBuf) -> Self {
        DirectWriter {
            path,
            db: OnceLock::new(),
        }
    }

    /// Whether the daemon was already found gone (the process writes
    /// directly from then on).
    pub(crate) fn in_use(&self) -> bool {
        self.db.get().is_some()
    }

    fn db(&self) -> Result<&HistoryDb, String> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        let db = HistoryDb::open(&self.path, &Options::default())
            .map_err(|e| format!("cannot open {}: {e}", self.path.display()))?;
        Ok(self.db.get_or_init(|| db))
    }

    /// Stores `events` of `run_id` unless the run's last events are already
    /// these. Returns how many were written (0 when the daemon had stored
    /// them before it went away).
    pub(crate) fn deliver(&self, run_id: &str, events: &[WireEvent]) -> Result<usize, String> {
        let db = self.db()?;
        if tail_holds(db, run_id, events)? {
            return Ok(0);
        }
        let rows: Vec<NewEvent> = events.iter().map(new_event).collect();
        db.append_events(run_id, rows)
            .map_err(|e| format!("cannot write to {}: {e}", self.path.display()))?;
        Ok(events.len())
    }

    /// The database written to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether the last `events.len()` events of the run are `events`.
fn tail_holds(db: &HistoryDb, run_id: &str, events: &[WireEvent]) -> Result<bool, String> {
    let Some(run) = db
        .get_run(run_id)
        .map_err(|e| format!("cannot read run {run_id}: {e}"))?
    else {
        // Unknown to history.db: the append below reports it.
        return Ok(false);
    };
    let n = events.len() as u64;
    if run.last_seq < n || n == 0 {
        return Ok(false);
    }
    let page = db
        .events(&EventFilter {
            run_id: run_id.to_owned(),
            type_prefix: None,
            unit: None,
            after_seq: Some(run.last_seq - n),
            limit: u32::try_from(n).unwrap_or(u32::MAX),
        })
        .map_err(|e| format!("cannot read the events of run {run_id}: {e}"))?;
    if page.events.len() != events.len() {
        return Ok(false);
    }
    Ok(page.events.iter().zip(events).all(|(stored, sent)| {
        rfc3339(stored.time) == rfc3339(sent.time)
            && stored.kind == sent.kind
            && stored.unit == sent.unit
            && stored.task == sent.task
            && stored.pr == sent.pr
    }))
}

fn new_event(e: &WireEvent) -> NewEvent {
    NewEvent {
        time: e.time,
        kind: e.kind.clone(),
        unit: e.unit.clone(),
        task: e.task,
        pr: e.pr,
        payload: e.payload.clone(),
        error: e.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otto_hooks_plugin_api::Timestamp;
    use otto_hooks_sqlite::NewRun;

    fn event(task: i64) -> WireEvent {
        WireEvent {
            time: Timestamp::from_secs(1_795_000_000 + task),
            kind: "task.started".into(),
            unit: Some("api".into()),
            task: Some(task),
            pr: None,
            payload: Some(r#"{"file":"a.rs"}"#.into()),
            error: None,
        }
    }

    fn world() -> (tempfile::TempDir, DirectWriter) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.db");
        let db = HistoryDb::open(&path, &Options::default()).expect("open");
        db.start_run(NewRun {
            id: "run_1".into(),
            project: "p".into(),
            repo_path: "/src/p".into(),
            started_at: Timestamp::from_secs(1_795_000_000),
            parallelism: 1,
            total_units: 1,
            tasks_dir: None,
            dry_run: false,
        })
        .expect("start");
        db.close().expect("close");
        (dir, DirectWriter::new(path))
    }

    #[test]
    fn a_batch_the_daemon_stored_before_dying_is_not_written_twice() {
        let (_dir, direct) = world();
        let first: Vec<WireEvent> = (0..5).map(event).collect();
        assert_eq!(direct.deliver("run_1", &first), Ok(5));
        // The daemon committed it, then died before answering: the client
        // hands the same batch over again.
        assert_eq!(direct.deliver("run_1", &first), Ok(0));
        let next: Vec<WireEvent> = (5..8).map(event).collect();
        assert_eq!(direct.deliver("run_1", &next), Ok(3));
        let db = direct.db().expect("db");
        assert_eq!(db.get_run("run_1").expect("run").expect("row").last_seq, 8);
    }

    #[test]
    fn a_batch_that_is_not_the_tail_is_written() {
        let (_dir, direct) = world();
        let first: Vec<WireEvent> = (0..5).map(event).collect();
        assert_eq!(direct.deliver("run_1", &first), Ok(5));
        // Same events shifted by one: not what is stored last.
        let shifted: Vec<WireEvent> = (1..6).map(event).collect();
        assert_eq!(direct.deliver("run_1", &shifted), Ok(5));
    }
}
