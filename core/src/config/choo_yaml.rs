//! choo's config files as configuration layers: a repository's
//! `.choo.yaml` and the user's `~/.config/choo/config.yaml`.
//!
//! choo's design puts four keys about history there, and otto-hooks
//! applies them under the same names: `daemon.port`, `daemon.auto_start`,
//! `history.enabled`, `history.retention_days` (the last is the SQLite
//! history's `retention_days`). choo's own orchestration keys
//! (`parallelism`, `github`, …) belong to choo: they are not refused —
//! a real `.choo.yaml` is full of them — but listed by `config show` as
//! not used. Any other key, and any other key under `daemon:` or
//! `history:`, is refused with one line naming the file, the line and how
//! to say it in otto-hooks' own TOML. Nothing is silently ignored.

use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::report::ConfigValue;
use serde_yaml_ng::Value;

use super::layer::Layer;
use super::provenance::{ConfigError, Sourced};
use super::settings;
use super::yaml_source::{YamlFile, describe, entries, to_toml};

/// The name of a repository's choo config file.
pub const CHOO_PROJECT_FILE: &str = ".choo.yaml";

/// The user's choo config file, under `$HOME`.
pub const CHOO_GLOBAL_FILE: &str = ".config/choo/config.yaml";

/// The keys of choo's design otto-hooks applies, each its own setting.
const APPLIED: &[&str] = &[
    "daemon.port",
    "daemon.auto_start",
    "history.enabled",
    "history.retention_days",
];

/// choo's own top-level keys (its `Config` and `GlobalConfig`): choo's
/// business, not otto-hooks'.
const CHOO_OWN: &[&str] = &[
    "target_branch",
    "parallelism",
    "github",
    "worktree",
    "provider",
    "claude",
    "baseline_checks",
    "merge",
    "review",
    "feature",
    "code_review",
    "log_level",
    "default_specs_dir",
    "skills",
];

/// What a choo file contributes.
#[derive(Debug, Default)]
pub(super) struct ChooLayer {
    /// The settings it applies.
    pub layer: Layer,
    /// choo's own keys it holds, for `config show` (not used).
    pub not_used: Vec<ConfigValue>,
}

/// The nearest `.choo.yaml` from `cwd` up to `/`.
pub(super) fn find_project_file(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|dir| dir.join(CHOO_PROJECT_FILE))
        .find(|path| path.is_file())
}

/// Reads a choo config file's text (read from `path`).
pub(super) fn parse(path: &Path, text: &str) -> Result<ChooLayer, ConfigError> {
    let file = YamlFile::parse(path, text)?;
    let mut out = ChooLayer::default();
    if file.root.is_null() {
        return Ok(out);
    }
    for (key, value) in entries(&file, &[], &file.root)? {
        match key.as_str() {
            "daemon" | "history" => section(&file, &key, value, &mut out.layer)?,
            own if CHOO_OWN.contains(&own) => out.not_used.push(ConfigValue {
                key: format!("choo.{own}"),
                value: summary(value),
                source: format!(
                    "{} (choo's own setting; otto-hooks does not use it)",
                    file.at(&[own])
                ),
            }),
            other => return Err(file.err(&[other], refusal(other))),
        }
    }
    Ok(out)
}

/// `daemon:` or `history:`: the keys otto-hooks applies, checked like its own.
fn section(
    file: &YamlFile<'_>,
    name: &str,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    if value.is_null() {
        return Ok(());
    }
    for (key, value) in entries(file, &[name], value)? {
        let dotted = format!("{name}.{key}");
        let keys = [name, key.as_str()];
        let Some(def) = APPLIED
            .contains(&dotted.as_str())
            .then(|| settings::find(&dotted))
            .flatten()
        else {
            return Err(file.err(&keys, refusal(&dotted)));
        };
        // A key written without a value (`port:`) leaves the default, as in choo.
        if value.is_null() {
            continue;
        }
        let checked = to_toml(value).and_then(|v| settings::check(def, &v).ok().map(|()| v));
        let Some(toml_value) = checked else {
            let expected = settings::check(def, &toml::Value::Array(Vec::new()))
                .err()
                .unwrap_or_default();
            return Err(file.err(
                &keys,
                format_args!(
                    "`{dotted}` must be {expected}, found {}",
                    describe_value(value)
                ),
            ));
        };
        layer
            .settings
            .push((def.key, Sourced::new(toml_value, file.at(&keys))));
    }
    Ok(())
}

/// What a value is, with the number or text when it is a scalar.
fn describe_value(value: &Value) -> String {
    match value {
        Value::Number(n) => format!("{} {n}", describe(value)),
        Value::String(s) => format!("the string {s:?}"),
        _ => describe(value).to_owned(),
    }
}

