//! The plugin's behaviour on fixture trees in otto's real layout: every
//! listing mistake otto itself made, sizes against the real `du`, the size
//! index, cache references, `run.yaml`, and settings.

use std::os::unix::fs::symlink;
use std::path::Path;

use otto_hooks_plugin_api::{
    ErrorKind, HookContext, Plugin, PluginConfig, RunQuery, RunStatus, Storage,
};
use serde_json::{Value, json};

use crate::OttoFs;
use crate::index::Index;
use crate::testing::{Fixture, du};

fn list(fs: &OttoFs) -> Vec<String> {
    ids(fs, None)
}

fn ids(fs: &OttoFs, project: Option<&str>) -> Vec<String> {
    fs.list_runs(&RunQuery {
        project,
        limit: None,
    })
    .unwrap()
    .iter()
    .map(|r| format!("{}/{}", r.project, r.id))
    .collect()
}

fn usage_of(fs: &OttoFs, project: &str) -> otto_hooks_plugin_api::ProjectUsage {
    let all = fs
        .usage(&RunQuery {
            project: Some(project),
            limit: None,
        })
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

fn details(fs: &OttoFs, project: &str, run_id: &str) -> otto_hooks_plugin_api::RunDetails {
    fs.run_details(&HookContext { project, run_id }).unwrap()
}

/// Lets the coarse file-system clock move on, so that a change made now
/// gets a different mtime/ctime than what was recorded before.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(30));
}

// ---------------------------------------------------------------------------
// Listing: the mistakes otto made
// ---------------------------------------------------------------------------

#[test]
fn every_name_dash_hash_project_is_found_not_only_otto_ones() {
    let fx = Fixture::new();
    fx.run("otto-6b20a2e4", "1700000000")
        .task("build", "0f1e2d3c.sh");
    fx.run("web-app-0123abcd", "1700000001")
        .task("build", "0f1e2d3c.sh");
    assert_eq!(
        list(&fx.plugin()),
        ["web-app-0123abcd/1700000001", "otto-6b20a2e4/1700000000"]
    );
}

#[test]
fn names_that_are_not_projects_or_runs_are_ignored() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    // Run-shaped directories inside things that are not projects.
    for not_project in [
        "backups",
        "notes-xyz",
        "proj-ABCDEF12",
        "proj-abc123",
        "-6b20a2e4",
    ] {
        std::fs::create_dir_all(fx.home.join(not_project).join("1700000005/tasks")).unwrap();
    }
    // Things in a project that are not runs.
    let project = fx.home.join("web-0123abcd");
    for not_run in ["17x", "1700000000-", "-1", "tasks", ".hidden"] {
        std::fs::create_dir_all(project.join(not_run)).unwrap();
    }
    std::fs::write(project.join("builtins.sh"), "# builtins\n").unwrap();
    std::fs::write(project.join("1700000009"), "a file with a run's name\n").unwrap();
    std::fs::write(
        fx.home.join("stray-0123abce"),
        "a file with a project's name\n",
    )
    .unwrap();
    assert_eq!(list(&fx.plugin()), ["web-0123abcd/1700000000"]);
}

#[test]
fn symlinked_project_and_run_dirs_are_skipped_warned_and_never_walked() {
    let fx = Fixture::new();
    let outside = fx.tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("1700000050/tasks/t")).unwrap();
    std::fs::write(
        outside.join("1700000050/tasks/t/stderr.log"),
        vec![b'x'; 1 << 20],
    )
    .unwrap();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    symlink(&outside, fx.home.join("evil-89abcdef")).unwrap();
    symlink(
        outside.join("1700000050"),
        fx.home.join("web-0123abcd/1700000050"),
    )
    .unwrap();

    let fs = fx.plugin();
    assert_eq!(list(&fs), ["web-0123abcd/1700000000"]);
    assert_eq!(
        fs.warnings.paths(),
        [
            fx.home.join("evil-89abcdef"),
            fx.home.join("web-0123abcd/1700000050")
        ]
    );
    // A second listing warns no more (once per path) and finds the same.
    assert_eq!(list(&fs), ["web-0123abcd/1700000000"]);
    assert_eq!(fs.warnings.paths().len(), 2);

    // Sizes: the run symlink counts as a link, never as its megabyte.
    let usage = usage_of(&fs, "web");
    assert_eq!(usage.runs, 1);
    let project = fx.home.join("web-0123abcd");
    assert_eq!(
        usage.runs_bytes + usage.cache_bytes + usage.other_bytes,
        du(&project, "-sb")
    );
    assert!(usage.other_bytes < 100_000, "{usage:?}");
    assert!(
        fs.usage(&RunQuery {
            project: Some("evil"),
            limit: None
        })
        .unwrap()
        .is_empty()
    );
}

