//! Secret redaction for orchestrator events, applied before anything reaches history.
//!
//! An orchestrator event (choo's `{"time", "type", "unit", "task", "pr", "payload",
//! "error"}`) carries free-form data: a payload object and an error text that may
//! quote a command line, an HTTP header, a remote URL or a config file. Before
//! otto-hooks writes an event anywhere, its payload goes through
//! [`Redactor::redact_payload`] and its error through [`Redactor::redact_error`].
//!
//! Redaction has four layers, each catching what the others miss:
//!
//! 1. **Key names.** In [`Mode::DenyList`] (the default) a value under a key such as
//!    `password`, `GITHUB_TOKEN`, `api-key`, `Authorization` or `session_id` (any key
//!    containing one of [`DENIED_KEY_PARTS`]) is replaced, whatever its type, by the
//!    string `"[REDACTED]"`. [`Mode::AllowList`] is choo's design: only values under
//!    [`ALLOWED_KEYS`] are kept.
//! 2. **Token shapes.** Every kept string (and every key) is scanned for the shapes
//!    of well-known credentials, taken from gitleaks' default rules: AWS access key
//!    ids, GitHub and GitLab tokens, Slack tokens and webhooks, JWTs, PEM private key
//!    blocks, Stripe and Google API keys, npm tokens, `Bearer` / `Authorization:`
//!    values and the `user:pass` of a URL. Each match becomes `[REDACTED]`; the text
//!    around it stays.
//! 3. **Registered secrets.** Values the orchestrator knows to be secret, given to
//!    [`Redactor::with_secrets`], are masked wherever they occur, as themselves and
//!    base64-encoded (GitHub Actions' approach).
//! 4. **Size.** A payload or error larger than
//!    [`RedactOptions::max_payload_bytes`] is truncated, after redaction, to a
//!    marker that says so.
//!
//! Like GitHub Actions' masking, this is a safety net, not a guarantee: a secret
//! with no recognisable shape, under an innocent key, that nobody registered, is
//! stored as it is.
//!
//! ```
//! use otto_hooks_redact::{RedactOptions, Redactor};
//!
//! let redactor = Redactor::new(RedactOptions::default())
//!     .with_secrets(["hunter2-the-db-password".to_owned()]);
//!
//! let error = redactor.redact_error(
//!     "push to https://bot:hunter2-the-db-password@git.example.com/x.git failed",
//! );
//! assert_eq!(error, "push to https://[REDACTED]@git.example.com/x.git failed");
//!
//! let payload = redactor
//!     .redact_payload(r#"{"branch":"main","env":{"GITHUB_TOKEN":"abc"}}"#)
//!     .unwrap();
//! assert_eq!(payload.as_str(), r#"{"branch":"main","env":{"GITHUB_TOKEN":"[REDACTED]"}}"#);
//! ```

mod mask;
mod options;
mod payload;
mod pem_body;
mod prefilter;
mod rules;
mod secrets;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

pub use mask::MASK;
pub use options::{
    ALLOWED_KEYS, DEFAULT_MAX_PAYLOAD_BYTES, DENIED_KEY_LAST_WORDS, DENIED_KEY_PARTS,
    DENIED_KEY_WORDS, MIN_MAX_PAYLOAD_BYTES, Mode, ParseModeError, RedactOptions,
};
pub use payload::{PayloadError, RedactedPayload};
pub use secrets::MIN_SECRET_CHARS;

/// Applies the redaction layers to event payloads and error texts.
///
/// Build one per run (or per process) and share it: it is `Send + Sync`, and
/// cloning it is cheap (the compiled matchers are behind an [`Arc`]). The built-in
/// token patterns are compiled once per process, on first use.
///
/// Its `Debug` output never shows the registered secrets.
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

struct Inner {
    options: RedactOptions,
    keys: KeyPolicy,
    /// The registered secrets (kept to rebuild the matcher when more are added).
    secrets: Vec<String>,
    secret_matcher: Option<secrets::SecretMatcher>,
    /// Set when a matcher could not be built: every non-empty string is then masked
    /// whole, since masking too much beats storing a token.
    fail_closed: bool,
}

/// Decides, from an object key alone, whether its value is kept.
struct KeyPolicy {
    mode: Mode,
    builtin_denied: Option<AhoCorasick>,
    extra_denied: Option<AhoCorasick>,
    /// Lower-cased and sorted (for a binary search, cheaper than hashing these
    /// short keys): [`ALLOWED_KEYS`] (allow-list mode only) plus the extra ones.
    allowed: Vec<String>,
}

/// What a key's value gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyVerdict {
    /// Kept, and scanned.
    Keep,
    /// Replaced by [`MASK`].
    Redact,
}

