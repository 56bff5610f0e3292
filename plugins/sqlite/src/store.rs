//! [`HistoryStore`]: the operations of a run history, whatever holds it.
//!
//! The daemon and the CLI need one set of operations — record runs and
//! events, page through them, retention, import — from SQLite
//! ([`HistoryDb`]) or from PostgreSQL (the `otto-hooks-postgres` crate). The
//! trait is exactly those operations, with the model of this crate
//! ([`NewRun`], [`EventRow`], [`RunFilter`], …) so both backends give the
//! same answers, and one conformance suite tests both.
//!
//! Every method blocks until its work is committed (writes) or read (reads);
//! call it from a thread that may block (tokio's blocking pool in the
//! daemon).

use std::fmt;
use std::sync::Arc;

use otto_hooks_plugin_api::{ProjectUsage, Timestamp};

use crate::db::{EventListener, HistoryDb};
use crate::error::Result;
use crate::feed::{FeedPage, FeedPosition};
use crate::model::{
    Completion, DeleteReport, EventRow, ExpirePreview, ExpireReport, Graph, ImportOutcome,
    ImportedRun, NewEvent, RunRow, SeqRange,
};
use crate::query::{EventFilter, EventPage, RunFilter, RunPage};
use crate::repos::RepoSummary;
use crate::{EventSearch, NewRun, RunCursor, UnitSummary};

/// A run history: the operations of [`HistoryDb`], for any backend.
/// Each method's contract is the one documented on [`HistoryDb`].
pub trait HistoryStore: Send + Sync + fmt::Debug {
    /// Where the history lives, for messages and `/api/health`: the file
    /// path, or the server and database (never a password).
    fn location(&self) -> String;

    /// Sets the function told about the events this store (this process)
    /// stores through appends, stops, resumes and recorded completions,
    /// after their COMMIT, in commit order.
    fn set_listener(&mut self, listener: Arc<EventListener>);

    /// Records a new run (status `running`).
    fn start_run(&self, run: NewRun) -> Result<()>;
    /// Appends events after the run's last seq; returns their seqs.
    fn append_events(&self, run_id: &str, events: Vec<NewEvent>) -> Result<SeqRange>;
    /// Records how a run ended.
    fn complete_run(&self, completion: Completion) -> Result<()>;
    /// Records how a run ended and the event that says so; returns its seq.
    fn complete_run_recorded(&self, completion: Completion) -> Result<u64>;
    /// Stops a running run; returns the `run.stopped` event's seq.
    fn stop_run(&self, run_id: &str, at: Timestamp, reason: Option<String>) -> Result<u64>;
    /// Resumes a stopped or failed run; returns its last seq before.
    fn resume_run(&self, run_id: &str, at: Timestamp) -> Result<u64>;
    /// Deletes the named runs that are not running.
    fn delete_runs(&self, ids: Vec<String>) -> Result<DeleteReport>;
    /// Deletes finished runs that ended before `cutoff`, `chunk` per transaction.
    fn expire(&self, cutoff: Timestamp, chunk: usize) -> Result<ExpireReport>;
    /// What [`expire`](Self::expire) would delete now.
    fn expire_preview(&self, cutoff: Timestamp) -> Result<ExpirePreview>;
    /// Imports a whole run atomically and idempotently.
    fn import_run(&self, run: ImportedRun) -> Result<ImportOutcome>;

    /// A page of runs, newest first.
    fn list_runs(&self, filter: &RunFilter) -> Result<RunPage>;
    /// A page of runs after skipping `offset`.
    fn list_runs_offset(&self, filter: &RunFilter, offset: u64) -> Result<RunPage>;
    /// How many runs match `filter`.
    fn count_runs(&self, filter: &RunFilter) -> Result<u64>;
    /// One run, when it exists.
    fn get_run(&self, id: &str) -> Result<Option<RunRow>>;
    /// A page of a run's events.
    fn events(&self, filter: &EventFilter) -> Result<EventPage>;
    /// How many of a run's events match `filter`.
    fn count_events(&self, filter: &EventFilter) -> Result<u64>;
    /// Events of every run after the database id `after_id`, in id order.
    fn events_after_id(&self, after_id: i64, limit: u32) -> Result<EventPage>;
    /// The largest event id stored (0 when none).
    fn last_event_id(&self) -> Result<i64>;
    /// The run's dependency graph, when any.
    fn graph(&self, run_id: &str) -> Result<Option<Graph>>;

    // ---- added after the trait: defaults say what a backend lacks ----

