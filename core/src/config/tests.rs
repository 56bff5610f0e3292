//! The configuration's behaviour, one rule per test.

use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::PluginKind;
use otto_hooks_plugin_api::report::ConfigReport;
use tempfile::TempDir;

use super::*;

/// A temporary world: a user home, `$OTTO_HOOKS_HOME` in it, and a project
/// checkout with a nested working directory.
struct World {
    _dir: TempDir,
    home: PathBuf,
    hooks_home: PathBuf,
    project: PathBuf,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    overrides: Vec<Override>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let hooks_home = home.join(".otto-hooks");
        let project = dir.path().join("src/web-shop");
        let cwd = project.join("app/src");
        std::fs::create_dir_all(&hooks_home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let env = vec![("HOME".to_owned(), home.display().to_string())];
        World {
            _dir: dir,
            home,
            hooks_home,
            project,
            cwd,
            env,
            overrides: Vec::new(),
        }
    }

    fn global(&self) -> PathBuf {
        self.hooks_home.join(GLOBAL_FILE)
    }

    fn project_file(&self) -> PathBuf {
        self.project.join(PROJECT_FILE)
    }

    fn write_global(&self, text: &str) -> PathBuf {
        write(&self.global(), text)
    }

    fn write_project(&self, text: &str) -> PathBuf {
        write(&self.project_file(), text)
    }

    fn env(mut self, var: &str, value: &str) -> World {
        self.env.push((var.to_owned(), value.to_owned()));
        self
    }

    fn set(mut self, spec: &str) -> World {
        self.overrides
            .push(Override::parse(spec, format!("--set {spec}")).unwrap());
        self
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            hooks_home: self.hooks_home.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            overrides: self.overrides.clone(),
        }
    }

    fn load(&self) -> Config {
        match load(&self.options()) {
            Ok(config) => config,
            Err(e) => panic!("load failed: {e}"),
        }
    }

    /// The error, checked to be one line.
    fn error(&self) -> String {
        match load(&self.options()) {
            Ok(config) => panic!("expected an error, got {config:#?}"),
            Err(e) => {
                assert!(!e.message.contains('\n'), "not one line: {:?}", e.message);
                assert_eq!(e.to_string(), e.message);
                e.message
            }
        }
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// `(value, source)` of `key` in a report.
fn entry<'r>(report: &'r ConfigReport, key: &str) -> (&'r str, &'r str) {
    let found = report.values.iter().find(|v| v.key == key);
    let v = found.unwrap_or_else(|| panic!("no `{key}` in {:#?}", report.values));
    (v.value.as_str(), v.source.as_str())
}

fn at(path: &Path, line: usize) -> String {
    format!("{}:{line}", path.display())
}

fn settings(text: &str) -> toml::Table {
    text.parse().unwrap()
}

// ---- defaults and precedence ------------------------------------------------

#[test]
fn without_files_the_defaults_choose_otto_fs_default_status_table_and_non_strict_hooks() {
    let world = World::new();
    let config = world.load();
    assert!(config.files.is_empty());
    assert_eq!(config.strict, Sourced::new(false, "default"));
    let selection = config.default_selection();
    assert_eq!(selection.reporter.len(), 1);
    assert_eq!(selection.reporter[0].plugin, "table");
    assert_eq!(selection.reporter[0].instance, "reporter.table");
    assert_eq!(selection.reporter[0].origin, "default");
    assert_eq!(selection.storage.len(), 1);
    assert_eq!(selection.storage[0].plugin, "otto-fs");
    assert_eq!(selection.status.len(), 1);
    assert_eq!(selection.status[0].plugin, "default");
    assert_eq!(selection.retention.len(), 1);
    assert_eq!(selection.retention[0].plugin, "standard");
    let report = config.report();
    assert_eq!(entry(&report, "hooks.strict"), ("false", "default"));
    assert_eq!(entry(&report, "reporter.plugin"), ("\"table\"", "default"));
    assert_eq!(entry(&report, "plugins.dirs"), ("[]", "default"));
}

