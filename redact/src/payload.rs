//! Redacting a JSON payload: key policy, string scan, size cap.
//!
//! Most payloads need no change, so the common case is made cheap: one streaming
//! pass over the input (no tree built, strings borrowed from the input) checks every
//! key and string, and when nothing needs redacting the input itself is returned.
//! Only a payload that needs a change is parsed into a tree, rewritten and
//! serialised again (compact, keys in their original order).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::mask::MASK;
use crate::{KeyVerdict, Redactor};

/// A redacted payload: JSON text ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedPayload<'a> {
    json: Cow<'a, str>,
    redacted: bool,
    truncated: bool,
}

impl<'a> RedactedPayload<'a> {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        self.json.into_owned()
    }

    /// The JSON text, borrowed from the input when it is unchanged.
    pub fn into_cow(self) -> Cow<'a, str> {
        self.json
    }

    /// Whether something was masked (a value under a redacted key, a token, a
    /// secret).
    pub fn was_redacted(&self) -> bool {
        self.redacted
    }

    /// Whether the payload was over the cap and replaced by the truncation marker.
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether the input is returned as it was (borrowed, not re-serialised).
    pub fn is_unchanged(&self) -> bool {
        matches!(self.json, Cow::Borrowed(_))
    }
}

impl fmt::Display for RedactedPayload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

/// A payload that is not valid JSON. Its message is serde_json's (with line and
/// column); the caller decides what to store instead.
#[derive(Debug)]
pub struct PayloadError {
    source: serde_json::Error,
}

impl PayloadError {
    /// The line of the error, 1-based.
    pub fn line(&self) -> usize {
        self.source.line()
    }

