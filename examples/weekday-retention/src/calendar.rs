//! Calendar days and weekdays from epoch seconds, with integer arithmetic only.
//!
//! No clock and no time-zone database: a day is a span of 86 400 seconds
//! starting at midnight UTC, shifted by a fixed offset when the settings
//! ask for one. That keeps every decision reproducible on any machine
//! (summer time is deliberately ignored: a fixed offset never moves).

use std::fmt;

const SECS_PER_DAY: i64 = 86_400;

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DayOfWeek {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl DayOfWeek {
    /// Every day, Monday first.
    pub const ALL: [DayOfWeek; 7] = [
        DayOfWeek::Mon,
        DayOfWeek::Tue,
        DayOfWeek::Wed,
        DayOfWeek::Thu,
        DayOfWeek::Fri,
        DayOfWeek::Sat,
        DayOfWeek::Sun,
    ];

    /// Monday is 0, Sunday is 6.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The three-letter English name used in reasons: `Mon`, `Tue`…
    pub const fn short_name(self) -> &'static str {
        match self {
            DayOfWeek::Mon => "Mon",
            DayOfWeek::Tue => "Tue",
            DayOfWeek::Wed => "Wed",
            DayOfWeek::Thu => "Thu",
            DayOfWeek::Fri => "Fri",
            DayOfWeek::Sat => "Sat",
            DayOfWeek::Sun => "Sun",
        }
    }

    const fn full_name(self) -> &'static str {
        match self {
            DayOfWeek::Mon => "monday",
            DayOfWeek::Tue => "tuesday",
            DayOfWeek::Wed => "wednesday",
            DayOfWeek::Thu => "thursday",
            DayOfWeek::Fri => "friday",
            DayOfWeek::Sat => "saturday",
            DayOfWeek::Sun => "sunday",
        }
    }

    /// Reads `mon` or `monday`, in any case; `None` for anything else.
    pub fn parse(name: &str) -> Option<DayOfWeek> {
        let name = name.trim();
        DayOfWeek::ALL.into_iter().find(|d| {
            name.eq_ignore_ascii_case(d.short_name()) || name.eq_ignore_ascii_case(d.full_name())
        })
    }
}

impl fmt::Display for DayOfWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// A calendar day, counted in days since 1970-01-01 (day 0, a Thursday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// The day that contains `secs` (epoch seconds) at `offset_secs` from UTC.
    pub fn containing(secs: i64, offset_secs: i64) -> Day {
        Day(secs.saturating_add(offset_secs).div_euclid(SECS_PER_DAY))
    }

    /// The day `n` days earlier.
    pub fn minus(self, n: i64) -> Day {
        Day(self.0.saturating_sub(n))
    }

    /// Its day of the week.
    pub fn weekday(self) -> DayOfWeek {
        // 1970-01-01 was a Thursday, index 3 when Monday is 0.
        DayOfWeek::ALL[(self.0.rem_euclid(7) as usize + 3) % 7]
    }

    /// Its proleptic Gregorian date as (year, month 1..=12, day 1..=31).
    ///
    /// Howard Hinnant's `civil_from_days`, valid for every `i64` day this
    /// plugin can produce from epoch seconds.
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0.saturating_add(719_468);
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // [0, 146096]
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        let mp = (5 * doy + 2) / 153; // [0, 11], March first
        let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
        let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month as u32, day as u32)
    }
}

/// `Tue 2026-11-17`.
impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{} {y:04}-{m:02}-{d:02}", self.weekday())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from `date -u -d <date> +%s`.
    const KNOWN: &[(&str, i64)] = &[
        ("Wed 1969-12-31", -86_400),
        ("Thu 1970-01-01", 0),
        ("Tue 2000-02-29", 951_782_400),
        ("Sun 2026-03-01", 1_772_323_200),
        ("Fri 2026-09-25", 1_790_294_400),
        ("Tue 2026-11-17", 1_794_873_600),
        ("Fri 2026-11-20", 1_795_132_800),
    ];

    #[test]
    fn days_and_weekdays_match_gnu_date() {
        for &(expected, midnight) in KNOWN {
            assert_eq!(Day::containing(midnight, 0).to_string(), expected);
            assert_eq!(Day::containing(midnight + 86_399, 0).to_string(), expected);
        }
    }

    #[test]
    fn an_offset_moves_late_evening_runs_to_the_next_local_day() {
        // 2026-11-17 23:30 UTC is already Wednesday in UTC+1.
        let secs = 1_794_873_600 + 23 * 3600 + 1800;
        assert_eq!(Day::containing(secs, 0).to_string(), "Tue 2026-11-17");
        assert_eq!(Day::containing(secs, 3600).to_string(), "Wed 2026-11-18");
        // …and 00:30 UTC is still the previous day in UTC-8.
        let secs = 1_794_873_600 + 1800;
        assert_eq!(
            Day::containing(secs, -8 * 3600).to_string(),
            "Mon 2026-11-16"
        );
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        for secs in [i64::MIN, i64::MAX] {
            for offset in [-14 * 3600, 0, 14 * 3600] {
                let _ = Day::containing(secs, offset).to_string();
            }
        }
    }

    #[test]
    fn weekday_names_are_read_short_or_long_in_any_case() {
        assert_eq!(DayOfWeek::parse("mon"), Some(DayOfWeek::Mon));
        assert_eq!(DayOfWeek::parse("Tuesday"), Some(DayOfWeek::Tue));
        assert_eq!(DayOfWeek::parse("SUN"), Some(DayOfWeek::Sun));
        assert_eq!(DayOfWeek::parse("tues"), None);
        assert_eq!(DayOfWeek::parse(""), None);
    }
}
