//! What the redactor is told: the key policy mode, the size cap, extra keys.

use std::fmt;
use std::str::FromStr;

/// How payload object keys decide whether a value is kept.
///
/// In both modes every string value that is kept (and every key) is still scanned
/// for token shapes and registered secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep every value except those under a key that looks sensitive: a key
    /// containing (case-insensitively) any of [`DENIED_KEY_PARTS`] has its value,
    /// whatever its type, replaced by the string `"[REDACTED]"`. The default.
    #[default]
    DenyList,
    /// choo's design: only values under a key in [`ALLOWED_KEYS`] (compared
    /// case-insensitively) are kept; every other value becomes `"[REDACTED]"`.
    /// Nested objects are checked key by key, so an allowed key's object value keeps
    /// only its own allowed keys. A payload that is not an object (a bare array or
    /// scalar) has no keys to check and is only scanned.
    AllowList,
}

impl Mode {
    /// Parses the configuration spelling: `deny-list` or `allow-list`.
    ///
    /// ```
    /// use otto_hooks_redact::Mode;
    /// assert_eq!(Mode::parse("allow-list"), Ok(Mode::AllowList));
    /// assert!(Mode::parse("allowlist").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, ParseModeError> {
        match s {
            "deny-list" => Ok(Self::DenyList),
            "allow-list" => Ok(Self::AllowList),
            other => Err(ParseModeError {
                given: other.to_owned(),
            }),
        }
    }

    /// The configuration spelling, the inverse of [`Mode::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DenyList => "deny-list",
            Self::AllowList => "allow-list",
        }
    }
}

impl FromStr for Mode {
    type Err = ParseModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown redaction mode name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseModeError {
    given: String,
}

impl fmt::Display for ParseModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown redaction mode `{}`: expected `deny-list` or `allow-list`",
            self.given
        )
    }
}

impl std::error::Error for ParseModeError {}

/// The key-name parts that mark a value as sensitive in [`Mode::DenyList`]: a key
/// containing any of them, ignoring ASCII case, is redacted (`GITHUB_TOKEN`,
/// `api-key`, `Authorization`, `session_id`, `db_password`, ...). This is the
/// pattern `password|passwd|secret|token|api[_-]?key|authorization|cookie|credential|private[_-]?key|session`
/// spelled out.
pub const DENIED_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "private_key",
    "private-key",
    "session",
];

/// Key-name *words* that mark a value as sensitive in [`Mode::DenyList`], besides
/// [`DENIED_KEY_PARTS`]. A key is split into words at `_`, `-`, `.`, blanks and
/// camelCase humps (`dbPass` is `db` `pass`, `X-Auth-User` is `x` `auth` `user`);
/// a key with one of these words, ignoring ASCII case, is redacted. Words, not
/// substrings, so that `author`, `bypass` and `passed` stay.
pub const DENIED_KEY_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "passphrase",
    "auth",
    "oauth",
    "dsn",
    "signature",
    "sig",
];

/// Key-name words that, as a key's *last* word, mark it as sensitive in
/// [`Mode::DenyList`]: `key` (`key`, `ssh_key`, `encryption_key`, `apiKey`,
/// `AccountKey`; but not `public_key`, which is meant to be shared), `secret` and
/// `token` (also caught by [`DENIED_KEY_PARTS`]).
pub const DENIED_KEY_LAST_WORDS: &[&str] = &["key", "secret", "token"];

/// The keys whose values [`Mode::AllowList`] keeps.
///
/// The first twelve are choo's history design (`file` ... `resumed_from_seq`); the
/// rest are the structural keys otto-hooks itself reads from choo's event payloads
/// (the `orch.started` graph, unit and task progress, `unit.blocked`, `task.retry`,
/// `pr.created`, and `value`, under which choo wraps a non-object payload).
pub const ALLOWED_KEYS: &[&str] = &[
    // choo's design
    "file",
    "path",
    "worktree",
    "branch",
    "commit",
    "pr_number",
    "status",
    "duration",
    "duration_ms",
    "exit_code",
    "reason",
    "resumed_from_seq",
    // what otto-hooks reads
    "graph",
    "nodes",
    "edges",
    "levels",
    "id",
    "level",
    "tasks",
    "completed_tasks",
    "total_tasks",
    "unit_count",
    "parallelism",
    "from",
    "to",
    "value",
    "blocked_by",
    "attempt",
    "title",
    "target_branch",
    "target",
    "url",
];

/// The default cap on a stored payload or error, in bytes.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The smallest cap honoured: a smaller `max_payload_bytes` is raised to this, so
/// that the truncation marker always fits.
pub const MIN_MAX_PAYLOAD_BYTES: usize = 256;

/// How a [`Redactor`](crate::Redactor) treats payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactOptions {
    /// The key policy. Default: [`Mode::DenyList`].
    pub mode: Mode,
    /// The largest payload (serialised JSON) or error text stored, in bytes; larger
    /// ones are truncated after redaction (see
    /// [`Redactor::redact_payload`](crate::Redactor::redact_payload)). Default
    /// [`DEFAULT_MAX_PAYLOAD_BYTES`] (64 KiB); values below
    /// [`MIN_MAX_PAYLOAD_BYTES`] are raised to it.
    pub max_payload_bytes: usize,
    /// Keys added to [`ALLOWED_KEYS`] in [`Mode::AllowList`] (exact, ignoring ASCII
    /// case). In [`Mode::DenyList`] they exempt a key from [`DENIED_KEY_PARTS`]
    /// (`session_count` when `session` is too broad); their string values are still
    /// scanned.
    pub extra_allowed_keys: Vec<String>,
    /// Key-name parts added to [`DENIED_KEY_PARTS`] (substring, ignoring ASCII case),
    /// in both modes. A denied key wins over an allowed one.
    pub extra_denied_keys: Vec<String>,
}

impl Default for RedactOptions {
    fn default() -> Self {
        Self {
            mode: Mode::DenyList,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            extra_allowed_keys: Vec::new(),
            extra_denied_keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parse_accepts_the_two_spellings_and_round_trips() {
        for mode in [Mode::DenyList, Mode::AllowList] {
            assert_eq!(Mode::parse(mode.as_str()), Ok(mode));
            assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
        }
    }

    #[test]
    fn mode_parse_error_names_the_value_and_the_choices() {
        let err = Mode::parse("Deny").unwrap_err().to_string();
        assert!(err.contains("`Deny`"), "{err}");
        assert!(
            err.contains("deny-list") && err.contains("allow-list"),
            "{err}"
        );
    }
}
