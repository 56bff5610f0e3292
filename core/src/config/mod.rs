//! Layered TOML configuration and per-project plugin selection.
//!
//! Layers, lowest first: built-in defaults ([`DEFAULTS`]), the global file
//! (`$OTTO_HOOKS_CONFIG`, else `<hooks_home>/config.toml`), the project file
//! (the nearest `.otto-hooks.toml` from the working directory up), the
//! environment (`OTTO_HOOKS_*`), and command-line overrides. Every value keeps
//! the place it was set ([`Sourced`]), so `otto-hooks config show` can say
//! where each effective value came from ([`Config::report`]).
//!
//! A kind section (`storage`, `status`, `retention`, `reporter`) follows one
//! merge rule across layers and `[projects."glob"]` sections: a section that
//! names the same plugin as the one below it, or names none, merges its
//! settings key by key; a section that names another plugin, or an array of
//! sections, replaces the lower one (the lower settings belong to another
//! plugin). Plugin settings are not checked here: each plugin validates its
//! own. Everything else is: an unknown key, a wrong type, a relative plugin
//! path or an invalid glob is an error of one line naming the file, line and
//! column. The user documentation is `docs/CONFIG.md`.
//!
//! A project file may not contain `[plugins]`: a checked-out repository must
//! not be able to make otto-hooks load code.

mod choo_yaml;
mod env;
mod layer;
mod merge;
mod otto_yaml;
mod overrides;
mod plugin_defaults;
mod provenance;
mod report;
pub mod settings;
#[cfg(test)]
mod tests;
mod trust;
pub mod unknown;
mod yaml_source;

use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::PluginKind;
use otto_hooks_plugin_api::report::{ConfigReport, ConfigValue};

use layer::{Layer, Role, SectionPatch, expand_home, key_segment, parse_layer};
use merge::{Resolved, instance_names, settings_table};
use provenance::Origin;

pub use choo_yaml::{CHOO_GLOBAL_FILE, CHOO_PROJECT_FILE};
pub use env::{ENV_PREFIX, KNOWN_ENV};
pub use otto_yaml::OTTO_CONFIG_FILE;
pub use overrides::Override;
pub use provenance::{ConfigError, Sourced};

/// The built-in defaults, the lowest layer, read with the same rules as a
/// config file (their values' source is `default`).
pub const DEFAULTS: &str = r#"
[hooks]
strict = false

[storage]
plugin = "otto-fs"

[status]
plugin = "default"

[retention]
plugin = "standard"

[reporter]
plugin = "table"
"#;

/// The name of a project's config file.
pub const PROJECT_FILE: &str = ".otto-hooks.toml";

/// The name of the global config file in `$OTTO_HOOKS_HOME`.
pub const GLOBAL_FILE: &str = "config.toml";

/// The plugin kinds that have sections, in the order they are reported.
const KINDS: [PluginKind; 4] = [
    PluginKind::Storage,
    PluginKind::Status,
    PluginKind::Retention,
    PluginKind::Reporter,
];

fn kind_index(name: &str) -> Option<usize> {
    KINDS.iter().position(|k| k.as_str() == name)
}

/// What [`load`] reads.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `$OTTO_HOOKS_HOME`: the global file is `<hooks_home>/config.toml`
    /// unless `OTTO_HOOKS_CONFIG` names another.
    pub hooks_home: PathBuf,
    /// Where the walk up for `.otto-hooks.toml` starts.
    pub cwd: PathBuf,
    /// The `OTTO_HOOKS_*` variables (other variables are ignored, except
    /// `HOME`, which when present is used to expand `~/` and to find
    /// `~/.config/choo/config.yaml`, without it the process's home
    /// directory is used; and `OTTO_HOME`, where otto's `config.yml` is,
    /// `~/.otto` without it).
    pub env: Vec<(String, String)>,
    /// Command-line overrides, applied last, in order.
    pub overrides: Vec<Override>,
}

