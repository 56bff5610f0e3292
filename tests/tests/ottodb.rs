//! End-to-end: otto's home after otto-hooks ran on it. A read-only command
//! leaves `$OTTO_HOME` as it found it (no `otto.db-wal`/`-shm`, no trash);
//! a clean leaves only its deletions, and otto.db lists exactly the runs
//! left on disk (the rows of the deleted runs go with them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use otto_hooks_tests::otto_home::{ProjectHandle, RowStatus, RunHandle, TaskSpec, sha256_hex};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use rusqlite::Connection;
use serde_json::Value;

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A run `days` days old with two tasks.
fn aged(p: &ProjectHandle, days: u64) -> RunHandle {
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .task("test", TaskSpec::ok().stdout("ok\n"))
        .write()
}

/// One entry of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    size: u64,
    mtime_ns: i128,
    /// sha256 of a file, a symlink's target.
    content: String,
}

/// Every entry under `root` (symlinks not followed), by relative path. The
/// root directory itself is not an entry: SQLite creating and removing its
/// `-wal`/`-shm` (for any reader, otto's too) changes its mtime.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let (kind, content) = if ft.is_symlink() {
                (
                    "symlink",
                    std::fs::read_link(&path).unwrap().display().to_string(),
                )
            } else if ft.is_dir() {
                ("dir", String::new())
            } else {
                ("file", sha256_hex(&std::fs::read(&path).unwrap()))
            };
            let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            out.insert(
                path.strip_prefix(root).unwrap().to_path_buf(),
                Entry {
                    kind,
                    size: if ft.is_dir() { 0 } else { meta.len() },
                    mtime_ns,
                    content,
                },
            );
            if ft.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What changed between two snapshots: (added, removed, changed) paths.
fn diff(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let added = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let changed = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k.clone())
        .collect();
    (added, removed, changed)
}

/// Runs otto-hooks and returns (exit code, stdout, stderr).
fn run(w: &OttoWorld, args: &[&str]) -> (i32, String, String) {
    let out = w.run(args);
    (
        out.status.code().unwrap(),
        text(&out.stdout).to_string(),
        text(&out.stderr).to_string(),
    )
}

/// `clean --json ARGS`: (exit code, document, stderr).
fn clean(w: &OttoWorld, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["clean", "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(w, &args);
    let doc =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}{stderr}"));
    (code, doc, stderr)
}

/// The run directories otto.db lists (`otto History`): `run_dir`, or for a
/// pre-v5 row `<ts>` with its id.
fn history(db: &Path) -> Vec<(i64, Option<String>, i64)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, run_dir, timestamp FROM runs ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// A world with two projects, rows (v5 and pre-v5), a run without a row,
/// and same-second runs; otto's connection closed (no -wal/-shm).
struct Fixture {
    w: OttoWorld,
    old: Vec<RunHandle>,
    new: Vec<RunHandle>,
}

fn fixture() -> Fixture {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    let ts = now() - 60 * DAY;
    let same0 = web.run(ts).task("build", TaskSpec::ok()).write();
    let same1 = web.run(ts).suffix(1).task("build", TaskSpec::ok()).write();
    let old_web = aged(&web, 50);
    let old_api = aged(&api, 45);
    let no_row = aged(&api, 40);
    let new_web = [aged(&web, 1), aged(&web, 2), aged(&web, 3)];
    let new_api = [aged(&api, 1), aged(&api, 2), aged(&api, 3)];
    {
        let db = w.otto.db();
        db.row_pre_v5(&same0, RowStatus::Success);
        db.row_pre_v5(&same1, RowStatus::Success);
        db.row(&old_web, RowStatus::Success);
        db.row(&old_api, RowStatus::Failed);
        for r in new_web.iter().chain(&new_api) {
            db.row(r, RowStatus::Success);
        }
    }
    let db = w.otto.db_path();
    assert!(!PathBuf::from(format!("{}-wal", db.display())).exists());
    assert!(!PathBuf::from(format!("{}-shm", db.display())).exists());
    Fixture {
        old: vec![same0, same1, old_web, old_api, no_row],
        new: new_web.into_iter().chain(new_api).collect(),
        w,
    }
}

const KEEP: [&str; 6] = ["--keep", "30", "--keep-last", "0", "--keep-failed", "30"];

