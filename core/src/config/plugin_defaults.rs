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
        (PluginKind::Storage, "postgres") => postgres(set),
        (PluginKind::Reporter, "table") => vec![("color", string("auto"), None)],
        _ => Vec::new(),
    }
}

/// The `postgres` storage's defaults, and where its password comes from
/// (`password`: never the password itself, only its source).
fn postgres(
    set: &dyn Fn(&str) -> Option<toml::Value>,
) -> Vec<(&'static str, toml::Value, Option<&'static str>)> {
    use otto_hooks_postgres::DEFAULT_PASSWORD_ENV;
    let string = |s: &str| toml::Value::String(s.to_owned());
    let text = |key: &str| set(key).and_then(|v| v.as_str().map(str::to_owned));
    let url = text("url").unwrap_or_default();
    let url_tls = otto_hooks_postgres::tls::split_url(&url)
        .ok()
        .map(|(_, tls)| tls);
    let var = text("password_env").unwrap_or_else(|| DEFAULT_PASSWORD_ENV.to_owned());
    let password = if set("password_file").is_some() {
        "from password_file".to_owned()
    } else if std::env::var_os(&var).is_some_and(|v| !v.is_empty()) {
        format!("from ${var} (set)")
    } else {
        format!("none: ${var} is not set (trust, peer or ident authentication)")
    };
    let mut out = vec![
        (
            "retention_days",
            toml::Value::Integer(i64::from(DEFAULT_RETENTION_DAYS)),
            None,
        ),
        ("password_env", string(DEFAULT_PASSWORD_ENV), None),
        (
            "password",
            string(&password),
            Some("where the password comes from; never shown"),
        ),
    ];
    // The URL's own `sslmode`/`sslrootcert`, when it has them, are the
    // effective values; otherwise libpq's defaults.
    match url_tls.as_ref().filter(|_| url.contains("sslmode=")) {
        Some(t) => out.push(("sslmode", string(t.mode.as_str()), Some("from the url"))),
        None => out.push(("sslmode", string("prefer"), None)),
    }
    if let Some(root) = url_tls.and_then(|t| t.root_cert) {
        let shown = match root {
            otto_hooks_postgres::tls::RootCert::System => "system".to_owned(),
            otto_hooks_postgres::tls::RootCert::File(p) => p.display().to_string(),
        };
        out.push(("sslrootcert", string(&shown), Some("from the url")));
    } else {
        out.push((
            "sslrootcert",
            string("~/.postgresql/root.crt"),
            Some("read by verify-ca and verify-full only"),
        ));
    }
    out
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
    fn postgres_lists_its_defaults_the_urls_tls_and_where_the_password_comes_from() {
        let url = |k: &str| match k {
            "url" => Some(toml::Value::String(
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem".into(),
            )),
            "password_file" => Some(toml::Value::String("pw".into())),
            _ => None,
        };
        let d = defaults(PluginKind::Storage, "postgres", &url);
        let get = |key: &str| d.iter().find(|(k, _, _)| *k == key).cloned().unwrap();
        assert_eq!(get("retention_days").1, toml::Value::Integer(90));
        assert_eq!(get("sslmode").1, toml::Value::String("verify-full".into()));
        assert_eq!(get("sslmode").2, Some("from the url"));
        assert_eq!(get("sslrootcert").1, toml::Value::String("/ca.pem".into()));
        assert_eq!(
            get("password").1,
            toml::Value::String("from password_file".into())
        );
        // A variable name of this test only: tests run in parallel.
        let env = |k: &str| {
            (k == "password_env").then(|| toml::Value::String("PGDEFAULTS_TEST_PGPASSWORD".into()))
        };
        let d = defaults(PluginKind::Storage, "postgres", &env);
        let password = d.iter().find(|(k, _, _)| *k == "password").unwrap();
        assert_eq!(
            password.1.as_str().unwrap(),
            "none: $PGDEFAULTS_TEST_PGPASSWORD is not set (trust, peer or ident authentication)"
        );
        assert!(d.contains(&("sslmode", toml::Value::String("prefer".into()), None)));
    }

    #[test]
    fn a_plugin_that_is_not_built_in_has_none() {
        assert!(defaults(PluginKind::Retention, "weekday", &|_| None).is_empty());
    }
}
