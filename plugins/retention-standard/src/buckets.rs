//! Calendar buckets: which hour, day, ISO week, month and year a run
//! started in, always in UTC.
//!
//! A bucket is named by a label that is also its identity: two runs are in
//! the same bucket exactly when their labels are equal. Natural boundaries,
//! not rolling windows: `daily` buckets start at 00:00 UTC, `weekly` ones
//! on Monday 00:00 UTC with ISO 8601 week numbering (so 2027-01-01 is in
//! `2026-W53`, and 2025-12-29 in `2026-W01`).

use chrono::{DateTime, Datelike, Timelike, Utc};

/// A calendar period, in the order its rule's reason is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Period {
    /// An hour: `2026-11-01T14`.
    Hourly,
    /// A day: `2026-11-01`.
    Daily,
    /// An ISO week: `2026-W44`.
    Weekly,
    /// A month: `2026-11`.
    Monthly,
    /// A year: `2026`.
    Yearly,
}

impl Period {
    /// Every period, in reason order (the order of [`crate::Policy::buckets`]).
    pub(crate) const ALL: [Period; 5] = [
        Period::Hourly,
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Yearly,
    ];

    /// The rule's name in reasons: `daily`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }

    /// The label of the bucket holding the instant `secs` (epoch seconds).
    ///
    /// Instants beyond what a calendar can show (about ±262,000 years) are
    /// clamped to its ends, so every instant has a bucket.
    pub(crate) fn label(self, secs: i64) -> String {
        let t = utc(secs);
        match self {
            Period::Hourly => format!(
                "{:04}-{:02}-{:02}T{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour()
            ),
            Period::Daily => format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
            Period::Weekly => {
                let week = t.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Period::Monthly => format!("{:04}-{:02}", t.year(), t.month()),
            Period::Yearly => format!("{:04}", t.year()),
        }
    }
}

/// `secs` as a UTC date-time, clamped to the range chrono represents.
fn utc(secs: i64) -> DateTime<Utc> {
    let secs = secs.clamp(
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T14:30:00Z, a Sunday.
    const SUN_AFTERNOON: i64 = 1_793_543_400;

    #[test]
    fn labels_use_natural_utc_boundaries() {
        let t = SUN_AFTERNOON;
        assert_eq!(Period::Hourly.label(t), "2026-11-01T14");
        assert_eq!(Period::Daily.label(t), "2026-11-01");
        assert_eq!(Period::Weekly.label(t), "2026-W44");
        assert_eq!(Period::Monthly.label(t), "2026-11");
        assert_eq!(Period::Yearly.label(t), "2026");
        // The last second of a day and the first of the next.
        let midnight = t - 14 * 3600 - 1800 + 86_400;
        assert_eq!(Period::Daily.label(midnight - 1), "2026-11-01");
        assert_eq!(Period::Daily.label(midnight), "2026-11-02");
        // Sunday ends ISO week 44; Monday starts week 45.
        assert_eq!(Period::Weekly.label(midnight - 1), "2026-W44");
        assert_eq!(Period::Weekly.label(midnight), "2026-W45");
    }

    #[test]
    fn iso_weeks_cross_year_ends() {
        // 2026-12-31 (Thu) and 2027-01-01 (Fri): both in 2026-W53.
        assert_eq!(Period::Weekly.label(1_798_675_200), "2026-W53");
        assert_eq!(Period::Weekly.label(1_798_761_600), "2026-W53");
        // 2027-01-04 (Mon) starts 2027-W01.
        assert_eq!(Period::Weekly.label(1_799_020_800), "2027-W01");
        // 2025-12-29 (Mon) is in 2026-W01.
        assert_eq!(Period::Weekly.label(1_766_966_400), "2026-W01");
        // …while its year and month stay 2025.
        assert_eq!(Period::Yearly.label(1_766_966_400), "2025");
        assert_eq!(Period::Monthly.label(1_766_966_400), "2025-12");
    }

    #[test]
    fn instants_before_the_epoch_and_out_of_range_have_buckets() {
        assert_eq!(Period::Hourly.label(-1), "1969-12-31T23");
        assert!(!Period::Daily.label(i64::MAX).is_empty());
        assert!(!Period::Daily.label(i64::MIN).is_empty());
        assert_eq!(
            Period::Daily.label(i64::MAX),
            Period::Daily.label(i64::MAX - 1)
        );
    }
}