#[test]
fn strict_is_decided_by_the_highest_layer_that_sets_it() {
    let mut world = World::new();
    let global = world.write_global("[hooks]\nstrict = true\n");
    let project = world.write_project("\n[hooks]\nstrict = false\n");
    world = world.env("OTTO_HOOKS_STRICT", "yes");
    world.overrides.push(Override {
        key: "hooks.strict".into(),
        value: toml::Value::Boolean(false),
        source: "--no-strict".into(),
    });
    assert_eq!(world.load().strict, Sourced::new(false, "--no-strict"));
    world.overrides.clear();
    assert_eq!(
        world.load().strict,
        Sourced::new(true, "env OTTO_HOOKS_STRICT")
    );
    world.env.retain(|(k, _)| k != "OTTO_HOOKS_STRICT");
    assert_eq!(world.load().strict, Sourced::new(false, at(&project, 3)));
    std::fs::remove_file(&project).unwrap();
    assert_eq!(world.load().strict, Sourced::new(true, at(&global, 2)));
    std::fs::remove_file(&global).unwrap();
    assert_eq!(world.load().strict, Sourced::new(false, "default"));
}

#[test]
fn every_layer_wins_over_the_ones_below_and_the_report_names_its_source() {
    let world = World::new()
        .env("OTTO_HOOKS_STRICT", "on")
        .env("OTTO_HOOKS_STORAGE", "sqlite")
        .set("retention.keep_last=3");
    let global = world.write_global(
        "[plugins]\ndirs = [\"/opt/otto-hooks/plugins\"]\n\n\
         [retention]\nplugin = \"standard\"\nkeep_days = 30\nkeep_last = 10\nkeep_failed = 5\n",
    );
    let project = world.write_project("[retention]\nkeep_days = 60\n");
    let config = world.load();
    assert_eq!(config.files, vec![global.clone(), project.clone()]);

    let report = config.report();
    assert_eq!(
        report.files,
        vec![global.display().to_string(), project.display().to_string()]
    );
    assert_eq!(entry(&report, "reporter.plugin"), ("\"table\"", "default"));
    let dirs_source = at(&global, 2);
    assert_eq!(
        entry(&report, "plugins.dirs"),
        ("[\"/opt/otto-hooks/plugins\"]", dirs_source.as_str())
    );
    assert_eq!(
        entry(&report, "retention.plugin"),
        ("\"standard\"", at(&global, 5).as_str())
    );
    assert_eq!(
        entry(&report, "retention.keep_failed"),
        ("5", at(&global, 8).as_str())
    );
    assert_eq!(
        entry(&report, "retention.keep_days"),
        ("60", at(&project, 2).as_str())
    );
    assert_eq!(
        entry(&report, "hooks.strict"),
        ("true", "env OTTO_HOOKS_STRICT")
    );
    assert_eq!(
        entry(&report, "storage.plugin"),
        ("\"sqlite\"", "env OTTO_HOOKS_STORAGE")
    );
    assert_eq!(
        entry(&report, "retention.keep_last"),
        ("3", "--set retention.keep_last=3")
    );

    let retention = &config.default_selection().retention[0];
    assert_eq!(
        retention.settings,
        settings("keep_days = 60\nkeep_last = 3\nkeep_failed = 5")
    );
    assert_eq!(retention.origin, at(&global, 5));
    assert_eq!(
        config.plugin_dirs[0].value,
        PathBuf::from("/opt/otto-hooks/plugins")
    );
    assert_eq!(config.plugin_dirs[0].source, dirs_source);
}

// ---- files ------------------------------------------------------------------

#[test]
fn the_project_file_is_found_by_walking_up_from_a_nested_working_directory() {
    let world = World::new();
    let project = world.write_project("[retention]\nplugin = \"standard\"\n");
    let config = world.load();
    assert_eq!(config.files, vec![project.clone()]);
    assert_eq!(
        config.default_selection().retention[0].origin,
        at(&project, 2)
    );
    assert_eq!(find_project_file(&world.cwd), Some(project));
}

#[test]
fn the_nearest_project_file_wins_over_one_further_up() {
    let world = World::new();
    world.write_project("[retention]\nplugin = \"far\"\n");
    let near = write(
        &world.cwd.parent().unwrap().join(PROJECT_FILE),
        "[retention]\nplugin = \"near\"\n",
    );
    let config = world.load();
    assert_eq!(config.files, vec![near]);
    assert_eq!(config.default_selection().retention[0].plugin, "near");
}

#[test]
fn a_missing_global_file_is_fine_and_otto_hooks_config_replaces_its_location() {
    let world = World::new();
    world.write_global("[retention]\nplugin = \"from-home\"\n");
    let other = write(
        &world.home.join("elsewhere.toml"),
        "[retention]\nplugin = \"from-env\"\n",
    );
    let world = world.env("OTTO_HOOKS_CONFIG", &other.display().to_string());
    let config = world.load();
    assert_eq!(config.files, vec![other]);
    assert_eq!(config.default_selection().retention[0].plugin, "from-env");
}

