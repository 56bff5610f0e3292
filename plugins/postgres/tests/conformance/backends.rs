//! The two backends the suite runs against, and the builders it shares.

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::{Completion, HistoryDb, HistoryStore, NewEvent, NewRun, Options};

/// One history, opened as often as a test needs (each open is another
/// handle on the same data: another "process").
pub trait Backend {
    /// A new handle on the history.
    fn open(&self) -> Box<dyn HistoryStore>;
    /// Which backend, for messages.
    fn name(&self) -> &'static str;
}

/// history.db in a temporary directory.
pub struct Sqlite {
    dir: tempfile::TempDir,
}

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn HistoryStore> {
        Box::new(HistoryDb::open(self.dir.path().join("history.db"), &Options::default()).unwrap())
    }
    fn name(&self) -> &'static str {
        "sqlite"
    }
}

/// A fresh database of the test cluster.
pub struct Postgres {
    pub target: PgTarget,
}

impl Backend for Postgres {
    fn open(&self) -> Box<dyn HistoryStore> {
        Box::new(PgHistory::open(self.target.clone()).unwrap())
    }
    fn name(&self) -> &'static str {
        "postgres"
    }
}

pub fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
    }
}

/// `None` (the test skips, with one line) without PostgreSQL outside CI.
pub fn postgres() -> Option<Postgres> {
    TestCluster::shared().map(|c| Postgres {
        target: c.fresh_database(),
    })
}

/// 2025-01-20T10:00:00Z.
pub const T0: i64 = 1_737_367_200;

pub fn ts(offset_secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + offset_secs)
}

pub fn new_run(id: &str, project: &str, started: i64) -> NewRun {
    NewRun {
        id: id.into(),
        project: project.into(),
        repo_path: project.into(),
        started_at: ts(started),
        parallelism: 2,
        total_units: 5,
        tasks_dir: Some("/tasks".into()),
        dry_run: false,
    }
}

pub fn event(at: i64, kind: &str) -> NewEvent {
    NewEvent::new(ts(at), kind)
}

pub fn event_with(at: i64, kind: &str, unit: Option<&str>, payload: &str) -> NewEvent {
    NewEvent {
        unit: unit.map(str::to_owned),
        payload: Some(payload.to_owned()),
        ..NewEvent::new(ts(at), kind)
    }
}

pub fn completion(id: &str, at: i64, status: &str) -> Completion {
    Completion {
        run_id: id.into(),
        ended_at: ts(at),
        status: status.into(),
        completed_units: None,
        failed_units: None,
        blocked_units: None,
        error: None,
    }
}