fn substring_matcher<S: AsRef<str>>(parts: &[S]) -> Result<Option<AhoCorasick>, String> {
    let mut parts: Vec<&str> = parts
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort_unstable();
    parts.dedup();
    if parts.is_empty() {
        return Ok(None);
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .build(parts)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl KeyPolicy {
    fn new(options: &RedactOptions) -> Result<Self, String> {
        let mut allowed: Vec<String> = options
            .extra_allowed_keys
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        if options.mode == Mode::AllowList {
            allowed.extend(ALLOWED_KEYS.iter().map(|k| (*k).to_owned()));
        }
        allowed.sort_unstable();
        allowed.dedup();
        Ok(Self {
            mode: options.mode,
            builtin_denied: substring_matcher(DENIED_KEY_PARTS)?,
            extra_denied: substring_matcher(&options.extra_denied_keys)?,
            allowed,
        })
    }

    fn is_allowed(&self, key: &str) -> bool {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            let key = key.to_ascii_lowercase();
            self.allowed
                .binary_search_by(|k| k.as_str().cmp(&key))
                .is_ok()
        } else {
            self.allowed
                .binary_search_by(|k| k.as_str().cmp(key))
                .is_ok()
        }
    }

    fn verdict(&self, key: &str) -> KeyVerdict {
        let matches = |m: &Option<AhoCorasick>| m.as_ref().is_some_and(|m| m.is_match(key));
        if matches(&self.extra_denied) {
            return KeyVerdict::Redact;
        }
        let keep = match self.mode {
            Mode::DenyList => {
                !(matches(&self.builtin_denied) || denied_by_words(key)) || self.is_allowed(key)
            }
            Mode::AllowList => self.is_allowed(key),
        };
        if keep {
            KeyVerdict::Keep
        } else {
            KeyVerdict::Redact
        }
    }
}

/// The words of a key: split at every byte that is not an ASCII letter or digit
/// (non-ASCII bytes belong to words), and at camelCase humps (`apiKey`: `api`
/// `Key`; `APIKey`: `API` `Key`).
fn key_words(key: &str) -> impl Iterator<Item = &str> {
    let bytes = key.as_bytes();
    let mut start = 0usize;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while i <= bytes.len() {
            let at = i;
            i += 1;
            let is_sep =
                at == bytes.len() || !(bytes[at].is_ascii_alphanumeric() || bytes[at] >= 0x80);
            let hump = !is_sep
                && at > start
                && bytes[at].is_ascii_uppercase()
                && (bytes[at - 1].is_ascii_lowercase()
                    || (bytes[at - 1].is_ascii_uppercase()
                        && bytes.get(at + 1).is_some_and(u8::is_ascii_lowercase)));
            if is_sep || hump {
                let word = key.get(start..at).unwrap_or_default();
                start = if is_sep { at + 1 } else { at };
                if !word.is_empty() {
                    return Some(word);
                }
            }
        }
        None
    })
}

/// Whether a key is denied by [`DENIED_KEY_WORDS`] or [`DENIED_KEY_LAST_WORDS`].
fn denied_by_words(key: &str) -> bool {
    let is = |word: &str, list: &[&str]| list.iter().any(|w| w.eq_ignore_ascii_case(word));
    let mut previous: Option<&str> = None;
    let mut last: Option<&str> = None;
    for word in key_words(key) {
        if is(word, DENIED_KEY_WORDS) {
            return true;
        }
        previous = last;
        last = Some(word);
    }
    match last {
        Some(word) if word.eq_ignore_ascii_case("key") => {
            !previous.is_some_and(|p| p.eq_ignore_ascii_case("public"))
        }
        Some(word) => is(word, DENIED_KEY_LAST_WORDS),
        None => false,
    }
}

impl Redactor {
    /// A redactor with these options and no registered secrets.
    pub fn new(options: RedactOptions) -> Self {
        Self::build(options, Vec::new())
    }

    fn build(mut options: RedactOptions, secrets: Vec<String>) -> Self {
        options.max_payload_bytes = options.max_payload_bytes.max(MIN_MAX_PAYLOAD_BYTES);
        let keys = KeyPolicy::new(&options);
        let matcher = secrets::SecretMatcher::build(&secrets);
        let fail_closed = keys.is_err()
            || matcher.is_err()
            || prefilter::RULES_PREFILTER.is_err()
            || rules::COMPILED.is_err();
        let keys = keys.unwrap_or_else(|_| KeyPolicy {
            mode: Mode::AllowList,
            builtin_denied: None,
            extra_denied: None,
            allowed: Vec::new(),
        });
        Self {
            inner: Arc::new(Inner {
                options,
                keys,
                secrets,
                secret_matcher: matcher.ok().flatten(),
                fail_closed,
            }),
        }
    }

