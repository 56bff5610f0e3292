//! A private key's base64 body without its `BEGIN` line: lines of exactly 64
//! base64 characters, as PEM writes them.
//!
//! A key pasted into a log one line at a time, split into an array of lines, or
//! cut off before its `BEGIN` line has no anchor the token rules could find. Its
//! lines still have PEM's shape: exactly 64 characters of the base64 alphabet, in
//! both cases and with digits (which a hex digest of the same length, all one case,
//! never has). One such line is masked with the base64 lines that follow it (the
//! shorter last line of the body, `=` padding included).
//!
//! This is a byte scan, not a regex: it runs on every string, and has no anchor
//! for the prefilter to find.

/// The length of a PEM body line.
const LINE: usize = 64;

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// The end of the run of base64 characters (and trailing `=` padding) that starts
/// at `start`.
fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_base64(bytes[end]) {
        end += 1;
    }
    while end < bytes.len() && bytes[end] == b'=' {
        end += 1;
    }
    end
}

/// Whether `run` looks like a PEM body line: 64 base64 characters with upper and
/// lower case letters and digits.
fn is_body_line(run: &[u8]) -> bool {
    run.len() == LINE
        && run.iter().any(u8::is_ascii_uppercase)
        && run.iter().any(u8::is_ascii_lowercase)
        && run.iter().any(u8::is_ascii_digit)
}

/// Appends the byte ranges of PEM body lines (and the base64 lines after each) to
/// `spans`; returns whether it found any.
pub(crate) fn find_spans(s: &str, spans: &mut Vec<(usize, usize)>) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < LINE {
        return false;
    }
    let mut found = false;
    let mut i = 0usize;
    while i < bytes.len() {
        if !is_base64(bytes[i]) {
            i += 1;
            continue;
        }
        // `i` starts a run: every run is skipped whole.
        let end = run_end(bytes, i);
        let glued = (i > 0 && is_word_glue(bytes[i - 1]))
            || (end < bytes.len() && is_word_glue(bytes[end]));
        if glued || !is_body_line(bytes.get(i..end).unwrap_or_default()) {
            i = end.max(i + 1);
            continue;
        }
        found = true;
        let start = i;
        let mut stop = end;
        // The base64 lines that follow, separated by whitespace only.
        loop {
            let mut next = stop;
            while next < bytes.len() && bytes[next].is_ascii_whitespace() {
                next += 1;
            }
            if next == stop || next >= bytes.len() || !is_base64(bytes[next]) {
                break;
            }
            let next_end = run_end(bytes, next);
            let glued = next_end < bytes.len() && is_word_glue(bytes[next_end]);
            if glued || next_end - next > LINE {
                break;
            }
            stop = next_end;
        }
        spans.push((start, stop));
        i = stop;
    }
    found
}

/// Characters that join a base64 run to a longer identifier (`a-b`, `a_b`, `a.b`,
/// `\n` in JSON text is not one of them): such a run is part of something else.
fn is_word_glue(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b'%' | b'$' | b'@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seed: &str) -> String {
        seed.chars().cycle().take(LINE).collect()
    }

    #[test]
    fn a_body_line_and_the_lines_after_it_are_found() {
        let body = format!("{}\n{}\nAbC9+/==", line("Mq3Zt8"), line("k2LpR7"));
        let mut spans = Vec::new();
        assert!(find_spans(&body, &mut spans));
        assert_eq!(spans, vec![(0, body.len())]);
    }

    #[test]
    fn hex_digests_and_other_lengths_are_not_body_lines() {
        let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let upper = sha256.to_ascii_uppercase();
        let short = line("Mq3Zt8");
        for s in [sha256, upper.as_str(), &short[..63], &format!("{short}x")] {
            assert!(!find_spans(s, &mut Vec::new()), "{s}");
        }
    }

    #[test]
    fn a_run_glued_to_an_identifier_is_not_a_body_line() {
        let glued = format!("prefix-{}", line("Mq3Zt8"));
        assert!(!find_spans(&glued, &mut Vec::new()));
    }
}