#[test]
fn same_second_runs_are_listed_newest_first() {
    let fx = Fixture::new();
    for id in [
        "1700000000-1",
        "1700000001",
        "1700000000",
        "1700000000-10",
        "1700000000-2",
    ] {
        fx.run("web-0123abcd", id).task("build", "0f1e2d3c.sh");
    }
    let runs = fx.plugin().list_runs(&RunQuery::default()).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "1700000001",
            "1700000000-10",
            "1700000000-2",
            "1700000000-1",
            "1700000000"
        ]
    );
    assert!(
        runs.iter()
            .skip(1)
            .all(|r| r.started_at.secs == 1_700_000_000)
    );
}

#[test]
fn the_project_filter_matches_dir_name_or_hash_exactly_never_a_substring() {
    let fx = Fixture::new();
    fx.run("web-fabc1234", "1700000000");
    fx.run("abc-01234567", "1700000001");
    let fs = fx.plugin();
    assert_eq!(ids(&fs, Some("abc")), ["abc-01234567/1700000001"]);
    assert_eq!(ids(&fs, Some("fabc1234")), ["web-fabc1234/1700000000"]);
    assert_eq!(ids(&fs, Some("web-fabc1234")), ["web-fabc1234/1700000000"]);
    assert_eq!(ids(&fs, Some("web")), ["web-fabc1234/1700000000"]);
    for none in ["fabc", "abc1234", "we", "eb-fabc1234", "01234567-"] {
        assert!(ids(&fs, Some(none)).is_empty(), "{none}");
    }
}

#[test]
fn limit_returns_the_newest_runs_and_walks_only_those() {
    let fx = Fixture::new();
    for ts in 0..10 {
        fx.run("web-0123abcd", &format!("17000000{ts:02}"))
            .task("build", "0f1e2d3c.sh");
    }
    let fs = fx.plugin_with("index = false");
    let runs = fs
        .list_runs(&RunQuery {
            project: None,
            limit: Some(3),
        })
        .unwrap();
    let got: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, ["1700000009", "1700000008", "1700000007"]);
    assert_eq!(fs.walked_runs(), 3);
    assert!(
        fs.list_runs(&RunQuery {
            project: None,
            limit: Some(0)
        })
        .unwrap()
        .is_empty()
    );
}