#[test]
fn otto_hooks_config_naming_a_missing_file_is_an_error() {
    let missing = "/nonexistent/otto-hooks.toml";
    let world = World::new().env("OTTO_HOOKS_CONFIG", missing);
    let message = world.error();
    assert!(
        message.starts_with("OTTO_HOOKS_CONFIG=\"/nonexistent/otto-hooks.toml\": "),
        "{message}"
    );
    assert!(message.ends_with("does not exist"), "{message}");
}

#[test]
fn otto_hooks_home_is_accepted_and_ignored() {
    let world = World::new().env("OTTO_HOOKS_HOME", "/somewhere/else");
    assert_eq!(world.load().default_selection().reporter[0].plugin, "table");
}

// ---- the security rule --------------------------------------------------------

#[test]
fn a_project_file_may_not_choose_plugin_code() {
    let world = World::new();
    let project =
        world.write_project("[hooks]\nstrict = true\n\n[plugins]\ndirs = [\"/tmp/evil\"]\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:4:1: [plugins] may only be set in the global config or OTTO_HOOKS_PLUGIN_DIRS \
             (a project file must not choose plugin code)",
            project.display()
        )
    );
    let project = world.write_project("plugins.paths = [\"/tmp/evil.so\"]\n");
    assert!(world.error().starts_with(&format!(
        "{}:1:1: [plugins] may only be set",
        project.display()
    )));
}

#[test]
fn plugin_locations_must_be_absolute() {
    let world = World::new();
    let global = world.write_global("[plugins]\ndirs = [\n  \"/ok\",\n  \"plugins/here\",\n]\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:4:3: `plugins.dirs` entry \"plugins/here\" is not an absolute path \
             (plugin locations must be absolute; `~/` expands to $HOME)",
            global.display()
        )
    );
    world.write_global("[plugins]\npaths = [\"lib.so\"]\n");
    assert!(
        world
            .error()
            .contains("`plugins.paths` entry \"lib.so\" is not an absolute path")
    );
}

#[test]
fn a_leading_tilde_expands_to_home_in_plugin_locations() {
    let world = World::new();
    world
        .write_global("[plugins]\ndirs = [\"~/plugins\", \"/abs\"]\npaths = [\"~/lib/libx.so\"]\n");
    let config = world.load();
    let dirs: Vec<PathBuf> = config.plugin_dirs.iter().map(|d| d.value.clone()).collect();
    assert_eq!(
        dirs,
        vec![world.home.join("plugins"), PathBuf::from("/abs")]
    );
    assert_eq!(config.plugin_paths[0].value, world.home.join("lib/libx.so"));
}

#[test]
fn otto_hooks_plugin_dirs_replaces_the_configured_dirs() {
    let world = World::new().env("OTTO_HOOKS_PLUGIN_DIRS", "/a:~/b::/c");
    world.write_global("[plugins]\ndirs = [\"/from-file\"]\n");
    let config = world.load();
    let dirs: Vec<PathBuf> = config.plugin_dirs.iter().map(|d| d.value.clone()).collect();
    assert_eq!(
        dirs,
        vec![
            PathBuf::from("/a"),
            world.home.join("b"),
            PathBuf::from("/c")
        ]
    );
    assert!(
        config
            .plugin_dirs
            .iter()
            .all(|d| d.source == "env OTTO_HOOKS_PLUGIN_DIRS")
    );

    let world = World::new().env("OTTO_HOOKS_PLUGIN_DIRS", "/a:relative");
    assert!(
        world
            .error()
            .starts_with("OTTO_HOOKS_PLUGIN_DIRS: \"relative\" is not an absolute path")
    );
}

// ---- errors -------------------------------------------------------------------

#[test]
fn a_syntax_error_names_the_file_line_and_column() {
    let world = World::new();
    let global = world.write_global("[hooks]\nstrict = true\n\n[retention]\nkeep_days = = 3\n");
    assert_eq!(
        world.error(),
        format!("{}:5:13: invalid string", global.display())
    );
}

#[test]
fn a_syntax_error_column_counts_characters_not_bytes() {
    let world = World::new();
    let project = world.write_project("[retention]\nplugin = \"standard\"\nnote = \"déjà\" x\n");
    let message = world.error();
    assert!(
        message.starts_with(&format!("{}:3:15: ", project.display())),
        "{message}"
    );
}

