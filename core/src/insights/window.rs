//! `--since`: the time window a question covers, and the window before it
//! of the same length (what a trend compares against).

use serde::Serialize;

use super::{InsightError, Result};

/// The longest `--since` accepted: a million years, in seconds.
const MAX_SECS: i64 = 1_000_000 * 366 * 86_400;

/// A window ending at `to`: `[from, to)`, or all time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// As given (`30d`, `all`).
    pub since: String,
    /// Start, epoch seconds (`None`: all time).
    pub from: Option<i64>,
    /// End, epoch seconds (exclusive).
    pub to: i64,
}

impl Window {
    /// Reads `since` (`30d`, `12h`, `2w`, `90m`, `3600s`, or `all`) ending
    /// at `now`.
    pub fn parse(since: &str, now: i64) -> Result<Window> {
        let since = since.trim();
        if since == "all" {
            return Ok(Window {
                since: since.to_owned(),
                from: None,
                to: now.saturating_add(1),
            });
        }
        let bad = || {
            InsightError::bad_input(format!(
                "--since {since:?}: want a length such as 30d, 12h, 2w, 90m, or `all`"
            ))
        };
        let split = since.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = since.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        // At most a million years: the window before it (`--trend`), and
        // its days, stay far inside the range of a timestamp.
        let secs = n
            .checked_mul(unit_secs)
            .filter(|s| *s > 0 && *s <= MAX_SECS)
            .ok_or_else(bad)?;
        // `to` is exclusive: a run started this second is inside.
        let to = now.saturating_add(1);
        Ok(Window {
            since: since.to_owned(),
            from: Some(to.saturating_sub(secs)),
            to,
        })
    }

    /// Its length in seconds (`None`: all time).
    pub fn seconds(&self) -> Option<i64> {
        self.from.map(|f| self.to - f)
    }

    /// The window of the same length just before it (`None`: all time).
    pub fn previous(&self) -> Option<Window> {
        let from = self.from?;
        let len = self.to - from;
        Some(Window {
            since: self.since.clone(),
            from: Some(from - len),
            to: from,
        })
    }

    /// The scope of this window, for `project`.
    pub fn scope(&self, project: Option<&str>) -> super::Scope {
        super::Scope {
            project: project.map(str::to_owned),
            from: self.from,
            to: Some(self.to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_and_the_one_before_it_have_the_same_length_and_touch() {
        let w = Window::parse("30d", 1_000_000_000).unwrap();
        assert_eq!(w.seconds(), Some(30 * 86_400));
        assert_eq!(w.to, 1_000_000_001);
        let p = w.previous().unwrap();
        assert_eq!(p.to, w.from.unwrap());
        assert_eq!(p.seconds(), w.seconds());
        assert_eq!(Window::parse("2w", 0).unwrap().seconds(), Some(14 * 86_400));
        assert_eq!(Window::parse("all", 5).unwrap().previous(), None);
    }

    #[test]
    fn a_malformed_window_says_what_it_wants() {
        for bad in ["", "30", "d", "30x", "-3d", "0d", "3.5d"] {
            let e = Window::parse(bad, 0).unwrap_err();
            assert!(e.bad_input && e.message.contains("30d"), "{bad}: {e}");
        }
    }
}
