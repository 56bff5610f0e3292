//! # Support for otto-hooks' cross-crate integration tests
//!
//! The tests in `tests/tests/*.rs` load the plugin libraries the workspace
//! builds (`cdylib`s). Two things make that fiddly, and this crate handles
//! both:
//!
//! - **Finding them.** `cargo test` does not build a workspace's cdylibs,
//!   and they live in the target directory of the running profile
//!   (`debug`, `release`, …), which `CARGO_TARGET_DIR` may move. [`library`]
//!   looks next to the running test binary first (`<target>/<profile>/deps/`
//!   → `<target>/<profile>/`), then under `$CARGO_TARGET_DIR` and the
//!   workspace's `target/`, and panics with the command to run when the file
//!   is not there: `cargo build --workspace` (with `--release` for
//!   `cargo test --release`).
//! - **Trusting them.** The registry refuses libraries that others could
//!   have changed: group/world-writable files or directories anywhere above
//!   them. A target directory may well sit under such a path, so tests never
//!   load a library where cargo put it: [`PrivateDir`] is a fresh directory
//!   of mode 0700 that receives copies of mode 0644.
//!
//! Helpers here panic with a message that says what went wrong: they are for
//! tests only.

pub mod bench;
pub mod bounded;
pub mod choo_stream;
pub mod hook_cli;
pub use otto_hooks_fixture::otto_home;
pub mod otto_world;
pub mod pty;
use std::ffi::OsStr;
use std::fmt::Display;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use otto_hooks_core::config::InstanceSpec;
use otto_hooks_core::registry::{load_library, trust};
use otto_hooks_plugin_api::host::{Instance, PluginHandle};
use otto_hooks_plugin_api::{Event, PluginKind, Timestamp};

/// The good plugin libraries the workspace builds: every one of them must
/// pass the conformance suite. Crate names, as in their `Cargo.toml`.
pub const GOOD_LIBRARIES: &[&str] = &[
    "otto-hooks-builtin",
    "weekday-retention",
    "fixture-recorder",
    "fixture-abi-1-0",
];

/// Every cdylib fixture the tests need built.
pub const FIXTURE_LIBRARIES: &[&str] = &[
    "fixture-panicky",
    "fixture-abi-major-2",
    "fixture-abi-1-0",
    "fixture-no-entry",
    "fixture-recorder",
    "fixture-unruly",
];

/// Unwraps `result` or panics with `what` and the error.
fn or_panic<T, E: Display>(result: Result<T, E>, what: impl FnOnce() -> String) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", what()),
    }
}

/// The file name of crate `crate_name`'s cdylib on this platform
/// (`libweekday_retention.so` for `weekday-retention`).
pub fn library_file_name(crate_name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// The `otto-hooks` binary `cargo build --workspace` put next to the
/// plugin libraries of the running profile.
pub fn otto_hooks_binary() -> PathBuf {
    profile_dirs()
        .into_iter()
        .map(|d| d.join("otto-hooks"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("the otto-hooks binary is missing: run `cargo build --workspace` first")
        })
}

/// The directories a workspace cdylib of the running profile may be in,
/// most likely first (see the crate docs).
pub fn profile_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut profile = OsStr::new("debug").to_owned();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/[<triple>/]<profile>/deps/<test binary>
        if let Some(deps) = exe.parent() {
            let profile_dir = if deps.file_name() == Some(OsStr::new("deps")) {
                deps.parent()
            } else {
                Some(deps)
            };
            if let Some(dir) = profile_dir {
                if let Some(name) = dir.file_name() {
                    profile = name.to_owned();
                }
                dirs.push(dir.to_path_buf());
            }
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(target).join(&profile));
    }
    // This crate is `<workspace>/tests`.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")));
    dirs.push(workspace.join("target").join(&profile));
    dirs.dedup();
    dirs
}

/// The built cdylib of workspace crate `crate_name`.
///
/// # Panics
/// When it is not built, with the command that builds it.
pub fn library(crate_name: &str) -> PathBuf {
    let file = library_file_name(crate_name);
    let dirs = profile_dirs();
    if let Some(found) = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) {
        return found;
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let release = dirs
        .first()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    panic!(
        "{file} (the cdylib of `{crate_name}`) is not built: looked in {}. `cargo test` does not build \
         a workspace's cdylibs; run `cargo build --workspace{}` first, then the tests again",
        looked.join(", "),
        if release { " --release" } else { "" }
    );
}

/// A fresh temporary directory of mode 0700 that passes the registry's
/// directory trust checks. Removed when dropped.
#[derive(Debug)]
pub struct PrivateDir {
    dir: tempfile::TempDir,
}

impl Default for PrivateDir {
    fn default() -> Self {
        Self::new()
    }
}

