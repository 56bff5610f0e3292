//! Events as orchestrators send them: choo's JSON, one object per line.
//!
//! `{"time": "<RFC 3339>", "type": "unit.started", "unit": "app-shell",
//! "task": 1, "pr": 12, "payload": {...}, "error": "..."}` — empty fields
//! omitted. The JSON-lines form uses `"timestamp"` in place of `"time"`. A
//! payload that is not an object is wrapped as `{"value": ...}`. Fields
//! this version does not know are ignored, so newer orchestrators keep
//! working.

use otto_hooks_plugin_api::{Event, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One event parsed from JSON, owning its text.
#[derive(Clone, Debug, PartialEq)]
pub struct WireEvent {
    /// When it happened (the receipt time when the line had none).
    pub time: Timestamp,
    /// The event type.
    pub kind: String,
    /// Unit, when any.
    pub unit: Option<String>,
    /// Task number, when any.
    pub task: Option<i64>,
    /// Pull-request number, when any.
    pub pr: Option<i64>,
    /// The payload as a JSON object's text, when any.
    pub payload: Option<String>,
    /// Error message, when any.
    pub error: Option<String>,
}

impl WireEvent {
    /// Borrows it as the plugin API's [`Event`].
    pub fn as_event(&self) -> Event<'_> {
        Event {
            time: self.time,
            kind: &self.kind,
            unit: self.unit.as_deref(),
            task: self.task,
            pr: self.pr,
            payload: self.payload.as_deref(),
            error: self.error.as_deref(),
        }
    }
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(default, borrow)]
    time: Option<&'a RawValue>,
    #[serde(default, borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    task: Option<i64>,
    #[serde(default)]
    pr: Option<i64>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses one event; `now` stands in for a missing time. The error is one
/// line, without a line number (the caller adds it).
pub fn parse_event(line: &str, now: Timestamp) -> Result<WireEvent, String> {
    // serde would also accept a JSON array as a struct: check the shape first.
    if !line.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(line) {
            Ok(_) => "an event must be a JSON object".to_owned(),
            Err(e) => format!("invalid JSON: {e}"),
        });
    }
    let raw: Raw<'_> = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let kind = match raw.kind {
        Some(k) if !k.trim().is_empty() => k,
        _ => return Err("the event has no `type`".into()),
    };
    let time = match raw.time.or(raw.timestamp) {
        None => now,
        // Go's zero `time.Time` is a time never set (choo's HISTORY-STORE
        // handler sends it for every event), not an event of year 1.
        Some(v) => match parse_time(v.get())? {
            GO_ZERO_TIME => now,
            t => t,
        },
    };
    if let Some(p) = raw.payload {
        serde_json::from_str::<Checked>(p.get()).map_err(|e| format!("payload: {e}"))?;
    }
    let payload = match raw.payload {
        None => None,
        Some(p) if p.get() == "null" => None,
        Some(p) if p.get().trim_start().starts_with('{') => Some(p.get().to_owned()),
        Some(p) => Some(format!("{{\"value\":{}}}", p.get())),
    };
    Ok(WireEvent {
        time,
        kind,
        unit: raw.unit.filter(|u| !u.is_empty()),
        task: raw.task,
        pr: raw.pr,
        payload,
        error: raw.error.filter(|e| !e.is_empty()),
    })
}

/// A JSON value read all the way down without being kept. Keeping a
/// payload as the text it came in (`RawValue`) checks its grammar only: a
/// number past a 64-bit float's range (`1e999`) passes, and then fails
/// every reader of the payload (redaction, the API, exports, plugins).
/// Reading each number here refuses it with the line's other errors,
/// without allocating (strings are not copied, values not built).
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, Checked>()?
            .is_some()
        {}
        Ok(Checked)
    }
}

/// `0001-01-01T00:00:00Z`, what Go's `time.Time{}` marshals to.
const GO_ZERO_TIME: Timestamp = Timestamp {
    secs: -62_135_596_800,
    nanos: 0,
};

/// Parses an RFC 3339 time given as a JSON string.
fn parse_time(json: &str) -> Result<Timestamp, String> {
    let text: String = serde_json::from_str(json).map_err(|_| {
        format!(
            "`time` must be an RFC 3339 string, found {}",
            echo(json.trim())
        )
    })?;
    parse_rfc3339(&text)
}

