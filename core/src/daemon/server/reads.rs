//! The history reads: `GET /api/history/runs`, `…/runs/{id}`,
//! `…/runs/{id}/events`, `…/runs/{id}/graph`. They need no token.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use otto_hooks_sqlite::{
    EventFilter, EventRow, EventSearch, Graph, RunCursor, RunFilter, RunRow, SearchQuery,
};
use serde::{Deserialize, Serialize};

use super::Shared;
use super::body;
use super::errors::ApiError;

/// Runs per page by default, and at most.
const RUNS_LIMIT: (u32, u32) = (50, 100);
/// Events per page by default, and at most.
const EVENTS_LIMIT: (u32, u32) = (100, 1000);

/// The run statuses a filter may name.
const STATUSES: [&str; 4] = ["running", "completed", "failed", "stopped"];

/// `GET /api/history/runs` parameters. An unknown one is refused with 400
/// (a silently ignored `offset` on events once made clients page forever).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    repo: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    cursor: Option<String>,
    /// A run id: the runs started before it (the page a cursor ending on
    /// that run would read), e.g. the web UI's "previous run".
    before: Option<String>,
}

/// A page of runs.
#[derive(Debug, Serialize)]
pub(crate) struct RunsPage {
    runs: Vec<RunRow>,
    total: u64,
    has_more: bool,
    next_cursor: Option<String>,
}

/// `GET /api/history/runs`: runs newest first, by repository and status;
/// paged by `cursor` (the previous page's `next_cursor`) or `offset`.
pub(crate) async fn list_runs(
    State(state): State<Shared>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<RunsPage>, ApiError> {
    let q = body::query(query)?;
    let repo = q.repo.filter(|r| !r.is_empty());
    if let Some(r) = &repo {
        if !std::path::Path::new(r).is_absolute() {
            return Err(ApiError::invalid_param(format!(
                "`repo` must be an absolute path, not {r:?}"
            )));
        }
    }
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::invalid_param(format!(
                "`status` must be one of {}, not {s:?}",
                STATUSES.join(", ")
            )));
        }
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(RunCursor::decode(c).map_err(ApiError::from)?),
    };
    let before_run = q.before.filter(|b| !b.is_empty());
    if before.is_some() && before_run.is_some() {
        return Err(ApiError::invalid_param(
            "give `cursor` or `before`, not both",
        ));
    }
    let mut filter = RunFilter {
        repo_path: repo,
        status,
        limit: body::limit(q.limit.as_deref(), RUNS_LIMIT.0, RUNS_LIMIT.1)?,
        before,
        ..RunFilter::default()
    };
    let offset = body::number("offset", q.offset.as_deref())?.unwrap_or(0);
    let (page, total) = state
        .blocking(move |db| {
            if let Some(id) = before_run {
                let run = db
                    .get_run(&id)?
                    .ok_or_else(|| ApiError::not_found(format!("no run {id:?}")))?;
                filter.before = Some(RunCursor {
                    started_at: run.started_at,
                    id: run.id,
                });
            }
            let page = db.list_runs_offset(&filter, offset)?;
            let total = db.count_runs(&filter)?;
            Ok((page, total))
        })
        .await?;
    Ok(Json(RunsPage {
        runs: page.runs,
        total,
        has_more: page.has_more,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// `GET /api/history/runs/{id}`.
pub(crate) async fn get_run(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RunRow>, ApiError> {
    let id = body::path_id(path)?;
    let run = state
        .blocking(move |db| {
            db.get_run(&id)?
                .ok_or_else(|| ApiError::not_found(format!("no run {id:?}")))
        })
        .await?;
    Ok(Json(run))
}

/// `GET /api/history/runs/{id}/events` parameters; an unknown one is
/// refused with 400.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    unit: Option<String>,
    limit: Option<String>,
    after_seq: Option<String>,
    before_seq: Option<String>,
    order: Option<String>,
    offset: Option<String>,
    q: Option<String>,
    failed: Option<String>,
}

impl EventsQuery {
    /// The first paging parameter given (`limit`, `order`, `offset`), for
    /// routes that read every match.
    pub(crate) fn paging_param(&self) -> Option<&'static str> {
        [
            ("limit", &self.limit),
            ("order", &self.order),
            ("offset", &self.offset),
        ]
        .into_iter()
        .find(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()))
        .map(|(name, _)| name)
    }
}

/// A page of events.
#[derive(Debug, Serialize)]
pub(crate) struct EventsPage {
    events: Vec<EventRow>,
    total: u64,
    has_more: bool,
    /// The `after_seq` of the next page (ascending order), when there is one.
    next_after_seq: Option<u64>,
    /// The `before_seq` of the next page (descending order), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before_seq: Option<u64>,
}

/// The longest `q` accepted, in bytes, and the most tokens (each is an SQL
/// condition).
const QUERY_LIMITS: (usize, usize) = (1000, 32);

/// The search an events request names, validated (400 `INVALID_PARAM` for a
/// bad value); `limits` are the default and largest page sizes.
pub(crate) fn event_search(
    run_id: String,
    q: EventsQuery,
    limits: (u32, u32),
) -> Result<EventSearch, ApiError> {
    let descending = match q.order.as_deref().filter(|o| !o.is_empty()) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(format!(
                "`order` must be asc or desc, not {other:?}"
            )));
        }
    };
    let query = match q.q.as_deref().filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(text) if text.len() > QUERY_LIMITS.0 => {
            return Err(ApiError::invalid_param(format!(
                "`q` is {} bytes; at most {} are accepted",
                text.len(),
                QUERY_LIMITS.0
            )));
        }
        Some(text) => {
            let parsed = SearchQuery::parse(text);
            if parsed.len() > QUERY_LIMITS.1 {
                return Err(ApiError::invalid_param(format!(
                    "`q` has {} tokens; at most {} are accepted",
                    parsed.len(),
                    QUERY_LIMITS.1
                )));
            }
            Some(parsed)
        }
    };
    Ok(EventSearch {
        filter: EventFilter {
            run_id,
            type_prefix: q.kind.filter(|t| !t.is_empty()),
            unit: q.unit.filter(|u| !u.is_empty()),
            after_seq: body::number("after_seq", q.after_seq.as_deref())?,
            limit: body::limit(q.limit.as_deref(), limits.0, limits.1)?,
        },
        before_seq: body::number("before_seq", q.before_seq.as_deref())?,
        descending,
        offset: body::number("offset", q.offset.as_deref())?.unwrap_or(0),
        query,
        failed: flag("failed", q.failed.as_deref())?,
    })
}