#[test]
fn read_only_commands_leave_otto_home_byte_for_byte_as_they_found_it() {
    let f = fixture();
    let w = &f.w;
    let one = format!("{}/{}", f.new[0].project.dir_name(), f.new[0].id);
    let before = snapshot(w.otto.root());
    let commands: Vec<Vec<&str>> = vec![
        vec!["list", "--json"],
        vec!["list"],
        vec!["info", &one, "--json"],
        vec!["usage", "--json"],
        vec!["why", &one, "--json"],
        [&["clean", "--dry-run", "--json"][..], &KEEP].concat(),
        [&["clean", "--dry-run", "--prune-rows"][..], &KEEP].concat(),
        [&["run-policies", "--dry-run", "--json"][..], &KEEP].concat(),
    ];
    for args in commands {
        let (code, _, stderr) = run(w, &args);
        assert!(code == 0 || code == 1, "{args:?}: {stderr}");
        let after = snapshot(w.otto.root());
        let (added, removed, changed) = diff(&before, &after);
        assert!(
            added.is_empty() && removed.is_empty() && changed.is_empty(),
            "{args:?} changed otto's home: added {added:?}, removed {removed:?}, changed {changed:?}"
        );
    }
}

#[test]
fn a_read_while_otto_has_the_database_open_removes_none_of_its_files() {
    let f = fixture();
    let w = &f.w;
    // otto is running: its connection is open, with a write not yet
    // checkpointed in its -wal.
    let otto = w.otto.db();
    otto.connection()
        .execute("UPDATE projects SET last_seen = last_seen + 1", [])
        .unwrap();
    let db = w.otto.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let shm = PathBuf::from(format!("{}-shm", db.display()));
    assert!(wal.exists() && shm.exists());
    let wal_before = std::fs::read(&wal).unwrap();
    let db_before = std::fs::read(&db).unwrap();
    for args in [
        vec!["list", "--json"],
        [&["clean", "--dry-run", "--json"][..], &KEEP].concat(),
    ] {
        let (code, _, stderr) = run(w, &args);
        assert!(code == 0 || code == 1, "{args:?}: {stderr}");
        assert!(
            wal.exists() && shm.exists(),
            "{args:?} removed otto's -wal/-shm"
        );
        assert_eq!(std::fs::read(&wal).unwrap(), wal_before, "{args:?}");
        assert_eq!(std::fs::read(&db).unwrap(), db_before, "{args:?}");
    }
    drop(otto);
}

