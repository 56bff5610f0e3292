//! What the insights (`stats`, `flaky`, `history TASK`, `compare`) read
//! from a PostgreSQL history: runs by start window, and the `unit.*`
//! events they fold into executions — the same rows, in the same order,
//! as they read from history.db (core's `insights::recorded`), so one fold
//! gives both backends' answers.
//!
//! The event reads go through the two partial indexes of schema version 2,
//! which hold the `unit.*` events only (a few per unit and run, not the
//! task events that make most of a history): by `(run_id, seq)` for a
//! window's runs, by `(unit, time)` for one task's newest runs. Rows are
//! streamed to the caller, never all held at once.

use otto_hooks_sqlite::DbError;
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use crate::error::pg;
use crate::store::PgHistory;

type Result<T> = std::result::Result<T, DbError>;

/// A run as the insights need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightRun {
    /// The run id.
    pub id: String,
    /// Its project.
    pub project: String,
    /// Start, in the stored RFC 3339 form.
    pub started_at: String,
    /// End, when it ended.
    pub completed_at: Option<String>,
    /// `running`, `completed`, `failed`, `stopped`.
    pub status: String,
    /// An imported otto run's `tasks/` directory (its units' logs).
    pub tasks_dir: Option<String>,
}

/// One `unit.*` event, borrowed from the row being read.
#[derive(Debug, Clone, Copy)]
pub struct UnitEvent<'r> {
    /// Its run.
    pub run_id: &'r str,
    /// Its time, stored form.
    pub time: &'r str,
    /// Its type (`unit.…`).
    pub kind: &'r str,
    /// Its unit.
    pub unit: &'r str,
    /// Its payload JSON text.
    pub payload: Option<&'r str>,
}

/// The end a unit's event can give it, to pick `history TASK`'s
/// candidate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitEnd {
    /// `unit.*failed`.
    Failed,
    /// `unit.completed`, `unit.merged`.
    Success,
    /// `unit.blocked`, `unit.skipped`.
    Skipped,
}

/// The `unit.*` events (the partial indexes' condition, word for word, so
/// the planner matches them).
const UNIT_EVENTS: &str = "e.unit IS NOT NULL AND e.type >= 'unit.' AND e.type < 'unit/'";

const RUN_COLUMNS: &str = "id, project, started_at, completed_at, status, tasks_dir";

fn run_of(row: &postgres::Row) -> InsightRun {
    InsightRun {
        id: row.get(0),
        project: row.get(1),
        started_at: row.get(2),
        completed_at: row.get(3),
        status: row.get(4),
        tasks_dir: row.get(5),
    }
}

/// The unit events of a start window's runs (`$1`, `$2`; `$3` a unit or
/// NULL), a run's together in seq order.
fn window_sql() -> String {
    format!(
        "SELECT e.run_id, e.time, e.type, e.unit, e.payload
         FROM runs r JOIN events e ON e.run_id = r.id
         WHERE r.started_at >= $1 AND r.started_at < $2 AND {UNIT_EVENTS}
           AND ($3::TEXT IS NULL OR e.unit = $3)
         ORDER BY r.started_at, r.id, e.seq"
    )
}

/// The runs with unit events of `$1` (ending it as `end`), newest first.
fn runs_of_unit_sql(end: Option<UnitEnd>) -> String {
    let kinds = match end {
        Some(UnitEnd::Failed) => "AND e.type LIKE 'unit.%failed'",
        Some(UnitEnd::Success) => "AND e.type IN ('unit.completed', 'unit.merged')",
        Some(UnitEnd::Skipped) => "AND e.type IN ('unit.blocked', 'unit.skipped')",
        None => "",
    };
    format!(
        "SELECT e.run_id FROM events e WHERE e.unit = $1 AND {UNIT_EVENTS} {kinds}
         GROUP BY e.run_id ORDER BY MAX(e.time) DESC, e.run_id"
    )
}

