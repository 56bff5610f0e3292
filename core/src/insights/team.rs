//! A team history on PostgreSQL as the insights read it: the same runs and
//! `unit.*` events as from history.db (module [`recorded`](super::recorded)),
//! read by `otto-hooks-postgres` (its `insights` module, on partial
//! indexes of the unit events) and folded by the same code, so `stats`,
//! `flaky`, `history TASK` and `compare` answer the same on both backends.

use std::collections::HashMap;

use otto_hooks_plugin_api::TaskStatus;
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::insights::{InsightRun, UnitEnd, UnitEvent};
use otto_hooks_sqlite::time::parse_time;

use super::recorded::{Fold, stored_time_bounds};
use super::{Execution, HistoryQuery, InsightError, Result, RunRecord, RunTasks, Scope, Source};
use crate::run_ref::{self, RunSpec};

/// The insights' view of one PostgreSQL history.
pub struct TeamSource<'a> {
    db: &'a PgHistory,
}

impl std::fmt::Debug for TeamSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamSource")
            .field("database", &self.db.target().describe())
            .finish()
    }
}

fn failed(e: otto_hooks_sqlite::DbError) -> InsightError {
    InsightError::failed(format!("cannot read the history: {e}"))
}

/// A run as a record (history.db's rule: `completed` reads as `success`,
/// the duration is start to end).
fn record(run: &InsightRun) -> RunRecord {
    let started = parse_time(&run.started_at).map_or(0, |t| t.secs);
    let completed = run.completed_at.as_deref().and_then(|c| parse_time(c).ok());
    RunRecord {
        run: run_ref::run_ref(&run.project, &run.id),
        project: run.project.clone(),
        started_at: started,
        status: if run.status == "completed" {
            "success".to_owned()
        } else {
            run.status.clone()
        },
        duration_seconds: completed.map(|c| (c.secs - started).max(0) as f64),
        size_bytes: None,
    }
}

impl<'a> TeamSource<'a> {
    /// The insights' view of `db`.
    pub fn new(db: &'a PgHistory) -> Self {
        TeamSource { db }
    }

    /// The runs of `scope`, by id.
    fn runs_by_id(&self, scope: &Scope) -> Result<HashMap<String, RunRecord>> {
        let (from, to) = stored_time_bounds(scope)?;
        Ok(self
            .db
            .insight_runs(&from, &to)
            .map_err(failed)?
            .iter()
            .map(|r| (r.id.clone(), record(r)))
            .filter(|(_, r)| scope.has_project(&r.project))
            .collect())
    }

    /// The folded units of the runs `ids` (of `unit` only, when given),
    /// with their logs where an imported run's tasks directory has them.
    fn units_of_runs(&self, ids: &[String], unit: Option<&str>) -> Result<Vec<Execution>> {
        let mut runs = HashMap::new();
        let mut tasks_dirs: HashMap<String, std::path::PathBuf> = HashMap::new();
        for id in ids {
            if let Some(r) = self.db.insight_run(id).map_err(failed)? {
                let rec = record(&r);
                if let Some(dir) = r.tasks_dir {
                    tasks_dirs.insert(rec.run.clone(), dir.into());
                }
                runs.insert(id.clone(), rec);
            }
        }
        let found: Vec<String> = ids
            .iter()
            .filter(|i| runs.contains_key(*i))
            .cloned()
            .collect();
        let mut out = fold(self.db, &runs, |db, f| {
            db.each_unit_event_of(&found, unit, f)
        })?;
        for e in &mut out {
            let log = tasks_dirs
                .get(&e.run)
                .map(|d| d.join(&e.task).join("stdout.log"))
                .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()));
            e.log = log.map(|p| p.display().to_string());
        }
        Ok(out)
    }
}

/// Folds the unit events `read` streams (of the runs in `runs`) into
/// executions.
fn fold(
    db: &PgHistory,
    runs: &HashMap<String, RunRecord>,
    read: impl FnOnce(
        &PgHistory,
        &mut dyn FnMut(UnitEvent<'_>),
    ) -> std::result::Result<(), otto_hooks_sqlite::DbError>,
) -> Result<Vec<Execution>> {
    let mut folded = Fold::default();
    read(db, &mut |e: UnitEvent<'_>| {
        if let Some(run) = runs.get(e.run_id) {
            folded.push(e.run_id, run, e.time, e.kind, e.unit, e.payload);
        }
    })
    .map_err(failed)?;
    Ok(folded.finish(runs))
}

impl Source for TeamSource<'_> {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn path(&self) -> String {
        self.db.target().describe()
    }

    fn runs(&self, scope: &Scope) -> Result<Vec<RunRecord>> {
        Ok(self.runs_by_id(scope)?.into_values().collect())
    }

    fn executions(&self, scope: &Scope, task: Option<&str>) -> Result<Vec<Execution>> {
        let runs = self.runs_by_id(scope)?;
        let (from, to) = stored_time_bounds(scope)?;
        fold(self.db, &runs, |db, f| {
            db.each_unit_event_in(&from, &to, task, f)
        })
    }

    fn task_history(&self, query: &HistoryQuery) -> Result<Vec<Execution>> {
        // As from history.db: the runs that last touched the unit first,
        // folded a batch at a time until `limit` executions pass.
        let end = match query.status {
            Some(TaskStatus::Failed) => Some(UnitEnd::Failed),
            Some(TaskStatus::Success) => Some(UnitEnd::Success),
            Some(TaskStatus::Skipped) => Some(UnitEnd::Skipped),
            _ => None,
        };
        let ids = self.db.runs_of_unit(&query.task, end).map_err(failed)?;
        let mut out: Vec<Execution> = Vec::new();
        let mut rest = ids.as_slice();
        while !rest.is_empty() && out.len() < query.limit {
            let take = rest.len().min(64.max(query.limit - out.len()));
            let (batch, after) = rest.split_at(take);
            rest = after;
            for e in self.units_of_runs(batch, Some(&query.task))? {
                let keep = query.status.is_none_or(|s| e.status == s)
                    && query
                        .project
                        .as_deref()
                        .is_none_or(|p| run_ref::project_matches(&e.project, p));
                if keep {
                    out.push(e);
                }
            }
        }
        out.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.run.cmp(&a.run))
        });
        out.truncate(query.limit);
        Ok(out)
    }

    fn task_names(&self) -> Result<Vec<String>> {
        self.db.unit_names().map_err(failed)
    }

    fn projects(&self) -> Result<Vec<String>> {
        self.db.project_names().map_err(failed)
    }

    fn run_tasks(&self, spec: &str) -> Result<RunTasks> {
        let parsed = RunSpec::parse(spec, None);
        let mut ids = vec![spec.to_owned()];
        ids.extend(parsed.storage_ids());
        for id in ids {
            let Some(run) = self.db.insight_run(&id).map_err(failed)? else {
                continue;
            };
            let rec = record(&run);
            if !parsed
                .project
                .as_deref()
                .is_none_or(|p| run_ref::project_matches(&rec.project, p) || id.starts_with(p))
            {
                continue;
            }
            let tasks = self.units_of_runs(std::slice::from_ref(&id), None)?;
            return Ok(RunTasks {
                run: rec,
                tasks,
                cache_dir: None,
            });
        }
        Err(InsightError::not_found(format!(
            "no run `{spec}` in postgres {} (see `otto-hooks list`)",
            self.path()
        )))
    }
}
