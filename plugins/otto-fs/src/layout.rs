//! otto's directory names: which entries of `$OTTO_HOME` are projects, and
//! which entries of a project are runs.
//!
//! Pure string functions, no I/O. The rules are otto's own (see the crate
//! docs): a project is `<non-empty name>-<8 lowercase hex>` split on the
//! last `-`; a run is `<u64>` or `<u64>-<u32>`.

use std::cmp::Ordering;

/// A project directory name, split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectName<'a> {
    /// The whole directory name, e.g. `web-app-6b20a2e4`.
    pub dir: &'a str,
    /// The name: the basename of the ottofile's directory (`web-app`).
    pub name: &'a str,
    /// The first 8 lowercase hex digits of the sha256 of that directory's
    /// canonical path (`6b20a2e4`).
    pub hash: &'a str,
}

impl<'a> ProjectName<'a> {
    /// Parses a directory name as a project, or `None` when it is not one
    /// (`backups`, `notes-xyz`, `proj-ABCDEF12`, `proj-abc123`, `-6b20a2e4`).
    pub fn parse(dir: &'a str) -> Option<Self> {
        let (name, hash) = dir.rsplit_once('-')?;
        let is_hash =
            hash.len() == 8 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (!name.is_empty() && is_hash).then_some(ProjectName { dir, name, hash })
    }

    /// Whether a project filter selects this project: the filter equals the
    /// directory name, the name or the hash — exactly, never as a substring.
    pub fn matches(&self, filter: &str) -> bool {
        filter == self.dir || filter == self.name || filter == self.hash
    }
}

/// A run directory name: the start second and otto's same-second suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RunName {
    /// The start time in unix seconds.
    pub secs: u64,
    /// `Some(n)` for `<secs>-<n>`, the n-th extra run started in that second.
    pub suffix: Option<u32>,
}

impl RunName {
    /// Parses a run directory name (`1700000000`, `1700000000-1`), or `None`
    /// for anything else (`.cache`, `17x`, `1700000000-`, `-1`, `+5`).
    pub fn parse(dir: &str) -> Option<Self> {
        let (secs, suffix) = match dir.split_once('-') {
            Some((secs, suffix)) => (secs, Some(digits::<u32>(suffix)?)),
            None => (dir, None),
        };
        Some(RunName {
            secs: digits::<u64>(secs)?,
            suffix,
        })
    }

    /// The start time as signed seconds (saturating: a `u64` beyond
    /// `i64::MAX` reads as `i64::MAX`).
    pub fn start_secs(&self) -> i64 {
        i64::try_from(self.secs).unwrap_or(i64::MAX)
    }
}

/// Oldest first: by seconds, then by suffix (`<ts>` < `<ts>-1` < `<ts>-2`).
impl Ord for RunName {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.secs, self.suffix).cmp(&(other.secs, other.suffix))
    }
}

impl PartialOrd for RunName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A non-empty run of ASCII digits that fits `T` (no sign, no spaces).
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_name_dash_eight_lowercase_hex_split_on_the_last_dash() {
        let p = ProjectName::parse("web-app-6b20a2e4").unwrap();
        assert_eq!((p.name, p.hash), ("web-app", "6b20a2e4"));
        let p = ProjectName::parse("otto-6b20a2e4").unwrap();
        assert_eq!((p.name, p.hash), ("otto", "6b20a2e4"));
        assert_eq!(ProjectName::parse("a--6b20a2e4").unwrap().name, "a-");
    }

    #[test]
    fn names_that_are_not_projects_are_refused() {
        for dir in [
            "proj-ABCDEF12",
            "proj-abc123",
            "-6b20a2e4",
            "backups",
            "notes-xyz",
            "proj-6b20a2e45",
            "proj-6b20a2e",
            "proj-6b20a2eg",
            "otto.db",
            ".last_prune",
            "",
        ] {
            assert!(ProjectName::parse(dir).is_none(), "{dir}");
        }
    }

    #[test]
    fn the_project_filter_matches_dir_name_or_hash_exactly() {
        let p = ProjectName::parse("web-fabc1234").unwrap();
        for yes in ["web-fabc1234", "web", "fabc1234"] {
            assert!(p.matches(yes), "{yes}");
        }
        for no in ["abc", "fabc", "we", "web-", "abc1234", "eb-fabc1234", ""] {
            assert!(!p.matches(no), "{no}");
        }
    }

    #[test]
    fn runs_are_seconds_with_an_optional_same_second_suffix() {
        assert_eq!(
            RunName::parse("1700000000"),
            Some(RunName {
                secs: 1_700_000_000,
                suffix: None
            })
        );
        assert_eq!(
            RunName::parse("1700000000-12"),
            Some(RunName {
                secs: 1_700_000_000,
                suffix: Some(12)
            })
        );
        for dir in [
            ".cache",
            "..",
            ".",
            "17x",
            "1700000000-",
            "-1",
            "+5",
            "1-+2",
            "1-2-3",
            " 1",
            "tasks",
            "",
        ] {
            assert_eq!(RunName::parse(dir), None, "{dir}");
        }
        assert_eq!(RunName::parse("1-4294967296"), None, "suffix beyond u32");
        assert_eq!(RunName::parse("18446744073709551616"), None, "beyond u64");
    }

    #[test]
    fn runs_order_by_seconds_then_suffix() {
        let mut names: Vec<RunName> = [
            "1700000001",
            "1700000000-2",
            "1700000000",
            "1700000000-10",
            "1700000000-1",
        ]
        .iter()
        .map(|d| RunName::parse(d).unwrap())
        .collect();
        names.sort();
        let order: Vec<(u64, Option<u32>)> = names.iter().map(|n| (n.secs, n.suffix)).collect();
        assert_eq!(
            order,
            [
                (1_700_000_000, None),
                (1_700_000_000, Some(1)),
                (1_700_000_000, Some(2)),
                (1_700_000_000, Some(10)),
                (1_700_000_001, None)
            ]
        );
        assert_eq!(
            RunName::parse("18446744073709551615").unwrap().start_secs(),
            i64::MAX
        );
    }
}