#[test]
fn a_missing_or_empty_otto_home_lists_no_runs() {
    let fx = Fixture::new();
    let fs = fx.plugin();
    assert!(
        fs.list_runs(&RunQuery::default()).unwrap().is_empty(),
        "only otto's own files"
    );
    assert!(fs.usage(&RunQuery::default()).unwrap().is_empty());
    std::fs::remove_dir_all(&fx.home).unwrap();
    assert!(
        fs.list_runs(&RunQuery::default()).unwrap().is_empty(),
        "missing"
    );
    let err = fs
        .run_details(&HookContext {
            project: "web",
            run_id: "1",
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------
// Runs and sizes
// ---------------------------------------------------------------------------

#[test]
fn a_run_reports_its_counts_pin_location_and_attributes() {
    let fx = Fixture::new();
    fx.run("web-app-0123abcd", "1700000000-1")
        .task("build", "0f1e2d3c.sh")
        .task("check:db", "4b5a6978.py")
        .file("tasks/notes.txt", b"not a task")
        .keep();
    let run = fx
        .plugin()
        .list_runs(&RunQuery::default())
        .unwrap()
        .remove(0);
    assert_eq!(run.id, "1700000000-1");
    assert_eq!(run.project, "web-app-0123abcd");
    assert_eq!(run.started_at.secs, 1_700_000_000);
    assert_eq!(run.status, RunStatus::Unknown);
    assert_eq!(run.ended_at, None);
    assert_eq!(run.task_count, 2);
    assert!(run.pinned);
    assert_eq!(
        Path::new(&run.location),
        fx.home.join("web-app-0123abcd/1700000000-1")
    );
    let stderr = "warning from build\n".len() + "warning from check:db\n".len();
    assert_eq!(
        Value::Object(run.attributes),
        json!({"stderr_bytes": stderr, "finished": true, "task_outputs": {"tasks": 2,
            "exited_0": 2, "unfinished": [], "tasks_with_stderr": 2, "stderr_bytes": stderr}})
    );
}

#[test]
fn run_sizes_equal_du_with_nested_dirs_empty_files_symlinks_and_a_hard_link_pair() {
    let fx = Fixture::new();
    let dir = fx
        .run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh")
        .file("tasks/build/artifacts/deep/er/out.bin", &vec![3u8; 50_000])
        .file("tasks/build/empty", b"")
        .file("big.log", &vec![b'l'; 9_000])
        .done();
    std::fs::hard_link(dir.join("big.log"), dir.join("tasks/build/big-again.log")).unwrap();
    symlink(
        "../build/output.build.json",
        dir.join("tasks/build/input.dep.json"),
    )
    .unwrap();
    let run = fx
        .plugin()
        .list_runs(&RunQuery::default())
        .unwrap()
        .remove(0);
    assert_eq!(run.size_bytes, Some(du(&dir, "-sb")));
    assert_eq!(run.allocated_bytes, Some(du(&dir, "-sB1")));
}

#[test]
fn sizes_never_follow_script_links_into_the_cache() {
    let fx = Fixture::new();
    let project = fx.project("web-0123abcd");
    std::fs::write(project.join(".cache/0f1e2d3c.sh"), vec![b'#'; 1 << 20]).unwrap();
    for i in 0..10 {
        fx.run("web-0123abcd", &format!("17000000{i:02}"))
            .task("build", "0f1e2d3c.sh");
    }
    let fs = fx.plugin();
    for run in fs.list_runs(&RunQuery::default()).unwrap() {
        assert!(run.size_bytes.unwrap() < 64 * 1024, "{run:?}");
        assert_eq!(run.size_bytes, Some(du(Path::new(&run.location), "-sb")));
    }
    let usage = usage_of(&fs, "web-0123abcd");
    assert_eq!(usage.cache_files, 1);
    assert!(
        usage.cache_bytes >= 1 << 20 && usage.cache_bytes < (1 << 20) + 64 * 1024,
        "{usage:?}"
    );
    assert!(
        usage.runs_bytes < 640 * 1024,
        "the megabyte counts once, in the cache: {usage:?}"
    );
    assert_eq!(
        usage.runs_bytes + usage.cache_bytes + usage.other_bytes,
        du(&project, "-sb")
    );
}

#[test]
fn usage_parts_add_up_to_du_of_the_project() {
    let fx = Fixture::new();
    let a = fx
        .run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh")
        .task("test", "4b5a6978.sh")
        .file("tasks/test/artifacts/report.xml", &vec![b'<'; 12_345])
        .done();
    let b = fx
        .run("web-0123abcd", "1700000001-1")
        .task("build", "0f1e2d3c.sh")
        .lock()
        .done();
    let project = fx.home.join("web-0123abcd");
    // A file hard-linked from two runs and one linked from a run into the cache.
    std::fs::write(a.join("shared.bin"), vec![1u8; 30_000]).unwrap();
    std::fs::hard_link(a.join("shared.bin"), b.join("shared.bin")).unwrap();
    std::fs::hard_link(
        project.join(".cache/4b5a6978.sh"),
        a.join("tasks/test/copy.sh"),
    )
    .unwrap();
    // Other things: stray files and dirs, a symlink with a run's name, not-runs.
    std::fs::write(project.join("builtins.sh"), vec![b'b'; 777]).unwrap();
    std::fs::create_dir_all(project.join("17x/nested")).unwrap();
    std::fs::write(project.join("17x/nested/f"), vec![b'f'; 4_321]).unwrap();
    symlink("/nonexistent/target", project.join("1700000002")).unwrap();
    std::fs::write(project.join(".cache/orphan.py"), b"print(1)\n").unwrap();

    let fs = fx.plugin();
    let usage = usage_of(&fs, "web");
    assert_eq!(usage.project, "web-0123abcd");
    assert_eq!(usage.runs, 2);
    assert_eq!(usage.cache_files, 3);
    assert_eq!(usage.orphaned_cache_files, 1);
    assert_eq!(usage.orphaned_cache_bytes, 9);
    assert_eq!(usage.oldest_run.map(|t| t.secs), Some(1_700_000_000));
    assert_eq!(
        usage.runs_bytes + usage.cache_bytes + usage.other_bytes,
        du(&project, "-sb")
    );
    // Per run, each figure is that run's own `du`.
    for run in fs.list_runs(&RunQuery::default()).unwrap() {
        assert_eq!(
            run.size_bytes,
            Some(du(Path::new(&run.location), "-sb")),
            "{}",
            run.id
        );
        assert_eq!(
            run.allocated_bytes,
            Some(du(Path::new(&run.location), "-sB1")),
            "{}",
            run.id
        );
    }
    // The same from the index.
    let again = usage_of(&fs, "web");
    assert_eq!(again, usage);
}

#[test]
fn legacy_runs_read_like_current_ones() {
    let fx = Fixture::new();
    let project = fx.project("otto-6b20a2e4");
    // Older otto: absolute links; older still: `.cache/<task>/<hash>`.
    std::fs::write(project.join(".cache/0f1e2d3c.sh"), "echo abs\n").unwrap();
    std::fs::create_dir_all(project.join(".cache/build")).unwrap();
    std::fs::write(
        project.join(".cache/build/e3b0c44298fc1c14"),
        "echo legacy\n",
    )
    .unwrap();
    let abs = project.join(".cache/0f1e2d3c.sh");
    let legacy = project.join(".cache/build/e3b0c44298fc1c14");
    fx.run("otto-6b20a2e4", "1600000000")
        .minimal_yaml()
        .task_linking("test", abs.to_str().unwrap(), "sh");
    fx.run("otto-6b20a2e4", "1500000000")
        .minimal_yaml()
        .task_linking("build", legacy.to_str().unwrap(), "sh");

    let fs = fx.plugin();
    let runs = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run.task_count, 1);
        assert_eq!(run.attributes["finished"], json!(true));
        assert_eq!(run.size_bytes, Some(du(Path::new(&run.location), "-sb")));
    }
    let d = details(&fs, "otto", "1500000000");
    assert_eq!(d.tasks[0].script_target.as_deref(), legacy.to_str());
    assert_eq!(d.run.attributes["ottofile_hash"], json!("abc123"));
    let usage = usage_of(&fs, "otto");
    assert_eq!(
        (usage.cache_files, usage.orphaned_cache_files),
        (2, 0),
        "{usage:?}"
    );
}

#[test]
fn a_run_directory_removed_between_scan_and_walk_is_skipped() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    let doomed = fx
        .run("web-0123abcd", "1700000001")
        .task("build", "0f1e2d3c.sh")
        .done();
    let fs = fx.plugin();
    let survey = fs.survey(None).unwrap().unwrap();
    assert_eq!(survey.projects[0].runs.len(), 2);
    std::fs::remove_dir_all(&doomed).unwrap();
    let all = survey.newest_first();
    survey.measure(&all, fs.context());
    let measured: Vec<bool> = all
        .iter()
        .map(|&pick| survey.facts(pick).is_some())
        .collect();
    assert_eq!(measured, [false, true]);
    survey.finish(fs.index_path(), &fs.memory, fs.context());
    assert_eq!(list(&fs), ["web-0123abcd/1700000000"]);
}

