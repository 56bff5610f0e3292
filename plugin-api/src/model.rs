//! The data model shared by the host and every plugin.
//!
//! Values a plugin *receives* on the hot path ([`Event`], [`RunStart`],
//! [`RunResult`], [`RunStop`], [`RunResume`], [`HookContext`], [`RunQuery`],
//! [`EventQuery`]) borrow the host's memory: delivering an event costs no
//! allocation. Values a plugin *returns* ([`Run`], [`Task`], [`RunDetails`],
//! [`StatusVerdict`], [`Decision`], [`EventPage`], [`DeleteReport`],
//! [`ExpireReport`]) are owned.
//!
//! Every type serialises with serde in the shape used by `--json` output.

use serde::{Deserialize, Serialize};

use crate::abi;
pub use crate::abi::Timestamp;

impl Timestamp {
    /// A timestamp at whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }

    /// The current time from the system clock.
    ///
    /// Plugins should not call this for decisions (retention is a pure
    /// function of its input's `now`); it is for hosts and orchestrators.
    pub fn now() -> Self {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                Timestamp {
                    secs: -(d.as_secs() as i64) - 1,
                    nanos: 1_000_000_000 - d.subsec_nanos(),
                }
            }
        }
    }
}

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )* }
        unknown = $unknown:ident
    ) => {
        $(#[$meta])*
        ///
        /// Serialises as its lowercase name. Reading, a name this version
        /// does not know reads as
        #[doc = concat!("`", stringify!($unknown), "`,")]
        /// as an unknown ABI code does: a document from a newer host still
        /// parses.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $( $(#[$vmeta])* $variant, )* }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(name.parse().unwrap_or($name::$unknown))
            }
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable lowercase name used in output and configuration.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The integer code that crosses the ABI.
            pub const fn code(self) -> u32 {
                match self { $($name::$variant => $code,)* }
            }

            /// Reads an ABI code; a code this version does not know reads as
            #[doc = concat!("`", stringify!($unknown), "`.")]
            pub const fn from_code(code: u32) -> Self {
                match code { $($code => $name::$variant,)* _ => $name::$unknown }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "unknown {} `{}` (expected one of: {})",
                        stringify!($name), s, [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}

code_enum! {
    /// The status of a run.
    pub enum RunStatus {
        /// Nothing decided it.
        Unknown = 0 => "unknown",
        /// Finished, every task succeeded (choo's `completed`).
        Success = 1 => "success",
        /// Finished with a failure.
        Failed = 2 => "failed",
        /// Still running (for otto: its `.lock` is held).
        Running = 3 => "running",
        /// Died without finishing (a `running` record whose process is gone).
        Interrupted = 4 => "interrupted",
        /// Stopped on purpose and resumable (choo's `stopped`).
        Stopped = 5 => "stopped",
    }
    unknown = Unknown
}

impl RunStatus {
    /// Whether the run has finished (anything but `running`).
    pub fn is_finished(self) -> bool {
        self != RunStatus::Running
    }
}

code_enum! {
    /// The status of one task of a run.
    pub enum TaskStatus {
        /// Nothing decided it.
        Unknown = 0 => "unknown",
        /// Exited successfully.
        Success = 1 => "success",
        /// Failed.
        Failed = 2 => "failed",
        /// Still running.
        Running = 3 => "running",
        /// Not started yet.
        Pending = 4 => "pending",
        /// Skipped.
        Skipped = 5 => "skipped",
        /// Started, and never finished: its run died under it (since ABI
        /// 1.4; a host or plugin of an older ABI reads it as `unknown`, and
        /// the host shows it as `unknown` to reporters built before 1.4).
        Interrupted = 6 => "interrupted",
    }
    unknown = Unknown
}

code_enum! {
    /// The four plugin kinds.
    pub enum PluginKind {
        /// Not a kind this host knows (a newer plugin).
        Unknown = 0 => "unknown",
        /// Where runs and their events live.
        Storage = 1 => "storage",
        /// Did a run succeed, fail, or is it still running.
        Status = 2 => "status",
        /// Which runs may go, and why each one stays.
        Retention = 3 => "retention",
        /// How a result is shown or sent.
        Reporter = 4 => "reporter",
    }
    unknown = Unknown
}

code_enum! {
    /// What a retention plugin decided for a run.
    pub enum Action {
        /// A code this host does not know; treated as keep.
        Unknown = 0 => "unknown",
        /// Keep the run.
        Keep = 1 => "keep",
        /// The run may be deleted.
        Delete = 2 => "delete",
    }
    unknown = Unknown
}

code_enum! {
    /// What a reporter is asked to render.
    pub enum DocumentKind {
        /// A kind this plugin does not know: render the JSON generically.
        Unknown = 0 => "unknown",
        /// [`crate::report::RunList`].
        RunList = 1 => "run-list",
        /// [`crate::report::RunInfo`].
        RunInfo = 2 => "run-info",
        /// [`crate::report::UsageReport`].
        Usage = 3 => "usage",
        /// [`crate::report::CleanPlan`].
        CleanPlan = 4 => "clean-plan",
        /// [`crate::report::RunSummary`].
        RunSummary = 5 => "run-summary",
        /// [`crate::report::PluginList`].
        PluginList = 6 => "plugin-list",
        /// [`crate::report::ConfigReport`].
        Config = 7 => "config",
    }
    unknown = Unknown
}

/// Which run a hook call concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookContext<'a> {
    /// The project key (otto: the `<name>-<hash>` directory; choo: the repo path).
    pub project: &'a str,
    /// The run id.
    pub run_id: &'a str,
}

/// A run starting: what the orchestrator told `run_start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunStart<'a> {
    /// The project key.
    pub project: &'a str,
    /// The run id: given by the orchestrator or minted by the host.
    pub run_id: &'a str,
    /// When the run started.
    pub started_at: Timestamp,
    /// The canonical repository or project path, when known.
    pub repo_path: Option<&'a str>,
    /// How many units may run at once, when known.
    pub parallelism: Option<u32>,
    /// How many units (or tasks) are planned, when known.
    pub total_units: Option<u32>,
    /// The orchestrator's tasks directory, when any.
    pub tasks_dir: Option<&'a str>,
    /// A dry run records but changes nothing.
    pub dry_run: bool,
}

