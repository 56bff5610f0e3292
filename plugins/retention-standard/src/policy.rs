//! The settings of a `standard` instance: what each key means, its default,
//! and what is refused.
//!
//! [`Policy`] is the settings table as written; the defaults are applied by
//! the `effective_*` accessors, so that a policy read back from a
//! configuration says what the user wrote and nothing more.

use std::fmt;

use otto_hooks_plugin_api::{PluginConfig, PluginError};
use serde::Deserialize;

/// `keep_days` when it is not set.
pub const DEFAULT_KEEP_DAYS: u32 = 30;

/// `keep_last` when it is not set.
pub const DEFAULT_KEEP_LAST: u32 = 10;

/// The settings of one `standard` retention instance.
///
/// Every key is optional. `keep_days` and `keep_last` default to
/// [`DEFAULT_KEEP_DAYS`] and [`DEFAULT_KEEP_LAST`] *each* when unset (set
/// one to `0` to turn it off); `keep_failed_days` follows the effective
/// `keep_days`; every other rule is off when unset. See the crate docs for
/// the policy these settings describe.
///
/// An unknown key is an error naming it (`deny_unknown_fields`); so is a
/// negative or fractional count. [`Policy::check`] refuses the remaining
/// nonsense.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Successful, unknown and stopped runs younger than this many days are
    /// kept (`within 30d`). Default 30; `0` turns the rule off.
    #[serde(default, deserialize_with = "count")]
    pub keep_days: Option<u32>,
    /// Failed and interrupted runs younger than this many days are kept
    /// (`failed within 7d`). Default: the effective `keep_days`; `0` turns
    /// the rule off. A *guessed* status (see the crate docs) gets the
    /// longer of this and `keep_days`.
    #[serde(default, deserialize_with = "count")]
    pub keep_failed_days: Option<u32>,
    /// The N newest finished runs of the group are kept, whatever their age
    /// or status (`last#1` is the newest). Default 10; `0` turns it off.
    #[serde(default, deserialize_with = "count")]
    pub keep_last: Option<u32>,
    /// The newest run of each of the N most recent UTC hours that have runs.
    #[serde(default, deserialize_with = "count")]
    pub keep_hourly: Option<u32>,
    /// The newest run of each of the N most recent UTC days that have runs.
    #[serde(default, deserialize_with = "count")]
    pub keep_daily: Option<u32>,
    /// The newest run of each of the N most recent ISO weeks that have runs.
    #[serde(default, deserialize_with = "count")]
    pub keep_weekly: Option<u32>,
    /// The newest run of each of the N most recent months that have runs.
    #[serde(default, deserialize_with = "count")]
    pub keep_monthly: Option<u32>,
    /// The newest run of each of the N most recent years that have runs.
    #[serde(default, deserialize_with = "count")]
    pub keep_yearly: Option<u32>,
    /// Keep the newest run whose status is `success` (Jenkins' "last
    /// successful build").
    #[serde(default)]
    pub keep_newest_success: bool,
    /// Keep the newest run whose status is `failed` or `interrupted`.
    #[serde(default)]
    pub keep_newest_failure: bool,
    /// Run ids to keep, besides the runs storage reports as pinned (otto: a
    /// `.keep` file). Ids that are not in a group are ignored.
    #[serde(default)]
    pub pinned: Vec<String>,
    /// At most this many runs stay in the group (see "Budgets" in the crate
    /// docs). At least 1.
    #[serde(default, deserialize_with = "count")]
    pub max_runs: Option<u64>,
    /// At most this many bytes stay in the group: an integer, or a string
    /// such as `"10 GB"` or `"512 MiB"`. At least 1 byte.
    pub max_bytes: Option<ByteSize>,
    /// What ages are measured from: `"now"` (default) or `"newest"`.
    #[serde(default)]
    pub age_from: AgeFrom,
}

impl Policy {
    /// Reads and checks an instance's settings.
    ///
    /// Errors are one line that names the instance and the key:
    /// ``settings of `retention.standard`: `max_runs` must be at least 1 …``.
    pub fn from_config(config: &PluginConfig) -> Result<Policy, PluginError> {
        let policy: Policy = config.parse()?;
        policy.check().map_err(|msg| {
            PluginError::invalid(format!("settings of `{}`: {msg}", config.instance()))
        })?;
        Ok(policy)
    }

