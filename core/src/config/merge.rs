//! The merge rule for kind sections.
//!
//! A section that names the same plugin as the section below it (or names
//! none) merges its settings key by key over the lower one; a section that
//! names another plugin, or an array of sections, replaces the lower one
//! entirely: the lower settings belong to another plugin.

use otto_hooks_plugin_api::PluginKind;

use super::layer::{InstancePatch, SectionPatch, Setting, Settings};
use super::provenance::Sourced;

/// The effective section of one kind: its instances, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Resolved {
    pub instances: Vec<Instance>,
    /// Where the array that set these instances was written (so that an
    /// explicit `storage = []` can be reported).
    pub array_source: Option<String>,
}

/// One effective instance.
#[derive(Debug, Clone)]
pub(super) struct Instance {
    pub plugin: Sourced<String>,
    pub name: Option<Sourced<String>>,
    pub settings: Settings,
}

impl Instance {
    fn from_patch(plugin: &Sourced<String>, patch: &InstancePatch) -> Instance {
        Instance {
            plugin: plugin.clone(),
            name: patch.name.clone(),
            settings: patch.settings.clone(),
        }
    }
}

impl Resolved {
    /// Layers `patch` over this section.
    pub(super) fn apply(&mut self, patch: &SectionPatch) {
        match patch {
            SectionPatch::Many { source, items } => {
                self.instances = items
                    .iter()
                    .filter_map(|item| item.plugin.as_ref().map(|p| Instance::from_patch(p, item)))
                    .collect();
                self.array_source = Some(source.clone());
            }
            SectionPatch::One(item) => match &item.plugin {
                Some(plugin) => match self.instances.as_mut_slice() {
                    [only] if only.plugin.value == plugin.value => {
                        only.plugin = plugin.clone();
                        merge_instance(only, item);
                    }
                    _ => {
                        self.instances = vec![Instance::from_patch(plugin, item)];
                        self.array_source = None;
                    }
                },
                // No plugin named: the settings are for whatever the lower
                // layers chose (every instance of it, when there are several).
                None => {
                    // A name for several instances would not tell them apart.
                    let single = self.instances.len() == 1;
                    for instance in &mut self.instances {
                        if let (true, Some(name)) = (single, &item.name) {
                            instance.name = Some(name.clone());
                        }
                        merge_settings(&mut instance.settings, &item.settings);
                    }
                }
            },
        }
    }
}

fn merge_instance(instance: &mut Instance, patch: &InstancePatch) {
    if let Some(name) = &patch.name {
        instance.name = Some(name.clone());
    }
    merge_settings(&mut instance.settings, &patch.settings);
}

/// Merges `higher` over `lower`: key by key, tables recursively; any other
/// value (arrays included) replaces.
pub(super) fn merge_settings(lower: &mut Settings, higher: &Settings) {
    for (key, high) in higher {
        match lower.iter_mut().find(|(k, _)| k == key) {
            Some((_, low)) => match (low, high) {
                (Setting::Table { entries: low, .. }, Setting::Table { entries: high, .. }) => {
                    merge_settings(low, high);
                }
                (low, high) => *low = high.clone(),
            },
            None => lower.push((key.clone(), high.clone())),
        }
    }
}

/// Settings as the plugin receives them.
pub(super) fn settings_table(settings: &Settings) -> toml::Table {
    settings
        .iter()
        .map(|(key, setting)| {
            let value = match setting {
                Setting::Value(v) => v.value.clone(),
                Setting::Table { entries, .. } => toml::Value::Table(settings_table(entries)),
            };
            (key.clone(), value)
        })
        .collect()
}

/// Instance names for messages: the `name` key, or `<kind>.<plugin>`; a
/// repeated name gets `#2`, `#3`, ….
pub(super) fn instance_names(kind: PluginKind, instances: &[Instance]) -> Vec<String> {
    let mut bases: Vec<String> = Vec::with_capacity(instances.len());
    let mut names = Vec::with_capacity(instances.len());
    for instance in instances {
        let base = match &instance.name {
            Some(name) => name.value.clone(),
            None => format!("{kind}.{}", instance.plugin.value),
        };
        let seen = bases.iter().filter(|b| **b == base).count();
        names.push(if seen == 0 {
            base.clone()
        } else {
            format!("{base}#{}", seen + 1)
        });
        bases.push(base);
    }
    names
}
