//! Isolation of a plugin instance: the `isolation` key of a plugin entry,
//! and the wire protocol between the host and its plugin runner.
//!
//! An entry runs in the host's process by default. With
//! `isolation = "process"` (or `isolation = { mode = "process", timeout =
//! "30s", memory = "1GiB" }`) the host starts `otto-hooks __plugin-runner`,
//! which loads the library through the same checks
//! ([`super::load_library`]) under resource limits, and serves the calls
//! over its stdin and stdout. A plugin that crashes, hangs or exhausts its
//! memory then takes down its runner only: the host reports one line and
//! carries on ([`super::proxy`]).
//!
//! The key belongs to the host: it is taken out of the settings before the
//! plugin sees them, so it never collides with a plugin's own keys.
//!
//! Frames are a 4-byte little-endian length, then an 8-byte little-endian
//! request id, then JSON (the model types' own serde shapes); the length
//! counts the id and the JSON. The host numbers its requests and the runner
//! answers with the id of the request it answers: a reply that is not about
//! the call waiting (one late past a timeout, say) is never taken for its
//! answer.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::time::Duration;

use otto_hooks_plugin_api::{
    Decision, DeleteReport, DocumentKind, ErrorKind, Event, EventPage, EventQuery, ExpireReport,
    ExpireRequest, HookContext, PluginKind, ProjectUsage, Run, RunDetails, RunQuery, RunResult,
    RunResume, RunStart, RunStatus, RunStop, StatusVerdict, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The settings key the host reads and removes.
pub const KEY: &str = "isolation";

/// The hidden argument that makes the binary a plugin runner.
pub const RUNNER_ARG: &str = "__plugin-runner";

/// The largest frame either side accepts: a longer length prefix is a
/// protocol violation, not an allocation.
pub const MAX_FRAME: u32 = 256 << 20;

/// Default per-call time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default address-space limit of a runner (the runner is the whole
/// `otto-hooks` binary: its own mappings need some room).
pub const DEFAULT_MEMORY: u64 = 1 << 30;

/// The least memory limit accepted: below it the runner cannot even start.
pub const MIN_MEMORY: u64 = 64 << 20;

/// Where an instance runs, with its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In the host's process (the default).
    InProcess,
    /// In a runner process of its own.
    Process(Limits),
}

/// The limits of an isolated instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Per call: the runner is killed when a call takes longer.
    pub timeout: Duration,
    /// The runner's address space (RLIMIT_AS), in bytes.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            memory: DEFAULT_MEMORY,
        }
    }
}

impl Isolation {
    /// `in-process` or `process`.
    pub fn mode(&self) -> &'static str {
        match self {
            Isolation::InProcess => "in-process",
            Isolation::Process(_) => "process",
        }
    }
}

/// Splits `settings` into the isolation it asks for and the settings the
/// plugin gets (without the `isolation` key). The error is one line naming
/// the key.
pub fn split(settings: &toml::Table) -> Result<(Isolation, toml::Table), String> {
    let mut rest = settings.clone();
    let Some(value) = rest.remove(KEY) else {
        return Ok((Isolation::InProcess, rest));
    };
    Ok((parse(&value)?, rest))
}

/// The isolation of a plugin entry of `kind`: every kind of plugin may run
/// in a process of its own.
pub fn for_kind(
    kind: PluginKind,
    settings: &toml::Table,
) -> Result<(Isolation, toml::Table), String> {
    let (isolation, rest) = split(settings)?;
    if matches!(isolation, Isolation::Process(_)) && kind == PluginKind::Unknown {
        return Err("`isolation = \"process\"` needs a plugin of a known kind".to_owned());
    }
    Ok((isolation, rest))
}

