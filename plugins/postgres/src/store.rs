//! [`PgHistory`]: a run history in a PostgreSQL database.

use std::fmt;
use std::sync::{Arc, Mutex};

use otto_hooks_plugin_api::{ProjectUsage, Timestamp};
use otto_hooks_sqlite::time::format_time;
use otto_hooks_sqlite::{
    Completion, DbError, DeleteReport, EventFilter, EventListener, EventPage, EventRow,
    ExpirePreview, ExpireReport, Graph, HistoryStore, ImportOutcome, ImportedRun, NewEvent,
    NewRun, RepoSummary, RunFilter, RunPage, RunRow, SeqRange,
};
use postgres::{Client, Transaction};

use crate::commands;
use crate::error::{is_connection_loss, pg};
use crate::query;
use crate::schema;
use crate::settings::PgTarget;

type Result<T> = std::result::Result<T, DbError>;

/// Connections kept open for reuse.
pub const DEFAULT_POOL: usize = 8;

/// A run history in PostgreSQL: the same operations and answers as
/// [`HistoryDb`](otto_hooks_sqlite::HistoryDb), for many processes on many
/// machines at once.
///
/// - Each call takes a pooled connection (or opens one) and runs in one
///   transaction; writes answer after COMMIT.
/// - A connection found dead (the server restarted, the network broke) is
///   dropped and the call tried once more on a new one — for a write only
///   when the failure came before COMMIT was sent, so nothing is stored
///   twice. A connection lost *during* COMMIT is reported as such: the
///   write may or may not be stored, and the caller decides.
/// - The event listener hears about this process's own writes only; other
///   daemons' events reach a live stream through the database.
pub struct PgHistory {
    target: PgTarget,
    pool: Mutex<Vec<Client>>,
    pool_size: usize,
    listener: Option<Arc<EventListener>>,
}

impl fmt::Debug for PgHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgHistory")
            .field("target", &self.target)
            .field("pool_size", &self.pool_size)
            .field("event_listener", &self.listener.is_some())
            .finish()
    }
}

/// Where a write failed, to decide whether a retry is safe.
enum WriteError {
    /// Before COMMIT was sent: nothing is stored.
    Before(DbError, bool),
    /// COMMIT itself failed.
    AtCommit(DbError, bool),
}

impl PgHistory {
    /// Connects to `target` and migrates the database (exactly once across
    /// every process starting at the same time).
    pub fn open(target: PgTarget) -> Result<PgHistory> {
        let mut client = target.connect()?;
        schema::migrate(&mut client)?;
        Ok(PgHistory {
            target,
            pool: Mutex::new(vec![client]),
            pool_size: DEFAULT_POOL,
            listener: None,
        })
    }

