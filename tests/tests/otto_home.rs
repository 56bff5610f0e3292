//! The `$OTTO_HOME` builder (`otto_hooks_tests::otto_home`) writes exactly the
//! layout of `shared/docs/FORMATS.md`, and the `otto-fixture` generator is
//! deterministic and produces what it was asked for.

// Test code: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use otto_hooks_tests::PrivateDir;
use otto_hooks_tests::otto_home::{
    OttoDb, OttoHome, RowStatus, RunHandle, TaskSpec, lock_is_held, parse_project_dir,
    parse_run_dir, resolve_lexically, script_hash,
};
use rusqlite::{Connection, OpenFlags};
use rustix::fs::FlockOperation;
use sha2::{Digest, Sha256};

const TS: u64 = 1_795_342_500;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn mtime(path: &Path) -> u64 {
    fs::symlink_metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The cache file a relative script link resolves to, checked to be a real
/// file in the project's `.cache` whose name is the hash of its content.
fn check_script_link(run: &RunHandle, task: &str, ext: &str) -> PathBuf {
    let link = run.task_dir(task).join(format!("script.{ext}"));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let target = fs::read_link(&link).unwrap();
    let text = target.to_string_lossy().into_owned();
    let hash = text
        .strip_prefix("../../../.cache/")
        .and_then(|rest| rest.strip_suffix(&format!(".{ext}")))
        .unwrap_or_else(|| panic!("unexpected script link {text}"));
    assert_eq!(hash.len(), 8);
    assert!(hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    let resolved = resolve_lexically(link.parent().unwrap(), &target);
    assert_eq!(
        resolved,
        run.project.dir.join(".cache").join(format!("{hash}.{ext}"))
    );
    let meta = fs::symlink_metadata(&resolved).unwrap();
    assert!(
        meta.is_file(),
        "{} is not a regular file",
        resolved.display()
    );
    let content = fs::read_to_string(&resolved).unwrap();
    assert_eq!(&sha256(content.as_bytes())[..8], hash);
    assert_eq!(script_hash(&content), hash);
    assert_eq!(run.task(task).script_hash, hash);
    resolved
}

#[test]
fn the_home_and_project_directories_are_named_as_otto_names_them() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    assert_eq!(fs::read(home.root().join(".last_prune")).unwrap(), b"");
    assert!(home.root().join("backups").is_dir());

    let web = home.project("web", "/src/web");
    // sha256("/src/web") = 64ed103f...
    assert_eq!(web.hash, "64ed103f");
    assert_eq!(web.hash, &sha256(b"/src/web")[..8]);
    assert_eq!(web.dir, home.root().join("web-64ed103f"));
    assert!(web.dir.join(".cache").is_dir());
    assert_eq!(parse_project_dir("web-64ed103f"), Some(("web", "64ed103f")));

    // The name may contain '-': split on the LAST one. `otto-<hash>` is a project.
    let dashed = home.project("my-app", "/home/dev/my-app");
    let dashed_name = dashed
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        parse_project_dir(&dashed_name),
        Some(("my-app", &sha256(b"/home/dev/my-app")[..8]))
    );
    let otto = home.project("otto", "/src/otto");
    let otto_name = otto.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(parse_project_dir(&otto_name).unwrap().0, "otto");

    // The ottofile hash is of the CONTENT: not the directory hash.
    assert_eq!(web.ottofile, "/src/web/otto.yml");
    assert_eq!(web.ottofile_hash.len(), 64);
    assert!(!web.ottofile_hash.starts_with(&web.hash));
}

