//! The plugin registry: built-in plugins, discovered libraries, and the
//! instances configured for a project.
//!
//! Built-in plugins are linked into the binary but reached exactly like a
//! loaded library: through their [`PluginModule`], checked by
//! [`host::open_module`], and called through their ABI tables. A loaded
//! library first passes the [`trust`] checks, is loaded through the very
//! descriptor that was checked, and is never unloaded (thread-local
//! destructors of an unloaded library crash the process at thread exit).
//!
//! Refusals are collected, not fatal: one bad file in a plugin directory
//! never stops otto-hooks; `plugins list` shows it with its reason.

pub mod check;
pub mod elf;
pub mod isolation;
pub mod proxy;
pub mod runner;
pub mod samples;
pub mod trust;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::PluginKind;
use otto_hooks_plugin_api::abi::{ENTRY_SYMBOL, EntryFn, PluginModule};
use otto_hooks_plugin_api::host::{self, PluginHandle};
use otto_hooks_plugin_api::report::{PluginEntry, PluginList};

use crate::config::{Config, InstanceSpec};

/// The modules linked into this binary.
fn builtin_modules() -> [&'static PluginModule; 7] {
    [
        &otto_hooks_otto_fs::MODULE,
        &crate::client::plugin::MODULE,
        &otto_hooks_sqlite::MODULE,
        &otto_hooks_postgres::MODULE,
        &otto_hooks_status_default::MODULE,
        &otto_hooks_retention_standard::MODULE,
        &otto_hooks_reporters::MODULE,
    ]
}

/// Where a plugin came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Linked into this binary.
    BuiltIn,
    /// Loaded from this library.
    Library(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in"),
            Source::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin the registry accepted.
#[derive(Clone, Debug)]
pub struct Registered {
    /// Its checked declaration.
    pub handle: PluginHandle,
    /// Where it came from.
    pub source: Source,
}

/// A library (or one plugin of it) the registry refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The library.
    pub path: PathBuf,
    /// Which check failed and what to do, one line.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: refused: {}", self.path.display(), self.reason)
    }
}

/// Every plugin this process can use.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: Vec<Registered>,
    refusals: Vec<Refusal>,
}

impl Registry {
    /// The built-in plugins only.
    pub fn with_builtins() -> Self {
        let mut registry = Registry::default();
        for module in builtin_modules() {
            // SAFETY: built-in modules are statics of this binary.
            match unsafe { host::open_module(module) } {
                Ok(handles) => {
                    for handle in handles {
                        registry.register(handle, Source::BuiltIn);
                    }
                }
                // A built-in that fails its own checks is a bug of this
                // build; report it like any refusal rather than crash.
                Err(e) => registry.refusals.push(Refusal {
                    path: PathBuf::from("<built-in>"),
                    reason: e.0,
                }),
            }
        }
        registry
    }

    /// Built-ins, then every library of the configured directories and paths.
    pub fn from_config(config: &Config) -> Self {
        let dirs: Vec<PathBuf> = config.plugin_dirs.iter().map(|d| d.value.clone()).collect();
        let paths: Vec<PathBuf> = config
            .plugin_paths
            .iter()
            .map(|p| p.value.clone())
            .collect();
        Self::discover(&dirs, &paths)
    }

    /// Built-ins, then every library in `dirs` (files ending in `.so`, in
    /// name order), then `paths`.
    pub fn discover(dirs: &[PathBuf], paths: &[PathBuf]) -> Self {
        let mut registry = Self::with_builtins();
        for dir in dirs {
            for path in registry.list_dir(dir) {
                registry.add_library(&path);
            }
        }
        for path in paths {
            registry.add_library(path);
        }
        registry
    }

