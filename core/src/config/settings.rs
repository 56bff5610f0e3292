//! otto-hooks' own settings (not a plugin's): typed keys in a few sections,
//! each with a default, checked when read.
//!
//! Every key is listed in [`SETTINGS`]; `docs/CONFIG.md` documents them. A
//! key not listed is an error naming the keys its section accepts.

use std::time::Duration;

/// The type of a setting, checked when a layer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingType {
    /// `true` / `false`.
    Bool,
    /// An integer within bounds.
    Integer {
        /// The least value accepted.
        min: i64,
        /// The greatest value accepted.
        max: i64,
    },
    /// A duration written `90s`, `30m`, `24h` or `7d`.
    Duration,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A path; `~/` expands to `$HOME`.
    Path,
    /// An IP address (`127.0.0.1`, `::1`).
    IpAddr,
}

/// One setting.
#[derive(Clone, Copy, Debug)]
pub struct SettingDef {
    /// Its dotted key: `clean.max_share`.
    pub key: &'static str,
    /// Its type.
    pub ty: SettingType,
    /// Its default, as a TOML value (`50`, `"1h"`, `true`); `None`: unset.
    pub default: Option<&'static str>,
    /// Whether only the global config, the environment and the command
    /// line may set it (not a project's `.otto-hooks.toml`).
    pub global_only: bool,
}

/// The sections holding settings (besides `hooks.strict`, which has its
/// own field for historical reasons, and is listed here too).
pub const SECTIONS: &[&str] = &[
    "hooks",
    "clean",
    "policies",
    "redaction",
    "daemon",
    "security",
    "history",
];

/// Every setting.
pub const SETTINGS: &[SettingDef] = &[
    SettingDef {
        key: "hooks.strict",
        ty: SettingType::Bool,
        default: Some("false"),
        global_only: false,
    },
    SettingDef {
        key: "clean.max_share",
        ty: SettingType::Integer { min: 0, max: 100 },
        default: Some("50"),
        global_only: false,
    },
    SettingDef {
        key: "clean.cache_grace",
        ty: SettingType::Duration,
        default: Some("\"1h\""),
        global_only: false,
    },
    SettingDef {
        key: "redaction.mode",
        ty: SettingType::Choice(&["deny-list", "allow-list"]),
        default: Some("\"deny-list\""),
        global_only: false,
    },
    SettingDef {
        key: "redaction.max_payload_bytes",
        ty: SettingType::Integer {
            min: 256,
            max: 16 * 1024 * 1024,
        },
        default: Some("65536"),
        global_only: false,
    },
    SettingDef {
        key: "policies.interval",
        ty: SettingType::Duration,
        default: Some("\"24h\""),
        global_only: false,
    },
    // Whether the history daemon applies the policies on its schedule
    // (announced at its start; `false` turns the scheduled clean off).
    SettingDef {
        key: "policies.daemon",
        ty: SettingType::Bool,
        default: Some("true"),
        global_only: false,
    },
    // choo's `history.enabled`: `false` records nothing (the hooks behave
    // as with `--no-history`; the daemon still serves the UI).
    SettingDef {
        key: "history.enabled",
        ty: SettingType::Bool,
        default: Some("true"),
        global_only: false,
    },
    // choo's `history.retention_days`: the `retention_days` of the SQLite
    // history when its storage section sets none. Its default is the
    // sqlite plugin's (90; a test checks they agree).
    SettingDef {
        key: "history.retention_days",
        ty: SettingType::Integer {
            min: 0,
            max: 36_500,
        },
        default: Some("90"),
        global_only: false,
    },
    SettingDef {
        key: "daemon.port",
        // 0: any free port (clients read it from `daemon.port`).
        ty: SettingType::Integer { min: 0, max: 65535 },
        default: Some("8080"),
        global_only: false,
    },
    SettingDef {
        key: "daemon.auto_start",
        ty: SettingType::Bool,
        default: Some("true"),
        global_only: false,
    },
    // Where the daemon listens: a project file must not open it to the
    // network.
    SettingDef {
        key: "daemon.bind",
        ty: SettingType::IpAddr,
        default: Some("\"127.0.0.1\""),
        global_only: true,
    },
    // Who may write to the daemon: `token` (the bearer token, always) or
    // `local` (loopback JSON writes without it, for choo's client). A
    // project file must not lower it.
    SettingDef {
        key: "daemon.auth",
        ty: SettingType::Choice(&["token", "local"]),
        default: Some("\"token\""),
        global_only: true,
    },
    // Whether a project's `.otto-hooks.toml` may set paths outside its
    // project (`storage.otto_home`, `storage.db`): only the user decides.
    SettingDef {
        key: "security.project_paths",
        ty: SettingType::Choice(&["inside", "anywhere"]),
        default: Some("\"inside\""),
        global_only: true,
    },
];

