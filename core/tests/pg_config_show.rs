//! `otto-hooks config show` with `[storage] plugin = "postgres"`: the
//! plugin's keys with their defaults, where the password comes from, and
//! never a password, even one wrongly put in the URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use serde_json::Value;

fn config_show(config: &str, env: &[(&str, &str)]) -> (Value, String) {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_otto-hooks"));
        c.args(["config", "show"])
            .env_clear()
            .env("HOME", home.path())
            .env("OTTO_HOOKS_HOME", home.path())
            .envs(env.iter().copied())
            .current_dir(home.path())
            .stdin(Stdio::null());
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let json = run(true);
    let text = run(false);
    let all = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&json.stdout),
        String::from_utf8_lossy(&json.stderr),
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    (serde_json::from_slice(&json.stdout).unwrap(), all)
}

fn value<'a>(report: &'a Value, key: &str) -> (&'a str, &'a str) {
    let v = report["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {report}"));
    (v["value"].as_str().unwrap(), v["source"].as_str().unwrap())
}

#[test]
fn config_show_lists_the_postgres_keys_their_defaults_and_where_the_password_comes_from() {
    let (report, _) = config_show(
        "[storage]\nplugin = \"postgres\"\nurl = \"postgres://team@db.internal/hist\"\n",
        &[("PGPASSWORD", "the-secret-itself")],
    );
    assert_eq!(
        value(&report, "storage.url").0,
        "\"postgres://team@db.internal/hist\""
    );
    assert_eq!(
        value(&report, "storage.retention_days"),
        ("90", "default (plugin postgres)")
    );
    assert_eq!(value(&report, "storage.sslmode").0, "\"prefer\"");
    assert_eq!(value(&report, "storage.password_env").0, "\"PGPASSWORD\"");
    let (password, source) = value(&report, "storage.password");
    assert_eq!(password, "\"from $PGPASSWORD (set)\"");
    assert!(source.contains("never shown"), "{source}");
    assert!(!report.to_string().contains("the-secret-itself"));

    let (report, _) = config_show(
        "[storage]\nplugin = \"postgres\"\nurl = \"postgres://team@db/hist?sslmode=verify-full\"\n\
         password_file = \"pw\"\n",
        &[],
    );
    assert_eq!(
        value(&report, "storage.password").0,
        "\"from password_file\""
    );
    assert_eq!(
        value(&report, "storage.sslmode"),
        ("\"verify-full\"", "default (plugin postgres; from the url)")
    );
}

#[test]
fn config_show_never_prints_a_password_put_in_the_postgres_url() {
    let (report, everything) = config_show(
        "[storage]\nplugin = \"postgres\"\n\
         url = \"postgres://team:hunter2@db.internal/hist?password=hunter3\"\n",
        &[],
    );
    assert_eq!(
        value(&report, "storage.url").0,
        "\"postgres://team:[REDACTED]@db.internal/hist?password=[REDACTED]\""
    );
    assert!(!everything.contains("hunter2"), "{everything}");
    assert!(!everything.contains("hunter3"), "{everything}");
    assert!(everything.contains("carries a password"), "{everything}");
}
