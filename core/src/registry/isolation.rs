//! Isolation of a plugin instance: the `isolation` key of a plugin entry,
//! and the wire protocol between the host and its plugin runner.
//!
//! An entry runs in the host's process by default. With
//! `isolation = "process"` (or `isolation = { mode = "process", timeout =
//! "30s", memory = "1GiB" }`) the host starts `otto-hooks __plugin-runner`,
//! which loads the library through the same checks
//! ([`super::load_library`]) under resource limits, and serves the calls
//! over its stdin and stdout. A plugin that crashes, hangs or exhausts its
//! memory then takes down its runner only: the host reports one line and
//! carries on ([`super::proxy`]).
//!
//! The key belongs to the host: it is taken out of the settings before the
//! plugin sees them, so it never collides with a plugin's own keys.
//!
//! Frames are a 4-byte little-endian length followed by that many bytes of
//! JSON (the model types' own serde shapes).

use std::io::{Read, Write};
use std::time::Duration;

use otto_hooks_plugin_api::{Decision, ErrorKind, PluginKind, Run, Timestamp};
use serde::{Deserialize, Serialize};

/// The settings key the host reads and removes.
pub const KEY: &str = "isolation";

/// The hidden argument that makes the binary a plugin runner.
pub const RUNNER_ARG: &str = "__plugin-runner";

/// The largest frame either side accepts: a longer length prefix is a
/// protocol violation, not an allocation.
pub const MAX_FRAME: u32 = 256 << 20;

/// Default per-call time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default address-space limit of a runner (the runner is the whole
/// `otto-hooks` binary: its own mappings need some room).
pub const DEFAULT_MEMORY: u64 = 1 << 30;

/// The least memory limit accepted: below it the runner cannot even start.
pub const MIN_MEMORY: u64 = 64 << 20;

/// Where an instance runs, with its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In the host's process (the default).
    InProcess,
    /// In a runner process of its own.
    Process(Limits),
}

/// The limits of an isolated instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Per call: the runner is killed when a call takes longer.
    pub timeout: Duration,
    /// The runner's address space (RLIMIT_AS), in bytes.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            memory: DEFAULT_MEMORY,
        }
    }
}

impl Isolation {
    /// `in-process` or `process`.
    pub fn mode(&self) -> &'static str {
        match self {
            Isolation::InProcess => "in-process",
            Isolation::Process(_) => "process",
        }
    }
}

/// Splits `settings` into the isolation it asks for and the settings the
/// plugin gets (without the `isolation` key). The error is one line naming
/// the key.
pub fn split(settings: &toml::Table) -> Result<(Isolation, toml::Table), String> {
    let mut rest = settings.clone();
    let Some(value) = rest.remove(KEY) else {
        return Ok((Isolation::InProcess, rest));
    };
    Ok((parse(&value)?, rest))
}

/// The isolation of a plugin entry of `kind`; a kind that cannot be
/// isolated yet refuses `process` instead of ignoring it.
pub fn for_kind(
    kind: PluginKind,
    settings: &toml::Table,
) -> Result<(Isolation, toml::Table), String> {
    let (isolation, rest) = split(settings)?;
    if matches!(isolation, Isolation::Process(_)) && kind != PluginKind::Retention {
        return Err(format!(
            "`isolation = \"process\"` is not supported for {kind} plugins yet (only retention); remove the key"
        ));
    }
    Ok((isolation, rest))
}

/// Whether `spec` is a retention entry run in a process of its own. Such an
/// instance is called for `decide` only: the run lifecycle hooks are not
/// delivered to it (docs/CONFIG.md says so).
pub fn is_isolated_retention(spec: &crate::config::InstanceSpec) -> bool {
    spec.kind == PluginKind::Retention
        && matches!(split(&spec.settings), Ok((Isolation::Process(_), _)))
}

fn parse(value: &toml::Value) -> Result<Isolation, String> {
    let modes = "\"in-process\" or \"process\"";
    let mode = |m: &str| match m {
        "in-process" => Ok(false),
        "process" => Ok(true),
        other => Err(format!("`{KEY}` is `{other}`; expected {modes}")),
    };
    match value {
        toml::Value::String(m) => Ok(if mode(m)? {
            Isolation::Process(Limits::default())
        } else {
            Isolation::InProcess
        }),
        toml::Value::Table(t) => {
            let mut limits = Limits::default();
            let mut process = true;
            for (key, v) in t {
                match (key.as_str(), v) {
                    ("mode", toml::Value::String(m)) => process = mode(m)?,
                    ("timeout", toml::Value::String(s)) => {
                        limits.timeout = crate::config::settings::parse_duration(s)
                            .map_err(|e| format!("`{KEY}.timeout`: {e}"))?;
                        if limits.timeout.is_zero() {
                            return Err(format!("`{KEY}.timeout` must be more than 0s"));
                        }
                    }
                    ("memory", toml::Value::String(s)) => {
                        limits.memory =
                            parse_size(s).map_err(|e| format!("`{KEY}.memory`: {e}"))?;
                        if limits.memory < MIN_MEMORY {
                            return Err(format!("`{KEY}.memory` must be at least 64MiB"));
                        }
                    }
                    ("mode" | "timeout" | "memory", _) => {
                        return Err(format!("`{KEY}.{key}` must be a string"));
                    }
                    _ => {
                        return Err(format!(
                            "unknown key `{KEY}.{key}`; expected mode, timeout, memory"
                        ));
                    }
                }
            }
            Ok(if process {
                Isolation::Process(limits)
            } else {
                Isolation::InProcess
            })
        }
        _ => Err(format!(
            "`{KEY}` must be {modes} or a table {{ mode, timeout, memory }}"
        )),
    }
}