    fn list_dir(&mut self, dir: &Path) -> Vec<PathBuf> {
        if let Err(reason) = trust::check_dir(dir) {
            self.refusals.push(Refusal {
                path: dir.to_path_buf(),
                reason,
            });
            return Vec::new();
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.refusals.push(Refusal {
                    path: dir.to_path_buf(),
                    reason: format!("cannot list it: {e}"),
                });
                return Vec::new();
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
            })
            .collect();
        paths.sort();
        paths
    }

    /// Checks and loads one library; its plugins join the registry.
    /// Returns how many plugins it added (refusals are recorded).
    pub fn add_library(&mut self, path: &Path) -> usize {
        match load_library(path) {
            Ok(handles) => {
                let before = self.plugins.len();
                for handle in handles {
                    self.register(handle, Source::Library(path.to_path_buf()));
                }
                self.plugins.len() - before
            }
            Err(reason) => {
                self.refusals.push(Refusal {
                    path: path.to_path_buf(),
                    reason,
                });
                0
            }
        }
    }

    fn register(&mut self, handle: PluginHandle, source: Source) {
        if let Some(existing) = self.find(handle.kind(), handle.name()) {
            let path = match &source {
                Source::Library(p) => p.clone(),
                Source::BuiltIn => PathBuf::from("<built-in>"),
            };
            let reason = format!(
                "its {} plugin `{}` is already provided by {}; rename one of them",
                handle.kind(),
                handle.name(),
                existing.source
            );
            self.refusals.push(Refusal { path, reason });
            return;
        }
        self.plugins.push(Registered { handle, source });
    }

    /// Every accepted plugin, built-ins first.
    pub fn plugins(&self) -> &[Registered] {
        &self.plugins
    }

    /// Every refusal, in discovery order.
    pub fn refusals(&self) -> &[Refusal] {
        &self.refusals
    }

    /// The plugin of `kind` named `name`.
    pub fn find(&self, kind: PluginKind, name: &str) -> Option<&Registered> {
        self.plugins
            .iter()
            .find(|p| p.handle.kind() == kind && p.handle.name() == name)
    }

    /// The name of a plugin of `kind` close enough to `name` to be the one
    /// meant (`standrd` → `standard`).
    fn closest(&self, kind: PluginKind, name: &str) -> Option<&str> {
        self.plugins
            .iter()
            .filter(|p| p.handle.kind() == kind)
            .map(|p| {
                (
                    crate::run_ref::edit_distance(name, p.handle.name()),
                    p.handle.name(),
                )
            })
            .filter(|(d, _)| *d <= (name.chars().count() / 3).max(2))
            .min()
            .map(|(_, n)| n)
    }

    /// The one-line error for a plugin name no plugin of `kind` answers
    /// to, chosen at `origin`: the name meant when one is close, the
    /// plugins of that kind, and how many plugin files were refused.
    pub fn not_found(&self, kind: PluginKind, name: &str, origin: &str) -> String {
        let available: Vec<&str> = self
            .plugins
            .iter()
            .filter(|p| p.handle.kind() == kind)
            .map(|p| p.handle.name())
            .collect();
        let available = if available.is_empty() {
            "none".to_owned()
        } else {
            available.join(", ")
        };
        let refused = if self.refusals.is_empty() {
            String::new()
        } else {
            format!("; {} plugin file(s) were refused", self.refusals.len())
        };
        let meant = self
            .closest(kind, name)
            .map(|m| format!("did you mean `{m}`? "))
            .unwrap_or_default();
        format!(
            "no {kind} plugin named `{name}` (chosen at {origin}); {meant}available: {available}{refused} — see `otto-hooks plugins list`"
        )
    }

    /// Creates the instance `spec` describes, in this process or in a
    /// runner of its own as its `isolation` key says (the key is the host's:
    /// it is taken out of the settings). The error is one line naming the
    /// instance, where it was chosen, and what to do.
    pub fn instantiate(
        &self,
        spec: &InstanceSpec,
        data_dir: &Path,
    ) -> Result<proxy::PluginInstance, String> {
        let Some(plugin) = self.find(spec.kind, &spec.plugin) else {
            return Err(self.not_found(spec.kind, &spec.plugin, &spec.origin));
        };
        let at = |e: String| format!("{} (chosen at {}): {e}", spec.instance, spec.origin);
        let (isolation, settings) = isolation::for_kind(spec.kind, &spec.settings).map_err(at)?;
        match isolation {
            isolation::Isolation::InProcess => plugin
                .handle
                .instantiate(&spec.instance, &settings, &data_dir.to_string_lossy())
                .map(proxy::PluginInstance::InProcess)
                .map_err(|e| at(e.message)),
            isolation::Isolation::Process(limits) => {
                start_isolated(plugin, &spec.instance, &settings, data_dir, limits)
                    .map(proxy::PluginInstance::Process)
                    .map_err(at)
            }
        }
    }

    /// Creates the retention instance `spec` describes
    /// ([`Registry::instantiate`], which serves every kind now).
    pub fn retention(
        &self,
        spec: &InstanceSpec,
        data_dir: &Path,
    ) -> Result<proxy::PluginInstance, String> {
        self.instantiate(spec, data_dir)
    }

    /// Checks that the instance `spec` describes can be created, the way
    /// the commands that use it would create it (an isolated entry in its
    /// own runner). The error is [`Registry::instantiate`]'s.
    pub fn check_instance(&self, spec: &InstanceSpec, data_dir: &Path) -> Result<(), String> {
        self.instantiate(spec, data_dir).map(drop)
    }

    /// The `plugins list` document: accepted plugins, then refusals.
    pub fn plugin_list(&self) -> PluginList {
        let mut list: PluginList = self
            .plugins
            .iter()
            .map(|p| PluginEntry {
                name: p.handle.name().to_owned(),
                kind: p.handle.kind(),
                version: p.handle.version().to_owned(),
                abi: p.handle.abi().to_string(),
                source: p.source.to_string(),
                state: "ok".to_owned(),
                description: p.handle.description().to_owned(),
                offers: p.handle.offers().into_iter().map(str::to_owned).collect(),
            })
            .collect();
        list.extend(self.refusals.iter().map(|r| {
            PluginEntry {
                name: r
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                kind: PluginKind::Unknown,
                version: "-".to_owned(),
                abi: "-".to_owned(),
                source: r.path.display().to_string(),
                state: format!("refused: {}", r.reason),
                description: String::new(),
                offers: Vec::new(),
            }
        }));
        list
    }
}