/// One orchestrator event, in choo's shape.
///
/// The payload stays JSON text: most plugins store or forward it unchanged,
/// and the few that look inside parse only what they need with
/// [`Event::payload_as`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// When it happened.
    pub time: Timestamp,
    /// The event type, e.g. `unit.started`; any type ending in `.failed` is a failure.
    pub kind: &'a str,
    /// The unit it concerns, when any.
    pub unit: Option<&'a str>,
    /// The task number, when any.
    pub task: Option<i64>,
    /// The pull-request number, when any.
    pub pr: Option<i64>,
    /// The payload, a JSON object as text, when any.
    pub payload: Option<&'a str>,
    /// The error message, when any.
    pub error: Option<&'a str>,
}

impl Event<'_> {
    /// Whether this event reports a failure (its type ends in `.failed`).
    pub fn is_failure(&self) -> bool {
        self.kind.ends_with(".failed")
    }

    /// Parses the payload (or `{}` when there is none) into `T`.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.unwrap_or("{}"))
    }
}

/// A run finishing: what the orchestrator told `run_complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunResult<'a> {
    /// The project key.
    pub project: &'a str,
    /// The run id.
    pub run_id: &'a str,
    /// When it ended.
    pub ended_at: Timestamp,
    /// How it ended.
    pub status: RunStatus,
    /// Units completed, when known.
    pub completed_units: Option<u32>,
    /// Units failed, when known.
    pub failed_units: Option<u32>,
    /// Units blocked, when known.
    pub blocked_units: Option<u32>,
    /// The error that ended it, when any.
    pub error: Option<&'a str>,
}

/// A run stopped on purpose: what the orchestrator told `run_stop`.
///
/// Unlike [`RunResult`], a stop is not an end: the run may be resumed
/// under the same id ([`RunResume`]), and its events then continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunStop<'a> {
    /// The project key.
    pub project: &'a str,
    /// The run id.
    pub run_id: &'a str,
    /// When it stopped.
    pub at: Timestamp,
    /// Why, when the orchestrator said (choo: `--reason`).
    pub reason: Option<&'a str>,
}

/// A stopped run resuming under its id: what the orchestrator told
/// `run_resume`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunResume<'a> {
    /// The project key.
    pub project: &'a str,
    /// The run id (the stopped run's).
    pub run_id: &'a str,
    /// When it resumed.
    pub at: Timestamp,
}

/// Which runs `Storage::list_runs` should return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunQuery<'a> {
    /// Only runs of this project: matched exactly against the project's
    /// key, name or hash — never as a substring.
    pub project: Option<&'a str>,
    /// At most this many runs, newest first (a hint: the host trims too).
    pub limit: Option<u64>,
}