    /// Refuses what the types allow but makes no sense, with one line that
    /// names the key.
    ///
    /// - `max_runs = 0` or `max_bytes = 0`: a budget of nothing would delete
    ///   every run that is not protected;
    /// - an empty string in `pinned`;
    /// - every keep rule off (`keep_days = 0`, `keep_last = 0`, no calendar
    ///   rule, no newest rule, and no `keep_failed_days`): every run that is
    ///   neither pinned nor running would go.
    pub fn check(&self) -> Result<(), String> {
        if self.max_runs == Some(0) {
            return Err(
                "`max_runs` must be at least 1 (0 would delete every run that is not \
                 pinned, running or a newest success/failure)"
                    .to_owned(),
            );
        }
        if self.max_bytes == Some(ByteSize(0)) {
            return Err(
                "`max_bytes` must be at least 1 byte (0 would delete every run that \
                 is not pinned, running or a newest success/failure)"
                    .to_owned(),
            );
        }
        if self.pinned.iter().any(|id| id.trim().is_empty()) {
            return Err("`pinned` holds an empty run id".to_owned());
        }
        let keeps_something = self.effective_keep_days() > 0
            || self.effective_keep_failed_days() > 0
            || self.effective_keep_last() > 0
            || self.buckets().iter().any(|&n| n > 0)
            || self.keep_newest_success
            || self.keep_newest_failure;
        if !keeps_something {
            return Err(
                "every keep rule is off (`keep_days = 0`, `keep_last = 0` and no other \
                 `keep_*`): every run that is not pinned or running would be deleted"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// `keep_days`, or [`DEFAULT_KEEP_DAYS`] when unset.
    pub fn effective_keep_days(&self) -> u32 {
        self.keep_days.unwrap_or(DEFAULT_KEEP_DAYS)
    }

    /// `keep_failed_days`, or [`Policy::effective_keep_days`] when unset.
    pub fn effective_keep_failed_days(&self) -> u32 {
        self.keep_failed_days
            .unwrap_or_else(|| self.effective_keep_days())
    }

    /// `keep_last`, or [`DEFAULT_KEEP_LAST`] when unset.
    pub fn effective_keep_last(&self) -> u32 {
        self.keep_last.unwrap_or(DEFAULT_KEEP_LAST)
    }

    /// The calendar rules' counts, hourly to yearly; `0` when unset.
    pub fn buckets(&self) -> [u32; 5] {
        [
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .map(|n| n.unwrap_or(0))
    }
}

/// Reads a count (days, runs) as a whole number that fits `T`, so that
/// `-3` or `1.5` is refused in words rather than as "expected u32".
fn count<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number, 0 or more")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("cannot be negative ({v})")))
        }
    }

    let n = deserializer.deserialize_any(Visitor)?;
    T::try_from(n)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
}

/// What a run's age is measured from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeFrom {
    /// From the reference time the host passes (`input.now`).
    #[default]
    Now,
    /// From the start of the group's newest run, or from `now` when that
    /// start is later than `now` (clock skew), so that a stalled
    /// orchestrator cannot age every run out and a run dated in the future
    /// cannot either.
    Newest,
}

