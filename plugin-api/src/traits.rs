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
//! A run that is stopped on purpose gets [`Plugin::run_stop`] instead of
//! `run_complete`; when it is resumed, under the same run id, it gets
//! [`Plugin::run_resume`], then its events continue (and, in the end, one
//! `run_complete`). A run may be stopped and resumed any number of times.
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
    Decision, DeleteReport, Document, Event, EventPage, EventQuery, ExpireReport, ExpireRequest,
    HookContext, ProjectUsage, RetentionInput, Run, RunDetails, RunQuery, RunResult, RunResume,
    RunStart, RunStop, StatusVerdict,
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

    /// A run was stopped on purpose (choo: `choo stop`) and may be resumed
    /// under the same id; no `run_complete` comes for the stop. A storage
    /// plugin records it (choo appends a `run.stopped {reason}` event) and
    /// marks the run stopped; others may flush what they hold for the run.
    /// Return [`PluginError::not_found`] for a run you never saw started.
    ///
    /// The default does nothing. Hosts deliver it to plugins built for ABI
    /// 1.3 or later only; for older plugins the call succeeds without
    /// reaching them.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use otto_hooks_plugin_api::{Plugin, PluginConfig, PluginError, RunResume, RunStop};
    ///
    /// /// Remembers which runs are stopped.
    /// struct Stopped(Mutex<Vec<String>>);
    ///
    /// impl Plugin for Stopped {
    ///     const NAME: &'static str = "stopped";
    ///     const VERSION: &'static str = "1.0.0";
    ///     fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(Stopped(Mutex::new(Vec::new()))) }
    ///
    ///     fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
    ///         self.0.lock().unwrap().push(stop.run_id.to_owned());
    ///         Ok(())
    ///     }
    ///
    ///     fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
    ///         let mut stopped = self.0.lock().unwrap();
    ///         let before = stopped.len();
    ///         stopped.retain(|id| id != resume.run_id);
    ///         if stopped.len() == before {
    ///             return Err(PluginError::invalid(format!("run {} was not stopped", resume.run_id)));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
        let _ = stop;
        Ok(())
    }

    /// A stopped (or interrupted) run resumed under its id. Its events
    /// follow this call and continue the run's numbering: a storage plugin
    /// appends `run.resumed {resumed_from_seq}` (the run's last `seq` before
    /// the resume) and gives the next events contiguous sequence numbers.
    /// Return [`PluginError::not_found`] for a run you do not hold.
    ///
    /// The default does nothing. Like [`Plugin::run_stop`], it reaches
    /// plugins built for ABI 1.3 or later only.
    fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
        let _ = resume;
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

    /// Lists the runs matching `query`, newest first, handing each to
    /// `emit` as soon as it is built: the host takes it at once, so a
    /// storage that overrides this never holds a long listing whole (a
    /// listing of 100,000 runs is tens of megabytes).
    ///
    /// The default calls [`Storage::list_runs`] and emits its runs one by
    /// one. Fail before emitting anything where you can: runs already
    /// emitted are discarded with the error.
    fn list_runs_into(
        &self,
        query: &RunQuery<'_>,
        emit: &mut dyn FnMut(Run),
    ) -> Result<(), PluginError> {
        for run in self.list_runs(query)? {
            emit(run);
        }
        Ok(())
    }

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

    /// A page of one run's stored events, for `otto-hooks events` and
    /// `info --events`: the events passing `query`'s filters (see
    /// [`EventQuery::matches`]) with `seq > after_seq`, lowest `seq` first,
    /// at most `limit` of them; `has_more` says whether more follow, and
    /// `total` counts every event passing the filters when that is cheap.
    /// Return [`PluginError::not_found`] for a run you do not hold, and an
    /// empty page for a run without (matching) events.
    ///
    /// The default says the plugin does not keep events (since ABI 1.3).
    ///
    /// A type implementing both [`Plugin`] and `Storage` has two methods
    /// named `events` (this one and the lifecycle batch [`Plugin::events`]):
    /// call this one as `Storage::events(&store, &query)`.
    ///
    /// ```
    /// use otto_hooks_plugin_api::{EventPage, EventQuery, Plugin, PluginConfig, PluginError, Run, RunQuery, Storage, StoredEvent};
    ///
    /// /// One run's events, kept in memory.
    /// struct Memory(Vec<StoredEvent>);
    ///
    /// impl Plugin for Memory {
    ///     const NAME: &'static str = "memory";
    ///     const VERSION: &'static str = "1.0.0";
    ///     fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(Memory(Vec::new())) }
    /// }
    ///
    /// impl Storage for Memory {
    ///     fn list_runs(&self, _: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> { Ok(Vec::new()) }
    ///
    ///     fn events(&self, query: &EventQuery<'_>) -> Result<EventPage, PluginError> {
    ///         if query.run_id != "r1" {
    ///             return Err(PluginError::not_found(format!("no run `{}`", query.run_id)));
    ///         }
    ///         let matching: Vec<&StoredEvent> = self.0.iter()
    ///             .filter(|e| query.matches(&e.kind, e.unit.as_deref()))
    ///             .collect();
    ///         let mut after: Vec<StoredEvent> = matching.iter()
    ///             .filter(|e| query.after_seq.is_none_or(|s| e.seq > s))
    ///             .map(|e| (*e).clone())
    ///             .collect();
    ///         let has_more = after.len() > query.limit as usize;
    ///         after.truncate(query.limit as usize);
    ///         Ok(EventPage { events: after, has_more, total: Some(matching.len() as u64) })
    ///     }
    /// }
    ///
    /// let store = Memory((1..=3).map(|seq| StoredEvent { seq, kind: "unit.started".into(), ..StoredEvent::default() }).collect());
    /// let page = Storage::events(&store, &EventQuery { run_id: "r1", limit: 2, ..EventQuery::default() }).unwrap();
    /// assert_eq!((page.events.len(), page.has_more, page.total), (2, true, Some(3)));
    /// ```
    fn events(&self, query: &EventQuery<'_>) -> Result<EventPage, PluginError> {
        let _ = query;
        Err(PluginError::unsupported(format!(
            "storage `{}` does not keep events",
            Self::NAME
        )))
    }

    /// Deletes the named runs, with everything storage keeps of them, for
    /// `otto-hooks clean` and `delete`. Never delete a running run: report
    /// it in `refused` (reason `running`), as any other run you leave
    /// (`not found`, `pinned`…); one refused run does not fail the call. An
    /// `Err` means nothing could be done (the store is unreadable, say).
    /// `bytes_freed` may exceed the sum over the deleted runs (a vacuum).
    ///
    /// The default says the plugin deletes nothing itself: the host then
    /// deletes by location, as for otto's run directories (since ABI 1.3).
    fn delete_runs(&self, runs: &[&str]) -> Result<DeleteReport, PluginError> {
        let _ = runs;
        Err(PluginError::unsupported(format!(
            "storage `{}` deletes nothing itself",
            Self::NAME
        )))
    }

    /// History retention by age: deletes every run that completed (ended:
    /// succeeded, failed, interrupted) before `request.cutoff`, with its
    /// events. Running and stopped (resumable) runs never go. With
    /// `request.dry_run`, report what would go and delete nothing.
    ///
    /// The default says the plugin does not expire history (since ABI 1.3).
    fn expire(&self, request: &ExpireRequest) -> Result<ExpireReport, PluginError> {
        let _ = request;
        Err(PluginError::unsupported(format!(
            "storage `{}` does not expire history",
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

    /// Renders `doc`, handing the text to `emit` in pieces as they are
    /// ready: the host writes each piece out at once, so a reporter that
    /// overrides this never holds a large document's output whole (a list
    /// of 100,000 runs is tens of megabytes of text). The pieces, joined,
    /// are the text.
    ///
    /// The default renders with [`Reporter::render`] and emits the text as
    /// one piece. Fail (for an unsupported kind, say) before emitting
    /// anything: the host falls back to another reporter only while no
    /// text has gone out.
    fn render_into(
        &self,
        doc: &Document<'_>,
        emit: &mut dyn FnMut(&str),
    ) -> Result<(), PluginError> {
        let text = self.render(doc)?;
        emit(&text);
        Ok(())
    }
}
