//! Formatting shared by the reporters: sizes, durations, ages and times.
//!
//! Every function is pure except [`local_time`] (the machine's time zone)
//! and [`now`] (the clock); the rest take what they need as arguments, so
//! they can be tested exactly.

use std::fmt::Display;

use otto_hooks_plugin_api::report::{RunEntry, RunInfo};
use otto_hooks_plugin_api::{is_guess_source, status_label};

use chrono::{DateTime, Local, TimeZone, Utc};

/// What a size that was not measured shows as.
pub const UNKNOWN_SIZE: &str = "-";

/// What a duration that is not known shows as.
pub const UNKNOWN_DURATION: &str = "--";

/// A size for people, in 1000-based units: `512 B`, `12 KB`, `45.2 MB`,
/// `2.3 GB`, `1.0 TB`. Whole numbers up to KB, one decimal above.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    // Move up a unit whenever the rounded value would read 1000 or more.
    while unit + 1 < UNITS.len() {
        let shown = if unit == 0 {
            value.round()
        } else {
            (value * 10.0).round() / 10.0
        };
        if shown < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// [`human_size`], or [`UNKNOWN_SIZE`] when the size was not measured.
pub fn opt_size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| UNKNOWN_SIZE.to_owned(), human_size)
}

/// A duration for people: `2.3s` under ten seconds, then `45s`, `3m 12s`,
/// `1h 5m`, `2d 3h`. A negative or non-finite value reads as unknown
/// ([`UNKNOWN_DURATION`]).
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return UNKNOWN_DURATION.to_owned();
    }
    if seconds < 9.95 {
        return format!("{seconds:.1}s");
    }
    let total = seconds.round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if total < 60 {
        format!("{secs}s")
    } else if total < 3600 {
        format!("{minutes}m {secs}s")
    } else if total < 86_400 {
        format!("{}h {minutes}m", total / 3600)
    } else {
        format!("{days}d {hours}h")
    }
}

/// [`human_duration`], or [`UNKNOWN_DURATION`] when not known.
pub fn opt_duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| UNKNOWN_DURATION.to_owned(), human_duration)
}

/// How long ago something was, coarsely: `40s`, `12m`, `5h`, `45d`.
/// A time in the future reads as `0s`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS` in time zone `tz`; the bare
/// number when it is out of range.
pub fn time_in<Tz: TimeZone>(timestamp: i64, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    match DateTime::from_timestamp(timestamp, 0) {
        Some(utc) => utc
            .with_timezone(tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => timestamp.to_string(),
    }
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS` in the machine's local time, the
/// way tables show times.
pub fn local_time(timestamp: i64) -> String {
    time_in(timestamp, &Local)
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS UTC`, for output read on another
/// machine (CI summaries).
pub fn utc_time(timestamp: i64) -> String {
    match DateTime::from_timestamp(timestamp, 0) {
        Some(_) => format!("{} UTC", time_in(timestamp, &Utc)),
        None => timestamp.to_string(),
    }
}

/// Epoch seconds of an RFC 3339 time, when it is one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// An RFC 3339 time as [`utc_time`]; the text unchanged when it does not parse.
pub fn rfc3339_as_utc(text: &str) -> String {
    parse_rfc3339(text).map_or_else(|| text.to_owned(), utc_time)
}

/// The current time, epoch seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// `1 run`, `3 runs`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A run's attributes worth showing, on one line each: otto's `user`,
/// `cwd`, `ottofile` and `args` first, then the rest by name; nulls left out.
pub fn attributes(
    attrs: &serde_json::Map<String, serde_json::Value>,
) -> impl Iterator<Item = (&str, String)> {
    const FIRST: [&str; 4] = ["user", "cwd", "ottofile", "args"];
    let known = FIRST.iter().filter_map(|k| attrs.get_key_value(*k));
    let rest = attrs.iter().filter(|(k, _)| !FIRST.contains(&k.as_str()));
    known
        .chain(rest)
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), attribute_value(v)))
}

