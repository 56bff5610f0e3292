//! choo's live-UI reads for a daemon that holds many runs: `GET /api/state`
//! and `GET /api/graph`.
//!
//! choo's own daemon serves one orchestrator at a time, so its UI asks for
//! "the" state and "the" graph, and its History page takes the repository
//! to list from `/api/state`'s `repoPath`. Here many runs of many
//! repositories share one daemon, so both answer for the **current run**:
//! the most recently started run that is running, or, when none is, the
//! most recently started run of all. With no run at all, `/api/state` says
//! `status: "waiting"` (every field of a run `null`) and `/api/graph` is the
//! empty graph, as choo's answer is before an orchestrator connects.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{EventFilter, HistoryStore, RunFilter, RunRow};
use serde::Serialize;
use serde_json::Value;

use super::Shared;
use super::body;
use super::errors::ApiError;
use super::reads::NoParams;
use crate::hooks::wire;

/// Unit events read per page while folding a run's unit states.
const PAGE: u32 = 1000;

/// One unit of the current run, from its `unit.*` events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnitState {
    id: String,
    /// `pending`, `in_progress`, `complete`, `failed` or `blocked`.
    status: &'static str,
    /// The error of its `unit.failed` event, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// When its (last) `unit.started` event happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
}

/// Unit counts per status.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    total: u64,
    pending: u64,
    in_progress: u64,
    complete: u64,
    failed: u64,
    blocked: u64,
}

/// The `/api/state` document: choo's `StateSnapshot` fields plus the
/// current run's id and repository.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateDoc {
    /// Whether some run is running.
    connected: bool,
    /// The current run's status (`running`, `completed`, `failed`,
    /// `stopped`), `waiting` when there is no run.
    status: String,
    run_id: Option<String>,
    /// The current run's repository: what choo's History page lists.
    repo_path: Option<String>,
    started_at: Option<String>,
    parallelism: Option<u32>,
    units: Vec<UnitState>,
    summary: Summary,
    /// Runs running now, across every repository.
    running_runs: u64,
}

/// The current run: the newest running one, else the newest of all.
fn current_run(db: &dyn HistoryStore) -> Result<Option<RunRow>, ApiError> {
    let newest = |status: Option<&str>| -> Result<Option<RunRow>, ApiError> {
        let page = db.list_runs(&RunFilter {
            status: status.map(str::to_owned),
            limit: 1,
            ..RunFilter::default()
        })?;
        Ok(page.runs.into_iter().next())
    };
    match newest(Some("running"))? {
        Some(run) => Ok(Some(run)),
        None => newest(None),
    }
}

/// The status choo's UI shows for a unit event type.
fn unit_status(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "unit.queued" | "unit.pending" => "pending",
        "unit.started" => "in_progress",
        "unit.completed" => "complete",
        "unit.failed" => "failed",
        "unit.blocked" => "blocked",
        _ => return None,
    })
}

/// Folds a run's `unit.*` events into each unit's latest state, in the order
/// the units first appeared.
fn unit_states(db: &dyn HistoryStore, run_id: &str) -> Result<Vec<UnitState>, ApiError> {
    let mut order: Vec<String> = Vec::new();
    let mut states: BTreeMap<String, UnitState> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = db.events(&EventFilter {
            run_id: run_id.to_owned(),
            type_prefix: Some("unit".into()),
            after_seq: after,
            limit: PAGE,
            ..EventFilter::default()
        })?;
        for ev in &page.events {
            let (Some(unit), Some(status)) = (ev.unit.as_deref(), unit_status(&ev.kind)) else {
                continue;
            };
            let state = states.entry(unit.to_owned()).or_insert_with(|| {
                order.push(unit.to_owned());
                UnitState {
                    id: unit.to_owned(),
                    status,
                    error: None,
                    started_at: None,
                }
            });
            state.status = status;
            match status {
                "in_progress" => state.started_at = Some(wire::rfc3339(ev.time)),
                "failed" => state.error = ev.error.clone(),
                _ => {}
            }
        }
        after = page.events.last().map(|e| e.seq);
        if !page.has_more || after.is_none() {
            break;
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| states.remove(&id))
        .collect())
}

