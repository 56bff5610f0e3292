//! Realistic documents, built from the typed structs of `report`.

use otto_hooks_plugin_api::report::{
    CacheFile, CacheLink, CachePlan, CleanPlan, ConfigReport, ConfigValue, GroupPlan, PlannedRun,
    PluginEntry, ProjectUsage, Recommendation, RefusedRun, RunEntry, RunInfo, RunSize, RunSummary,
    TaskInfo, UsageReport,
};
use otto_hooks_plugin_api::{DocumentKind, PluginKind, RunStatus, TaskStatus};
use serde_json::json;

/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000;

pub fn rfc3339(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .expect("in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialises")
}

/// One sample of each kind, as JSON.
pub fn all() -> Vec<(DocumentKind, String)> {
    vec![
        (DocumentKind::RunList, to_json(&run_list())),
        (DocumentKind::RunList, "[]".to_owned()),
        (DocumentKind::RunInfo, to_json(&run_info())),
        (DocumentKind::Usage, to_json(&usage())),
        (DocumentKind::CleanPlan, to_json(&clean_plan(true))),
        (DocumentKind::CleanPlan, to_json(&clean_plan(false))),
        (DocumentKind::CleanPlan, to_json(&history_clean(true))),
        (DocumentKind::CleanPlan, to_json(&history_clean(false))),
        (
            DocumentKind::CleanPlan,
            to_json(&CleanPlan {
                dry_run: true,
                ..CleanPlan::default()
            }),
        ),
        (DocumentKind::RunSummary, to_json(&run_summary())),
        (DocumentKind::PluginList, to_json(&plugin_list())),
        (DocumentKind::Config, to_json(&config())),
        (
            DocumentKind::Unknown,
            r#"{"future": [1, 2, {"x": "y"}]}"#.to_owned(),
        ),
    ]
}

fn entry(
    project: &str,
    run: &str,
    ago: i64,
    tasks: u32,
    status: RunStatus,
    size: Option<u64>,
) -> RunEntry {
    RunEntry {
        id: format!("{project}/{run}"),
        project: project.into(),
        run: run.into(),
        timestamp: T0 - ago,
        started_at: rfc3339(T0 - ago),
        tasks,
        status,
        status_source: Some("otto.db".into()),
        status_guessed: false,
        size_bytes: size,
        allocated_bytes: size.map(|s| s + 4096),
        path: format!("/home/alice/.otto/{project}/{run}"),
    }
}

pub fn run_list() -> Vec<RunEntry> {
    vec![
        entry(
            "web-3f2a1b9c",
            "1700000000",
            0,
            12,
            RunStatus::Success,
            Some(45_200_000),
        ),
        entry(
            "web-3f2a1b9c",
            "1699990000",
            10_000,
            3,
            RunStatus::Failed,
            Some(812),
        ),
        entry(
            "api-77aa",
            "1699900000-2",
            100_000,
            140,
            RunStatus::Running,
            None,
        ),
    ]
}