// ---------------------------------------------------------------------------
// The size index
// ---------------------------------------------------------------------------

fn index_of(fs: &OttoFs) -> Index {
    Index::load(fs.index_path().unwrap(), fs.otto_home())
}

#[test]
fn a_second_listing_reuses_the_index() {
    let fx = Fixture::new();
    for ts in 0..5 {
        fx.run("web-0123abcd", &format!("17000000{ts:02}"))
            .task("build", "0f1e2d3c.sh");
    }
    let fs = fx.plugin();
    let first = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 5);
    assert!(fs.index_path().unwrap().starts_with(&fx.data));
    assert_eq!(index_of(&fs).projects["web-0123abcd"].len(), 5);
    let second = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 5, "nothing walked again");
    assert_eq!(first, second);
    fs.usage(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 5, "usage uses it too");
    // Another instance (another process) reads the same file.
    let other = fx.plugin();
    assert_eq!(other.list_runs(&RunQuery::default()).unwrap(), first);
    assert_eq!(other.walked_runs(), 0);
}

#[test]
fn a_rewritten_run_is_walked_again() {
    let fx = Fixture::new();
    let run = fx
        .run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh")
        .done();
    fx.run("web-0123abcd", "1700000001")
        .task("build", "0f1e2d3c.sh");
    let fs = fx.plugin();
    fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 2);

    // A file replaced by rename in the run directory.
    tick();
    std::fs::write(run.join("run.yaml.new"), vec![b'y'; 5_000]).unwrap();
    std::fs::rename(run.join("run.yaml.new"), run.join("run.yaml")).unwrap();
    let runs = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 3);
    assert_eq!(runs[1].size_bytes, Some(du(&run, "-sb")));

    // A pin: `.keep` created in the run directory.
    tick();
    std::fs::write(run.join(".keep"), b"").unwrap();
    let runs = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 4);
    assert!(runs[1].pinned);

    // A whole new directory renamed in place of the run.
    tick();
    let fresh = fx.project("web-0123abcd").join("incoming");
    std::fs::create_dir_all(fresh.join("tasks/only")).unwrap();
    std::fs::write(fresh.join("tasks/only/stderr.log"), b"e").unwrap();
    std::fs::remove_dir_all(&run).unwrap();
    std::fs::rename(&fresh, &run).unwrap();
    let runs = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 5);
    assert_eq!(runs[1].task_count, 1);
    assert_eq!(runs[1].attributes["stderr_bytes"], json!(1));
    assert_eq!(runs[1].size_bytes, Some(du(&run, "-sb")));
}