/// How to say `key` in otto-hooks' own config, for the refusal.
fn refusal(key: &str) -> String {
    let read = APPLIED.join(", ");
    let top = key.split('.').next().unwrap_or(key);
    let hint = if settings::find(key).is_some() {
        let (section, name) = key.split_once('.').unwrap_or((key, ""));
        format!(
            "otto-hooks reads `{key}` from its TOML files only: put `[{section}] {name} = …` in \
             .otto-hooks.toml or $OTTO_HOOKS_HOME/config.toml"
        )
    } else if settings::SECTIONS.contains(&top)
        || [
            "storage",
            "status",
            "retention",
            "reporter",
            "plugins",
            "projects",
        ]
        .contains(&top)
    {
        format!(
            "`{top}` is otto-hooks' own TOML section: put `[{top}]` in .otto-hooks.toml or \
             $OTTO_HOOKS_HOME/config.toml"
        )
    } else {
        "otto-hooks' own settings go in .otto-hooks.toml or $OTTO_HOOKS_HOME/config.toml (TOML)"
            .to_owned()
    };
    format!(
        "`{key}` is not a key of choo's config that otto-hooks reads (it reads {read}); {hint} \
         (see docs/CONFIG.md)"
    )
}

/// A short rendering of a value for `config show`.
fn summary(value: &Value) -> String {
    match to_toml(value) {
        Some(v) => super::report::render_value(&v),
        None => format!("({})", describe(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<ChooLayer, ConfigError> {
        parse(Path::new("/r/.choo.yaml"), text)
    }

    fn value(layer: &ChooLayer, key: &str) -> Option<(toml::Value, String)> {
        layer
            .layer
            .settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (v.value.clone(), v.source.clone()))
    }

    #[test]
    fn the_design_keys_apply_with_their_lines() {
        let c = read(
            "parallelism: 4\ndaemon:\n  port: 9090\n  auto_start: false\nhistory:\n  enabled: false\n  retention_days: 30\n",
        )
        .unwrap();
        assert_eq!(
            value(&c, "daemon.port"),
            Some((toml::Value::Integer(9090), "/r/.choo.yaml:3".into()))
        );
        assert_eq!(
            value(&c, "daemon.auto_start").map(|v| v.0),
            Some(toml::Value::Boolean(false))
        );
        assert_eq!(
            value(&c, "history.enabled").map(|v| v.0),
            Some(toml::Value::Boolean(false))
        );
        assert_eq!(
            value(&c, "history.retention_days"),
            Some((toml::Value::Integer(30), "/r/.choo.yaml:7".into()))
        );
        assert_eq!(c.not_used.len(), 1);
        assert_eq!(c.not_used[0].key, "choo.parallelism");
        assert!(c.not_used[0].source.starts_with("/r/.choo.yaml:1 "));
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line_and_a_translation() {
        let e = read("daemon:\n  port: 1\n  bind: 0.0.0.0\n")
            .unwrap_err()
            .message;
        assert!(e.starts_with("/r/.choo.yaml:3: `daemon.bind`"), "{e}");
        assert!(e.contains("[daemon] bind = …"), "{e}");
        let e = read("colour: red\n").unwrap_err().message;
        assert!(e.starts_with("/r/.choo.yaml:1: `colour`"), "{e}");
        let e = read("history:\n  max_runs: 3\n").unwrap_err().message;
        assert!(e.starts_with("/r/.choo.yaml:2: `history.max_runs`"), "{e}");
        let e = read("retention:\n  keep_days: 3\n").unwrap_err().message;
        assert!(e.contains("put `[retention]` in .otto-hooks.toml"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_or_range_is_refused() {
        let e = read("daemon:\n  port: \"8080\"\n").unwrap_err().message;
        assert_eq!(
            e,
            "/r/.choo.yaml:2: `daemon.port` must be an integer from 0 to 65535, found the string \"8080\""
        );
        let e = read("daemon:\n  port: 70000\n").unwrap_err().message;
        assert!(e.contains("found an integer 70000"), "{e}");
        let e = read("history:\n  enabled: yes please\n")
            .unwrap_err()
            .message;
        assert!(e.contains("`history.enabled` must be a boolean"), "{e}");
        let e = read("- a\n- b\n").unwrap_err().message;
        assert!(e.contains("the file must be a mapping"), "{e}");
    }

    #[test]
    fn an_empty_file_or_section_sets_nothing() {
        assert!(read("").unwrap().layer.settings.is_empty());
        assert!(read("daemon:\n").unwrap().layer.settings.is_empty());
        assert!(
            read("daemon:\n  port:\n")
                .unwrap()
                .layer
                .settings
                .is_empty()
        );
    }
}