pub fn run_info() -> RunInfo {
    let attributes = json!({
        "user": "alice",
        "cwd": "/home/alice/src/web",
        "ottofile": "/home/alice/src/web/otto.yml",
        "args": ["ci", "--jobs", "4"],
        "hostname": "build-01",
    });
    RunInfo {
        id: "web-3f2a1b9c/1700000000".into(),
        project: "web-3f2a1b9c".into(),
        run: "1700000000".into(),
        timestamp: T0,
        started_at: "2023-11-14T22:13:20Z".into(),
        ended_at: Some("2023-11-14T22:16:32Z".into()),
        duration_seconds: Some(192.0),
        status: RunStatus::Failed,
        status_source: "exit-code".into(),
        status_guessed: false,
        size_bytes: Some(2_345_000_000),
        path: "/home/alice/.otto/web-3f2a1b9c/1700000000".into(),
        attributes: attributes.as_object().expect("an object").clone(),
        tasks: vec![
            TaskInfo {
                name: "build".into(),
                status: TaskStatus::Success,
                exit_code: Some(0),
                duration_seconds: Some(2.34),
                stdout: Some(
                    "/home/alice/.otto/web-3f2a1b9c/1700000000/tasks/build/stdout.log".into(),
                ),
                stderr: Some(
                    "/home/alice/.otto/web-3f2a1b9c/1700000000/tasks/build/stderr.log".into(),
                ),
                script: Some(
                    "/home/alice/.otto/web-3f2a1b9c/1700000000/tasks/build/script.sh".into(),
                ),
                script_target: Some("/home/alice/.otto/web-3f2a1b9c/.cache/9e1c.sh".into()),
            },
            TaskInfo {
                name: "check:db".into(),
                status: TaskStatus::Failed,
                exit_code: Some(1),
                duration_seconds: Some(45.0),
                stdout: None,
                stderr: Some(
                    "/home/alice/.otto/web-3f2a1b9c/1700000000/tasks/check:db/stderr.log".into(),
                ),
                script: None,
                script_target: None,
            },
            TaskInfo {
                name: "deploy".into(),
                status: TaskStatus::Skipped,
                exit_code: None,
                duration_seconds: None,
                stdout: None,
                stderr: None,
                script: None,
                script_target: None,
            },
        ],
    }
}

pub fn usage() -> UsageReport {
    UsageReport {
        total_bytes: 2_345_000_000,
        total_allocated_bytes: Some(2_410_000_000),
        projects: vec![
            ProjectUsage {
                project: "web-3f2a1b9c".into(),
                bytes: 1_900_000_000,
                runs_bytes: 1_780_000_000,
                cache_bytes: 120_000_000,
                orphaned_cache_bytes: 20_000_000,
                runs_allocated_bytes: 1_790_000_000,
                allocated_bytes: Some(1_960_000_000),
                runs: 12,
                oldest_timestamp: Some(T0 - 45 * 86_400),
            },
            ProjectUsage {
                project: "api-77aa".into(),
                bytes: 445_000_000,
                runs_bytes: 445_000_000,
                cache_bytes: 0,
                orphaned_cache_bytes: 0,
                runs_allocated_bytes: 445_100_000,
                allocated_bytes: Some(450_000_000),
                runs: 1,
                oldest_timestamp: Some(T0),
            },
        ],
        largest_runs: vec![
            RunSize {
                project: "web-3f2a1b9c".into(),
                run: "1699990000".into(),
                size_bytes: 450_000_000,
            },
            RunSize {
                project: "api-77aa".into(),
                run: "1699900000-2".into(),
                size_bytes: 445_000_000,
            },
        ],
        orphaned_cache_bytes: 12_000_000,
        trash_entries: 0,
        trash_bytes: 0,
        recommendations: vec![Recommendation {
            message: "cleaning runs older than 30 days would free 812.0 MB".into(),
            command: Some("otto-hooks clean --older-than 30d".into()),
            bytes: 812_000_000,
        }],
    }
}

fn planned(project: &str, run: &str, size: Option<u64>, reasons: &[&str]) -> PlannedRun {
    PlannedRun {
        project: project.into(),
        run: run.into(),
        size_bytes: size,
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        ..PlannedRun::default()
    }
}

