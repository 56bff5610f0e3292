//! The plugin's settings: parsing, defaults and checks.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The settings as written in `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    /// Where otto keeps its runs.
    pub otto_home: Option<String>,
    /// Whether to use the size index.
    pub index: Option<bool>,
    /// How many threads walk runs.
    pub threads: Option<i64>,
}

/// The settings, checked and with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `$OTTO_HOME`, absolute.
    pub otto_home: PathBuf,
    /// Use the size index.
    pub index: bool,
    /// Threads for walking runs, 1..=256.
    pub threads: usize,
}

/// What the defaults come from: the environment and the machine.
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    /// `$OTTO_HOME`.
    pub otto_home: Option<OsString>,
    /// `$HOME`.
    pub home: Option<OsString>,
    /// The current directory, for a relative `otto_home`.
    pub cwd: Option<PathBuf>,
    /// `std::thread::available_parallelism`.
    pub cores: usize,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Self {
        Environment {
            otto_home: std::env::var_os("OTTO_HOME"),
            home: std::env::var_os("HOME"),
            cwd: std::env::current_dir().ok(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// The most threads `threads` accepts.
pub(crate) const MAX_THREADS: i64 = 256;

/// Applies defaults to `raw` and checks it; errors name the key.
pub(crate) fn resolve(raw: Raw, env: &Environment) -> Result<Settings, String> {
    let home = || {
        env.home
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                "`otto_home` is not set and neither is $HOME: set `otto_home`".to_owned()
            })
    };
    let otto_home = match raw.otto_home.as_deref() {
        Some("") => return Err("`otto_home` is empty".into()),
        Some("~") => home()?,
        Some(path) => match path.strip_prefix("~/") {
            Some(rest) => home()?.join(rest),
            None => PathBuf::from(path),
        },
        None => match env.otto_home.as_ref().filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h),
            None => home()?.join(".otto"),
        },
    };
    let otto_home = absolute(&otto_home, env.cwd.as_deref()).ok_or_else(|| {
        format!(
            "`otto_home` = {:?} is relative and the current directory is unknown",
            otto_home
        )
    })?;
    let threads = match raw.threads {
        None => (8 * env.cores.max(1)).min(64),
        Some(n) if (1..=MAX_THREADS).contains(&n) => usize::try_from(n).unwrap_or(1),
        Some(n) => {
            return Err(format!(
                "`threads` = {n} is out of range (1 to {MAX_THREADS})"
            ));
        }
    };
    Ok(Settings {
        otto_home,
        index: raw.index.unwrap_or(true),
        threads,
    })
}

/// `path` made absolute against `cwd`, with `.` components and trailing
/// slashes dropped (`..` is kept: it is the kernel's to resolve).
pub(crate) fn absolute(path: &Path, cwd: Option<&Path>) -> Option<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd?.join(path)
    };
    Some(joined.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            otto_home: None,
            home: Some("/home/me".into()),
            cwd: Some("/work".into()),
            cores: 2,
        }
    }

    fn home_of(setting: Option<&str>, env: &Environment) -> PathBuf {
        let raw = Raw {
            otto_home: setting.map(str::to_owned),
            ..Raw::default()
        };
        resolve(raw, env).unwrap().otto_home
    }

    #[test]
    fn otto_home_defaults_to_the_environment_then_to_home_dot_otto() {
        assert_eq!(home_of(None, &env()), Path::new("/home/me/.otto"));
        let with = Environment {
            otto_home: Some("/data/otto".into()),
            ..env()
        };
        assert_eq!(home_of(None, &with), Path::new("/data/otto"));
        let empty = Environment {
            otto_home: Some("".into()),
            ..env()
        };
        assert_eq!(home_of(None, &empty), Path::new("/home/me/.otto"));
        assert_eq!(
            home_of(Some("/x/y"), &with),
            Path::new("/x/y"),
            "the setting wins"
        );
    }

    #[test]
    fn a_tilde_expands_and_a_relative_path_is_made_absolute() {
        assert_eq!(
            home_of(Some("~/otto-data/"), &env()),
            Path::new("/home/me/otto-data")
        );
        assert_eq!(home_of(Some("~"), &env()), Path::new("/home/me"));
        assert_eq!(
            home_of(Some("rel/./otto"), &env()),
            Path::new("/work/rel/otto")
        );
        assert_eq!(
            home_of(Some("~other/x"), &env()),
            Path::new("/work/~other/x")
        );
    }

    #[test]
    fn threads_default_to_eight_per_core_up_to_64_and_are_checked() {
        assert_eq!(resolve(Raw::default(), &env()).unwrap().threads, 16);
        let many = Environment { cores: 32, ..env() };
        assert_eq!(resolve(Raw::default(), &many).unwrap().threads, 64);
        for bad in [0, -1, 257] {
            let raw = Raw {
                threads: Some(bad),
                ..Raw::default()
            };
            let err = resolve(raw, &env()).unwrap_err();
            assert!(err.contains("`threads`"), "{err}");
        }
        let raw = Raw {
            threads: Some(256),
            ..Raw::default()
        };
        assert_eq!(resolve(raw, &env()).unwrap().threads, 256);
    }

    #[test]
    fn no_home_at_all_is_an_error_naming_otto_home() {
        let none = Environment {
            home: None,
            ..env()
        };
        let err = resolve(Raw::default(), &none).unwrap_err();
        assert!(err.contains("`otto_home`"), "{err}");
        let raw = Raw {
            otto_home: Some(String::new()),
            ..Raw::default()
        };
        assert!(resolve(raw, &env()).unwrap_err().contains("`otto_home`"));
    }
}
