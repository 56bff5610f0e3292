//! # otto-hooks-sqlite: the SQLite run-history engine
//!
//! Stores orchestrator runs and their events in one SQLite file
//! (`history.db`), in the schema of choo's history-store design
//! (FORMATS.md) plus summary columns, and reads them back in pages.
//! The plugin wrapper (the `Storage` trait) and the CLI live elsewhere;
//! this crate is the engine.
//!
//! ## Model
//!
//! - **[`HistoryDb`]** is one open database. [`HistoryDb::open`] creates the
//!   file, applies the pragmas (`journal_mode=WAL`, `busy_timeout=5000`,
//!   `synchronous=NORMAL`, `foreign_keys=ON`; `auto_vacuum=INCREMENTAL` for a
//!   new file) and [migrates](mod@migrate) it.
//! - **Writes** go through one writer thread per `HistoryDb` (module `writer`):
//!   commands queue on a channel, the writer commits whatever is pending in
//!   one transaction (group commit) with each command in its own SAVEPOINT,
//!   and each caller gets its reply after COMMIT. A failing command rolls
//!   back alone.
//! - **Sequence numbers** are per run, from 1, contiguous, assigned from
//!   `runs.last_seq` inside the write transaction, so several processes may
//!   append to the same run safely. Resuming keeps the run id: seq 1–50
//!   original events, 51 `run.stopped`, 52 `run.resumed`, 53+ continued.
//! - **Summaries** (`last_seq`, `event_count`, unit counters, `resume_count`,
//!   `active_ms`, …) live on the `runs` row and change in the same
//!   transaction as the events they summarise: listing runs never reads
//!   `events`.
//! - **Reads** ([`query`]) use read-only pooled connections and short
//!   transactions, and paginate by keyset (runs by `(started_at, id)`,
//!   events by `seq`), never OFFSET.
//! - **Times** are TEXT, RFC 3339 UTC with nine fractional digits
//!   ([`time`]): fixed width, so text order is time order.
//! - **Retention** ([`HistoryDb::expire`]) deletes finished runs in chunks,
//!   one short write transaction each, then `incremental_vacuum`s.
//!
//! ```no_run
//! use otto_hooks_plugin_api::Timestamp;
//! use otto_hooks_sqlite::{HistoryDb, NewEvent, NewRun, Options};
//!
//! # fn main() -> Result<(), otto_hooks_sqlite::DbError> {
//! let db = HistoryDb::open("/tmp/history.db", &Options::default())?;
//! let now = Timestamp::now();
//! db.start_run(NewRun {
//!     id: "run_20250120_143052_a1b2".into(),
//!     project: "/src/app".into(),
//!     repo_path: "/src/app".into(),
//!     started_at: now,
//!     parallelism: 4,
//!     total_units: 10,
//!     tasks_dir: None,
//!     dry_run: false,
//! })?;
//! let seqs = db.append_events("run_20250120_143052_a1b2", vec![NewEvent::new(now, "unit.started")])?;
//! assert_eq!(seqs.first, 1);
//! db.close()?;
//! # Ok(())
//! # }
//! ```

mod commands;
pub mod connection;
mod cursor;
mod db;
mod error;
pub mod executions;
pub mod feed;
pub mod hook_model;
mod ids;
pub mod migrate;
mod model;
mod plugin;
pub mod query;
mod repos;
pub mod schema;
pub mod search;
mod store;
mod summary;
pub mod time;
pub mod units;
pub mod validate;
mod writer;

pub use connection::Options;
pub use cursor::RunCursor;
pub use db::{EventListener, HistoryDb};
pub use error::{DbError, Result};
pub use feed::{FeedPage, FeedPosition};
pub use ids::mint_run_id;
pub use migrate::{current_version, migrate, migrate_with};
pub use model::{
    Completion, DbStats, DeleteReport, EventRow, ExpirePreview, ExpireReport, Graph, ImportOutcome,
    ImportedRun, NewEvent, NewRun, RunRow, SeqRange,
};
pub use plugin::{
    DEFAULT_RETENTION_DAYS, SqliteHistory, choo_status, db_path, listed_run, retention_cutoff,
    run_of, run_status, status_filter,
};
pub use query::{EventFilter, EventPage, RunFilter, RunPage};
pub use repos::RepoSummary;
pub use schema::{LATEST_VERSION, MIGRATIONS, Migration};
pub use search::{EventSearch, SearchQuery};
pub use store::{HistoryStore, all_events, all_runs};
pub use units::UnitSummary;

otto_hooks_plugin_api::plugin_module! {
    /// The plugins of this crate: the `sqlite` storage.
    pub static MODULE = [storage(SqliteHistory)];
}
