//! Whether a project file may be read, and what it may point at.
//!
//! A `.otto-hooks.toml` is found by walking up from the working directory,
//! so it can sit in a directory somebody else controls (a shared `/tmp`-like
//! parent). Like git's `safe.directory`, a project file is read only when
//! it and every directory from it up to the user's home (or, outside the
//! home, up to the repository root) are owned by the user or root and not
//! writable by others; otherwise it is ignored with one warning
//! ([`untrusted_reason`]).
//!
//! A trusted project file still speaks for a checked-out repository: the
//! paths it sets (`storage.otto_home`, `storage.db`, any path setting) must
//! stay inside its project unless the global config says
//! `[security] project_paths = "anywhere"` ([`check_project_paths`]).

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::layer::{Layer, SectionPatch, Setting};
use super::provenance::ConfigError;
use super::settings;

/// Plugin settings that are paths (the built-in storages'): a project
/// file may not aim them outside its project.
const PATH_SETTINGS: &[&str] = &["otto_home", "db", "password_file"];

/// Why the project file at `file` must not be read, or `None` when it may.
/// `home` is the user's home directory; `cwd` the working directory the
/// walk started from (its repository root bounds the walk outside `home`).
pub(super) fn untrusted_reason(file: &Path, cwd: &Path, home: &Path) -> Option<String> {
    let uid = rustix::process::geteuid().as_raw();
    let trusted_owner = |owner: u32| owner == uid || owner == 0;
    match std::fs::symlink_metadata(file) {
        Ok(link) if !trusted_owner(link.uid()) => {
            return Some(format!("it is owned by uid {}", link.uid()));
        }
        Ok(_) => {}
        Err(e) => return Some(format!("it cannot be inspected: {e}")),
    }
    match std::fs::metadata(file) {
        Ok(meta) if !trusted_owner(meta.uid()) => {
            return Some(format!("it is owned by uid {}", meta.uid()));
        }
        Ok(meta) if meta.mode() & 0o002 != 0 => {
            return Some("it is writable by others".to_owned());
        }
        Ok(_) => {}
        Err(e) => return Some(format!("it cannot be inspected: {e}")),
    }
    let dir = file.parent()?;
    let stop = if dir.starts_with(home) {
        Some(home.to_path_buf())
    } else {
        repository_root(cwd).filter(|root| dir.starts_with(root))
    };
    for ancestor in dir.ancestors() {
        match std::fs::metadata(ancestor) {
            Ok(meta) if !trusted_owner(meta.uid()) => {
                return Some(format!(
                    "its directory {} is owned by uid {}",
                    ancestor.display(),
                    meta.uid()
                ));
            }
            Ok(meta) if meta.mode() & 0o002 != 0 => {
                return Some(format!(
                    "its directory {} is writable by others",
                    ancestor.display()
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Some(format!(
                    "its directory {} cannot be inspected: {e}",
                    ancestor.display()
                ));
            }
        }
        // Outside the home and any repository, the file's own directory
        // is all that speaks for it.
        if stop.as_deref().is_none_or(|stop| ancestor == stop) {
            break;
        }
    }
    None
}

/// The nearest directory from `cwd` up that holds `.git`.
fn repository_root(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .find(|dir| std::fs::symlink_metadata(dir.join(".git")).is_ok())
        .map(Path::to_path_buf)
}

/// Refuses a path the project layer sets outside `project` (the project
/// file's directory), unless `anywhere` (the global config allows it).
pub(super) fn check_project_paths(
    layer: &Layer,
    project: &Path,
    home: &Path,
) -> Result<(), ConfigError> {
    for (key, value) in &layer.settings {
        let is_path = settings::find(key).is_some_and(|d| d.ty == settings::SettingType::Path);
        if let (true, Some(text)) = (is_path, value.value.as_str()) {
            check_one(key, text, &value.source, project, home)?;
        }
    }
    let sections = layer
        .sections
        .iter()
        .chain(layer.projects.iter().flat_map(|p| &p.sections));
    for patch in sections.flatten() {
        let items = match patch {
            SectionPatch::One(item) => std::slice::from_ref(item),
            SectionPatch::Many { items, .. } => items.as_slice(),
        };
        for item in items {
            for (key, setting) in &item.settings {
                let Setting::Value(value) = setting else {
                    continue;
                };
                if let (true, Some(text)) =
                    (PATH_SETTINGS.contains(&key.as_str()), value.value.as_str())
                {
                    let dotted = format!("{}.{key}", item.what);
                    check_one(&dotted, text, &value.source, project, home)?;
                }
            }
        }
    }
    Ok(())
}

fn check_one(
    key: &str,
    text: &str,
    source: &str,
    project: &Path,
    home: &Path,
) -> Result<(), ConfigError> {
    let path = super::layer::expand_home(text, home);
    if path.is_absolute() && within(&path, project) {
        return Ok(());
    }
    Err(ConfigError::new(format!(
        "{source}: `{key}` = {text:?} is outside the project {} (a project file may only set \
         paths inside its project; allow others with `[security] project_paths = \"anywhere\"` \
         in the global config)",
        project.display()
    )))
}

/// Whether `path` (absolute) stays under `project` once `..` and the
/// symlinks of its existing part are resolved, the way the kernel will.
fn within(path: &Path, project: &Path) -> bool {
    if path.components().any(|c| c == Component::ParentDir) {
        return false;
    }
    let Ok(project) = project.canonicalize() else {
        return false;
    };
    // The longest existing prefix, resolved, then the rest as written.
    let mut existing = path;
    let mut rest = Vec::new();
    let resolved = loop {
        if let Ok(real) = existing.canonicalize() {
            break real;
        }
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
            return false;
        };
        rest.push(name);
        existing = parent;
    };
    let full = rest.iter().rev().fold(resolved, |p, name| p.join(name));
    full.starts_with(&project)
}