    /// Registers exact secret values (tokens the orchestrator hands to its workers,
    /// passwords from its config) and returns the redactor that masks them too, in
    /// addition to any registered before.
    ///
    /// Each value is masked wherever it occurs, as itself and base64-encoded: as a
    /// whole and inside a longer base64 string (all three byte alignments, so
    /// `base64("user:" + secret)` in a `Basic` header is caught), in the standard and
    /// the URL-safe alphabets. Empty values and values shorter than
    /// [`MIN_SECRET_CHARS`] (4) characters are ignored: masking them would shred
    /// every log without protecting anything.
    pub fn with_secrets(self, values: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets = self.inner.secrets.clone();
        secrets.extend(
            values
                .into_iter()
                .filter(|v| v.chars().count() >= MIN_SECRET_CHARS),
        );
        secrets.sort_unstable();
        secrets.dedup();
        Self::build(self.inner.options.clone(), secrets)
    }

    /// The options in force (with `max_payload_bytes` raised to
    /// [`MIN_MAX_PAYLOAD_BYTES`] if it was smaller).
    pub fn options(&self) -> &RedactOptions {
        &self.inner.options
    }

    /// How many secrets are registered.
    pub fn secret_count(&self) -> usize {
        self.inner.secrets.len()
    }

    /// Replaces every token-shaped substring, PEM body line and registered secret
    /// (in any of its forms) in `s` by `[REDACTED]`, keeping the text around it.
    ///
    /// Borrows `s` (no allocation) when nothing matched. A clean string usually
    /// costs one Aho-Corasick pass for the rules' anchor literals, one for the
    /// registered secrets (when any) and a PEM-body scan that reads one byte in 64
    /// of ordinary text (a few hundred nanoseconds for 200 bytes); a rule's regex
    /// runs only when one of its anchors occurs. No size cap: see
    /// [`Redactor::redact_error`] for that.
    ///
    /// ```
    /// # use otto_hooks_redact::{RedactOptions, Redactor};
    /// let r = Redactor::new(RedactOptions::default());
    /// assert_eq!(
    ///     r.redact_text("curl -H 'Authorization: Bearer abc.def.ghi-jkl' https://api"),
    ///     "curl -H 'Authorization: Bearer [REDACTED]' https://api",
    /// );
    /// assert!(matches!(r.redact_text("all clean"), std::borrow::Cow::Borrowed(_)));
    /// ```
    pub fn redact_text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let inner = &*self.inner;
        let (Ok(rules), Ok(prefilter), false) = (
            &*rules::COMPILED,
            &*prefilter::RULES_PREFILTER,
            inner.fail_closed,
        ) else {
            return fail_closed(s);
        };
        let mut spans = Vec::new();
        pem_body::find_spans(s, &mut spans);
        let hits = prefilter.scan(s);
        if hits != 0 {
            rules.find_spans(s, hits, &mut spans);
        }
        if let Some(matcher) = inner.secret_matcher.as_ref().filter(|m| m.is_match(s)) {
            matcher.find_spans(s, &mut spans);
        }
        mask::apply(s, &mut spans)
    }

    /// Whether [`Redactor::redact_text`] would change `s`.
    pub fn needs_redaction(&self, s: &str) -> bool {
        let inner = &*self.inner;
        let (Ok(rules), Ok(prefilter), false) = (
            &*rules::COMPILED,
            &*prefilter::RULES_PREFILTER,
            inner.fail_closed,
        ) else {
            return !s.is_empty() && s != MASK;
        };
        let hits = prefilter.scan(s);
        (hits != 0 && rules.is_match(s, hits))
            || inner.secret_matcher.as_ref().is_some_and(|m| m.is_match(s))
            || pem_body::find_spans(s, &mut Vec::new())
    }

    /// Redacts an event's `error` text: [`Redactor::redact_text`], then the size cap.
    /// A text longer than [`RedactOptions::max_payload_bytes`] is cut on a char
    /// boundary and ends with `...[truncated, N bytes]` (N the redacted length), the
    /// whole fitting in the cap.
    pub fn redact_error<'a>(&self, s: &'a str) -> Cow<'a, str> {
        mask::cap_text(self.redact_text(s), self.inner.options.max_payload_bytes)
    }

    pub(crate) fn key_verdict(&self, key: &str) -> KeyVerdict {
        self.inner.keys.verdict(key)
    }

    pub(crate) fn max_payload_bytes(&self) -> usize {
        self.inner.options.max_payload_bytes
    }
}

/// The names of the built-in token shapes [`Redactor::redact_text`] looks for
/// (`aws-access-key-id`, `github-token`, `jwt`, `pem-private-key`, ...), for
/// documentation and diagnostics.
pub fn token_rule_names() -> impl Iterator<Item = &'static str> {
    rules::RULES.iter().map(|rule| rule.name)
}