    /// The column of the error, 1-based.
    pub fn column(&self) -> usize {
        self.source.column()
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payload is not valid JSON: {}", self.source)
    }
}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Redactor {
    /// Redacts a JSON payload (normally an object; any JSON value is accepted).
    ///
    /// - Every object key, at any depth (inside arrays too), is judged by the
    ///   [`Mode`](crate::Mode): a value it does not keep is replaced, whatever its
    ///   type, by the string `"[REDACTED]"`.
    /// - Every kept string value, and every key, goes through
    ///   [`Redactor::redact_text`]. (A key that contains a token is renamed; should
    ///   two keys of one object become equal, the later value wins.)
    /// - If the result, serialised, is longer than
    ///   [`RedactOptions::max_payload_bytes`](crate::RedactOptions::max_payload_bytes),
    ///   it is replaced by
    ///   `{"_truncated":true,"_original_bytes":N,"_preview":"..."}`, where N is the
    ///   length of the redacted serialisation and the preview is its beginning, cut
    ///   on a char boundary so that the whole object fits in the cap.
    ///
    /// A payload that needs no change and fits is returned as it is (borrowed; see
    /// [`RedactedPayload::is_unchanged`]). Otherwise the result is compact JSON with
    /// the keys in their original order; a key that occurs twice in one object keeps
    /// its last value.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] when `json` is not valid JSON (serde_json's message).
    pub fn redact_payload<'a>(&self, json: &'a str) -> Result<RedactedPayload<'a>, PayloadError> {
        let cap = self.max_payload_bytes();
        if json.len() <= cap && self.is_clean(json) {
            return Ok(RedactedPayload {
                json: Cow::Borrowed(json),
                redacted: false,
                truncated: false,
            });
        }
        let mut value: Value =
            serde_json::from_str(json).map_err(|source| PayloadError { source })?;
        let redacted = self.redact_value(&mut value);
        let serialised = serde_json::to_string(&value).map_err(|source| PayloadError { source })?;
        if serialised.len() <= cap {
            return Ok(RedactedPayload {
                json: Cow::Owned(serialised),
                redacted,
                truncated: false,
            });
        }
        Ok(RedactedPayload {
            json: Cow::Owned(truncation_marker(&serialised, cap)),
            redacted,
            truncated: true,
        })
    }

    /// Redacts a parsed value in place (the key policy and the string scan; no size
    /// cap). Returns whether anything changed.
    ///
    /// A string that holds a JSON document (`"{\"password\":\"…\"}"`, a request
    /// body serialised into a field) is parsed and redacted as JSON too, keys
    /// included, and serialised again when that changed it. In an array that holds
    /// a PEM private key's `BEGIN` or `END` line (a key split into lines), every
    /// element that is nothing but base64 is masked too.
    pub fn redact_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => {
                let mut changed = false;
                if let Some(mut inner) = embedded_json(s) {
                    if self.redact_value(&mut inner) {
                        if let Ok(text) = serde_json::to_string(&inner) {
                            *s = text;
                            changed = true;
                        }
                    }
                }
                match self.redact_text(s) {
                    Cow::Owned(new) => {
                        *s = new;
                        true
                    }
                    Cow::Borrowed(_) => changed,
                }
            }
            Value::Array(items) => {
                let pem = items.iter().any(|i| i.as_str().is_some_and(is_pem_marker));
                items.iter_mut().fold(false, |changed, item| {
                    let masked = pem && mask_base64_line(item);
                    (masked || self.redact_value(item)) | changed
                })
            }
            Value::Object(map) => self.redact_object(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    fn redact_object(&self, map: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        if map.keys().any(|k| self.needs_redaction(k)) {
            let old = std::mem::take(map);
            for (key, value) in old {
                let key = match self.redact_text(&key) {
                    Cow::Owned(new) => new,
                    Cow::Borrowed(_) => key,
                };
                map.insert(key, value);
            }
            changed = true;
        }
        for (key, value) in map.iter_mut() {
            match self.key_verdict(key) {
                KeyVerdict::Redact => {
                    if value.as_str() != Some(MASK) {
                        *value = Value::String(MASK.to_owned());
                        changed = true;
                    }
                }
                KeyVerdict::Keep => changed |= self.redact_value(value),
            }
        }
        changed
    }

    /// One streaming pass: true when `json` is valid and needs no change at all.
    fn is_clean(&self, json: &str) -> bool {
        // Without escapes every decoded key and string is a substring of the input,
        // so one prefilter pass over the whole input can clear them all at once
        // (cheaper than one call per string); only the key policy is left to check.
        let scan_strings = json.contains('\\') || self.needs_redaction(json);
        let mut de = serde_json::Deserializer::from_str(json);
        let scan = Scan {
            redactor: self,
            expect_mask: false,
            scan_strings,
        };
        scan.deserialize(&mut de).is_ok() && de.end().is_ok()
    }
}