/// A run, as a storage plugin reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The run id, unique within its project (otto: `<ts>` or `<ts>-<n>`;
    /// choo: `run_YYYYMMDD_HHMMSS_xxxx`).
    pub id: String,
    /// The project key.
    pub project: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended, when known.
    pub ended_at: Option<Timestamp>,
    /// Its status as far as storage knows (status plugins refine it).
    pub status: RunStatus,
    /// Which source decided the status, when known.
    pub status_source: Option<String>,
    /// How many tasks it has.
    pub task_count: u32,
    /// Apparent bytes, as `du -sb` counts them, when measured.
    pub size_bytes: Option<u64>,
    /// Allocated bytes, as `du -sB1` counts them, when measured.
    pub allocated_bytes: Option<u64>,
    /// Where it lives: a directory, a database row, a URL.
    pub location: String,
    /// Pinned runs are never deleted (otto: a `.keep` file in the run).
    pub pinned: bool,
    /// Storage-specific attributes as a JSON object (`{}` when none): otto's
    /// `run.yaml` fields, choo's unit counts, and so on.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[allow(clippy::derivable_impls)] // the variants come from `code_enum!`
impl Default for RunStatus {
    fn default() -> Self {
        RunStatus::Unknown
    }
}

#[allow(clippy::derivable_impls)]
impl Default for TaskStatus {
    fn default() -> Self {
        TaskStatus::Unknown
    }
}

/// One task of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task name (may contain `:`, e.g. `check:db`).
    pub name: String,
    /// Its status.
    pub status: TaskStatus,
    /// Its exit code, when recorded.
    pub exit_code: Option<i32>,
    /// How long it ran, in milliseconds, when known.
    pub duration_ms: Option<u64>,
    /// Its captured stdout, when any.
    pub stdout_path: Option<String>,
    /// Its captured stderr, when any.
    pub stderr_path: Option<String>,
    /// Its script, when any.
    pub script_path: Option<String>,
    /// Where the script link points (a cache file), when it is a link.
    pub script_target: Option<String>,
}

/// A run with every task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetails {
    /// The run.
    pub run: Run,
    /// Its tasks, in the order storage lists them.
    pub tasks: Vec<Task>,
}

/// Disk usage of one project, as a storage plugin measures it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectUsage {
    /// The project key.
    pub project: String,
    /// Number of runs.
    pub runs: u64,
    /// Apparent bytes of all runs (`du -sb`).
    pub runs_bytes: u64,
    /// Allocated bytes of all runs (`du -sB1`).
    pub runs_allocated_bytes: u64,
    /// Apparent bytes of the project's cache (otto: `.cache`).
    pub cache_bytes: u64,
    /// Number of cache files.
    pub cache_files: u64,
    /// Apparent bytes of cache files that no run references.
    pub orphaned_cache_bytes: u64,
    /// Number of cache files that no run references.
    pub orphaned_cache_files: u64,
    /// Apparent bytes of everything else in the project (the directory
    /// itself, stray files), so that the parts add up to `du -sb`.
    pub other_bytes: u64,
    /// The oldest run's start, when there are runs.
    pub oldest_run: Option<Timestamp>,
    /// Allocated bytes of the whole project (`du -sB1`: runs, cache and
    /// everything else), when storage measures it (ABI 1.4).
    #[serde(default)]
    pub allocated_bytes: Option<u64>,
}

/// Which stored events of a run `Storage::events` should return.
///
/// Filters combine with "and". [`EventQuery::matches`] applies the
/// `type_prefix` and `unit` filters exactly as documented, so that every
/// storage plugin reads them the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventQuery<'a> {
    /// The run (an exact id).
    pub run_id: &'a str,
    /// Only events whose type is this prefix in whole dotted segments:
    /// `unit` matches `unit` and `unit.started`, not `units.x` or `unitx`.
    pub type_prefix: Option<&'a str>,
    /// Only events of this unit (exactly).
    pub unit: Option<&'a str>,
    /// Only events with a sequence number greater than this (paging: pass
    /// the last `seq` of the previous page).
    pub after_seq: Option<u64>,
    /// At most this many events, lowest `seq` first. `0` asks for none:
    /// only `has_more` and `total`.
    pub limit: u32,
}

impl EventQuery<'_> {
    /// Whether an event of type `kind` and unit `unit` passes the
    /// `type_prefix` and `unit` filters (`after_seq` and `limit` are the
    /// caller's to apply).
    ///
    /// ```
    /// use otto_hooks_plugin_api::EventQuery;
    ///
    /// let q = EventQuery { run_id: "r1", type_prefix: Some("unit"), limit: 100, ..EventQuery::default() };
    /// assert!(q.matches("unit.started", Some("api")));
    /// assert!(q.matches("unit", None));
    /// assert!(!q.matches("units.started", None));
    /// assert!(!q.matches("task.unit", None));
    /// ```
    pub fn matches(&self, kind: &str, unit: Option<&str>) -> bool {
        let type_ok = self.type_prefix.is_none_or(|prefix| {
            prefix.is_empty()
                || kind
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        });
        type_ok && self.unit.is_none_or(|u| unit == Some(u))
    }
}

