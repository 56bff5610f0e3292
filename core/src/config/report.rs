//! `otto-hooks config show`: every effective value and where it came from.

use otto_hooks_plugin_api::report::ConfigValue;

use super::layer::{InstancePatch, SectionPatch, Setting, Settings, key_segment};
use super::merge::Resolved;

/// Renders a value as TOML on one line (strings always as basic strings, so
/// line breaks show as `\n`; tables inline).
pub(super) fn render_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => render_string(s),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(_) | toml::Value::Datetime(_) => value.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render_value).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(table) => {
            if table.is_empty() {
                return "{}".to_owned();
            }
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", key_segment(k), render_value(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

fn render_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn push(out: &mut Vec<ConfigValue>, key: String, value: String, source: &str) {
    out.push(ConfigValue {
        key,
        value,
        source: source.to_owned(),
    });
}

/// The values of an effective kind section: `retention.plugin`,
/// `retention.keep_days`; `storage[1].plugin` when there are several.
pub(super) fn resolved_values(kind: &str, resolved: &Resolved, out: &mut Vec<ConfigValue>) {
    let instances = &resolved.instances;
    if instances.is_empty() {
        if let Some(source) = &resolved.array_source {
            push(out, kind.to_owned(), "[]".to_owned(), source);
        }
        return;
    }
    for (i, instance) in instances.iter().enumerate() {
        let prefix = if instances.len() == 1 {
            kind.to_owned()
        } else {
            format!("{kind}[{i}]")
        };
        let plugin = &instance.plugin;
        push(
            out,
            format!("{prefix}.plugin"),
            render_string(&plugin.value),
            &plugin.source,
        );
        if let Some(name) = &instance.name {
            push(
                out,
                format!("{prefix}.name"),
                render_string(&name.value),
                &name.source,
            );
        }
        settings_values(&prefix, &instance.settings, out);
    }
}

/// The values of a section as a layer writes it (for `[projects."…"]`).
pub(super) fn patch_values(prefix: &str, patch: &SectionPatch, out: &mut Vec<ConfigValue>) {
    match patch {
        SectionPatch::One(item) => instance_patch_values(prefix, item, out),
        SectionPatch::Many { source, items } => {
            if items.is_empty() {
                push(out, prefix.to_owned(), "[]".to_owned(), source);
            }
            for (i, item) in items.iter().enumerate() {
                instance_patch_values(&format!("{prefix}[{i}]"), item, out);
            }
        }
    }
}

fn instance_patch_values(prefix: &str, item: &InstancePatch, out: &mut Vec<ConfigValue>) {
    if let Some(plugin) = &item.plugin {
        push(
            out,
            format!("{prefix}.plugin"),
            render_string(&plugin.value),
            &plugin.source,
        );
    }
    if let Some(name) = &item.name {
        push(
            out,
            format!("{prefix}.name"),
            render_string(&name.value),
            &name.source,
        );
    }
    settings_values(prefix, &item.settings, out);
}

fn settings_values(prefix: &str, settings: &Settings, out: &mut Vec<ConfigValue>) {
    for (key, setting) in settings {
        let key = format!("{prefix}.{}", key_segment(key));
        match setting {
            Setting::Value(v) => push(out, key, render_value(&v.value), &v.source),
            Setting::Table { source, entries } if entries.is_empty() => {
                push(out, key, "{}".to_owned(), source);
            }
            Setting::Table { entries, .. } => settings_values(&key, entries, out),
        }
    }
}