    /// Records a new run with the graph given at its start (JSON text), in
    /// one transaction. The default takes runs without a graph only.
    fn start_run_with_graph(&self, run: NewRun, graph: Option<String>) -> Result<()> {
        match graph {
            None => self.start_run(run),
            Some(_) => Err(unsupported(self, "a graph given at a run's start")),
        }
    }
    /// A page of a run's events with the search grammar, either order. The
    /// default answers the plain form (oldest first, filter and `after_seq`
    /// only) through [`events`](Self::events) and refuses the rest.
    fn search_events(&self, search: &EventSearch) -> Result<EventPage> {
        if search.is_plain() {
            return self.events(&search.filter);
        }
        Err(unsupported(
            self,
            "text search, failures only, offsets and newest-first pages of events",
        ))
    }
    /// How many of a run's events the search matches (the default: the
    /// plain form only, through [`count_events`](Self::count_events)).
    fn count_search(&self, search: &EventSearch) -> Result<u64> {
        if search.is_plain() {
            return self.count_events(&search.filter);
        }
        Err(unsupported(self, "text search and failures only on events"))
    }
    /// Each unit of a run summarised from its events (the waterfall).
    fn unit_summaries(&self, _run_id: &str) -> Result<Vec<UnitSummary>> {
        Err(unsupported(self, "unit summaries"))
    }
    /// The SQLite history itself, for the readers written in SQL against
    /// history.db (the insights); `None` for other backends.
    fn as_sqlite(&self) -> Option<&HistoryDb> {
        None
    }
    /// The all-runs feed after `after`, in feed order (module
    /// [`feed`](crate::feed)). The default reads by id: right where ids
    /// grow in commit order (history.db).
    fn feed_after(&self, after: FeedPosition, limit: u32) -> Result<FeedPage> {
        let page = self.events_after_id(after.id, limit)?;
        Ok(FeedPage {
            events: page
                .events
                .into_iter()
                .map(|e| (FeedPosition::of_id(e.id), e))
                .collect(),
            has_more: page.has_more,
            waiting: false,
        })
    }
    /// The feed's end now: what is stored later comes after it. The
    /// default is the largest event id.
    fn feed_head(&self) -> Result<FeedPosition> {
        Ok(FeedPosition::of_id(self.last_event_id()?))
    }
    /// Whether the events this store reports to its listener arrive in feed
    /// order, so a live stream may send them as they come (history.db).
    /// When not, a stream takes them as news only and reads the feed.
    fn feed_is_commit_ordered(&self) -> bool {
        true
    }
    /// The store itself, to reach a backend's own readers (the insights on
    /// PostgreSQL); `None` when a backend offers none.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
    /// Every repository with runs, with per-status counts.
    fn repos(&self) -> Result<Vec<RepoSummary>>;
    /// The run's `run.stopped` / `run.resumed` events, in order.
    fn stop_resume_points(&self, run_id: &str) -> Result<Vec<EventRow>>;
    /// Per project: runs, bytes of event text, oldest run.
    fn project_usage(&self, project: Option<&str>) -> Result<Vec<ProjectUsage>>;

    /// Makes what is committed compact on disk where the backend needs it
    /// (history.db: `wal_checkpoint(TRUNCATE)`; a server: nothing).
    /// `Ok(false)` when a reader kept it from completing.
    fn checkpoint(&self) -> Result<bool>;

    /// Makes everything acknowledged durable and releases what the store
    /// holds (SQLite: drains the writer and truncates the WAL; PostgreSQL:
    /// closes the connections). Later calls fail or reconnect.
    fn shut(&mut self) -> Result<()>;
}

/// The error of an operation a backend does not offer yet.
fn unsupported(store: &(impl HistoryStore + ?Sized), what: &str) -> crate::DbError {
    crate::DbError::Invalid(format!(
        "{what} is not available on this storage yet ({})",
        store.location()
    ))
}

/// Every run of a store matching `filter` (its `limit` taken as the page
/// size), walking the keyset pages: for copies and tests.
pub fn all_runs(store: &dyn HistoryStore, filter: &RunFilter) -> Result<Vec<RunRow>> {
    let mut filter = RunFilter {
        limit: filter.limit.max(500),
        ..filter.clone()
    };
    let mut out = Vec::new();
    loop {
        let page = store.list_runs(&filter)?;
        out.extend(page.runs);
        match page.next {
            Some(next) if page.has_more => {
                filter.before = Some(RunCursor {
                    started_at: next.started_at,
                    id: next.id,
                })
            }
            _ => return Ok(out),
        }
    }
}

