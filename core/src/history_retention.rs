//! History retention: storages that keep run histories (the `sqlite`
//! history) drop the runs that ended more than `retention_days` ago, with
//! their events. Applied by `run-policies` and by `clean` on such a storage.
//!
//! The storage does the deleting ([`Instance::expire`]: chunked
//! transactions, running runs never touched, then `incremental_vacuum`);
//! this module chooses the cutoff and turns the answer into the
//! [`HistoryExpiry`] part of a clean plan.

use crate::registry::proxy::PluginInstance as Instance;
use otto_hooks_plugin_api::report::HistoryExpiry;
use otto_hooks_plugin_api::{ErrorKind, ExpireRequest, Timestamp};

use crate::config::InstanceSpec;
use crate::hooks::wire::rfc3339;

/// The retention of a history storage instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRetention {
    /// The instance's name (`storage.sqlite`).
    pub storage: String,
    /// Days kept; 0 keeps everything.
    pub days: u32,
}

impl HistoryRetention {
    /// The `retention_days` setting of `spec` (default 90), or `days`
    /// when given (a `--keep DAYS` flag).
    pub fn of(spec: &InstanceSpec, days: Option<u32>) -> Result<Self, String> {
        let configured = match spec.settings.get("retention_days") {
            None => otto_hooks_sqlite::DEFAULT_RETENTION_DAYS,
            Some(value) => value
                .as_integer()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| {
                    format!(
                        "{} ({}): `retention_days` must be a whole number of days, 0 or more; found {value}",
                        spec.instance, spec.origin
                    )
                })?,
        };
        Ok(HistoryRetention {
            storage: spec.instance.clone(),
            days: days.unwrap_or(configured),
        })
    }

    /// Runs that ended before this go.
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_secs(now.secs.saturating_sub(i64::from(self.days) * 86_400))
    }

    /// Applies the retention on `storage` (or, with `dry_run`, says what it
    /// would delete). `Ok(None)`: the storage keeps no run history to expire
    /// (otto's directories) or the retention is 0 (keep everything).
    pub fn apply(
        &self,
        storage: &Instance,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Option<HistoryExpiry>, String> {
        if self.days == 0 {
            return Ok(None);
        }
        let cutoff = self.cutoff(now);
        let report = match storage.expire(&ExpireRequest { cutoff, dry_run }) {
            Ok(report) => report,
            Err(e) if e.kind == ErrorKind::Unsupported => return Ok(None),
            Err(e) => return Err(format!("history retention: {e}")),
        };
        tracing::info!(
            storage = %self.storage,
            dry_run,
            runs = report.runs,
            events = report.events,
            bytes_freed = report.bytes_freed,
            "history retention"
        );
        Ok(Some(HistoryExpiry {
            storage: self.storage.clone(),
            retention_days: self.days,
            cutoff: rfc3339(cutoff),
            runs: report.runs,
            events: report.events,
            bytes_freed: report.bytes_freed,
            run_ids: report.run_ids,
        }))
    }
}

/// Whether `storage` keeps run histories that expire (answers `expire`).
pub fn keeps_history(storage: &Instance) -> bool {
    storage.handle().offers().contains(&"expire")
        && !matches!(
            storage.expire(&ExpireRequest {
                cutoff: Timestamp::from_secs(0),
                dry_run: true,
            }),
            Err(e) if e.kind == ErrorKind::Unsupported
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use otto_hooks_plugin_api::PluginKind;

    fn spec(settings: &str) -> InstanceSpec {
        InstanceSpec {
            kind: PluginKind::Storage,
            plugin: "sqlite".into(),
            instance: "storage.sqlite".into(),
            settings: toml::from_str(settings).unwrap(),
            origin: "test".into(),
        }
    }

    #[test]
    fn retention_days_default_setting_and_flag() {
        assert_eq!(HistoryRetention::of(&spec(""), None).unwrap().days, 90);
        assert_eq!(
            HistoryRetention::of(&spec("retention_days = 7"), None)
                .unwrap()
                .days,
            7
        );
        assert_eq!(
            HistoryRetention::of(&spec("retention_days = 7"), Some(30))
                .unwrap()
                .days,
            30
        );
        let err = HistoryRetention::of(&spec("retention_days = -1"), None).unwrap_err();
        assert!(
            err.contains("retention_days") && err.contains("storage.sqlite"),
            "{err}"
        );
        let err = HistoryRetention::of(&spec("retention_days = \"90d\""), None).unwrap_err();
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn cutoff_is_days_before_now() {
        let r = HistoryRetention {
            storage: "s".into(),
            days: 2,
        };
        assert_eq!(
            r.cutoff(Timestamp::from_secs(1_000_000)),
            Timestamp::from_secs(1_000_000 - 2 * 86_400)
        );
    }
}
