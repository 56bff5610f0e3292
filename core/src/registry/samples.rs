//! Sample data for `plugins check` and the conformance suite: a choo-shaped
//! run with events, a set of otto-shaped runs, and one document of every
//! kind a reporter renders.

use otto_hooks_plugin_api::{
    DocumentKind, Event, HookContext, Run, RunResult, RunStart, RunStatus, Timestamp,
};

/// The sample project key.
pub const PROJECT: &str = "sample-0a1b2c3d";
/// The sample run id.
pub const RUN_ID: &str = "run_20261122_101500_c0de";
/// 2026-11-22T10:15:00Z.
pub const START: i64 = 1_795_342_500;

/// The run start of the sample run.
pub fn run_start() -> RunStart<'static> {
    RunStart {
        project: PROJECT,
        run_id: RUN_ID,
        started_at: Timestamp::from_secs(START),
        repo_path: Some("/home/dev/sample"),
        parallelism: Some(4),
        total_units: Some(2),
        tasks_dir: Some("specs/tasks"),
        dry_run: false,
    }
}

/// The hook context of the sample run.
pub fn context() -> HookContext<'static> {
    HookContext {
        project: PROJECT,
        run_id: RUN_ID,
    }
}

/// A short choo-shaped event stream: orchestration start with a graph,
/// units and tasks, a failure.
pub fn events() -> Vec<Event<'static>> {
    let at = |s: i64| Timestamp::from_secs(START + s);
    let event = |secs, kind, unit, payload| Event {
        time: at(secs),
        kind,
        unit,
        task: None,
        pr: None,
        payload,
        error: None,
    };
    vec![
        event(
            0,
            "orch.started",
            None,
            Some(
                r#"{"unit_count":2,"parallelism":4,"graph":{"nodes":[{"id":"app-shell","level":0},{"id":"api","level":1}],"edges":[{"from":"api","to":"app-shell"}],"levels":[["app-shell"],["api"]]}}"#,
            ),
        ),
        event(
            1,
            "unit.started",
            Some("app-shell"),
            Some(r#"{"total_tasks":2,"completed_tasks":0}"#),
        ),
        Event {
            task: Some(1),
            ..event(
                5,
                "task.completed",
                Some("app-shell"),
                Some(r#"{"title":"scaffold"}"#),
            )
        },
        event(9, "unit.completed", Some("app-shell"), None),
        Event {
            error: Some("tests failed"),
            ..event(30, "unit.failed", Some("api"), None)
        },
    ]
}

/// The run result of the sample run.
pub fn run_result() -> RunResult<'static> {
    RunResult {
        project: PROJECT,
        run_id: RUN_ID,
        ended_at: Timestamp::from_secs(START + 31),
        status: RunStatus::Failed,
        completed_units: Some(1),
        failed_units: Some(1),
        blocked_units: Some(0),
        error: Some("1 unit failed"),
    }
}

/// Twelve otto-shaped runs of one project, one every five days back from
/// [`START`], with one failure, one pinned run and one running.
pub fn runs() -> Vec<Run> {
    (0..12)
        .map(|i| {
            let ts = START - i * 5 * 86_400;
            Run {
                id: ts.to_string(),
                project: PROJECT.to_owned(),
                started_at: Timestamp::from_secs(ts),
                ended_at: (i != 0).then(|| Timestamp::from_secs(ts + 42)),
                status: match i {
                    0 => RunStatus::Running,
                    3 => RunStatus::Failed,
                    _ => RunStatus::Success,
                },
                status_source: Some("sample".to_owned()),
                task_count: 3,
                size_bytes: Some(40_000 + i as u64 * 1_000),
                allocated_bytes: Some(49_152),
                location: format!("/home/dev/.otto/{PROJECT}/{ts}"),
                pinned: i == 9,
                attributes: serde_json::Map::new(),
            }
        })
        .collect()
}

