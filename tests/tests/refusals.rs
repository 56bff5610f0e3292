//! Libraries the registry must refuse, each with one line that names what
//! failed — and a plugin directory full of them never stops otto-hooks.

use otto_hooks_tests::bounded::BoundedOutput;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use otto_hooks_core::registry::check::check_library;
use otto_hooks_core::registry::{Registry, Source, load_library};
use otto_hooks_plugin_api::PluginKind;
use otto_hooks_plugin_api::abi::ABI_VERSION;
use otto_hooks_tests::{PrivateDir, PrivateLibrary, library, set_mode};

/// Loads `path` expecting a refusal; checks it is one line and returns it.
fn refused(path: &Path) -> String {
    let reason = match load_library(path) {
        Ok(handles) => panic!(
            "{} was loaded, with plugins {:?}",
            path.display(),
            handles.iter().map(|h| h.name()).collect::<Vec<_>>()
        ),
        Err(reason) => reason,
    };
    assert!(!reason.contains('\n'), "not one line: {reason:?}");
    assert!(!reason.is_empty());
    // Through the registry too: recorded, not fatal, one line with the path.
    let mut registry = Registry::with_builtins();
    assert_eq!(registry.add_library(path), 0);
    let refusal = registry
        .refusals()
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no refusal recorded for {}", path.display()));
    let line = refusal.to_string();
    assert!(!line.contains('\n'), "not one line: {line:?}");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert_eq!(refusal.reason, reason);
    reason
}

#[test]
fn a_library_declaring_abi_major_2_is_refused_naming_both_versions() {
    let lib = PrivateLibrary::of("fixture-abi-major-2");
    let reason = refused(&lib.path);
    assert!(reason.contains("ABI 2.0"), "{reason}");
    assert!(reason.contains(&ABI_VERSION.to_string()), "{reason}");
    assert!(
        reason.contains(&format!("1.0 to {ABI_VERSION}")),
        "{reason}"
    );
    assert!(reason.contains("rebuild"), "says what to do: {reason}");
}

#[test]
fn a_text_file_named_like_a_library_is_refused_as_not_a_library() {
    let dir = PrivateDir::new();
    let path = dir.write_file("notes.so", "this is not a shared library\n");
    let reason = refused(&path);
    assert!(reason.contains("not a shared library"), "{reason}");
    // The loader's own message mentions the /proc/self/fd path it used;
    // the user never configured that path.
    assert!(!reason.contains("/proc/self/fd"), "{reason}");
}

#[test]
fn a_library_without_the_entry_symbol_is_refused_naming_the_symbol() {
    let lib = PrivateLibrary::of("fixture-no-entry");
    let reason = refused(&lib.path);
    assert!(reason.contains("otto_hooks_plugin_entry"), "{reason}");
    assert!(reason.contains("not an otto-hooks plugin"), "{reason}");
}

#[test]
fn a_world_writable_copy_of_a_good_library_is_refused_with_the_fix() {
    let lib = PrivateLibrary::of("weekday-retention");
    set_mode(&lib.path, 0o666);
    let reason = refused(&lib.path);
    assert!(reason.contains("world-writable"), "{reason}");
    assert!(reason.contains("chmod go-w"), "{reason}");
}

#[test]
fn a_symlink_to_a_good_library_is_refused() {
    let lib = PrivateLibrary::of("weekday-retention");
    let link = lib.dir.path().join("link.so");
    symlink(&lib.path, &link).unwrap();
    let reason = refused(&link);
    assert!(reason.contains("symlink"), "{reason}");
    // The target itself is fine.
    assert!(load_library(&lib.path).is_ok());
}

#[test]
fn a_good_library_inside_a_group_writable_directory_is_refused_naming_the_directory() {
    let dir = PrivateDir::new();
    let shared = dir.subdir("shared", 0o770);
    let path = dir.copy_file(
        &library("weekday-retention"),
        "shared/libweekday_retention.so",
    );
    let reason = refused(&path);
    assert!(reason.contains("group-writable"), "{reason}");
    assert!(reason.contains(&shared.display().to_string()), "{reason}");
}

#[test]
fn a_good_library_inside_a_world_writable_non_sticky_directory_is_refused() {
    let dir = PrivateDir::new();
    let open = dir.subdir("open", 0o777);
    let path = dir.copy_file(
        &library("weekday-retention"),
        "open/libweekday_retention.so",
    );
    let reason = refused(&path);
    assert!(reason.contains("world-writable"), "{reason}");
    assert!(reason.contains(&open.display().to_string()), "{reason}");
}