/// One event of a run as storage keeps it: an [`Event`] with its sequence
/// number. Serialises in the `--json` shape: `type` for the kind, and the
/// payload embedded as JSON (not as a string of JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Its sequence number within the run: 1, 2, 3… with no gaps, also
    /// across a stop and a resume.
    pub seq: u64,
    /// When it happened.
    pub time: Timestamp,
    /// The event type, e.g. `unit.started`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The unit it concerns, when any.
    pub unit: Option<String>,
    /// The task number, when any.
    pub task: Option<i64>,
    /// The pull-request number, when any.
    pub pr: Option<i64>,
    /// The payload as JSON text (an object), when any.
    #[serde(default, with = "payload_json")]
    pub payload: Option<String>,
    /// The error message, when any.
    pub error: Option<String>,
}

impl StoredEvent {
    /// The event, borrowed (without its `seq`).
    pub fn as_event(&self) -> Event<'_> {
        Event {
            time: self.time,
            kind: &self.kind,
            unit: self.unit.as_deref(),
            task: self.task,
            pr: self.pr,
            payload: self.payload.as_deref(),
            error: self.error.as_deref(),
        }
    }
}

/// Serde for a payload kept as JSON text: written as embedded JSON (or as a
/// string when the text is not JSON), read from any JSON value.
mod payload_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(payload: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match payload.as_deref() {
            None => s.serialize_none(),
            Some(text) => match serde_json::from_str::<&serde_json::value::RawValue>(text) {
                Ok(raw) => s.serialize_some(raw),
                Err(_) => s.serialize_some(text),
            },
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<serde_json::Value>::deserialize(d)?.map(|v| v.to_string()))
    }
}

/// One page of a run's stored events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events, in `seq` order.
    pub events: Vec<StoredEvent>,
    /// Whether more matching events follow the last one (ask again with
    /// `after_seq` set to its `seq`).
    pub has_more: bool,
    /// How many events match the query's filters in all, ignoring
    /// `after_seq` and `limit`, when the storage knows it cheaply.
    pub total: Option<u64>,
}

/// A run [`Storage::delete_runs`](crate::Storage::delete_runs) deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedRun {
    /// The run id.
    pub run_id: String,
    /// Bytes freed by deleting it (its own share).
    pub bytes_freed: u64,
}

/// A run [`Storage::delete_runs`](crate::Storage::delete_runs) did not
/// delete, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDeletion {
    /// The run id.
    pub run_id: String,
    /// Why, for the user: `running`, `not found`…
    pub reason: String,
}

/// What [`Storage::delete_runs`](crate::Storage::delete_runs) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReport {
    /// The runs deleted.
    pub deleted: Vec<DeletedRun>,
    /// The runs not deleted.
    pub refused: Vec<RefusedDeletion>,
    /// Bytes freed in all: may exceed the sum over `deleted` (a vacuum
    /// after the deletion, for example).
    pub bytes_freed: u64,
}

/// A history-retention request for [`Storage::expire`](crate::Storage::expire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireRequest {
    /// Runs that ended (completed, failed or stopped) before this go.
    /// Running runs never do.
    pub cutoff: Timestamp,
    /// Report what would go; delete nothing.
    pub dry_run: bool,
}

/// What [`Storage::expire`](crate::Storage::expire) did (or, for a dry
/// run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireReport {
    /// Runs deleted.
    pub runs: u64,
    /// Events deleted with them.
    pub events: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// The ids of the runs deleted.
    pub run_ids: Vec<String>,
}

/// What a status plugin decided for a run, and from what.
///
/// # Facts and guesses
///
/// A status is a *fact* when a witness recorded it (otto.db's row, a held
/// `.lock`, recorded exit codes, the orchestrator's own report), and a
/// *guess* when it was inferred from what a run left behind (which log
/// files have bytes, which output files exist). Deleting must never rest
/// on a guess: retention plugins give a guessed status an age cutoff no
/// shorter than an `unknown` run's, and reporters show it as a guess
/// (`failed?`, `"status_guessed": true`).
///
/// The ABI carries no flag for this: a guess is a verdict whose `source`
/// starts with [`GUESS_PREFIX`] (`"guess: "`), followed by the reason, so
/// that every host and plugin, of any ABI 1.x, can tell. Make one with
/// [`StatusVerdict::guess`]; test one with [`StatusVerdict::is_guess`] or,
/// once the host copied it onto a run, [`Run::status_is_guess`].
///
/// ```
/// use otto_hooks_plugin_api::{Run, RunStatus, StatusVerdict};
///
/// let fact = StatusVerdict::fact(RunStatus::Failed, "otto.db");
/// assert!(!fact.is_guess());
///
/// let guess = StatusVerdict::guess(RunStatus::Failed, "task build wrote no output.build.json");
/// assert!(guess.is_guess());
/// assert_eq!(guess.source, "guess: task build wrote no output.build.json");
/// assert_eq!(guess.guess_reason(), Some("task build wrote no output.build.json"));
///
/// let run = Run { status: guess.status, status_source: Some(guess.source), ..Run::default() };
/// assert!(run.status_is_guess());
/// assert_eq!(run.status_label(), "failed?");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusVerdict {
    /// The status.
    pub status: RunStatus,
    /// The source that decided it: `otto.db`, `lock`, `exit codes`… or, for
    /// a guess, [`GUESS_PREFIX`] and the reason.
    pub source: String,
}

