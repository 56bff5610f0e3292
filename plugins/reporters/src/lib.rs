//! # The built-in otto-hooks reporters
//!
//! Three reporter plugins, each rendering every [`DocumentKind`]:
//!
//! | name | type | for |
//! |---|---|---|
//! | `table` | [`TableReporter`] | people at a terminal: aligned columns, local time, coloured statuses on a colour terminal |
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

pub mod color;
pub mod format;
pub mod grid;
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
    let mut text = String::with_capacity(doc.json.len() + doc.json.len() / 2);
    json_pieces(doc, compact, &mut |piece| text.push_str(piece))?;
    Ok(text)
}

/// The pieces [`json_pieces`] hands on, in bytes (about).
const PIECE: usize = 64 * 1024;

/// The error for a document that is not valid JSON.
fn invalid_json(doc: &Document<'_>, e: &dyn std::fmt::Display) -> PluginError {
    PluginError::invalid(format!(
        "the {} document is not valid JSON: {e}",
        kind_name(doc.kind)
    ))
}

/// Checks that `doc` transcodes (without building or keeping anything),
/// for a reporter about to stream it: invalid JSON then fails before any
/// output. The check is the transcoding itself, into nothing — a lighter
/// parse lets through what the transcoder refuses (a lone surrogate
/// escape, a number out of range).
fn check_json(doc: &Document<'_>) -> Result<(), PluginError> {
    let mut input = serde_json::Deserializer::from_str(doc.json);
    serde_transcode::transcode(
        &mut input,
        &mut serde_json::Serializer::new(std::io::sink()),
    )
    .map_err(|e| invalid_json(doc, &e))?;
    input.end().map_err(|e| invalid_json(doc, &e))
}

/// `doc`'s JSON re-serialised, pretty or on one line, with a trailing
/// newline, handed to `emit` in pieces of about [`PIECE`] bytes.
///
/// Transcoded token by token: a run list of 100,000 runs is never held as
/// a tree of values, nor (streamed to the host) its output whole. Invalid
/// JSON fails where it is found, after what came before it was emitted:
/// [`check_json`] first when that matters.
fn json_pieces(
    doc: &Document<'_>,
    compact: bool,
    emit: &mut dyn FnMut(&str),
) -> Result<(), PluginError> {
    let invalid = |e: &dyn std::fmt::Display| invalid_json(doc, e);
    let mut out = Pieces {
        buf: Vec::with_capacity(PIECE.min(doc.json.len() * 2) + 64),
        emit,
    };
    let mut input = serde_json::Deserializer::from_str(doc.json);
    let result = if compact {
        serde_transcode::transcode(&mut input, &mut serde_json::Serializer::new(&mut out))
    } else {
        serde_transcode::transcode(&mut input, &mut serde_json::Serializer::pretty(&mut out))
    };
    result.map_err(|e| invalid(&e))?;
    input.end().map_err(|e| invalid(&e))?;
    out.buf.push(b'\n');
    out.hand_on();
    if out.buf.is_empty() {
        Ok(())
    } else {
        Err(PluginError::failed("cannot print JSON: it is not UTF-8"))
    }
}

/// A writer that hands what it is given to `emit` in pieces of about
/// [`PIECE`] bytes, each whole UTF-8.
struct Pieces<'e> {
    buf: Vec<u8>,
    emit: &'e mut dyn FnMut(&str),
}

impl Pieces<'_> {
    /// Emits the buffer up to its last whole character (a character cut
    /// by the end of a write waits for its next bytes).
    fn hand_on(&mut self) {
        let whole = match std::str::from_utf8(&self.buf) {
            Ok(text) => {
                (self.emit)(text);
                text.len()
            }
            Err(e) => {
                let whole = e.valid_up_to();
                if let Some(Ok(text)) = self.buf.get(..whole).map(std::str::from_utf8) {
                    if !text.is_empty() {
                        (self.emit)(text);
                    }
                }
                whole
            }
        };
        self.buf.drain(..whole);
    }
}

impl std::io::Write for Pieces<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= PIECE {
            self.hand_on();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A kind's name for messages (`unknown` reads as `given`).
fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Unknown => "given",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_character_cut_between_writes_waits_for_its_last_bytes() {
        let mut pieces: Vec<String> = Vec::new();
        let mut emit = |piece: &str| pieces.push(piece.to_owned());
        let mut out = Pieces {
            buf: Vec::new(),
            emit: &mut emit,
        };
        // Fill a piece all but one byte, then a 3-byte character split
        // over two writes across the piece boundary.
        let check = "✓".as_bytes();
        out.write_all(&vec![b'a'; PIECE - 1]).expect("writes");
        out.write_all(&check[..2]).expect("writes");
        out.write_all(&check[2..]).expect("writes");
        out.write_all(b"z").expect("writes");
        out.hand_on();
        assert!(out.buf.is_empty());
        let joined = pieces.concat();
        assert_eq!(joined.len(), PIECE - 1 + 3 + 1);
        assert!(joined.ends_with("a✓z"), "{}", &joined[PIECE - 4..]);
        assert_eq!(
            pieces.len(),
            2,
            "one piece held back two bytes: {}",
            pieces.len()
        );
        assert_eq!(pieces[0].len(), PIECE - 1, "the cut character waited");
    }
}