#[test]
fn a_vanished_run_is_dropped_from_the_index() {
    let fx = Fixture::new();
    let gone = fx
        .run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh")
        .done();
    fx.run("web-0123abcd", "1700000001")
        .task("build", "0f1e2d3c.sh");
    fx.run("api-89abcdef", "1700000002")
        .task("build", "0f1e2d3c.sh");
    let fs = fx.plugin();
    fs.list_runs(&RunQuery::default()).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    std::fs::remove_dir_all(fx.home.join("api-89abcdef")).unwrap();
    assert_eq!(list(&fs), ["web-0123abcd/1700000001"]);
    let index = index_of(&fs);
    let kept: Vec<&str> = index.projects["web-0123abcd"]
        .keys()
        .map(|k| &**k)
        .collect();
    assert_eq!(kept, ["1700000001"]);
    assert!(
        !index.projects.contains_key("api-89abcdef"),
        "a vanished project goes too"
    );
}

#[test]
fn a_run_whose_lock_is_held_is_never_indexed_and_a_finished_one_is() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh")
        .lock();
    fx.run("web-0123abcd", "1700000001")
        .task("build", "0f1e2d3c.sh")
        .lock();
    // otto holds LOCK_EX on the live run's `.lock` for the whole run.
    let live_lock = fx.home.join("web-0123abcd/1700000001/.lock");
    let held = std::fs::File::open(&live_lock).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let fs = fx.plugin();
    let runs = fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(runs[0].attributes.get("finished"), None, "the live run");
    assert_eq!(
        runs[0].attributes.get("task_outputs"),
        None,
        "what a live run's tasks show is never given as final"
    );
    assert_eq!(runs[1].attributes["finished"], json!(true));
    fs.list_runs(&RunQuery::default()).unwrap();
    fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(
        fs.walked_runs(),
        4,
        "the live run is walked every time, the finished one once"
    );
    let live = details(&fs, "web-0123abcd", "1700000001");
    assert_eq!(live.run.attributes["lock_file"], json!(true));
    let index = index_of(&fs);
    assert!(!index.projects["web-0123abcd"].contains_key("1700000001"));
    assert!(
        index.projects["web-0123abcd"].contains_key("1700000000"),
        "a run with a free .lock is finished and indexed"
    );
    assert!(live_lock.exists() && fx.home.join("web-0123abcd/1700000000/.lock").exists());
}

#[test]
fn a_run_started_seconds_ago_is_not_indexed_yet() {
    let fx = Fixture::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fx.run("web-0123abcd", &now.to_string())
        .task("build", "0f1e2d3c.sh")
        .lock();
    let fs = fx.plugin();
    fs.list_runs(&RunQuery::default()).unwrap();
    fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(
        fs.walked_runs(),
        2,
        "otto may not hold its lock yet: walked again"
    );
    let run = fs.list_runs(&RunQuery::default()).unwrap().remove(0);
    assert_eq!(run.attributes.get("task_outputs"), None);
}

#[test]
fn task_outputs_count_exited_unfinished_never_started_and_python_tasks_by_their_files() {
    let fx = Fixture::new();
    let dir = fx
        .run("web-0123abcd", "1700000000")
        // Exited 0: builtins.sh, output.build.json, stderr.
        .task("build", "0f1e2d3c.sh")
        // Python, exited 0 before otto converted its `.env`; no stderr.
        .file("tasks/py/builtins.py", b"# Otto Python Builtins\n")
        .file("tasks/py/output.py.env", b"")
        .file("tasks/py/stderr.log", b"")
        // Started, no output of its own (another task's does not count).
        .file("tasks/test/builtins.sh", b"otto_set_output() { :; }\n")
        .file("tasks/test/output.build.json", b"{}")
        .file("tasks/test/stderr.log", b"boom\n")
        .file("tasks/lint/builtins.py", b"")
        // Never started: the empty logs otto's terminal UI creates.
        .file("tasks/deploy/stdout.log", b"")
        .file("tasks/deploy/stderr.log", b"")
        .done();
    // Not regular files: a symlinked output, a directory named like one, a
    // symlinked builtins.
    symlink(
        "../build/output.build.json",
        dir.join("tasks/test/output.test.json"),
    )
    .unwrap();
    std::fs::create_dir(dir.join("tasks/lint/output.lint.env")).unwrap();
    symlink("/etc/hostname", dir.join("tasks/deploy/builtins.sh")).unwrap();
    let fs = fx.plugin();
    let expected = json!({"tasks": 5, "exited_0": 2, "unfinished": ["lint", "test"],
        "tasks_with_stderr": 2, "stderr_bytes": "warning from build\n".len() + 5});
    let walked = fs.list_runs(&RunQuery::default()).unwrap().remove(0);
    assert_eq!(walked.attributes["task_outputs"], expected);
    // Kept in the size index: the same from it, without a walk.
    let again = fx.plugin();
    let indexed = again.list_runs(&RunQuery::default()).unwrap().remove(0);
    assert_eq!(indexed.attributes["task_outputs"], expected);
    assert_eq!(again.walked_runs(), 0, "read from the index");
}