#[test]
fn an_unknown_top_level_key_is_named_with_its_position() {
    let world = World::new();
    let global = world.write_global("[hooks]\nstrict = true\n\n[retension]\nkeep_days = 3\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:4:1: unknown key `retension` (expected one of: plugins, hooks, clean, policies, \
             redaction, storage, status, retention, reporter, projects)",
            global.display()
        )
    );
    world.write_global("\n  retension = \"standard\"\n");
    assert!(world.error().starts_with(&format!(
        "{}:2:3: unknown key `retension`",
        global.display()
    )));
}

#[test]
fn an_unknown_key_in_hooks_is_named_with_its_position() {
    let world = World::new();
    let global = world.write_global("[hooks]\nstrict = true\nstrcit = false\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:3:1: unknown key `hooks.strcit` (expected one of: strict)",
            global.display()
        )
    );
}

#[test]
fn an_unknown_key_in_plugins_is_named_with_its_position() {
    let world = World::new();
    let global = world.write_global("[plugins]\ndir = [\"/x\"]\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:2:1: unknown key `plugins.dir` (expected one of: dirs, paths)",
            global.display()
        )
    );
}

#[test]
fn an_unknown_key_in_a_project_section_is_named_with_its_position() {
    let world = World::new();
    let global = world.write_global(
        "[retention]\nplugin = \"standard\"\n\n[projects.\"web-*\"]\nretention = { keep_days = 1 }\nhooks = { strict = true }\n",
    );
    assert_eq!(
        world.error(),
        format!(
            "{}:6:1: unknown key `hooks` in `projects.\"web-*\"` (expected one of: storage, status, retention, reporter)",
            global.display()
        )
    );
}

#[test]
fn settings_inside_a_kind_section_are_left_for_the_plugin_to_check() {
    let world = World::new();
    world.write_global("[retention]\nplugin = \"standard\"\nkeep_dayz = 3\n");
    assert_eq!(
        world.load().default_selection().retention[0].settings,
        settings("keep_dayz = 3")
    );
}

#[test]
fn a_wrong_type_names_the_key_and_both_types() {
    let world = World::new();
    let global = world.write_global("[hooks]\nstrict = \"yes\"\n");
    assert_eq!(
        world.error(),
        format!(
            "{}:2:10: `hooks.strict` must be a boolean, found a string",
            global.display()
        )
    );
    world.write_global("hooks = 3\n");
    assert!(
        world
            .error()
            .ends_with("`hooks` must be a table, found an integer")
    );
    world.write_global("[plugins]\ndirs = \"/one\"\n");
    assert!(
        world
            .error()
            .ends_with("`plugins.dirs` must be an array of absolute paths, found a string")
    );
    world.write_global("[plugins]\ndirs = [\"/one\", 2]\n");
    assert!(
        world
            .error()
            .ends_with("`plugins.dirs[1]` must be a string, found an integer")
    );
    world.write_global("[retention]\nplugin = 7\n");
    assert!(
        world
            .error()
            .ends_with("`retention.plugin` must be a string, found an integer")
    );
    world.write_global("retention = 7\n");
    assert!(
        world
            .error()
            .contains("`retention` must be a table, an array of tables, a plugin name")
    );
    world.write_global("storage = [\"sqlite\", 3]\n");
    assert!(
        world
            .error()
            .ends_with("`storage[1]` must be a plugin name or a table, found an integer")
    );
}

#[test]
fn an_invalid_glob_is_named_with_its_position() {
    let world = World::new();
    let global = world.write_global(
        "[retention]\nplugin = \"standard\"\n\n[projects.\"web-[\".retention]\nkeep_days = 1\n",
    );
    let message = world.error();
    assert!(
        message.starts_with(&format!(
            "{}:4:11: invalid project pattern \"web-[\": ",
            global.display()
        )),
        "{message}"
    );
}

