//! The `OTTO_HOOKS_*` environment variables as a configuration layer.

use std::path::Path;

use super::layer::{InstancePatch, Layer, PathList, SectionPatch, expand_home};
use super::provenance::{ConfigError, Sourced};
use super::{KINDS, kind_index};

/// Every `OTTO_HOOKS_*` variable otto-hooks reads; any other is an error
/// (most likely a typo that would otherwise be silently ignored).
pub const KNOWN_ENV: &[&str] = &[
    "OTTO_HOOKS_HOME",
    "OTTO_HOOKS_CONFIG",
    "OTTO_HOOKS_STRICT",
    "OTTO_HOOKS_PLUGIN_DIRS",
    "OTTO_HOOKS_STORAGE",
    "OTTO_HOOKS_STATUS",
    "OTTO_HOOKS_RETENTION",
    "OTTO_HOOKS_REPORTER",
    "OTTO_HOOKS_DAEMON_AUTO_START",
];

/// The prefix of otto-hooks' variables.
pub const ENV_PREFIX: &str = "OTTO_HOOKS_";

/// What the environment sets.
#[derive(Debug, Default)]
pub(super) struct EnvLayer {
    /// `OTTO_HOOKS_CONFIG`, when set and not empty.
    pub config: Option<String>,
    pub layer: Layer,
}

/// Reads the `OTTO_HOOKS_*` variables of `env` (others are ignored; the last
/// of repeated variables wins).
pub(super) fn parse_env(env: &[(String, String)], home: &Path) -> Result<EnvLayer, ConfigError> {
    let mut out = EnvLayer::default();
    for (var, value) in env {
        let Some(suffix) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let source = format!("env {var}");
        match suffix {
            "HOME" => {}
            "CONFIG" => out.config = Some(value.clone()).filter(|v| !v.is_empty()),
            "STRICT" => out.layer.strict = Some(Sourced::new(parse_bool(var, value)?, source)),
            "DAEMON_AUTO_START" => out.layer.settings.push((
                "daemon.auto_start",
                Sourced::new(toml::Value::Boolean(parse_bool(var, value)?), source),
            )),
            "PLUGIN_DIRS" => {
                let mut paths = Vec::new();
                for entry in value.split(':').filter(|e| !e.is_empty()) {
                    let path = expand_home(entry, home);
                    if !path.is_absolute() {
                        return Err(ConfigError::new(format!(
                            "{var}: {entry:?} is not an absolute path \
                             (plugin directories must be absolute; `~/` expands to $HOME)"
                        )));
                    }
                    paths.push(Sourced::new(path, source.clone()));
                }
                out.layer.plugin_dirs = Some(PathList { source, paths });
            }
            _ => match kind_index(&suffix.to_ascii_lowercase())
                .filter(|_| KNOWN_ENV.contains(&var.as_str()))
            {
                Some(i) => out.layer.sections[i] = Some(kind_section(var, value, i, &source)?),
                None => {
                    return Err(ConfigError::new(format!(
                        "unknown environment variable `{var}` (known: {})",
                        KNOWN_ENV.join(", ")
                    )));
                }
            },
        }
    }
    Ok(out)
}

fn parse_bool(var: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(format!(
            "{var}={value:?} is not a boolean (use 1, true, yes, on or 0, false, no, off)"
        ))),
    }
}

/// `OTTO_HOOKS_RETENTION=standard`, or several names separated by commas.
fn kind_section(
    var: &str,
    value: &str,
    kind: usize,
    source: &str,
) -> Result<SectionPatch, ConfigError> {
    let kind = KINDS[kind];
    let mut items: Vec<InstancePatch> = value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| InstancePatch {
            plugin: Some(Sourced::new(name.to_owned(), source)),
            name: None,
            settings: Vec::new(),
            what: var.to_owned(),
            at: var.to_owned(),
        })
        .collect();
    match items.len() {
        0 => Err(ConfigError::new(format!(
            "{var} names no {kind} plugin (give a plugin name, or several separated by commas)"
        ))),
        1 => Ok(SectionPatch::One(items.remove(0))),
        _ => Ok(SectionPatch::Many {
            source: source.to_owned(),
            items,
        }),
    }
}
