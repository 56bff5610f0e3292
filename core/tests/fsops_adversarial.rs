//! `fsops` against hostile and unusual trees: symlinks everywhere, names
//! that are not runs, live runs, mount points, a symlink swapped in while a
//! run is being deleted (CVE-2022-21658), and failures halfway through.
//!
//! Every test builds an `$OTTO_HOME` in a temporary directory next to an
//! "outside" directory holding a victim that must survive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use otto_hooks_core::fsops::{LIVE, OttoRoot, Outcome, TRASH_DIR, lock_clean};
use rustix::fs::FlockOperation;

const P: &str = "web-6b20a2e4";
const CACHE_MIN_AGE: Duration = Duration::from_secs(15 * 60);

/// An `$OTTO_HOME` (`root`) and, beside it, `outside`.
struct Home {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    outside: PathBuf,
}

impl Home {
    fn new() -> Home {
        Home::new_in(&std::env::temp_dir())
    }

    /// A home in a fresh temporary directory under `parent`.
    fn new_in(parent: &Path) -> Home {
        let tmp = tempfile::tempdir_in(parent).unwrap();
        let mut home = Home::at(tmp.path());
        home._tmp = Some(tmp);
        home
    }

    /// A home in `base`, which the caller cleans up.
    fn at(base: &Path) -> Home {
        let root = base.join("otto");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("backups")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("otto.db"), "db").unwrap();
        fs::write(root.join(".last_prune"), "").unwrap();
        fs::create_dir_all(root.join(P).join(".cache")).unwrap();
        fs::write(root.join(P).join(".cache/6b20a2e4.sh"), "echo build\n").unwrap();
        Home {
            _tmp: None,
            root,
            outside,
        }
    }

    fn open(&self) -> OttoRoot {
        OttoRoot::open(&self.root).unwrap()
    }

    /// A run as otto writes it.
    fn run(&self, project: &str, run: &str) -> PathBuf {
        let dir = self.root.join(project).join(run);
        let build = dir.join("tasks/build");
        let check = dir.join("tasks/check:db");
        fs::create_dir_all(&build).unwrap();
        fs::create_dir_all(&check).unwrap();
        fs::write(dir.join(".lock"), "").unwrap();
        fs::write(
            dir.join("run.yaml"),
            format!("prog: otto\ntimestamp: {run}\n"),
        )
        .unwrap();
        fs::write(build.join("stdout.log"), "line\n".repeat(300)).unwrap();
        fs::write(build.join("stderr.log"), "warn\n").unwrap();
        fs::write(build.join("builtins.sh"), "# builtins\n").unwrap();
        fs::write(build.join("output.build.json"), "{}").unwrap();
        fs::write(build.join("output.build.env"), "").unwrap();
        symlink("../../../.cache/6b20a2e4.sh", build.join("script.sh")).unwrap();
        fs::write(check.join("stdout.log"), vec![b'x'; 9_000]).unwrap();
        fs::write(check.join("output.check:db.json"), "{\"ok\":true}").unwrap();
        symlink(
            self.root.join(project).join(".cache/6b20a2e4.sh"),
            check.join("script.sh"),
        )
        .unwrap();
        symlink("../build/output.build.json", check.join("input.build.json")).unwrap();
        dir
    }

    /// A directory outside the root that nothing may touch.
    fn victim(&self) -> Victim {
        let dir = self.outside.join("victim");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("precious"), "do not delete").unwrap();
        fs::write(dir.join("sub/also"), vec![7u8; 4096]).unwrap();
        Victim {
            before: manifest(&dir),
            dir,
        }
    }
}

struct Victim {
    dir: PathBuf,
    before: BTreeMap<String, String>,
}

impl Victim {
    #[track_caller]
    fn assert_intact(&self) {
        assert_eq!(
            manifest(&self.dir),
            self.before,
            "the victim outside the root changed"
        );
    }
}