/// A boolean parameter: `true` or `false` (absent or empty: false); any
/// other value is refused with 400 `INVALID_PARAM`.
fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value.unwrap_or("") {
        "" | "false" => Ok(false),
        "true" => Ok(true),
        other => Err(ApiError::invalid_param(format!(
            "`{name}` must be true or false, not {other:?}"
        ))),
    }
}

/// `GET /api/history/runs/{id}/events`: a run's events in `seq` order
/// (`order=desc`: newest first), filtered by type family (`unit` matches
/// `unit.*`), unit and text search (`q`), between `after_seq` and
/// `before_seq`, after skipping `offset` matches. `total` counts every
/// match of the filters and search, whatever the bounds and page.
pub(crate) async fn list_events(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    let run_id = body::path_id(path)?;
    let search = event_search(run_id, body::query(query)?, EVENTS_LIMIT)?;
    let descending = search.descending;
    let (page, total) = state
        .blocking(move |db| {
            let page = db.search_events(&search)?;
            let total = db.count_search(&search)?;
            Ok((page, total))
        })
        .await?;
    let next = if page.has_more {
        page.events.last().map(|e| e.seq)
    } else {
        None
    };
    let (next_after_seq, next_before_seq) = if descending {
        (None, next)
    } else {
        (next, None)
    };
    Ok(Json(EventsPage {
        events: page.events,
        total,
        has_more: page.has_more,
        next_after_seq,
        next_before_seq,
    }))
}

/// `GET /api/history/runs/{id}/graph`: the dependency graph of the run's
/// `orch.started` event, as the orchestrator sent it (`nodes` carry at
/// least `id`, `level`, `status`).
pub(crate) async fn graph(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Graph>, ApiError> {
    let id = body::path_id(path)?;
    let graph = state
        .blocking(move |db| match db.graph(&id)? {
            Some(g) => Ok(g),
            None if db.get_run(&id)?.is_none() => {
                Err(ApiError::not_found(format!("no run {id:?}")))
            }
            None => Err(ApiError::not_found(format!(
                "run {id:?} has no graph (no orch.started event carried one)"
            ))),
        })
        .await?;
    Ok(Json(graph))
}

/// The repositories that have runs.
#[derive(Debug, Serialize)]
pub(crate) struct ReposPage {
    repos: Vec<otto_hooks_sqlite::RepoSummary>,
}

/// `GET /api/history/repos`: every repository with runs, the most recently
/// used first, with its run count per status (the UI's repository picker
/// and status-filter counts). It takes no parameters.
pub(crate) async fn list_repos(
    State(state): State<Shared>,
    query: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<ReposPage>, ApiError> {
    body::query(query)?;
    let repos = state.blocking(|db| Ok(db.repos()?)).await?;
    Ok(Json(ReposPage { repos }))
}

/// A route that takes no query parameters: any is refused with 400.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

/// A run's units, summarised.
#[derive(Debug, Serialize)]
pub(crate) struct UnitsPage {
    units: Vec<otto_hooks_sqlite::UnitSummary>,
}

/// `GET /api/history/runs/{id}/units`: every unit of the run with its first
/// and last event (seq and time), when it started, its final state (derived
/// from its events as the UI does), its event count, tasks done and
/// retries, in the order of their first event. One SQL aggregate, so the
/// Gantt of a huge run never reads its events. No query parameters.
pub(crate) async fn list_units(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<UnitsPage>, ApiError> {
    let id = body::path_id(path)?;
    body::query(query)?;
    let units = state
        .blocking(move |db| Ok(db.unit_summaries(&id)?))
        .await?;
    Ok(Json(UnitsPage { units }))
}
