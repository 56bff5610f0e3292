//! A `.otto-hooks.toml` is read only when the user could have written it
//! and nobody else could: one planted in a shared parent directory (a
//! `/tmp`-like sticky directory, or a file of another user) is ignored with
//! one warning line. A project file the user owns may not aim paths
//! (`storage.otto_home`, `storage.db`) outside its project unless the
//! global config says `[security] project_paths = "anywhere"`.
//!
//! Other owners are real: run as root, the tests `chown` to `nobody`
//! (uid 65534); run as another user, those cases say so on one line and
//! only the writable-by-others cases run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use otto_hooks_tests::otto_home::{OttoHome, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use otto_hooks_tests::{PrivateDir, set_mode};

const NOBODY: u32 = 65_534;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// A world whose `$OTTO_HOME` holds project `web`, and another otto home
/// of the user's (`<home>/victim`) holding project `victim` with an old run.
fn world_and_victim() -> (OttoWorld, OttoHome) {
    let w = OttoWorld::new();
    w.project("web")
        .run(now() - 3600)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let victim = OttoHome::new(w.dir.path().join("victim"));
    victim
        .project("victim", "/src/victim")
        .run(now() - 90 * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    (w, victim)
}

/// `otto-hooks ARGS` in the world, from `cwd`.
fn run_in(w: &OttoWorld, cwd: &Path, args: &[&str]) -> Output {
    Command::new(otto_hooks_tests::otto_hooks_binary())
        .args(args)
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(cwd)
        .bounded_output()
        .unwrap()
}

/// A project file pointing `otto_home` at `victim`, in `dir`.
fn plant(dir: &Path, victim: &OttoHome) -> PathBuf {
    let file = dir.join(".otto-hooks.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\notto_home = {:?}\n",
            victim.root().display().to_string()
        ),
    )
    .unwrap();
    set_mode(&file, 0o644);
    file
}

