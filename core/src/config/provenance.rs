//! Where a value came from, and errors that say where they happened.

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// A configuration error: one line, naming the file and position (or the
/// environment variable, or the command-line flag) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The message, one line.
    pub message: String,
}

impl ConfigError {
    /// An error with `message`; line breaks are folded so it stays one line.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.contains(['\n', '\r']) {
            message
                .split(['\n', '\r'])
                .filter(|part| !part.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            message
        };
        ConfigError { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A value and the place it was set: `default`, `<file>:<line>`,
/// `env OTTO_HOOKS_X`, or a command-line override's source (e.g.
/// `--set retention.keep_days=7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it was set.
    pub source: String,
}

impl<T> Sourced<T> {
    /// `value`, set at `source`.
    pub fn new(value: T, source: impl Into<String>) -> Self {
        Sourced {
            value,
            source: source.into(),
        }
    }
}

/// The source text a layer was parsed from, which turns byte spans into
/// positions for messages and sources for values.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    /// The built-in defaults.
    Defaults,
    /// A config file.
    File { path: &'a Path, text: &'a str },
    /// Command-line overrides, rendered one per line: each byte range of the
    /// rendered text belongs to the override whose source is given.
    Overrides {
        pieces: &'a [(Range<usize>, String)],
    },
}

impl Origin<'_> {
    /// Where a span is, for an error message: `path:line:col`.
    pub(super) fn at(&self, span: Option<Range<usize>>) -> String {
        match self {
            Origin::Defaults => "built-in defaults".to_owned(),
            Origin::File { path, text } => match span {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{}:{line}:{col}", path.display())
                }
                None => path.display().to_string(),
            },
            Origin::Overrides { .. } => self.override_source(span),
        }
    }

    /// Where a span is, as the source of a value: `default`, `path:line`.
    pub(super) fn source(&self, span: Option<Range<usize>>) -> String {
        match self {
            Origin::Defaults => "default".to_owned(),
            Origin::File { path, text } => match span {
                Some(span) => format!("{}:{}", path.display(), line_col(text, span.start).0),
                None => path.display().to_string(),
            },
            Origin::Overrides { .. } => self.override_source(span),
        }
    }

    fn override_source(&self, span: Option<Range<usize>>) -> String {
        let Origin::Overrides { pieces } = self else {
            return String::new();
        };
        let start = span.map_or(0, |s| s.start);
        pieces
            .iter()
            .find(|(range, _)| range.contains(&start))
            .or_else(|| pieces.last())
            .map(|(_, source)| source.clone())
            .unwrap_or_else(|| "command line".to_owned())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}
