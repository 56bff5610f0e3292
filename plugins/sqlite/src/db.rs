//! [`HistoryDb`]: one history.db file, its writer thread and its readers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use otto_hooks_plugin_api::Timestamp;
use rusqlite::Connection;

use crate::commands;
use crate::connection::{self, Options};
use crate::error::{DbError, Result};
use crate::migrate;
use crate::model::{
    Completion, DbStats, DeleteReport, EventRow, ExpirePreview, ExpireReport, Graph, ImportOutcome,
    ImportedRun, NewEvent, NewRun, RunRow, SeqRange,
};
use crate::query::{self, EventFilter, EventPage, RunFilter, RunPage};
use crate::time::format_time;
use crate::writer::{self, ExpireJob, Job, Message};

/// Called on the writer thread after each COMMIT that stored events (see
/// [`HistoryDb::set_event_listener`]).
pub type EventListener = dyn Fn(&[EventRow]) + Send + Sync;

/// A history.db, open for reading and writing.
///
/// Writes go to one writer thread (module `writer`) and every write
/// method blocks until its command is committed. Reads use their own
/// read-only connections from a small pool, each read one short
/// transaction. `HistoryDb` is `Send + Sync`: share it between threads
/// behind an `Arc`. Several processes may open the same file; SQLite's
/// write lock (and `busy_timeout`) orders their writes.
pub struct HistoryDb {
    path: PathBuf,
    options: Options,
    sender: Option<Sender<Message>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    listener: Option<Arc<EventListener>>,
}

impl fmt::Debug for HistoryDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryDb")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("open", &self.sender.is_some())
            .field("event_listener", &self.listener.is_some())
            .finish()
    }
}