#[test]
fn a_corrupt_index_is_ignored_and_rebuilt() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    let fs = fx.plugin();
    let good = fs.list_runs(&RunQuery::default()).unwrap();
    let path = fs.index_path().unwrap().to_path_buf();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(fs.list_runs(&RunQuery::default()).unwrap(), good);
    assert_eq!(fs.walked_runs(), 2, "walked again");
    std::fs::write(&path, b"OTTOFSIX\x63\0\0\0 from the future").unwrap();
    assert_eq!(fs.list_runs(&RunQuery::default()).unwrap(), good);
    assert_eq!(fs.walked_runs(), 3);
    assert_eq!(fs.list_runs(&RunQuery::default()).unwrap(), good);
    assert_eq!(fs.walked_runs(), 3, "rebuilt");
}

#[test]
fn nothing_is_ever_written_under_otto_home() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    let inside = fx.home.join("hooks-data");
    let toml = format!("otto_home = {:?}", fx.home.to_str().unwrap());
    let fs =
        OttoFs::new(&PluginConfig::from_toml("storage.otto-fs", &toml, &inside).unwrap()).unwrap();
    assert_eq!(fs.index_path(), None);
    fs.list_runs(&RunQuery::default()).unwrap();
    fs.usage(&RunQuery::default()).unwrap();
    assert!(!inside.exists());
    // With a data directory elsewhere, only that directory gets the index.
    let fs = fx.plugin();
    fs.list_runs(&RunQuery::default()).unwrap();
    assert!(fs.index_path().unwrap().exists());
    assert!(!fs.index_path().unwrap().starts_with(&fx.home));
}

// ---------------------------------------------------------------------------
// Cache references
// ---------------------------------------------------------------------------

#[test]
fn orphaned_cache_files_are_those_no_run_refers_to() {
    let fx = Fixture::new();
    let project = fx.project("web-0123abcd");
    let cache = project.join(".cache");
    for (name, body) in [
        ("relative.sh", "a"),
        ("absolute.sh", "bb"),
        ("build/e3b0c442", "ccc"),
        ("unreferenced.sh", "dddd"),
        ("outside-only.sh", "eeeee"),
    ] {
        std::fs::create_dir_all(cache.join(name).parent().unwrap()).unwrap();
        std::fs::write(cache.join(name), body).unwrap();
    }
    fx.project("other-89abcdef");
    std::fs::write(fx.home.join("other-89abcdef/.cache/outside-only.sh"), "x").unwrap();
    fx.run("web-0123abcd", "1700000000")
        .task_linking("a", "../../../.cache/relative.sh", "sh")
        .task_linking("b", cache.join("absolute.sh").to_str().unwrap(), "sh")
        .task_linking("c", "../../../.cache/build/e3b0c442", "sh")
        // Links that name the file but point elsewhere protect nothing.
        .task_linking(
            "d",
            "../../../../other-89abcdef/.cache/outside-only.sh",
            "sh",
        )
        .task_linking("e", "../../outside-only.sh", "py");
    let usage = usage_of(&fx.plugin(), "web");
    assert_eq!(usage.cache_files, 5);
    assert_eq!(usage.orphaned_cache_files, 2, "{usage:?}");
    assert_eq!(usage.orphaned_cache_bytes, 4 + 5);
    assert_eq!(
        usage.runs_bytes + usage.cache_bytes + usage.other_bytes,
        du(&project, "-sb")
    );
    let other = usage_of(&fx.plugin(), "other");
    assert_eq!(
        (other.cache_files, other.orphaned_cache_files),
        (1, 1),
        "another project's links don't count"
    );
}

