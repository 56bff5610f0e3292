//! What the history tells, over the API: `GET /api/history/stats`,
//! `/api/history/tasks/{name}`, `/api/history/compare`,
//! `/api/history/flaky` — the documents of `otto-hooks stats | history |
//! compare | flaky --json` over the daemon's history (history.db, or the
//! PostgreSQL team history it serves). They need no
//! token; an unknown parameter is refused with 400.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::Shared;
use super::body;
use super::errors::ApiError;
use crate::insights::compare::CompareReport;
use crate::insights::flaky::FlakyReport;
use crate::insights::recorded::HistorySource;
use crate::insights::stats::{StatsQuery, StatsReport};
use crate::insights::team::TeamSource;
use crate::insights::{HistoryQuery, HistoryReport, InsightError, Source, Window};

/// Executions per `tasks/{name}` page by default, and at most.
const HISTORY_LIMIT: (u32, u32) = (50, 1000);

fn api_error(e: InsightError) -> ApiError {
    if e.not_found {
        ApiError::not_found(e.message)
    } else if e.bad_input {
        ApiError::invalid_param(e.message)
    } else {
        ApiError::internal(e.message)
    }
}

/// Runs `f` over the daemon's history on the blocking pool.
async fn over_history<T, F>(state: &Shared, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Source) -> Result<T, InsightError> + Send + 'static,
{
    state
        .blocking(move |db| {
            if let Some(team) = db
                .as_any()
                .and_then(|a| a.downcast_ref::<otto_hooks_postgres::PgHistory>())
            {
                return f(&TeamSource::new(team)).map_err(api_error);
            }
            let Some(db) = db.as_sqlite() else {
                return Err(ApiError::invalid_param(format!(
                    "stats, task histories, compare and flaky read history.db or a PostgreSQL history; this daemon serves {} (not available there)",
                    db.location()
                )));
            };
            let path = db.path().display().to_string();
            db.read_with(|conn| Ok(f(&HistorySource::new(conn, path))))?
                .map_err(api_error)
        })
        .await
}

fn window(since: Option<&str>) -> Result<Window, ApiError> {
    let since = since.filter(|s| !s.is_empty()).unwrap_or("30d");
    Window::parse(since, otto_hooks_plugin_api::Timestamp::now().secs)
        .map_err(|e| ApiError::invalid_param(e.message.replace("--since", "`since`")))
}

fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(v) => Err(ApiError::invalid_param(format!(
            "`{name}` must be true or false, not {v:?}"
        ))),
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// `GET /api/history/stats` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsParams {
    task: Option<String>,
    project: Option<String>,
    since: Option<String>,
    trend: Option<String>,
}

/// `GET /api/history/stats`: `stats --json` (with `trend=true`, the series).
pub(crate) async fn stats(
    State(state): State<Shared>,
    query: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Json<StatsReport>, ApiError> {
    let q = body::query(query)?;
    let query = StatsQuery {
        task: nonempty(q.task),
        project: nonempty(q.project),
        window: window(q.since.as_deref())?,
        trend: flag("trend", q.trend.as_deref())?,
    };
    let report = over_history(&state, move |s| crate::insights::stats::stats(s, &query)).await?;
    Ok(Json(report))
}

/// `GET /api/history/tasks/{name}` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskParams {
    project: Option<String>,
    status: Option<String>,
    limit: Option<String>,
}

/// `GET /api/history/tasks/{name}`: `history NAME --json`.
pub(crate) async fn task_history(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<TaskParams>, QueryRejection>,
) -> Result<Json<HistoryReport>, ApiError> {
    let task = body::path_id(path)?;
    let q = body::query(query)?;
    let status = match nonempty(q.status) {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| {
            ApiError::invalid_param(format!(
                "`status` must be one of success, failed, skipped, running, pending, interrupted, not {s:?}"
            ))
        })?),
    };
    let query = HistoryQuery {
        task,
        project: nonempty(q.project),
        status,
        limit: body::limit(q.limit.as_deref(), HISTORY_LIMIT.0, HISTORY_LIMIT.1)? as usize,
    };
    let report = over_history(&state, move |s| crate::insights::history(s, &query)).await?;
    Ok(Json(report))
}

/// `GET /api/history/compare` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompareParams {
    a: Option<String>,
    b: Option<String>,
}

/// `GET /api/history/compare?a=&b=`: `compare A B --json`.
pub(crate) async fn compare(
    State(state): State<Shared>,
    query: Result<Query<CompareParams>, QueryRejection>,
) -> Result<Json<CompareReport>, ApiError> {
    let q = body::query(query)?;
    let a = nonempty(q.a).ok_or_else(|| ApiError::missing("a"))?;
    let b = nonempty(q.b).ok_or_else(|| ApiError::missing("b"))?;
    let report = over_history(&state, move |s| {
        crate::insights::compare::compare(s, &a, &b, false)
    })
    .await?;
    Ok(Json(report))
}

/// `GET /api/history/flaky` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlakyParams {
    project: Option<String>,
    since: Option<String>,
}

/// `GET /api/history/flaky`: `flaky --json`.
pub(crate) async fn flaky(
    State(state): State<Shared>,
    query: Result<Query<FlakyParams>, QueryRejection>,
) -> Result<Json<FlakyReport>, ApiError> {
    let q = body::query(query)?;
    let project = nonempty(q.project);
    let window = window(q.since.as_deref())?;
    let report = over_history(&state, move |s| {
        crate::insights::flaky::flaky(s, project.as_deref(), &window)
    })
    .await?;
    Ok(Json(report))
}
