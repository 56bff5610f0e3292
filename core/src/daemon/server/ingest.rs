//! The writes: `POST /api/runs`, `/api/runs/{id}/events`, `…/complete`,
//! `…/stop`, `…/resume`.
//!
//! Each request is parsed and validated whole, its texts redacted, and then
//! stored by one engine command (one transaction): a request either is
//! stored entirely or not at all. Each answer goes out after COMMIT.
//!
//! Both of choo's client designs are served: DAEMON.md's (the daemon mints
//! the run id, events come in batches) and HISTORY-API.md's (the client
//! picks the id in `id`, posts one event with its `seq`, and decodes the
//! created `Run` / `StoredEvent`). Answers are supersets of both shapes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use otto_hooks_plugin_api::{RunStatus, Timestamp};
use otto_hooks_redact::Redactor;
use otto_hooks_sqlite::{
    Completion, DbError, EventFilter, NewEvent, NewRun, SeqRange, mint_run_id,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Shared;
use super::body;
use super::errors::ApiError;
use crate::hooks::{parse_status, runs::validate_run_id, wire};

/// Attempts at a free minted run id before giving up.
const MINT_ATTEMPTS: usize = 16;

/// `POST /api/runs` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StartBody {
    repo_path: Option<String>,
    run_id: Option<String>,
    /// HISTORY-API's name for `run_id`; `""` (Go's zero value) is absent.
    id: Option<String>,
    /// choo's `RunConfig.graph` (`{nodes, edges, levels}`), stored as the
    /// run's graph.
    graph: Option<Value>,
    project: Option<String>,
    parallelism: Option<u32>,
    total_units: Option<u32>,
    tasks_dir: Option<String>,
    dry_run: Option<bool>,
    started_at: Option<String>,
}

/// A stored run as JSON (the `Run` of choo's design) with `run_id`, the
/// field DAEMON.md's client reads, beside `id`.
fn run_with_id(run: &otto_hooks_sqlite::RunRow) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(run)
        .map_err(|e| ApiError::internal(format!("cannot encode run {:?}: {e}", run.id)))?;
    if let Value::Object(map) = &mut value {
        map.insert("run_id".into(), Value::String(run.id.clone()));
    }
    Ok(value)
}

/// The run id a start asks for: `run_id` or `id` (`""` is absent); both
/// given and different is refused.
fn requested_id(b: &StartBody) -> Result<Option<String>, ApiError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match (given(&b.run_id), given(&b.id)) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid_param(format!(
            "`run_id` {a:?} and `id` {b:?} differ; send one of them"
        ))),
        (Some(a), _) => Ok(Some(a)),
        (None, id) => Ok(id),
    }
}

/// The graph given at run creation as an `orch.started`-shaped payload,
/// redacted like one; `null` is no graph.
fn start_graph(graph: Option<Value>, redactor: &Redactor) -> Result<Option<String>, ApiError> {
    let graph = match graph {
        None | Some(Value::Null) => return Ok(None),
        Some(g @ Value::Object(_)) => g,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "`graph` must be an object {nodes, edges, levels}",
            ));
        }
    };
    let text = serde_json::json!({ "graph": graph }).to_string();
    match redactor.redact_payload(&text) {
        Ok(r) if r.is_unchanged() => Ok(Some(text)),
        Ok(r) => Ok(Some(r.into_string())),
        Err(e) => Err(ApiError::invalid_json(format!("graph: {e}"))),
    }
}

/// Parses an optional RFC 3339 time field; `now` when absent.
fn time_field(name: &str, value: Option<&str>) -> Result<Timestamp, ApiError> {
    match value {
        None => Ok(Timestamp::now()),
        Some(text) => {
            wire::parse_rfc3339(text).map_err(|e| ApiError::invalid_param(format!("`{name}`: {e}")))
        }
    }
}

