//! A private key's base64 body without its `BEGIN` line: lines of exactly 64
//! base64 characters, as PEM writes them.
//!
//! A key pasted into a log one line at a time, split into an array of lines, or
//! cut off before its `BEGIN` line has no anchor the token rules could find. Its
//! lines still have PEM's shape: exactly 64 characters of the base64 alphabet, in
//! both cases and with digits (which a hex digest of the same length, all one case,
//! never has). One such line is masked with the encoded runs that follow it after
//! whitespace (the next lines, and the shorter last one with its `=` padding, also
//! when the lines were joined with blanks); a plain word ends the body.
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
    // Invariant: `i` is 0, or `i - 1` or `i` is not a base64 byte (`i` follows a
    // skipped byte or ends a run), so no run crosses into `i..` from before it and
    // the backward scan finds where a run holding `i + 63` starts. A run of 64 starting in `i..=i + 63` must hold `i + 63`: when that
    // byte is not base64, the 64 positions are skipped at once (most text).
    let mut i = 0usize;
    while i + LINE <= bytes.len() {
        let probe = i + LINE - 1;
        if !is_base64(bytes[probe]) {
            i = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > i && is_base64(bytes[start - 1]) {
            start -= 1;
        }
        let end = run_end(bytes, start);
        let glued = (start > 0 && is_word_glue(bytes[start - 1]))
            || (end < bytes.len() && is_word_glue(bytes[end]));
        if glued || !is_body_line(bytes.get(start..end).unwrap_or_default()) {
            i = end;
            continue;
        }
        found = true;
        let mut stop = end;
        // The encoded runs that follow, after whitespace (a newline, or a blank
        // where the lines were joined): the rest of the body.
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
            let run = bytes.get(next..next_end).unwrap_or_default();
            if glued || run.len() > LINE || !looks_encoded(run) {
                break;
            }
            stop = next_end;
        }
        spans.push((start, stop));
        i = stop;
    }
    found
}

/// Whether a run after a body line is more of the body rather than a word: it
/// ends in `=` padding, holds `+` or `/`, or mixes letters and digits.
fn looks_encoded(run: &[u8]) -> bool {
    run.last() == Some(&b'=')
        || run.iter().any(|b| matches!(b, b'+' | b'/'))
        || (run.iter().any(u8::is_ascii_digit) && run.iter().any(u8::is_ascii_alphabetic))
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
        for sep in ["\n", "\r\n", " "] {
            let body = format!("{}{sep}{}{sep}AbC9+/==", line("Mq3Zt8"), line("k2LpR7"));
            let mut spans = Vec::new();
            assert!(find_spans(&body, &mut spans));
            assert_eq!(spans, vec![(0, body.len())], "{sep:?}");
        }
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
    fn body_lines_are_found_wherever_they_start() {
        let body = line("Mq3Zt8");
        for prefix in ["", "x ", "ab==", "a long sentence before it: ", "\n\n"] {
            for suffix in ["", " tail", "\n"] {
                let s = format!("{prefix}{body}{suffix}");
                let mut spans = Vec::new();
                assert!(find_spans(&s, &mut spans), "{s:?}");
                assert_eq!(spans, vec![(prefix.len(), prefix.len() + LINE)], "{s:?}");
            }
        }
        let two = format!("{body} and {body}");
        let mut spans = Vec::new();
        assert!(find_spans(&two, &mut spans));
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn a_run_glued_to_an_identifier_is_not_a_body_line() {
        let glued = format!("prefix-{}", line("Mq3Zt8"));
        assert!(!find_spans(&glued, &mut Vec::new()));
    }
}