#[test]
fn a_current_run_has_exactly_the_documented_entries() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let r = p
        .run(TS)
        .task("build", TaskSpec::ok().stdout("compiled\n"))
        .task("check:db", TaskSpec::failed("boom\n"))
        .task_with_deps("test", &["build"], TaskSpec::ok().output_env("X=1\n"))
        .write();

    assert_eq!(r.id, TS.to_string());
    assert_eq!(r.dir, p.dir.join(TS.to_string()));
    assert_eq!(parse_run_dir(&r.id), Some((TS, None)));
    assert_eq!(names(&r.dir), set(&[".lock", "run.yaml", "tasks"]));
    let lock = fs::symlink_metadata(r.lock_path()).unwrap();
    assert!(lock.is_file());
    assert_eq!(lock.len(), 0, ".lock is empty");
    assert_eq!(mtime(&r.dir), TS, "a run directory's mtime is its start");
    assert_eq!(
        names(&r.dir.join("tasks")),
        set(&["build", "check:db", "test"])
    );

    let build = r.task_dir("build");
    assert_eq!(
        names(&build),
        set(&[
            "stdout.log",
            "stderr.log",
            "builtins.sh",
            "script.sh",
            "output.build.json",
            "output.build.env",
        ])
    );
    assert_eq!(
        fs::read_to_string(build.join("stdout.log")).unwrap(),
        "compiled\n"
    );
    assert_eq!(fs::read_to_string(build.join("stderr.log")).unwrap(), "");
    assert_eq!(
        fs::read_to_string(build.join("output.build.json")).unwrap(),
        "{}"
    );
    assert_eq!(
        fs::read_to_string(build.join("output.build.env")).unwrap(),
        ""
    );
    assert!(
        !fs::read_to_string(build.join("builtins.sh"))
            .unwrap()
            .is_empty()
    );

    let check = r.task_dir("check:db");
    assert_eq!(
        fs::read_to_string(check.join("stderr.log")).unwrap(),
        "boom\n"
    );
    // A failed task never reaches the epilogue: no output file (otto's
    // scheduler writes `output.<task>.json` only after a 0 exit).
    assert!(!check.join("output.check:db.json").exists());
    assert!(!check.join("output.check:db.env").exists());
    assert!(check.join("builtins.sh").is_file());
    assert!(r.task("check:db").is_failed());

    let test = r.task_dir("test");
    assert_eq!(
        names(&test),
        set(&[
            "stdout.log",
            "stderr.log",
            "builtins.sh",
            "script.sh",
            "output.test.json",
            "output.test.env",
            "input.build.json",
            "input.build.env",
        ])
    );
    let input = test.join("input.build.json");
    assert!(
        fs::symlink_metadata(&input)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&input).unwrap(),
        PathBuf::from("../build/output.build.json")
    );
    assert_eq!(
        resolve_lexically(&test, &fs::read_link(&input).unwrap()),
        build.join("output.build.json")
    );
    assert_eq!(fs::read_to_string(&input).unwrap(), "{}");
    assert_eq!(
        fs::read_to_string(test.join("input.build.env")).unwrap(),
        ""
    );

    // Every script link is relative and lands on a cache file named by its hash.
    let mut caches = BTreeSet::new();
    for task in ["build", "check:db", "test"] {
        caches.insert(check_script_link(&r, task, "sh"));
    }
    assert_eq!(caches.len(), 3, "different scripts, different cache files");
    assert_eq!(r.status(), RowStatus::Failed);
}

#[test]
fn run_yaml_is_what_otto_writes() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let r = p.run(TS).task("build", TaskSpec::ok()).write();
    let expected = format!(
        "prog: otto\ncwd: /src/web\nuser: dev\ntimestamp: {TS}\nhash: {}\nottofile: /src/web/otto.yml\nargs:\n- otto\n- ci\n",
        p.ottofile_hash
    );
    assert_eq!(fs::read_to_string(r.run_yaml_path()).unwrap(), expected);

    let r2 = p
        .run(TS + 1)
        .user("alice")
        .args(&["otto", "check:db", "true"])
        .write();
    let yaml = fs::read_to_string(r2.run_yaml_path()).unwrap();
    assert!(yaml.contains("user: alice\n"));
    assert!(
        yaml.ends_with("args:\n- otto\n- check:db\n- 'true'\n"),
        "{yaml}"
    );
    assert!(names(&r2.dir.join("tasks")).is_empty());
}