#[test]
fn a_section_without_plugin_takes_the_plugin_chosen_below_it() {
    // The built-in defaults choose `standard`: settings alone merge onto it.
    let world = World::new();
    world.write_global("[retention]\nkeep_days = 3\n");
    let retention = &world.load().default_selection().retention[0];
    assert_eq!(
        (
            retention.plugin.as_str(),
            retention.settings.clone(),
            retention.origin.as_str()
        ),
        ("standard", settings("keep_days = 3"), "default")
    );
    // An array entry must name its plugin: nothing lies below an entry.
    world.write_global("[[storage]]\nplugin = \"sqlite\"\n[[storage]]\notto_home = \"/x\"\n");
    assert!(
        world
            .error()
            .ends_with("`storage[1]` has no `plugin` (each entry of an array names its plugin)")
    );
    let world = World::new().set("retention.keep_days=7");
    let retention = &world.load().default_selection().retention[0];
    assert_eq!(
        (retention.plugin.as_str(), retention.settings.clone()),
        ("standard", settings("keep_days = 7"))
    );
}

#[test]
fn an_unknown_otto_hooks_variable_is_an_error() {
    let world = World::new()
        .env("OTTO_HOOKS_STRCT", "1")
        .env("UNRELATED", "x");
    assert_eq!(
        world.error(),
        "unknown environment variable `OTTO_HOOKS_STRCT` (known: OTTO_HOOKS_HOME, OTTO_HOOKS_CONFIG, \
         OTTO_HOOKS_STRICT, OTTO_HOOKS_PLUGIN_DIRS, OTTO_HOOKS_STORAGE, OTTO_HOOKS_STATUS, \
         OTTO_HOOKS_RETENTION, OTTO_HOOKS_REPORTER, OTTO_HOOKS_DAEMON_AUTO_START)"
    );
}

#[test]
fn otto_hooks_strict_accepts_the_usual_booleans_and_nothing_else() {
    for (value, expected) in [
        ("1", true),
        ("TRUE", true),
        ("on", true),
        ("yes", true),
        ("0", false),
        ("off", false),
        ("No", false),
    ] {
        let world = World::new().env("OTTO_HOOKS_STRICT", value);
        assert_eq!(world.load().strict.value, expected, "{value}");
    }
    let world = World::new().env("OTTO_HOOKS_STRICT", "maybe");
    assert_eq!(
        world.error(),
        "OTTO_HOOKS_STRICT=\"maybe\" is not a boolean (use 1, true, yes, on or 0, false, no, off)"
    );
}

// ---- the merge rule -------------------------------------------------------------

#[test]
fn a_higher_section_naming_the_same_plugin_merges_settings_key_by_key() {
    let world = World::new();
    world.write_global("[retention]\nplugin = \"standard\"\nkeep_days = 30\nkeep_last = 10\nbuckets = { daily = 7, weekly = 4 }\n");
    world.write_project("[retention]\nplugin = \"standard\"\nkeep_days = 90\nbuckets.weekly = 8\n");
    let retention = &world.load().default_selection().retention[0];
    assert_eq!(
        retention.settings,
        settings("keep_days = 90\nkeep_last = 10\nbuckets = { daily = 7, weekly = 8 }")
    );
}

#[test]
fn a_higher_section_naming_another_plugin_replaces_the_lower_settings() {
    let world = World::new();
    world.write_global(
        "[retention]\nplugin = \"standard\"\nkeep_days = 30\nname = \"keep-month\"\n",
    );
    let project = world.write_project("[retention]\nplugin = \"weekday\"\nweeks = 8\n");
    let retention = &world.load().default_selection().retention;
    assert_eq!(retention.len(), 1);
    assert_eq!(retention[0].plugin, "weekday");
    assert_eq!(retention[0].instance, "retention.weekday");
    assert_eq!(retention[0].settings, settings("weeks = 8"));
    assert_eq!(retention[0].origin, at(&project, 2));
}

#[test]
fn an_array_puts_instances_side_by_side_with_distinct_names() {
    let world = World::new();
    // The project's `otto_home` is outside it: the global config allows that.
    world.write_global(
        "[security]\nproject_paths = \"anywhere\"\n[storage]\nplugin = \"sqlite\"\npath = \"/x.db\"\n",
    );
    world.write_project(
        "[[storage]]\nplugin = \"sqlite\"\n\n[[storage]]\nplugin = \"otto-fs\"\notto_home = \"/data/otto\"\n\n\
         [[storage]]\nplugin = \"sqlite\"\nname = \"archive\"\n\n[[storage]]\nplugin = \"sqlite\"\n",
    );
    let config = world.load();
    let storage = &config.default_selection().storage;
    let names: Vec<&str> = storage.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(
        names,
        [
            "storage.sqlite",
            "storage.otto-fs",
            "archive",
            "storage.sqlite#2"
        ]
    );
    assert!(
        storage[0].settings.is_empty(),
        "the array replaced the lower section"
    );
    assert_eq!(storage[1].settings, settings("otto_home = \"/data/otto\""));
    assert_eq!(
        config.default_selection().of_kind(PluginKind::Storage),
        storage.as_slice()
    );
    let report = config.report();
    assert_eq!(entry(&report, "storage[1].plugin").0, "\"otto-fs\"");
    assert_eq!(entry(&report, "storage[1].otto_home").0, "\"/data/otto\"");
    assert_eq!(entry(&report, "storage[2].name").0, "\"archive\"");
}