fn parse(value: &toml::Value) -> Result<Isolation, String> {
    let modes = "\"in-process\" or \"process\"";
    let mode = |m: &str| match m {
        "in-process" => Ok(false),
        "process" => Ok(true),
        other => Err(format!("`{KEY}` is `{other}`; expected {modes}")),
    };
    match value {
        toml::Value::String(m) => Ok(if mode(m)? {
            Isolation::Process(Limits::default())
        } else {
            Isolation::InProcess
        }),
        toml::Value::Table(t) => {
            let mut limits = Limits::default();
            let mut process = true;
            for (key, v) in t {
                match (key.as_str(), v) {
                    ("mode", toml::Value::String(m)) => process = mode(m)?,
                    ("timeout", toml::Value::String(s)) => {
                        limits.timeout = crate::config::settings::parse_duration(s)
                            .map_err(|e| format!("`{KEY}.timeout`: {e}"))?;
                        if limits.timeout.is_zero() {
                            return Err(format!("`{KEY}.timeout` must be more than 0s"));
                        }
                    }
                    ("memory", toml::Value::String(s)) => {
                        limits.memory =
                            parse_size(s).map_err(|e| format!("`{KEY}.memory`: {e}"))?;
                        if limits.memory < MIN_MEMORY {
                            return Err(format!("`{KEY}.memory` must be at least 64MiB"));
                        }
                    }
                    ("mode" | "timeout" | "memory", _) => {
                        return Err(format!("`{KEY}.{key}` must be a string"));
                    }
                    _ => {
                        return Err(format!(
                            "unknown key `{KEY}.{key}`; expected mode, timeout, memory"
                        ));
                    }
                }
            }
            Ok(if process {
                Isolation::Process(limits)
            } else {
                Isolation::InProcess
            })
        }
        _ => Err(format!(
            "`{KEY}` must be {modes} or a table {{ mode, timeout, memory }}"
        )),
    }
}

/// Parses `512MiB`, `1GiB`, `65536KiB` or a bare number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size like 512MiB or 1GiB");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// What the host sends. Borrowed text is serialised as is (no copy on the
/// host's side); the runner reads it owned.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request<'a> {
    /// First frame: what to load and create.
    Init {
        /// The library, or `None` for a built-in plugin.
        library: Option<String>,
        /// The plugin's kind.
        kind: String,
        /// The plugin's name.
        plugin: String,
        /// The instance's name.
        instance: String,
        /// Its settings, as TOML (without the `isolation` key).
        settings: String,
        /// Its data directory.
        data_dir: String,
    },
    /// Retention: decide for one group.
    Decide {
        /// The group.
        group: Cow<'a, str>,
        /// The reference time.
        now: Timestamp,
        /// The group's runs.
        runs: Cow<'a, [Run]>,
    },
    /// Hook: a run started.
    RunStart {
        /// What the orchestrator said.
        start: WireRunStart<'a>,
    },
    /// Hook: a batch of events of one run, in one call.
    Events {
        /// The run.
        ctx: WireContext<'a>,
        /// The events, in order.
        events: Vec<WireEvent<'a>>,
    },
    /// Hook: a run finished.
    RunComplete {
        /// How it ended.
        result: WireRunResult<'a>,
    },
    /// Hook: a run stopped.
    RunStop {
        /// The stop.
        stop: WireRunStop<'a>,
    },
    /// Hook: a stopped run resumed.
    RunResume {
        /// The resume.
        resume: WireRunResume<'a>,
    },
    /// Storage: list runs.
    ListRuns {
        /// Which runs.
        query: WireRunQuery<'a>,
    },
    /// Storage: one run with its tasks.
    RunDetails {
        /// The run.
        ctx: WireContext<'a>,
    },
    /// Storage: disk usage per project.
    Usage {
        /// Which projects.
        query: WireRunQuery<'a>,
    },
    /// Storage: a page of a run's stored events.
    StoredEvents {
        /// Which events.
        query: WireEventQuery<'a>,
    },
    /// Storage: delete runs.
    DeleteRuns {
        /// Their ids.
        runs: Vec<Cow<'a, str>>,
    },
    /// Storage: history retention by age.
    Expire {
        /// The request.
        request: ExpireRequest,
    },
    /// Status: one run's status.
    Detect {
        /// The run.
        run: Cow<'a, Run>,
    },
    /// Status: several runs' statuses, in one call.
    DetectMany {
        /// The runs.
        runs: Cow<'a, [Run]>,
    },
    /// Status: refine a run's details.
    DetectDetails {
        /// The details.
        details: Cow<'a, RunDetails>,
    },
    /// Reporter: render a document.
    Render {
        /// Its kind.
        kind: DocumentKind,
        /// Its JSON.
        json: Cow<'a, str>,
    },
}