/// Every entry below `dir` (not following symlinks): kind, size, content or
/// link target.
fn manifest(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let md = fs::symlink_metadata(&path).unwrap();
            let what = if md.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if md.is_dir() {
                walk(base, &path, out);
                "dir".to_string()
            } else {
                format!("file {} {:?}", md.len(), fs::read(&path).unwrap())
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(md) = fs::symlink_metadata(dir) {
        out.insert(".".into(), format!("{:?}", md.file_type()));
    }
    walk(dir, dir, &mut out);
    out
}

fn du_sb(path: &Path) -> u64 {
    let out = Command::new("du").arg("-sb").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn trash_entries(root: &Path) -> Vec<PathBuf> {
    match fs::read_dir(root.join(TRASH_DIR)) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn set_mtime(path: &Path, ago: Duration) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

#[track_caller]
fn assert_refused(outcome: Outcome, needle: &str) {
    match outcome {
        Outcome::Refused(reason) => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
            assert!(!reason.contains('\n'), "{reason:?}");
        }
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- symlinks

#[test]
fn a_symlinked_project_pointing_outside_is_refused_and_the_victim_survives() {
    let h = Home::new();
    // The "project" outside looks like a project with a run in it.
    let fake = h.outside.join("evil-project");
    fs::create_dir_all(fake.join("1700000000/tasks")).unwrap();
    fs::write(fake.join("1700000000/tasks/precious"), "outside").unwrap();
    let victim = Victim {
        before: manifest(&fake),
        dir: fake.clone(),
    };
    symlink(&fake, h.root.join("evil-0badc0de")).unwrap();
    let root = h.open();
    assert_refused(root.delete_run("evil-0badc0de", "1700000000"), "symlink");
    assert_refused(
        root.delete_cache_file("evil-0badc0de", "x.sh", Duration::ZERO),
        "symlink",
    );
    victim.assert_intact();
    assert!(fs::symlink_metadata(h.root.join("evil-0badc0de")).is_ok());
    assert!(trash_entries(&h.root).is_empty());
}

#[test]
fn a_symlinked_run_pointing_outside_is_refused_and_the_victim_survives() {
    let h = Home::new();
    let victim = h.victim();
    fs::create_dir_all(h.root.join(P)).unwrap();
    symlink(&victim.dir, h.root.join(P).join("1700000005")).unwrap();
    symlink("../../outside/victim", h.root.join(P).join("1700000006-1")).unwrap();
    let root = h.open();
    assert_refused(root.delete_run(P, "1700000005"), "symlink");
    assert_refused(root.delete_run(P, "1700000006-1"), "symlink");
    victim.assert_intact();
    assert!(fs::symlink_metadata(h.root.join(P).join("1700000005")).is_ok());
    assert!(trash_entries(&h.root).is_empty());
}

#[test]
fn symlinks_inside_a_run_are_removed_and_their_outside_targets_survive() {
    let h = Home::new();
    let victim = h.victim();
    let run = h.run(P, "1700000000");
    symlink(&victim.dir, run.join("tasks/build/to-dir")).unwrap();
    symlink(victim.dir.join("precious"), run.join("tasks/build/to-file")).unwrap();
    symlink(
        "../../../../outside/victim",
        run.join("tasks/relative-escape"),
    )
    .unwrap();
    symlink(&h.root, run.join("to-root")).unwrap();
    symlink(h.root.join(P), run.join("to-project")).unwrap();
    let project_before = manifest(&h.root.join(P).join(".cache"));
    let root = h.open();
    assert!(matches!(
        root.delete_run(P, "1700000000"),
        Outcome::Deleted { .. }
    ));
    assert!(!run.exists());
    victim.assert_intact();
    assert_eq!(manifest(&h.root.join(P).join(".cache")), project_before);
    assert!(h.root.join("otto.db").exists());
}

#[test]
fn the_root_may_be_a_symlink_the_user_configured() {
    let h = Home::new();
    h.run(P, "1700000000");
    let link = h.outside.join("otto-link");
    symlink(&h.root, &link).unwrap();
    let root = OttoRoot::open(&link).unwrap();
    assert_eq!(root.path(), link);
    assert!(matches!(
        root.delete_run(P, "1700000000"),
        Outcome::Deleted { .. }
    ));
    assert!(!h.root.join(P).join("1700000000").exists());
}

// ------------------------------------------------------------------ names

#[test]
fn names_that_are_not_projects_or_runs_are_refused_and_nothing_changes() {
    let h = Home::new();
    h.run(P, "1700000000");
    let before = manifest(&h.root);
    let root = h.open();
    for run in [
        "..",
        ".",
        "",
        "/",
        ".cache",
        "17x",
        "tasks",
        ".lock",
        "1700000000/..",
        "1700000000/tasks",
        "../1700000000",
        "1700000000-",
        "-1",
    ] {
        assert_refused(root.delete_run(P, run), "not an otto run");
    }
    for project in [
        "..",
        ".",
        "",
        "/",
        "backups",
        "otto.db",
        ".cache",
        TRASH_DIR,
        "WEB-6B20A2E4",
        "web-6b20a2e",
        "../otto/web-6b20a2e4",
        "web-6b20a2e4/..",
        "x/../web-6b20a2e4",
    ] {
        assert_refused(
            root.delete_run(project, "1700000000"),
            "not an otto project",
        );
        assert_refused(
            root.delete_cache_file(project, "6b20a2e4.sh", Duration::ZERO),
            "not an otto project",
        );
    }
    for rel in [
        "",
        ".",
        "..",
        "../1700000000",
        "/etc/passwd",
        "a/b/c",
        "x/",
        "/x",
    ] {
        assert_refused(
            root.delete_cache_file(P, rel, Duration::ZERO),
            "not a cache file",
        );
    }
    assert_eq!(manifest(&h.root), before);
}

#[test]
fn the_root_and_project_directories_are_never_deleted() {
    let h = Home::new();
    h.run(P, "1700000000");
    h.run(P, "1700000001");
    let root = h.open();
    assert_refused(root.delete_run(P, ""), "not an otto run");
    assert_refused(root.delete_run("", ""), "not an otto project");
    assert_refused(root.delete_run(P, "."), "not an otto run");
    for run in ["1700000000", "1700000001"] {
        assert!(matches!(root.delete_run(P, run), Outcome::Deleted { .. }));
    }
    let left: Vec<_> = fs::read_dir(h.root.join(P))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [".cache"]);
    assert!(h.root.join("otto.db").exists() && h.root.join("backups").is_dir());
}

#[test]
fn same_second_runs_are_deletable() {
    let h = Home::new();
    for run in ["1700000000", "1700000000-1", "1700000000-2"] {
        h.run(P, run);
    }
    let root = h.open();
    assert!(matches!(
        root.delete_run(P, "1700000000-1"),
        Outcome::Deleted { .. }
    ));
    assert!(matches!(
        root.delete_run(P, "1700000000-2"),
        Outcome::Deleted { .. }
    ));
    assert!(h.root.join(P).join("1700000000").is_dir());
    assert!(!h.root.join(P).join("1700000000-1").exists());
}

// ------------------------------------------------------------------ locks

#[test]
fn a_live_run_is_refused_and_left_intact() {
    let h = Home::new();
    let run = h.run(P, "1700000000");
    let before = manifest(&run);
    let root = h.open();
    // otto holds the lock through its own open file description.
    let otto = fs::File::open(run.join(".lock")).unwrap();
    rustix::fs::flock(&otto, FlockOperation::LockExclusive).unwrap();
    assert_eq!(
        root.delete_run(P, "1700000000"),
        Outcome::Refused(LIVE.into())
    );
    rustix::fs::flock(&otto, FlockOperation::LockShared).unwrap();
    assert_eq!(
        root.delete_run(P, "1700000000"),
        Outcome::Refused(LIVE.into())
    );
    assert_eq!(manifest(&run), before);
    assert!(trash_entries(&h.root).is_empty());
    // Once otto is done the run goes.
    drop(otto);
    assert!(matches!(
        root.delete_run(P, "1700000000"),
        Outcome::Deleted { .. }
    ));
}

#[test]
fn the_lock_probe_never_creates_the_lock_file_nor_follows_a_symlinked_one() {
    let h = Home::new();
    let run = h.run(P, "1700000000");
    fs::remove_file(run.join(".lock")).unwrap();
    let target = h.outside.join("lock-target");
    symlink(&target, run.join(".lock")).unwrap();
    let before = manifest(&run);
    let root = h.open();
    assert_refused(root.delete_run(P, "1700000000"), "symlink");
    assert!(!target.exists(), "the probe created the symlink's target");
    assert_eq!(manifest(&run), before);
    // A run with no .lock at all (legacy, or dead) is deleted.
    fs::remove_file(run.join(".lock")).unwrap();
    assert!(matches!(
        root.delete_run(P, "1700000000"),
        Outcome::Deleted { .. }
    ));
    assert!(!target.exists());
}

#[test]
fn our_clean_lock_refuses_a_second_holder_in_another_process() {
    let h = Home::new();
    let hooks = h.outside.join("hooks-home");
    let first = lock_clean(&hooks).unwrap();
    assert_eq!(first.path(), hooks.join("clean.lock"));
    let mode = fs::metadata(first.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        lock_clean(&hooks)
            .unwrap_err()
            .contains("another otto-hooks clean is running")
    );
    drop(first);
    // A holder in another process (util-linux flock) blocks us too.
    let mut child = match Command::new("flock")
        .arg(hooks.join("clean.lock"))
        .args(["sleep", "30"])
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => return eprintln!("no flock(1): cross-process part skipped"),
    };
    let mut refused = None;
    for _ in 0..200 {
        match lock_clean(&hooks) {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(lock) => drop(lock),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // flock(1) runs sleep in a child of its own, holding the lock: kill both.
    let group = format!("-{}", child.id());
    Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap();
    child.wait().unwrap();
    let refused = refused.expect("the other process's lock was never seen");
    assert!(
        refused.contains("another otto-hooks clean is running"),
        "{refused}"
    );
    assert!(
        refused.contains("pid unknown"),
        "a released lock left a stale pid: {refused}"
    );
    // The lock goes with the killed process (sleep may take a moment to exit).
    let start = std::time::Instant::now();
    while let Err(e) = lock_clean(&hooks) {
        assert!(start.elapsed() < Duration::from_secs(5), "{e}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------ outcomes/bytes

#[test]
fn an_already_gone_run_is_already_gone_and_frees_nothing() {
    let h = Home::new();
    h.run(P, "1700000000");
    let root = h.open();
    assert!(root.delete_run(P, "1700000000").bytes_freed() > 0);
    assert_eq!(root.delete_run(P, "1700000000"), Outcome::AlreadyGone);
    assert_eq!(root.delete_run(P, "1700000001"), Outcome::AlreadyGone);
    assert_eq!(
        root.delete_run("gone-0123abcd", "1700000000"),
        Outcome::AlreadyGone
    );
    assert_eq!(Outcome::AlreadyGone.bytes_freed(), 0);
}

#[test]
fn bytes_freed_equal_du_sb_of_the_run_before_deletion() {
    let h = Home::new();
    let run = h.run(P, "1700000000");
    // Hard links inside the run count once; empty dirs, empty files, a
    // large file, a FIFO, a socket and an odd name count as du counts them.
    fs::write(run.join("tasks/build/big.log"), vec![3u8; 1 << 20]).unwrap();
    fs::hard_link(
        run.join("tasks/build/big.log"),
        run.join("tasks/check:db/big-again"),
    )
    .unwrap();
    fs::create_dir_all(run.join("tasks/empty/deeper/still")).unwrap();
    fs::write(run.join("tasks/build/new\nline name"), "odd").unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(run.join("fifo"))
            .status()
            .unwrap()
            .success()
    );
    let _sock = std::os::unix::net::UnixListener::bind(run.join("sock")).unwrap();
    let expected = du_sb(&run);
    let root = h.open();
    assert_eq!(
        root.delete_run(P, "1700000000"),
        Outcome::Deleted {
            bytes_freed: expected
        }
    );
    assert!(!run.exists());
    assert!(trash_entries(&h.root).is_empty());
}

#[test]
fn a_file_hard_linked_from_outside_the_run_frees_nothing() {
    let h = Home::new();
    let run = h.run(P, "1700000000");
    fs::write(run.join("shared.bin"), vec![1u8; 100_000]).unwrap();
    fs::hard_link(run.join("shared.bin"), h.outside.join("keeps-a-link")).unwrap();
    let du_counts = du_sb(&run);
    let root = h.open();
    let freed = root.delete_run(P, "1700000000").bytes_freed();
    assert_eq!(freed, du_counts - 100_000);
    assert_eq!(
        fs::read(h.outside.join("keeps-a-link")).unwrap().len(),
        100_000
    );
}

// ------------------------------------------------------------------- cache

#[test]
fn cache_files_younger_than_min_age_are_kept_older_ones_deleted() {
    let h = Home::new();
    let cache = h.root.join(P).join(".cache");
    fs::write(cache.join("0000aaaa.sh"), "young").unwrap();
    fs::write(cache.join("0000bbbb.py"), "old enough").unwrap();
    set_mtime(
        &cache.join("0000bbbb.py"),
        CACHE_MIN_AGE + Duration::from_secs(5),
    );
    fs::create_dir_all(cache.join("check:db")).unwrap();
    fs::write(cache.join("check:db/0123456789abcdef"), "legacy").unwrap();
    set_mtime(
        &cache.join("check:db/0123456789abcdef"),
        Duration::from_secs(86_400),
    );
    let root = h.open();
    assert_refused(
        root.delete_cache_file(P, "0000aaaa.sh", CACHE_MIN_AGE),
        "modified",
    );
    assert_eq!(
        fs::read_to_string(cache.join("0000aaaa.sh")).unwrap(),
        "young"
    );
    assert_eq!(
        root.delete_cache_file(P, "0000bbbb.py", CACHE_MIN_AGE),
        Outcome::Deleted { bytes_freed: 10 }
    );
    assert!(!cache.join("0000bbbb.py").exists());
    assert_eq!(
        root.delete_cache_file(P, "check:db/0123456789abcdef", CACHE_MIN_AGE),
        Outcome::Deleted { bytes_freed: 6 }
    );
    assert!(cache.join("check:db").is_dir());
    assert_eq!(
        root.delete_cache_file(P, "0000bbbb.py", CACHE_MIN_AGE),
        Outcome::AlreadyGone
    );
    assert_eq!(
        root.delete_cache_file("gone-0123abcd", "0000bbbb.py", CACHE_MIN_AGE),
        Outcome::AlreadyGone
    );
    assert!(trash_entries(&h.root).is_empty());
}

#[test]
fn symlinks_in_the_cache_are_never_followed() {
    let h = Home::new();
    let victim = h.victim();
    let cache = h.root.join(P).join(".cache");
    symlink(victim.dir.join("precious"), cache.join("0000cccc.sh")).unwrap();
    symlink(&victim.dir, cache.join("task-link")).unwrap();
    fs::create_dir(cache.join("0000dddd.sh")).unwrap();
    let root = h.open();
    assert_refused(
        root.delete_cache_file(P, "0000cccc.sh", Duration::ZERO),
        "symlink",
    );
    assert_refused(
        root.delete_cache_file(P, "task-link/precious", Duration::ZERO),
        "symlink",
    );
    assert_refused(
        root.delete_cache_file(P, "0000dddd.sh", Duration::ZERO),
        "not a regular file",
    );
    assert!(fs::symlink_metadata(cache.join("0000cccc.sh")).is_ok());
    victim.assert_intact();
    // .cache itself a symlink to outside: refused.
    let other = h.root.join("other-0badc0de");
    fs::create_dir(&other).unwrap();
    symlink(&victim.dir, other.join(".cache")).unwrap();
    assert_refused(
        root.delete_cache_file("other-0badc0de", "precious", Duration::ZERO),
        "symlink",
    );
    victim.assert_intact();
}

#[test]
fn a_cache_file_hard_linked_elsewhere_frees_nothing() {
    let h = Home::new();
    let cache = h.root.join(P).join(".cache");
    fs::write(cache.join("0000eeee.sh"), "shared").unwrap();
    fs::hard_link(cache.join("0000eeee.sh"), h.outside.join("other-link")).unwrap();
    let root = h.open();
    assert_eq!(
        root.delete_cache_file(P, "0000eeee.sh", Duration::ZERO),
        Outcome::Deleted { bytes_freed: 0 }
    );
    assert_eq!(
        fs::read_to_string(h.outside.join("other-link")).unwrap(),
        "shared"
    );
}

// ------------------------------------------------------------------- trash

#[test]
fn purge_trash_finishes_what_an_interrupted_command_left() {
    let h = Home::new();
    let victim = h.victim();
    let root = h.open();
    assert_eq!(root.purge_trash().unwrap(), 0, "no trash yet");
    assert!(
        !h.root.join(TRASH_DIR).exists(),
        "purging must not create the trash"
    );
    // Two runs moved in by a command that died (pid 999999999: no such
    // process) before purging, one of them
    // half purged, plus a stray symlink.
    let trash = h.root.join(TRASH_DIR);
    fs::create_dir(&trash).unwrap();
    let a = h.run(P, "1700000000");
    let b = h.run(P, "1700000001");
    symlink(&victim.dir, b.join("tasks/escape")).unwrap();
    fs::remove_dir_all(b.join("tasks/build")).unwrap();
    let expected = du_sb(&a) + du_sb(&b);
    fs::rename(&a, trash.join(format!("{P}__1700000000__999999999_00"))).unwrap();
    fs::rename(&b, trash.join(format!("{P}__1700000001__999999999_01"))).unwrap();
    symlink(&victim.dir, trash.join("stray")).unwrap();
    let stray = victim.dir.as_os_str().len() as u64;
    assert_eq!(root.purge_trash().unwrap(), expected + stray);
    assert!(trash_entries(&h.root).is_empty());
    victim.assert_intact();
}

#[test]
fn a_trash_that_is_a_symlink_or_a_file_is_refused() {
    let h = Home::new();
    let victim = h.victim();
    let run = h.run(P, "1700000000");
    let before = manifest(&run);
    symlink(&victim.dir, h.root.join(TRASH_DIR)).unwrap();
    let root = h.open();
    assert_refused(root.delete_run(P, "1700000000"), "symlink");
    assert!(root.purge_trash().is_err());
    fs::remove_file(h.root.join(TRASH_DIR)).unwrap();
    fs::write(h.root.join(TRASH_DIR), "").unwrap();
    assert_refused(root.delete_run(P, "1700000000"), "not a directory");
    assert_eq!(manifest(&run), before);
    victim.assert_intact();
}

/// Makes a file impossible to unlink, and undoes it on drop wherever the
/// file went: `chattr +i` as root (root ignores permissions), a read-only
/// parent otherwise.
struct Undeletable {
    tree: PathBuf,
    root: bool,
}

impl Undeletable {
    fn new(file: &Path, tree: &Path) -> Option<Undeletable> {
        let root = rustix::process::geteuid().is_root();
        let ok = if root {
            Command::new("chattr")
                .arg("+i")
                .arg(file)
                .status()
                .is_ok_and(|s| s.success())
        } else {
            let parent = file.parent().unwrap();
            fs::set_permissions(parent, fs::Permissions::from_mode(0o555)).is_ok()
        };
        ok.then(|| Undeletable {
            tree: tree.to_path_buf(),
            root,
        })
    }
}

impl Drop for Undeletable {
    fn drop(&mut self) {
        let _ = if self.root {
            Command::new("chattr")
                .arg("-R")
                .arg("-i")
                .arg(&self.tree)
                .status()
        } else {
            Command::new("chmod")
                .arg("-R")
                .arg("u+w")
                .arg(&self.tree)
                .status()
        };
    }
}

#[test]
fn a_failed_purge_names_the_path_leaves_the_rest_in_the_trash_and_the_next_purge_finishes() {
    let h = Home::new();
    let run = h.run(P, "1700000000");
    let expected = du_sb(&run);
    let Some(guard) = Undeletable::new(&run.join("tasks/build/stdout.log"), &h.root) else {
        return eprintln!("cannot make a file undeletable here: skipped");
    };
    let root = h.open();
    let outcome = root.delete_run(P, "1700000000");
    let Outcome::Failed(message) = outcome else {
        panic!("expected Failed, got {outcome:?}");
    };
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains("tasks/build/"), "{message}");
    assert!(message.contains("gone from its project"), "{message}");
    assert!(message.contains(TRASH_DIR), "{message}");
    assert!(
        !run.exists(),
        "the run must be gone from the listing either way"
    );
    let left = trash_entries(&h.root);
    assert_eq!(left.len(), 1);
    assert!(left[0].join("tasks/build/stdout.log").exists());
    assert!(
        !left[0].join("tasks/check:db").exists(),
        "the rest was purged"
    );
    let err = root.purge_trash().unwrap_err().to_string();
    assert!(err.contains("tasks/build/"), "{err}");
    drop(guard);
    let freed_later = root.purge_trash().unwrap();
    assert!(
        freed_later > 0 && freed_later < expected,
        "{freed_later} / {expected}"
    );
    assert!(trash_entries(&h.root).is_empty());
}

// ------------------------------------------------------- CVE-2022-21658 race

/// While a run is being deleted, another thread keeps moving its
/// subdirectories away and putting symlinks to a victim outside the root in
/// their place — in the project and, once the run has moved, in the trash —
/// and now and then swaps the whole run directory for such a symlink.
#[test]
fn cve_2022_21658_subdirectories_swapped_for_symlinks_mid_delete_never_reach_the_victim() {
    const ROUNDS: usize = 400;
    const SUBS: usize = 6;
    // Creating files is what takes time here: use tmpfs when there is one.
    let shm = Path::new("/dev/shm");
    let h = if shm.is_dir() {
        Home::new_in(shm)
    } else {
        Home::new()
    };
    let victim = h.victim();
    let root = h.open();
    let swaps_in_trash = AtomicUsize::new(0);
    let swaps_in_place = AtomicUsize::new(0);
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        let name = format!("{}", 1_700_000_000 + round);
        let run = h.root.join(P).join(&name);
        for k in 0..SUBS {
            let sub = run.join(format!("tasks/t{k}"));
            fs::create_dir_all(sub.join("nested/deeper")).unwrap();
            for f in 0..4 {
                fs::write(sub.join(format!("f{f}")), "log line\n").unwrap();
                fs::write(sub.join(format!("nested/g{f}")), "x").unwrap();
            }
            fs::write(sub.join("nested/deeper/h"), "y").unwrap();
        }
        let done = AtomicBool::new(false);
        let swap_run = round % 3 == 2;
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                let mut n = 0usize;
                while !done.load(Ordering::Relaxed) {
                    n += 1;
                    if swap_run && n == 3 {
                        let away = h.outside.join(format!("moved-run-{round}"));
                        if fs::rename(&run, &away).is_ok() {
                            let _ = symlink(&victim.dir, &run);
                        }
                    }
                    let mut parents = vec![(run.join("tasks"), false)];
                    parents.extend(
                        trash_entries(&h.root)
                            .into_iter()
                            .map(|e| (e.join("tasks"), true)),
                    );
                    for (parent, in_trash) in parents {
                        for k in 0..SUBS {
                            let sub = parent.join(format!("t{k}"));
                            if fs::rename(&sub, parent.join(format!("away{k}-{n}"))).is_ok()
                                && symlink(&victim.dir, &sub).is_ok()
                            {
                                let c = if in_trash {
                                    &swaps_in_trash
                                } else {
                                    &swaps_in_place
                                };
                                c.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::yield_now();
                }
            });
            let outcome = root.delete_run(P, &name);
            done.store(true, Ordering::Relaxed);
            outcome
        });
        victim.assert_intact();
        let kind = match &outcome {
            Outcome::Deleted { .. } => "deleted",
            Outcome::Refused(r) => {
                assert!(r.contains("symlink") || r.contains("replaced"), "{r}");
                "refused"
            }
            Outcome::Failed(m) => {
                // Only the bounded retries can give up; nothing else fails.
                assert!(
                    m.contains("kept changing") || m.contains("cannot remove"),
                    "{m}"
                );
                "failed"
            }
            Outcome::AlreadyGone => "gone",
        };
        *outcomes.entry(kind).or_default() += 1;
        // Tidy up: whatever is left (a symlink in place of the run, the
        // trash) goes now that nobody is racing.
        root.purge_trash().unwrap();
        let _ = fs::remove_file(&run);
        if fs::symlink_metadata(&run).is_ok() {
            assert!(matches!(root.delete_run(P, &name), Outcome::Deleted { .. }));
        }
        victim.assert_intact();
        assert!(trash_entries(&h.root).is_empty());
    }
    let (in_trash, in_place) = (
        swaps_in_trash.load(Ordering::Relaxed),
        swaps_in_place.load(Ordering::Relaxed),
    );
    eprintln!(
        "outcomes {outcomes:?}; swaps in place {in_place}, in the trash mid-purge {in_trash}"
    );
    assert!(in_place + in_trash > 0, "the attacker never got a swap in");
    assert!(outcomes.get("deleted").copied().unwrap_or(0) > 0);
}

// ------------------------------------------------------------ mount points

const MOUNT_CHILD: &str = "OTTO_HOOKS_FSOPS_MOUNT_CHILD";

/// Mount points are refused and never entered. Mounting needs a private
/// mount namespace: the test re-runs itself under `unshare -Urm` (a user
/// and mount namespace; nothing leaks to the host) and is skipped where
/// that is not allowed.
#[test]
fn mount_points_are_refused_and_never_entered() {
    if let Some(dir) = std::env::var_os(MOUNT_CHILD) {
        return mount_points_child(Path::new(&dir));
    }
    if !Command::new("unshare")
        .args(["-Urm", "mount", "-t", "tmpfs", "tmpfs", "/mnt"])
        .status()
        .is_ok_and(|s| s.success())
    {
        return eprintln!("no user+mount namespaces here: mount-point test skipped");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .arg("-Urm")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mount_points_are_refused_and_never_entered",
            "--nocapture",
        ])
        .env(MOUNT_CHILD, tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mount(args: &[&std::ffi::OsStr]) {
    let st = Command::new("mount").args(args).status().unwrap();
    assert!(st.success(), "mount {args:?}");
}

fn mount_tmpfs(at: &Path) {
    mount(&[
        "-t".as_ref(),
        "tmpfs".as_ref(),
        "tmpfs".as_ref(),
        at.as_os_str(),
    ]);
}

fn mount_points_child(dir: &Path) {
    let h = Home::at(&dir.join("one"));
    let victim = h.victim();
    let root = h.open();

    // A project that is a mount point.
    let mp = h.root.join("mounted-0123abcd");
    fs::create_dir(&mp).unwrap();
    mount_tmpfs(&mp);
    fs::create_dir_all(mp.join("1700000000")).unwrap();
    fs::write(mp.join("1700000000/keep"), "tmpfs").unwrap();
    assert_refused(
        root.delete_run("mounted-0123abcd", "1700000000"),
        "mount point",
    );
    assert!(mp.join("1700000000/keep").exists());

    // A run that is a mount point.
    let run = h.root.join(P).join("1700000001");
    fs::create_dir_all(&run).unwrap();
    mount_tmpfs(&run);
    fs::write(run.join("keep"), "tmpfs").unwrap();
    assert_refused(root.delete_run(P, "1700000001"), "mount point");
    assert!(run.join("keep").exists());

    // The cache directory a mount point.
    let cache = h.root.join(P).join(".cache");
    mount_tmpfs(&cache);
    fs::write(cache.join("0000aaaa.sh"), "x").unwrap();
    assert_refused(
        root.delete_cache_file(P, "0000aaaa.sh", Duration::ZERO),
        "mount point",
    );
    assert!(cache.join("0000aaaa.sh").exists());

    // A run with a tmpfs and a bind mount of the victim (same device: only
    // the mount id tells) inside: the run leaves its project, the mounts
    // are not entered, what they hold survives.
    let run = h.run(P, "1700000002");
    fs::create_dir_all(run.join("tasks/build/tmp")).unwrap();
    mount_tmpfs(&run.join("tasks/build/tmp"));
    fs::write(run.join("tasks/build/tmp/keep"), "tmpfs").unwrap();
    fs::create_dir_all(run.join("tasks/bound")).unwrap();
    mount(&[
        "--bind".as_ref(),
        victim.dir.as_os_str(),
        run.join("tasks/bound").as_os_str(),
    ]);
    let outcome = root.delete_run(P, "1700000002");
    let Outcome::Failed(message) = &outcome else {
        panic!("expected Failed, got {outcome:?}");
    };
    assert!(message.contains("mount point"), "{message}");
    assert!(!run.exists());
    victim.assert_intact();
    let left = trash_entries(&h.root);
    assert_eq!(left.len(), 1);
    assert!(left[0].join("tasks/build/tmp/keep").exists());
    assert!(left[0].join("tasks/bound/precious").exists());
    assert!(
        !left[0].join("run.yaml").exists(),
        "everything else was purged"
    );
    assert!(
        root.purge_trash()
            .unwrap_err()
            .to_string()
            .contains("mount point")
    );
    victim.assert_intact();

    // A trash that is a mount point: nothing is moved into it.
    let h2 = Home::at(&dir.join("two"));
    let run = h2.run(P, "1700000000");
    fs::create_dir(h2.root.join(TRASH_DIR)).unwrap();
    mount_tmpfs(&h2.root.join(TRASH_DIR));
    assert_refused(h2.open().delete_run(P, "1700000000"), "mount point");
    assert!(run.join("run.yaml").exists());
    eprintln!("mount-point checks passed");
}