impl PrivateDir {
    /// Creates one under the system temporary directory.
    ///
    /// # Panics
    /// When it cannot, or when the temporary directory is not trusted (for
    /// example a world-writable directory without the sticky bit): set
    /// `TMPDIR` to a directory only you can write.
    pub fn new() -> Self {
        let dir = or_panic(
            tempfile::Builder::new()
                .prefix("otto-hooks-tests-")
                .tempdir(),
            || "cannot create a temporary directory".to_owned(),
        );
        set_mode(dir.path(), 0o700);
        if let Err(reason) = trust::check_dir(dir.path()) {
            panic!(
                "the temporary directory {} would not be trusted by the plugin registry ({reason}); \
                 set TMPDIR to a directory that only you can write",
                dir.path().display()
            );
        }
        PrivateDir { dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `source` into it as `name`, with mode 0644.
    pub fn copy_file(&self, source: &Path, name: &str) -> PathBuf {
        let dest = self.path().join(name);
        or_panic(std::fs::copy(source, &dest), || {
            format!("cannot copy {} to {}", source.display(), dest.display())
        });
        set_mode(&dest, 0o644);
        dest
    }

    /// Copies the built cdylib of `crate_name` into it, under its usual name.
    pub fn copy_library(&self, crate_name: &str) -> PathBuf {
        self.copy_library_as(crate_name, &library_file_name(crate_name))
    }

    /// Copies the built cdylib of `crate_name` into it as `name`.
    pub fn copy_library_as(&self, crate_name: &str, name: &str) -> PathBuf {
        self.copy_file(&library(crate_name), name)
    }

    /// Creates a subdirectory with `mode`.
    pub fn subdir(&self, name: &str, mode: u32) -> PathBuf {
        let dir = self.path().join(name);
        or_panic(std::fs::create_dir(&dir), || {
            format!("cannot create {}", dir.display())
        });
        set_mode(&dir, mode);
        dir
    }

    /// Writes a text file with mode 0644.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        or_panic(std::fs::write(&path, text), || {
            format!("cannot write {}", path.display())
        });
        set_mode(&path, 0o644);
        path
    }
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    or_panic(
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)),
        || format!("cannot chmod {mode:o} {}", path.display()),
    );
}

/// A private copy of a workspace cdylib, kept alive with its directory.
#[derive(Debug)]
pub struct PrivateLibrary {
    /// The directory holding the copy.
    pub dir: PrivateDir,
    /// The copy.
    pub path: PathBuf,
}

impl PrivateLibrary {
    /// Copies the built cdylib of `crate_name` into a fresh private directory.
    pub fn of(crate_name: &str) -> Self {
        let dir = PrivateDir::new();
        let path = dir.copy_library(crate_name);
        PrivateLibrary { dir, path }
    }

    /// Loads it through the registry (trust checks included).
    ///
    /// # Panics
    /// When the registry refuses it.
    pub fn load(&self) -> Vec<PluginHandle> {
        or_panic(load_library(&self.path), || {
            format!("{} was refused", self.path.display())
        })
    }

    /// Loads it and returns its plugin named `name`.
    pub fn plugin(&self, name: &str) -> PluginHandle {
        let handles = self.load();
        let names: Vec<String> = handles.iter().map(|h| h.name().to_owned()).collect();
        match handles.into_iter().find(|h| h.name() == name) {
            Some(h) => h,
            None => panic!(
                "{} has no plugin `{name}`; it declares {names:?}",
                self.path.display()
            ),
        }
    }
}

/// Parses TOML settings.
pub fn settings(text: &str) -> toml::Table {
    or_panic(text.parse::<toml::Table>(), || {
        format!("bad TOML settings in a test: {text}")
    })
}

/// Creates an instance of `handle` with `settings`, storing state in `data_dir`.
pub fn instantiate(handle: &PluginHandle, settings: &toml::Table, data_dir: &Path) -> Instance {
    let name = format!("{}.{}", handle.kind(), handle.name());
    or_panic(
        handle.instantiate(&name, settings, &data_dir.to_string_lossy()),
        || format!("cannot create an instance of {name}"),
    )
}

/// An [`InstanceSpec`] as the configuration would produce it.
pub fn spec(kind: PluginKind, plugin: &str, instance: &str, settings: toml::Table) -> InstanceSpec {
    InstanceSpec {
        kind,
        plugin: plugin.to_owned(),
        instance: instance.to_owned(),
        settings,
        origin: "test".to_owned(),
    }
}

/// The settings the conformance suite creates the plugins of `crate_name`
/// with: empty, except for those that require some (the recorder's `log`,
/// placed in `dir`).
pub fn conformance_settings(crate_name: &str, dir: &Path) -> toml::Table {
    let mut table = toml::Table::new();
    if crate_name == "fixture-recorder" {
        table.insert(
            "log".into(),
            toml::Value::String(dir.join("recorder.jsonl").to_string_lossy().into_owned()),
        );
    }
    table
}

/// An event of type `kind` with an optional payload, at `secs`.
pub fn event<'a>(kind: &'a str, payload: Option<&'a str>, secs: i64) -> Event<'a> {
    Event {
        time: Timestamp::from_secs(secs),
        kind,
        unit: None,
        task: None,
        pr: None,
        payload,
        error: None,
    }
}