#[test]
fn shorthands_name_plugins_without_settings() {
    let world = World::new();
    let global =
        world.write_global("reporter = \"markdown\"\nstorage = [\"sqlite\", \"otto-fs\"]\n");
    let selection = world.load().default_selection();
    assert_eq!(selection.reporter[0].plugin, "markdown");
    assert_eq!(selection.reporter[0].origin, at(&global, 1));
    let storage: Vec<&str> = selection
        .storage
        .iter()
        .map(|s| s.plugin.as_str())
        .collect();
    assert_eq!(storage, ["sqlite", "otto-fs"]);
    assert_eq!(selection.storage[1].origin, at(&global, 2));
}

#[test]
fn an_empty_array_turns_a_kind_off() {
    let world = World::new();
    let global = world.write_global("reporter = []\n");
    let config = world.load();
    assert!(config.default_selection().reporter.is_empty());
    assert_eq!(
        entry(&config.report(), "reporter"),
        ("[]", at(&global, 1).as_str())
    );
}

#[test]
fn environment_plugin_names_follow_the_merge_rule() {
    let world = World::new().env("OTTO_HOOKS_RETENTION", "standard");
    world.write_global("[retention]\nplugin = \"standard\"\nkeep_days = 30\n");
    let retention = &world.load().default_selection().retention[0];
    assert_eq!(retention.settings, settings("keep_days = 30"));
    assert_eq!(retention.origin, "env OTTO_HOOKS_RETENTION");

    let world = World::new().env("OTTO_HOOKS_RETENTION", "weekday");
    world.write_global("[retention]\nplugin = \"standard\"\nkeep_days = 30\n");
    let retention = &world.load().default_selection().retention[0];
    assert_eq!(
        (retention.plugin.as_str(), retention.settings.len()),
        ("weekday", 0)
    );

    let world = World::new().env("OTTO_HOOKS_STORAGE", "sqlite, otto-fs");
    let storage: Vec<String> = world
        .load()
        .default_selection()
        .storage
        .into_iter()
        .map(|s| s.instance)
        .collect();
    assert_eq!(storage, ["storage.sqlite", "storage.otto-fs"]);

    let world = World::new().env("OTTO_HOOKS_REPORTER", " , ");
    assert!(
        world
            .error()
            .starts_with("OTTO_HOOKS_REPORTER names no reporter plugin")
    );
}

// ---- projects ------------------------------------------------------------------

const PROJECTS: &str = r#"
[retention]
plugin = "standard"
keep_days = 30

[projects."web-*".retention]
keep_days = 90

[projects."legacy-*"]
retention = { plugin = "weekday", weeks = 8 }

[projects."web-shop"]
retention.keep_last = 5

[projects."/srv/repos/*"]
reporter = "json"
"#;

#[test]
fn project_sections_match_the_name_and_apply_in_file_order() {
    let world = World::new();
    world.write_global(PROJECTS);
    let config = world.load();

    let shop = config.selection("web-shop", "web-shop-1a2b3c4d");
    assert_eq!(
        shop.retention[0].settings,
        settings("keep_days = 90\nkeep_last = 5")
    );
    let blog = config.selection("web-blog", "web-blog-00000000");
    assert_eq!(blog.retention[0].settings, settings("keep_days = 90"));
    let legacy = config.selection("legacy-erp", "legacy-erp-deadbeef");
    assert_eq!(legacy.retention[0].plugin, "weekday");
    assert_eq!(legacy.retention[0].settings, settings("weeks = 8"));
    let other = config.selection("api", "api-12345678");
    assert_eq!(other, config.default_selection());
    assert_eq!(other.retention[0].settings, settings("keep_days = 30"));
}

#[test]
fn project_sections_also_match_the_project_key() {
    let world = World::new();
    world.write_global(PROJECTS);
    let config = world.load();
    let choo = config.selection("api", "/srv/repos/api");
    assert_eq!(choo.reporter[0].plugin, "json");
    let by_key = config.selection("shop", "web-shop-1a2b3c4d");
    assert_eq!(by_key.retention[0].settings, settings("keep_days = 90"));
}