/// A number of bytes, written as an integer or as a string with a unit.
///
/// Units are 1000-based (`B`, `KB`, `MB`, `GB`, `TB`) or 1024-based
/// (`KiB`, `MiB`, `GiB`, `TiB`), in any case, with or without a space;
/// the number may have decimals (`"1.5 GB"`). It displays like the host
/// prints sizes: `1.0 GB`, `512 B`, `45.2 MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"10 GB"`, `"512MiB"`, `"1.5 gb"` or `"1000"`.
    pub fn parse(text: &str) -> Option<ByteSize> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let multiplier: u64 = match unit.as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "mb" => 1000_u64.pow(2),
            "gb" => 1000_u64.pow(3),
            "tb" => 1000_u64.pow(4),
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return None,
        };
        if number.is_empty() {
            return None;
        }
        if !number.contains('.') {
            return number
                .parse::<u64>()
                .ok()?
                .checked_mul(multiplier)
                .map(ByteSize);
        }
        let value = number.parse::<f64>().ok()? * multiplier as f64;
        // `u64::MAX as f64` rounds up to 2^64, which is itself out of range.
        (value.is_finite() && value < u64::MAX as f64).then(|| ByteSize(value.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    /// 1000-based, whole numbers below 1 KB and one decimal above.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
        let bytes = self.0;
        if bytes < 1000 {
            return write!(f, "{bytes} B");
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
            write!(f, "{value:.0} {}", UNITS[unit])
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes, or a size such as \"10 GB\" or \"512 MiB\"")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a size cannot be negative ({v})")))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not a size: write bytes as an integer, or a number and a unit \
                         (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB) such as \"10 GB\""
                    ))
                })
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<Policy, String> {
        let config = PluginConfig::from_toml("retention.standard", text, "/tmp/otto-hooks")
            .map_err(|e| e.message)?;
        Policy::from_config(&config).map_err(|e| e.message)
    }

    /// The error for `text`, checked to be one line naming the instance.
    fn refusal(text: &str) -> String {
        let msg = policy(text).expect_err("refused");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("`retention.standard`"), "{msg}");
        msg
    }

    #[test]
    fn nothing_configured_means_30_days_and_the_last_10() {
        let p = policy("").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.effective_keep_days(), 30);
        assert_eq!(p.effective_keep_failed_days(), 30);
        assert_eq!(p.effective_keep_last(), 10);
        assert_eq!(p.buckets(), [0; 5]);
        assert_eq!(p.age_from, AgeFrom::Now);
    }

    #[test]
    fn keep_days_and_keep_last_default_each_on_their_own() {
        let p = policy("keep_days = 7").unwrap();
        assert_eq!((p.effective_keep_days(), p.effective_keep_last()), (7, 10));
        let p = policy("keep_last = 3").unwrap();
        assert_eq!((p.effective_keep_days(), p.effective_keep_last()), (30, 3));
        let p = policy("keep_daily = 7").unwrap();
        assert_eq!((p.effective_keep_days(), p.effective_keep_last()), (30, 10));
        assert_eq!(p.buckets(), [0, 7, 0, 0, 0]);
    }

    #[test]
    fn keep_failed_days_follows_keep_days_unless_set() {
        assert_eq!(
            policy("keep_days = 14")
                .unwrap()
                .effective_keep_failed_days(),
            14
        );
        assert_eq!(
            policy("keep_days = 0\nkeep_last = 5")
                .unwrap()
                .effective_keep_failed_days(),
            0
        );
        assert_eq!(
            policy("keep_days = 14\nkeep_failed_days = 3")
                .unwrap()
                .effective_keep_failed_days(),
            3
        );
    }

    #[test]
    fn every_key_is_read() {
        let p = policy(
            r#"keep_days = 1
               keep_failed_days = 2
               keep_last = 3
               keep_hourly = 4
               keep_daily = 5
               keep_weekly = 6
               keep_monthly = 7
               keep_yearly = 8
               keep_newest_success = true
               keep_newest_failure = true
               pinned = ["1794902400", "1794902400-1"]
               max_runs = 50
               max_bytes = "1.5 GB"
               age_from = "newest""#,
        )
        .unwrap();
        assert_eq!(
            p,
            Policy {
                keep_days: Some(1),
                keep_failed_days: Some(2),
                keep_last: Some(3),
                keep_hourly: Some(4),
                keep_daily: Some(5),
                keep_weekly: Some(6),
                keep_monthly: Some(7),
                keep_yearly: Some(8),
                keep_newest_success: true,
                keep_newest_failure: true,
                pinned: vec!["1794902400".into(), "1794902400-1".into()],
                max_runs: Some(50),
                max_bytes: Some(ByteSize(1_500_000_000)),
                age_from: AgeFrom::Newest,
            }
        );
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let msg = refusal("keep_dayz = 3");
        assert!(msg.contains("`keep_dayz`"), "{msg}");
        let msg = refusal("keep_days = 3\nkeep_failed = 5");
        assert!(msg.contains("keep_failed"), "{msg}");
    }

    #[test]
    fn negative_and_fractional_counts_are_refused_by_name() {
        for key in [
            "keep_days",
            "keep_failed_days",
            "keep_last",
            "keep_hourly",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "keep_yearly",
            "max_runs",
            "max_bytes",
        ] {
            let msg = refusal(&format!("{key} = -1"));
            assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
            assert!(msg.contains("cannot be negative"), "{key}: {msg}");
            let msg = refusal(&format!("{key} = 1.5"));
            assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
        }
        let msg = refusal("keep_days = 1.5");
        assert!(msg.contains("expected a whole number, 0 or more"), "{msg}");
        let msg = refusal("keep_last = 99999999999");
        assert!(
            msg.contains("`keep_last`: 99999999999 is too large"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_types_are_refused_by_name() {
        let msg = refusal("keep_newest_success = \"yes\"");
        assert!(msg.contains("`keep_newest_success`"), "{msg}");
        let msg = refusal("pinned = \"1794902400\"");
        assert!(msg.contains("`pinned`"), "{msg}");
        let msg = refusal("keep_last = \"10\"");
        assert!(msg.contains("`keep_last`"), "{msg}");
    }

    #[test]
    fn an_unknown_age_from_is_refused() {
        let msg = refusal("age_from = \"oldest\"");
        assert!(msg.contains("`age_from`"), "{msg}");
        assert!(msg.contains("oldest"), "{msg}");
        assert!(msg.contains("newest"), "{msg}");
        assert_eq!(policy("age_from = \"now\"").unwrap().age_from, AgeFrom::Now);
    }

    #[test]
    fn zero_budgets_are_refused() {
        let msg = refusal("max_runs = 0");
        assert!(msg.contains("`max_runs` must be at least 1"), "{msg}");
        let msg = refusal("max_bytes = 0");
        assert!(msg.contains("`max_bytes` must be at least 1 byte"), "{msg}");
        let msg = refusal("max_bytes = \"0 GB\"");
        assert!(msg.contains("`max_bytes`"), "{msg}");
    }

    #[test]
    fn a_policy_that_keeps_nothing_is_refused() {
        let msg = refusal("keep_days = 0\nkeep_last = 0");
        assert!(msg.contains("every keep rule is off"), "{msg}");
        let msg = refusal("keep_days = 0\nkeep_last = 0\nkeep_daily = 0\nmax_runs = 5");
        assert!(msg.contains("every keep rule is off"), "{msg}");
        // Any one rule that keeps something is enough.
        for one in [
            "keep_failed_days = 1",
            "keep_hourly = 1",
            "keep_yearly = 1",
            "keep_newest_success = true",
            "keep_newest_failure = true",
        ] {
            assert!(policy(&format!("keep_days = 0\nkeep_last = 0\n{one}")).is_ok());
        }
    }

    #[test]
    fn an_empty_pinned_id_is_refused() {
        let msg = refusal("pinned = [\"1794902400\", \" \"]");
        assert!(msg.contains("`pinned`"), "{msg}");
    }

    #[test]
    fn bad_sizes_are_refused_by_name() {
        for text in ["\"10 GiGs\"", "\"GB\"", "\"1.2.3 GB\"", "\"\"", "true"] {
            let msg = refusal(&format!("max_bytes = {text}"));
            assert!(msg.contains("`max_bytes`"), "{text}: {msg}");
        }
        let msg = refusal("max_bytes = \"99999999999 TB\"");
        assert!(msg.contains("`max_bytes`"), "{msg}");
    }

    #[test]
    fn sizes_read_in_either_unit_system() {
        let parse = |t: &str| ByteSize::parse(t).map(|b| b.0);
        assert_eq!(parse("1000"), Some(1000));
        assert_eq!(parse("10 GB"), Some(10_000_000_000));
        assert_eq!(parse("10gb"), Some(10_000_000_000));
        assert_eq!(parse("512 MiB"), Some(512 << 20));
        assert_eq!(parse("1.5 KiB"), Some(1536));
        assert_eq!(parse(" 2 B "), Some(2));
        assert_eq!(parse("1.5"), Some(2));
        assert_eq!(parse("20000000 TB"), None);
        assert_eq!(parse("-1 GB"), None);
        assert_eq!(
            policy("max_bytes = 1000").unwrap().max_bytes,
            Some(ByteSize(1000))
        );
    }

    #[test]
    fn sizes_display_like_the_host_prints_them() {
        let show = |b: u64| ByteSize(b).to_string();
        assert_eq!(show(512), "512 B");
        assert_eq!(show(12_345), "12 KB");
        assert_eq!(show(45_200_000), "45.2 MB");
        assert_eq!(show(1_000_000_000), "1.0 GB");
        assert_eq!(show(999_960_000), "1.0 GB");
        assert_eq!(show(2_500_000_000_000), "2.5 TB");
    }
}
