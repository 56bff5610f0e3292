//! The insight routes of the daemon (`/api/history/stats`, `tasks/{name}`,
//! `compare`, `flaky`) over real HTTP on 127.0.0.1, runs recorded through
//! the API into a real history.db; figures checked by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use otto_hooks_core::insights::flaky::flaky;
use otto_hooks_core::insights::recorded::{self, HistorySource};
use otto_hooks_core::insights::stats::{StatsQuery, stats};
use otto_hooks_core::insights::{Source, Window};
use serde_json::{Value, json};

#[path = "support/served.rs"]
mod served;
use served::Served as Daemon;

/// Recording runs through the API.
trait Record {
    /// Records a run whose units end as `units` says: (name, ok, seconds).
    fn run(&self, id: &str, start: &str, units: &[(&str, bool, u32)]);
}

impl Record for Daemon {
    fn run(&self, id: &str, start: &str, units: &[(&str, bool, u32)]) {
        let (status, r) = self.post(
            "/api/runs",
            &json!({"run_id": id, "repo_path": "/src/app", "started_at": start,
                    "parallelism": 2, "total_units": units.len()}),
        );
        assert_eq!(status, 201, "{r}");
        let t0 = chrono::DateTime::parse_from_rfc3339(start).unwrap();
        let mut events = Vec::new();
        for (unit, ok, secs) in units {
            events.push(json!({"time": start, "type": "unit.started", "unit": unit}));
            let end = (t0 + chrono::Duration::seconds(i64::from(*secs))).to_rfc3339();
            events.push(if *ok {
                json!({"time": end, "type": "unit.completed", "unit": unit})
            } else {
                json!({"time": end, "type": "unit.failed", "unit": unit,
                       "payload": {"exit_code": 2}})
            });
        }
        let (status, r) = self.post(
            &format!("/api/runs/{id}/events"),
            &json!({ "events": events }),
        );
        assert_eq!(status, 200, "{r}");
        let failed = units.iter().any(|u| !u.1);
        let (status, r) = self.post(
            &format!("/api/runs/{id}/complete"),
            &json!({"status": if failed { "failed" } else { "completed" }}),
        );
        assert_eq!(status, 200, "{r}");
    }
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

fn three_runs(d: &Daemon) {
    d.run("run_a", &ago(3), &[("api", true, 30), ("web", true, 4)]);
    d.run("run_b", &ago(2), &[("api", false, 10), ("web", true, 6)]);
    d.run("run_c", &ago(1), &[("api", true, 20), ("web", true, 8)]);
}

#[test]
fn the_insight_routes_answer_what_the_commands_answer() {
    let d = Daemon::start();
    three_runs(&d);

    let (status, stats) = d.get("/api/history/stats?since=7d&trend=true");
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["source"], "history.db");
    assert_eq!(stats["runs"]["total"], 3);
    assert_eq!(stats["runs"]["failed"], 1);
    assert_eq!(stats["tasks"]["total"], 6);
    let api = stats["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "api")
        .unwrap();
    // 30, 10, 20 → p50 20; the failure counts: 2 of 3.
    assert_eq!(api["p50_seconds"], 20.0);
    assert_eq!(api["failed"], 1);
    assert_eq!(api["series"].as_array().unwrap().len(), 20);
    assert_eq!(stats["previous"]["runs"]["total"], 0);

    let (status, h) = d.get("/api/history/tasks/api?status=failed");
    assert_eq!(status, 200, "{h}");
    let runs: Vec<&str> = h["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["run"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["run_b"]);
    assert_eq!(h["executions"][0]["exit_code"], 2);
    let (_, all) = d.get("/api/history/tasks/web?limit=2");
    let runs: Vec<&str> = all["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["run"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["run_c", "run_b"], "newest first");

    let (status, c) = d.get("/api/history/compare?a=run_a&b=run_b");
    assert_eq!(status, 200, "{c}");
    let api = c["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "api")
        .unwrap();
    assert_eq!(api["status_changed"], true);
    assert_eq!(api["duration_delta_seconds"], -20.0);
    // web: 4 s → 6 s is 2 s and 50 %: beyond noise.
    assert!(
        c["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task"] == "web" && t["duration_changed"] == true)
    );

    let (status, f) = d.get("/api/history/flaky?since=30d");
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["tasks"][0]["task"], "api");
    assert_eq!(f["tasks"][0]["flips"], 2);
    assert_eq!(f["tasks"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_or_unknown_parameters_are_400_and_unknown_names_404() {
    let d = Daemon::start();
    three_runs(&d);
    for (path, status, code) in [
        ("/api/history/stats?offset=3", 400, "INVALID_PARAM"),
        ("/api/history/stats?since=30x", 400, "INVALID_PARAM"),
        ("/api/history/stats?trend=maybe", 400, "INVALID_PARAM"),
        ("/api/history/flaky?limit=3", 400, "INVALID_PARAM"),
        ("/api/history/tasks/api?status=green", 400, "INVALID_PARAM"),
        ("/api/history/tasks/api?limit=0", 400, "INVALID_PARAM"),
        ("/api/history/compare?a=run_a", 400, "MISSING_PARAM"),
        ("/api/history/tasks/aip", 404, "NOT_FOUND"),
        ("/api/history/stats?task=wbe", 404, "NOT_FOUND"),
        ("/api/history/compare?a=run_a&b=run_zzz", 404, "NOT_FOUND"),
        ("/api/history/flaky?project=/src/nope", 404, "NOT_FOUND"),
    ] {
        let (got, body) = d.get(path);
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    let (_, body) = d.get("/api/history/tasks/aip");
    assert!(body["error"].as_str().unwrap().contains("`api`"), "{body}");
}

/// The insights cache directory the cached daemons are given.
fn cache_dir(home: &Path) -> PathBuf {
    home.join("hooks").join("insights")
}

/// What `stats --since all --trend` and `flaky --since all` answer over
/// history.db alone (no cache), read on a connection of the test's own.
fn uncached(db: &Path) -> (Value, Value) {
    let conn = recorded::open(db).unwrap();
    let source = HistorySource::new(&conn, db.display().to_string());
    // `to` a minute ahead: every run recorded is inside, as for the daemon.
    let now = chrono::Utc::now().timestamp() + 60;
    let window = Window::parse("all", now).unwrap();
    let query = StatsQuery {
        task: None,
        project: None,
        window: window.clone(),
        trend: true,
    };
    assert_eq!(source.kind(), "history.db");
    (
        without_window(serde_json::to_value(stats(&source, &query).unwrap()).unwrap()),
        without_window(serde_json::to_value(flaky(&source, None, &window).unwrap()).unwrap()),
    )
}

/// A document without its `window` (whose end is the moment of asking).
fn without_window(mut doc: Value) -> Value {
    doc.as_object_mut().unwrap().remove("window");
    doc
}

/// The daemon's `stats?since=all&trend=true` and `flaky?since=all`.
fn over_api(d: &Daemon) -> (Value, Value) {
    let (status, s) = d.get("/api/history/stats?since=all&trend=true");
    assert_eq!(status, 200, "{s}");
    let (status, f) = d.get("/api/history/flaky?since=all");
    assert_eq!(status, 200, "{f}");
    (without_window(s), without_window(f))
}

/// Runs spread over `days` days before now (one a day, from `first` on),
/// `api` failing every third one.
fn runs_over_days(d: &Daemon, prefix: &str, first: i64, days: i64) {
    for k in first..first + days {
        let ok = k % 3 != 0;
        d.run(
            &format!("{prefix}_{k}"),
            &ago(24 * k + 1),
            &[
                ("api", ok, 10 + k as u32),
                ("web", true, 3 + (k % 5) as u32),
            ],
        );
    }
}

/// The cache files under `dir`: `history-*.db` (and its `-wal`, `-shm`).
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The day blocks the cache file in `dir` holds.
fn cached_days(dir: &Path) -> Vec<i64> {
    let file = cache_files(dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a cache file");
    let conn = rusqlite::Connection::open(file).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut stmt = conn.prepare("SELECT day FROM days ORDER BY day").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_daemon_with_the_insights_cache_answers_as_history_db_alone_and_fills_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start_in(|o, home| o.insights_cache = Some(cache_dir(home)));
    let dir = cache_dir(d.dir());
    three_runs(&d);
    runs_over_days(&d, "old", 2, 6);

    let (s, f) = over_api(&d);
    assert_eq!((s.clone(), f.clone()), uncached(d.db_path()));
    assert_eq!(s["runs"]["total"], 9, "{s}");
    assert_eq!(s["source"], "history.db");

    // The cache is the CLI's kind of file: history-<hash>.db, 0600 (its
    // -wal and -shm too) in a 0700 directory.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    let files = cache_files(&dir);
    assert!(
        files.iter().any(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("history-") && name.ends_with(".db")
        }),
        "{files:?}"
    );
    for p in &files {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    // A block per UTC day with runs: today's (or yesterday's) and six more.
    let days = cached_days(&dir);
    assert!((7..=9).contains(&days.len()), "{days:?}");

    // New runs: today, and one on a day already cached (a run recorded
    // late). Both change their days' runs rows; the answers follow.
    d.run("new_today", &ago(0), &[("api", false, 7), ("web", true, 2)]);
    d.run(
        "late",
        &ago(24 * 4 + 3),
        &[("api", true, 50), ("db", false, 9)],
    );
    let (s2, f2) = over_api(&d);
    assert_eq!((s2.clone(), f2.clone()), uncached(d.db_path()));
    assert_eq!(s2["runs"]["total"], 11, "{s2}");
    assert_ne!(s2, s);
    assert_ne!(f2, f);

    // The answers do come from the blocks: a block made to lie (another
    // day's data under this day's fingerprint) shows in them.
    let file = cache_files(&dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let days = cached_days(&dir);
    let conn = rusqlite::Connection::open(file).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let changed = conn
        .execute(
            "UPDATE days SET data = (SELECT data FROM days WHERE day = ?1) WHERE day = ?2",
            [days[0], days[1]],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (lied, _) = over_api(&d);
    assert_ne!(lied, s2, "the daemon did not read the cache");
}

#[test]
fn warming_while_requests_and_writes_come_gives_the_answers_of_history_db_alone() {
    // Warming every 10 ms: the warmer fills while requests fill the same
    // cache (it starts empty), and again after each write.
    let d = Daemon::start_in(|o, home| {
        o.insights_cache = Some(cache_dir(home));
        o.insights_warm_every = Duration::from_millis(10);
    });
    let dir = cache_dir(d.dir());
    runs_over_days(&d, "a", 1, 20);
    for round in 0..3 {
        let want = uncached(d.db_path());
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..8 {
                            assert_eq!(over_api(&d), want, "round {round}");
                        }
                    })
                })
                .collect();
            for r in readers {
                r.join().unwrap();
            }
        });
        // Changes between rounds: new days, a late run on a cached day,
        // the cache removed under the daemon.
        match round {
            0 => runs_over_days(&d, "b", 21, 5),
            1 => {
                d.run(
                    "late",
                    &ago(24 * 3 + 5),
                    &[("api", false, 4), ("ui", true, 1)],
                );
                // Moved away at once (the warmer may be writing in it),
                // then deleted.
                let away = dir.with_extension("old");
                std::fs::rename(&dir, &away).unwrap();
                let _ = std::fs::remove_dir_all(&away);
            }
            _ => {}
        }
    }
    assert!(!cached_days(&dir).is_empty());
}