/// How the source of a guessed status begins (see [`StatusVerdict`]).
pub const GUESS_PREFIX: &str = "guess: ";

/// Whether a status source (a verdict's `source`, a run's
/// `status_source`) names a guess: it starts with [`GUESS_PREFIX`].
pub fn is_guess_source(source: &str) -> bool {
    source.starts_with(GUESS_PREFIX)
}

impl StatusVerdict {
    /// A status a witness recorded, from `source` (which must not start
    /// with [`GUESS_PREFIX`]).
    pub fn fact(status: RunStatus, source: impl Into<String>) -> Self {
        StatusVerdict {
            status,
            source: source.into(),
        }
    }

    /// A status inferred from what the run left behind; `reason` says
    /// from what, for the user (it is shown in `info`).
    pub fn guess(status: RunStatus, reason: impl AsRef<str>) -> Self {
        StatusVerdict {
            status,
            source: format!("{GUESS_PREFIX}{}", reason.as_ref()),
        }
    }

    /// Whether the status is a guess.
    pub fn is_guess(&self) -> bool {
        is_guess_source(&self.source)
    }

    /// The reason of a guess (its source without [`GUESS_PREFIX`]);
    /// `None` for a fact.
    pub fn guess_reason(&self) -> Option<&str> {
        self.source.strip_prefix(GUESS_PREFIX)
    }
}

impl Run {
    /// Whether the run's status is a guess (its `status_source` starts
    /// with [`GUESS_PREFIX`]). A run whose status nobody decided
    /// (`status_source` is `None`) is not a guess: its status is what
    /// storage recorded.
    pub fn status_is_guess(&self) -> bool {
        self.status_source.as_deref().is_some_and(is_guess_source)
    }

    /// The status as shown to people: its name, with a `?` when it is a
    /// guess (`failed?`).
    pub fn status_label(&self) -> String {
        status_label(self.status, self.status_is_guess())
    }
}

/// A status as shown to people: `failed`, or `failed?` for a guess.
pub fn status_label(status: RunStatus, guessed: bool) -> String {
    if guessed {
        format!("{status}?")
    } else {
        status.to_string()
    }
}

/// The input of one retention decision: the runs of one group.
#[derive(Clone, Copy, Debug)]
pub struct RetentionInput<'a> {
    /// The group these runs belong to (usually a project key).
    pub group: &'a str,
    /// The reference time. Retention must not read a clock of its own.
    pub now: Timestamp,
    /// Every run of the group, in no particular order.
    pub runs: &'a [Run],
}

/// A retention plugin's decision for one run, with every reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The run it concerns.
    pub run_id: String,
    /// Keep or delete.
    pub action: Action,
    /// Every rule that matched, as stable strings (`last#2`, `within 30d`,
    /// `pinned`…). A kept run names at least one reason.
    pub reasons: Vec<String>,
}

impl Decision {
    /// Keep `run_id` for these reasons.
    pub fn keep(run_id: impl Into<String>, reasons: Vec<String>) -> Self {
        Decision {
            run_id: run_id.into(),
            action: Action::Keep,
            reasons,
        }
    }

    /// Delete `run_id` for these reasons.
    pub fn delete(run_id: impl Into<String>, reasons: Vec<String>) -> Self {
        Decision {
            run_id: run_id.into(),
            action: Action::Delete,
            reasons,
        }
    }
}

/// A document for a reporter: its kind and its JSON (the `--json` shape).
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// What it is.
    pub kind: DocumentKind,
    /// The document as JSON text.
    pub json: &'a str,
}

impl Document<'_> {
    /// Parses the JSON into one of the typed documents of [`crate::report`].
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json)
    }
}

// ---------------------------------------------------------------------------
// Conversions between the model and its ABI views
// ---------------------------------------------------------------------------

/// Converts between model values and their [`abi`] views. Borrowed views
/// point into the model value; nothing is copied.
pub(crate) mod convert {
    use super::*;
    use crate::abi::{Opt, Str};

