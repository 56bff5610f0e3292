//! The settings the built-in plugins give themselves when a configuration
//! leaves them out, so that `config show` lists them with their origin
//! (`default (plugin standard)`) like otto-hooks' own defaults.
//!
//! Loaded plugins cannot tell the host their defaults (the ABI has no such
//! call); their unset settings are simply not listed.

use otto_hooks_plugin_api::PluginKind;
use otto_hooks_retention_standard::{DEFAULT_KEEP_DAYS, DEFAULT_KEEP_LAST};
use otto_hooks_sqlite::DEFAULT_RETENTION_DAYS;

/// The defaults of built-in `plugin` of `kind`, given the settings that
/// are set (`set(key)` reads one): `(key, value, note)`, the note saying
/// what the default follows when it is not a constant. Empty for a plugin
/// that is not built in.
pub(super) fn defaults(
    kind: PluginKind,
    plugin: &str,
    set: &dyn Fn(&str) -> Option<toml::Value>,
) -> Vec<(&'static str, toml::Value, Option<&'static str>)> {
    let int = |n: u32| toml::Value::Integer(i64::from(n));
    let string = |s: &str| toml::Value::String(s.to_owned());
    match (kind, plugin) {
        (PluginKind::Retention, "standard") => {
            // `keep_failed_days` follows the effective `keep_days`.
            let keep_days = set("keep_days").unwrap_or_else(|| int(DEFAULT_KEEP_DAYS));
            vec![
                ("keep_days", int(DEFAULT_KEEP_DAYS), None),
                ("keep_failed_days", keep_days, Some("follows keep_days")),
                ("keep_last", int(DEFAULT_KEEP_LAST), None),
                ("age_from", string("now"), None),
            ]
        }
        (PluginKind::Storage, "sqlite") => vec![
            ("retention_days", int(DEFAULT_RETENTION_DAYS), None),
            (
                "db",
                string("$OTTO_HOOKS_HOME/history.db"),
                Some("under OTTO_HOOKS_HOME"),
            ),
        ],
        (PluginKind::Storage, "otto-fs") => vec![(
            "otto_home",
            string("$OTTO_HOME, else ~/.otto"),
            Some("from the environment"),
        )],
        (PluginKind::Status, "default") => vec![
            ("heuristic", toml::Value::Boolean(true), None),
            (
                "otto_db",
                string("<otto_home>/otto.db"),
                Some("each run's otto home"),
            ),
        ],
        (PluginKind::Reporter, "table") => vec![("color", string("auto"), None)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_failed_days_follows_the_configured_keep_days() {
        let none = |_: &str| None;
        let d = defaults(PluginKind::Retention, "standard", &none);
        assert!(d.contains(&("keep_days", toml::Value::Integer(30), None)));
        assert!(d.contains(&(
            "keep_failed_days",
            toml::Value::Integer(30),
            Some("follows keep_days")
        )));
        let sixty = |k: &str| (k == "keep_days").then_some(toml::Value::Integer(60));
        let d = defaults(PluginKind::Retention, "standard", &sixty);
        assert!(d.contains(&(
            "keep_failed_days",
            toml::Value::Integer(60),
            Some("follows keep_days")
        )));
    }

    #[test]
    fn a_plugin_that_is_not_built_in_has_none() {
        assert!(defaults(PluginKind::Retention, "weekday", &|_| None).is_empty());
    }
}