/// Every event of a run, in seq order, walking the pages.
pub fn all_events(store: &dyn HistoryStore, run_id: &str) -> Result<Vec<EventRow>> {
    let mut filter = EventFilter {
        run_id: run_id.to_owned(),
        limit: 1000,
        ..EventFilter::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.events(&filter)?;
        let last = page.events.last().map(|e| e.seq);
        out.extend(page.events);
        match last {
            Some(seq) if page.has_more => filter.after_seq = Some(seq),
            _ => return Ok(out),
        }
    }
}

impl HistoryStore for HistoryDb {
    fn start_run_with_graph(&self, run: NewRun, graph: Option<String>) -> Result<()> {
        HistoryDb::start_run_with_graph(self, run, graph)
    }
    fn search_events(&self, search: &EventSearch) -> Result<EventPage> {
        HistoryDb::search_events(self, search)
    }
    fn count_search(&self, search: &EventSearch) -> Result<u64> {
        HistoryDb::count_search(self, search)
    }
    fn unit_summaries(&self, run_id: &str) -> Result<Vec<UnitSummary>> {
        HistoryDb::unit_summaries(self, run_id)
    }
    fn as_sqlite(&self) -> Option<&HistoryDb> {
        Some(self)
    }
    fn location(&self) -> String {
        self.path().display().to_string()
    }
    fn set_listener(&mut self, listener: Arc<EventListener>) {
        self.set_event_listener(move |rows| listener(rows));
    }
    fn start_run(&self, run: NewRun) -> Result<()> {
        HistoryDb::start_run(self, run)
    }
    fn append_events(&self, run_id: &str, events: Vec<NewEvent>) -> Result<SeqRange> {
        HistoryDb::append_events(self, run_id, events)
    }
    fn complete_run(&self, completion: Completion) -> Result<()> {
        HistoryDb::complete_run(self, completion)
    }
    fn complete_run_recorded(&self, completion: Completion) -> Result<u64> {
        HistoryDb::complete_run_recorded(self, completion)
    }
    fn stop_run(&self, run_id: &str, at: Timestamp, reason: Option<String>) -> Result<u64> {
        HistoryDb::stop_run(self, run_id, at, reason)
    }
    fn resume_run(&self, run_id: &str, at: Timestamp) -> Result<u64> {
        HistoryDb::resume_run(self, run_id, at)
    }
    fn delete_runs(&self, ids: Vec<String>) -> Result<DeleteReport> {
        HistoryDb::delete_runs(self, ids)
    }
    fn expire(&self, cutoff: Timestamp, chunk: usize) -> Result<ExpireReport> {
        HistoryDb::expire(self, cutoff, chunk)
    }
    fn expire_preview(&self, cutoff: Timestamp) -> Result<ExpirePreview> {
        HistoryDb::expire_preview(self, cutoff)
    }
    fn import_run(&self, run: ImportedRun) -> Result<ImportOutcome> {
        HistoryDb::import_run(self, run)
    }
    fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        HistoryDb::list_runs(self, filter)
    }
    fn list_runs_offset(&self, filter: &RunFilter, offset: u64) -> Result<RunPage> {
        HistoryDb::list_runs_offset(self, filter, offset)
    }
    fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        HistoryDb::count_runs(self, filter)
    }
    fn get_run(&self, id: &str) -> Result<Option<RunRow>> {
        HistoryDb::get_run(self, id)
    }
    fn events(&self, filter: &EventFilter) -> Result<EventPage> {
        HistoryDb::events(self, filter)
    }
    fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        HistoryDb::count_events(self, filter)
    }
    fn events_after_id(&self, after_id: i64, limit: u32) -> Result<EventPage> {
        HistoryDb::events_after_id(self, after_id, limit)
    }
    fn last_event_id(&self) -> Result<i64> {
        HistoryDb::last_event_id(self)
    }
    fn graph(&self, run_id: &str) -> Result<Option<Graph>> {
        HistoryDb::graph(self, run_id)
    }
    fn repos(&self) -> Result<Vec<RepoSummary>> {
        HistoryDb::repos(self)
    }
    fn stop_resume_points(&self, run_id: &str) -> Result<Vec<EventRow>> {
        HistoryDb::stop_resume_points(self, run_id)
    }
    fn project_usage(&self, project: Option<&str>) -> Result<Vec<ProjectUsage>> {
        HistoryDb::project_usage(self, project)
    }
    fn checkpoint(&self) -> Result<bool> {
        self.checkpoint_truncate()
    }
    fn shut(&mut self) -> Result<()> {
        if let Err(e) = self.checkpoint_truncate() {
            tracing::warn!(error = %e, "checkpointing history.db");
        }
        self.shutdown()
    }
}
