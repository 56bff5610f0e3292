//! Exact-value masking of secrets the orchestrator registers.
//!
//! GitHub Actions' approach, widened: a registered secret is masked as itself, in
//! any ASCII case (`SECRET`, `Secret`), URL-encoded (`%2F`, and `+` for a space,
//! either hex case), hex-encoded (either case) and base64-encoded. A secret base64-encoded as part of a longer value (`user:secret`
//! in a `Basic` header) does not start on a 3-byte boundary, so its encoding depends
//! on what precedes it; only the characters that depend on the secret's bytes alone
//! are the same every time. For each of the three alignments those characters are
//! registered, in the standard and the URL-safe alphabets.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Secrets shorter than this (in characters) are ignored: masking every `abc` in
/// every log would destroy the log and protect nothing.
pub const MIN_SECRET_CHARS: usize = 4;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding (only whole-secret characters are ever used, so padding
/// never matters).
pub(crate) fn base64_no_pad(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let sextet = |n: u32, shift: u32| char::from(alphabet[((n >> shift) & 0x3f) as usize]);
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = chunk.get(1).copied().map_or(0, u32::from);
        let b2 = chunk.get(2).copied().map_or(0, u32::from);
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        if chunk.len() > 1 {
            out.push(sextet(n, 6));
        }
        if chunk.len() > 2 {
            out.push(sextet(n, 0));
        }
    }
    out
}

/// The base64 fragments that appear whenever `secret` is base64-encoded inside a
/// longer value, for the three alignments and both alphabets.
pub(crate) fn base64_fragments(secret: &[u8]) -> Vec<String> {
    let mut fragments = Vec::with_capacity(6);
    for alphabet in [STANDARD, URL_SAFE] {
        for offset in 0..3usize {
            // `offset` filler bytes before the secret; character i of the encoding
            // covers bits [6i, 6i + 6). Keep the characters whose bits all fall
            // inside the secret's bits [8 * offset, 8 * (offset + len)).
            let mut input = vec![0u8; offset];
            input.extend_from_slice(secret);
            let encoded = base64_no_pad(&input, alphabet);
            let start = (8 * offset).div_ceil(6);
            let end = (8 * (offset + secret.len())) / 6;
            if let Some(fragment) = encoded.get(start..end) {
                if !fragment.is_empty() {
                    fragments.push(fragment.to_owned());
                }
            }
        }
    }
    fragments
}

/// The secret percent-encoded as a URL component (every byte but `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX`), and the form-encoded variant (a space as `+`) when it differs.
/// Empty when encoding changes nothing (the plain needle covers it).
pub(crate) fn url_encodings(secret: &str) -> Vec<String> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if secret.bytes().all(unreserved) {
        return Vec::new();
    }
    let encode = |plus_for_space: bool| {
        let mut out = String::with_capacity(secret.len() * 3);
        for b in secret.bytes() {
            if unreserved(b) {
                out.push(char::from(b));
            } else if plus_for_space && b == b' ' {
                out.push('+');
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let mut forms = vec![encode(false)];
    if secret.contains(' ') {
        forms.push(encode(true));
    }
    forms
}

/// The secret's bytes in hex (lower case; the matcher ignores case).
pub(crate) fn hex(secret: &str) -> String {
    secret.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The compiled matcher for the registered secrets.
#[derive(Clone)]
pub(crate) struct SecretMatcher {
    /// Every needle: each secret, its URL and hex encodings and its base64
    /// fragments.
    matcher: AhoCorasick,
    count: usize,
}

impl std::fmt::Debug for SecretMatcher {
    // Never print the secrets themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretMatcher")
            .field("secrets", &self.count)
            .finish_non_exhaustive()
    }
}

impl SecretMatcher {
    /// Builds the matcher; `Ok(None)` when there is nothing to match.
    pub(crate) fn build(secrets: &[String]) -> Result<Option<Self>, aho_corasick::BuildError> {
        if secrets.is_empty() {
            return Ok(None);
        }
        let mut needles: Vec<String> = Vec::with_capacity(secrets.len() * 10);
        for secret in secrets {
            needles.push(secret.clone());
            needles.extend(url_encodings(secret));
            needles.push(hex(secret));
            needles.extend(base64_fragments(secret.as_bytes()));
        }
        needles.sort_unstable();
        needles.dedup();
        // `Standard` so that overlapping occurrences can all be found: a secret and
        // another secret's fragment may overlap, and both must go. ASCII case is
        // ignored: an upper-cased secret, `%2f` or `%2F`, hex in either case. (For a
        // base64 fragment that masks a little more than its exact spelling: masking
        // too much beats storing a token.)
        let matcher = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&needles)?;
        Ok(Some(Self {
            matcher,
            count: secrets.len(),
        }))
    }

    /// Appends the byte ranges of every occurrence (overlapping ones included).
    pub(crate) fn find_spans(&self, s: &str, spans: &mut Vec<(usize, usize)>) {
        spans.extend(
            self.matcher
                .find_overlapping_iter(s)
                .map(|m| (m.start(), m.end())),
        );
    }

    /// Whether any registered secret occurs in `s`.
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodings_escape_reserved_bytes_and_offer_plus_for_space() {
        assert!(url_encodings("plain-Value_1.~").is_empty());
        assert_eq!(url_encodings("a/b c"), vec!["a%2Fb%20c", "a%2Fb+c"]);
        assert_eq!(url_encodings("p@ss:w"), vec!["p%40ss%3Aw"]);
    }

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex("Ab/"), "41622f");
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_no_pad(plain.as_bytes(), STANDARD), encoded);
        }
        assert_eq!(base64_no_pad(&[0xfb, 0xff], STANDARD), "+/8");
        assert_eq!(base64_no_pad(&[0xfb, 0xff], URL_SAFE), "-_8");
    }

    #[test]
    fn a_fragment_of_every_alignment_occurs_in_the_encoding_of_a_longer_value() {
        let secret = b"s3cr3t-value!";
        let fragments = base64_fragments(secret);
        for prefix_len in 0..6usize {
            let mut value = b"xyzuvw"[..prefix_len].to_vec();
            value.extend_from_slice(secret);
            value.extend_from_slice(b"tail");
            for alphabet in [STANDARD, URL_SAFE] {
                let encoded = base64_no_pad(&value, alphabet);
                assert!(
                    fragments.iter().any(|f| encoded.contains(f.as_str())),
                    "prefix {prefix_len}: none of {fragments:?} in {encoded}"
                );
            }
        }
    }
}
