//! Replacing byte spans with the mask, and cutting text to a byte budget.

use std::borrow::Cow;

/// What every masked span, and every redacted value, becomes.
pub const MASK: &str = "[REDACTED]";

/// The largest char boundary `<= index` (`str::floor_char_boundary`, which is newer
/// than this crate's minimum Rust).
pub(crate) fn floor_char_boundary(s: &str, index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    let mut i = index;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary `>= index`.
pub(crate) fn ceil_char_boundary(s: &str, index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    let mut i = index;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Replaces each span (merged when they overlap or touch) by [`MASK`]. Spans are
/// widened to char boundaries, so a span that is not aligned cannot cause a panic
/// (regex and Aho-Corasick matches of UTF-8 needles always are aligned).
pub(crate) fn apply<'a>(s: &'a str, spans: &mut [(usize, usize)]) -> Cow<'a, str> {
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut copied_to = 0usize;
    let mut current: Option<(usize, usize)> = None;
    for &(start, end) in spans.iter() {
        let start = floor_char_boundary(s, start);
        let end = ceil_char_boundary(s, end);
        match current {
            Some((cs, ce)) if start <= ce => current = Some((cs, ce.max(end))),
            Some((cs, ce)) => {
                out.push_str(s.get(copied_to..cs).unwrap_or_default());
                out.push_str(MASK);
                copied_to = ce;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((cs, ce)) = current {
        out.push_str(s.get(copied_to..cs).unwrap_or_default());
        out.push_str(MASK);
        copied_to = ce;
    }
    out.push_str(s.get(copied_to..).unwrap_or_default());
    Cow::Owned(out)
}

/// Cuts `s` so that it fits in `cap` bytes, ending it with a marker that says how
/// long it was. Unchanged when it already fits.
pub(crate) fn cap_text(s: Cow<'_, str>, cap: usize) -> Cow<'_, str> {
    if s.len() <= cap {
        return s;
    }
    let marker = format!("...[truncated, {} bytes]", s.len());
    let keep = floor_char_boundary(&s, cap.saturating_sub(marker.len()));
    let mut out = String::with_capacity(keep + marker.len());
    out.push_str(s.get(..keep).unwrap_or_default());
    out.push_str(&marker);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_touching_spans_become_one_mask() {
        let mut spans = vec![(6, 9), (2, 4), (3, 6), (12, 13)];
        assert_eq!(
            apply("0123456789abcdef", &mut spans),
            "01[REDACTED]9ab[REDACTED]def"
        );
    }

    #[test]
    fn unaligned_spans_are_widened_to_char_boundaries() {
        // 'é' is two bytes at 1..3; a span starting inside it takes it whole.
        let mut spans = vec![(2, 3)];
        assert_eq!(apply("aéb", &mut spans), "a[REDACTED]b");
    }

    #[test]
    fn cap_text_cuts_on_a_char_boundary_and_fits() {
        let s = "é".repeat(400);
        let capped = cap_text(Cow::Borrowed(&s), 301);
        assert!(capped.len() <= 301, "{}", capped.len());
        assert!(capped.ends_with("...[truncated, 800 bytes]"));
    }
}