impl Request<'_> {
    /// The call's name, for messages (`decide`, `events`…).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Init { .. } => "create",
            Request::Decide { .. } => "decide",
            Request::RunStart { .. } => "run_start",
            Request::Events { .. } => "events",
            Request::RunComplete { .. } => "run_complete",
            Request::RunStop { .. } => "run_stop",
            Request::RunResume { .. } => "run_resume",
            Request::ListRuns { .. } => "list_runs",
            Request::RunDetails { .. } => "run_details",
            Request::Usage { .. } => "usage",
            Request::StoredEvents { .. } => "stored_events",
            Request::DeleteRuns { .. } => "delete_runs",
            Request::Expire { .. } => "expire",
            Request::Detect { .. } | Request::DetectMany { .. } => "detect",
            Request::DetectDetails { .. } => "detect_details",
            Request::Render { .. } => "render",
        }
    }
}

/// [`HookContext`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireContext<'a> {
    /// The project key.
    pub project: Cow<'a, str>,
    /// The run id.
    pub run_id: Cow<'a, str>,
}

impl<'a> From<&HookContext<'a>> for WireContext<'a> {
    fn from(c: &HookContext<'a>) -> Self {
        WireContext {
            project: c.project.into(),
            run_id: c.run_id.into(),
        }
    }
}

impl WireContext<'_> {
    /// The model view.
    pub fn view(&self) -> HookContext<'_> {
        HookContext {
            project: &self.project,
            run_id: &self.run_id,
        }
    }
}

/// [`RunStart`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRunStart<'a> {
    project: Cow<'a, str>,
    run_id: Cow<'a, str>,
    started_at: Timestamp,
    repo_path: Option<Cow<'a, str>>,
    parallelism: Option<u32>,
    total_units: Option<u32>,
    tasks_dir: Option<Cow<'a, str>>,
    dry_run: bool,
}

impl<'a> From<&RunStart<'a>> for WireRunStart<'a> {
    fn from(s: &RunStart<'a>) -> Self {
        WireRunStart {
            project: s.project.into(),
            run_id: s.run_id.into(),
            started_at: s.started_at,
            repo_path: s.repo_path.map(Cow::from),
            parallelism: s.parallelism,
            total_units: s.total_units,
            tasks_dir: s.tasks_dir.map(Cow::from),
            dry_run: s.dry_run,
        }
    }
}

impl WireRunStart<'_> {
    /// The model view.
    pub fn view(&self) -> RunStart<'_> {
        RunStart {
            project: &self.project,
            run_id: &self.run_id,
            started_at: self.started_at,
            repo_path: self.repo_path.as_deref(),
            parallelism: self.parallelism,
            total_units: self.total_units,
            tasks_dir: self.tasks_dir.as_deref(),
            dry_run: self.dry_run,
        }
    }
}

/// [`Event`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireEvent<'a> {
    time: Timestamp,
    kind: Cow<'a, str>,
    unit: Option<Cow<'a, str>>,
    task: Option<i64>,
    pr: Option<i64>,
    payload: Option<Cow<'a, str>>,
    error: Option<Cow<'a, str>>,
}

