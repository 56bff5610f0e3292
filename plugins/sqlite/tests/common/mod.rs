//! Shared builders for the history.db tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{Completion, HistoryDb, NewEvent, NewRun, Options};

/// 2025-01-20T10:00:00Z.
pub const T0: i64 = 1_737_367_200;

pub fn ts(offset_secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + offset_secs)
}

pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub db: HistoryDb,
}

impl TestDb {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("history.db")
    }
}

pub fn open() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let db = HistoryDb::open(dir.path().join("history.db"), &Options::default()).unwrap();
    TestDb { dir, db }
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