/// `POST /api/runs`: records a new run (status `running`), with its graph
/// when one is given; mints `run_YYYYMMDD_HHMMSS_xxxx` when no `run_id` (or
/// `id`) is given. Answers 201 with the created run and its `run_id`.
pub(crate) async fn start_run(
    State(state): State<Shared>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = body::bytes(bytes, state.body_limit())?;
    let b: StartBody = body::json(&bytes)?;
    let run_id = requested_id(&b)?;
    let repo_path = b
        .repo_path
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::missing("repo_path"))?;
    if !std::path::Path::new(&repo_path).is_absolute() {
        return Err(ApiError::invalid_param(format!(
            "`repo_path` must be an absolute path, not {repo_path:?}"
        )));
    }
    let parallelism = b
        .parallelism
        .ok_or_else(|| ApiError::missing("parallelism"))?;
    let total_units = b
        .total_units
        .ok_or_else(|| ApiError::missing("total_units"))?;
    if let Some(id) = &run_id {
        validate_run_id(id).map_err(ApiError::invalid_param)?;
    }
    let started_at = time_field("started_at", b.started_at.as_deref())?;
    // Every text of the run is redacted before it is stored; a run id is the
    // run's identity and cannot be, so one that holds a secret is refused.
    let redactor = &state.redactor;
    let graph = start_graph(b.graph, redactor)?;
    if run_id
        .as_deref()
        .is_some_and(|id| redactor.needs_redaction(id))
    {
        return Err(ApiError::invalid_param(
            "`run_id` holds a secret (a token shape): choose another",
        ));
    }
    let redacted = |s: &str| redactor.redact_error(s).into_owned();
    let repo_path = redacted(&repo_path);
    let run = NewRun {
        id: run_id.clone().unwrap_or_default(),
        project: b
            .project
            .filter(|p| !p.is_empty())
            .map_or_else(|| repo_path.clone(), |p| redacted(&p)),
        repo_path,
        started_at,
        parallelism,
        total_units,
        tasks_dir: b.tasks_dir.filter(|t| !t.is_empty()).map(|t| redacted(&t)),
        dry_run: b.dry_run.unwrap_or(false),
    };
    let given = run_id.is_some();
    let created = state
        .blocking(move |db| {
            let mut attempt = 0;
            let id = loop {
                let mut run = run.clone();
                if !given {
                    run.id = mint_run_id(run.started_at);
                }
                let id = run.id.clone();
                match db.start_run_with_graph(run, graph.clone()) {
                    Ok(()) => break id,
                    Err(DbError::AlreadyExists(_)) if !given && attempt + 1 < MINT_ATTEMPTS => {
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            db.get_run(&id)?
                .ok_or_else(|| ApiError::internal(format!("run {id:?} vanished once created")))
        })
        .await?;
    super::sse::announce_run(&state, created.id.clone()).await;
    Ok((StatusCode::CREATED, Json(run_with_id(&created)?)))
}

/// `POST /api/runs/{id}/events` body: `{"events": [ … ]}` (DAEMON.md), or
/// one event object with its `seq` (HISTORY-API.md's `CreateEventRequest`).
#[derive(Deserialize)]
struct EventBatch<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
    /// Set when the body is a single event.
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    /// The client's sequence number of a single event.
    #[serde(borrow, default)]
    seq: Option<&'a RawValue>,
}

/// What an events body holds.
enum Posted {
    /// `{"events": [...]}`.
    Batch(Vec<NewEvent>),
    /// One event object (its `seq` checked, then left to the daemon).
    Single(NewEvent),
}

/// `POST /api/runs/{id}/events` answer: the sequence numbers given.
#[derive(Debug, Serialize)]
pub(crate) struct Appended {
    first_seq: u64,
    last_seq: u64,
    /// How many were stored (DAEMON.md's `{"accepted": N}`).
    accepted: u64,
}

impl From<SeqRange> for Appended {
    fn from(r: SeqRange) -> Self {
        Appended {
            first_seq: r.first,
            last_seq: r.last,
            accepted: (r.last + 1).saturating_sub(r.first),
        }
    }
}

/// Parses and redacts a batch or a single event.
///
/// A single event's `seq` must be an integer when present, and is not used
/// to number it: choo's HISTORY-API says the server "does not enforce
/// uniqueness but stores events in order of receipt", and the daemon's
/// `seq` is exactly the order of receipt (contiguous per run). So a repeated
/// or skipped client `seq` (a resumed choo restarts its counter) is stored
/// like any other event, never refused and never reordered.
fn parse_posted(bytes: &[u8], redactor: &Redactor, now: Timestamp) -> Result<Posted, ApiError> {
    let body: EventBatch<'_> = body::json(bytes)?;
    if body.events.is_some() || body.kind.is_none() {
        return parse_batch(body, redactor, now).map(Posted::Batch);
    }
    if let Some(seq) = body.seq {
        if seq.get() != "null" && serde_json::from_str::<i64>(seq.get()).is_err() {
            return Err(ApiError::invalid_param("`seq` must be an integer"));
        }
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::invalid_json(format!("the request body is not UTF-8: {e}")))?;
    let event = wire::parse_event(text, now).map_err(ApiError::invalid_param)?;
    redact(event, redactor).map(Posted::Single)
}

/// Parses and redacts a whole batch; the first bad event refuses it all.
fn parse_batch(
    batch: EventBatch<'_>,
    redactor: &Redactor,
    now: Timestamp,
) -> Result<Vec<NewEvent>, ApiError> {
    let raws = batch.events.ok_or_else(|| ApiError::missing("events"))?;
    raws.iter()
        .enumerate()
        .map(|(i, raw)| {
            let event = wire::parse_event(raw.get(), now)
                .map_err(|e| ApiError::invalid_param(format!("events[{i}]: {e}")))?;
            redact(event, redactor).map_err(|e| e.context(&format!("events[{i}]")))
        })
        .collect()
}

/// The engine's event from a wire event, its payload and error redacted.
fn redact(event: wire::WireEvent, redactor: &Redactor) -> Result<NewEvent, ApiError> {
    let payload = match event.payload {
        None => None,
        Some(text) => {
            let changed = match redactor.redact_payload(&text) {
                Ok(r) if r.is_unchanged() => None,
                Ok(r) => Some(r.into_string()),
                Err(e) => return Err(ApiError::invalid_json(format!("payload: {e}"))),
            };
            Some(changed.unwrap_or(text))
        }
    };
    // The type and the unit too: an orchestrator may put anything there.
    let owned = |text: String| match redactor.redact_error(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(new) => new,
    };
    Ok(NewEvent {
        time: event.time,
        kind: owned(event.kind),
        unit: event.unit.map(owned),
        task: event.task,
        pr: event.pr,
        payload,
        error: event.error.map(|e| redactor.redact_error(&e).into_owned()),
    })
}

/// `POST /api/runs/{id}/events`: appends a batch, or one event, to a run,
/// numbering the events after its last one. Answers after COMMIT: a batch
/// with 200 `{first_seq, last_seq, accepted}`; a single event with 201 and
/// the stored event (choo's `StoredEvent`) plus `first_seq` and `last_seq`.
pub(crate) async fn append_events(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let run_id = body::path_id(path)?;
    let bytes = body::bytes(bytes, state.body_limit())?;
    let redactor = state.redactor.clone();
    let (range, stored) = state
        .blocking(
            move |db| match parse_posted(&bytes, &redactor, Timestamp::now())? {
                Posted::Batch(events) => Ok((db.append_events(&run_id, events)?, None)),
                Posted::Single(event) => {
                    let range = db.append_events(&run_id, vec![event])?;
                    let page = db.events(&EventFilter {
                        run_id: run_id.clone(),
                        after_seq: Some(range.first - 1),
                        limit: 1,
                        ..EventFilter::default()
                    })?;
                    let row = page.events.into_iter().next().ok_or_else(|| {
                        ApiError::internal(format!("event {} of {run_id:?} vanished", range.first))
                    })?;
                    Ok((range, Some(row)))
                }
            },
        )
        .await?;
    if !range.is_empty() {
        state.meter.record(range.last + 1 - range.first);
    }
    let appended = Appended::from(range);
    Ok(match stored {
        None => Json(appended).into_response(),
        Some(row) => {
            let mut value = serde_json::to_value(&row)
                .map_err(|e| ApiError::internal(format!("cannot encode the event: {e}")))?;
            if let Value::Object(map) = &mut value {
                map.insert("first_seq".into(), appended.first_seq.into());
                map.insert("last_seq".into(), appended.last_seq.into());
            }
            (StatusCode::CREATED, Json(value)).into_response()
        }
    })
}

/// `POST /api/runs/{id}/complete` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompleteBody {
    status: Option<String>,
    completed_units: Option<u32>,
    failed_units: Option<u32>,
    blocked_units: Option<u32>,
    error: Option<String>,
    completed_at: Option<String>,
}

