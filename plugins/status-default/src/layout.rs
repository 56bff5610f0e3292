//! Recognising an otto run directory: `<otto_home>/<name>-<hash8>/<ts>[-<n>]`.
//!
//! Only the location decides: a run whose location does not have this shape
//! belongs to another storage, and its recorded status is used as it is.

use std::path::Path;

/// A run location that has otto's layout, split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OttoRun<'a> {
    /// The run directory, as given (absolute, without a trailing `/`).
    pub dir: &'a str,
    /// `$OTTO_HOME`: the run directory's grandparent.
    pub home: &'a Path,
    /// The project directory's hash (its 8 hex digits as a number).
    pub project_hash: u32,
    /// The run's start second (the directory name's number).
    pub ts: u64,
    /// The same-second index: 0 for `<ts>`, `n` for `<ts>-<n>`.
    pub seq: u32,
}

impl<'a> OttoRun<'a> {
    /// Parses `location` (an absolute run directory). `None` when it is not
    /// an otto run directory.
    pub fn parse(location: &'a str) -> Option<Self> {
        let dir = trim_slashes(location);
        let path = Path::new(dir);
        if !path.is_absolute() {
            return None;
        }
        let (ts, seq) = parse_run_name(path.file_name()?.to_str()?)?;
        let project = path.parent()?;
        let project_hash = parse_project_name(project.file_name()?.to_str()?)?;
        let home = project.parent()?;
        Some(OttoRun {
            dir,
            home,
            project_hash,
            ts,
            seq,
        })
    }
}

/// `path` without trailing `/` (the root stays `/`).
pub(crate) fn trim_slashes(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && !path.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// Parses a run directory name: `<u64>` or `<u64>-<u32>`, ASCII digits only.
pub(crate) fn parse_run_name(name: &str) -> Option<(u64, u32)> {
    match name.split_once('-') {
        None => Some((digits(name)?, 0)),
        Some((ts, n)) => Some((digits(ts)?, digits(n)?)),
    }
}

/// Parses a project directory name `<non-empty name>-<8 lowercase hex>`
/// (split on the last `-`) and returns the hash as a number.
pub(crate) fn parse_project_name(name: &str) -> Option<u32> {
    let (base, hash) = name.rsplit_once('-')?;
    if base.is_empty()
        || hash.len() != 8
        || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u32::from_str_radix(hash, 16).ok()
}

/// A non-empty string of ASCII digits as a number (no sign, no spaces).
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
    fn a_run_directory_parses() {
        let run = OttoRun::parse("/h/.otto/web-6b20a2e4/1700000000-2/").unwrap();
        assert_eq!(run.dir, "/h/.otto/web-6b20a2e4/1700000000-2");
        assert_eq!(run.home, Path::new("/h/.otto"));
        assert_eq!(run.project_hash, 0x6b20_a2e4);
        assert_eq!((run.ts, run.seq), (1_700_000_000, 2));
        let run = OttoRun::parse("/h/otto-00000000/5").unwrap();
        assert_eq!((run.ts, run.seq, run.project_hash), (5, 0, 0));
    }

    #[test]
    fn other_locations_are_not_otto_runs() {
        for loc in [
            "",
            "/",
            "relative/web-6b20a2e4/1700000000",
            "/h/web-6b20a2e4/17000x",
            "/h/web-6b20a2e4/+17",
            "/h/web-6b20a2e4/17-",
            "/h/web-6b20a2e4/17-1-2",
            "/h/web-6B20A2E4/17",
            "/h/web-6b20a2e/17",
            "/h/-6b20a2e4/17",
            "/h/backups/17",
            "/h/web-6b20a2e4/..",
            "sqlite:///tmp/history.db#run_20250120_143052_a1b2",
        ] {
            assert_eq!(OttoRun::parse(loc), None, "{loc}");
        }
    }
}
