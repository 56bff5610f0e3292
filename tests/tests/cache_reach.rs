//! Cache garbage collection resolves script links the way the kernel does:
//! a cache file reached through another spelling of `$OTTO_HOME`, or from
//! a task whose name is not UTF-8, is in use and stays; a link that cannot
//! be resolved keeps the whole project's cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;

use otto_hooks_tests::otto_home::{TaskSpec, set_mtime};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `clean --cache-only --yes --json`: (exit code, document).
fn collect(w: &OttoWorld) -> (i32, Value) {
    let out = w.run(&["clean", "--cache-only", "--yes", "--json"]);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap(), doc)
}

/// Points `link` at `target` (replacing the link otto wrote).
fn relink(link: &Path, target: &Path) {
    std::fs::remove_file(link).unwrap();
    symlink(target, link).unwrap();
}

#[test]
fn a_cache_file_linked_through_a_symlinked_parent_of_the_home_is_kept() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(now() - 3 * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let task = &run.tasks[0];
    // `<dir>/alias` -> `<dir>`: `<dir>/alias/otto/...` is another spelling
    // of the same `$OTTO_HOME`, unknown to any lexical check.
    let alias = w.dir.path().join("alias");
    symlink(w.dir.path(), &alias).unwrap();
    let rel = task.cache_file.strip_prefix(w.dir.path()).unwrap();
    relink(&task.script_link, &alias.join(rel));
    set_mtime(&task.cache_file, now() - 2 * 86_400);
    let (code, doc) = collect(&w);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        task.cache_file.exists(),
        "a file in use was deleted: {doc:#}"
    );
    assert!(
        doc["cache"]["outside"].as_array().unwrap().is_empty(),
        "it is not outside: {doc:#}"
    );
}

#[test]
fn a_cache_file_linked_from_a_task_whose_name_is_not_utf8_is_kept() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(now() - 3 * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let task = &run.tasks[0];
    // Rename the task directory to a name that is not UTF-8; its relative
    // link (`../../../.cache/<hash>.sh`) still resolves.
    let odd = task.dir.with_file_name(OsStr::from_bytes(b"b\xffuild"));
    std::fs::rename(&task.dir, &odd).unwrap();
    set_mtime(&task.cache_file, now() - 2 * 86_400);
    let (code, doc) = collect(&w);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        task.cache_file.exists(),
        "a file in use was deleted: {doc:#}"
    );
}

#[test]
fn a_link_that_cannot_be_resolved_keeps_the_project_cache() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(now() - 3 * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let task = &run.tasks[0];
    // A link loop elsewhere: the kernel cannot resolve it (ELOOP), and its
    // text names no cache file. Its target is unknown, so the orphan below
    // must not go either.
    let a = w.dir.path().join("loop-a");
    let b = w.dir.path().join("loop-b");
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    relink(&task.script_link, &a);
    let orphan = web.orphan_cache_file("0badc0de.sh", b"echo nobody\n");
    set_mtime(&orphan, now() - 2 * 86_400);
    set_mtime(&task.cache_file, now() - 2 * 86_400);
    let (code, doc) = collect(&w);
    assert_ne!(code, 0, "{doc:#}");
    assert!(orphan.exists(), "{doc:#}");
    assert!(task.cache_file.exists(), "{doc:#}");
    let out = w.run(&["clean", "--cache-only", "--yes"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("cannot resolve the script link"), "{said}");
}