#[test]
fn a_later_project_section_overrides_an_earlier_one() {
    let world = World::new();
    world.write_global(
        "[projects.\"*\".retention]\nplugin = \"standard\"\nkeep_days = 1\n\n\
         [projects.\"web-*\".retention]\nkeep_days = 2\n\n[projects.\"*-shop\".retention]\nplugin = \"weekday\"\n",
    );
    world.write_project("[projects.\"web-shop\".retention]\nplugin = \"weekday\"\nweeks = 3\n");
    let config = world.load();
    let default = &config.default_selection().retention[0];
    assert_eq!(
        (default.plugin.as_str(), default.settings.len()),
        ("standard", 0)
    );
    let blog = &config.selection("web-blog", "k").retention[0];
    assert_eq!(
        (blog.plugin.as_str(), blog.settings.clone()),
        ("standard", settings("keep_days = 2"))
    );
    let shop = &config.selection("web-shop", "k").retention[0];
    assert_eq!(
        (shop.plugin.as_str(), shop.settings.clone()),
        ("weekday", settings("weeks = 3"))
    );
}

#[test]
fn the_report_lists_project_sections_with_quoted_patterns() {
    let world = World::new();
    let global = world.write_global(PROJECTS);
    let report = world.load().report();
    assert_eq!(
        entry(&report, "projects.\"web-*\".retention.keep_days"),
        ("90", at(&global, 7).as_str())
    );
    assert_eq!(
        entry(&report, "projects.\"legacy-*\".retention.plugin"),
        ("\"weekday\"", at(&global, 10).as_str())
    );
    assert_eq!(
        entry(&report, "projects.web-shop.retention.keep_last"),
        ("5", at(&global, 13).as_str())
    );
    assert_eq!(
        entry(&report, "projects.\"/srv/repos/*\".reporter.plugin").0,
        "\"json\""
    );
}

// ---- command-line overrides -------------------------------------------------------

#[test]
fn override_values_are_toml_or_else_strings() {
    let parse = |spec: &str| Override::parse(spec, "--set").unwrap();
    assert_eq!(
        parse("retention.keep_days=7").value,
        toml::Value::Integer(7)
    );
    assert_eq!(parse("retention.ratio=0.5").value, toml::Value::Float(0.5));
    assert_eq!(parse("hooks.strict=true").value, toml::Value::Boolean(true));
    assert_eq!(
        parse("reporter.plugin=table").value,
        toml::Value::String("table".into())
    );
    assert_eq!(
        parse("reporter.plugin= table ").value,
        toml::Value::String("table".into())
    );
    assert_eq!(parse("x.y=\"7\"").value, toml::Value::String("7".into()));
    assert_eq!(parse("x.y=a=b").value, toml::Value::String("a=b".into()));
    assert_eq!(parse("x.y=").value, toml::Value::String(String::new()));
    assert_eq!(
        parse("storage=[\"sqlite\", \"otto-fs\"]").value,
        toml::Value::Array(vec!["sqlite".into(), "otto-fs".into()])
    );
    let o = parse(" retention.keep_days = 7");
    assert_eq!(
        (o.key.as_str(), o.source.as_str()),
        ("retention.keep_days", "--set")
    );
    let e = Override::parse("retention.keep_days", "--set retention.keep_days").unwrap_err();
    assert!(
        e.message
            .starts_with("--set retention.keep_days: expected KEY=VALUE"),
        "{e}"
    );
    assert!(Override::parse("=3", "--set =3").is_err());
}

#[test]
fn overrides_choose_a_plugin_and_its_settings_in_any_order() {
    let world = World::new()
        .set("retention.weeks=8")
        .set("retention.plugin=weekday");
    world.write_global("[retention]\nplugin = \"standard\"\nkeep_days = 30\n");
    let config = world.load();
    let retention = &config.default_selection().retention[0];
    assert_eq!(retention.plugin, "weekday");
    assert_eq!(retention.origin, "--set retention.plugin=weekday");
    assert_eq!(retention.settings, settings("weeks = 8"));
    assert_eq!(
        entry(&config.report(), "retention.weeks"),
        ("8", "--set retention.weeks=8")
    );
}