/// Runs the trust checks on `path`, loads it through the checked
/// descriptor, and checks its module. The error is one line, without the
/// path (callers prefix it).
pub fn load_library(path: &Path) -> Result<Vec<PluginHandle>, String> {
    let trusted = trust::check(path)?;
    // A library cut short would be mapped past its end by the loader and
    // kill the process with SIGBUS at first touch: check it whole first.
    elf::check(&trusted.file, ENTRY_SYMBOL)?;
    let fd_path = format!("/proc/self/fd/{}", trusted.file.as_raw_fd());
    if !Path::new(&fd_path).exists() {
        return Err("cannot load through /proc/self/fd (is /proc mounted?)".into());
    }
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading runs the library's initialisers. The trust checks
    // above are what make that acceptable: the file is the user's own and
    // nobody else can have changed it.
    let library = unsafe { Library::open(Some(&fd_path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        let detail = one_line(&e.to_string()).replace(&fd_path, "file");
        format!(
            "cannot load it as a shared library ({detail}); is it a plugin built for this platform?"
        )
    })?;
    // Never unloaded, whatever happens next.
    let library: &'static Library = Box::leak(Box::new(library));
    // The dynamic loader now knows this library by the name
    // `/proc/self/fd/N` and hands the same library back for any later
    // dlopen of that name. Keep the descriptor open for good, so that N is
    // never reused for another file: otherwise the next library opened on N
    // would come back as this one.
    let _ = std::os::fd::IntoRawFd::into_raw_fd(trusted.file);
    // SAFETY: the symbol, if present, has the entry point's signature by
    // the ABI contract; a library that lies about it is refused below when
    // its module fails the magic check.
    let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }.map_err(|_| {
        "it has no `otto_hooks_plugin_entry` symbol, so it is not an otto-hooks plugin \
         (export one with `otto_hooks_plugin_api::export_plugins!`)"
            .to_owned()
    })?;
    // SAFETY: calling the entry point is the documented first step; the
    // module it returns lives as long as the (never unloaded) library.
    let module = unsafe { entry() };
    // SAFETY: as above.
    unsafe { host::open_module(module) }.map_err(|e| e.0)
}

/// Starts a runner for an instance of `plugin` and creates the instance in
/// it. The error is one line (callers say which entry).
pub fn start_isolated(
    plugin: &Registered,
    instance: &str,
    settings: &toml::Table,
    data_dir: &Path,
    limits: isolation::Limits,
) -> Result<proxy::ProcessInstance, String> {
    let program = proxy::runner_program()?;
    let settings =
        toml::to_string(settings).map_err(|e| format!("settings cannot be passed on: {e}"))?;
    let library = match &plugin.source {
        Source::BuiltIn => None,
        Source::Library(path) => Some(path.to_string_lossy().into_owned()),
    };
    proxy::ProcessInstance::start(proxy::Launch {
        program: &program,
        handle: plugin.handle.clone(),
        library,
        instance: instance.to_owned(),
        settings,
        data_dir: data_dir.to_string_lossy().into_owned(),
        limits,
    })
    .map_err(|e| e.message)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