impl LoadOptions {
    /// Options for this process: its working directory and its `OTTO_HOOKS_*`
    /// variables. Fails only when the working directory can't be read.
    pub fn from_process(hooks_home: PathBuf, overrides: Vec<Override>) -> std::io::Result<Self> {
        let cwd = std::env::current_dir()?;
        // A value that is not UTF-8 is kept (lossily) so that `load` reports
        // it with the variable's name, like any other bad value.
        let env = std::env::vars_os()
            .filter_map(|(key, value)| {
                // `OTTO_HOME` too: otto's config.yml is in it.
                let key = key
                    .into_string()
                    .ok()
                    .filter(|k| k.starts_with(ENV_PREFIX) || k == "OTTO_HOME")?;
                Some((key, value.to_string_lossy().into_owned()))
            })
            .collect();
        Ok(LoadOptions {
            hooks_home,
            cwd,
            env,
            overrides,
        })
    }
}

/// The nearest `.otto-hooks.toml` from `cwd` up to `/`.
pub fn find_project_file(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|dir| dir.join(PROJECT_FILE))
        .find(|path| path.is_file())
}

/// Reads every layer and checks it. Nothing is read from the process
/// environment: `opts` carries it.
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
    let home = opts
        .env
        .iter()
        .rev()
        .find(|(k, v)| k == "HOME" && !v.is_empty())
        .map_or_else(crate::paths::home_dir, |(_, v)| PathBuf::from(v));
    let env = env::parse_env(&opts.env, &home)?;

    let mut layers = vec![parse_layer(
        DEFAULTS,
        Origin::Defaults,
        Role::Defaults,
        &home,
    )?];
    let mut files = Vec::new();
    let mut not_used = Vec::new();

    // otto's config.yml, then choo's global file: below otto-hooks' own.
    let otto_home = opts
        .env
        .iter()
        .rev()
        .find(|(k, v)| k == "OTTO_HOME" && !v.is_empty())
        .map_or_else(|| home.join(".otto"), |(_, v)| expand_home(v, &home));
    let otto_file = otto_home.join(OTTO_CONFIG_FILE);
    let otto_layer = match read_text(&otto_file)? {
        Some(text) => {
            let layer = otto_yaml::parse(&otto_file, &text)?;
            files.push(otto_file);
            Some(layer)
        }
        None => None,
    };
    let otto_defaults = otto_yaml::default_rows(otto_layer.as_ref());
    layers.extend(otto_layer);
    let choo_global = home.join(CHOO_GLOBAL_FILE);
    if let Some(text) = read_text(&choo_global)? {
        let choo = choo_yaml::parse(&choo_global, &text)?;
        layers.push(choo.layer);
        not_used.extend(choo.not_used);
        files.push(choo_global);
    }

    let global = match &env.config {
        Some(value) => {
            let path = opts.cwd.join(expand_home(value, &home));
            if !path.exists() {
                return Err(ConfigError::new(format!(
                    "OTTO_HOOKS_CONFIG={value:?}: {} does not exist",
                    path.display()
                )));
            }
            Some(path)
        }
        // A missing global file is fine; an unreadable one is reported when read.
        None => {
            Some(opts.hooks_home.join(GLOBAL_FILE)).filter(|p| !matches!(p.try_exists(), Ok(false)))
        }
    };
    if let Some(path) = &global {
        layers.push(read_file(path, Role::Global, &home)?);
        files.push(path.clone());
    }
    let mut warnings = Vec::new();
    // A repository's .choo.yaml: trusted like .otto-hooks.toml, and below it.
    if let Some(path) = choo_yaml::find_project_file(&opts.cwd) {
        match trust::untrusted_reason(&path, &opts.cwd, &home) {
            Some(reason) => warnings.push(format!(
                "ignoring {}: {reason} (a project file is read only when it and its \
                 directories up to your home or the repository root are yours or root's \
                 and not writable by others)",
                path.display()
            )),
            None => {
                if let Some(text) = read_text(&path)? {
                    let choo = choo_yaml::parse(&path, &text)?;
                    layers.push(choo.layer);
                    not_used.extend(choo.not_used);
                    files.push(path);
                }
            }
        }
    }
    let mut project = None;
    if let Some(path) = find_project_file(&opts.cwd) {
        if global.as_ref() != Some(&path) {
            match trust::untrusted_reason(&path, &opts.cwd, &home) {
                Some(reason) => warnings.push(format!(
                    "ignoring {}: {reason} (a project file is read only when it and its \
                     directories up to your home or the repository root are yours or root's \
                     and not writable by others)",
                    path.display()
                )),
                None => {
                    project = path.parent().map(|dir| (layers.len(), dir.to_path_buf()));
                    layers.push(read_file(&path, Role::Project, &home)?);
                    files.push(path);
                }
            }
        }
    }
    layers.push(env.layer);
    layers.push(overrides::override_layer(&opts.overrides, &home)?);
    if let Some((index, dir)) = project {
        // `security.project_paths` is global-only: the project layer can't
        // allow itself.
        let anywhere = layers
            .iter()
            .rev()
            .find_map(|l| {
                l.settings
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == "security.project_paths")
            })
            .is_some_and(|(_, v)| v.value.as_str() == Some("anywhere"));
        if !anywhere {
            trust::check_project_paths(&layers[index], &dir, &home)?;
        }
    }
    let mut config = Config::resolve(files, layers)?;
    config.warnings = warnings;
    config.foreign = not_used;
    config.foreign.extend(otto_defaults);
    Ok(config)
}