#[test]
fn a_relative_path_is_refused() {
    let reason = refused(Path::new("plugins/libweekday_retention.so"));
    assert!(reason.contains("absolute"), "{reason}");
}

#[test]
fn plugins_check_stops_at_the_failing_step_of_a_bad_library() {
    let data = PrivateDir::new();
    let cases = [
        ("fixture-abi-major-2", "load", "2.0"),
        ("fixture-no-entry", "load", "otto_hooks_plugin_entry"),
    ];
    for (crate_name, step, needle) in cases {
        let lib = PrivateLibrary::of(crate_name);
        let report = check_library(&lib.path, &toml::Table::new(), data.path());
        assert!(!report.passed, "{crate_name}: {report:#?}");
        let last = report.steps.last().unwrap();
        assert_eq!(last.step, step, "{crate_name}: {report:#?}");
        assert!(!last.ok);
        assert!(
            last.detail.contains(needle),
            "{crate_name}: {}",
            last.detail
        );
        assert!(!last.detail.contains('\n'));
    }
    let dir = PrivateDir::new();
    let text = dir.write_file("text.so", "not a library");
    set_mode(&text, 0o646);
    let report = check_library(&text, &toml::Table::new(), data.path());
    assert!(!report.passed);
    assert_eq!(report.steps.len(), 1, "{report:#?}");
    assert_eq!(report.steps[0].step, "trust");
}

/// A plugin directory holding good and bad files; returns it and the paths
/// that must be refused.
fn mixed_plugin_dir(dir: &PrivateDir) -> (PathBuf, Vec<PathBuf>) {
    let plugins = dir.subdir("plugins", 0o755);
    let at = |name: &str| format!("plugins/{name}");
    dir.copy_file(&library("weekday-retention"), &at("10-weekday.so"));
    dir.copy_file(&library("fixture-panicky"), &at("20-panicky.so"));
    dir.copy_file(&library("fixture-abi-1-0"), &at("30-abi10.so"));
    let mut bad = vec![
        dir.copy_file(&library("fixture-abi-major-2"), &at("40-abi2.so")),
        dir.copy_file(&library("fixture-no-entry"), &at("50-no-entry.so")),
        dir.write_file(&at("60-text.so"), "plain text, not ELF\n"),
        dir.write_file(&at("61-empty.so"), ""),
    ];
    let ww = dir.copy_file(&library("fixture-recorder"), &at("70-world-writable.so"));
    set_mode(&ww, 0o666);
    bad.push(ww);
    let link = plugins.join("80-link.so");
    symlink(plugins.join("10-weekday.so"), &link).expect("symlink");
    bad.push(link);
    let subdir = plugins.join("90-dir.so");
    std::fs::create_dir(&subdir).expect("mkdir");
    bad.push(subdir);
    // Not a library name: never even looked at.
    dir.write_file(&at("README.md"), "these are plugins\n");
    bad.sort();
    (plugins, bad)
}