#[test]
fn the_last_override_of_a_key_wins() {
    let world = World::new()
        .set("hooks.strict=true")
        .set("hooks.strict=false")
        .set("reporter=json");
    let config = world.load();
    assert_eq!(
        config.strict,
        Sourced::new(false, "--set hooks.strict=false")
    );
    assert_eq!(config.default_selection().reporter[0].plugin, "json");
}

#[test]
fn overrides_apply_over_project_sections_too() {
    let world = World::new().set("retention.keep_days=1");
    world.write_global(PROJECTS);
    let shop = world.load().selection("web-shop", "web-shop-1a2b3c4d");
    assert_eq!(
        shop.retention[0].settings,
        settings("keep_days = 1\nkeep_last = 5")
    );
}

#[test]
fn bad_overrides_are_errors_naming_the_flag() {
    let world = World::new().set("retension.keep_days=7");
    assert_eq!(
        world.error(),
        "--set retension.keep_days=7: unknown key `retension` (expected one of: plugins, hooks, clean, policies, redaction, storage, \
         status, retention, reporter)"
    );
    let world = World::new().set("hooks.strict=yes");
    assert_eq!(
        world.error(),
        "--set hooks.strict=yes: `hooks.strict` must be a boolean, found a string"
    );
    let world = World::new().set("projects.x.retention.plugin=standard");
    assert!(
        world
            .error()
            .starts_with("--set projects.x.retention.plugin=standard: `projects` can't be set")
    );
    let world = World::new().set("plugins.dirs=[\"rel\"]");
    assert!(world.error().starts_with(
        "--set plugins.dirs=[\"rel\"]: `plugins.dirs` entry \"rel\" is not an absolute path"
    ));
    let world = World::new().set("a..b=1");
    assert_eq!(world.error(), "--set a..b=1: invalid key `a..b`");
}

#[test]
fn daemon_auth_is_token_by_default_local_from_the_global_config_and_never_from_a_project() {
    let world = World::new();
    assert_eq!(world.load().setting_str("daemon.auth"), Some("token"));
    world.write_global("[daemon]\nauth = \"local\"\n");
    assert_eq!(world.load().setting_str("daemon.auth"), Some("local"));
    world.write_global("[daemon]\nauth = \"none\"\n");
    assert!(world.error().contains("token, local"), "{}", world.error());
    std::fs::remove_file(world.global()).unwrap();
    // A repository must not open the daemon to token-free writes.
    world.write_project("[daemon]\nauth = \"local\"\n");
    assert!(
        world
            .error()
            .contains("may only be set in the global config"),
        "{}",
        world.error()
    );
}

#[test]
fn overrides_may_set_plugin_locations() {
    let world = World::new().set("plugins.paths=[\"~/lib.so\"]");
    let config = world.load();
    assert_eq!(
        config.plugin_paths[0],
        Sourced::new(
            world.home.join("lib.so"),
            "--set plugins.paths=[\"~/lib.so\"]"
        )
    );
}

#[test]
fn the_built_in_defaults_are_valid() {
    let config = World::new().load();
    assert_eq!(
        config
            .report()
            .values
            .iter()
            .filter(|v| v.source == "default")
            .count(),
        20,
        "7 plugin values and otto-hooks' own clean.*, policies.*, redaction.*, daemon.* (auth among them), security.*, history.*"
    );
}

#[test]
fn errors_fold_line_breaks_into_one_line() {
    assert_eq!(ConfigError::new("a\nb\r\n c").message, "a b  c");
}

#[test]
fn config_show_lists_the_built_in_plugins_defaults_with_their_origin() {
    let world = World::new();
    world.write_global("[retention]\nkeep_days = 60\n");
    let report = world.load().report();
    assert_eq!(
        entry(&report, "retention.keep_last"),
        ("10", "default (plugin standard)")
    );
    // Set by the user: shown once, with its file and line.
    let keep_days: Vec<_> = report
        .values
        .iter()
        .filter(|v| v.key == "retention.keep_days")
        .collect();
    assert_eq!(keep_days.len(), 1);
    assert_eq!(keep_days[0].value, "60");
    assert!(keep_days[0].source.ends_with(":2"), "{:?}", keep_days[0]);
    // A default that follows another setting says so.
    assert_eq!(
        entry(&report, "retention.keep_failed_days"),
        ("60", "default (plugin standard; follows keep_days)")
    );
    assert_eq!(
        entry(&report, "reporter.color"),
        ("\"auto\"", "default (plugin table)")
    );
}