/// The definition of `key`.
pub fn find(key: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.key == key)
}

/// The keys of `section`, for messages: `max_share, cache_grace`.
pub fn keys_of(section: &str) -> String {
    SETTINGS
        .iter()
        .filter_map(|d| d.key.strip_prefix(section)?.strip_prefix('.'))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `value` against `def`; the error says what was expected.
pub fn check(def: &SettingDef, value: &toml::Value) -> Result<(), String> {
    let expected = match def.ty {
        SettingType::Bool if value.is_bool() => return Ok(()),
        SettingType::Bool => "a boolean".to_owned(),
        SettingType::Integer { min, max } => match value.as_integer() {
            Some(i) if (min..=max).contains(&i) => return Ok(()),
            _ => format!("an integer from {min} to {max}"),
        },
        SettingType::Duration => match value.as_str().map(parse_duration) {
            Some(Ok(_)) => return Ok(()),
            _ => "a duration like \"90s\", \"30m\", \"24h\" or \"7d\"".to_owned(),
        },
        SettingType::Choice(words) => match value.as_str() {
            Some(s) if words.contains(&s) => return Ok(()),
            _ => format!("one of {}", words.join(", ")),
        },
        SettingType::Path => match value.as_str() {
            Some(s) if !s.is_empty() => return Ok(()),
            _ => "a non-empty path".to_owned(),
        },
        SettingType::IpAddr => match value.as_str().map(str::parse::<std::net::IpAddr>) {
            Some(Ok(_)) => return Ok(()),
            _ => "an IP address like \"127.0.0.1\"".to_owned(),
        },
    };
    Err(expected)
}

/// Parses `30m`, `24h`, `7d`, `90s` (a bare number is hours).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let bad = || format!("`{s}` is not a duration like 90s, 30m, 24h or 7d");
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" | "" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn every_default_passes_its_own_check() {
        for def in SETTINGS {
            if let Some(text) = def.default {
                let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {text}"))
                    .unwrap()
                    .remove("v")
                    .unwrap();
                check(def, &value).unwrap_or_else(|e| panic!("{}: {e}", def.key));
            }
        }
    }

    #[test]
    fn values_of_the_wrong_type_or_range_are_refused() {
        let share = find("clean.max_share").unwrap();
        assert!(check(share, &toml::Value::Integer(101)).is_err());
        assert!(check(share, &toml::Value::String("50".into())).is_err());
        let grace = find("clean.cache_grace").unwrap();
        assert!(check(grace, &toml::Value::String("1 hour".into())).is_err());
        assert_eq!(keys_of("clean"), "max_share, cache_grace");
    }

    #[test]
    fn history_retention_days_defaults_to_the_sqlite_history_default() {
        let def = find("history.retention_days").unwrap();
        assert_eq!(
            def.default,
            Some(
                otto_hooks_sqlite::DEFAULT_RETENTION_DAYS
                    .to_string()
                    .as_str()
            )
        );
    }
}