/// A bad value as an error message may quote it: itself when it can only be a
/// mistyped time (at most 40 characters of digits, `T`, `Z`, `:`, `+`, `-`,
/// `.` and blanks), else only its length. Anything else may be a secret pasted
/// into the wrong field, and error messages reach terminals and logs.
pub fn echo(value: &str) -> String {
    let time_like = value.len() <= 40
        && value.bytes().all(|b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b'T' | b't' | b'Z' | b'z' | b':' | b'+' | b'-' | b'.' | b' ' | b'"'
                )
        });
    if time_like {
        format!("`{value}`")
    } else {
        format!(
            "a value of {} characters (not shown)",
            value.chars().count()
        )
    }
}

/// Parses an RFC 3339 timestamp (`2025-01-20T14:30:52.123456789Z`).
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("{} is not an RFC 3339 time ({e})", echo(text)))?;
    // chrono reads a leap second (`23:59:60`) as second 59 with 1e9 or more
    // nanoseconds; a `Timestamp`'s nanoseconds are below 1e9, so it is the
    // next second, as POSIX time counts it.
    let (secs, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
    let time = match nanos.checked_sub(1_000_000_000) {
        Some(rest) => Timestamp {
            secs: secs.saturating_add(1),
            nanos: rest,
        },
        None => Timestamp { secs, nanos },
    };
    // RFC 3339 has four-digit years; an offset can carry a time written in
    // year 0000 or 9999 past them in UTC, where it could not be written
    // back (nor stored, nor shown) as RFC 3339.
    if !(FIRST_RFC3339_SECOND..END_OF_RFC3339).contains(&time.secs) {
        return Err(format!(
            "{} is outside the years 0000–9999 in UTC",
            echo(text)
        ));
    }
    Ok(time)
}

/// `0000-01-01T00:00:00Z`, the first second RFC 3339 can write.
const FIRST_RFC3339_SECOND: i64 = -62_167_219_200;

/// `10000-01-01T00:00:00Z`, the first second past what RFC 3339 can write.
const END_OF_RFC3339: i64 = 253_402_300_800;