impl<'a> From<&Event<'a>> for WireEvent<'a> {
    fn from(e: &Event<'a>) -> Self {
        WireEvent {
            time: e.time,
            kind: e.kind.into(),
            unit: e.unit.map(Cow::from),
            task: e.task,
            pr: e.pr,
            payload: e.payload.map(Cow::from),
            error: e.error.map(Cow::from),
        }
    }
}

impl WireEvent<'_> {
    /// The model view.
    pub fn view(&self) -> Event<'_> {
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

/// [`RunResult`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRunResult<'a> {
    project: Cow<'a, str>,
    run_id: Cow<'a, str>,
    ended_at: Timestamp,
    status: RunStatus,
    completed_units: Option<u32>,
    failed_units: Option<u32>,
    blocked_units: Option<u32>,
    error: Option<Cow<'a, str>>,
}

impl<'a> From<&RunResult<'a>> for WireRunResult<'a> {
    fn from(r: &RunResult<'a>) -> Self {
        WireRunResult {
            project: r.project.into(),
            run_id: r.run_id.into(),
            ended_at: r.ended_at,
            status: r.status,
            completed_units: r.completed_units,
            failed_units: r.failed_units,
            blocked_units: r.blocked_units,
            error: r.error.map(Cow::from),
        }
    }
}

impl WireRunResult<'_> {
    /// The model view.
    pub fn view(&self) -> RunResult<'_> {
        RunResult {
            project: &self.project,
            run_id: &self.run_id,
            ended_at: self.ended_at,
            status: self.status,
            completed_units: self.completed_units,
            failed_units: self.failed_units,
            blocked_units: self.blocked_units,
            error: self.error.as_deref(),
        }
    }
}

/// [`RunStop`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRunStop<'a> {
    project: Cow<'a, str>,
    run_id: Cow<'a, str>,
    at: Timestamp,
    reason: Option<Cow<'a, str>>,
}

impl<'a> From<&RunStop<'a>> for WireRunStop<'a> {
    fn from(s: &RunStop<'a>) -> Self {
        WireRunStop {
            project: s.project.into(),
            run_id: s.run_id.into(),
            at: s.at,
            reason: s.reason.map(Cow::from),
        }
    }
}

impl WireRunStop<'_> {
    /// The model view.
    pub fn view(&self) -> RunStop<'_> {
        RunStop {
            project: &self.project,
            run_id: &self.run_id,
            at: self.at,
            reason: self.reason.as_deref(),
        }
    }
}

/// [`RunResume`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRunResume<'a> {
    project: Cow<'a, str>,
    run_id: Cow<'a, str>,
    at: Timestamp,
}

impl<'a> From<&RunResume<'a>> for WireRunResume<'a> {
    fn from(r: &RunResume<'a>) -> Self {
        WireRunResume {
            project: r.project.into(),
            run_id: r.run_id.into(),
            at: r.at,
        }
    }
}

impl WireRunResume<'_> {
    /// The model view.
    pub fn view(&self) -> RunResume<'_> {
        RunResume {
            project: &self.project,
            run_id: &self.run_id,
            at: self.at,
        }
    }
}

/// [`RunQuery`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRunQuery<'a> {
    project: Option<Cow<'a, str>>,
    limit: Option<u64>,
}

impl<'a> From<&RunQuery<'a>> for WireRunQuery<'a> {
    fn from(q: &RunQuery<'a>) -> Self {
        WireRunQuery {
            project: q.project.map(Cow::from),
            limit: q.limit,
        }
    }
}

impl WireRunQuery<'_> {
    /// The model view.
    pub fn view(&self) -> RunQuery<'_> {
        RunQuery {
            project: self.project.as_deref(),
            limit: self.limit,
        }
    }
}

/// [`EventQuery`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireEventQuery<'a> {
    run_id: Cow<'a, str>,
    type_prefix: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    after_seq: Option<u64>,
    limit: u32,
}