    /// The database it uses.
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    fn take(&self) -> Result<Client> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(c) if !c.is_closed() => Ok(c),
            _ => self.target.connect(),
        }
    }

    fn give_back(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < self.pool_size {
                pool.push(client);
            }
        }
    }

    /// Runs a read; once more on a new connection when the first was dead.
    fn read<T>(&self, f: impl Fn(&mut Client) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            let mut client = self.take()?;
            let result = f(&mut client);
            let closed = client.is_closed();
            self.give_back(client);
            match result {
                Err(e) if attempt == 0 && is_connection_loss(&e, closed) => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs `f` in a transaction and commits; see the type's doc for retries.
    fn write<T>(&self, f: impl Fn(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            let mut client = self.take()?;
            let result = (|| {
                let mut tx = client
                    .transaction()
                    .map_err(|e| WriteError::Before(pg(e), false))?;
                let value = f(&mut tx).map_err(|e| WriteError::Before(e, false))?;
                tx.commit()
                    .map_err(|e| WriteError::AtCommit(pg(e), false))?;
                Ok(value)
            })();
            let closed = client.is_closed();
            self.give_back(client);
            match result {
                Ok(v) => return Ok(v),
                Err(WriteError::Before(e, c)) => {
                    if attempt == 0 && is_connection_loss(&e, closed || c) {
                        attempt += 1;
                        continue;
                    }
                    return Err(e);
                }
                Err(WriteError::AtCommit(e, c)) => {
                    if is_connection_loss(&e, closed || c) {
                        return Err(DbError::Server(format!(
                            "the connection to PostgreSQL at {} was lost during COMMIT: the \
                             write may or may not be stored; read the run before retrying ({e})",
                            self.target.describe()
                        )));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A write that stores events, told to the listener after COMMIT.
    fn write_events<T>(
        &self,
        f: impl Fn(&mut Transaction<'_>) -> Result<(T, Vec<EventRow>)>,
    ) -> Result<T> {
        let (value, rows) = self.write(f)?;
        if let Some(listener) = &self.listener {
            if !rows.is_empty() {
                listener(&rows);
            }
        }
        Ok(value)
    }
}

impl HistoryStore for PgHistory {
    fn location(&self) -> String {
        self.target.describe()
    }

    fn set_listener(&mut self, listener: Arc<EventListener>) {
        self.listener = Some(listener);
    }

    fn start_run(&self, run: NewRun) -> Result<()> {
        self.write(|tx| commands::start_run(tx, &run))
    }

    fn append_events(&self, run_id: &str, events: Vec<NewEvent>) -> Result<SeqRange> {
        self.write_events(|tx| {
            let (range, rows) = commands::append_events(tx, run_id, &events)?;
            Ok((range, rows))
        })
    }

    fn complete_run(&self, completion: Completion) -> Result<()> {
        self.write(|tx| commands::complete_run(tx, &completion))
    }

    fn complete_run_recorded(&self, completion: Completion) -> Result<u64> {
        self.write_events(|tx| commands::complete_run_recorded(tx, &completion))
    }

    fn stop_run(&self, run_id: &str, at: Timestamp, reason: Option<String>) -> Result<u64> {
        self.write_events(|tx| commands::stop_run(tx, run_id, at, reason.as_deref()))
    }

    fn resume_run(&self, run_id: &str, at: Timestamp) -> Result<u64> {
        self.write_events(|tx| commands::resume_run(tx, run_id, at))
    }

    fn delete_runs(&self, ids: Vec<String>) -> Result<DeleteReport> {
        self.write(|tx| commands::delete_runs(tx, &ids))
    }

    /// Deletes in chunks, one short transaction each. `bytes_freed` is 0:
    /// PostgreSQL reuses the space after (auto)vacuum instead of giving it
    /// back to the file system.
    fn expire(&self, cutoff: Timestamp, chunk: usize) -> Result<ExpireReport> {
        let cutoff = format_time(cutoff)?;
        let mut report = ExpireReport::default();
        loop {
            let (ids, events) = self.write(|tx| commands::expire_chunk(tx, &cutoff, chunk))?;
            if ids.is_empty() {
                return Ok(report);
            }
            report.chunks += 1;
            report.runs_deleted += ids.len() as u64;
            report.events_deleted += events;
            let full = ids.len() >= chunk.max(1);
            report.run_ids.extend(ids);
            if !full {
                return Ok(report);
            }
        }
    }

    fn expire_preview(&self, cutoff: Timestamp) -> Result<ExpirePreview> {
        let cutoff = format_time(cutoff)?;
        self.read(|c| commands::expire_preview(c, &cutoff))
    }

    fn import_run(&self, run: ImportedRun) -> Result<ImportOutcome> {
        self.write(|tx| commands::import_run(tx, &run))
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        self.read(|c| query::list_runs_offset(c, filter, 0))
    }

    fn list_runs_offset(&self, filter: &RunFilter, offset: u64) -> Result<RunPage> {
        self.read(|c| query::list_runs_offset(c, filter, offset))
    }

    fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        self.read(|c| query::count_runs(c, filter))
    }

    fn get_run(&self, id: &str) -> Result<Option<RunRow>> {
        self.read(|c| query::get_run(c, id))
    }

    fn events(&self, filter: &EventFilter) -> Result<EventPage> {
        self.read(|c| query::events(c, filter))
    }

    fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        self.read(|c| query::count_events(c, filter))
    }

    fn events_after_id(&self, after_id: i64, limit: u32) -> Result<EventPage> {
        self.read(|c| query::events_after_id(c, after_id, limit))
    }

    fn last_event_id(&self) -> Result<i64> {
        self.read(query::last_event_id)
    }

    fn graph(&self, run_id: &str) -> Result<Option<Graph>> {
        self.read(|c| query::graph(c, run_id))
    }

    fn repos(&self) -> Result<Vec<RepoSummary>> {
        self.read(query::repos)
    }

    fn stop_resume_points(&self, run_id: &str) -> Result<Vec<EventRow>> {
        self.read(|c| query::stop_resume_points(c, run_id))
    }

    fn project_usage(&self, project: Option<&str>) -> Result<Vec<ProjectUsage>> {
        self.read(|c| query::project_usage(c, project))
    }

    fn checkpoint(&self) -> Result<bool> {
        Ok(true)
    }

    fn shut(&mut self) -> Result<()> {
        if let Ok(mut pool) = self.pool.lock() {
            pool.clear();
        }
        Ok(())
    }
}
