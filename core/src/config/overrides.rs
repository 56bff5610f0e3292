//! Command-line overrides (`--set key=value`, `--strict`), the top layer.

use std::ops::Range;
use std::path::Path;

use super::layer::{Layer, Role, key_segment, parse_layer};
use super::provenance::{ConfigError, Origin};
use super::report::render_value;

/// One command-line override: a dotted key of the default (non-project)
/// configuration and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key: `retention.keep_days`, `hooks.strict`, `reporter.plugin`,
    /// `reporter` (a plugin name, like the file's shorthand).
    pub key: String,
    /// The value.
    pub value: toml::Value,
    /// Where it came from, for messages and `config show`: `--set retention.keep_days=7`, `--strict`.
    pub source: String,
}

impl Override {
    /// An override with `key`, `value` and `source`.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<toml::Value>,
        source: impl Into<String>,
    ) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
            source: source.into(),
        }
    }

    /// Parses `key=value`. The value is read as a TOML value (`7`, `true`,
    /// `"text"`, `["a", "b"]`, `{ a = 1 }`); when it is not valid TOML it is
    /// taken as a string, so `reporter.plugin=table` needs no quotes.
    pub fn parse(spec: &str, source: impl Into<String>) -> Result<Override, ConfigError> {
        let source = source.into();
        let Some((key, value)) = spec.split_once('=') else {
            return Err(ConfigError::new(format!(
                "{source}: expected KEY=VALUE (e.g. `retention.keep_days=7`), found {spec:?}"
            )));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::new(format!(
                "{source}: the key before `=` is empty"
            )));
        }
        Ok(Override {
            key: key.to_owned(),
            value: parse_value(value),
            source,
        })
    }
}

/// A TOML value, or the trimmed text as a string when it is not one.
fn parse_value(text: &str) -> toml::Value {
    let fallback = || toml::Value::String(text.trim().to_owned());
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut table) if table.len() == 1 => table.remove("v").unwrap_or_else(fallback),
        _ => fallback(),
    }
}

/// The overrides as one layer: they are rendered as a TOML document (one
/// line each) and read with the same rules as a config file, every message
/// and value naming the override's source. When several set the same key, the
/// last wins.
pub(super) fn override_layer(overrides: &[Override], home: &Path) -> Result<Layer, ConfigError> {
    let mut lines: Vec<(String, &Override)> = Vec::with_capacity(overrides.len());
    for o in overrides {
        let segments = toml_edit::Key::parse(&o.key)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::new(format!("{}: invalid key `{}`", o.source, o.key)))?;
        let key = segments
            .iter()
            .map(|s| key_segment(s.get()))
            .collect::<Vec<_>>()
            .join(".");
        lines.retain(|(k, _)| *k != key);
        lines.push((key, o));
    }
    let mut text = String::new();
    let mut pieces: Vec<(Range<usize>, String)> = Vec::with_capacity(lines.len());
    for (key, o) in &lines {
        let start = text.len();
        text.push_str(&format!("{key} = {}\n", render_value(&o.value)));
        pieces.push((start..text.len(), o.source.clone()));
    }
    parse_layer(
        &text,
        Origin::Overrides { pieces: &pieces },
        Role::Overrides,
        home,
    )
}
