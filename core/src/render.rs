//! Output: every command builds a document (the typed shapes of
//! `otto_hooks_plugin_api::report`) and a reporter plugin renders it.
//!
//! `--json` selects the built-in `json` reporter; otherwise the configured
//! reporter (default `table`) renders. A reporter that declines a document
//! kind or fails falls back to `json`, with a warning — output is never lost.

use std::path::Path;

use otto_hooks_plugin_api::{Document, DocumentKind, ErrorKind, PluginKind};
use serde::Serialize;

use crate::config::InstanceSpec;
use crate::registry::Registry;

/// The reporter `--json` selects.
pub fn json_reporter() -> InstanceSpec {
    InstanceSpec {
        kind: PluginKind::Reporter,
        plugin: "json".to_owned(),
        instance: "reporter.json".to_owned(),
        settings: toml::Table::new(),
        origin: "flag --json".to_owned(),
    }
}

/// A rendered document and anything that went wrong on the way.
#[derive(Debug)]
pub struct Rendered {
    /// The text for stdout.
    pub text: String,
    /// One line per reporter that failed before one succeeded.
    pub warnings: Vec<String>,
}

/// Renders `doc` of `kind` with `reporter`, falling back to `json`.
pub fn render<T: Serialize>(
    registry: &Registry,
    reporter: &InstanceSpec,
    data_dir: &Path,
    kind: DocumentKind,
    doc: &T,
) -> Result<Rendered, String> {
    let json = to_json(kind, doc)?;
    render_json(registry, reporter, data_dir, kind, &json)
}

/// The document as the JSON text reporters receive.
pub fn to_json<T: Serialize>(kind: DocumentKind, doc: &T) -> Result<String, String> {
    serde_json::to_string(doc).map_err(|e| format!("cannot serialise the {kind} document: {e}"))
}

/// Renders a document already serialised with [`to_json`] (so that a large
/// document need not be held twice, as values and as text).
pub fn render_json(
    registry: &Registry,
    reporter: &InstanceSpec,
    data_dir: &Path,
    kind: DocumentKind,
    json: &str,
) -> Result<Rendered, String> {
    let mut warnings = Vec::new();
    let fallback = json_reporter();
    let candidates: &[&InstanceSpec] = if reporter.plugin == fallback.plugin {
        &[reporter]
    } else {
        &[reporter, &fallback]
    };
    for spec in candidates {
        let attempt = registry.instantiate(spec, data_dir).and_then(|instance| {
            instance
                .render(&Document { kind, json })
                .map_err(|e| match e.kind {
                    ErrorKind::Unsupported => {
                        format!("{} does not render {kind} documents", e.plugin)
                    }
                    _ => e.to_string(),
                })
        });
        match attempt {
            Ok(mut text) => {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                return Ok(Rendered { text, warnings });
            }
            Err(e) => warnings.push(e),
        }
    }
    Err(warnings.join("; "))
}