/// Formats a timestamp as RFC 3339 UTC (seconds, or nanoseconds when set).
pub fn rfc3339(t: Timestamp) -> String {
    match chrono::DateTime::from_timestamp(t.secs, t.nanos) {
        Some(dt) if t.nanos == 0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => t.secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp {
        secs: 1_800_000_000,
        nanos: 0,
    };

    #[test]
    fn choo_event_with_every_field() {
        let e = parse_event(
            r#"{"time":"2025-01-20T14:30:52.5Z","type":"task.completed","unit":"app-shell","task":1,"pr":12,"payload":{"title":"x"},"error":"boom"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(
            e.time,
            Timestamp {
                secs: 1_737_383_452,
                nanos: 500_000_000
            }
        );
        assert_eq!(e.kind, "task.completed");
        assert_eq!(e.unit.as_deref(), Some("app-shell"));
        assert_eq!((e.task, e.pr), (Some(1), Some(12)));
        assert_eq!(e.payload.as_deref(), Some(r#"{"title":"x"}"#));
        assert_eq!(e.error.as_deref(), Some("boom"));
    }

    /// Found with the `wire_ndjson` fuzz target's check that a parsed
    /// time's nanoseconds stay below 1e9 (its leap-second seed).
    #[test]
    fn a_leap_second_is_the_next_second() {
        let e = parse_event(
            r#"{"time":"2016-12-31T23:59:60.5Z","type":"unit.blocked"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(
            e.time,
            Timestamp {
                secs: 1_483_228_800,
                nanos: 500_000_000
            }
        );
        assert_eq!(rfc3339(e.time), "2017-01-01T00:00:00.500Z");
        assert_eq!(parse_rfc3339(&rfc3339(e.time)).unwrap(), e.time);
    }

    /// Found by the `wire_ndjson` fuzz target in CI: year 0000 an hour
    /// east of UTC is year -1 in UTC, which RFC 3339 cannot write, so the
    /// event did not read back as itself.
    #[test]
    fn a_time_outside_rfc3339_years_in_utc_is_refused() {
        let crash = "{\"time\":\"0000-01-01T00:00:02+01:00\",\"type\":\"task.started\",\"unit\":\"app-shell\",\"task\":1,\"payload\":{\"title\":\"Scaffold\"}}";
        let err = parse_event(crash, NOW).unwrap_err();
        assert_eq!(
            err,
            "`0000-01-01T00:00:02+01:00` is outside the years 0000–9999 in UTC"
        );
        assert!(parse_rfc3339("9999-12-31T23:30:00-01:00").is_err());
        assert!(parse_rfc3339("9999-12-31T23:59:60Z").is_err());
        // The edges themselves are kept and written back unchanged.
        for edge in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"] {
            let t = parse_rfc3339(edge).unwrap();
            assert_eq!(parse_rfc3339(&rfc3339(t)).unwrap(), t);
        }
        assert_eq!(
            rfc3339(parse_rfc3339("0000-01-01T01:00:00+01:00").unwrap()),
            "0000-01-01T00:00:00Z"
        );
    }

    /// Found by the `wire_ndjson` fuzz target (a local two-minute run):
    /// a payload number past a 64-bit float's range was kept as text, and
    /// no reader of the payload could parse it.
    #[test]
    fn a_payload_number_out_of_range_is_refused() {
        for payload in [
            r#"{"exit_code":9999999999E99999999}"#,
            r#"{"a":[1,{"b":-1e400}]}"#,
            "1e999",
        ] {
            let line =
                format!(r#"{{"time":"2027-01-15T08:00:03Z","type":"x","payload":{payload}}}"#);
            let err = parse_event(&line, NOW).unwrap_err();
            assert!(
                err.starts_with("payload: number out of range"),
                "{payload}: {err}"
            );
            assert!(!err.contains('\n'));
        }
        // Big numbers a float holds, every kind of value, escapes: kept as sent.
        let payload = r#"{"n":123456789012345678901234567890,"f":1.5e300,"s":"a\"b\u00e9","t":true,"z":null,"l":[[],{}]}"#;
        let line = format!(r#"{{"time":"2027-01-15T08:00:03Z","type":"x","payload":{payload}}}"#);
        assert_eq!(
            parse_event(&line, NOW).unwrap().payload.as_deref(),
            Some(payload)
        );
    }

    #[test]
    fn go_s_zero_time_is_a_missing_time() {
        let e = parse_event(r#"{"time":"0001-01-01T00:00:00Z","type":"x"}"#, NOW).unwrap();
        assert_eq!(e.time, NOW);
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z").unwrap(), GO_ZERO_TIME);
        // A real early time is kept.
        let e = parse_event(r#"{"time":"0001-01-01T00:00:01Z","type":"x"}"#, NOW).unwrap();
        assert_eq!(e.time.secs, GO_ZERO_TIME.secs + 1);
    }

    #[test]
    fn json_lines_form_uses_timestamp() {
        let e = parse_event(
            r#"{"timestamp":"2025-01-20T14:30:52Z","type":"unit.started"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(e.time.secs, 1_737_383_452);
    }

    #[test]
    fn a_non_object_payload_is_wrapped() {
        let e = parse_event(r#"{"type":"x","payload":[1,2]}"#, NOW).unwrap();
        assert_eq!(e.payload.as_deref(), Some(r#"{"value":[1,2]}"#));
        let e = parse_event(r#"{"type":"x","payload":"text"}"#, NOW).unwrap();
        assert_eq!(e.payload.as_deref(), Some(r#"{"value":"text"}"#));
    }

    #[test]
    fn a_missing_time_is_the_receipt_time() {
        assert_eq!(parse_event(r#"{"type":"x"}"#, NOW).unwrap().time, NOW);
    }

    #[test]
    fn a_bad_time_is_quoted_only_when_it_can_only_be_a_mistyped_time() {
        let err = parse_event(r#"{"type":"x","time":"2025-13-45T99:00:00Z"}"#, NOW).unwrap_err();
        assert!(err.contains("`2025-13-45T99:00:00Z`"), "{err}");
        let secret = format!("sk-ant-{}", "Xq7Rk2Vb9Lm4Tz8Wc3Hn6Pd5");
        for line in [
            format!(r#"{{"type":"x","time":"{secret}"}}"#),
            format!(r#"{{"type":"x","timestamp":{{"v":"{secret}"}}}}"#),
        ] {
            let err = parse_event(&line, NOW).unwrap_err();
            assert!(
                err.contains("RFC 3339") && err.contains("not shown"),
                "{err}"
            );
            assert!(!err.contains("Xq7Rk2Vb9"), "{err}");
        }
    }

    #[test]
    fn malformed_events_are_one_line_errors() {
        for (line, expect) in [
            ("{not json", "invalid JSON"),
            ("[1,2]", "must be a JSON object"),
            (r#"{"unit":"a"}"#, "no `type`"),
            (r#"{"type":""}"#, "no `type`"),
            (r#"{"type":"x","time":"yesterday"}"#, "RFC 3339"),
            (r#"{"type":"x","time":12}"#, "RFC 3339"),
            (r#"{"type":"x","task":"one"}"#, "invalid JSON"),
        ] {
            let err = parse_event(line, NOW).unwrap_err();
            assert!(err.contains(expect), "{line}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = parse_rfc3339("2026-11-22T10:15:00Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T10:15:00Z");
        let t = parse_rfc3339("2026-11-22T10:15:00.25+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T09:15:00.250Z");
    }
}