/// The JSON document a string holds, when it holds one: an object or an array
/// (scalars are left to the text scan).
fn embedded_json(s: &str) -> Option<Value> {
    let t = s.trim();
    let framed =
        (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
    if !framed {
        return None;
    }
    serde_json::from_str(t).ok()
}

/// Whether a string holds a PEM private key's `BEGIN` or `END` line.
fn is_pem_marker(s: &str) -> bool {
    s.contains("PRIVATE KEY-----") || s.contains("PRIVATE KEY BLOCK-----")
}

/// Whether a string is nothing but base64 (a line of a key's body).
fn is_base64_line(s: &str) -> bool {
    let t = s.trim();
    t.len() >= 4
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Masks `value` if it is a base64 line; returns whether it did.
fn mask_base64_line(value: &mut Value) -> bool {
    if value.as_str().is_some_and(is_base64_line) {
        *value = Value::String(MASK.to_owned());
        true
    } else {
        false
    }
}

/// The clean-check visitor. It fails (with a throw-away error) as soon as something
/// would change; the caller then takes the slow path, which also reports genuine
/// syntax errors.
struct Scan<'r> {
    redactor: &'r Redactor,
    /// The value is under a redacted key: clean only if it is already the mask.
    expect_mask: bool,
    /// Whether strings and keys must be checked one by one (false when the whole
    /// input was found clean).
    scan_strings: bool,
}

fn dirty<E: de::Error>() -> E {
    E::custom("needs redaction")
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let clean = if self.expect_mask {
            v == MASK
        } else if !self.scan_strings {
            true
        } else {
            // A JSON document inside the string is judged as a payload (its keys
            // too); it can only hold strings with quotes, that is with escapes, so
            // only when strings are scanned.
            !self.redactor.needs_redaction(v)
                && (embedded_json(v).is_none() || self.redactor.is_clean(v.trim()))
        };
        if clean { Ok(()) } else { Err(dirty()) }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.expect_mask {
            return Err(dirty());
        }
        while seq
            .next_element_seed(Scan {
                redactor: self.redactor,
                expect_mask: false,
                scan_strings: self.scan_strings,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.expect_mask {
            return Err(dirty());
        }
        // Keys seen so far, to catch a duplicate: the slow path would drop the
        // earlier value, so returning the input as it is would not be the same. The
        // first few live on the stack (most objects are small); a key with escapes
        // (rare) is not borrowed from the input and sends the payload down the slow
        // path.
        const ON_STACK: usize = 16;
        let mut first: [&'de str; ON_STACK] = [""; ON_STACK];
        let mut count = 0usize;
        let mut rest: HashSet<&'de str> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let Cow::Borrowed(key) = key else {
                return Err(dirty());
            };
            let duplicate = first[..count.min(ON_STACK)].contains(&key) || rest.contains(key);
            if duplicate || (self.scan_strings && self.redactor.needs_redaction(key)) {
                return Err(dirty());
            }
            let expect_mask = self.redactor.key_verdict(key) == KeyVerdict::Redact;
            map.next_value_seed(Scan {
                redactor: self.redactor,
                expect_mask,
                scan_strings: self.scan_strings,
            })?;
            match first.get_mut(count) {
                Some(slot) => *slot = key,
                None => {
                    rest.insert(key);
                }
            }
            count += 1;
        }
        Ok(())
    }
}

impl Scan<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.expect_mask {
            Err(dirty())
        } else {
            Ok(())
        }
    }
}

/// Reads an object key, borrowing it from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// The bytes `c` takes once serde_json has escaped it inside a string.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `{"_truncated":true,"_original_bytes":N,"_preview":"..."}` fitting in `cap`
/// bytes (`cap` is at least [`MIN_MAX_PAYLOAD_BYTES`](crate::MIN_MAX_PAYLOAD_BYTES),
/// so the marker with an empty preview always fits).
fn truncation_marker(serialised: &str, cap: usize) -> String {
    let marker = |preview: &str| {
        let mut map = Map::new();
        map.insert("_truncated".to_owned(), Value::Bool(true));
        map.insert("_original_bytes".to_owned(), Value::from(serialised.len()));
        map.insert("_preview".to_owned(), Value::String(preview.to_owned()));
        Value::Object(map).to_string()
    };
    let overhead = marker("").len();
    let budget = cap.saturating_sub(overhead);
    let mut used = 0usize;
    let mut end = 0usize;
    for (index, c) in serialised.char_indices() {
        used += escaped_len(c);
        if used > budget {
            break;
        }
        end = index + c.len_utf8();
    }
    let text = marker(serialised.get(..end).unwrap_or_default());
    if text.len() <= cap { text } else { marker("") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_len_agrees_with_serde_json() {
        for c in [
            'a', '"', '\\', '\n', '\u{1}', '\u{7f}', 'é', '€', '🦀', '\u{8}',
        ] {
            let quoted = Value::String(c.to_string()).to_string();
            assert_eq!(escaped_len(c), quoted.len() - 2, "{c:?}");
        }
    }

    #[test]
    fn truncation_marker_fits_exactly_up_to_the_cap() {
        let big = "\"\\é".repeat(500);
        for cap in [256, 257, 300, 1000] {
            let text = truncation_marker(&big, cap);
            assert!(text.len() <= cap, "cap {cap}: {}", text.len());
            assert!(
                text.len() + 6 > cap,
                "cap {cap}: {} wastes room",
                text.len()
            );
        }
    }
}