#[test]
fn same_second_runs_get_a_suffix_and_share_the_cache() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let first = p.run(TS).task("build", TaskSpec::ok()).write();
    let second = p.run(TS).suffix(1).task("build", TaskSpec::ok()).write();
    let third = p.run(TS).suffix(2).task("build", TaskSpec::ok()).write();
    assert_eq!(second.id, format!("{TS}-1"));
    assert_eq!(third.id, format!("{TS}-2"));
    assert_eq!(parse_run_dir(&second.id), Some((TS, Some(1))));
    for r in [&first, &second, &third] {
        assert!(r.dir.is_dir());
        assert_eq!(r.timestamp, TS);
    }
    let a = check_script_link(&first, "build", "sh");
    let b = check_script_link(&second, "build", "sh");
    assert_eq!(a, b, "one script, one cache file");
    assert_eq!(names(&p.dir.join(".cache")).len(), 1);

    // The same second again without a suffix is refused, not merged.
    let again = std::panic::catch_unwind(|| p.run(TS).write());
    assert!(again.is_err());
}

#[test]
fn legacy_runs_have_no_lock_and_older_script_links() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");

    let legacy = p.run(TS).legacy().task("build", TaskSpec::ok()).write();
    assert!(!legacy.lock_path().exists());
    assert_eq!(names(&legacy.dir), set(&["run.yaml", "tasks"]));
    let link = legacy.task_dir("build").join("script.sh");
    let target = fs::read_link(&link).unwrap();
    assert!(target.is_absolute(), "legacy links are absolute");
    let hash = &legacy.task("build").script_hash;
    assert_eq!(target, p.dir.join(".cache").join(format!("{hash}.sh")));
    assert!(fs::symlink_metadata(&target).unwrap().is_file());

    let older = p
        .run(TS + 10)
        .legacy_task_cache()
        .task("check:db", TaskSpec::ok())
        .write();
    assert!(!older.lock_path().exists());
    let link = older.task_dir("check:db").join("script.sh");
    let target = fs::read_link(&link).unwrap();
    let hash = &older.task("check:db").script_hash;
    assert_eq!(
        target,
        PathBuf::from(format!("../../../.cache/check:db/{hash}"))
    );
    let resolved = resolve_lexically(link.parent().unwrap(), &target);
    assert_eq!(resolved, p.dir.join(".cache").join("check:db").join(hash));
    let content = fs::read_to_string(&resolved).unwrap();
    assert_eq!(&sha256(content.as_bytes())[..8], hash.as_str());

    // A current run with its lock gone (a dead run) keeps the current links.
    let dead = p
        .run(TS + 20)
        .without_lock()
        .task("build", TaskSpec::ok())
        .write();
    assert!(!dead.lock_path().exists());
    check_script_link(&dead, "build", "sh");
}

#[test]
fn python_tasks_pinned_runs_and_orphan_cache_files() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let r = p
        .run(TS)
        .python_task("lint")
        .task("build", TaskSpec::ok())
        .pinned()
        .write();
    assert!(!r.task_dir("lint").join("script.sh").exists());
    let cache = check_script_link(&r, "lint", "py");
    assert!(
        fs::read_to_string(cache)
            .unwrap()
            .starts_with("#!/usr/bin/env python3\n")
    );
    let keep = fs::symlink_metadata(r.dir.join(".keep")).unwrap();
    assert!(keep.is_file());

    let orphan = p.orphan_cache_file("deadbeef.sh", b"echo orphan\n");
    assert_eq!(orphan, p.dir.join(".cache/deadbeef.sh"));
    assert_eq!(fs::read(&orphan).unwrap(), b"echo orphan\n");
    let referenced: BTreeSet<PathBuf> = r.tasks.iter().map(|t| t.cache_file.clone()).collect();
    assert!(!referenced.contains(&orphan));
    assert_eq!(names(&p.dir.join(".cache")).len(), 3);
}

fn probe(lock: &Path) -> rustix::io::Result<()> {
    // A fresh open: a new open file description, as another process has.
    let file = fs::File::open(lock).unwrap();
    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
}

