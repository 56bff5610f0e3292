//! The writes: `POST /api/runs`, `/api/runs/{id}/events`, `…/complete`,
//! `…/stop`, `…/resume`.
//!
//! Each request is parsed and validated whole, its texts redacted, and then
//! stored by one engine command (one transaction): a request either is
//! stored entirely or not at all. Each answer goes out after COMMIT.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use otto_hooks_plugin_api::{RunStatus, Timestamp};
use otto_hooks_redact::Redactor;
use otto_hooks_sqlite::{Completion, DbError, NewEvent, NewRun, SeqRange, mint_run_id};
use serde::{Deserialize, Serialize};
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
    project: Option<String>,
    parallelism: Option<u32>,
    total_units: Option<u32>,
    tasks_dir: Option<String>,
    dry_run: Option<bool>,
    started_at: Option<String>,
}

/// `POST /api/runs` answer.
#[derive(Debug, Serialize)]
pub(crate) struct Started {
    run_id: String,
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

/// `POST /api/runs`: records a new run (status `running`); mints
/// `run_YYYYMMDD_HHMMSS_xxxx` when no `run_id` is given.
pub(crate) async fn start_run(
    State(state): State<Shared>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let bytes = body::bytes(bytes, state.body_limit())?;
    let b: StartBody = body::json(&bytes)?;
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
    if let Some(id) = &b.run_id {
        validate_run_id(id).map_err(ApiError::invalid_param)?;
    }
    let started_at = time_field("started_at", b.started_at.as_deref())?;
    // Every text of the run is redacted before it is stored; a run id is the
    // run's identity and cannot be, so one that holds a secret is refused.
    let redactor = &state.redactor;
    if b.run_id
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
        id: b.run_id.clone().unwrap_or_default(),
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
    let given = b.run_id.is_some();
    let run_id = state
        .blocking(move |db| {
            let mut attempt = 0;
            loop {
                let mut run = run.clone();
                if !given {
                    run.id = mint_run_id(run.started_at);
                }
                let id = run.id.clone();
                match db.start_run(run) {
                    Ok(()) => return Ok(id),
                    Err(DbError::AlreadyExists(_)) if !given && attempt + 1 < MINT_ATTEMPTS => {
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        })
        .await?;
    super::sse::announce_run(&state, run_id.clone()).await;
    Ok((StatusCode::CREATED, Json(Started { run_id })))
}

/// `POST /api/runs/{id}/events` body: `{"events": [ … ]}`.
#[derive(Deserialize)]
struct EventBatch<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
}

/// `POST /api/runs/{id}/events` answer: the sequence numbers given.
#[derive(Debug, Serialize)]
pub(crate) struct Appended {
    first_seq: u64,
    last_seq: u64,
}

impl From<SeqRange> for Appended {
    fn from(r: SeqRange) -> Self {
        Appended {
            first_seq: r.first,
            last_seq: r.last,
        }
    }
}

/// Parses and redacts a whole batch; the first bad event refuses it all.
fn parse_batch(
    bytes: &[u8],
    redactor: &Redactor,
    now: Timestamp,
) -> Result<Vec<NewEvent>, ApiError> {
    let batch: EventBatch<'_> = body::json(bytes)?;
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

/// `POST /api/runs/{id}/events`: appends a batch to a run, numbering the
/// events after its last one. Answers after COMMIT.
pub(crate) async fn append_events(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Appended>, ApiError> {
    let run_id = body::path_id(path)?;
    let bytes = body::bytes(bytes, state.body_limit())?;
    let redactor = state.redactor.clone();
    let range = state
        .blocking(move |db| {
            let events = parse_batch(&bytes, &redactor, Timestamp::now())?;
            Ok(db.append_events(&run_id, events)?)
        })
        .await?;
    if !range.is_empty() {
        state.meter.record(range.last + 1 - range.first);
    }
    Ok(Json(range.into()))
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
pub(crate) async fn complete_run(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RunChange>, ApiError> {
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
    let seq = state
        .blocking(move |db| Ok(db.complete_run_recorded(completion)?))
        .await?;
    Ok(Json(RunChange {
        run_id,
        status,
        seq,
        resumed_from_seq: None,
    }))
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

    #[test]
    fn a_batch_is_parsed_and_redacted_whole() {
        let events = parse_batch(
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
        let e = parse_batch(
            br#"{"events":[{"type":"a"},{"type":"b"},{"unit":"no type"}]}"#,
            &redactor(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code(), "INVALID_PARAM");
        assert!(format!("{e:?}").contains("events[2]"), "{e:?}");
        assert_eq!(
            parse_batch(b"{\"events\": [", &redactor(), NOW)
                .unwrap_err()
                .code(),
            "INVALID_JSON"
        );
        assert_eq!(
            parse_batch(b"{}", &redactor(), NOW).unwrap_err().code(),
            "MISSING_PARAM"
        );
        assert_eq!(
            parse_batch(br#"{"events":{"type":"a"}}"#, &redactor(), NOW)
                .unwrap_err()
                .code(),
            "INVALID_PARAM"
        );
    }
}