#[test]
fn discover_registers_the_good_files_of_a_mixed_directory_and_refuses_the_bad_ones() {
    let dir = PrivateDir::new();
    let (plugins, bad) = mixed_plugin_dir(&dir);
    let registry = Registry::discover(std::slice::from_ref(&plugins), &[]);

    let loaded: Vec<(&str, PathBuf)> = registry
        .plugins()
        .iter()
        .filter_map(|r| match &r.source {
            Source::Library(p) => Some((r.handle.name(), p.clone())),
            Source::BuiltIn => None,
        })
        .collect();
    assert_eq!(
        loaded,
        [
            ("weekday", plugins.join("10-weekday.so")),
            ("panicky", plugins.join("20-panicky.so")),
            ("panicky-reporter", plugins.join("20-panicky.so")),
            ("abi10", plugins.join("30-abi10.so")),
        ]
    );
    // The built-ins are still there.
    assert!(registry.find(PluginKind::Reporter, "table").is_some());

    let mut refused: Vec<PathBuf> = registry.refusals().iter().map(|r| r.path.clone()).collect();
    refused.sort();
    assert_eq!(refused, bad, "{:#?}", registry.refusals());
    for r in registry.refusals() {
        let line = r.to_string();
        assert!(!line.contains('\n'), "{line:?}");
        assert!(!r.reason.is_empty());
    }
    let reason_of = |name: &str| {
        registry
            .refusals()
            .iter()
            .find(|r| r.path == plugins.join(name))
            .map(|r| r.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason_of("40-abi2.so").contains("2.0"));
    assert!(reason_of("50-no-entry.so").contains("otto_hooks_plugin_entry"));
    assert!(reason_of("70-world-writable.so").contains("world-writable"));
    assert!(reason_of("80-link.so").contains("symlink"));
    assert!(reason_of("90-dir.so").contains("not a regular file"));

    // `plugins list` shows both.
    let list = registry.plugin_list();
    assert!(
        list.iter()
            .any(|e| e.name == "abi10" && e.state == "ok" && e.abi == "1.0")
    );
    let refused_entries = list
        .iter()
        .filter(|e| e.state.starts_with("refused: "))
        .count();
    assert_eq!(refused_entries, bad.len());
}

#[test]
fn discover_refuses_bad_directories_and_paths_without_stopping() {
    let dir = PrivateDir::new();
    let (plugins, _) = mixed_plugin_dir(&dir);
    let open = dir.subdir("open", 0o777);
    let good = dir.copy_file(&library("fixture-recorder"), "librecorder.so");
    let dirs = vec![
        PathBuf::from("relative/plugins"),
        dir.path().join("missing"),
        open.clone(),
        plugins,
    ];
    let paths = vec![
        dir.path().join("missing.so"),
        PathBuf::from("librecorder.so"),
        good.clone(),
    ];
    let registry = Registry::discover(&dirs, &paths);
    let recorder = registry.find(PluginKind::Storage, "recorder").unwrap();
    assert_eq!(recorder.source, Source::Library(good));
    assert!(registry.find(PluginKind::Retention, "weekday").is_some());
    for bad in [
        PathBuf::from("relative/plugins"),
        dir.path().join("missing"),
        open,
        dir.path().join("missing.so"),
        PathBuf::from("librecorder.so"),
    ] {
        let r = registry
            .refusals()
            .iter()
            .find(|r| r.path == bad)
            .unwrap_or_else(|| panic!("{} not refused: {:#?}", bad.display(), registry.refusals()));
        assert!(!r.to_string().contains('\n'));
    }
}

#[test]
fn the_same_plugin_name_twice_refuses_the_second_naming_the_first() {
    let dir = PrivateDir::new();
    let plugins = dir.subdir("plugins", 0o700);
    let first = dir.copy_file(&library("weekday-retention"), "plugins/a-weekday.so");
    let second = dir.copy_file(&library("weekday-retention"), "plugins/b-weekday.so");
    let registry = Registry::discover(&[plugins], &[]);

    let weekday = registry.find(PluginKind::Retention, "weekday").unwrap();
    assert_eq!(weekday.source, Source::Library(first.clone()));
    let weekdays = registry
        .plugins()
        .iter()
        .filter(|r| r.handle.name() == "weekday")
        .count();
    assert_eq!(weekdays, 1);

    assert_eq!(registry.refusals().len(), 1, "{:#?}", registry.refusals());
    let refusal = &registry.refusals()[0];
    assert_eq!(refusal.path, second);
    assert!(refusal.reason.contains("`weekday`"), "{}", refusal.reason);
    assert!(
        refusal.reason.contains("already provided by"),
        "{}",
        refusal.reason
    );
    assert!(
        refusal.reason.contains(&first.display().to_string()),
        "{}",
        refusal.reason
    );
    assert!(!refusal.to_string().contains('\n'));
}

#[test]
fn a_library_reached_through_a_symlinked_directory_with_a_world_writable_real_parent_is_refused() {
    let dir = PrivateDir::new();
    let open = dir.subdir("open", 0o777);
    let real = open.join("plugins");
    std::fs::create_dir(&real).expect("mkdir");
    set_mode(&real, 0o700);
    dir.copy_file(
        &library("weekday-retention"),
        "open/plugins/libweekday_retention.so",
    );
    // `<private>/plugins` -> `<private>/open/plugins`: anyone may rename
    // `open/plugins` and put their own directory there.
    let link = dir.path().join("plugins");
    symlink(&real, &link).expect("symlink");
    let reason = refused(&link.join("libweekday_retention.so"));
    assert!(
        reason.contains("world-writable") || reason.contains("symlink"),
        "{reason}"
    );
}

/// A copy of `crate_name`'s library cut to `len` bytes, in `dir`.
fn truncated_copy(dir: &PrivateDir, crate_name: &str, len: u64, name: &str) -> PathBuf {
    let path = dir.copy_library_as(crate_name, name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open copy");
    file.set_len(len).expect("truncate copy");
    path
}

#[test]
fn a_truncated_library_is_refused_as_truncated_at_every_cut_never_mapped() {
    // Before the ELF checks, dlopen mapped the missing tail and the first
    // touch killed the process with SIGBUS: this test would not finish.
    let full = std::fs::metadata(library("weekday-retention"))
        .expect("stat library")
        .len();
    let dir = PrivateDir::new();
    let cuts = [
        64,
        full / 10,
        full / 3,
        full / 2,
        full * 9 / 10,
        full - 4096,
        full - 1,
    ];
    for (i, len) in cuts.into_iter().enumerate() {
        let path = truncated_copy(&dir, "weekday-retention", len, &format!("cut{i}.so"));
        let reason = refused(&path);
        assert!(
            reason.contains("truncated or damaged"),
            "cut at {len} of {full} bytes: {reason}"
        );
        assert!(reason.contains("half-copied"), "says what to do: {reason}");
    }
    // The whole file still loads.
    let whole = dir.copy_library_as("weekday-retention", "whole.so");
    assert!(load_library(&whole).is_ok());
}

#[test]
fn random_bytes_after_an_elf_magic_are_refused_without_loading() {
    let dir = PrivateDir::new();
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    let mut state: u32 = 0x2545_f491;
    bytes.extend((0..8192).map(|_| {
        // xorshift: deterministic garbage.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state.to_le_bytes()[0]
    }));
    let path = dir.path().join("garbage.so");
    std::fs::write(&path, &bytes).expect("write");
    set_mode(&path, 0o600);
    let reason = refused(&path);
    assert!(
        reason.contains("not a shared library") || reason.contains("truncated or damaged"),
        "{reason}"
    );
}

/// Runs `f` on another thread; fails the test when it takes over 20 s (a
/// hang) instead of hanging the suite.
fn within_20s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[test]
fn a_fifo_named_like_a_library_is_refused_at_once_never_waited_on() {
    let dir = PrivateDir::new();
    let plugins = dir.subdir("plugins", 0o700);
    let fifo = plugins.join("libfifo.so");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    dir.copy_file(&library("weekday-retention"), "plugins/libweekday.so");
    let registry = within_20s("discovering a plugin directory with a FIFO", move || {
        Registry::discover(&[plugins], &[])
    });
    assert!(registry.find(PluginKind::Retention, "weekday").is_some());
    let refusal = registry
        .refusals()
        .iter()
        .find(|r| r.path == fifo)
        .unwrap_or_else(|| panic!("FIFO not refused: {:#?}", registry.refusals()));
    assert!(
        refusal.reason.contains("not a regular file"),
        "{}",
        refusal.reason
    );
}

#[test]
fn commands_that_do_not_need_a_broken_plugin_finish_with_a_warning() {
    // A half-copied library and a FIFO in the plugin directory: `list`,
    // `plugins list` and `hook run-start` all finish (no SIGBUS, no hang).
    let dir = PrivateDir::new();
    let home = dir.subdir("home", 0o700);
    let plugins = dir.subdir("home/plugins", 0o700);
    let full = std::fs::metadata(library("fixture-recorder"))
        .expect("stat")
        .len();
    truncated_copy(
        &dir,
        "fixture-recorder",
        full / 2,
        "home/plugins/libhalf.so",
    );
    rustix::fs::mknodat(
        rustix::fs::CWD,
        plugins.join("libfifo.so"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    std::fs::write(
        home.join("config.toml"),
        format!("[plugins]\ndirs = [{:?}]\n", plugins.display().to_string()),
    )
    .expect("config");
    let otto_home = dir.subdir("otto", 0o700);
    let run = |args: &[&str]| {
        let home = home.clone();
        let otto_home = otto_home.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        within_20s(&format!("otto-hooks {}", args.join(" ")), move || {
            std::process::Command::new(otto_hooks_tests::otto_hooks_binary())
                .args(args)
                .env("OTTO_HOOKS_HOME", &home)
                .env("OTTO_HOME", &otto_home)
                .env_remove("OTTO_HOOKS_CONFIG")
                .current_dir(&home)
                .bounded_output()
                .expect("run otto-hooks")
        })
    };
    let out = run(&["plugins", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.code().is_some(), "killed by a signal: {out:?}");
    assert!(stdout.contains("truncated or damaged"), "{stdout}");
    assert!(stdout.contains("not a regular file"), "{stdout}");

    let out = run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let repo = dir.path().display().to_string();
    let out = run(&["hook", "run-start", "--repo", &repo, "--no-daemon"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    assert!(stderr.lines().all(|l| !l.contains("SIGBUS")), "{stderr}");
}