/// The text of another tool's config file at `path`, `None` when there is
/// none (a file that exists but cannot be read is an error).
fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    match path.try_exists() {
        Ok(false) => return Ok(None),
        // `$OTTO_HOME` a regular file: not a config's business (the
        // commands that read otto's runs say so in their own words).
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        _ => {}
    }
    let bytes = crate::own_files::read_regular(path, MAX_CONFIG_BYTES).map_err(ConfigError::new)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| ConfigError::new(format!("{}: not UTF-8: {e}", path.display())))
}

/// A config file larger than this is refused (it is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

fn read_file(path: &Path, role: Role, home: &Path) -> Result<Layer, ConfigError> {
    let bytes = crate::own_files::read_regular(path, MAX_CONFIG_BYTES).map_err(ConfigError::new)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| ConfigError::new(format!("{}: not UTF-8: {e}", path.display())))?;
    tracing::debug!(path = %path.display(), "reading config");
    parse_layer(&text, Origin::File { path, text: &text }, role, home)
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The files layered, lowest first.
    pub files: Vec<PathBuf>,
    /// Directories scanned for plugin libraries.
    pub plugin_dirs: Vec<Sourced<PathBuf>>,
    /// Explicit plugin libraries.
    pub plugin_paths: Vec<Sourced<PathBuf>>,
    /// Whether a failing plugin makes `otto-hooks hook …` exit non-zero.
    pub strict: Sourced<bool>,
    /// What the caller should warn about, one line each (a project file
    /// ignored because somebody else could have written it).
    pub warnings: Vec<String>,
    /// Rows `config show` adds after the effective values: choo's own keys
    /// found in choo's files (not used), and otto's defaults that otto's
    /// config.yml leaves unset.
    foreign: Vec<ConfigValue>,
    /// otto-hooks' own settings, by dotted key, each with its source.
    settings: std::collections::BTreeMap<&'static str, Sourced<toml::Value>>,
    plugin_dirs_source: String,
    plugin_paths_source: String,
    layers: Vec<Layer>,
    defaults: [Resolved; 4],
}

