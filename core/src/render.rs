//! Output: every command builds a document (the typed shapes of
//! `otto_hooks_plugin_api::report`) and a reporter plugin renders it.
//!
//! `--json` selects the built-in `json` reporter; otherwise the configured
//! reporter (default `table`) renders. The text goes out as the reporter
//! emits it ([`render_json_to`]), so a large document's output is never
//! held whole. A reporter that declines a document kind or fails before
//! emitting anything falls back to `json`, with a warning — output is
//! never lost; one that fails after part of its text went out is an error
//! (output is never mixed).

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
/// document need not be held twice, as values and as text) into a string:
/// [`render_json_to`] writing to memory.
pub fn render_json(
    registry: &Registry,
    reporter: &InstanceSpec,
    data_dir: &Path,
    kind: DocumentKind,
    json: &str,
) -> Result<Rendered, String> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let streamed = render_json_to(
        registry,
        reporter,
        data_dir,
        kind,
        json,
        &mut out,
        &mut |w| warnings.push(w.to_owned()),
    );
    match streamed {
        // Pieces are `str`s: joined, they are UTF-8.
        Streamed::Written => String::from_utf8(out)
            .map(|text| Rendered { text, warnings })
            .map_err(|e| format!("the rendered text is not UTF-8: {e}")),
        Streamed::Write(e) => Err(e.to_string()),
        Streamed::Failed(e) => Err(e),
    }
}

/// How [`render_json_to`] went.
#[derive(Debug)]
pub enum Streamed {
    /// The text went out.
    Written,
    /// Writing failed (the reporter's pieces after that were dropped).
    Write(std::io::Error),
    /// Every reporter failed, or one failed after part of its text had gone
    /// out (no fallback then: output is never mixed).
    Failed(String),
}

/// Renders a document already serialised with [`to_json`] to `out` as the
/// reporter emits it, falling back to `json` while nothing has been
/// written: a large document's output is never held whole. A newline ends
/// the text when the reporter's does not. `warn` hears, as it happens, each
/// reporter that failed before another took over (one line each).
pub fn render_json_to(
    registry: &Registry,
    reporter: &InstanceSpec,
    data_dir: &Path,
    kind: DocumentKind,
    json: &str,
    out: &mut dyn std::io::Write,
    warn: &mut dyn FnMut(&str),
) -> Streamed {
    let mut failure = String::new();
    let fallback = json_reporter();
    let candidates: &[&InstanceSpec] = if reporter.plugin == fallback.plugin {
        &[reporter]
    } else {
        &[reporter, &fallback]
    };
    for spec in candidates {
        let mut wrote = false;
        let mut ends_line = false;
        let mut failed_write: Option<std::io::Error> = None;
        let mut sink = |piece: &str| {
            if piece.is_empty() || failed_write.is_some() {
                return;
            }
            wrote = true;
            ends_line = piece.ends_with('\n');
            if let Err(e) = out.write_all(piece.as_bytes()) {
                failed_write = Some(e);
            }
        };
        let attempt = registry.instantiate(spec, data_dir).and_then(|instance| {
            instance
                .render_to(&Document { kind, json }, &mut sink)
                .map_err(|e| match e.kind {
                    ErrorKind::Unsupported => {
                        format!("{} does not render {kind} documents", e.plugin)
                    }
                    _ => e.to_string(),
                })
        });
        if let Some(e) = failed_write {
            return Streamed::Write(e);
        }
        match attempt {
            Ok(()) => {
                let end = if wrote && !ends_line {
                    out.write_all(b"\n")
                } else {
                    Ok(())
                };
                return match end.and_then(|()| out.flush()) {
                    Ok(()) => Streamed::Written,
                    Err(e) => Streamed::Write(e),
                };
            }
            Err(e) if wrote => {
                return Streamed::Failed(format!("{e} (after part of its output)"));
            }
            Err(e) => {
                // A reporter another will replace is a warning; the last
                // one's failure is the error.
                if spec != candidates.last().unwrap_or(spec) {
                    warn(&e);
                }
                failure = e;
            }
        }
    }
    Streamed::Failed(failure)
}
