//! [`PgHistory`]: a run history in a PostgreSQL database.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use otto_hooks_plugin_api::{ProjectUsage, Timestamp};
use otto_hooks_sqlite::time::format_time;
use otto_hooks_sqlite::{
    Completion, DbError, DeleteReport, EventFilter, EventListener, EventPage, EventRow,
    EventSearch, ExpirePreview, ExpireReport, FeedPage, FeedPosition, Graph, HistoryStore,
    ImportOutcome, ImportedRun, NewEvent, NewRun, RepoSummary, RunFilter, RunPage, RunRow,
    SeqRange, UnitSummary,
};
use postgres::{Client, Transaction};

use crate::commands;
use crate::error::{is_connection_loss, pg};
use crate::query;
use crate::schema;
use crate::settings::PgTarget;
use crate::{append, feed, search, units};

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
/// - Every write that stores events also sends `NOTIFY otto_hooks_events`
///   (delivered at COMMIT). With an event listener set, a thread `LISTEN`s
///   on a connection of its own and hands the listener the events other
///   processes stored (read back by seq range), so a daemon's live streams
///   show every daemon's events. The thread reconnects by itself; events
///   committed while it is disconnected are in the database but not pushed.
pub struct PgHistory {
    target: PgTarget,
    pool: Mutex<Vec<Client>>,
    pool_size: usize,
    listener: Option<Arc<EventListener>>,
    /// Tells this instance's notifications from other processes'.
    instance: String,
    follower: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// The channel writes notify on.
pub const NOTIFY_CHANNEL: &str = "otto_hooks_events";

impl fmt::Debug for PgHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgHistory")
            .field("target", &self.target)
            .field("pool_size", &self.pool_size)
            .field("event_listener", &self.listener.is_some())
            .field("instance", &self.instance)
            .finish()
    }
}

/// Where a write failed, to decide whether a retry is safe.
enum WriteError {
    /// Before COMMIT was sent: nothing is stored.
    Before(DbError),
    /// COMMIT itself failed.
    AtCommit(DbError),
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
            instance: instance_id(),
            follower: None,
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

