//! The first pass over every string: which rules' anchors and which registered
//! secrets' needles occur in it.
//!
//! One Aho-Corasick search (ASCII case ignored, overlapping matches) answers, for a
//! clean string, "nothing to do"; for the others it names the few rules whose
//! regexes must run. Running only those is what keeps the rule set cheap as it
//! grows: a `RegexSet` over every rule builds a lazy DFA too large to cache
//! (dozens of patterns, several case-insensitive) and falls back to a slow engine
//! on exactly the strings that need it.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::RULES;

/// What one pass found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hits {
    /// Bit `i` set: an anchor of `RULES[i]` occurs.
    pub(crate) rules: u64,
    /// A registered secret's needle occurs.
    pub(crate) secret: bool,
}

impl Hits {
    pub(crate) fn any(self) -> bool {
        self.rules != 0 || self.secret
    }

    /// The indices of the rules whose anchors occur.
    pub(crate) fn rule_indices(self) -> impl Iterator<Item = usize> {
        (0..64usize).filter(move |i| self.rules & (1u64 << i) != 0)
    }
}

/// The anchors and needles, and who owns each.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    matcher: AhoCorasick,
    /// Per pattern: the rules (as a bit set) and whether a secret owns it.
    owners: Vec<Hits>,
}

impl Prefilter {
    /// Builds the pass for the built-in rules and `secret_needles`.
    pub(crate) fn build(secret_needles: &[&str]) -> Result<Self, String> {
        if RULES.len() > 64 {
            return Err("more than 64 token rules".to_owned());
        }
        let mut owners: BTreeMap<String, Hits> = BTreeMap::new();
        for (index, rule) in RULES.iter().enumerate() {
            for anchor in rule.anchors {
                owners.entry(anchor.to_ascii_lowercase()).or_default().rules |= 1u64 << index;
            }
        }
        for needle in secret_needles.iter().filter(|n| !n.is_empty()) {
            owners
                .entry(needle.to_ascii_lowercase())
                .or_default()
                .secret = true;
        }
        let (patterns, owners): (Vec<String>, Vec<Hits>) = owners.into_iter().unzip();
        // A DFA whatever the number of needles (the automatic choice falls back to
        // a slower NFA past about a hundred); `Standard` so that overlapping anchors
        // (`sk-ant-` inside a longer match) are all reported.
        let matcher = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        Ok(Self { matcher, owners })
    }

    /// Which rules and whether a secret may match `s`.
    pub(crate) fn scan(&self, s: &str) -> Hits {
        let mut hits = Hits::default();
        // Most strings hold no anchor: a plain search (which can stop early and
        // skip ahead) says so faster than the overlapping one.
        if !self.matcher.is_match(s) {
            return hits;
        }
        for m in self.matcher.find_overlapping_iter(s) {
            if let Some(owner) = self.owners.get(m.pattern().as_usize()) {
                hits.rules |= owner.rules;
                hits.secret |= owner.secret;
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_fit_in_the_bit_set() {
        assert!(RULES.len() <= 64);
    }

    #[test]
    fn a_pass_names_the_rules_of_the_anchors_found_ignoring_case() {
        let p = Prefilter::build(&["S3cret-Needle"]).unwrap();
        assert_eq!(p.scan("all clean here"), Hits::default());
        let hits = p.scan("a BEARER and an s3CRET-needle");
        assert!(hits.secret);
        let names: Vec<&str> = hits.rule_indices().map(|i| RULES[i].name).collect();
        assert!(names.contains(&"bearer-token"), "{names:?}");
    }
}
