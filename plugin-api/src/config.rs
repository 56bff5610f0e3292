//! A plugin's settings, as the host hands them over.

use std::path::{Path, PathBuf};

use crate::PluginError;

/// The settings of one plugin instance and where it may keep state.
///
/// The host passes the TOML table configured for the instance (for example
/// the keys of `[retention]` other than `plugin` and `name`), after layering and after
/// command-line overrides. The plugin validates it itself, usually with
/// [`PluginConfig::parse`] into a struct marked
/// `#[serde(deny_unknown_fields)]`, so that a typo is an error that names the
/// key instead of a silent fallback to a default.
#[derive(Clone, Debug, Default)]
pub struct PluginConfig {
    instance: String,
    table: toml::Table,
    data_dir: PathBuf,
}

impl PluginConfig {
    /// Settings for `instance` from a TOML table.
    pub fn new(
        instance: impl Into<String>,
        table: toml::Table,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        PluginConfig {
            instance: instance.into(),
            table,
            data_dir: data_dir.into(),
        }
    }

    /// Parses settings from TOML text (what crosses the ABI).
    pub fn from_toml(
        instance: impl Into<String>,
        text: &str,
        data_dir: impl Into<PathBuf>,
    ) -> Result<Self, PluginError> {
        let instance = instance.into();
        let table = text.parse::<toml::Table>().map_err(|e| {
            PluginError::invalid(format!(
                "settings of `{instance}` are not valid TOML: {}",
                toml_error_line(&e)
            ))
        })?;
        Ok(PluginConfig {
            instance,
            table,
            data_dir: data_dir.into(),
        })
    }

    /// The instance name from the configuration, e.g. `retention.weekly`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The raw settings table.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// A directory the plugin may keep state in (`$OTTO_HOOKS_HOME`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Deserialises the settings into `T`.
    ///
    /// Errors name the instance and the offending key, on one line:
    /// ``settings of `retention.standard`: unknown field `keep_dayz`, expected one of `keep_days`, `keep_last` ``.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        // Deserialise from text rather than from the table: the text's error
        // carries a span, which names the offending key even for type errors.
        let text = toml::to_string(&self.table)
            .map_err(|e| PluginError::invalid(format!("settings of `{}`: {e}", self.instance)))?;
        toml::from_str::<T>(&text).map_err(|e| {
            let msg = e.message().trim().replace('\n', " ");
            let key = e.span().and_then(|span| key_at(&text, span.start));
            let msg = match key {
                Some(key) if !msg.contains(&format!("`{key}`")) => format!("`{key}`: {msg}"),
                _ => msg,
            };
            PluginError::invalid(format!("settings of `{}`: {msg}", self.instance))
        })
    }

    /// Fails unless the settings are empty (for plugins without settings).
    pub fn expect_empty(&self) -> Result<(), PluginError> {
        match self.table.keys().next() {
            None => Ok(()),
            Some(key) => Err(PluginError::invalid(format!(
                "settings of `{}`: unknown key `{key}` (this plugin takes no settings)",
                self.instance
            ))),
        }
    }
}

/// A TOML parse error on one line: where it is (`line L, column C`) and
/// what is wrong, when the parser says (some of its errors carry no text).
pub fn toml_error_line(e: &toml::de::Error) -> String {
    let display = e.to_string();
    let place = display
        .lines()
        .next()
        .map(|l| l.trim_start_matches("TOML parse error at ").to_owned())
        .unwrap_or_default();
    let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match (place.is_empty(), what.is_empty()) {
        (_, true) => format!("invalid TOML at {place}"),
        (true, false) => what,
        (false, false) => format!("{what} (at {place})"),
    }
}

/// The dotted key whose line holds byte `offset` of `text` (TOML as
/// `toml::to_string` writes it: `key = value` lines under `[table]` headers).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let table = before[..line_start].lines().rev().find_map(|l| {
        l.trim()
            .strip_prefix('[')?
            .strip_suffix(']')
            .map(str::to_owned)
    });
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Policy {
        #[allow(dead_code)]
        keep_days: u32,
    }

    #[test]
    fn a_typo_is_an_error_that_names_the_key() {
        let cfg = PluginConfig::from_toml("retention.standard", "keep_dayz = 3", "/tmp").unwrap();
        let err = cfg.parse::<Policy>().unwrap_err();
        assert!(err.message.contains("keep_dayz"), "{}", err.message);
        assert!(
            err.message.contains("retention.standard"),
            "{}",
            err.message
        );
        assert!(!err.message.contains('\n'));
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Typed {
        weeks: u32,
        #[serde(default)]
        compact: bool,
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let cfg =
            PluginConfig::from_toml("retention.weekday", "weeks = 8\ncompact = \"yes\"", "/tmp")
                .unwrap();
        let err = cfg.parse::<Typed>().unwrap_err();
        assert!(err.message.contains("`compact`"), "{}", err.message);
        assert!(err.message.contains("retention.weekday"), "{}", err.message);
        assert!(!err.message.contains('\n'));
    }

    #[test]
    fn a_missing_key_is_named() {
        let cfg = PluginConfig::from_toml("retention.weekday", "", "/tmp").unwrap();
        let err = cfg.parse::<Typed>().unwrap_err();
        assert!(err.message.contains("weeks"), "{}", err.message);
    }

    #[test]
    fn settings_without_keys_are_empty() {
        let cfg = PluginConfig::from_toml("reporter.table", "", "/tmp").unwrap();
        assert!(cfg.expect_empty().is_ok());
        let cfg = PluginConfig::from_toml("reporter.table", "colour = true", "/tmp").unwrap();
        assert!(cfg.expect_empty().unwrap_err().message.contains("colour"));
    }
}
