//! # The built-in otto-hooks reporters
//!
//! Three reporter plugins, each rendering every [`DocumentKind`]:
//!
//! | name | type | for |
//! |---|---|---|
//! | `table` | [`TableReporter`] | people at a terminal: aligned columns, local time, no colour |
//! | `json` | [`JsonReporter`] | programs: the document itself, pretty or `compact = true` |
//! | `markdown` | [`MarkdownReporter`] | CI step summaries (`$GITHUB_STEP_SUMMARY`): tables, UTC times |
//!
//! They are plain [`Reporter`](otto_hooks_plugin_api::Reporter)
//! implementations, declared in [`MODULE`]. The `otto-hooks` binary links this
//! crate and calls them through that module's ABI tables, exactly as it calls
//! a plugin loaded from a library; the `otto-hooks-builtin` cdylib exports
//! the same declarations for other hosts.
//!
//! The formatting helpers the three share (sizes, durations, times) are
//! public in [`format`](mod@format), so that the host's own messages read the same way.

pub mod format;
mod grid;
mod json;
mod markdown;
mod table;

use otto_hooks_plugin_api::{Document, DocumentKind, PluginError};

pub use json::JsonReporter;
pub use markdown::MarkdownReporter;
pub use table::TableReporter;

otto_hooks_plugin_api::plugin_module! {
    /// The reporters of this crate: `table`, `json` and `markdown`.
    pub static MODULE = [
        reporter(TableReporter),
        reporter(JsonReporter),
        reporter(MarkdownReporter),
    ];
}

/// Parses `doc` into its typed shape, naming the kind on failure.
fn parse<T: serde::de::DeserializeOwned>(doc: &Document<'_>) -> Result<T, PluginError> {
    doc.parse()
        .map_err(|e| PluginError::invalid(format!("bad {} document: {e}", kind_name(doc.kind))))
}

/// Any JSON document, pretty-printed, with a trailing newline: what the
/// reporters show for a kind they do not know.
fn pretty_json(doc: &Document<'_>) -> Result<String, PluginError> {
    json_text(doc, false)
}

/// `doc`'s JSON re-serialised, pretty or on one line, with a trailing newline.
fn json_text(doc: &Document<'_>, compact: bool) -> Result<String, PluginError> {
    // Transcoded token by token: a run list of 100,000 runs is never held
    // as a tree of values, only as text in and text out.
    let invalid = |e: &dyn std::fmt::Display| {
        PluginError::invalid(format!(
            "the {} document is not valid JSON: {e}",
            kind_name(doc.kind)
        ))
    };
    let mut out = Vec::with_capacity(doc.json.len() + doc.json.len() / 2);
    let mut input = serde_json::Deserializer::from_str(doc.json);
    let result = if compact {
        serde_transcode::transcode(&mut input, &mut serde_json::Serializer::new(&mut out))
    } else {
        serde_transcode::transcode(&mut input, &mut serde_json::Serializer::pretty(&mut out))
    };
    result.map_err(|e| invalid(&e))?;
    input.end().map_err(|e| invalid(&e))?;
    out.push(b'\n');
    String::from_utf8(out).map_err(|e| PluginError::failed(format!("cannot print JSON: {e}")))
}

/// A kind's name for messages (`unknown` reads as `given`).
fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Unknown => "given",
        other => other.as_str(),
    }
}
