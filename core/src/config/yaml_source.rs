//! Reading another tool's YAML config file (choo's `.choo.yaml`, otto's
//! `config.yml`) with the line of every key, for messages and for
//! `config show`'s sources.
//!
//! The YAML parser keeps no positions, so a key's line is found in the
//! text: the first line, below its parent's, that writes the key in block
//! style (`key:`), which is how these files are written. A key written in
//! flow style (`{port: 1}`) gets its nearest found parent's line.

use std::path::Path;

use serde_yaml_ng::Value;

use super::provenance::ConfigError;

/// A parsed YAML file and its text.
#[derive(Debug)]
pub(super) struct YamlFile<'a> {
    /// Where it was read.
    pub path: &'a Path,
    /// Its text.
    pub text: &'a str,
    /// Its top-level value (`Null` for an empty file).
    pub root: Value,
}

impl<'a> YamlFile<'a> {
    /// Parses `text` (read from `path`): invalid YAML is an error naming
    /// the line and column.
    pub(super) fn parse(path: &'a Path, text: &'a str) -> Result<Self, ConfigError> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            let at = e.location().map_or_else(
                || path.display().to_string(),
                |l| format!("{}:{}:{}", path.display(), l.line(), l.column()),
            );
            let message = e.to_string();
            let first = message.split(" at line ").next().unwrap_or(&message);
            ConfigError::new(format!("{at}: invalid YAML: {first}"))
        })?;
        Ok(YamlFile { path, text, root })
    }

    /// `path:line` of the key at `keys` (outermost first).
    pub(super) fn at(&self, keys: &[&str]) -> String {
        format!("{}:{}", self.path.display(), key_line(self.text, keys))
    }

    /// An error at the key `keys`: `path:line: message`.
    pub(super) fn err(&self, keys: &[&str], message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(format!("{}: {message}", self.at(keys)))
    }
}

/// The 1-based line of the key at `keys`; the deepest parent found when
/// the key itself is not written in block style; 1 when nothing is.
pub(super) fn key_line(text: &str, keys: &[&str]) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = 1;
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    for key in keys {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break; // Left the parent's block.
            }
            if writes_key(trimmed, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else { break };
        found = i + 1;
        start = i + 1;
        parent_indent = Some(indent);
    }
    found
}

/// Whether a line (without its indentation) starts with `key:`, the key
/// bare or quoted.
fn writes_key(line: &str, key: &str) -> bool {
    let rest = [
        line.strip_prefix(key),
        line.strip_prefix('"')
            .and_then(|l| l.strip_prefix(key))
            .and_then(|l| l.strip_prefix('"')),
        line.strip_prefix('\'')
            .and_then(|l| l.strip_prefix(key))
            .and_then(|l| l.strip_prefix('\'')),
    ];
    rest.into_iter()
        .flatten()
        .any(|r| r.trim_start().starts_with(':'))
}

/// What a YAML value is, for messages: `a string`, `a mapping`.
pub(super) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A YAML scalar as a TOML value (`None` for a list, mapping, null or a
/// number out of range).
pub(super) fn to_toml(value: &Value) -> Option<toml::Value> {
    match value {
        Value::Bool(b) => Some(toml::Value::Boolean(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(toml::Value::Integer)
            .or_else(|| n.as_f64().map(toml::Value::Float)),
        Value::String(s) => Some(toml::Value::String(s.clone())),
        _ => None,
    }
}

/// The entries of a mapping whose keys are strings, in file order; a
/// non-string key is an error.
pub(super) fn entries<'v>(
    file: &YamlFile<'_>,
    parent: &[&str],
    value: &'v Value,
) -> Result<Vec<(String, &'v Value)>, ConfigError> {
    let Value::Mapping(map) = value else {
        let what = if parent.is_empty() {
            "the file".to_owned()
        } else {
            format!("`{}`", parent.join("."))
        };
        return Err(file.err(
            parent,
            format_args!("{what} must be a mapping, found {}", describe(value)),
        ));
    };
    map.iter()
        .map(|(k, v)| match k {
            Value::String(s) => Ok((s.clone(), v)),
            other => Err(file.err(
                parent,
                format_args!("a key must be a string, found {}", describe(other)),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_key_is_found_below_its_parent() {
        let text = "# choo\nport: 1\ndaemon:\n  # the daemon\n  auto_start: true\n  port: 9090\nhistory:\n  port: 3\n";
        assert_eq!(key_line(text, &["port"]), 2);
        assert_eq!(key_line(text, &["daemon"]), 3);
        assert_eq!(key_line(text, &["daemon", "port"]), 6);
        assert_eq!(key_line(text, &["history", "port"]), 8);
        // Not written in block style: its parent's line.
        assert_eq!(key_line("daemon: {port: 1}\n", &["daemon", "port"]), 1);
        assert_eq!(
            key_line("\"daemon\":\n  'port': 1\n", &["daemon", "port"]),
            2
        );
    }

    #[test]
    fn invalid_yaml_names_the_line() {
        let path = Path::new("/r/.choo.yaml");
        let e = YamlFile::parse(path, "daemon:\n  port: [1\n").unwrap_err();
        assert!(e.message.starts_with("/r/.choo.yaml:"), "{e}");
        assert!(e.message.contains("invalid YAML"), "{e}");
        assert!(!e.message.contains('\n'));
    }
}
