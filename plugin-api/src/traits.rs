//! The four plugin traits: what a plugin author implements.
//!
//! # The execution model
//!
//! The host creates one *instance* of a plugin per configuration entry, by
//! calling [`Plugin::new`] with that entry's settings. Two entries naming the
//! same plugin give two independent instances.
//!
//! For each run of an orchestrator, the host then calls the lifecycle hooks
//! of every instance chosen for the run's project, in this order:
//!
//! 1. [`Plugin::run_start`] once, when the run starts;
//! 2. [`Plugin::event`] for each event, in the order the orchestrator sent
//!    them — or [`Plugin::events`] with a batch of them;
//! 3. [`Plugin::run_complete`] once, when the run ends.
//!
//! A run that is stopped and resumed keeps its run id; its events continue.
//! Commands (`list`, `info`, `clean`…) call the kind's own method
//! ([`Storage::list_runs`], [`StatusDetector::detect`], [`Retention::decide`],
//! [`Reporter::render`]) outside any run.
//!
//! Every hook has a default body that does nothing, so a plugin implements
//! only what it cares about. Calls may come from several threads at once:
//! instances are `Send + Sync`, and keep mutable state behind a `Mutex` or an
//! atomic.
//!
//! # What an error does
//!
//! Returning `Err` from a hook never fails the orchestrator: the host prints
//! one warning line on stderr naming the plugin and your message, and the
//! orchestrator's `otto-hooks hook …` call still exits 0 (unless the user
//! asked for `--strict`). Returning `Err` from a command's method makes that
//! command report the error and exit non-zero.
//!
//! A *panic* is caught at the ABI boundary and becomes an error too, but the
//! host then disables the instance for the rest of the process and says so:
//! return errors, don't panic.

use crate::config::PluginConfig;
use crate::error::PluginError;
use crate::model::{
    Decision, Document, Event, HookContext, ProjectUsage, RetentionInput, Run, RunDetails,
    RunQuery, RunResult, RunStart, StatusVerdict,
};

/// What every plugin is: a name, a version, a constructor, and the
/// lifecycle hooks (all optional).
///
/// # Example
///
/// A plugin that counts failure events; it has no settings:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use otto_hooks_plugin_api::{Event, HookContext, Plugin, PluginConfig, PluginError};
///
/// struct FailureCounter(AtomicU64);
///
/// impl Plugin for FailureCounter {
///     const NAME: &'static str = "failure-counter";
///     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
///     const DESCRIPTION: &'static str = "Counts failure events";
///
///     fn new(config: &PluginConfig) -> Result<Self, PluginError> {
///         config.expect_empty()?;
///         Ok(FailureCounter(AtomicU64::new(0)))
///     }
///
///     fn event(&self, _ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
///         if event.is_failure() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Plugin: Send + Sync + Sized + 'static {
    /// The plugin's name, unique within its kind (`table`, `weekday`…).
    /// Lowercase letters, digits and `-`.
    const NAME: &'static str;
    /// The plugin's own version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One sentence shown by `otto-hooks plugins list`.
    const DESCRIPTION: &'static str = "";

    /// Creates an instance from its settings.
    ///
    /// Called once per configuration entry, before any other call. Validate
    /// every setting here and return [`PluginError::invalid`] naming the key
    /// for anything wrong: the host shows the error and does not use the
    /// instance.
    fn new(config: &PluginConfig) -> Result<Self, PluginError>;

    /// A run started. Called before any event of the run.
    ///
    /// An error is a warning for the orchestrator (see the module docs); a
    /// storage plugin returns [`PluginError::already_exists`] for a run id it
    /// already holds.
    fn run_start(&self, start: &RunStart<'_>) -> Result<(), PluginError> {
        let _ = start;
        Ok(())
    }

    /// One event of a run, in order.
    fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
        let _ = (ctx, event);
        Ok(())
    }

    /// A batch of events of one run, in order.
    ///
    /// The default calls [`Plugin::event`] for each and stops at the first
    /// error. Override it to handle a batch at once (one transaction).
    fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), PluginError> {
        events.iter().try_for_each(|e| self.event(ctx, e))
    }

    /// A run ended. Called once, after its last event.
    fn run_complete(&self, result: &RunResult<'_>) -> Result<(), PluginError> {
        let _ = result;
        Ok(())
    }
}

/// Storage: where runs (and their events) live.
///
/// # Example
///
/// ```
/// use otto_hooks_plugin_api::{Plugin, PluginConfig, PluginError, Run, RunQuery, Storage};
///
/// /// Runs kept in memory: handy for tests.
/// struct Memory(Vec<Run>);
///
/// impl Plugin for Memory {
///     const NAME: &'static str = "memory";
///     const VERSION: &'static str = "1.0.0";
///     fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(Memory(Vec::new())) }
/// }
///
/// impl Storage for Memory {
///     fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
///         let mut runs: Vec<Run> = self.0.iter()
///             .filter(|r| query.project.is_none_or(|p| p == r.project))
///             .cloned()
///             .collect();
///         runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
///         runs.truncate(query.limit.unwrap_or(u64::MAX) as usize);
///         Ok(runs)
///     }
/// }
/// ```
pub trait Storage: Plugin {
    /// Lists the runs matching `query`, newest first.
    ///
    /// Called by `list`, `usage`, `clean` and `run-policies`. Match
    /// `query.project` exactly (key, name or hash), never as a substring.
    fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, PluginError>;