    /// Runs a read that hands rows on as they arrive: not retried (the
    /// caller has been given rows already when the connection breaks).
    pub(crate) fn stream<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let mut client = self.take()?;
        let result = f(&mut client);
        self.give_back(client);
        result
    }

    /// Runs a read; once more on a new connection when the first was dead.
    pub(crate) fn read<T>(&self, f: impl Fn(&mut Client) -> Result<T>) -> Result<T> {
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
                    .map_err(|e| WriteError::Before(pg(e)))?;
                let value = f(&mut tx).map_err(WriteError::Before)?;
                tx.commit().map_err(|e| WriteError::AtCommit(pg(e)))?;
                Ok(value)
            })();
            let closed = client.is_closed();
            self.give_back(client);
            match result {
                Ok(v) => return Ok(v),
                Err(WriteError::Before(e)) => {
                    if attempt == 0 && is_connection_loss(&e, closed) {
                        attempt += 1;
                        continue;
                    }
                    return Err(e);
                }
                Err(WriteError::AtCommit(e)) => {
                    if is_connection_loss(&e, closed) {
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

    /// A write that stores events, notified to other processes at COMMIT
    /// and told to the listener after it.
    fn write_events<T>(
        &self,
        f: impl Fn(&mut Transaction<'_>) -> Result<(T, Vec<EventRow>)>,
    ) -> Result<T> {
        let (value, rows) = self.write(|tx| {
            let (value, rows) = f(tx)?;
            if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                let note = format!(
                    "{} {} {} {}",
                    self.instance, first.seq, last.seq, first.run_id
                );
                tx.execute("SELECT pg_notify($1, $2)", &[&NOTIFY_CHANNEL, &note])
                    .map_err(pg)?;
            }
            Ok((value, rows))
        })?;
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
        self.stop_following();
        let stop = Arc::new(AtomicBool::new(false));
        let follow = Follower {
            target: self.target.clone(),
            instance: self.instance.clone(),
            listener: Arc::clone(&listener),
            stop: Arc::clone(&stop),
        };
        match std::thread::Builder::new()
            .name("pg-history-listen".into())
            .spawn(move || follow.run())
        {
            Ok(handle) => self.follower = Some((stop, handle)),
            Err(e) => tracing::warn!(error = %e, "cannot start the PostgreSQL LISTEN thread"),
        }
        self.listener = Some(listener);
    }

    fn start_run(&self, run: NewRun) -> Result<()> {
        self.write(|tx| commands::start_run(tx, &run))
    }

    fn start_run_with_graph(&self, run: NewRun, graph: Option<String>) -> Result<()> {
        self.write(|tx| commands::start_run_with_graph(tx, &run, graph.as_deref()))
    }

    fn search_events(&self, search: &EventSearch) -> Result<EventPage> {
        self.read(|c| search::search_events(c, search))
    }

    fn count_search(&self, search: &EventSearch) -> Result<u64> {
        self.read(|c| search::count_search(c, search))
    }

    fn unit_summaries(&self, run_id: &str) -> Result<Vec<UnitSummary>> {
        self.read(|c| units::unit_summaries(c, run_id))
    }

    fn append_events(&self, run_id: &str, events: Vec<NewEvent>) -> Result<SeqRange> {
        if append::fits(&events) {
            // One statement between BEGIN and COMMIT (module `append`).
            let (range, rows) = self
                .write(|tx| append::append(tx, run_id, &events, NOTIFY_CHANNEL, &self.instance))?;
            if let Some(listener) = &self.listener {
                listener(&rows);
            }
            return Ok(range);
        }
        self.write_events(|tx| {
            let (range, rows) = commands::append_posted(tx, run_id, &events)?;
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

    fn feed_after(&self, after: FeedPosition, limit: u32) -> Result<FeedPage> {
        self.read(|c| feed::feed_after(c, after, limit))
    }

    fn feed_head(&self) -> Result<FeedPosition> {
        self.read(feed::feed_head)
    }

    /// No: concurrent transactions commit in any order of their ids.
    fn feed_is_commit_ordered(&self) -> bool {
        false
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
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
        self.stop_following();
        if let Ok(mut pool) = self.pool.lock() {
            pool.clear();
        }
        Ok(())
    }
}

impl PgHistory {
    fn stop_following(&mut self) {
        if let Some((stop, handle)) = self.follower.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

impl Drop for PgHistory {
    fn drop(&mut self) {
        self.stop_following();
    }
}

/// A random id for this instance's notifications.
fn instance_id() -> String {
    let mut buf = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty());
    format!("{:016x}", u64::from_le_bytes(buf))
}

/// How often the LISTEN thread looks at its stop flag, and waits before
/// reconnecting.
const FOLLOW_TICK: Duration = Duration::from_millis(500);

/// The LISTEN side: other processes' events to the listener.
struct Follower {
    target: PgTarget,
    instance: String,
    listener: Arc<EventListener>,
    stop: Arc<AtomicBool>,
}

impl Follower {
    fn run(self) {
        while !self.stop.load(Ordering::SeqCst) {
            if let Err(e) = self.follow() {
                tracing::warn!(error = %e, "PostgreSQL LISTEN connection lost; reconnecting");
                std::thread::sleep(FOLLOW_TICK);
            }
        }
    }

    /// One connection's worth of following; returns on error or stop.
    fn follow(&self) -> Result<()> {
        let mut listen = self.target.connect()?;
        listen
            .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
            .map_err(pg)?;
        let mut reader: Option<Client> = None;
        while !self.stop.load(Ordering::SeqCst) {
            // One at a time, waiting at most a tick: the stop flag is seen.
            let note = {
                let mut n = listen.notifications();
                let mut it = n.timeout_iter(FOLLOW_TICK);
                fallible_next(&mut it)?.map(|n| n.payload().to_owned())
            };
            if let Some(note) = note {
                self.deliver(&note, &mut reader)?;
            }
            if listen.is_closed() {
                return Err(DbError::Server("the LISTEN connection closed".into()));
            }
        }
        Ok(())
    }
}

impl Follower {
    /// Reads the events a notification names and hands them to the
    /// listener (unless this instance stored them: it told the listener).
    fn deliver(&self, note: &str, reader: &mut Option<Client>) -> Result<()> {
        let mut parts = note.splitn(4, ' ');
        let (Some(from), Some(first), Some(last), Some(run_id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(());
        };
        if from == self.instance {
            return Ok(());
        }
        let (Ok(first), Ok(last)) = (first.parse::<i64>(), last.parse::<i64>()) else {
            return Ok(());
        };
        let client = match reader {
            Some(c) if !c.is_closed() => c,
            _ => reader.insert(self.target.connect()?),
        };
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM events WHERE run_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                    query::EVENT_COLUMNS
                ),
                &[&run_id, &first, &last],
            )
            .map_err(pg)?
            .iter()
            .map(query::event_from_row)
            .collect::<Result<Vec<_>>>()?;
        if !rows.is_empty() {
            (self.listener)(&rows);
        }
        Ok(())
    }
}

/// The next notification of a timeout iterator, its error as a `DbError`.
fn fallible_next(
    it: &mut impl postgres::fallible_iterator::FallibleIterator<
        Item = postgres::Notification,
        Error = postgres::Error,
    >,
) -> Result<Option<postgres::Notification>> {
    it.next().map_err(pg)
}