/// Asserts that `list` and `config show` from `cwd` ignore `file`, with
/// one warning line naming it and `why`, and list the real runs only.
fn assert_ignored(w: &OttoWorld, cwd: &Path, file: &Path, why: &str) {
    let out = run_in(w, cwd, &["list", "--json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("web") && !stdout.contains("victim"),
        "{stdout}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("warning: ignoring ")
            && stderr.contains(&file.display().to_string())
            && stderr.contains(why),
        "{stderr}"
    );
    let shown = text(&run_in(w, cwd, &["config", "show", "--json"]).stdout);
    assert!(!shown.contains(".otto-hooks.toml"), "{shown}");
    // The old run of the other otto home is not the policies' to delete.
    let out = run_in(w, cwd, &["run-policies", "--set", "retention.keep_days=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs = std::fs::read_dir(w.dir.path().join("victim"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("victim-"))
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().filter_map(Result::ok))
        .filter(|run| {
            run.file_name()
                .to_string_lossy()
                .starts_with(|c: char| c.is_ascii_digit())
        })
        .count();
    assert_eq!(runs, 1, "the victim's run survives");
}

#[test]
fn a_project_file_in_a_sticky_world_writable_directory_is_ignored_with_one_warning() {
    let (w, victim) = world_and_victim();
    let shared_root = PrivateDir::new();
    let shared = shared_root.subdir("shared", 0o1777);
    let cwd = shared.join("work");
    std::fs::create_dir(&cwd).unwrap();
    let file = plant(&shared, &victim);
    if is_root() {
        chown(&file, NOBODY);
        assert_ignored(&w, &cwd, &file, &format!("owned by uid {NOBODY}"));
    }
    // Planted by the user themself, a world-writable directory still means
    // anybody could have replaced it.
    if is_root() {
        chown(&file, 0);
    }
    assert_ignored(&w, &cwd, &file, "is writable by others");
    // Ignored whole, not only its paths: a planted retention policy or
    // reporter counts no more than a planted otto home.
    std::fs::write(&file, "[reporter]\nplugin = \"json\"\n").unwrap();
    let out = run_in(&w, &cwd, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("web") && !table.trim_start().starts_with('['),
        "{table}"
    );
    assert!(text(&out.stderr).starts_with("warning: ignoring "));
}

#[test]
fn a_project_file_of_another_user_or_in_their_directory_is_ignored() {
    if !is_root() {
        eprintln!("skipped: making a file of another user needs root (run as root to test it)");
        return;
    }
    let (w, victim) = world_and_victim();
    let shared_root = PrivateDir::new();
    let shared = shared_root.subdir("shared", 0o755);
    let cwd = shared.join("work");
    std::fs::create_dir(&cwd).unwrap();
    let file = plant(&shared, &victim);
    chown(&file, NOBODY);
    assert_ignored(&w, &cwd, &file, &format!("owned by uid {NOBODY}"));
    // The user's own file in a directory another user owns.
    chown(&file, 0);
    chown(&shared, NOBODY);
    assert_ignored(&w, &cwd, &file, &format!("owned by uid {NOBODY}"));
    // Under the home, every directory up to it counts.
    let src = w.dir.path().join("src");
    let shop = src.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    let file = plant(&shop, &victim);
    chown(&src, NOBODY);
    assert_ignored(&w, &shop, &file, &src.display().to_string());
}

#[test]
fn the_users_own_project_file_in_their_own_directory_is_read() {
    let (w, _victim) = world_and_victim();
    let shop = w.dir.path().join("src").join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    std::fs::write(
        shop.join(".otto-hooks.toml"),
        "[retention]\nkeep_days = 9\n",
    )
    .unwrap();
    let out = run_in(&w, &shop, &["config", "show"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("retention.keep_days") && l.contains("= 9 ")),
        "{shown}"
    );
}

#[test]
fn a_project_file_may_not_aim_otto_home_or_db_outside_its_project_unless_the_global_config_allows_it()
 {
    let (w, victim) = world_and_victim();
    let shop = w.dir.path().join("src").join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    let file = plant(&shop, &victim);
    let refused = |args: &[&str], what: &str| {
        let out = run_in(&w, &shop, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
        assert!(
            stderr.contains(&format!("{}:2", file.display()))
                && stderr.contains("is outside the project")
                && stderr.contains("project_paths = \"anywhere\""),
            "{what}: {stderr}"
        );
    };
    refused(&["list"], "otto_home");
    refused(&["run-policies"], "otto_home");
    // Nor through `..`, nor through a symlink inside the project.
    std::fs::write(
        &file,
        format!(
            "[storage]\notto_home = \"{}/../../victim\"\n",
            shop.display()
        ),
    )
    .unwrap();
    refused(&["list"], "..");
    std::os::unix::fs::symlink(victim.root(), shop.join("otto")).unwrap();
    std::fs::write(
        &file,
        format!("[storage]\notto_home = \"{}/otto\"\n", shop.display()),
    )
    .unwrap();
    refused(&["list"], "symlink");
    std::fs::write(
        &file,
        "[storage]\nplugin = \"sqlite\"\ndb = \"/var/tmp/elsewhere.db\"\n",
    )
    .unwrap();
    let out = run_in(&w, &shop, &["config", "show"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`storage.db`"),
        "{}",
        text(&out.stderr)
    );

    // Inside the project is fine.
    std::fs::remove_file(shop.join("otto")).unwrap();
    std::fs::write(
        &file,
        format!("[storage]\notto_home = \"{}/otto\"\n", shop.display()),
    )
    .unwrap();
    let inside = OttoHome::new(shop.join("otto"));
    inside
        .project("inside", "/src/inside")
        .run(now() - 60)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write();
    let out = run_in(&w, &shop, &["list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("inside"),
        "{}",
        text(&out.stdout)
    );

    // The project file can't allow itself; the global config can.
    plant(&shop, &victim);
    std::fs::write(
        &file,
        format!(
            "[security]\nproject_paths = \"anywhere\"\n[storage]\notto_home = {:?}\n",
            victim.root().display().to_string()
        ),
    )
    .unwrap();
    let out = run_in(&w, &shop, &["list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("may only be set in the global config"),
        "{}",
        text(&out.stderr)
    );
    plant(&shop, &victim);
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[security]\nproject_paths = \"anywhere\"\n",
    )
    .unwrap();
    let out = run_in(&w, &shop, &["list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("victim"),
        "{}",
        text(&out.stdout)
    );
}
