//! # The history daemon
//!
//! While it runs, the daemon is the only process that writes `history.db`:
//! orchestrators post their runs and events to it over HTTP on the loopback
//! interface, and readers (the CLI, the web UI) read history and follow
//! runs live from it. One writer means group commits instead of lock
//! contention, and one place where redaction and validation happen.
//!
//! - [`server`] — the HTTP API: routes, the live streams (Server-Sent
//!   Events), the localhost security rules and the scheduled passes.
//!   `docs/API.md` documents every route.
//!
//! - [`control`] — the lifecycle around it: pid, token, port and log
//!   files, starting in the background, stopping gracefully.
//!
//! - [`team`] — with `[storage] plugin = "postgres"`, the daemon serves
//!   that shared database instead of `history.db`.

pub mod control;
pub mod server;
pub mod team;

pub use server::{
    AuthMode, ConnectionLimits, DAEMON_STOP_DEADLINE, DEFAULT_INSIGHTS_WARM_EVERY,
    DEFAULT_MAX_BODY_BYTES, Schedule, ServerOptions, StoreOpener, serve,
};