/// Streams the rows of `sql` (columns run_id, time, type, unit, payload) to `f`.
fn each_event(
    c: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    f: &mut dyn FnMut(UnitEvent<'_>),
) -> Result<()> {
    let mut rows = c.query_raw(sql, params.iter().copied()).map_err(pg)?;
    while let Some(row) = rows.next().map_err(pg)? {
        f(UnitEvent {
            run_id: row.get(0),
            time: row.get(1),
            kind: row.get(2),
            unit: row.get(3),
            payload: row.get(4),
        });
    }
    Ok(())
}

impl PgHistory {
    /// The runs started in `[from, to)` (stored time form; `""` and `"~"`
    /// for no bound).
    pub fn insight_runs(&self, from: &str, to: &str) -> Result<Vec<InsightRun>> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE started_at >= $1 AND started_at < $2"
                ),
                &[&from, &to],
            )
            .map_err(pg)?
            .iter()
            .map(run_of)
            .collect())
        })
    }

    /// One run, when it exists.
    pub fn insight_run(&self, id: &str) -> Result<Option<InsightRun>> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(run_of))
        })
    }

    /// Every `unit.*` event (of `unit` only, when given) of the runs started
    /// in `[from, to)`, a run's events together in seq order, to `f`.
    pub fn each_unit_event_in(
        &self,
        from: &str,
        to: &str,
        unit: Option<&str>,
        f: &mut dyn FnMut(UnitEvent<'_>),
    ) -> Result<()> {
        self.stream(|c| each_event(c, &window_sql(), &[&from, &to, &unit], f))
    }

    /// Every `unit.*` event (of `unit` only, when given) of the runs `ids`,
    /// run by run in that order, each in seq order, to `f`.
    pub fn each_unit_event_of(
        &self,
        ids: &[String],
        unit: Option<&str>,
        f: &mut dyn FnMut(UnitEvent<'_>),
    ) -> Result<()> {
        let sql = format!(
            "SELECT e.run_id, e.time, e.type, e.unit, e.payload
             FROM unnest($1::TEXT[]) WITH ORDINALITY AS r(id, n)
             JOIN events e ON e.run_id = r.id
             WHERE {UNIT_EVENTS} AND ($2::TEXT IS NULL OR e.unit = $2)
             ORDER BY r.n, e.seq"
        );
        self.stream(|c| each_event(c, &sql, &[&ids, &unit], f))
    }

    /// The runs with a `unit.*` event of `unit` (one that can end it as
    /// `end`, when given), the run that touched it last first.
    pub fn runs_of_unit(&self, unit: &str, end: Option<UnitEnd>) -> Result<Vec<String>> {
        let sql = runs_of_unit_sql(end);
        self.read(|c| {
            Ok(c.query(&sql, &[&unit])
                .map_err(pg)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    /// Every unit name events carry, sorted.
    pub fn unit_names(&self) -> Result<Vec<String>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT DISTINCT unit FROM events WHERE unit IS NOT NULL ORDER BY unit",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    /// Every project with runs, sorted.
    pub fn project_names(&self) -> Result<Vec<String>> {
        self.read(|c| {
            Ok(c.query("SELECT DISTINCT project FROM runs ORDER BY 1", &[])
                .map_err(pg)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cluster::TestCluster;

    /// The plan of `sql` (parameters as NULL-typed text) with sequential
    /// scans priced out: the partial indexes must be usable, i.e. the
    /// queries' conditions imply the indexes' predicate.
    fn plan(c: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> String {
        c.batch_execute("SET enable_seqscan = off").expect("set");
        let rows = c.query(&format!("EXPLAIN {sql}"), params).expect("explain");
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_insights_queries_read_the_unit_event_indexes() {
        let Some(cluster) = TestCluster::shared() else {
            return;
        };
        let target = cluster.fresh_database();
        drop(PgHistory::open(target.clone()).expect("migrate"));
        let mut c = target.connect().expect("connect");
        let (from, to) = ("", "~");
        for unit in [None, Some("api")] {
            let window = plan(&mut c, &window_sql(), &[&from, &to, &unit]);
            // Either partial index: both hold the unit events only.
            assert!(window.contains("on events"), "{window}");
            assert!(
                window.contains("using idx_events_unit_"),
                "{unit:?}: {window}"
            );
            assert!(!window.contains("events_run_seq"), "{unit:?}: {window}");
        }
        for end in [None, Some(UnitEnd::Failed), Some(UnitEnd::Success)] {
            let by_unit = plan(&mut c, &runs_of_unit_sql(end), &[&"api"]);
            assert!(
                by_unit.contains("idx_events_unit_time"),
                "{end:?}: {by_unit}"
            );
        }
    }
}
