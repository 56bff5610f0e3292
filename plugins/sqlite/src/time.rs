//! How times are stored: TEXT, RFC 3339 UTC with exactly nine fractional
//! digits (`2025-01-20T14:30:52.123456789Z`). Fixed width, so text order is
//! time order and indexes on time columns sort correctly.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use otto_hooks_plugin_api::Timestamp;

use crate::error::DbError;

/// Length of a stored time: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub const STORED_TIME_LEN: usize = 30;

/// Formats `t` the way history.db stores it.
///
/// Fails for times outside the years 0000–9999 (they would not be fixed width)
/// and for `nanos >= 1_000_000_000`.
pub fn format_time(t: Timestamp) -> Result<String, DbError> {
    let dt = to_datetime(t)?;
    let year = chrono::Datelike::year(&dt);
    if !(0..=9999).contains(&year) {
        return Err(DbError::Invalid(format!(
            "time {}s is outside the years 0000-9999 that history.db can store",
            t.secs
        )));
    }
    Ok(dt.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// Parses a stored time. Besides the stored form it accepts any RFC 3339
/// time (any offset, any number of fractional digits) and SQLite/Go style
/// `YYYY-MM-DD HH:MM:SS[.f][±HH:MM]` (no offset means UTC), which older
/// tools may have written.
pub fn parse_time(s: &str) -> Result<Timestamp, DbError> {
    let dt = parse_datetime(s)
        .ok_or_else(|| DbError::Invalid(format!("unreadable time {s:?} (want RFC 3339)")))?;
    Ok(Timestamp {
        secs: dt.timestamp(),
        nanos: dt.timestamp_subsec_nanos(),
    })
}

/// Whether `s` is already in the stored form (so that it needs no rewriting).
pub fn is_stored_form(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == STORED_TIME_LEN
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[29] == b'Z'
        && parse_datetime(s).is_some()
}

/// Milliseconds from `from` to `to`, never negative.
pub fn millis_between(from: Timestamp, to: Timestamp) -> i64 {
    let nanos = (to.secs as i128 - from.secs as i128) * 1_000_000_000
        + (to.nanos as i128 - from.nanos as i128);
    if nanos <= 0 {
        0
    } else {
        i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
    }
}

fn to_datetime(t: Timestamp) -> Result<DateTime<Utc>, DbError> {
    DateTime::<Utc>::from_timestamp(t.secs, t.nanos).ok_or_else(|| {
        DbError::Invalid(format!(
            "time {}s + {}ns is not a valid time",
            t.secs, t.nanos
        ))
    })
}

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Some(dt) = parse_stored(s) {
        return Some(dt);
    }
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc());
        }
    }
    None
}

/// The fast path for the stored form `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
/// (every read of a page parses one per row).
fn parse_stored(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != STORED_TIME_LEN
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[29] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let dt = date.and_hms_nano_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 29)?)?;
    Some(dt.and_utc())
}

/// Serde helpers: a [`Timestamp`] as its stored RFC 3339 text.
pub(crate) mod serde_rfc3339 {
    use otto_hooks_plugin_api::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        let text = super::format_time(*t).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub mod option {
        use otto_hooks_plugin_api::Timestamp;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_has_nine_digits_and_round_trips() {
        let t = Timestamp {
            secs: 1_737_383_452,
            nanos: 123_456_789,
        };
        let s = format_time(t).unwrap();
        assert_eq!(s, "2025-01-20T14:30:52.123456789Z");
        assert!(is_stored_form(&s));
        assert_eq!(parse_time(&s).unwrap(), t);
        let whole = format_time(Timestamp::from_secs(1_737_383_452)).unwrap();
        assert_eq!(whole, "2025-01-20T14:30:52.000000000Z");
    }

    #[test]
    fn older_tools_time_forms_are_read() {
        let want = Timestamp {
            secs: 1_737_383_452,
            nanos: 500_000_000,
        };
        for s in [
            "2025-01-20T14:30:52.5Z",
            "2025-01-20T15:30:52.5+01:00",
            "2025-01-20 14:30:52.5",
            "2025-01-20 14:30:52.5+00:00",
        ] {
            assert_eq!(parse_time(s).unwrap(), want, "{s}");
            assert!(!is_stored_form(s));
        }
    }

    #[test]
    fn text_order_is_time_order() {
        let a = format_time(Timestamp {
            secs: 9,
            nanos: 999_999_999,
        })
        .unwrap();
        let b = format_time(Timestamp::from_secs(10)).unwrap();
        assert!(a < b);
    }

    #[test]
    fn millis_never_negative() {
        assert_eq!(
            millis_between(Timestamp::from_secs(10), Timestamp::from_secs(5)),
            0
        );
        assert_eq!(
            millis_between(
                Timestamp::from_secs(10),
                Timestamp {
                    secs: 11,
                    nanos: 500_000_000
                }
            ),
            1500
        );
    }
}
