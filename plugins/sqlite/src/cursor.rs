//! [`RunCursor`]: where a page of runs ended, as an opaque string.

use otto_hooks_plugin_api::Timestamp;
use serde::{Serialize, Serializer};

use crate::error::{DbError, Result};

/// The position after which the next page of runs starts: the last run of
/// the previous page, by `(started_at, id)`. Pass it around as
/// [`encode`](RunCursor::encode)d text; its format is not part of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    /// Start time of the last run seen.
    pub started_at: Timestamp,
    /// Id of the last run seen.
    pub id: String,
}

const PREFIX: &str = "r1";

impl RunCursor {
    /// The cursor as URL-safe text.
    pub fn encode(&self) -> String {
        let raw = format!(
            "{}.{}.{}",
            self.started_at.secs, self.started_at.nanos, self.id
        );
        let mut out = String::with_capacity(PREFIX.len() + raw.len() * 2);
        out.push_str(PREFIX);
        for b in raw.bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Reads a cursor made by [`encode`](RunCursor::encode).
    pub fn decode(text: &str) -> Result<RunCursor> {
        let bad = || {
            DbError::Invalid(format!(
                "invalid run cursor {text:?}; use the `next` of a page"
            ))
        };
        let hex = text.strip_prefix(PREFIX).ok_or_else(bad)?;
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, '.');
        let secs = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let nanos: u32 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let id = parts.next().ok_or_else(bad)?.to_owned();
        if nanos >= 1_000_000_000 {
            return Err(bad());
        }
        Ok(RunCursor {
            started_at: Timestamp { secs, nanos },
            id,
        })
    }
}

impl Serialize for RunCursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = RunCursor {
            started_at: Timestamp { secs: -5, nanos: 7 },
            id: "run_a.b/c".into(),
        };
        assert_eq!(RunCursor::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            RunCursor::decode("nope"),
            Err(DbError::Invalid(_))
        ));
        assert!(matches!(
            RunCursor::decode("r1zz"),
            Err(DbError::Invalid(_))
        ));
    }
}