/// The answer of the run-level writes: the run and the seq of the event
/// that records the change.
#[derive(Debug, Serialize)]
pub(crate) struct RunChange {
    run_id: String,
    status: &'static str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    resumed_from_seq: Option<u64>,
}

/// choo's status for ours.
fn choo_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "completed",
        RunStatus::Stopped => "stopped",
        _ => "failed",
    }
}

/// `POST /api/runs/{id}/complete`: records how the run ended and appends
/// `run.completed`, `run.failed` or `run.stopped`, in one transaction.
/// Answers the updated run (choo's `Run`) with `run_id`, `seq` (the marker
/// event's) and `ok: true` (DAEMON.md's answer).
pub(crate) async fn complete_run(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let run_id = body::path_id(path)?;
    let bytes = body::bytes(bytes, state.body_limit())?;
    let b: CompleteBody = body::json(&bytes)?;
    let status = b.status.ok_or_else(|| ApiError::missing("status"))?;
    let status = choo_status(parse_status(&status).map_err(ApiError::invalid_param)?);
    let completion = Completion {
        run_id: run_id.clone(),
        ended_at: time_field("completed_at", b.completed_at.as_deref())?,
        status: status.to_owned(),
        completed_units: b.completed_units,
        failed_units: b.failed_units,
        blocked_units: b.blocked_units,
        error: b
            .error
            .map(|e| state.redactor.redact_error(&e).into_owned()),
    };
    let (seq, run) = state
        .blocking(move |db| {
            let seq = db.complete_run_recorded(completion)?;
            let run = db
                .get_run(&run_id)?
                .ok_or_else(|| ApiError::not_found(format!("no run {run_id:?}")))?;
            Ok((seq, run))
        })
        .await?;
    let mut value = run_with_id(&run)?;
    if let Value::Object(map) = &mut value {
        // The status this request recorded (the run's own, unless a write
        // raced in between).
        map.insert("status".into(), status.into());
        map.insert("seq".into(), seq.into());
        map.insert("ok".into(), true.into());
    }
    Ok(Json(value))
}