impl Config {
    fn resolve(files: Vec<PathBuf>, layers: Vec<Layer>) -> Result<Config, ConfigError> {
        check_plugins_chosen(&layers)?;
        let strict = layers
            .iter()
            .rev()
            .find_map(|l| l.strict.clone())
            .unwrap_or_else(|| Sourced::new(false, "default"));
        let dirs = layers.iter().rev().find_map(|l| l.plugin_dirs.clone());
        let paths = layers.iter().rev().find_map(|l| l.plugin_paths.clone());
        let (plugin_dirs_source, plugin_dirs) = dirs.map_or_else(
            || ("default".to_owned(), Vec::new()),
            |d| (d.source, d.paths),
        );
        let (plugin_paths_source, plugin_paths) = paths.map_or_else(
            || ("default".to_owned(), Vec::new()),
            |p| (p.source, p.paths),
        );
        let defaults = replay(&layers, None);
        let mut own = std::collections::BTreeMap::new();
        for def in settings::SETTINGS {
            let set = layers
                .iter()
                .rev()
                .find_map(|l| l.settings.iter().rev().find(|(k, _)| *k == def.key))
                .map(|(_, v)| v.clone());
            let value = set.or_else(|| {
                let text = def.default?;
                let mut t = toml::from_str::<toml::Table>(&format!("v = {text}")).ok()?;
                Some(Sourced::new(t.remove("v")?, "default"))
            });
            if let Some(value) = value {
                own.insert(def.key, value);
            }
        }
        Ok(Config {
            files,
            plugin_dirs,
            plugin_paths,
            strict,
            warnings: Vec::new(),
            foreign: Vec::new(),
            settings: own,
            plugin_dirs_source,
            plugin_paths_source,
            layers,
            defaults,
        })
    }

    /// The plugins chosen for a project, defaults plus every matching
    /// `[projects."glob"]` section (matched against the project's name and
    /// against its key).
    pub fn selection(&self, project_name: &str, project_key: &str) -> Selection {
        selection_of(&replay(&self.layers, Some((project_name, project_key))))
    }

    /// The value of one of otto-hooks' own settings ([`settings::SETTINGS`]),
    /// with its source; `None` for a key without a default that is not set.
    pub fn setting(&self, key: &str) -> Option<&Sourced<toml::Value>> {
        self.settings.get(key)
    }

    /// An integer setting (its default when unset).
    pub fn setting_int(&self, key: &str) -> i64 {
        self.setting(key)
            .and_then(|v| v.value.as_integer())
            .unwrap_or_default()
    }

    /// A boolean setting (its default when unset).
    pub fn setting_bool(&self, key: &str) -> bool {
        self.setting(key)
            .and_then(|v| v.value.as_bool())
            .unwrap_or_default()
    }

    /// A duration setting (its default when unset).
    pub fn setting_duration(&self, key: &str) -> std::time::Duration {
        self.setting(key)
            .and_then(|v| v.value.as_str())
            .and_then(|s| settings::parse_duration(s).ok())
            .unwrap_or_default()
    }

    /// A text (or path) setting, when set.
    pub fn setting_str(&self, key: &str) -> Option<&str> {
        self.setting(key).and_then(|v| v.value.as_str())
    }

    /// The days the SQLite history keeps finished runs: the `retention_days`
    /// of a configured `sqlite` storage section when it sets one (the more
    /// specific key), else choo's `history.retention_days` (default 90).
    pub fn history_retention_days(&self) -> Sourced<i64> {
        let from_storage = self
            .default_selection()
            .storage
            .into_iter()
            .filter(|s| s.plugin == "sqlite")
            .find_map(|s| {
                let days = s.settings.get("retention_days")?.as_integer()?;
                Some(Sourced::new(days, format!("{}.retention_days", s.instance)))
            });
        from_storage.unwrap_or_else(|| {
            let set = self.setting("history.retention_days");
            Sourced::new(
                set.and_then(|v| v.value.as_integer()).unwrap_or(90),
                set.map_or_else(|| "default".to_owned(), |v| v.source.clone()),
            )
        })
    }

    /// Every plugin a `[projects."glob"]` section names, with its kind and
    /// where it was named: `config show` checks them all, not only those
    /// of the projects it happens to see.
    pub fn project_section_plugins(&self) -> Vec<(PluginKind, Sourced<String>)> {
        let mut named = Vec::new();
        for section in self.layers.iter().flat_map(|l| &l.projects) {
            for (kind, patch) in KINDS.iter().zip(&section.sections) {
                let items = match patch {
                    Some(SectionPatch::One(item)) => std::slice::from_ref(item),
                    Some(SectionPatch::Many { items, .. }) => items.as_slice(),
                    None => &[],
                };
                named.extend(
                    items
                        .iter()
                        .filter_map(|i| Some((*kind, i.plugin.clone()?))),
                );
            }
        }
        named
    }

    /// The default selection (no project).
    pub fn default_selection(&self) -> Selection {
        selection_of(&self.defaults)
    }