// ---------------------------------------------------------------------------
// One run in detail
// ---------------------------------------------------------------------------

#[test]
fn run_details_read_run_yaml_and_list_tasks_by_name() {
    let fx = Fixture::new();
    let dir = fx
        .run("web-0123abcd", "1700000000")
        .task("test", "4b5a6978.py")
        .task("check:db", "0f1e2d3c.sh")
        .task("build", "0f1e2d3c.sh")
        .done();
    std::fs::remove_file(dir.join("tasks/build/stdout.log")).unwrap();
    let fs = fx.plugin();
    let d = details(&fs, "web-0123abcd", "1700000000");
    let listed = fs.list_runs(&RunQuery::default()).unwrap().remove(0);
    assert_eq!((d.run.size_bytes, d.run.task_count), (listed.size_bytes, 3));
    assert_eq!(
        Value::Object(d.run.attributes),
        json!({"stderr_bytes": listed.attributes["stderr_bytes"], "lock_file": false, "name": "web",
               "task_outputs": listed.attributes["task_outputs"],
               "hash": "0123abcd", "user": "tester", "cwd": "/src/web-0123abcd",
               "ottofile": "/src/web-0123abcd/otto.yml", "prog": "otto", "ottofile_hash": "0f1e2d3c",
               "args": ["otto", "ci"]})
    );
    let names: Vec<&str> = d.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["build", "check:db", "test"]);
    let test = &d.tasks[2];
    let at = |f: &str| {
        Some(
            dir.join("tasks/test")
                .join(f)
                .to_string_lossy()
                .into_owned(),
        )
    };
    assert_eq!(test.stdout_path, at("stdout.log"));
    assert_eq!(test.stderr_path, at("stderr.log"));
    assert_eq!(test.script_path, at("script.py"));
    assert_eq!(
        test.script_target.as_deref(),
        Some("../../../.cache/4b5a6978.py")
    );
    assert_eq!(d.tasks[0].stdout_path, None);
    assert!(d.tasks[0].stderr_path.is_some());
}

#[test]
fn a_malformed_run_yaml_is_reported_in_an_attribute_not_an_error() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .file("run.yaml", b"user: [unclosed\n");
    fx.run("web-0123abcd", "1700000001").file("run.yaml", b"");
    std::fs::remove_file(fx.run("web-0123abcd", "1700000002").done().join("run.yaml")).unwrap();
    let fs = fx.plugin();
    let bad = details(&fs, "web", "1700000000").run.attributes;
    assert!(
        bad["run_yaml_error"]
            .as_str()
            .unwrap()
            .starts_with("run.yaml: "),
        "{bad:?}"
    );
    assert!(!bad.contains_key("user"));
    for id in ["1700000001", "1700000002"] {
        let attrs = details(&fs, "web", id).run.attributes;
        let keys: Vec<&str> = attrs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["stderr_bytes", "task_outputs", "lock_file", "name", "hash"],
            "{id}"
        );
    }
}

#[test]
fn run_details_accept_name_or_hash_when_unambiguous() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000");
    fx.run("web-89abcdef", "1700000001");
    fx.run("api-fedcba98", "1700000002");
    let fs = fx.plugin();
    assert_eq!(
        details(&fs, "api", "1700000002").run.project,
        "api-fedcba98"
    );
    assert_eq!(
        details(&fs, "89abcdef", "1700000001").run.project,
        "web-89abcdef"
    );
    let err = fs
        .run_details(&HookContext {
            project: "web",
            run_id: "1700000000",
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("web-0123abcd") && err.message.contains("web-89abcdef"),
        "{}",
        err.message
    );
    // The full directory name wins over a project *named* like it.
    fx.run("web-0123abcd-76543210", "1700000003");
    assert_eq!(
        details(&fs, "web-0123abcd", "1700000000").run.project,
        "web-0123abcd"
    );
}

#[test]
fn an_unknown_or_symlinked_run_is_not_found() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000");
    let outside = fx.tmp.path().join("outside-run");
    std::fs::create_dir_all(outside.join("tasks")).unwrap();
    symlink(&outside, fx.home.join("web-0123abcd/1700000009")).unwrap();
    let fs = fx.plugin();
    for (project, run_id) in [
        ("web", "1700000001"),
        ("web", "1700000009"),
        ("web", "../../etc"),
        ("web", ".cache"),
        ("nope", "1700000000"),
        ("abc", "1700000000"),
    ] {
        let err = fs
            .run_details(&HookContext { project, run_id })
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{project} {run_id}");
        assert_eq!(
            err.message,
            format!(
                "no run {run_id} in project {project} (under {})",
                fx.home.display()
            )
        );
    }
    assert_eq!(
        fs.warnings.paths(),
        [fx.home.join("web-0123abcd/1700000009")]
    );
}