/// `POST /api/runs/{id}/stop` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StopBody {
    reason: Option<String>,
    at: Option<String>,
}

/// `POST /api/runs/{id}/stop`: stops a running run (appends `run.stopped`).
pub(crate) async fn stop_run(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RunChange>, ApiError> {
    let run_id = body::path_id(path)?;
    let bytes = body::bytes(bytes, state.body_limit())?;
    let b: StopBody = body::json_or_default(&bytes)?;
    let at = time_field("at", b.at.as_deref())?;
    let reason = b
        .reason
        .map(|r| state.redactor.redact_error(&r).into_owned());
    let id = run_id.clone();
    let seq = state
        .blocking(move |db| Ok(db.stop_run(&id, at, reason)?))
        .await?;
    Ok(Json(RunChange {
        run_id,
        status: "stopped",
        seq,
        resumed_from_seq: None,
    }))
}

/// `POST /api/runs/{id}/resume` body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResumeBody {
    at: Option<String>,
}

/// `POST /api/runs/{id}/resume`: resumes a stopped or failed run under the
/// same id (appends `run.resumed {resumed_from_seq}`).
pub(crate) async fn resume_run(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RunChange>, ApiError> {
    let run_id = body::path_id(path)?;
    let bytes = body::bytes(bytes, state.body_limit())?;
    let b: ResumeBody = body::json_or_default(&bytes)?;
    let at = time_field("at", b.at.as_deref())?;
    let id = run_id.clone();
    let from = state
        .blocking(move |db| Ok(db.resume_run(&id, at)?))
        .await?;
    Ok(Json(RunChange {
        run_id,
        status: "running",
        seq: from + 1,
        resumed_from_seq: Some(from),
    }))
}

/// The request-body parsing of every write endpoint, without the database,
/// for the fuzz targets in `fuzz/`. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// A write endpoint whose body is parsed.
    #[derive(Clone, Copy, Debug)]
    pub enum Endpoint {
        /// `POST /api/runs`.
        Start,
        /// `POST /api/runs/{id}/events`.
        Events,
        /// `POST /api/runs/{id}/complete`.
        Complete,
        /// `POST /api/runs/{id}/stop`.
        Stop,
        /// `POST /api/runs/{id}/resume`.
        Resume,
    }

    /// What a body parses to: the run a start records, the events an
    /// append stores, or nothing more for the others.
    #[derive(Debug)]
    pub enum Parsed {
        /// A start's run and its graph payload.
        Start(NewRun, Option<String>),
        /// An append's events.
        Events(Vec<NewEvent>),
        /// A complete, stop or resume that would be recorded.
        Other,
    }

    /// Parses `bytes` as the handler of `endpoint` does before it touches
    /// the database; the error is the answer's `Debug` form.
    pub fn parse(endpoint: Endpoint, bytes: &[u8], now: Timestamp) -> Result<Parsed, String> {
        let redactor = Redactor::default();
        let fail = |e: ApiError| format!("{e:?}");
        match endpoint {
            Endpoint::Start => {
                let b: StartBody = body::json(bytes).map_err(fail)?;
                let run_id = requested_id(&b).map_err(fail)?;
                if let Some(id) = &run_id {
                    validate_run_id(id).map_err(|e| fail(ApiError::invalid_param(e)))?;
                }
                let started_at = time_field("started_at", b.started_at.as_deref()).map_err(fail)?;
                let graph = start_graph(b.graph, &redactor).map_err(fail)?;
                let run = NewRun {
                    id: run_id.unwrap_or_default(),
                    project: b.project.unwrap_or_default(),
                    repo_path: b.repo_path.unwrap_or_default(),
                    started_at,
                    parallelism: b.parallelism.unwrap_or(1),
                    total_units: b.total_units.unwrap_or(0),
                    tasks_dir: b.tasks_dir,
                    dry_run: b.dry_run.unwrap_or(false),
                };
                Ok(Parsed::Start(run, graph))
            }
            Endpoint::Events => match parse_posted(bytes, &redactor, now).map_err(fail)? {
                Posted::Batch(events) => Ok(Parsed::Events(events)),
                Posted::Single(event) => Ok(Parsed::Events(vec![event])),
            },
            Endpoint::Complete => {
                let b: CompleteBody = body::json(bytes).map_err(fail)?;
                let status = b.status.ok_or_else(|| fail(ApiError::missing("status")))?;
                parse_status(&status).map_err(|e| fail(ApiError::invalid_param(e)))?;
                time_field("completed_at", b.completed_at.as_deref()).map_err(fail)?;
                Ok(Parsed::Other)
            }
            Endpoint::Stop => {
                let b: StopBody = body::json_or_default(bytes).map_err(fail)?;
                time_field("at", b.at.as_deref()).map_err(fail)?;
                Ok(Parsed::Other)
            }
            Endpoint::Resume => {
                let b: ResumeBody = body::json_or_default(bytes).map_err(fail)?;
                time_field("at", b.at.as_deref()).map_err(fail)?;
                Ok(Parsed::Other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp {
        secs: 1_800_000_000,
        nanos: 0,
    };

    fn redactor() -> Redactor {
        Redactor::new(Default::default())
    }

    fn batch(bytes: &[u8], r: &Redactor, now: Timestamp) -> Result<Vec<NewEvent>, ApiError> {
        match parse_posted(bytes, r, now)? {
            Posted::Batch(events) => Ok(events),
            Posted::Single(_) => panic!("parsed as a single event"),
        }
    }

    #[test]
    fn a_single_event_with_its_seq_is_one_event() {
        let posted = parse_posted(
            br#"{"seq":5,"time":"2026-01-22T10:15:30-05:00","type":"unit.started","unit":"auth-service","payload":{"worktree":"/w","auth":"hunter2"}}"#,
            &redactor(),
            NOW,
        )
        .unwrap();
        let Posted::Single(ev) = posted else {
            panic!("a batch")
        };
        assert_eq!(ev.kind, "unit.started");
        assert_eq!(ev.unit.as_deref(), Some("auth-service"));
        assert_eq!(
            ev.payload.as_deref(),
            Some(r#"{"worktree":"/w","auth":"[REDACTED]"}"#)
        );
        for bad in [r#"{"seq":"five","type":"x"}"#, r#"{"seq":1.5,"type":"x"}"#] {
            assert_eq!(
                parse_posted(bad.as_bytes(), &redactor(), NOW)
                    .err()
                    .map(|e| e.code()),
                Some("INVALID_PARAM"),
                "{bad}"
            );
        }
        // Go's zero value and null are fine.
        for ok in [r#"{"seq":0,"type":"x"}"#, r#"{"seq":null,"type":"x"}"#] {
            assert!(
                parse_posted(ok.as_bytes(), &redactor(), NOW).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn a_start_takes_its_id_from_run_id_or_id() {
        let body = |json: &str| serde_json::from_str::<StartBody>(json).unwrap();
        assert_eq!(requested_id(&body(r#"{"id":""}"#)).unwrap(), None);
        assert_eq!(
            requested_id(&body(r#"{"id":"run_a"}"#)).unwrap().as_deref(),
            Some("run_a")
        );
        assert_eq!(
            requested_id(&body(r#"{"run_id":"run_a","id":""}"#))
                .unwrap()
                .as_deref(),
            Some("run_a")
        );
        assert_eq!(
            requested_id(&body(r#"{"run_id":"run_a","id":"run_b"}"#))
                .unwrap_err()
                .code(),
            "INVALID_PARAM"
        );
    }

    #[test]
    fn a_start_graph_must_be_an_object_and_is_redacted() {
        let r = redactor();
        assert_eq!(start_graph(None, &r).unwrap(), None);
        assert_eq!(start_graph(Some(Value::Null), &r).unwrap(), None);
        assert_eq!(
            start_graph(Some(serde_json::json!("[redacted]")), &r)
                .unwrap_err()
                .code(),
            "INVALID_PARAM"
        );
        let g = start_graph(
            Some(serde_json::json!({"nodes":[{"id":"a","token":"x"}],"edges":[],"levels":[["a"]]})),
            &r,
        )
        .unwrap()
        .unwrap();
        assert!(g.starts_with(r#"{"graph":{"#), "{g}");
        assert!(g.contains(r#""token":"[REDACTED]""#), "{g}");
    }

    #[test]
    fn a_batch_is_parsed_and_redacted_whole() {
        let events = batch(
            br#"{"events":[{"type":"unit.started","unit":"a"},
                {"type":"x","payload":{"GITHUB_TOKEN":"abc"},"error":"Authorization: Bearer abcdefghijklmnop"}]}"#,
            &redactor(),
            NOW,
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].time, NOW);
        assert_eq!(
            events[1].payload.as_deref(),
            Some(r#"{"GITHUB_TOKEN":"[REDACTED]"}"#)
        );
        assert!(
            !events[1]
                .error
                .as_deref()
                .unwrap()
                .contains("abcdefghijklmnop")
        );
    }

    #[test]
    fn one_bad_event_refuses_the_batch_and_names_its_index() {
        let e = batch(
            br#"{"events":[{"type":"a"},{"type":"b"},{"unit":"no type"}]}"#,
            &redactor(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code(), "INVALID_PARAM");
        assert!(format!("{e:?}").contains("events[2]"), "{e:?}");
        assert_eq!(
            batch(b"{\"events\": [", &redactor(), NOW)
                .unwrap_err()
                .code(),
            "INVALID_JSON"
        );
        assert_eq!(
            batch(b"{}", &redactor(), NOW).unwrap_err().code(),
            "MISSING_PARAM"
        );
        assert_eq!(
            batch(br#"{"events":{"type":"a"}}"#, &redactor(), NOW)
                .unwrap_err()
                .code(),
            "INVALID_PARAM"
        );
    }
}