    pub fn opt_str(s: &Option<String>) -> Str<'_> {
        Str::from_opt(s.as_deref())
    }

    /// A run's view; `attributes` must be the run's attributes as JSON text.
    pub fn run_view<'a>(run: &'a Run, attributes: &'a str) -> abi::Run<'a> {
        abi::Run {
            id: Str::new(&run.id),
            project: Str::new(&run.project),
            started_at: run.started_at,
            ended_at: Opt::new(run.ended_at),
            status: run.status.code(),
            status_source: opt_str(&run.status_source),
            task_count: run.task_count,
            size_bytes: Opt::new(run.size_bytes),
            allocated_bytes: Opt::new(run.allocated_bytes),
            location: Str::new(&run.location),
            pinned: run.pinned as u8,
            attributes: Str::new(attributes),
        }
    }

    /// JSON text of a run's attributes (empty for none).
    pub fn attributes_json(run: &Run) -> String {
        if run.attributes.is_empty() {
            String::new()
        } else {
            // The map serialises as the object it is: no copy of it first.
            serde_json::to_string(&run.attributes).unwrap_or_default()
        }
    }

    /// Copies a run out of its view, validating every string.
    ///
    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn run_from_view(v: &abi::Run<'_>) -> Result<Run, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            // Absent attributes read as `{}`, as the ABI documents.
            let attributes = match opt(v.attributes, "attributes")?.as_deref().unwrap_or("") {
                "" => serde_json::Map::new(),
                text => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                    .map_err(|_| "run attributes are not a JSON object".to_owned())?,
            };
            Ok(Run {
                id: req(v.id, "run id")?.to_owned(),
                project: req(v.project, "project")?.to_owned(),
                started_at: v.started_at,
                ended_at: v.ended_at.get(),
                status: RunStatus::from_code(v.status),
                status_source: opt(v.status_source, "status source")?,
                task_count: v.task_count,
                size_bytes: v.size_bytes.get(),
                allocated_bytes: v.allocated_bytes.get(),
                location: req(v.location, "location")?.to_owned(),
                pinned: v.pinned != 0,
                attributes,
            })
        }
    }

    pub fn usage_ext_view(u: &ProjectUsage) -> abi::ProjectUsageExt<'_> {
        abi::ProjectUsageExt {
            base: usage_view(u),
            allocated_bytes: Opt::new(u.allocated_bytes),
        }
    }

    pub fn usage_view(u: &ProjectUsage) -> abi::ProjectUsage<'_> {
        abi::ProjectUsage {
            project: Str::new(&u.project),
            runs: u.runs,
            runs_bytes: u.runs_bytes,
            runs_allocated_bytes: u.runs_allocated_bytes,
            cache_bytes: u.cache_bytes,
            cache_files: u.cache_files,
            orphaned_cache_bytes: u.orphaned_cache_bytes,
            orphaned_cache_files: u.orphaned_cache_files,
            other_bytes: u.other_bytes,
            oldest_run: Opt::new(u.oldest_run),
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn usage_from_view(v: &abi::ProjectUsage<'_>) -> Result<ProjectUsage, String> {
        Ok(ProjectUsage {
            // SAFETY: forwarded to the caller.
            project: unsafe { req(v.project, "project") }?.to_owned(),
            runs: v.runs,
            runs_bytes: v.runs_bytes,
            runs_allocated_bytes: v.runs_allocated_bytes,
            cache_bytes: v.cache_bytes,
            cache_files: v.cache_files,
            orphaned_cache_bytes: v.orphaned_cache_bytes,
            orphaned_cache_files: v.orphaned_cache_files,
            other_bytes: v.other_bytes,
            oldest_run: v.oldest_run.get(),
            allocated_bytes: None,
        })
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn usage_from_ext_view(
        v: &abi::ProjectUsageExt<'_>,
    ) -> Result<ProjectUsage, String> {
        Ok(ProjectUsage {
            allocated_bytes: v.allocated_bytes.get(),
            // SAFETY: forwarded to the caller.
            ..unsafe { usage_from_view(&v.base) }?
        })
    }

    pub fn stored_event_view(e: &StoredEvent) -> abi::StoredEvent<'_> {
        abi::StoredEvent {
            seq: e.seq,
            time: e.time,
            kind: Str::new(&e.kind),
            unit: opt_str(&e.unit),
            task: Opt::new(e.task),
            pr: Opt::new(e.pr),
            payload: opt_str(&e.payload),
            error: opt_str(&e.error),
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn stored_event_from_view(v: &abi::StoredEvent<'_>) -> Result<StoredEvent, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            Ok(StoredEvent {
                seq: v.seq,
                time: v.time,
                kind: req(v.kind, "event type")?.to_owned(),
                unit: opt(v.unit, "event unit")?,
                task: v.task.get(),
                pr: v.pr.get(),
                payload: opt(v.payload, "event payload")?,
                error: opt(v.error, "event error")?,
            })
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn page_from_view(v: &abi::EventPage<'_>) -> Result<EventPage, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            let events = v
                .events
                .as_slice()
                .iter()
                .map(|e| stored_event_from_view(e))
                .collect::<Result<_, _>>()?;
            Ok(EventPage {
                events,
                has_more: v.has_more != 0,
                total: v.total.get(),
            })
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn delete_report_from_view(
        v: &abi::DeleteReport<'_>,
    ) -> Result<DeleteReport, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            let deleted = v
                .deleted
                .as_slice()
                .iter()
                .map(|d| {
                    Ok(DeletedRun {
                        run_id: req(d.run_id, "deleted run id")?.to_owned(),
                        bytes_freed: d.bytes_freed,
                    })
                })
                .collect::<Result<_, String>>()?;
            let refused = v
                .refused
                .as_slice()
                .iter()
                .map(|r| {
                    Ok(RefusedDeletion {
                        run_id: req(r.run_id, "refused run id")?.to_owned(),
                        reason: req(r.reason, "refusal reason")?.to_owned(),
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(DeleteReport {
                deleted,
                refused,
                bytes_freed: v.bytes_freed,
            })
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn expire_report_from_view(
        v: &abi::ExpireReport<'_>,
    ) -> Result<ExpireReport, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            let run_ids = v
                .run_ids
                .as_slice()
                .iter()
                .map(|r| req(*r, "expired run id").map(str::to_owned))
                .collect::<Result<_, _>>()?;
            Ok(ExpireReport {
                runs: v.runs,
                events: v.events,
                bytes_freed: v.bytes_freed,
                run_ids,
            })
        }
    }

    pub fn task_view(t: &Task) -> abi::Task<'_> {
        abi::Task {
            name: Str::new(&t.name),
            status: t.status.code(),
            exit_code: Opt::new(t.exit_code),
            duration_ms: Opt::new(t.duration_ms),
            stdout_path: opt_str(&t.stdout_path),
            stderr_path: opt_str(&t.stderr_path),
            script_path: opt_str(&t.script_path),
            script_target: opt_str(&t.script_target),
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn task_from_view(v: &abi::Task<'_>) -> Result<Task, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            Ok(Task {
                name: req(v.name, "task name")?.to_owned(),
                status: TaskStatus::from_code(v.status),
                exit_code: v.exit_code.get(),
                duration_ms: v.duration_ms.get(),
                stdout_path: opt(v.stdout_path, "stdout path")?,
                stderr_path: opt(v.stderr_path, "stderr path")?,
                script_path: opt(v.script_path, "script path")?,
                script_target: opt(v.script_target, "script target")?,
            })
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn details_from_view(v: &abi::RunDetails<'_>) -> Result<RunDetails, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            let run = run_from_view(&v.run)?;
            let tasks = v
                .tasks
                .as_slice()
                .iter()
                .map(|t| task_from_view(t))
                .collect::<Result<_, _>>()?;
            Ok(RunDetails { run, tasks })
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live.
    pub unsafe fn decision_from_view(v: &abi::Decision<'_>) -> Result<Decision, String> {
        // SAFETY: forwarded to the caller.
        unsafe {
            let reasons = v
                .reasons
                .as_slice()
                .iter()
                .map(|r| req(*r, "reason").map(str::to_owned))
                .collect::<Result<_, _>>()?;
            Ok(Decision {
                run_id: req(v.run_id, "run id")?.to_owned(),
                action: Action::from_code(v.action),
                reasons,
            })
        }
    }

    /// A required string from a plugin: present and UTF-8.
    ///
    /// # Safety
    /// `s` must be live.
    pub unsafe fn req<'a>(s: Str<'a>, what: &str) -> Result<&'a str, String> {
        // SAFETY: forwarded to the caller.
        match unsafe { s.to_str() } {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(format!("{what} is missing")),
            Err(_) => Err(format!("{what} is not UTF-8")),
        }
    }

    /// An optional string from a plugin, UTF-8 when present.
    ///
    /// # Safety
    /// `s` must be live.
    pub unsafe fn opt(s: Str<'_>, what: &str) -> Result<Option<String>, String> {
        // SAFETY: forwarded to the caller.
        match unsafe { s.to_str() } {
            Ok(s) => Ok(s.map(str::to_owned)),
            Err(_) => Err(format!("{what} is not UTF-8")),
        }
    }

    pub fn event_view<'a>(e: &Event<'a>) -> abi::Event<'a> {
        abi::Event {
            time: e.time,
            kind: Str::new(e.kind),
            unit: Str::from_opt(e.unit),
            task: Opt::new(e.task),
            pr: Opt::new(e.pr),
            payload: Str::from_opt(e.payload),
            error: Str::from_opt(e.error),
        }
    }

    /// # Safety
    /// Every pointer in `v` must be live for `'a` and hold UTF-8 (the host's
    /// guarantee to plugins).
    pub unsafe fn event_from_view<'a>(v: &abi::Event<'a>) -> Event<'a> {
        // SAFETY: forwarded to the caller.
        unsafe {
            Event {
                time: v.time,
                kind: v.kind.as_str_unchecked(),
                unit: v.unit.as_opt_unchecked(),
                task: v.task.get(),
                pr: v.pr.get(),
                payload: v.payload.as_opt_unchecked(),
                error: v.error.as_opt_unchecked(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_prefix_matches_whole_dotted_segments() {
        let q = |prefix: Option<&'static str>, unit: Option<&'static str>| EventQuery {
            run_id: "r",
            type_prefix: prefix,
            unit,
            after_seq: None,
            limit: 10,
        };
        let unit = q(Some("unit"), None);
        assert!(unit.matches("unit", None));
        assert!(unit.matches("unit.started", Some("api")));
        assert!(unit.matches("unit.task.failed", None));
        assert!(!unit.matches("units.x", None));
        assert!(!unit.matches("unitx", None));
        assert!(!unit.matches("run.unit", None));
        let deep = q(Some("unit.task"), None);
        assert!(deep.matches("unit.task.failed", None));
        assert!(!deep.matches("unit.tasks", None));
        assert!(!deep.matches("unit", None));
        assert!(q(None, None).matches("anything", None));
        assert!(q(Some(""), None).matches("anything", None));
        let api = q(None, Some("api"));
        assert!(api.matches("unit.started", Some("api")));
        assert!(!api.matches("unit.started", Some("api-2")));
        assert!(!api.matches("run.started", None));
        assert!(q(Some("unit"), Some("api")).matches("unit.started", Some("api")));
        assert!(!q(Some("unit"), Some("api")).matches("task.started", Some("api")));
    }

    #[test]
    fn a_stored_event_serialises_in_the_json_shape_and_back() {
        let event = StoredEvent {
            seq: 3,
            time: Timestamp {
                secs: 1_795_342_500,
                nanos: 5,
            },
            kind: "unit.started".into(),
            unit: Some("api".into()),
            task: Some(2),
            pr: None,
            payload: Some(r#"{"total_tasks":2,"title":"Grüße"}"#.into()),
            error: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "seq": 3, "time": {"secs": 1_795_342_500, "nanos": 5}, "type": "unit.started",
                "unit": "api", "task": 2, "pr": null,
                "payload": {"total_tasks": 2, "title": "Grüße"}, "error": null
            })
        );
        // `time` serialises as `Run::started_at` does.
        let run = Run {
            started_at: event.time,
            ..Run::default()
        };
        assert_eq!(
            serde_json::to_value(&run).unwrap()["started_at"],
            json["time"]
        );
        let back: StoredEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<StoredEvent>(&text).unwrap(), event);
        assert_eq!(event.as_event().payload, event.payload.as_deref());
        assert_eq!(event.as_event().kind, "unit.started");

        // Absent optional fields read as `None`; text that is not JSON is
        // written as a string rather than failing.
        let bare: StoredEvent =
            serde_json::from_str(r#"{"seq": 1, "time": {"secs": 0, "nanos": 0}, "type": "x"}"#)
                .unwrap();
        assert_eq!(bare.payload, None);
        assert_eq!(bare.unit, None);
        let odd = StoredEvent {
            payload: Some("not json".into()),
            ..StoredEvent::default()
        };
        assert_eq!(serde_json::to_value(&odd).unwrap()["payload"], "not json");
    }

    #[test]
    fn reports_round_trip_through_json() {
        let page = EventPage {
            events: vec![StoredEvent::default()],
            has_more: true,
            total: Some(9),
        };
        let text = serde_json::to_string(&page).unwrap();
        assert_eq!(serde_json::from_str::<EventPage>(&text).unwrap(), page);
        let report = DeleteReport {
            deleted: vec![DeletedRun {
                run_id: "a".into(),
                bytes_freed: 1,
            }],
            refused: vec![RefusedDeletion {
                run_id: "b".into(),
                reason: "running".into(),
            }],
            bytes_freed: 10,
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<DeleteReport>(&text).unwrap(), report);
        let expire = ExpireReport {
            runs: 1,
            events: 2,
            bytes_freed: 3,
            run_ids: vec!["a".into()],
        };
        let text = serde_json::to_string(&expire).unwrap();
        assert_eq!(serde_json::from_str::<ExpireReport>(&text).unwrap(), expire);
    }
}