// ---------------------------------------------------------------------------
// Settings and declaration
// ---------------------------------------------------------------------------

#[test]
fn unknown_settings_are_refused_naming_the_key() {
    let cfg = PluginConfig::from_toml("storage.otto-fs", "otto_hom = \"/x\"", "/tmp").unwrap();
    let err = OttoFs::new(&cfg).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("otto_hom") && err.message.contains("storage.otto-fs"),
        "{}",
        err.message
    );
    let cfg = PluginConfig::from_toml("storage.otto-fs", "otto_home = \"/x\"\nthreads = 0", "/tmp")
        .unwrap();
    let err = OttoFs::new(&cfg).unwrap_err();
    assert!(err.message.contains("`threads`"), "{}", err.message);
    let cfg = PluginConfig::from_toml("storage.otto-fs", "index = \"yes\"", "/tmp").unwrap();
    assert!(OttoFs::new(&cfg).unwrap_err().message.contains("index"));
}

#[test]
fn the_index_can_be_turned_off_and_then_lives_only_as_long_as_the_instance() {
    let fx = Fixture::new();
    fx.run("web-0123abcd", "1700000000")
        .task("build", "0f1e2d3c.sh");
    let fs = fx.plugin_with("index = false");
    assert_eq!(fs.index_path(), None);
    fs.list_runs(&RunQuery::default()).unwrap();
    // One command, one walk: `usage` after `list` in the same instance.
    fs.usage(&RunQuery::default()).unwrap();
    fs.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fs.walked_runs(), 1);
    assert!(!fx.data.exists(), "nothing written");
    let fresh = fx.plugin_with("index = false");
    fresh.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(fresh.walked_runs(), 1, "a new instance walks again");
}

#[test]
fn the_module_declares_one_storage_named_otto_fs() {
    assert_eq!(crate::MODULE.plugins.len, 1);
    assert_eq!(OttoFs::NAME, "otto-fs");
}

/// `list` over 100,000 runs (`OTTO_FS_SCALE_RUNS` to change): time and peak
/// memory, cold (no index) and from the index. `OTTO_FS_SCALE_HOME` keeps
/// the tree there to reuse it. Run with
/// `cargo test -p otto-hooks-otto-fs --release -- --ignored --nocapture scale`.
#[test]
#[ignore = "builds a large tree; run by hand"]
fn scale_list_of_many_runs_stays_small() {
    let runs: usize = std::env::var("OTTO_FS_SCALE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let threads: usize = std::env::var("OTTO_FS_SCALE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let fx = Fixture::new();
    let home = std::env::var_os("OTTO_FS_SCALE_HOME").map_or_else(|| fx.home.clone(), Into::into);
    let projects = 20;
    if !home.join("done").exists() {
        for p in 0..projects {
            let project = home.join(format!("proj{p}-{:08x}", p * 7919));
            std::fs::create_dir_all(project.join(".cache")).unwrap();
            std::fs::write(project.join(".cache/0f1e2d3c.sh"), "echo\n").unwrap();
            for r in 0..runs / projects {
                let task = project.join(format!("{}/tasks/build", 1_600_000_000 + r));
                std::fs::create_dir_all(&task).unwrap();
                std::fs::write(task.join("stdout.log"), "out\n").unwrap();
                std::fs::write(task.join("stderr.log"), "").unwrap();
                symlink("../../../.cache/0f1e2d3c.sh", task.join("script.sh")).unwrap();
            }
        }
        std::fs::write(home.join("done"), "").unwrap();
    }
    let status = |key: &str| {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    let toml = format!(
        "otto_home = {:?}\nthreads = {threads}",
        home.to_str().unwrap()
    );
    let config = PluginConfig::from_toml("storage.otto-fs", &toml, &fx.data).unwrap();
    let fs = OttoFs::new(&config).unwrap();
    for pass in ["cold", "indexed"] {
        // Reset the peak-RSS counter so that each pass reports its own.
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let before = status("VmRSS");
        let start = std::time::Instant::now();
        let n = fs.list_runs(&RunQuery::default()).unwrap().len();
        eprintln!(
            "{pass}: {n} runs in {:?}; before {before}, peak {}",
            start.elapsed(),
            status("VmHWM")
        );
    }
    let size = std::fs::metadata(fs.index_path().unwrap()).unwrap().len();
    eprintln!("index: {size} bytes");
}
