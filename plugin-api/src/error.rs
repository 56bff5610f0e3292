//! Errors a plugin returns, and what the host makes of them.

use crate::abi::ErrorCode;

/// What went wrong, in categories the host acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Anything else.
    Failed,
    /// Bad configuration or bad input: the user must change something.
    Invalid,
    /// The run (or other object) does not exist.
    NotFound,
    /// The run (or other object) already exists.
    AlreadyExists,
    /// The plugin does not offer this.
    Unsupported,
    /// An I/O error.
    Io,
    /// The plugin panicked. The host disables the instance after this.
    Panic,
}

impl ErrorKind {
    /// The code that crosses the ABI.
    pub fn code(self) -> ErrorCode {
        match self {
            ErrorKind::Failed => ErrorCode::FAILED,
            ErrorKind::Invalid => ErrorCode::INVALID,
            ErrorKind::NotFound => ErrorCode::NOT_FOUND,
            ErrorKind::AlreadyExists => ErrorCode::ALREADY_EXISTS,
            ErrorKind::Unsupported => ErrorCode::UNSUPPORTED,
            ErrorKind::Io => ErrorCode::IO,
            ErrorKind::Panic => ErrorCode::PANIC,
        }
    }

    /// Reads an ABI code; unknown codes read as `Failed`.
    pub fn from_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::INVALID => ErrorKind::Invalid,
            ErrorCode::NOT_FOUND => ErrorKind::NotFound,
            ErrorCode::ALREADY_EXISTS => ErrorKind::AlreadyExists,
            ErrorCode::UNSUPPORTED => ErrorKind::Unsupported,
            ErrorCode::IO => ErrorKind::Io,
            ErrorCode::PANIC => ErrorKind::Panic,
            _ => ErrorKind::Failed,
        }
    }

    /// A short lowercase name (`invalid`, `not found`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "i/o error",
            ErrorKind::Panic => "panic",
        }
    }
}

/// An error returned by a plugin: a kind and a one-line message.
///
/// Write messages for the person who will read them on a terminal: say what
/// failed, on what (a path, a run id, a setting), and what to do about it.
/// Keep them on one line; the host prefixes the plugin's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// The category.
    pub kind: ErrorKind,
    /// The message, one line.
    pub message: String,
}

impl PluginError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.contains('\n') {
            message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        PluginError { kind, message }
    }

    /// A generic failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// Bad configuration or input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// Something that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Something that already exists.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }

    /// A request the plugin does not offer.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{path}: {err}"))
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        PluginError::new(ErrorKind::Io, e.to_string())
    }
}

impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        PluginError::invalid(format!("bad JSON: {e}"))
    }
}