    /// Every effective value with its source, for `otto-hooks config show`:
    /// the files, then `plugins.dirs`, `plugins.paths`, `hooks.strict`, each
    /// kind's effective default section (`retention.plugin`,
    /// `retention.keep_days`, `storage[1].plugin` when there are several),
    /// then every `[projects."glob"]` section as written
    /// (`projects."web-*".retention.keep_days`), values rendered as TOML.
    pub fn report(&self) -> ConfigReport {
        let mut values = Vec::new();
        let paths = |list: &[Sourced<PathBuf>]| {
            let items: Vec<toml::Value> = list
                .iter()
                .map(|p| toml::Value::String(p.value.to_string_lossy().into_owned()))
                .collect();
            report::render_value(&toml::Value::Array(items))
        };
        values.push(ConfigValue {
            key: "plugins.dirs".to_owned(),
            value: paths(&self.plugin_dirs),
            source: self.plugin_dirs_source.clone(),
        });
        values.push(ConfigValue {
            key: "plugins.paths".to_owned(),
            value: paths(&self.plugin_paths),
            source: self.plugin_paths_source.clone(),
        });
        values.push(ConfigValue {
            key: "hooks.strict".to_owned(),
            value: self.strict.value.to_string(),
            source: self.strict.source.clone(),
        });
        for (key, value) in &self.settings {
            if *key != "hooks.strict" {
                values.push(ConfigValue {
                    key: (*key).to_owned(),
                    value: report::render_value(&value.value),
                    source: value.source.clone(),
                });
            }
        }
        for (kind, resolved) in KINDS.iter().zip(&self.defaults) {
            report::resolved_values(kind.as_str(), resolved, &mut values);
            let one = resolved.instances.len() == 1;
            for (i, instance) in resolved.instances.iter().enumerate() {
                let set = |key: &str| {
                    instance.settings.iter().find_map(|(k, s)| match s {
                        layer::Setting::Value(v) if k == key => Some(v.value.clone()),
                        _ => None,
                    })
                };
                let plugin = &instance.plugin.value;
                for (key, value, note) in plugin_defaults::defaults(*kind, plugin, &set) {
                    if instance.settings.iter().any(|(k, _)| k == key) {
                        continue;
                    }
                    let prefix = if one {
                        kind.to_string()
                    } else {
                        format!("{kind}[{i}]")
                    };
                    values.push(ConfigValue {
                        key: format!("{prefix}.{key}"),
                        value: report::render_value(&value),
                        source: match note {
                            Some(note) => format!("default (plugin {plugin}; {note})"),
                            None => format!("default (plugin {plugin})"),
                        },
                    });
                }
            }
        }
        for section in self.layers.iter().flat_map(|l| &l.projects) {
            for (kind, patch) in KINDS.iter().zip(&section.sections) {
                if let Some(patch) = patch {
                    let prefix = format!("projects.{}.{kind}", key_segment(&section.pattern));
                    report::patch_values(&prefix, patch, &mut values);
                }
            }
        }
        values.extend(self.foreign.iter().cloned());
        // A URL with a password (the postgres storage refuses one at use)
        // is still shown: never with the password.
        for v in &mut values {
            if v.value.contains("://") {
                // Rendered as a TOML string: redact inside the quotes.
                v.value = match v.value.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    Some(inner) => format!("\"{}\"", otto_hooks_postgres::redacted_url(inner)),
                    None => otto_hooks_postgres::redacted_url(&v.value),
                };
            }
        }
        ConfigReport {
            files: self.files.iter().map(|f| f.display().to_string()).collect(),
            values,
        }
    }
}

/// Replays the layers: each layer's default sections, then (for a project)
/// its matching project sections in file order.
fn replay(layers: &[Layer], project: Option<(&str, &str)>) -> [Resolved; 4] {
    let mut resolved: [Resolved; 4] = Default::default();
    for layer in layers {
        for (slot, patch) in resolved.iter_mut().zip(&layer.sections) {
            if let Some(patch) = patch {
                slot.apply(patch);
            }
        }
        let Some((name, key)) = project else { continue };
        for section in layer.projects.iter().filter(|s| s.matches(name, key)) {
            for (slot, patch) in resolved.iter_mut().zip(&section.sections) {
                if let Some(patch) = patch {
                    slot.apply(patch);
                }
            }
        }
    }
    resolved
}