/// An attribute's value on one line: strings bare, lists space-separated.
pub fn attribute_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => s.replace(['\r', '\n'], " "),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// A listed run's status as shown: `failed`, or `failed?` when it is a
/// guess (the flag, or for a document of an older host its source).
pub fn entry_status(r: &RunEntry) -> String {
    let guessed = r.status_guessed || r.status_source.as_deref().is_some_and(is_guess_source);
    status_label(r.status, guessed)
}

/// A run's status in `info`, as [`entry_status`] shows it.
pub fn info_status(info: &RunInfo) -> String {
    status_label(
        info.status,
        info.status_guessed || is_guess_source(&info.status_source),
    )
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;

    use super::*;

    #[test]
    fn sizes_use_1000_based_units() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1 KB");
        assert_eq!(human_size(12_345), "12 KB");
        assert_eq!(human_size(999_499), "999 KB");
        assert_eq!(human_size(999_500), "1.0 MB");
        assert_eq!(human_size(45_200_000), "45.2 MB");
        assert_eq!(human_size(999_960_000), "1.0 GB");
        assert_eq!(human_size(2_345_000_000), "2.3 GB");
        assert_eq!(human_size(1_000_000_000_000), "1.0 TB");
        assert_eq!(human_size(5_000_000_000_000_000), "5000.0 TB");
        assert_eq!(opt_size(None), "-");
        assert_eq!(opt_size(Some(1500)), "2 KB");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(0.0), "0.0s");
        assert_eq!(human_duration(2.34), "2.3s");
        assert_eq!(human_duration(9.96), "10s");
        assert_eq!(human_duration(45.0), "45s");
        assert_eq!(human_duration(59.7), "1m 0s");
        assert_eq!(human_duration(192.0), "3m 12s");
        assert_eq!(human_duration(3900.0), "1h 5m");
        assert_eq!(human_duration(183_600.0), "2d 3h");
        assert_eq!(human_duration(-1.0), "--");
        assert_eq!(human_duration(f64::NAN), "--");
        assert_eq!(opt_duration(None), "--");
    }

    #[test]
    fn ages_are_coarse() {
        assert_eq!(human_age(-5), "0s");
        assert_eq!(human_age(40), "40s");
        assert_eq!(human_age(12 * 60 + 5), "12m");
        assert_eq!(human_age(5 * 3600), "5h");
        assert_eq!(human_age(45 * 86_400 + 7), "45d");
    }

    #[test]
    fn times_follow_the_time_zone_given() {
        // 2023-11-14T22:13:20Z
        let ts = 1_700_000_000;
        let utc = FixedOffset::east_opt(0).expect("valid offset");
        let paris = FixedOffset::east_opt(3600).expect("valid offset");
        let new_york = FixedOffset::west_opt(5 * 3600).expect("valid offset");
        assert_eq!(time_in(ts, &utc), "2023-11-14 22:13:20");
        assert_eq!(time_in(ts, &paris), "2023-11-14 23:13:20");
        assert_eq!(time_in(ts, &new_york), "2023-11-14 17:13:20");
        assert_eq!(utc_time(ts), "2023-11-14 22:13:20 UTC");
        assert_eq!(time_in(i64::MAX, &utc), i64::MAX.to_string());
        assert_eq!(local_time(ts).len(), "2023-11-14 22:13:20".len());
    }

    #[test]
    fn rfc3339_times_convert_to_utc() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            rfc3339_as_utc("2023-11-14T23:13:20+01:00"),
            "2023-11-14 22:13:20 UTC"
        );
        assert_eq!(rfc3339_as_utc("yesterday"), "yesterday");
    }

    #[test]
    fn attributes_come_well_known_first_on_one_line_each() {
        let attrs = serde_json::json!({
            "args": ["build", "--release", "two words"],
            "branch": "main",
            "pid": 42,
            "note": null,
            "user": "alice",
        });
        let serde_json::Value::Object(attrs) = attrs else {
            unreachable!()
        };
        let shown: Vec<(&str, String)> = attributes(&attrs).collect();
        assert_eq!(
            shown,
            [
                ("user", "alice".to_owned()),
                ("args", "build --release \"two words\"".to_owned()),
                ("branch", "main".to_owned()),
                ("pid", "42".to_owned()),
            ]
        );
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "run", "runs"), "1 run");
        assert_eq!(count(0, "run", "runs"), "0 runs");
    }
}