#[test]
fn a_held_lock_is_seen_by_a_non_blocking_probe() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let r = p.run(TS).task("build", TaskSpec::ok()).write();

    assert!(
        probe(&r.lock_path()).is_ok(),
        "nobody holds a fresh run's lock"
    );
    assert!(!lock_is_held(&r.lock_path()));
    {
        let held = r.hold_lock();
        assert_eq!(held.path(), r.lock_path());
        assert_eq!(probe(&r.lock_path()), Err(rustix::io::Errno::WOULDBLOCK));
        assert!(lock_is_held(&r.lock_path()));
        assert_eq!(fs::metadata(r.lock_path()).unwrap().len(), 0);
    }
    assert!(
        probe(&r.lock_path()).is_ok(),
        "dropping the guard releases it"
    );

    // Holding never creates a .lock.
    let legacy = p.run(TS + 1).legacy().write();
    let attempt = std::panic::catch_unwind(|| legacy.hold_lock());
    assert!(attempt.is_err());
    assert!(!legacy.lock_path().exists());
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .unwrap();
    stmt.query_map([table], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn otto_db_has_schema_v5_and_rows_of_every_kind() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let p = home.project("web", "/src/web");
    let ok = p.run(TS).task("build", TaskSpec::ok().duration(5)).write();
    let twin = p.run(TS).suffix(1).task("build", TaskSpec::ok()).write();
    let bad = p
        .run(TS + 100)
        .task("build", TaskSpec::ok().duration(3))
        .task(
            "check:db",
            TaskSpec::failed("boom\n").exit_code(2).duration(4),
        )
        .write();
    let old = p
        .run(TS - 1000)
        .legacy()
        .task("build", TaskSpec::ok())
        .write();
    let stuck = p
        .run(TS + 200)
        .task("build", TaskSpec::ok())
        .task("test", TaskSpec::ok())
        .write();
    let orphan = p.run(TS + 300).task("build", TaskSpec::ok()).write();

    let db: OttoDb = home.db();
    let ok_id = db.row(&ok, RowStatus::Success);
    db.row(&twin, twin.status());
    db.row(&bad, bad.status());
    db.row_pre_v5(&old, RowStatus::Success);
    db.stuck_running(&stuck);
    assert!(ok_id > 0);

    // Read while the writer is still open (WAL).
    let conn = read_only(&home.db_path());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, vec![5]);
    assert_eq!(columns(&conn, "schema_version"), ["version", "applied_at"]);
    assert_eq!(
        columns(&conn, "projects"),
        [
            "id",
            "hash",
            "name",
            "ottofile_path",
            "first_seen",
            "last_seen",
            "run_count"
        ]
    );
    assert_eq!(
        columns(&conn, "runs"),
        [
            "id",
            "project_id",
            "timestamp",
            "status",
            "duration_seconds",
            "size_bytes",
            "ottofile_path",
            "cwd",
            "user",
            "hostname",
            "args",
            "ended_at",
            "run_dir"
        ]
    );
    assert_eq!(
        columns(&conn, "tasks"),
        [
            "id",
            "run_id",
            "name",
            "status",
            "script_hash",
            "exit_code",
            "started_at",
            "ended_at",
            "duration_seconds",
            "stdout_path",
            "stderr_path",
            "script_path",
            "skip_reason",
            "skip_kind"
        ]
    );

    // Matched by run_dir.
    let by_dir = |dir: &Path| -> Option<(i64, String, Option<i64>, Option<f64>)> {
        conn.query_row(
            "SELECT id, status, ended_at, duration_seconds FROM runs WHERE run_dir = ?1",
            [dir.to_string_lossy()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .ok()
    };
    let (id, status, ended, duration) = by_dir(&ok.dir).unwrap();
    assert_eq!((id, status.as_str()), (ok_id, "success"));
    assert_eq!(ended, Some(TS as i64 + 5));
    assert_eq!(duration, Some(5.0));
    assert_eq!(by_dir(&bad.dir).unwrap().1, "failed");
    let (_, status, ended, duration) = by_dir(&stuck.dir).unwrap();
    assert_eq!((status.as_str(), ended, duration), ("running", None, None));
    assert!(
        by_dir(&orphan.dir).is_none(),
        "an orphan directory has no row"
    );
    assert!(by_dir(&old.dir).is_none(), "a pre-v5 row has no run_dir");

    // Matched by (project, timestamp): timestamps are not unique.
    let at = |ts: u64| -> Vec<Option<String>> {
        conn.prepare(
            "SELECT r.run_dir FROM runs r JOIN projects p ON p.id = r.project_id
             WHERE p.hash = ?1 AND r.timestamp = ?2 ORDER BY r.id",
        )
        .unwrap()
        .query_map(rusqlite::params![p.ottofile_hash, ts as i64], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        at(TS),
        vec![
            Some(ok.dir.to_string_lossy().into_owned()),
            Some(twin.dir.to_string_lossy().into_owned())
        ]
    );
    assert_eq!(at(TS - 1000), vec![None]);

    let (hash, name, count, first, last): (String, String, i64, i64, i64) = conn
        .query_row(
            "SELECT hash, name, run_count, first_seen, last_seen FROM projects",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (hash, name.as_str(), count),
        (p.ottofile_hash.clone(), "web", 5)
    );
    assert_eq!((first, last), (TS as i64 - 1000, TS as i64 + 200));

    let (args, cwd, user, size): (String, String, String, i64) = conn
        .query_row(
            "SELECT args, cwd, user, size_bytes FROM runs WHERE id = ?1",
            [ok_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (args.as_str(), cwd.as_str(), user.as_str()),
        (r#"["otto","ci"]"#, "/src/web", "dev")
    );
    assert_eq!(size as u64, ok.size_bytes);

    let tasks_of = |dir: &Path| -> Vec<(String, String, Option<i64>, String)> {
        conn.prepare(
            "SELECT t.name, t.status, t.exit_code, t.script_hash FROM tasks t
             JOIN runs r ON r.id = t.run_id WHERE r.run_dir = ?1 ORDER BY t.id",
        )
        .unwrap()
        .query_map([dir.to_string_lossy()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let bad_tasks = tasks_of(&bad.dir);
    assert_eq!(
        bad_tasks,
        vec![
            (
                "build".into(),
                "completed".into(),
                Some(0),
                bad.task("build").script_hash.clone()
            ),
            (
                "check:db".into(),
                "failed".into(),
                Some(2),
                bad.task("check:db").script_hash.clone()
            ),
        ]
    );
    let stuck_tasks = tasks_of(&stuck.dir);
    assert_eq!(stuck_tasks[0].1, "completed");
    assert_eq!(
        (stuck_tasks[1].1.as_str(), stuck_tasks[1].2),
        ("running", None)
    );

    // A row at `running` for a run whose lock is held is not a stuck row.
    let live = p.run(TS + 400).task("build", TaskSpec::ok()).write();
    let _held = live.hold_lock();
    assert!(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.stuck_running(&live))).is_err()
    );
}

#[test]
fn symlinked_entries_point_outside_the_root() {
    let tmp = PrivateDir::new();
    let outside = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let root = fs::canonicalize(home.root()).unwrap();

    let evil = home.symlinked_project_to(&outside.path().join("victim-project"));
    let name = evil
        .link
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        parse_project_dir(&name).unwrap().0,
        "evil",
        "it looks like a project"
    );
    assert_eq!(evil.link.parent().unwrap(), home.root());
    assert!(
        fs::symlink_metadata(&evil.link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let resolved = fs::canonicalize(&evil.link).unwrap();
    assert_eq!(resolved, fs::canonicalize(&evil.target).unwrap());
    assert!(!resolved.starts_with(&root));
    assert!(evil.victim.is_file());
    assert!(
        evil.target.join("1600000000").is_dir(),
        "bait for a follower"
    );

    let p = home.project("web", "/src/web");
    let run_link = p.symlinked_run_to(&outside.path().join("victim-run"), TS);
    assert_eq!(run_link.link, p.dir.join(TS.to_string()));
    assert!(
        fs::symlink_metadata(&run_link.link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let resolved = fs::canonicalize(&run_link.link).unwrap();
    assert!(!resolved.starts_with(&root));
    assert!(run_link.victim.is_file());
    assert!(run_link.target.join("run.yaml").is_file());
}

#[test]
fn entries_that_are_not_projects_or_runs() {
    let tmp = PrivateDir::new();
    let home = OttoHome::new(tmp.path().join("otto"));
    let made = home.non_project_dirs();
    let made_names: BTreeSet<String> = made
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        made_names,
        set(&[
            "backups",
            "proj-ABCDEF12",
            "proj-abc123",
            "-6b20a2e4",
            "notes-xyz",
            "README"
        ])
    );
    for path in &made {
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(parse_project_dir(&name), None, "{name} is not a project");
    }
    assert!(home.root().join("README").is_file());
    assert!(home.root().join("proj-ABCDEF12/1600000000").is_dir());

    let p = home.project("web", "/src/web");
    let entries = p.non_run_entries();
    let entry_names: BTreeSet<String> = entries
        .iter()
        .map(|e| e.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entry_names,
        set(&[".cache", "notes", "17x", "1700000000-", "1700000001"])
    );
    for name in [".cache", "notes", "17x", "1700000000-"] {
        assert_eq!(parse_run_dir(name), None, "{name} is not a run name");
        assert!(p.dir.join(name).is_dir());
    }
    // Named like a run, but a file.
    assert_eq!(parse_run_dir("1700000001"), Some((1_700_000_001, None)));
    assert!(
        fs::symlink_metadata(p.dir.join("1700000001"))
            .unwrap()
            .is_file()
    );
}

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

const NOW: &str = "1790000000";

fn run_generator(root: &Path, seed: &str, jobs: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_otto-fixture"))
        .args(["gen", "--root"])
        .arg(root)
        .args([
            "--projects",
            "3",
            "--runs",
            "60",
            "--tasks",
            "3",
            "--with-db",
            "--seed",
            seed,
            "--now",
            NOW,
            "--stdout-bytes",
            "512",
            "--jobs",
            jobs,
        ])
        .bounded_output()
        .unwrap();
    assert!(
        out.status.success(),
        "otto-fixture failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every entry under `root` (otto.db* aside): relative path, kind, and a
/// digest of its content or link text (with `root` replaced).
fn manifest(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("otto.db") {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap().to_string_lossy().into_owned();
                let target = target.replace(&*root.to_string_lossy(), "$ROOT");
                out.push(format!("L {rel} -> {target}"));
            } else if meta.is_dir() {
                out.push(format!("D {rel}"));
                walk(root, &path, out);
            } else {
                out.push(format!("F {rel} {}", sha256(&fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn db_dump(root: &Path) -> Vec<String> {
    let conn = read_only(&root.join("otto.db"));
    let mut out = Vec::new();
    for sql in [
        "SELECT id, hash, name, ottofile_path, first_seen, last_seen, run_count FROM projects ORDER BY id",
        "SELECT id, project_id, timestamp, status, duration_seconds, size_bytes, ottofile_path, cwd,
                user, hostname, args, ended_at, run_dir FROM runs ORDER BY id",
        "SELECT * FROM tasks ORDER BY id",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                let mut cells = Vec::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = row.get(i)?;
                    cells.push(format!("{v:?}"));
                }
                Ok(cells.join("|"))
            })
            .unwrap();
        for row in rows {
            out.push(row.unwrap().replace(&*root.to_string_lossy(), "$ROOT"));
        }
    }
    out
}

#[test]
fn the_generator_is_deterministic_for_a_seed() {
    let tmp = PrivateDir::new();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let summary_a = run_generator(&a, "7", "1");
    let summary_b = run_generator(&b, "7", "3");
    run_generator(&c, "8", "1");
    let strip = |s: &str, root: &Path| {
        s.replace(&*root.to_string_lossy(), "$ROOT")
            .rsplit_once(" in ")
            .unwrap()
            .0
            .to_owned()
    };
    assert_eq!(strip(&summary_a, &a), strip(&summary_b, &b));
    let (ma, mb, mc) = (manifest(&a), manifest(&b), manifest(&c));
    assert!(ma.len() > 60 * 3 * 6);
    assert_eq!(
        ma, mb,
        "same seed, same tree (whatever the number of writers)"
    );
    assert_ne!(ma, mc, "another seed, another tree");
    assert_eq!(db_dump(&a), db_dump(&b), "same seed, same rows");
}

#[test]
fn the_generator_produces_the_requested_layout_and_counts() {
    let tmp = PrivateDir::new();
    let root = tmp.path().join("home");
    let summary = run_generator(&root, "3", "2");
    assert!(
        summary.starts_with("otto-fixture: 3 projects, 60 runs ("),
        "{summary}"
    );
    assert!(summary.contains(" 180 tasks,"), "{summary}");
    assert_eq!(summary.lines().count(), 1);

    assert_eq!(fs::read(root.join(".last_prune")).unwrap(), b"");
    assert!(root.join("backups").is_dir());
    let projects: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| parse_project_dir(&p.file_name().unwrap().to_string_lossy()).is_some())
        .collect();
    assert_eq!(projects.len(), 3);

    let (mut runs, mut suffixed, mut lockless) = (0, 0, 0);
    for project in &projects {
        let (_, hash) = {
            let name = project.file_name().unwrap().to_string_lossy().into_owned();
            let (n, h) = parse_project_dir(&name).unwrap();
            (n.to_owned(), h.to_owned())
        };
        let yaml_cwd = |run: &Path| {
            let yaml = fs::read_to_string(run.join("run.yaml")).unwrap();
            yaml.lines()
                .find_map(|l| l.strip_prefix("cwd: "))
                .unwrap()
                .to_owned()
        };
        let mut project_runs = 0;
        for entry in fs::read_dir(project).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some((_, suffix)) = parse_run_dir(&name) else {
                assert_eq!(
                    name, ".cache",
                    "only runs and the cache in a generated project"
                );
                continue;
            };
            assert!(path.is_dir());
            runs += 1;
            project_runs += 1;
            suffixed += usize::from(suffix.is_some());
            lockless += usize::from(!path.join(".lock").exists());
            assert_eq!(&sha256(yaml_cwd(&path).as_bytes())[..8], hash);
            let tasks = names(&path.join("tasks"));
            assert_eq!(tasks.len(), 3, "{}", path.display());
            for task in &tasks {
                let dir = path.join("tasks").join(task);
                let link = ["script.sh", "script.py"]
                    .iter()
                    .map(|s| dir.join(s))
                    .find(|l| fs::symlink_metadata(l).is_ok())
                    .unwrap();
                let target = fs::read_link(&link).unwrap();
                let resolved = resolve_lexically(&dir, &target);
                assert!(
                    resolved.starts_with(project.join(".cache")),
                    "{}",
                    resolved.display()
                );
                assert!(fs::symlink_metadata(&resolved).unwrap().is_file());
                for entry in fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if name.starts_with("input.") && name.ends_with(".json") {
                        let target = fs::read_link(&path).unwrap();
                        assert!(resolve_lexically(&dir, &target).is_file());
                    }
                }
            }
        }
        assert!(project_runs > 0, "every project has runs");
    }
    assert_eq!(runs, 60);
    assert!(suffixed > 0, "some same-second runs");
    assert!(lockless > 0, "some legacy runs");

    let conn = read_only(&root.join("otto.db"));
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5);
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert!(rows > 0 && rows <= 60, "{rows} rows");
    let tasks: i64 = conn
        .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tasks, rows * 3);

    // A non-empty root is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_otto-fixture"))
        .args(["gen", "--root"])
        .arg(&root)
        .args(["--runs", "1"])
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