impl<'a> From<&EventQuery<'a>> for WireEventQuery<'a> {
    fn from(q: &EventQuery<'a>) -> Self {
        WireEventQuery {
            run_id: q.run_id.into(),
            type_prefix: q.type_prefix.map(Cow::from),
            unit: q.unit.map(Cow::from),
            after_seq: q.after_seq,
            limit: q.limit,
        }
    }
}

impl WireEventQuery<'_> {
    /// The model view.
    pub fn view(&self) -> EventQuery<'_> {
        EventQuery {
            run_id: &self.run_id,
            type_prefix: self.type_prefix.as_deref(),
            unit: self.unit.as_deref(),
            after_seq: self.after_seq,
            limit: self.limit,
        }
    }
}

/// What the runner answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The instance was created.
    Ready,
    /// A hook was delivered.
    Done,
    /// A retention decision.
    Decisions {
        /// The decisions.
        decisions: Vec<Decision>,
    },
    /// Storage: runs.
    Runs {
        /// The runs.
        runs: Vec<Run>,
    },
    /// Storage or status: one run's details.
    Details {
        /// The details (boxed: the other replies are small).
        details: Box<RunDetails>,
    },
    /// Storage: usage.
    Usage {
        /// Per project.
        projects: Vec<ProjectUsage>,
    },
    /// Storage: a page of events.
    Page {
        /// The page.
        page: EventPage,
    },
    /// Storage: what was deleted.
    Deleted {
        /// The report.
        report: DeleteReport,
    },
    /// Storage: what expired.
    Expired {
        /// The report.
        report: ExpireReport,
    },
    /// Status: one verdict.
    Verdict {
        /// The verdict.
        verdict: StatusVerdict,
    },
    /// Status: one result per run asked about, in order.
    Verdicts {
        /// Each run's verdict, or its call's error.
        verdicts: Vec<Result<StatusVerdict, (u32, String)>>,
    },
    /// Reporter: rendered text.
    Text {
        /// The text.
        text: String,
    },
    /// The call (or the creation) failed without killing the runner.
    Error {
        /// The error's kind, as its ABI code.
        code: u32,
        /// The message, one line.
        message: String,
    },
}

impl Reply {
    /// The reply for a failed call.
    pub fn error(kind: ErrorKind, message: String) -> Self {
        Reply::Error {
            code: kind.code().0,
            message,
        }
    }
}

/// The length prefix counts the request id too.
const ID_LEN: u32 = 8;

/// Writes one frame: the request id it is about, then `value` as JSON.
pub fn write_frame<T: Serialize>(out: &mut impl Write, id: u64, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_frame_bytes(out, id, &bytes)
}

