//! What a killed clean leaves in the trash — a run renamed into
//! `$OTTO_HOME/.otto-hooks-trash/`, not yet purged — is finished by the
//! next command that deletes, whatever it deletes itself, and said in one
//! line; a dry run only says it is there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use otto_hooks_tests::otto_home::TaskSpec;
use otto_hooks_tests::otto_world::{OttoWorld, text};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A world with one recent run, and one old run moved into the trash the
/// way `delete_run`'s first phase moves it (a killed clean stops there).
fn interrupted() -> (OttoWorld, PathBuf) {
    let w = OttoWorld::new();
    let web = w.project("web");
    web.run(now() - 3600)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let old = web
        .run(now() - 90 * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .task("test", TaskSpec::ok().stdout("ok\n"))
        .write();
    let trash = w.otto.root().join(".otto-hooks-trash");
    std::fs::create_dir(&trash).unwrap();
    // A pid no process has (above any pid_max): the clean that moved it
    // is dead.
    let entry = trash.join(format!(
        "{}__{}__999999999_0123456789abcdef",
        web.dir_name(),
        old.id
    ));
    std::fs::rename(&old.dir, &entry).unwrap();
    (w, trash)
}

/// The one entry of `trash`.
fn only_entry(trash: &Path) -> PathBuf {
    let mut all: Vec<PathBuf> = std::fs::read_dir(trash)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn an_entry_another_live_otto_hooks_is_deleting_is_left_to_it() {
    // Another otto-hooks with its own OTTO_HOOKS_HOME (so its own clean
    // lock) moved this run and is purging it: here, this test process.
    let (w, trash) = interrupted();
    let entry = only_entry(&trash);
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let live = trash.join(name.replace("999999999", &std::process::id().to_string()));
    std::fs::rename(&entry, &live).unwrap();
    let out = w.run(&["clean", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(live.exists(), "another process's entry was purged");
    assert!(
        !text(&out.stderr).contains("finished deleting"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_pinned_run_found_in_the_trash_is_put_back_never_purged() {
    let (w, trash) = interrupted();
    let entry = only_entry(&trash);
    std::fs::write(entry.join(".keep"), "").unwrap();
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts = name.split("__");
    let (project, run) = (parts.next().unwrap(), parts.next().unwrap());
    let out = w.run(&["clean", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let back = w.otto.root().join(project).join(run);
    assert!(back.join(".keep").exists(), "{}", text(&out.stderr));
    assert!(back.join("tasks").is_dir());
    assert!(
        text(&out.stderr).contains("put back"),
        "{}",
        text(&out.stderr)
    );
}

fn entries(trash: &Path) -> usize {
    std::fs::read_dir(trash).map_or(0, |d| d.count())
}

#[test]
fn a_dry_run_names_the_leftover_and_leaves_it() {
    let (w, trash) = interrupted();
    let out = w.run(&["clean", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted clean"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(entries(&trash), 1);
}

#[test]
fn clean_with_nothing_of_its_own_to_delete_finishes_the_trash() {
    let (w, trash) = interrupted();
    let out = w.run(&["clean", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("finished deleting 1 entry"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("trash")).count(),
        1,
        "one line: {stderr}"
    );
    assert!(!trash.exists(), "the emptied trash is removed");
}

#[test]
fn cache_only_and_run_policies_finish_it_too() {
    for args in [
        &["clean", "--cache-only", "--yes"][..],
        &["run-policies"][..],
    ] {
        let (w, trash) = interrupted();
        let out = w.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("finished deleting 1 entry"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!trash.exists(), "{args:?}");
    }
}

/// Apparent bytes of `path` and everything under it, symlinks not followed
/// (what `du -sb` adds up).
fn apparent_bytes(path: &Path) -> u64 {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let below: u64 = if meta.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| apparent_bytes(&e.unwrap().path()))
            .sum()
    } else {
        0
    };
    meta.len() + below
}

#[test]
fn usage_counts_what_an_interrupted_clean_left_and_says_the_next_clean_finishes_it() {
    let (w, trash) = interrupted();
    let entry = std::fs::read_dir(&trash)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = apparent_bytes(&entry);
    let report = w.json(&["usage", "--json"]);
    assert_eq!(report["trash_entries"], 1, "{report}");
    assert_eq!(report["trash_bytes"], bytes, "{report}");
    let out = w.run(&["usage"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("Trash:"))
        .unwrap_or_else(|| panic!("no trash line: {table}"));
    assert!(
        line.contains("1 entry") && line.contains("next `otto-hooks clean` finishes"),
        "{line}"
    );
    assert_eq!(entries(&trash), 1, "usage only reads");
    // Once finished, usage has nothing to say about it.
    w.run(&["clean", "--yes"]);
    let report = w.json(&["usage", "--json"]);
    assert_eq!(report["trash_entries"], 0, "{report}");
    assert_eq!(report["trash_bytes"], 0, "{report}");
    assert!(!text(&w.run(&["usage"]).stdout).contains("Trash:"));
}