/// A section that names no plugin needs a lower layer (or an earlier project
/// section) that chooses one, or its settings would belong to nothing.
fn check_plugins_chosen(layers: &[Layer]) -> Result<(), ConfigError> {
    let mut defaults: [Resolved; 4] = Default::default();
    let mut by_project = [false; 4];
    let check = |i: usize,
                 patch: &SectionPatch,
                 defaults: &[Resolved; 4],
                 by_project: &[bool; 4]| match patch {
        SectionPatch::One(item)
            if item.plugin.is_none() && defaults[i].instances.is_empty() && !by_project[i] =>
        {
            Err(ConfigError::new(format!(
                "{}: `{}` has no `plugin` and no lower layer chooses a {} plugin (add `plugin = \"<name>\"`)",
                item.at, item.what, KINDS[i]
            )))
        }
        _ => Ok(()),
    };
    for layer in layers {
        for (i, patch) in layer.sections.iter().enumerate() {
            if let Some(patch) = patch {
                check(i, patch, &defaults, &by_project)?;
                defaults[i].apply(patch);
            }
        }
        for section in &layer.projects {
            for (i, patch) in section.sections.iter().enumerate() {
                if let Some(patch) = patch {
                    check(i, patch, &defaults, &by_project)?;
                    by_project[i] |= patch.names_plugin();
                }
            }
        }
    }
    Ok(())
}

fn selection_of(resolved: &[Resolved; 4]) -> Selection {
    let mut selection = Selection::default();
    for (kind, resolved) in KINDS.iter().zip(resolved) {
        let names = instance_names(*kind, &resolved.instances);
        let specs = resolved
            .instances
            .iter()
            .zip(names)
            .map(|(instance, name)| InstanceSpec {
                kind: *kind,
                plugin: instance.plugin.value.clone(),
                instance: name,
                settings: settings_table(&instance.settings),
                origin: instance.plugin.source.clone(),
            })
            .collect();
        if let Some(slot) = selection.slot_mut(*kind) {
            *slot = specs;
        }
    }
    selection
}

/// The plugin instances chosen for a project, per kind, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Storage instances.
    pub storage: Vec<InstanceSpec>,
    /// Status instances.
    pub status: Vec<InstanceSpec>,
    /// Retention instances.
    pub retention: Vec<InstanceSpec>,
    /// Reporter instances.
    pub reporter: Vec<InstanceSpec>,
}

impl Selection {
    /// The instances of `kind` (none for [`PluginKind::Unknown`]).
    pub fn of_kind(&self, kind: PluginKind) -> &[InstanceSpec] {
        match kind {
            PluginKind::Storage => &self.storage,
            PluginKind::Status => &self.status,
            PluginKind::Retention => &self.retention,
            PluginKind::Reporter => &self.reporter,
            PluginKind::Unknown => &[],
        }
    }

    fn slot_mut(&mut self, kind: PluginKind) -> Option<&mut Vec<InstanceSpec>> {
        match kind {
            PluginKind::Storage => Some(&mut self.storage),
            PluginKind::Status => Some(&mut self.status),
            PluginKind::Retention => Some(&mut self.retention),
            PluginKind::Reporter => Some(&mut self.reporter),
            PluginKind::Unknown => None,
        }
    }
}

/// One plugin instance to create.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    /// Its kind.
    pub kind: PluginKind,
    /// The plugin's name.
    pub plugin: String,
    /// The instance's name in messages: the `name` key, or `<kind>.<plugin>`
    /// (`retention.standard`), with `#2`, `#3` for repeats (`storage.sqlite#2`).
    pub instance: String,
    /// Its settings: every key of its section but `plugin` and `name`.
    pub settings: toml::Table,
    /// Where `plugin` was chosen: `default`, `file:line`, `env OTTO_HOOKS_RETENTION`,
    /// or an override's source.
    pub origin: String,
}