    /// One run with its tasks, for `info`.
    ///
    /// Return [`PluginError::not_found`] for a run that does not exist. The
    /// default says the plugin does not offer details.
    fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, PluginError> {
        Err(PluginError::unsupported(format!(
            "storage `{}` does not offer run details (run {})",
            Self::NAME,
            run.run_id
        )))
    }

    /// Disk usage per project matching `query` (its `limit` is ignored), for
    /// `otto-hooks usage`. Sizes count as `du -sb` does; the parts of a
    /// project add up to its directory's total.
    ///
    /// The default says the plugin does not offer usage (since ABI 1.2).
    fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, PluginError> {
        let _ = query;
        Err(PluginError::unsupported(format!(
            "storage `{}` does not report disk usage",
            Self::NAME
        )))
    }
}

/// Status detection: did a run succeed, fail, or is it still running?
///
/// # Example
///
/// ```
/// use otto_hooks_plugin_api::{Plugin, PluginConfig, PluginError, Run, RunStatus, StatusDetector, StatusVerdict};
///
/// /// Trusts whatever storage recorded.
/// struct AsRecorded;
///
/// impl Plugin for AsRecorded {
///     const NAME: &'static str = "as-recorded";
///     const VERSION: &'static str = "1.0.0";
///     fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(AsRecorded) }
/// }
///
/// impl StatusDetector for AsRecorded {
///     fn detect(&self, run: &Run) -> Result<StatusVerdict, PluginError> {
///         Ok(StatusVerdict { status: run.status, source: "storage".into() })
///     }
/// }
/// ```
pub trait StatusDetector: Plugin {
    /// Decides `run`'s status and names the source that decided it.
    ///
    /// Called for every run a command lists. Return
    /// [`RunStatus::Unknown`](crate::RunStatus::Unknown) rather than an error
    /// when nothing decides: an error is shown as a warning and the run's
    /// recorded status is used.
    fn detect(&self, run: &Run) -> Result<StatusVerdict, PluginError>;

    /// Refines a run's details for `info`: the run's status, its source and
    /// end time, and each task's status, exit code and duration where this
    /// plugin knows them. Return the details with what you know filled in;
    /// leave the rest as storage reported it.
    ///
    /// The default sets the run's status from [`StatusDetector::detect`]
    /// and leaves the tasks alone (since ABI 1.2).
    fn detect_details(&self, details: &RunDetails) -> Result<RunDetails, PluginError> {
        let verdict = self.detect(&details.run)?;
        let mut details = details.clone();
        details.run.status = verdict.status;
        details.run.status_source = Some(verdict.source);
        Ok(details)
    }
}

/// Retention: which runs may go, and why each one stays.
///
/// `decide` must be a pure function of its input and the plugin's settings:
/// no I/O, no clock of its own (use `input.now`). That makes every decision
/// reproducible in a test and explainable by `otto-hooks why`. Deleting is
/// the host's job, with every safety check; running and pinned runs are
/// never deleted whatever a plugin says.
///
/// # Example
///
/// ```
/// use otto_hooks_plugin_api::{Decision, Plugin, PluginConfig, PluginError, RetentionInput, Retention};
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Settings { keep_last: usize }
///
/// struct KeepLast(usize);
///
/// impl Plugin for KeepLast {
///     const NAME: &'static str = "keep-last";
///     const VERSION: &'static str = "1.0.0";
///     fn new(config: &PluginConfig) -> Result<Self, PluginError> {
///         Ok(KeepLast(config.parse::<Settings>()?.keep_last))
///     }
/// }
///
/// impl Retention for KeepLast {
///     fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, PluginError> {
///         let mut runs: Vec<_> = input.runs.iter().collect();
///         runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
///         Ok(runs.iter().enumerate().map(|(i, run)| {
///             if i < self.0 {
///                 Decision::keep(&run.id, vec![format!("last#{}", i + 1)])
///             } else {
///                 Decision::delete(&run.id, vec![])
///             }
///         }).collect())
///     }
/// }
/// ```
pub trait Retention: Plugin {
    /// Returns one decision per run of `input.runs`, with every rule that
    /// matched as a stable reason string.
    ///
    /// A run without a decision is kept. An error aborts the plan for this
    /// group only; the host reports it and deletes nothing of the group.
    fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, PluginError>;
}

/// Reporting: how a result is shown or sent.
///
/// A reporter receives a [`Document`]: its kind and its JSON, in exactly the
/// shape `--json` prints (the typed structs of [`crate::report`]). It
/// returns the rendered text; the host writes it to stdout.
///
/// # Example
///
/// ```
/// use otto_hooks_plugin_api::{Document, DocumentKind, Plugin, PluginConfig, PluginError, Reporter};
/// use otto_hooks_plugin_api::report::RunList;
///
/// /// One run id per line.
/// struct Ids;
///
/// impl Plugin for Ids {
///     const NAME: &'static str = "ids";
///     const VERSION: &'static str = "1.0.0";
///     fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(Ids) }
/// }
///
/// impl Reporter for Ids {
///     fn render(&self, doc: &Document<'_>) -> Result<String, PluginError> {
///         match doc.kind {
///             DocumentKind::RunList => Ok(doc.parse::<RunList>()?
///                 .iter().map(|r| format!("{}\n", r.run)).collect()),
///             other => Err(PluginError::unsupported(format!("`ids` cannot render {other}"))),
///         }
///     }
/// }
/// ```
pub trait Reporter: Plugin {
    /// Renders `doc` as text.
    ///
    /// Return [`PluginError::unsupported`] for a document kind the reporter
    /// does not handle; the host then falls back to another reporter.
    fn render(&self, doc: &Document<'_>) -> Result<String, PluginError>;
}
