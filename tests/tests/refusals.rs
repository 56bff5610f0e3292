//! Libraries the registry must refuse, each with one line that names what
//! failed — and a plugin directory full of them never stops otto-hooks.

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
    assert!(
        reason.contains("cannot load it as a shared library"),
        "{reason}"
    );
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