fn fail_closed(s: &str) -> Cow<'_, str> {
    if s.is_empty() || s == MASK {
        Cow::Borrowed(s)
    } else {
        Cow::Borrowed(MASK)
    }
}

impl Default for Redactor {
    /// [`Redactor::new`] with [`RedactOptions::default`].
    fn default() -> Self {
        Self::new(RedactOptions::default())
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets themselves are never printed.
        f.debug_struct("Redactor")
            .field("options", &self.inner.options)
            .field("secrets", &self.inner.secrets.len())
            .field("fail_closed", &self.inner.fail_closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_is_send_sync_clone_and_cheap_to_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Redactor>();
        let r = Redactor::default();
        let c = r.clone();
        assert!(Arc::ptr_eq(&r.inner, &c.inner));
    }

    #[test]
    fn debug_output_does_not_show_secrets() {
        let r = Redactor::default().with_secrets(["very-secret-value".to_owned()]);
        let debug = format!("{r:?}");
        assert!(!debug.contains("very-secret-value"), "{debug}");
        assert!(debug.contains("secrets: 1"), "{debug}");
    }

    #[test]
    fn a_fresh_redactor_does_not_fail_closed() {
        assert!(!Redactor::default().inner.fail_closed);
    }

    #[test]
    fn keys_split_into_words_at_separators_and_camel_case_humps() {
        fn words(k: &str) -> Vec<&str> {
            key_words(k).collect()
        }
        assert_eq!(words("db_pass"), ["db", "pass"]);
        assert_eq!(words("apiKey"), ["api", "Key"]);
        assert_eq!(words("APIKey"), ["API", "Key"]);
        assert_eq!(words("X-Auth-User"), ["X", "Auth", "User"]);
        assert_eq!(words("AccountKey"), ["Account", "Key"]);
        assert_eq!(words("__a..b__"), ["a", "b"]);
        assert_eq!(words("clé_secrète"), ["clé", "secrète"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn word_keys_are_denied_and_look_alikes_kept() {
        let r = Redactor::default();
        for key in [
            "passphrase",
            "pwd",
            "pass",
            "DB_PASS",
            "auth",
            "X-Auth-User",
            "key",
            "ssh_key",
            "encryption_key",
            "signature",
            "dsn",
            "SENTRY_DSN",
            "apiKey",
            "AccountKey",
            "signing_key",
            "client_secret",
            "refresh_token",
            "sig",
        ] {
            assert_eq!(r.key_verdict(key), KeyVerdict::Redact, "{key}");
        }
        for key in [
            "author",
            "bypass",
            "passed",
            "keys",
            "key_count",
            "public_key",
            "branch",
            "monkey",
            "designation",
            "keyboard_layout",
            "compass",
        ] {
            assert_eq!(r.key_verdict(key), KeyVerdict::Keep, "{key}");
        }
    }

    #[test]
    fn choo_history_api_deny_list_keys_are_redacted_by_default_and_author_is_not() {
        // HISTORY-API.md's redactPayload list, every one in the default mode.
        let r = Redactor::default();
        for key in [
            "token",
            "api_key",
            "apiKey",
            "secret",
            "password",
            "credentials",
            "auth",
            "authorization",
            "AUTH",
        ] {
            assert_eq!(r.key_verdict(key), KeyVerdict::Redact, "{key}");
        }
        for key in ["author", "authors", "authored_at", "author_email", "unit"] {
            assert_eq!(r.key_verdict(key), KeyVerdict::Keep, "{key}");
        }
    }

    #[test]
    fn key_verdicts_follow_the_mode_and_the_extra_lists() {
        let deny = Redactor::new(RedactOptions {
            extra_allowed_keys: vec!["Session_Count".into()],
            extra_denied_keys: vec!["ssn".into()],
            ..RedactOptions::default()
        });
        assert_eq!(deny.key_verdict("GITHUB_TOKEN"), KeyVerdict::Redact);
        assert_eq!(deny.key_verdict("session_count"), KeyVerdict::Keep);
        assert_eq!(deny.key_verdict("user_ssn"), KeyVerdict::Redact);
        assert_eq!(deny.key_verdict("branch"), KeyVerdict::Keep);

        let allow = Redactor::new(RedactOptions {
            mode: Mode::AllowList,
            extra_allowed_keys: vec!["Session_Count".into(), "title".into()],
            extra_denied_keys: vec!["title".into()],
            ..RedactOptions::default()
        });
        assert_eq!(allow.key_verdict("Branch"), KeyVerdict::Keep);
        assert_eq!(allow.key_verdict("session_count"), KeyVerdict::Keep);
        assert_eq!(allow.key_verdict("output"), KeyVerdict::Redact);
        assert_eq!(
            allow.key_verdict("title"),
            KeyVerdict::Redact,
            "denied wins"
        );
    }
}