/// Counts per status; units planned but not seen yet count as pending.
fn summarise(units: &[UnitState], total_units: u32) -> Summary {
    let mut s = Summary::default();
    for unit in units {
        match unit.status {
            "in_progress" => s.in_progress += 1,
            "complete" => s.complete += 1,
            "failed" => s.failed += 1,
            "blocked" => s.blocked += 1,
            _ => s.pending += 1,
        }
    }
    let seen = units.len() as u64;
    s.total = seen.max(u64::from(total_units));
    s.pending += s.total - seen;
    s
}

fn time_text(t: Timestamp) -> String {
    wire::rfc3339(t)
}

/// `GET /api/state`: the current run's live state (see the module docs).
pub(crate) async fn state(
    State(state): State<Shared>,
    query: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<StateDoc>, ApiError> {
    body::query(query)?;
    let doc = state
        .blocking(|db| {
            let running_runs = db.count_runs(&RunFilter {
                status: Some("running".into()),
                ..RunFilter::default()
            })?;
            let Some(run) = current_run(db)? else {
                return Ok(StateDoc {
                    connected: false,
                    status: "waiting".into(),
                    run_id: None,
                    repo_path: None,
                    started_at: None,
                    parallelism: None,
                    units: Vec::new(),
                    summary: Summary::default(),
                    running_runs,
                });
            };
            let units = unit_states(db, &run.id)?;
            let summary = summarise(&units, run.total_units);
            Ok(StateDoc {
                connected: running_runs > 0,
                status: run.status.clone(),
                run_id: Some(run.id.clone()),
                repo_path: Some(run.repo_path.clone()),
                started_at: Some(time_text(run.started_at)),
                parallelism: Some(run.parallelism),
                units,
                summary,
                running_runs,
            })
        })
        .await?;
    Ok(Json(doc))
}

/// `GET /api/graph`: the current run's graph; the empty graph
/// (`{"nodes":[],"edges":[],"levels":[]}`) when there is no run or it has
/// none.
pub(crate) async fn graph(
    State(state): State<Shared>,
    query: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    body::query(query)?;
    let graph = state
        .blocking(|db| {
            let graph = match current_run(db)? {
                Some(run) => db.graph(&run.id)?,
                None => None,
            };
            Ok(match graph {
                Some(g) => {
                    serde_json::json!({"nodes": g.nodes, "edges": g.edges, "levels": g.levels})
                }
                None => serde_json::json!({"nodes": [], "edges": [], "levels": []}),
            })
        })
        .await?;
    Ok(Json(graph))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, status: &'static str) -> UnitState {
        UnitState {
            id: id.into(),
            status,
            error: None,
            started_at: None,
        }
    }

    #[test]
    fn units_not_seen_yet_count_as_pending() {
        let s = summarise(
            &[
                unit("a", "complete"),
                unit("b", "in_progress"),
                unit("c", "failed"),
            ],
            5,
        );
        assert_eq!(
            s,
            Summary {
                total: 5,
                pending: 2,
                in_progress: 1,
                complete: 1,
                failed: 1,
                blocked: 0
            }
        );
        // More units seen than planned: the total is what was seen.
        assert_eq!(summarise(&[unit("a", "pending")], 0).total, 1);
    }

    #[test]
    fn unit_event_types_map_to_choo_statuses() {
        assert_eq!(unit_status("unit.started"), Some("in_progress"));
        assert_eq!(unit_status("unit.completed"), Some("complete"));
        assert_eq!(unit_status("unit.blocked"), Some("blocked"));
        assert_eq!(unit_status("unit.progress"), None);
    }
}
