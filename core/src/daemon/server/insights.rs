//! What the history tells, over the API: `GET /api/history/stats`,
//! `/api/history/tasks/{name}`, `/api/history/compare`,
//! `/api/history/flaky` — the documents of `otto-hooks stats | history |
//! compare | flaky --json` over the daemon's history (history.db, or the
//! PostgreSQL team history it serves). They need no
//! token; an unknown parameter is refused with 400.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use otto_hooks_sqlite::HistoryStore;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// Runs `f` over the daemon's history on the blocking pool (history.db
/// through the insights cache, when the daemon has one).
async fn over_history<T, F>(state: &Shared, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Source) -> Result<T, InsightError> + Send + 'static,
{
    let cache = state.insights_cache.clone();
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
            db.read_with(|conn| {
                let source = HistorySource::new(conn, path);
                let source = match cache {
                    Some(dir) => source.with_cache(dir),
                    None => source,
                };
                Ok(f(&source))
            })?
            .map_err(api_error)
        })
        .await
}

/// Keeps the insights cache warm: fills it for the whole history once
/// the server starts, then, every `every`, again if anything changed
/// since (a commit or a scheduled pass bumps `changes`), so that users'
/// `stats` and `flaky` read day blocks rather than every execution. Each
/// warming runs on the blocking pool (requests are not held: they read on
/// connections of their own, and the cache checks each day's block
/// against the day's runs rows on every read, so a request during a
/// warming answers the same as one without the cache; two writers of the
/// cache — this one, a request, the CLI — take turns on its SQLite lock,
/// each block written whole in one transaction). `None` (nothing spawned)
/// without a cache directory or on a store other than history.db (a
/// PostgreSQL history is read without the cache).
pub(super) fn spawn_warmer(
    state: Shared,
    every: Duration,
    changes: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let dir = state.insights_cache.clone()?;
    state.db.as_sqlite()?;
    let db = Arc::clone(&state.db);
    drop(state);
    Some(tokio::spawn(async move {
        let mut warmed: Option<u64> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = changes.load(Ordering::Relaxed);
            if warmed != Some(now) {
                warmed = Some(now);
                let (db, dir) = (Arc::clone(&db), dir.clone());
                let started = Instant::now();
                let done = tokio::task::spawn_blocking(move || warm(&*db, dir)).await;
                let elapsed_ms = started.elapsed().as_millis() as u64;
                match done {
                    Ok(Ok(executions)) => {
                        tracing::debug!(elapsed_ms, executions, "insights cache warmed");
                    }
                    Ok(Err(e)) => tracing::debug!(elapsed_ms, "insights cache not warmed: {e}"),
                    Err(e) => tracing::warn!(error = %e, "warming the insights cache failed"),
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(every.max(MIN_WARM_EVERY)) => {}
            }
        }
    }))
}

/// The shortest warming interval accepted.
const MIN_WARM_EVERY: Duration = Duration::from_millis(10);

/// One warming of the cache in `dir` over history.db.
fn warm(db: &dyn HistoryStore, dir: PathBuf) -> Result<usize, String> {
    let Some(db) = db.as_sqlite() else {
        return Err("not history.db".to_owned());
    };
    let path = db.path().display().to_string();
    db.read_with(|conn| Ok(HistorySource::new(conn, path).with_cache(dir).warm()))
        .map_err(|e| e.to_string())?
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