/// One sample document of every kind, as `(kind, json)`.
pub fn documents() -> Vec<(DocumentKind, String)> {
    let run = serde_json::json!({
        "project": PROJECT, "run": "1795342500", "timestamp": START,
        "started_at": "2026-11-22T10:15:00Z", "tasks": 3, "status": "success",
        "status_source": "otto.db", "size_bytes": 45_200_000u64,
        "allocated_bytes": 45_301_760u64, "path": "/home/dev/.otto/sample-0a1b2c3d/1795342500"
    });
    let docs = [
        (DocumentKind::RunList, serde_json::json!([run])),
        (
            DocumentKind::RunInfo,
            serde_json::json!({
                "project": PROJECT, "run": "1795342500", "timestamp": START,
                "started_at": "2026-11-22T10:15:00Z", "ended_at": "2026-11-22T10:15:08Z",
                "duration_seconds": 8.5, "status": "failed", "status_source": "otto.db",
                "size_bytes": 4_900, "path": "/home/dev/.otto/sample-0a1b2c3d/1795342500",
                "attributes": {"user": "dev", "cwd": "/home/dev/sample"},
                "tasks": [
                    {"name": "build", "status": "success", "exit_code": 0, "duration_seconds": 2.3,
                     "stdout": "/x/tasks/build/stdout.log", "stderr": "/x/tasks/build/stderr.log",
                     "script": "/x/tasks/build/script.sh", "script_target": "../../../.cache/1a2b3c4d.sh"},
                    {"name": "check:db", "status": "failed", "exit_code": 1, "duration_seconds": 0.5,
                     "stdout": null, "stderr": "/x/tasks/check:db/stderr.log", "script": null, "script_target": null}
                ]
            }),
        ),
        (
            DocumentKind::Usage,
            serde_json::json!({
                "total_bytes": 2_300_000_000u64,
                "projects": [{"project": PROJECT, "bytes": 2_300_000_000u64, "runs_bytes": 2_100_000_000u64,
                              "cache_bytes": 200_000_000u64, "runs": 250, "oldest_timestamp": START - 90 * 86_400}],
                "largest_runs": [{"project": PROJECT, "run": "1795342500", "size_bytes": 150_000_000u64}],
                "orphaned_cache_bytes": 50_000_000u64,
                "recommendations": [{"message": "cleaning runs older than 30 days would free 800.0 MB",
                                     "command": "otto-hooks clean --keep 30", "bytes": 800_000_000u64}]
            }),
        ),
        (
            DocumentKind::CleanPlan,
            serde_json::json!({
                "dry_run": true,
                "groups": [{"project": PROJECT, "policy": "standard", "kept": 1, "kept_bytes": 4_900,
                            "deleted": 1, "deleted_bytes": 4_800}],
                "deleted": [{"project": PROJECT, "run": "1790000000", "size_bytes": 4_800, "reasons": []}],
                "kept": [{"project": PROJECT, "run": "1795342500", "size_bytes": 4_900,
                          "reasons": ["last#1", "within 30d"]}],
                "refused": [{"project": PROJECT, "run": "1795000000", "error": "live: its .lock is held"}],
                "bytes_freed": 0,
                "cache": {"deleted": [{"project": PROJECT, "file": "1a2b3c4d.sh", "size_bytes": 120}], "bytes_freed": 0}
            }),
        ),
        (
            DocumentKind::RunSummary,
            serde_json::json!({
                "project": PROJECT, "run": RUN_ID, "status": "failed",
                "started_at": "2026-11-22T10:15:00Z", "ended_at": "2026-11-22T10:15:31Z",
                "duration_seconds": 31.0, "completed_units": 1, "failed_units": 1, "blocked_units": 0,
                "error": "1 unit failed", "warnings": []
            }),
        ),
        (
            DocumentKind::PluginList,
            serde_json::json!([{"name": "table", "kind": "reporter", "version": "0.1.0", "abi": "1.1",
                                "source": "built-in", "state": "ok", "description": "Tables", "offers": ["render"]}]),
        ),
        (
            DocumentKind::Config,
            serde_json::json!({"files": ["/home/dev/.otto-hooks/config.toml"],
                               "values": [{"key": "hooks.strict", "value": "false", "source": "default"}]}),
        ),
    ];
    docs.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}
