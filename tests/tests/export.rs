//! End-to-end: `otto-hooks export` and `import --from` move runs between
//! otto homes and histories: a round trip lists identically, a second
//! import changes nothing, an existing different run is never overwritten,
//! and every unsafe or tampered archive is refused with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};

use otto_hooks_tests::hook_cli::HookWorld;
use otto_hooks_tests::otto_home::{RowStatus, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A world with two runs of `web` (tasks with dependencies, a Python task,
/// a failed one), both recorded in otto.db.
fn source() -> (OttoWorld, Vec<RunHandle>) {
    let w = OttoWorld::new();
    let web = w.project("web");
    let a = web
        .run(now() - 3 * DAY)
        .task(
            "build",
            TaskSpec::ok().stdout("built\n").output_json("{\"v\":1}"),
        )
        .task_with_deps("test", &["build"], TaskSpec::failed("boom\n").exit_code(3))
        .python_task("lint")
        .write();
    let b = web
        .run(now() - DAY)
        .task("check:db", TaskSpec::ok().stdout("ok\n"))
        .write();
    let db = w.otto.db();
    db.row(&a, RowStatus::Failed);
    db.row(&b, RowStatus::Success);
    (w, vec![a, b])
}

/// A world with an empty otto home that has an otto.db (otto made it).
fn destination() -> OttoWorld {
    let w = OttoWorld::new();
    std::fs::create_dir_all(w.otto.root()).unwrap();
    drop(w.otto.db());
    w
}

fn run_json(w: &OttoWorld, args: &[&str]) -> (i32, Value, String) {
    let out = w.run(args);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap(), doc, text(&out.stderr))
}

/// `list --json` / `info --json` of `w`, its otto home spelt `HOME`.
fn shown(w: &OttoWorld, args: &[&str]) -> String {
    let doc = w.json(args).to_string();
    doc.replace(w.otto.root().to_str().unwrap(), "HOME")
}

/// Every path under `dir`, sorted (to see that nothing was written).
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(items) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in items {
            let p = item.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_round_trip_lists_and_shows_the_runs_identically_and_a_second_import_changes_nothing() {
    let (src, runs) = source();
    let archive = src.dir.path().join("web.tar.zst");
    let names: Vec<String> = runs
        .iter()
        .map(|r| format!("{}/{}", src.project("web").dir_name(), r.id))
        .collect();
    let (code, exported, err) = run_json(
        &src,
        &[
            "export",
            &names[0],
            &names[1],
            "--output",
            archive.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported["runs"].as_array().unwrap().len(), 2);
    assert!(
        exported["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["rows"] == true),
        "{exported:#}"
    );
    assert_eq!(exported["sha256"].as_str().unwrap().len(), 64);

    let dst = destination();
    let (code, imported, err) = run_json(
        &dst,
        &["import", "--from", archive.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(imported["imported"], 2, "{imported:#}");
    for r in imported["runs"].as_array().unwrap() {
        assert_eq!(r["rows"], "imported", "{r:#}");
    }
    assert_eq!(
        shown(&src, &["list", "--json"]),
        shown(&dst, &["list", "--json"])
    );
    for name in &names {
        assert_eq!(
            shown(&src, &["info", name, "--json"]),
            shown(&dst, &["info", name, "--json"])
        );
    }
    // The script links resolve in the new home: the cache came along.
    let project = dst.otto.root().join(src.project("web").dir_name());
    let script = project.join(&runs[0].id).join("tasks/build/script.sh");
    assert!(std::fs::read_link(&script).unwrap().is_relative());
    assert!(
        std::fs::metadata(&script).unwrap().is_file(),
        "the link's target came too"
    );

    // Again: nothing changes, and it says so.
    let before = tree(dst.otto.root());
    let out = dst.run(&["import", "--from", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing changed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        tree(dst.otto.root()),
        before,
        "no staging or temporary file left either"
    );
    let (_, again, _) = run_json(
        &dst,
        &["import", "--from", archive.to_str().unwrap(), "--json"],
    );
    assert_eq!(again["unchanged"], 2);
    assert_eq!(again["imported"], 0);
    let rows: i64 = dst
        .otto
        .db()
        .connection()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2, "otto.db rows written once");
}

#[test]
fn an_existing_different_run_is_never_overwritten() {
    let (src, runs) = source();
    let archive = src.dir.path().join("web.tar.zst");
    let name = format!("{}/{}", src.project("web").dir_name(), runs[1].id);
    src.json(&["export", &name, "-o", archive.to_str().unwrap(), "--json"]);
    let dst = destination();
    let mine = dst
        .project("web")
        .run(runs[1].timestamp)
        .task("other", TaskSpec::ok().stdout("mine\n"))
        .write();
    let before = tree(&mine.dir);
    let (code, doc, err) = run_json(
        &dst,
        &["import", "--from", archive.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["conflicts"], 1, "{doc:#}");
    assert!(err.contains("not overwritten"), "{err}");
    assert_eq!(tree(&mine.dir), before);
    assert_eq!(
        std::fs::read_to_string(mine.dir.join("tasks/other/stdout.log")).unwrap(),
        "mine\n"
    );
}

#[test]
fn a_history_run_round_trips_with_its_events_and_imports_once() {
    let from = HookWorld::new();
    let repo = from.repo_arg();
    let id = "run_20250120_143052_a1b2";
    from.ok(&["hook", "run-start", "--repo", &repo, "--run-id", id]);
    let out = from.events(id, "{\"type\":\"unit.started\",\"unit\":\"api\"}\n{\"type\":\"unit.completed\",\"unit\":\"api\"}\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    from.ok(&["hook", "run-complete", "--run", id, "--status", "completed"]);
    let archive = from.dir.path().join("h.tar.zst");
    from.ok(&["export", id, "-o", archive.to_str().unwrap()]);

    let to = HookWorld::new();
    let doc: Value =
        serde_json::from_str(&to.ok(&["import", "--from", archive.to_str().unwrap(), "--json"]))
            .unwrap();
    assert_eq!(doc["imported"], 1, "{doc:#}");
    let events = |w: &HookWorld| w.ok(&["events", id, "--json"]);
    assert_eq!(events(&from), events(&to));
    // The same, but for where each history lives.
    let info = |w: &HookWorld| {
        w.ok(&["info", id, "--backend", "sqlite", "--json"])
            .replace(w.hooks_home().to_str().unwrap(), "HOOKS")
    };
    assert_eq!(info(&from), info(&to));
    let again: Value =
        serde_json::from_str(&to.ok(&["import", "--from", archive.to_str().unwrap(), "--json"]))
            .unwrap();
    assert_eq!(again["unchanged"], 1, "{again:#}");
}

/// A raw tar entry: `path` written into the header as is (no checks).
struct Raw<'a> {
    path: &'a [u8],
    kind: tar::EntryType,
    size: u64,
    link: Option<&'a [u8]>,
    data: &'a [u8],
}

fn raw_archive(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..e.path.len()].copy_from_slice(e.path);
        }
        h.set_entry_type(e.kind);
        h.set_size(e.size);
        h.set_mode(0o644);
        if let Some(link) = e.link {
            h.set_link_name_literal(link).unwrap();
        }
        h.set_cksum();
        builder.append(&h, e.data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    zstd::encode_all(&tar[..], 3).unwrap()
}

fn file<'a>(path: &'a [u8], data: &'a [u8]) -> Raw<'a> {
    Raw {
        path,
        kind: tar::EntryType::Regular,
        size: data.len() as u64,
        link: None,
        data,
    }
}

/// Imports `bytes` into a fresh world: refused, exit 2, one line, nothing
/// written anywhere.
fn assert_refused(bytes: &[u8], why: &str) {
    let dst = destination();
    let archive = dst.dir.path().join("evil.tar.zst");
    std::fs::write(&archive, bytes).unwrap();
    let home_before = tree(dst.otto.root());
    let hooks_before = tree(&dst.hooks_home());
    let out = dst.run(&["import", "--from", archive.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{why}: {err}");
    assert!(
        err.starts_with("error: archive refused") && err.contains(why),
        "{why}: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        tree(dst.otto.root()),
        home_before,
        "{why}: something was written"
    );
    assert_eq!(
        tree(&dst.hooks_home()),
        hooks_before,
        "{why}: something was written"
    );
    assert!(!dst.dir.path().join("etc").exists() && !Path::new("/tmp/otto-hooks-evil").exists());
}

const RUN: &[u8] = b"otto/web-6b20a2e4/1700000000";

#[test]
fn malicious_archives_are_refused_with_one_line_and_nothing_written() {
    let dir = Raw {
        path: RUN,
        kind: tar::EntryType::Directory,
        size: 0,
        link: None,
        data: b"",
    };
    let dir = || Raw { ..dir };
    assert_refused(
        &raw_archive(&[file(b"/tmp/otto-hooks-evil", b"x")]),
        "absolute path",
    );
    assert_refused(
        &raw_archive(&[
            dir(),
            file(b"otto/web-6b20a2e4/1700000000/../../../etc/x", b"x"),
        ]),
        "..",
    );
    let link = |target: &'static [u8]| Raw {
        path: b"otto/web-6b20a2e4/1700000000/tasks",
        kind: tar::EntryType::Symlink,
        size: 0,
        link: Some(target),
        data: b"",
    };
    assert_refused(&raw_archive(&[dir(), link(b"/etc")]), "points out");
    assert_refused(
        &raw_archive(&[dir(), link(b"../../../../etc")]),
        "points out",
    );
    assert_refused(
        &raw_archive(&[
            dir(),
            Raw {
                path: b"otto/web-6b20a2e4/1700000000/passwd",
                kind: tar::EntryType::Link,
                size: 0,
                link: Some(b"/etc/passwd"),
                data: b"",
            },
        ]),
        "hard link",
    );
    assert_refused(
        &raw_archive(&[
            dir(),
            Raw {
                path: b"otto/web-6b20a2e4/1700000000/big.log",
                kind: tar::EntryType::Regular,
                size: 1 << 40,
                link: None,
                data: b"",
            },
        ]),
        "more than",
    );
    assert_refused(
        &raw_archive(&[
            dir(),
            Raw {
                path: b"otto/web-6b20a2e4/1700000000/null",
                kind: tar::EntryType::Char,
                size: 0,
                link: None,
                data: b"",
            },
        ]),
        "device",
    );
    assert_refused(&raw_archive(&[dir()]), "no manifest");
    assert_refused(b"not an archive at all", "damaged");
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_written() {
    let (src, runs) = source();
    let archive = src.dir.path().join("web.tar.zst");
    let name = format!("{}/{}", src.project("web").dir_name(), runs[1].id);
    src.json(&["export", &name, "-o", archive.to_str().unwrap(), "--json"]);
    // Change one byte of one log inside the archive, manifest untouched.
    let mut tar = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(&archive).unwrap())
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar
        .windows(3)
        .position(|w| w == b"ok\n")
        .expect("the log's content");
    tar[at] = b'K';
    assert_refused(&zstd::encode_all(&tar[..], 3).unwrap(), "tampered");
}

#[test]
fn export_refuses_an_unknown_run_and_an_existing_output() {
    let (src, runs) = source();
    let out = src.run(&["export", "nope", "-o", "x.tar.zst"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no run"),
        "{}",
        text(&out.stderr)
    );
    let existing = src.dir.path().join("there.tar.zst");
    std::fs::write(&existing, "keep").unwrap();
    let out = src.run(&["export", &runs[0].id, "-o", existing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not overwritten"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep");
}

#[test]
fn a_live_run_is_not_exported() {
    let (src, runs) = source();
    let _live = runs[1].hold_lock();
    let archive = src.dir.path().join("live.tar.zst");
    let out = src.run(&["export", &runs[1].id, "-o", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is running"),
        "{}",
        text(&out.stderr)
    );
    assert!(!archive.exists());
    assert_eq!(
        std::fs::read_dir(src.dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial"))
            .count(),
        0,
        "no partial archive left"
    );
}

#[test]
fn import_never_writes_through_a_symlink_planted_as_a_project_or_its_cache() {
    let (src, runs) = source();
    let archive = src.dir.path().join("web.tar.zst");
    let name = format!("{}/{}", src.project("web").dir_name(), runs[1].id);
    src.json(&["export", &name, "-o", archive.to_str().unwrap(), "--json"]);
    for planted in ["project", "cache"] {
        let dst = destination();
        let outside = dst.dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let project = dst.otto.root().join(src.project("web").dir_name());
        match planted {
            "project" => std::os::unix::fs::symlink(&outside, &project).unwrap(),
            _ => {
                std::fs::create_dir(&project).unwrap();
                std::os::unix::fs::symlink(&outside, project.join(".cache")).unwrap();
            }
        }
        let out = dst.run(&["import", "--from", archive.to_str().unwrap()]);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{planted}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("not a directory"),
            "{planted}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{planted}: written through the link"
        );
    }
}

#[test]
fn importing_a_missing_archive_or_a_directory_is_a_one_line_usage_error() {
    let w = destination();
    let missing = w.hooks_home().join("nope.tar.zst");
    for (from, says) in [
        (missing.clone(), "cannot read"),
        (w.otto.root().to_path_buf(), "is not an archive file"),
    ] {
        let out = w.run(&["import", "--from", from.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{from:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(says) && err.trim_end().lines().count() == 1,
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}
