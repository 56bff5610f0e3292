//! # otto-hooks-postgres: a team's run history in PostgreSQL
//!
//! The history of history.db — runs, their events with a per-run
//! contiguous `seq`, graphs, stop/resume, keyset pages, retention, import —
//! in one PostgreSQL database that several daemons on several machines
//! write and read at once. [`PgHistory`] implements
//! [`HistoryStore`](otto_hooks_sqlite::HistoryStore), the operations the
//! daemon and the CLI use, with the model of `otto-hooks-sqlite`, so both
//! backends give the same answers (one conformance suite tests both).
//!
//! - **Schema** ([`schema`]): versioned migrations applied exactly once under
//!   a `pg_advisory_lock`, whoever starts first.
//! - **Seq** (module `commands`): a per-run row lock (`SELECT … FOR UPDATE`
//!   on `runs`) orders writers of one run across connections and machines;
//!   `UNIQUE (run_id, seq)` backs it.
//! - **Connections** ([`PgHistory`]): a small pool; a dead connection is
//!   replaced and the call retried when that is safe, reported when not.
//! - **Settings** ([`settings`]): a `postgres://` URL without password; the
//!   password from a private file or an environment variable.
//! - **TLS** ([`tls`]): libpq's `sslmode` (up to `verify-full`) and
//!   `sslrootcert`, with rustls.

mod append;
mod commands;
mod error;
mod feed;
pub mod insights;
mod plugin;
mod query;
pub mod schema;
mod search;
pub mod settings;
mod store;
pub mod test_cluster;
pub mod tls;
mod units;
mod url_secret;

pub use plugin::{PgSettings, PostgresHistory};
pub use settings::{DEFAULT_PASSWORD_ENV, PgTarget};
pub use store::{DEFAULT_POOL, PgHistory};
pub use url_secret::redacted_url;

otto_hooks_plugin_api::plugin_module! {
    /// The plugins of this crate: the `postgres` storage.
    pub static MODULE = [storage(PostgresHistory)];
}
