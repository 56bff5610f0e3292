//! # otto-hooks core
//!
//! The runtime behind the `otto-hooks` binary, usable as a library: every
//! command is a function here that tests (and orchestrators written in Rust)
//! call without spawning a process.
//!
//! - [`config`] — layered TOML configuration and per-project plugin selection.
//! - [`registry`] — built-in and discovered plugins: trust checks, loading,
//!   version checks.
//! - [`history`] — reading run history: `list`, `info`, `usage`.
//! - [`hooks`] — the lifecycle dispatcher (`run_start`, `event`, `run_complete`).
//! - [`policy`] — retention as plan → explain → execute.
//! - [`insights`] — what the history tells: task history, stats, compare,
//!   flaky tasks, trends.
//! - [`history_retention`] — `retention_days` of run-history storages.
//! - [`cache_gc`] — script-cache garbage collection.
//! - [`fsops`] — the only code that deletes under `$OTTO_HOME`.
//! - [`daemon`] — the history daemon: the HTTP API, single writer of
//!   `history.db`, live streams.
//! - [`render`] — turning result documents into output through reporter plugins.
//! - [`client`] — a blocking client of the history daemon's HTTP API.
//! - [`own_files`] — opening our own state files and files we are pointed
//!   at without following planted links or blocking on FIFOs.
//! - [`archive`] — `export` and `import --from`: runs as checked
//!   `.tar.zst` archives.
//! - [`audit`] — the cleanup audit trail: every deletion recorded in
//!   `$OTTO_HOOKS_HOME/audit.log`, and read back.
//! - [`cli`] — the clap commands: parse, call the library, render.

pub mod archive;
pub mod audit;
pub mod cache_gc;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod fsops;
pub mod history;
pub mod history_copy;
pub mod history_retention;
pub mod hooks;
pub mod import;
pub mod insights;
pub mod ottodb_rows;
pub mod own_files;
pub mod paths;
pub mod policy;
pub mod registry;
pub mod render;
pub mod run_ref;
pub mod units;