impl HistoryDb {
    /// Opens (creating the directory and file when missing) and migrates the
    /// database at `path`, and starts its writer thread.
    pub fn open(path: impl AsRef<Path>, options: &Options) -> Result<HistoryDb> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                DbError::Io(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let mut conn = connection::open_write(&path, options)?;
        migrate::migrate(&mut conn).map_err(|e| e.at(&path))?;
        let (sender, rx) = mpsc::channel();
        let writer = {
            let path = path.clone();
            let options = options.clone();
            std::thread::Builder::new()
                .name("history-db-writer".into())
                .spawn(move || writer::run(conn, path, options, rx))
                .map_err(|e| {
                    DbError::Io(format!("cannot start the history.db writer thread: {e}"))
                })?
        };
        Ok(HistoryDb {
            path,
            options: options.clone(),
            sender: Some(sender),
            writer: Some(writer),
            readers: Mutex::new(Vec::new()),
            listener: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finishes every pending command, checkpoints the WAL (`TRUNCATE`) and
    /// stops the writer thread. Dropping a `HistoryDb` does the same.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    pub(crate) fn shutdown(&mut self) -> Result<()> {
        // The readers close first, while the writer's connection is still
        // open; then the writer closes alone (its last checkpoint finds no
        // reader). Closing both at once on two threads is the close race
        // that deadlocked SQLite 3.51.1's unix VFS (see `connection`).
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
        self.sender.take();
        match self.writer.take() {
            Some(handle) => handle.join().map_err(|_| {
                DbError::Sqlite(format!(
                    "{}: the history.db writer thread panicked",
                    self.path.display()
                ))
            }),
            None => Ok(()),
        }
    }

    fn stopped(&self) -> DbError {
        DbError::Sqlite(format!(
            "{}: the history.db writer has stopped; reopen the database",
            self.path.display()
        ))
    }

    /// Sends a command to the writer and waits for its committed result.
    fn submit<T, F>(&self, weight: usize, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or_else(|| self.stopped())?;
        let (tx, rx) = sync_channel(1);
        sender
            .send(Message::Write(Box::new(Job::new(weight, op, tx))))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())?
    }

    /// Like [`submit`](Self::submit), for a command that appends events and
    /// returns them as a range of `run_id`: when a listener is set, the
    /// stored rows are read back inside the transaction and handed to it
    /// after COMMIT, before the caller is answered.
    fn submit_appending<T, F>(&self, weight: usize, run_id: String, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, SeqRange)> + Send + 'static,
    {
        let Some(listener) = self.listener.clone() else {
            return self.submit(weight, move |c| op(c).map(|(value, _)| value));
        };
        let sender = self.sender.as_ref().ok_or_else(|| self.stopped())?;
        let (tx, rx) = sync_channel(1);
        let op = move |c: &Connection| -> Result<(T, Vec<EventRow>)> {
            let (value, range) = op(c)?;
            let rows = if range.is_empty() {
                Vec::new()
            } else {
                query::events_between(c, &run_id, range.first, range.last)?
            };
            Ok((value, rows))
        };
        let notify = Box::new(move |(_, rows): &(T, Vec<EventRow>)| {
            if !rows.is_empty() {
                listener(rows);
            }
        });
        sender
            .send(Message::Write(Box::new(
                Job::new(weight, op, tx).after_commit(notify),
            )))
            .map_err(|_| self.stopped())?;
        rx.recv()
            .map_err(|_| self.stopped())?
            .map(|(value, _)| value)
    }

    /// Runs a read on a pooled read-only connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connection::open_read(&self.path, &self.options)?,
        };
        let result = f(&conn).map_err(|e| e.at(&self.path));
        if let Ok(mut readers) = self.readers.lock() {
            if readers.len() < self.options.read_pool && conn.is_autocommit() {
                readers.push(conn);
            }
        }
        result
    }

    // ---- writes -------------------------------------------------------------

    /// Sets the function told about every event this `HistoryDb` stores
    /// through [`append_events`](Self::append_events),
    /// [`stop_run`](Self::stop_run), [`resume_run`](Self::resume_run) and
    /// [`complete_run_recorded`](Self::complete_run_recorded) (imports and
    /// other processes' writes are not reported).
    ///
    /// It is called on the writer thread after the COMMIT that stored the
    /// events and before their writer is answered, one call per command,
    /// in commit order: across calls, event ids only grow. Keep it short (a
    /// channel send): the writer waits for it. A panic in it is logged.
    pub fn set_event_listener(&mut self, listener: impl Fn(&[EventRow]) + Send + Sync + 'static) {
        self.listener = Some(Arc::new(listener));
    }

    /// Records a new run (status `running`). `AlreadyExists` when the id is taken.
    pub fn start_run(&self, run: NewRun) -> Result<()> {
        self.submit(1, move |c| commands::start_run(c, &run))
    }

    /// Records a new run like [`start_run`](Self::start_run), with its
    /// dependency graph given as an `orch.started`-shaped payload
    /// (`{"graph": {nodes, edges, levels}}`; anything else stores no graph),
    /// in the same transaction.
    pub fn start_run_with_graph(&self, run: NewRun, graph: Option<String>) -> Result<()> {
        self.submit(1, move |c| {
            commands::start_run_with_graph(c, &run, graph.as_deref())
        })
    }

    /// Appends events to a run, numbering them after its last one; returns
    /// their sequence numbers. `NotFound` for an unknown run, `Invalid` (and
    /// nothing stored) when any event is invalid. A `run.stopped` or
    /// `run.resumed` event changes the run's status and `resume_count` as
    /// [`stop_run`](Self::stop_run) and [`resume_run`](Self::resume_run) do.
    pub fn append_events(&self, run_id: &str, events: Vec<NewEvent>) -> Result<SeqRange> {
        let id = run_id.to_owned();
        self.submit_appending(events.len(), run_id.to_owned(), move |c| {
            commands::append_events(c, &id, &events).map(|range| (range, range))
        })
    }

    /// Records how a run ended: status, `completed_at`, counters when given,
    /// error; closes its running period into `active_ms`.
    pub fn complete_run(&self, completion: Completion) -> Result<()> {
        self.submit(1, move |c| commands::complete_run(c, &completion))
    }

    /// [`complete_run`](Self::complete_run) plus, in the same transaction,
    /// the event that records it: `run.completed`, `run.failed` or
    /// `run.stopped` (payload `{status, completed_units?, failed_units?,
    /// blocked_units?}`, and `reason` for `run.stopped`; `error` the
    /// completion's). Returns that event's seq.
    pub fn complete_run_recorded(&self, completion: Completion) -> Result<u64> {
        let run_id = completion.run_id.clone();
        self.submit_appending(1, run_id, move |c| {
            let seq = commands::complete_run_recorded(c, &completion)?;
            Ok((
                seq,
                SeqRange {
                    first: seq,
                    last: seq,
                },
            ))
        })
    }

    /// Stops a running run: appends `run.stopped {"reason": …}` and marks it
    /// `stopped`. Returns that event's seq. `Invalid` when the run is not running.
    pub fn stop_run(&self, run_id: &str, at: Timestamp, reason: Option<String>) -> Result<u64> {
        let id = run_id.to_owned();
        self.submit_appending(1, run_id.to_owned(), move |c| {
            let seq = commands::stop_run(c, &id, at, reason.as_deref())?;
            Ok((
                seq,
                SeqRange {
                    first: seq,
                    last: seq,
                },
            ))
        })
    }

    /// Resumes a stopped or failed run under the same id: appends
    /// `run.resumed {"resumed_from_seq": N}` and marks it running. Returns N,
    /// the run's last seq before the resume.
    pub fn resume_run(&self, run_id: &str, at: Timestamp) -> Result<u64> {
        let id = run_id.to_owned();
        self.submit_appending(1, run_id.to_owned(), move |c| {
            let from = commands::resume_run(c, &id, at)?;
            Ok((
                from,
                SeqRange {
                    first: from + 1,
                    last: from + 1,
                },
            ))
        })
    }

    /// Deletes the named runs with their events and graphs, in one
    /// transaction; running runs are skipped and reported.
    pub fn delete_runs(&self, ids: Vec<String>) -> Result<DeleteReport> {
        self.submit(ids.len(), move |c| commands::delete_runs(c, &ids))
    }

    /// Deletes every run that is not running and ended (`completed_at`, or
    /// `started_at` when a finished run has none) before `cutoff`, `chunk`
    /// runs per write transaction, then gives the free pages back with
    /// `PRAGMA incremental_vacuum`. See [`ExpireReport::bytes_freed`].
    pub fn expire(&self, cutoff: Timestamp, chunk: usize) -> Result<ExpireReport> {
        let cutoff = format_time(cutoff)?;
        let sender = self.sender.as_ref().ok_or_else(|| self.stopped())?;
        let (tx, rx) = sync_channel(1);
        sender
            .send(Message::Expire(ExpireJob::new(cutoff, chunk, tx)))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())?
    }

    /// What [`expire`](Self::expire) with `cutoff` would delete now, read
    /// with the same selection; deletes nothing.
    pub fn expire_preview(&self, cutoff: Timestamp) -> Result<ExpirePreview> {
        let cutoff = format_time(cutoff)?;
        self.read(|c| commands::expire_preview(c, &cutoff))
    }

    /// Checkpoints the WAL with `wal_checkpoint(TRUNCATE)` once every command
    /// sent before this call is committed: the `-wal` file is emptied.
    /// `Ok(false)` when a reader (of any process) kept it from completing.
    pub fn checkpoint_truncate(&self) -> Result<bool> {
        let sender = self.sender.as_ref().ok_or_else(|| self.stopped())?;
        let (tx, rx) = sync_channel(1);
        sender
            .send(Message::Checkpoint(tx))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())?
    }

    /// Imports a whole run atomically and idempotently: `Inserted` when new,
    /// `Unchanged` when stored with exactly this content, `Updated` (its rows
    /// replaced) otherwise.
    pub fn import_run(&self, run: ImportedRun) -> Result<ImportOutcome> {
        self.submit(run.events.len().max(1), move |c| {
            commands::import_run(c, &run)
        })
    }

    // ---- reads --------------------------------------------------------------

    /// A page of runs, newest first (see [`RunFilter`]). Reads `runs` only.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        self.read(|c| query::list_runs(c, filter))
    }

    /// Like [`list_runs`](Self::list_runs) after skipping `offset` runs; the
    /// cost grows with `offset` (prefer the cursor).
    pub fn list_runs_offset(&self, filter: &RunFilter, offset: u64) -> Result<RunPage> {
        self.read(|c| query::list_runs_offset(c, filter, offset))
    }

    /// How many runs match `filter` (ignoring its `limit` and `before`).
    pub fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        self.read(|c| query::count_runs(c, filter))
    }

    /// One run, when it exists.
    pub fn get_run(&self, id: &str) -> Result<Option<RunRow>> {
        self.read(|c| query::get_run(c, id))
    }

    /// A page of a run's events (see [`EventFilter`]); `NotFound` for an unknown run.
    pub fn events(&self, filter: &EventFilter) -> Result<EventPage> {
        self.read(|c| query::events(c, filter))
    }

    /// How many of a run's events match `filter` (ignoring `after_seq` and `limit`).
    pub fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        self.read(|c| query::count_events(c, filter))
    }

    /// A page of a run's events by a [`crate::EventSearch`] (either order,
    /// seq bounds, offset, text search); `NotFound` for an unknown run.
    pub fn search_events(&self, search: &crate::EventSearch) -> Result<EventPage> {
        self.read(|c| crate::search::search_events(c, search))
    }

    /// How many of a run's events match a search's filters and text.
    pub fn count_search(&self, search: &crate::EventSearch) -> Result<u64> {
        self.read(|c| crate::search::count_search(c, search))
    }

    /// Events of every run after the database id `after_id`, in id order
    /// (the order they were stored): a feed for followers of all runs.
    pub fn events_after_id(&self, after_id: i64, limit: u32) -> Result<EventPage> {
        self.read(|c| query::events_after_id(c, after_id, limit))
    }

    /// The largest event id stored (0 when none).
    pub fn last_event_id(&self) -> Result<i64> {
        self.read(query::last_event_id)
    }

    /// The run's dependency graph (from its `orch.started` event), when any.
    pub fn graph(&self, run_id: &str) -> Result<Option<Graph>> {
        self.read(|c| query::graph(c, run_id))
    }

    /// Every repository with runs, with per-status counts, the most
    /// recently used first.
    pub fn repos(&self) -> Result<Vec<crate::RepoSummary>> {
        self.read(crate::repos::repos)
    }

    /// Every unit of the run summarised from its events (first and last
    /// event, final state, counts), in the order of their first event;
    /// `NotFound` for an unknown run.
    pub fn unit_summaries(&self, run_id: &str) -> Result<Vec<crate::UnitSummary>> {
        self.read(|c| crate::units::unit_summaries(c, run_id))
    }

    /// The run's `run.stopped` / `run.resumed` events, in order.
    pub fn stop_resume_points(&self, run_id: &str) -> Result<Vec<EventRow>> {
        self.read(|c| query::stop_resume_points(c, run_id))
    }

    /// Counts and sizes of the database.
    pub fn stats(&self) -> Result<DbStats> {
        self.read(|c| query::stats(c, &self.path))
    }

    /// Per project: runs, bytes of event text, oldest run.
    pub fn project_usage(
        &self,
        project: Option<&str>,
    ) -> Result<Vec<otto_hooks_plugin_api::ProjectUsage>> {
        self.read(|c| query::project_usage(c, project))
    }

    /// Runs `f` on a pooled read-only connection, in one short read: for
    /// readers outside this crate (the history insights) that query the
    /// schema directly.
    pub fn read_with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.read(f)
    }

    /// Runs SQLite's `integrity_check`.
    pub fn integrity_check(&self) -> Result<()> {
        self.read(|c| query::integrity_check(c, &self.path))
    }
}

impl Drop for HistoryDb {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "closing history.db");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_db_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HistoryDb>();
    }
}