pub fn clean_plan(dry_run: bool) -> CleanPlan {
    CleanPlan {
        dry_run,
        groups: vec![
            GroupPlan {
                project: "web-3f2a1b9c".into(),
                policy: Some("standard".into()),
                kept: 10,
                kept_bytes: 1_200_000_000,
                deleted: 2,
                deleted_bytes: 500_000_000,
                ..GroupPlan::default()
            },
            GroupPlan {
                project: "api-77aa".into(),
                policy: Some("weekday".into()),
                kept: 1,
                kept_bytes: 445_000_000,
                deleted: 0,
                deleted_bytes: 0,
                ..GroupPlan::default()
            },
        ],
        deleted: vec![
            planned(
                "web-3f2a1b9c",
                "1690000000",
                Some(450_000_000),
                &["older than 30d", "not in last 10"],
            ),
            planned(
                "web-3f2a1b9c",
                "1690000100",
                Some(50_000_000),
                &["status failed|interrupted"],
            ),
        ],
        kept: vec![planned(
            "api-77aa",
            "1699900000-2",
            Some(445_000_000),
            &["running", "last#1"],
        )],
        refused: vec![RefusedRun {
            project: "web-3f2a1b9c".into(),
            run: "1690000200".into(),
            error: "its .lock is held by pid 4242".into(),
        }],
        bytes_freed: if dry_run { 0 } else { 450_000_000 },
        cache: Some(CachePlan {
            deleted: vec![CacheFile {
                project: "web-3f2a1b9c".into(),
                file: "9e1c.sh".into(),
                size_bytes: 1_500,
            }],
            bytes_freed: if dry_run { 0 } else { 1_500 },
            grace_seconds: 3600,
            orphaned_files: 1,
            orphaned_bytes: 1_500,
            recent_files: 1,
            recent_bytes: 300,
            referenced_files: 12,
            dangling: vec![CacheLink {
                project: "web-3f2a1b9c".into(),
                run: "1690000100".into(),
                task: "build".into(),
                link: "script.sh".into(),
                target: "../../../.cache/0d0e0f10.sh".into(),
            }],
            outside: Vec::new(),
        }),
        history: None,
        otto_db: Vec::new(),
        held: Vec::new(),
        allow: None,
    }
}

/// A clean of the run history alone (`clean --backend sqlite`).
pub fn history_clean(dry_run: bool) -> CleanPlan {
    CleanPlan {
        dry_run,
        history: Some(otto_hooks_plugin_api::report::HistoryExpiry {
            storage: "storage.sqlite".into(),
            retention_days: 90,
            cutoff: "2026-08-24T00:00:00Z".into(),
            runs: 2,
            events: 81,
            bytes_freed: if dry_run { 0 } else { 40_960 },
            run_ids: vec![
                "run_20260101_000000_aaaa".into(),
                "run_20260102_000000_bbbb".into(),
            ],
        }),
        ..CleanPlan::default()
    }
}

pub fn run_summary() -> RunSummary {
    RunSummary {
        project: "web-3f2a1b9c".into(),
        run: "run_20231114_221320_ab12".into(),
        status: RunStatus::Failed,
        started_at: Some("2023-11-14T22:13:20Z".into()),
        ended_at: "2023-11-14T23:18:20Z".into(),
        duration_seconds: Some(3900.0),
        completed_units: Some(10),
        failed_units: Some(1),
        blocked_units: Some(2),
        error: Some("unit `db` failed".into()),
        warnings: vec!["reporter `slack` failed: connection refused".into()],
    }
}

pub fn plugin_list() -> Vec<PluginEntry> {
    let builtin = |name: &str| PluginEntry {
        name: name.into(),
        kind: PluginKind::Reporter,
        version: "0.1.0".into(),
        abi: "1.0".into(),
        source: "built-in".into(),
        state: "ok".into(),
        description: String::new(),
        offers: vec!["render".into()],
    };
    vec![
        builtin("table"),
        builtin("json"),
        PluginEntry {
            name: "weekday".into(),
            kind: PluginKind::Retention,
            version: "2.1.0".into(),
            abi: "2.0".into(),
            source: "/home/alice/.otto-hooks/plugins/libweekday.so".into(),
            state: "refused: built for plugin ABI 2.0, this host supports 1.0 to 1.0".into(),
            description: "Keeps one run per weekday.".into(),
            offers: vec![],
        },
    ]
}

pub fn config() -> ConfigReport {
    let value = |key: &str, value: &str, source: &str| ConfigValue {
        key: key.into(),
        value: value.into(),
        source: source.into(),
    };
    ConfigReport {
        files: vec![
            "/home/alice/.otto-hooks/config.toml".into(),
            "/home/alice/src/web/.otto-hooks.toml".into(),
        ],
        values: vec![
            value("retention.plugin", "\"standard\"", "default"),
            value(
                "retention.settings.keep_last",
                "10",
                "/home/alice/.otto-hooks/config.toml:4",
            ),
            value("reporter", "\"markdown\"", "env OTTO_HOOKS_REPORTER"),
        ],
    }
}
