//! # The otto-hooks plugin API
//!
//! Everything a plugin author needs: the data model, the four plugin traits,
//! and one macro that exports them through otto-hooks' versioned C ABI.
//!
//! ## Writing a plugin
//!
//! 1. Make a library crate with `crate-type = ["cdylib"]` that depends on
//!    `otto-hooks-plugin-api` (and nothing of otto-hooks' host).
//! 2. Implement [`Plugin`] (name, version, constructor from settings) and
//!    one kind trait: [`Storage`], [`StatusDetector`], [`Retention`] or
//!    [`Reporter`]. Lifecycle hooks ([`Plugin::run_start`],
//!    [`Plugin::event`], [`Plugin::run_complete`], [`Plugin::run_stop`],
//!    [`Plugin::run_resume`]) are optional.
//! 3. Export it: `otto_hooks_plugin_api::export_plugins![retention(MyPolicy)];`
//! 4. `cargo build --release`, then `otto-hooks plugins check
//!    target/release/libmy_policy.so`, then enable it in `config.toml`.
//!
//! You write no `unsafe`: the macro generates the `extern "C"` shims, which
//! catch panics so that nothing unwinds into the host.
//!
//! ## The contract in brief
//!
//! - **Versioned.** The ABI has its own version, [`abi::ABI_VERSION`]. A
//!   host of ABI 1.x loads plugins built for 1.0 up to 1.x and refuses the
//!   rest with one line naming both versions. This crate is ABI 1.4: 1.1
//!   added event batches, 1.2 storage usage and detailed status, 1.3
//!   `run_stop`/`run_resume` and the storage methods `events`,
//!   `delete_runs` and `expire`, 1.4 a project's allocated bytes in storage
//!   usage and the task status `interrupted` (see [`abi`] for the history).
//! - **Guesses.** A status inferred rather than recorded is a guess: its
//!   source starts with `guess: ` ([`StatusVerdict::guess`],
//!   [`Run::status_is_guess`]). Retention never deletes a guessed run
//!   sooner than an `unknown` one; reporters show it as `failed?`. A host never
//!   calls an entry an older plugin lacks: hooks succeed without it, methods
//!   answer `unsupported`.
//! - **Instances.** Each configuration entry gets its own instance with its
//!   own settings; two entries of one plugin never share state.
//! - **Errors, not crashes.** An `Err` is reported and the host carries on.
//!   A panic is caught, reported, and the instance is disabled.
//!   What no handler catches (a segfault, an abort, a hang) is contained
//!   when the user isolates the instance (`isolation = "process"`, any
//!   kind): the host runs it in a process of its own and reports the
//!   signal.
//! - **Threads.** Instances are `Send + Sync`; calls may be concurrent.
//! - **Purity where it matters.** [`Retention::decide`] must not do I/O or
//!   read the clock.
//!
//! See [`traits`] for the execution model and [`abi`] for the binary layout
//! (for hosts, and plugins in other languages).

pub mod abi;
pub mod config;
pub mod error;
pub mod export;
pub mod host;
pub mod model;
pub mod report;
pub mod traits;

pub use config::PluginConfig;
pub use error::{ErrorKind, PluginError};
pub use model::{
    Action, Decision, DeleteReport, DeletedRun, Document, DocumentKind, Event, EventPage,
    EventQuery, ExpireReport, ExpireRequest, HookContext, PluginKind, ProjectUsage,
    RefusedDeletion, RetentionInput, Run, RunDetails, RunQuery, RunResult, RunResume, RunStart,
    RunStatus, RunStop, StatusVerdict, StoredEvent, Task, TaskStatus, Timestamp,
};
pub use model::{GUESS_PREFIX, is_guess_source, status_label};
pub use traits::{Plugin, Reporter, Retention, StatusDetector, Storage};