/// Writes one frame of bytes already encoded.
pub fn write_frame_bytes(out: &mut impl Write, id: u64, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .and_then(|n| n.checked_add(ID_LEN))
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("frame too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&id.to_le_bytes())?;
    out.write_all(bytes)?;
    out.flush()
}

/// Reads one frame: its request id and its bytes; `Ok(None)` at a clean
/// end of input.
pub fn read_frame(input: &mut impl Read) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if !(ID_LEN..=MAX_FRAME).contains(&len) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (not within {ID_LEN} to {MAX_FRAME})"),
        ));
    }
    let mut id = [0u8; 8];
    input.read_exact(&mut id)?;
    let mut bytes = vec![0u8; (len - ID_LEN) as usize];
    input.read_exact(&mut bytes)?;
    Ok(Some((u64::from_le_bytes(id), bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("test TOML")
    }

    #[test]
    fn the_isolation_key_is_taken_out_of_the_plugin_settings() {
        let (isolation, rest) = split(&table("isolation = \"process\"\nweeks = 1")).expect("ok");
        assert_eq!(isolation, Isolation::Process(Limits::default()));
        assert_eq!(rest, table("weeks = 1"));
        let (isolation, rest) = split(&table("weeks = 1")).expect("ok");
        assert_eq!(isolation, Isolation::InProcess);
        assert_eq!(rest, table("weeks = 1"));
    }

    #[test]
    fn limits_are_read_from_the_table_form() {
        let (isolation, _) = split(&table(
            "isolation = { mode = \"process\", timeout = \"5s\", memory = \"256MiB\" }",
        ))
        .expect("ok");
        assert_eq!(
            isolation,
            Isolation::Process(Limits {
                timeout: Duration::from_secs(5),
                memory: 256 << 20
            })
        );
    }

    #[test]
    fn bad_isolation_values_are_one_line_errors_naming_the_key() {
        for (text, needle) in [
            ("isolation = \"thread\"", "`isolation` is `thread`"),
            ("isolation = 1", "`isolation` must be"),
            ("isolation = { timeout = \"soon\" }", "`isolation.timeout`"),
            ("isolation = { timeout = \"0s\" }", "more than 0s"),
            ("isolation = { memory = \"1MiB\" }", "at least 64MiB"),
            ("isolation = { memory = \"lots\" }", "`isolation.memory`"),
            (
                "isolation = { cpus = \"2\" }",
                "unknown key `isolation.cpus`",
            ),
        ] {
            let e = split(&table(text)).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn every_kind_of_plugin_accepts_process_isolation_and_in_process_is_removed_too() {
        let settings = table("isolation = \"process\"\nx = 1");
        for kind in [
            PluginKind::Storage,
            PluginKind::Status,
            PluginKind::Retention,
            PluginKind::Reporter,
        ] {
            let (isolation, rest) = for_kind(kind, &settings).expect("accepted");
            assert_eq!(isolation, Isolation::Process(Limits::default()), "{kind}");
            assert_eq!(rest, table("x = 1"));
        }
        let explicit = table("isolation = \"in-process\"");
        for kind in [PluginKind::Storage, PluginKind::Reporter] {
            let (isolation, rest) = for_kind(kind, &explicit).expect("ok");
            assert_eq!(isolation, Isolation::InProcess);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn a_frame_carries_its_request_id_and_an_oversized_or_undersized_length_is_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 42, &Reply::Ready).expect("write");
        write_frame(&mut buf, 43, &Reply::Done).expect("write");
        let mut input = buf.as_slice();
        let (id, bytes) = read_frame(&mut input).expect("read").expect("a frame");
        assert_eq!(id, 42);
        assert!(matches!(
            serde_json::from_slice::<Reply>(&bytes).expect("json"),
            Reply::Ready
        ));
        let (id, _) = read_frame(&mut input).expect("read").expect("a frame");
        assert_eq!(id, 43);
        assert!(read_frame(&mut input).expect("eof").is_none());
        let huge = u32::MAX.to_le_bytes();
        assert!(read_frame(&mut &huge[..]).is_err());
        // Too short to hold an id.
        let short = [4u8, 0, 0, 0, 1, 2, 3, 4];
        assert!(read_frame(&mut &short[..]).is_err());
    }

    #[test]
    fn requests_borrowed_on_the_host_are_read_owned_by_the_runner() {
        let events = [Event {
            time: Timestamp::from_secs(5),
            kind: "unit.started",
            unit: Some("u1"),
            task: Some(3),
            pr: None,
            payload: Some("{\"a\":1}"),
            error: None,
        }];
        let ctx = HookContext {
            project: "web",
            run_id: "r1",
        };
        let request = Request::Events {
            ctx: (&ctx).into(),
            events: events.iter().map(WireEvent::from).collect(),
        };
        let bytes = serde_json::to_vec(&request).expect("encode");
        match serde_json::from_slice::<Request<'static>>(&bytes).expect("decode") {
            Request::Events { ctx: c, events: e } => {
                assert_eq!(c.view(), ctx);
                let views: Vec<Event<'_>> = e.iter().map(WireEvent::view).collect();
                assert_eq!(views, events);
            }
            other => panic!("{other:?}"),
        }
    }
}
