//! otto's retention config, `$OTTO_HOME/config.yml` (`~/.otto/config.yml`),
//! as a configuration layer below otto-hooks' own files.
//!
//! The shape is otto's file-based management plan
//! (`docs/file-based-management-plan.md` in otto):
//!
//! ```yaml
//! retention:
//!   default:  { keep_days: 30, keep_last_n: 10, keep_failed_days: 7 }
//!   per_project:
//!     otto-abc123: { keep_days: 90, keep_last_n: 50 }
//! ```
//!
//! Each key becomes the `standard` retention policy's setting of the same
//! meaning (`keep_last_n` → `keep_last`); the names otto's ottofile uses
//! for the same things (`keep_last`, `keep_failed`) are read too. A
//! `per_project` entry applies to the project of that name or directory
//! name, exactly (no pattern: otto's names are literal). Anything else is
//! refused with one line naming the file and line.

use std::path::Path;

use globset::GlobBuilder;
use otto_hooks_plugin_api::report::ConfigValue;
use serde_yaml_ng::Value;

use super::layer::{InstancePatch, Layer, ProjectSection, SectionPatch, Setting};
use super::provenance::{ConfigError, Sourced};
use super::yaml_source::{YamlFile, describe, entries};

/// The name of otto's config file in `$OTTO_HOME`.
pub const OTTO_CONFIG_FILE: &str = "config.yml";

/// The index of the retention kind in a layer's sections (as `KINDS`).
const RETENTION: usize = 2;

/// otto's retention keys and the `standard` settings they become.
const KEYS: &[(&str, &str)] = &[
    ("keep_days", "keep_days"),
    ("keep_last_n", "keep_last"),
    ("keep_last", "keep_last"),
    ("keep_failed_days", "keep_failed_days"),
    ("keep_failed", "keep_failed_days"),
];

/// otto's `keep_failed` default (its auto-prune's): failed runs 60 days.
pub(super) const OTTO_KEEP_FAILED_DAYS: i64 = 60;

/// otto's own defaults, verified in otto's source (`src/cfg/otto.rs`,
/// `RetentionSpec`, applied by its auto-prune after every run; and
/// `src/cli/commands/clean.rs` for `otto clean`): `(key, value, what)`.
pub(super) const OTTO_DEFAULTS: &[(&str, i64, &str)] = &[
    (
        "keep_days",
        30,
        "otto's default (its auto-prune and `otto clean --keep-days`); \
         otto-hooks' is the same: retention.keep_days",
    ),
    (
        "keep_last_n",
        10,
        "otto's default (its auto-prune; `otto clean` keeps no last N without --keep-last); \
         otto-hooks' is the same: retention.keep_last",
    ),
    (
        "keep_failed_days",
        OTTO_KEEP_FAILED_DAYS,
        "otto's default (its auto-prune; `otto clean` gives failed runs --keep-days); \
         otto-hooks' differs: retention.keep_failed_days follows keep_days, see docs/CONFIG.md",
    ),
];