/// Parses `512MiB`, `1GiB`, `65536KiB` or a bare number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size like 512MiB or 1GiB");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// What the host sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// First frame: what to load and create.
    Init {
        /// The library, or `None` for a built-in plugin.
        library: Option<String>,
        /// The plugin's kind.
        kind: String,
        /// The plugin's name.
        plugin: String,
        /// The instance's name.
        instance: String,
        /// Its settings, as TOML (without the `isolation` key).
        settings: String,
        /// Its data directory.
        data_dir: String,
    },
    /// Retention: decide for one group.
    Decide {
        /// The group.
        group: String,
        /// The reference time.
        now: Timestamp,
        /// The group's runs.
        runs: Vec<Run>,
    },
}

/// What the runner answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The instance was created.
    Ready,
    /// A retention decision.
    Decisions {
        /// The decisions.
        decisions: Vec<Decision>,
    },
    /// The call (or the creation) failed without killing the runner.
    Error {
        /// The error's kind, as its ABI code.
        code: u32,
        /// The message, one line.
        message: String,
    },
}

impl Reply {
    /// The reply for a failed call.
    pub fn error(kind: ErrorKind, message: String) -> Self {
        Reply::Error {
            code: kind.code().0,
            message,
        }
    }
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_frame_bytes(out, &bytes)
}

/// Writes one frame of bytes already encoded.
pub fn write_frame_bytes(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("frame too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)?;
    out.flush()
}

/// Reads one frame's bytes; `Ok(None)` at a clean end of input.
pub fn read_frame(input: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (more than {MAX_FRAME})"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("test TOML")
    }

    #[test]
    fn the_isolation_key_is_taken_out_of_the_plugin_settings() {
        let (isolation, rest) = split(&table("isolation = \"process\"\nweeks = 1")).expect("ok");
        assert_eq!(isolation, Isolation::Process(Limits::default()));
        assert_eq!(rest, table("weeks = 1"));
        let (isolation, rest) = split(&table("weeks = 1")).expect("ok");
        assert_eq!(isolation, Isolation::InProcess);
        assert_eq!(rest, table("weeks = 1"));
    }

    #[test]
    fn limits_are_read_from_the_table_form() {
        let (isolation, _) = split(&table(
            "isolation = { mode = \"process\", timeout = \"5s\", memory = \"256MiB\" }",
        ))
        .expect("ok");
        assert_eq!(
            isolation,
            Isolation::Process(Limits {
                timeout: Duration::from_secs(5),
                memory: 256 << 20
            })
        );
    }

    #[test]
    fn bad_isolation_values_are_one_line_errors_naming_the_key() {
        for (text, needle) in [
            ("isolation = \"thread\"", "`isolation` is `thread`"),
            ("isolation = 1", "`isolation` must be"),
            ("isolation = { timeout = \"soon\" }", "`isolation.timeout`"),
            ("isolation = { timeout = \"0s\" }", "more than 0s"),
            ("isolation = { memory = \"1MiB\" }", "at least 64MiB"),
            ("isolation = { memory = \"lots\" }", "`isolation.memory`"),
            (
                "isolation = { cpus = \"2\" }",
                "unknown key `isolation.cpus`",
            ),
        ] {
            let e = split(&table(text)).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn kinds_other_than_retention_refuse_process_isolation_instead_of_ignoring_it() {
        let settings = table("isolation = \"process\"");
        for kind in [
            PluginKind::Storage,
            PluginKind::Status,
            PluginKind::Reporter,
        ] {
            let e = for_kind(kind, &settings).expect_err("refused");
            assert!(e.contains("not supported for"), "{e}");
            assert!(e.contains(&kind.to_string()), "{e}");
        }
        assert!(for_kind(PluginKind::Retention, &settings).is_ok());
        // In-process is accepted (and removed) for every kind.
        let explicit = table("isolation = \"in-process\"");
        for kind in [PluginKind::Storage, PluginKind::Reporter] {
            let (isolation, rest) = for_kind(kind, &explicit).expect("ok");
            assert_eq!(isolation, Isolation::InProcess);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn a_frame_round_trips_and_an_oversized_length_is_refused_without_allocating_it() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Reply::Ready).expect("write");
        let bytes = read_frame(&mut buf.as_slice())
            .expect("read")
            .expect("a frame");
        assert!(matches!(
            serde_json::from_slice::<Reply>(&bytes).expect("json"),
            Reply::Ready
        ));
        assert!(read_frame(&mut &b""[..]).expect("eof").is_none());
        let huge = u32::MAX.to_le_bytes();
        assert!(read_frame(&mut &huge[..]).is_err());
    }
}