#[test]
fn a_clean_leaves_only_its_deletions_and_otto_history_lists_exactly_the_runs_left() {
    let f = fixture();
    let w = &f.w;
    let db = w.otto.db_path();
    let tasks_before = count(&db, "SELECT COUNT(*) FROM tasks");
    let before = snapshot(w.otto.root());
    let (code, doc, stderr) = clean(w, &[&KEEP[..], &["--force", "--yes"]].concat());
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    let after = snapshot(w.otto.root());
    let (added, removed, changed) = diff(&before, &after);
    assert!(added.is_empty(), "added: {added:?}");
    let root = w.otto.root();
    // Removed: exactly the old runs' trees.
    for p in &removed {
        assert!(
            f.old.iter().any(|r| root.join(p).starts_with(&r.dir)),
            "{p:?} removed but not part of a deleted run"
        );
    }
    for r in &f.old {
        assert!(!r.dir.exists(), "{} kept", r.dir.display());
        assert!(removed.contains(&r.dir.strip_prefix(root).unwrap().to_path_buf()));
    }
    // Changed: otto.db (its rows) and the deleted runs' project directories.
    for p in &changed {
        let is_project = f.old.iter().any(|r| r.dir.parent() == Some(&root.join(p)));
        assert!(p == Path::new("otto.db") || is_project, "{p:?} changed");
    }
    // otto.db lists exactly the runs left on disk.
    let mut listed: Vec<String> = history(&db)
        .into_iter()
        .map(|(_, dir, _)| dir.expect("a pre-v5 row of a deleted run stayed"))
        .collect();
    listed.sort();
    let mut left: Vec<String> = f.new.iter().map(|r| r.dir.display().to_string()).collect();
    left.sort();
    assert_eq!(listed, left);
    // Their tasks went with them (2 per new run remain).
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM tasks WHERE run_id NOT IN (SELECT id FROM runs)"
        ),
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tasks"), 2 * 6);
    assert!(tasks_before > 12);
    // The JSON names the rows that went: 4 (the run without a row has none).
    let rows = doc["otto_db"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{doc:#}");
}

#[test]
fn same_second_pre_v5_rows_are_matched_by_their_order_and_never_shifted() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let ts = now() - 60 * DAY;
    let first = web.run(ts).task("build", TaskSpec::ok()).write();
    let second = web
        .run(ts)
        .suffix(1)
        .task("build", TaskSpec::failed("boom"))
        .write();
    let keep = [aged(&web, 1), aged(&web, 2)];
    let (id_first, id_second) = {
        let db = w.otto.db();
        let a = db.row_pre_v5(&first, RowStatus::Success);
        let b = db.row_pre_v5(&second, RowStatus::Failed);
        for r in &keep {
            db.row(r, RowStatus::Success);
        }
        (a, b)
    };
    // `<ts>-1` is newer than `<ts>`: --keep-last 3 keeps it and deletes `<ts>`.
    let (code, doc, stderr) = clean(&w, &["--keep", "30", "--keep-last", "3", "--yes"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert!(!first.dir.exists() && second.dir.exists());
    // Rows without run_dir are placed by their order in their second:
    // deleting the first would move `<ts>-1` onto the row of `<ts>`-… and
    // its status with it. The first row stays while a later one remains.
    let ids: Vec<i64> = history(&w.otto.db_path()).iter().map(|r| r.0).collect();
    assert!(ids.contains(&id_first), "{ids:?}");
    assert!(ids.contains(&id_second), "{ids:?}");
    let (code, info, stderr) = run(
        &w,
        &[
            "info",
            &format!("{}/{}", web.dir_name(), second.id),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["status"], "failed", "{info:#}");
    assert_eq!(info["status_source"], "otto.db", "{info:#}");
    // Neither row is an orphan: nothing for --prune-rows to take.
    let (code, doc, stderr) = clean(
        &w,
        &[
            "--prune-rows",
            "--keep",
            "30",
            "--keep-last",
            "3",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(
        doc["otto_db"][0]["orphan_rows"],
        serde_json::json!([]),
        "{doc:#}"
    );
    // When the later run goes too, both rows go (the first as an orphan).
    std::fs::remove_dir_all(&second.dir).unwrap();
    let (code, doc, stderr) = clean(
        &w,
        &["--prune-rows", "--keep", "30", "--keep-last", "3", "--yes"],
    );
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    let ids: Vec<i64> = history(&w.otto.db_path()).iter().map(|r| r.0).collect();
    assert!(!ids.contains(&id_second), "{ids:?}");
}

#[test]
fn a_dry_run_names_the_rows_that_would_go_and_writes_nothing() {
    let f = fixture();
    let w = &f.w;
    let db = w.otto.db_path();
    let rows_before = history(&db);
    let (code, doc, stderr) = clean(w, &[&KEEP[..], &["--force", "--dry-run"]].concat());
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    let rows = doc["otto_db"][0]["rows"].as_array().unwrap();
    let mut planned: Vec<String> = rows
        .iter()
        .map(|r| r["run"].as_str().unwrap().to_owned())
        .collect();
    planned.sort();
    let mut expected: Vec<String> = f.old[..4].iter().map(|r| r.id.clone()).collect();
    expected.sort();
    assert_eq!(planned, expected, "{doc:#}");
    assert_eq!(doc["otto_db"][0]["schema_version"], 5);
    assert_eq!(history(&db), rows_before);
    let (_, table, _) = run(w, &[&["clean", "--dry-run", "--force"][..], &KEEP].concat());
    assert!(
        table.contains("would delete 4 rows with the runs"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{}/{}", f.old[2].project.dir_name(), f.old[2].id)),
        "{table}"
    );
}

#[test]
fn an_unknown_schema_gets_a_one_line_warning_and_no_write() {
    let f = fixture();
    let w = &f.w;
    let db = w.otto.db_path();
    Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (6, 1800000000)",
            [],
        )
        .unwrap();
    let rows_before = history(&db);
    let (code, doc, stderr) = clean(w, &[&KEEP[..], &["--force", "--yes"]].concat());
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("schema version 6"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(history(&db), rows_before, "a row was written");
    assert!(
        doc["otto_db"][0]["not_written"]
            .as_str()
            .unwrap()
            .contains('6')
    );
    // The directories went, as documented (RETENTION.md, "otto.db").
    assert!(f.old.iter().all(|r| !r.dir.exists()));
}

#[test]
fn while_otto_holds_the_write_lock_no_row_and_no_run_goes() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let old = aged(&web, 40);
    let keep = [aged(&web, 1), aged(&web, 2)];
    let otto = w.otto.db();
    otto.row(&old, RowStatus::Success);
    for r in &keep {
        otto.row(r, RowStatus::Success);
    }
    // otto is writing: it holds the write lock for longer than 5 s.
    otto.connection().execute_batch("BEGIN IMMEDIATE").unwrap();
    let (code, doc, stderr) = clean(&w, &["--keep", "30", "--keep-last", "0", "--yes"]);
    otto.connection().execute_batch("ROLLBACK").unwrap();
    assert_eq!(code, 1, "{doc:#}\n{stderr}");
    assert!(old.dir.exists(), "the run went without its row");
    assert_eq!(history(&w.otto.db_path()).len(), 3);
    let refused = doc["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{doc:#}");
    let error = refused[0]["error"].as_str().unwrap();
    assert!(error.contains("locked") && !error.contains('\n'), "{error}");
    assert!(!w.otto.root().join(".otto-hooks-trash").exists());
    drop(otto);
}

#[test]
fn rows_whose_directory_is_gone_are_reported_and_pruned_only_on_request() {
    let f = fixture();
    let w = &f.w;
    let db = w.otto.db_path();
    // otto's directory went by hand; its row stayed.
    let gone = &f.new[3];
    std::fs::remove_dir_all(&gone.dir).unwrap();
    let usage = w.json(&["usage", "--json"]);
    let recs = usage["recommendations"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|r| r["command"] == "otto-hooks clean --prune-rows"
                && r["message"].as_str().unwrap().contains("1 row")),
        "{usage:#}"
    );
    let (_, plan, _) = clean(w, &["--keep", "365", "--dry-run"]);
    let orphans = plan["otto_db"][0]["orphan_rows"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{plan:#}");
    assert_eq!(orphans[0]["run"], gone.id.as_str());
    assert_eq!(plan["otto_db"][0]["prune_orphans"], false);
    let n = history(&db).len();
    // Without --prune-rows a clean leaves it; a dry run with it too.
    let (_, dry, _) = clean(w, &["--keep", "365", "--dry-run", "--prune-rows"]);
    assert_eq!(dry["otto_db"][0]["prune_orphans"], true);
    assert_eq!(history(&db).len(), n);
    let (code, done, stderr) = clean(w, &["--keep", "365", "--prune-rows", "--yes"]);
    assert_eq!(code, 0, "{done:#}\n{stderr}");
    let left = history(&db);
    assert_eq!(left.len(), n - 1);
    let gone_dir = gone.dir.display().to_string();
    assert!(
        left.iter()
            .all(|(_, dir, _)| dir.as_deref() != Some(gone_dir.as_str()))
    );
    assert!(
        f.new
            .iter()
            .filter(|r| r.id != gone.id)
            .all(|r| r.dir.exists())
    );
}

#[test]
fn a_read_after_otto_ended_without_checkpointing_keeps_its_wal_and_leaves_otto_db_unwritten() {
    let f = fixture();
    let w = &f.w;
    let db = w.otto.db_path();
    // otto wrote and ended without its last close's checkpoint (killed, or
    // another otto had the database open): its -wal holds the write.
    {
        let otto = Connection::open(&db).unwrap();
        otto.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        otto.execute("UPDATE projects SET last_seen = last_seen + 1", [])
            .unwrap();
        otto.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
    }
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let before = snapshot(w.otto.root());
    for args in [
        vec!["list", "--json"],
        [&["clean", "--dry-run", "--json"][..], &KEEP].concat(),
    ] {
        let (code, _, stderr) = run(w, &args);
        assert!(code == 0 || code == 1, "{args:?}: {stderr}");
        let after = snapshot(w.otto.root());
        let (added, removed, changed) = diff(&before, &after);
        // The -shm is shared memory every reader maps (otto's too): only
        // otto.db and its -wal must be as they were.
        let changed: Vec<_> = changed
            .into_iter()
            .filter(|p| p != Path::new("otto.db-shm"))
            .collect();
        assert!(
            added.is_empty() && removed.is_empty() && changed.is_empty(),
            "{args:?}: added {added:?}, removed {removed:?}, changed {changed:?}"
        );
    }
}

#[test]
fn run_policies_deletes_the_rows_of_the_runs_it_deletes() {
    let f = fixture();
    let w = &f.w;
    let (code, stdout, stderr) = run(
        w,
        &[&["run-policies", "--json", "--force"][..], &KEEP].concat(),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        doc["otto_db"][0]["rows"].as_array().unwrap().len(),
        4,
        "{doc:#}"
    );
    let mut listed: Vec<String> = history(&w.otto.db_path())
        .into_iter()
        .map(|(_, dir, _)| dir.expect("a pre-v5 row of a deleted run stayed"))
        .collect();
    listed.sort();
    let mut left: Vec<String> = f.new.iter().map(|r| r.dir.display().to_string()).collect();
    left.sort();
    assert_eq!(listed, left);
    assert!(!w.otto.root().join(".otto-hooks-trash").exists());
}