/// Reads otto's config file's text (read from `path`) into a layer: its
/// `retention.default` as the `[retention]` section (no plugin named: it
/// sets the `standard` policy's keys), each `per_project` entry as a
/// project section.
pub(super) fn parse(path: &Path, text: &str) -> Result<Layer, ConfigError> {
    let file = YamlFile::parse(path, text)?;
    let mut layer = Layer::default();
    if file.root.is_null() {
        return Ok(layer);
    }
    for (key, value) in entries(&file, &[], &file.root)? {
        if key != "retention" {
            return Err(file.err(
                &[&key],
                format_args!(
                    "unknown key `{key}` in otto's config (otto-hooks reads `retention:` from it: \
                     `default:` and `per_project:`, see docs/CONFIG.md)"
                ),
            ));
        }
        if value.is_null() {
            continue;
        }
        for (key, value) in entries(&file, &["retention"], value)? {
            match key.as_str() {
                "default" => {
                    let patch = policy(&file, &["retention", "default"], value)?;
                    layer.sections[RETENTION] = Some(SectionPatch::One(patch));
                }
                "per_project" => per_project(&file, value, &mut layer)?,
                other => {
                    return Err(file.err(
                        &["retention", other],
                        format_args!(
                            "unknown key `retention.{other}` in otto's config (expected `default` or `per_project`)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(layer)
}

fn per_project(file: &YamlFile<'_>, value: &Value, layer: &mut Layer) -> Result<(), ConfigError> {
    if value.is_null() {
        return Ok(());
    }
    for (name, value) in entries(file, &["retention", "per_project"], value)? {
        let keys = ["retention", "per_project", name.as_str()];
        if name.trim().is_empty() {
            return Err(file.err(&keys, "a project name must not be empty"));
        }
        // otto's names are literal: `web[1]` means that name, not a pattern.
        let pattern = globset::escape(&name);
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| file.err(&keys, format_args!("project {name:?}: {}", e.kind())))?;
        let mut sections: [Option<SectionPatch>; 4] = Default::default();
        sections[RETENTION] = Some(SectionPatch::One(policy(file, &keys, value)?));
        layer.projects.push(ProjectSection {
            pattern,
            matcher: glob.compile_matcher(),
            sections,
        });
    }
    Ok(())
}

/// One policy mapping (`{keep_days, keep_last_n, keep_failed_days}`) as
/// settings of the `standard` retention plugin.
fn policy(file: &YamlFile<'_>, at: &[&str], value: &Value) -> Result<InstancePatch, ConfigError> {
    let dotted = at.join(".");
    let mut patch = InstancePatch {
        plugin: None,
        name: None,
        settings: Vec::new(),
        what: format!("{dotted} (otto's config)"),
        at: file.at(at),
    };
    if value.is_null() {
        return Ok(patch);
    }
    for (key, value) in entries(file, at, value)? {
        let mut keys = at.to_vec();
        keys.push(&key);
        let Some((_, setting)) = KEYS.iter().find(|(k, _)| *k == key) else {
            return Err(file.err(
                &keys,
                format_args!(
                    "unknown key `{dotted}.{key}` in otto's config (expected keep_days, keep_last_n, keep_failed_days)"
                ),
            ));
        };
        let days = match value {
            Value::Number(n) => n.as_u64().filter(|d| *d <= u64::from(u32::MAX)),
            _ => None,
        };
        let Some(days) = days else {
            return Err(file.err(
                &keys,
                format_args!(
                    "`{dotted}.{key}` must be a whole number, 0 or more, found {}",
                    describe(value)
                ),
            ));
        };
        if patch.settings.iter().any(|(k, _)| k == setting) {
            return Err(file.err(
                &keys,
                format_args!("`{dotted}.{key}` sets `{setting}` a second time"),
            ));
        }
        patch.settings.push((
            (*setting).to_owned(),
            Setting::Value(Sourced::new(
                toml::Value::Integer(days as i64),
                file.at(&keys),
            )),
        ));
    }
    Ok(patch)
}

/// `config show`'s rows for otto's defaults that otto's config leaves
/// unset (`layer`: what it sets, `None` without a file).
pub(super) fn default_rows(layer: Option<&Layer>) -> Vec<ConfigValue> {
    let set: Vec<&str> = layer
        .and_then(|l| match &l.sections[RETENTION] {
            Some(SectionPatch::One(p)) => {
                Some(p.settings.iter().map(|(k, _)| k.as_str()).collect())
            }
            _ => None,
        })
        .unwrap_or_default();
    OTTO_DEFAULTS
        .iter()
        .filter(|(key, _, _)| {
            let ours = KEYS
                .iter()
                .find(|(k, _)| k == key)
                .map_or(*key, |(_, s)| *s);
            !set.contains(&ours)
        })
        .map(|(key, value, what)| ConfigValue {
            key: format!("otto.retention.default.{key}"),
            value: value.to_string(),
            source: (*what).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Layer, ConfigError> {
        parse(Path::new("/h/.otto/config.yml"), text)
    }

    fn settings(patch: &Option<SectionPatch>) -> Vec<(String, i64, String)> {
        let Some(SectionPatch::One(p)) = patch else {
            panic!("one section")
        };
        p.settings
            .iter()
            .map(|(k, s)| match s {
                Setting::Value(v) => (k.clone(), v.value.as_integer().unwrap(), v.source.clone()),
                Setting::Table { .. } => panic!("a value"),
            })
            .collect()
    }

    #[test]
    fn the_plan_shape_becomes_standard_settings_default_and_per_project() {
        let layer = read(
            "retention:\n  default:\n    keep_days: 30\n    keep_last_n: 10\n    keep_failed_days: 7\n\n  per_project:\n    otto-abc123:\n      keep_days: 90\n      keep_last_n: 50\n",
        )
        .unwrap();
        assert_eq!(
            settings(&layer.sections[RETENTION]),
            [
                ("keep_days".into(), 30, "/h/.otto/config.yml:3".into()),
                ("keep_last".into(), 10, "/h/.otto/config.yml:4".into()),
                ("keep_failed_days".into(), 7, "/h/.otto/config.yml:5".into()),
            ]
        );
        assert_eq!(layer.projects.len(), 1);
        let p = &layer.projects[0];
        assert!(p.matches("otto-abc123", "x") && p.matches("x", "otto-abc123"));
        assert!(
            !p.matches("otto-abc1234", "fotto-abc123"),
            "exact, not a substring"
        );
        assert_eq!(
            settings(&p.sections[RETENTION]),
            [
                ("keep_days".into(), 90, "/h/.otto/config.yml:9".into()),
                ("keep_last".into(), 50, "/h/.otto/config.yml:10".into()),
            ]
        );
    }

    #[test]
    fn a_project_name_is_literal_not_a_pattern() {
        let layer = read("retention:\n  per_project:\n    \"web*\": {keep_days: 1}\n").unwrap();
        assert!(layer.projects[0].matches("web*", "k"));
        assert!(!layer.projects[0].matches("web-1", "k"));
    }

    #[test]
    fn the_ottofile_names_are_read_too_and_a_repeat_is_refused() {
        let layer = read("retention:\n  default: {keep_last: 3, keep_failed: 60}\n").unwrap();
        let s = settings(&layer.sections[RETENTION]);
        assert_eq!(s[0].0, "keep_last");
        assert_eq!(s[1].0, "keep_failed_days");
        let e = read("retention:\n  default:\n    keep_last: 3\n    keep_last_n: 4\n")
            .unwrap_err()
            .message;
        assert!(e.starts_with("/h/.otto/config.yml:4:"), "{e}");
    }

    #[test]
    fn anything_else_is_refused_with_its_line() {
        let e = read("retention:\n  default:\n    keep_dayz: 3\n")
            .unwrap_err()
            .message;
        assert!(
            e.starts_with("/h/.otto/config.yml:3: unknown key `retention.default.keep_dayz`"),
            "{e}"
        );
        let e = read("retention:\n  default:\n    keep_days: -1\n")
            .unwrap_err()
            .message;
        assert!(e.contains("must be a whole number"), "{e}");
        let e = read("retention:\n  default:\n    keep_days: \"30\"\n")
            .unwrap_err()
            .message;
        assert!(e.contains("found a string"), "{e}");
        let e = read("prune: true\n").unwrap_err().message;
        assert!(
            e.starts_with("/h/.otto/config.yml:1: unknown key `prune`"),
            "{e}"
        );
        let e = read("retention:\n  perproject: {}\n").unwrap_err().message;
        assert!(e.starts_with("/h/.otto/config.yml:2:"), "{e}");
    }

    #[test]
    fn ottos_failed_run_default_is_sixty_days() {
        assert_eq!(OTTO_DEFAULTS[2].0, "keep_failed_days");
        assert_eq!(OTTO_DEFAULTS[2].1, OTTO_KEEP_FAILED_DAYS);
        assert_eq!(OTTO_KEEP_FAILED_DAYS, 60);
    }

    #[test]
    fn the_defaults_shown_are_those_the_file_leaves_unset() {
        assert_eq!(default_rows(None).len(), 3);
        let layer = read("retention:\n  default: {keep_failed_days: 14}\n").unwrap();
        let rows = default_rows(Some(&layer));
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "otto.retention.default.keep_days",
                "otto.retention.default.keep_last_n"
            ]
        );
    }
}
