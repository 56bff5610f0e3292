//! The first pass over every string: which rules' anchors occur in it.
//!
//! One Aho-Corasick search (ASCII case ignored) over the built-in rules' anchors,
//! built once per process, answers "no rule can match" for a clean string; for
//! the others an overlapping search names the few rules whose regexes must run.
//! Running only those is what keeps the rule set cheap as it grows: a `RegexSet`
//! over every rule builds a lazy DFA too large to cache (dozens of patterns,
//! several case-insensitive) and falls back to a slow engine on exactly the
//! strings that need it. Registered secrets have their own matcher (see
//! [`crate::secrets`]), built per redactor: keeping them out of this one keeps
//! adding secrets cheap.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::RULES;

/// A set of rules: bit `i` stands for `RULES[i]`.
pub(crate) type RuleSet = u64;

/// The indices of the rules in `set`.
pub(crate) fn rule_indices(set: RuleSet) -> impl Iterator<Item = usize> {
    (0..64usize).filter(move |i| set & (1u64 << i) != 0)
}

/// The anchors, and which rules own each.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    /// "Does any anchor occur?": leftmost-first, the kind the library picks (it
    /// can skip ahead with its own prefilter, which a DFA built for overlapping
    /// search does not).
    quick: AhoCorasick,
    /// Every occurrence, overlapping, to name the rules.
    matcher: AhoCorasick,
    /// Per pattern, the rules that own it.
    owners: Vec<RuleSet>,
}

/// The built-in rules' anchors, compiled on first use. `Err` only if they cannot
/// be built (more than 64 rules, an automaton too large), which the unit tests rule
/// out; the redactor then fails closed.
pub(crate) static RULES_PREFILTER: LazyLock<Result<Prefilter, String>> =
    LazyLock::new(Prefilter::build);

impl Prefilter {
    fn build() -> Result<Self, String> {
        if RULES.len() > 64 {
            return Err("more than 64 token rules".to_owned());
        }
        let mut owners: BTreeMap<String, RuleSet> = BTreeMap::new();
        for (index, rule) in RULES.iter().enumerate() {
            for anchor in rule.anchors {
                *owners.entry(anchor.to_ascii_lowercase()).or_default() |= 1u64 << index;
            }
        }
        let (patterns, owners): (Vec<String>, Vec<RuleSet>) = owners.into_iter().unzip();
        // A DFA: built once, and the fastest search (the automatic choice would be
        // an NFA for this many needles). `Standard` so that overlapping anchors are
        // all reported.
        let matcher = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        let quick = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            quick,
            matcher,
            owners,
        })
    }

    /// The rules whose anchors occur in `s` (0: none can match).
    pub(crate) fn scan(&self, s: &str) -> RuleSet {
        // Most strings hold no anchor: a plain search (which can stop early and
        // skip ahead) says so faster than the overlapping one.
        if !self.quick.is_match(s) {
            return 0;
        }
        self.matcher
            .find_overlapping_iter(s)
            .filter_map(|m| self.owners.get(m.pattern().as_usize()))
            .fold(0, |set, owners| set | owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_fit_in_the_bit_set_and_the_prefilter_builds() {
        assert!(RULES.len() <= 64);
        assert!(RULES_PREFILTER.is_ok());
    }

    #[test]
    fn a_pass_names_the_rules_of_the_anchors_found_ignoring_case() {
        let p = RULES_PREFILTER.as_ref().unwrap();
        assert_eq!(p.scan("all clean here"), 0);
        let names: Vec<&str> = rule_indices(p.scan("a BEARER and an sk-ANT- key"))
            .map(|i| RULES[i].name)
            .collect();
        assert!(names.contains(&"bearer-token"), "{names:?}");
        assert!(names.contains(&"anthropic-api-key"), "{names:?}");
    }
}
