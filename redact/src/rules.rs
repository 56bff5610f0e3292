//! Token-shaped patterns: the built-in rules that find credentials by their shape.
//!
//! The shapes come from gitleaks' default rules (see `docs/ANCHORS.md`, "Secret
//! redaction"), simplified where gitleaks relies on word boundaries: redaction
//! prefers masking a little too much over letting a token through, so a token glued
//! to other characters is still masked.
//!
//! The rules are compiled once per process. Matching runs in steps: one
//! Aho-Corasick search for the rules' anchor literals (`AKIA`, `ghp_`, `://`, ...)
//! and the registered secrets (built by the [`Redactor`](crate::Redactor)) lets most
//! clean strings through in one pass; when an anchor occurs, one [`RegexSet`]
//! answers "does any rule match at all?"; only when it says yes do the individual
//! rules run to find the spans to mask.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// One token shape.
#[derive(Debug)]
pub(crate) struct Rule {
    /// A short name, for tests and debugging.
    pub(crate) name: &'static str,
    /// Literals of which every match contains at least one (compared ignoring ASCII
    /// case): the prefilter that lets a clean string through without running the
    /// regexes.
    pub(crate) anchors: &'static [&'static str],
    /// The pattern (Rust `regex` syntax).
    pub(crate) pattern: &'static str,
    /// Which capture group is masked: 0 masks the whole match; a group number masks
    /// only that group (the `Bearer` value, the `user:pass` of a URL), so the context
    /// that makes a log line readable stays.
    pub(crate) mask_group: usize,
}

/// The built-in rules, in no particular order (overlapping spans are merged).
pub(crate) const RULES: &[Rule] = &[
    Rule {
        name: "aws-access-key-id",
        anchors: &["A3T", "AKIA", "ASIA", "ABIA", "ACCA"],
        pattern: r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        mask_group: 0,
    },
    Rule {
        name: "github-token",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"gh[pousr]_[0-9a-zA-Z]{36}",
        mask_group: 0,
    },
    Rule {
        name: "github-fine-grained-pat",
        anchors: &["github_pat_"],
        pattern: r"github_pat_[0-9A-Za-z_]{82}",
        mask_group: 0,
    },
    Rule {
        name: "gitlab-pat",
        anchors: &["glpat-"],
        pattern: r"glpat-[0-9A-Za-z_-]{20}",
        mask_group: 0,
    },
    Rule {
        // gitleaks has one rule per Slack token kind (bot `xoxb-`, user `xoxp-`,
        // refresh `xoxe-`, legacy `xoxa-`/`xoxo-`/`xoxr-`/`xoxs-`); one shape covers
        // them all here.
        name: "slack-token",
        anchors: &["xox"],
        pattern: r"xox[abeoprs]-[0-9A-Za-z-]{10,}",
        mask_group: 0,
    },
    Rule {
        name: "slack-app-token",
        anchors: &["xapp-"],
        pattern: r"xapp-[0-9]+-[0-9A-Za-z-]{10,}",
        mask_group: 0,
    },
    Rule {
        name: "slack-webhook",
        anchors: &["hooks.slack.com/"],
        pattern: r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{20,}",
        mask_group: 0,
    },
    Rule {
        name: "jwt",
        anchors: &[".ey"],
        pattern: r"ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        mask_group: 0,
    },
    Rule {
        // The whole block, BEGIN line through END line. A block whose END line is
        // missing (a truncated log) is masked to the end of the string.
        name: "pem-private-key",
        anchors: &["-----BEGIN"],
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        mask_group: 0,
    },
    Rule {
        name: "stripe-key",
        anchors: &["k_test_", "k_live_", "k_prod_"],
        pattern: r"(?:sk|rk)_(?:test|live|prod)_[0-9a-zA-Z]{10,99}",
        mask_group: 0,
    },
    Rule {
        name: "google-api-key",
        anchors: &["AIza"],
        pattern: r"AIza[0-9A-Za-z_-]{35}",
        mask_group: 0,
    },
    Rule {
        name: "npm-token",
        anchors: &["npm_"],
        pattern: r"(?i:npm_[a-z0-9]{36})",
        mask_group: 0,
    },
    Rule {
        // `Bearer <token>` anywhere (an `Authorization:` header, a curl command line).
        // At least 8 characters so that prose ("the bearer of bad news") survives.
        name: "bearer-token",
        anchors: &["bearer"],
        pattern: r"(?i:bearer)\s+([A-Za-z0-9._~+/-]{8,}=*)",
        mask_group: 1,
    },
    Rule {
        // `Authorization: <scheme> <credentials>` / `authorization=<credentials>`:
        // masks the credentials whatever the scheme (Basic, Token, Digest, ...).
        name: "authorization-header",
        anchors: &["authorization"],
        pattern: r#"(?i:authorization)\s*[:=]\s*(?:(?i:basic|bearer|token|digest|negotiate|bot)\s+)?([^\s"',;]+)"#,
        mask_group: 1,
    },
    Rule {
        // `scheme://user:pass@host`: the scheme and host stay, `user:pass` goes.
        name: "url-userinfo",
        anchors: &["://"],
        pattern: r#"[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@"'<>]+:[^/\s@"'<>]*)@"#,
        mask_group: 1,
    },
];

/// Every rule's anchors: a string in which none occurs (ignoring ASCII case)
/// matches no rule.
pub(crate) fn anchors() -> impl Iterator<Item = &'static str> {
    RULES.iter().flat_map(|r| r.anchors.iter().copied())
}

/// The compiled rules.
#[derive(Debug)]
pub(crate) struct CompiledRules {
    /// "Does any rule match?" in one pass.
    pub(crate) set: RegexSet,
    /// One regex per rule, same order as [`RULES`], to find the spans.
    pub(crate) each: Vec<Regex>,
}

impl CompiledRules {
    fn build() -> Result<Self, String> {
        let set = RegexSet::new(RULES.iter().map(|r| r.pattern)).map_err(|e| e.to_string())?;
        let each = RULES
            .iter()
            .map(|r| Regex::new(r.pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self { set, each })
    }

    /// Appends the spans (byte ranges) to mask in `s` to `spans`.
    pub(crate) fn find_spans(&self, s: &str, spans: &mut Vec<(usize, usize)>) {
        for index in self.set.matches(s).iter() {
            let (Some(rule), Some(regex)) = (RULES.get(index), self.each.get(index)) else {
                continue;
            };
            if rule.mask_group == 0 {
                spans.extend(regex.find_iter(s).map(|m| (m.start(), m.end())));
            } else {
                spans.extend(
                    regex
                        .captures_iter(s)
                        .filter_map(|c| c.get(rule.mask_group))
                        .map(|m| (m.start(), m.end())),
                );
            }
        }
    }
}

/// The built-in rules, compiled on first use. `Err` only if a built-in pattern does
/// not compile, which the unit tests rule out; the redactor then fails closed (masks
/// every string) rather than panicking or letting tokens through.
pub(crate) static COMPILED: LazyLock<Result<CompiledRules, String>> =
    LazyLock::new(CompiledRules::build);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_compiles() {
        for rule in RULES {
            let re = Regex::new(rule.pattern);
            assert!(re.is_ok(), "rule {} does not compile: {re:?}", rule.name);
            let re = re.unwrap();
            assert!(
                rule.mask_group < re.captures_len(),
                "rule {} masks a group it does not have",
                rule.name
            );
        }
        assert!(COMPILED.is_ok());
    }

    /// One realistic match per rule, including case variants for the rules that
    /// ignore case.
    const SAMPLES: &[(&str, &str)] = &[
        ("aws-access-key-id", "AKIAIOSFODNN7EXAMPLE"),
        ("aws-access-key-id", "A3TXIOSFODNN7EXAMPLE"),
        ("github-token", "ghr_16C7e42F292c6912E7710c838347Ae178B4a"),
        (
            "github-fine-grained-pat",
            "github_pat_11ABCDEFG0aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_aZ9_",
        ),
        ("gitlab-pat", "glpat-xT3bQ9mZk2LpR7vW1cYd"),
        ("slack-token", "xoxp-2431563342-2431563343-abcdef"),
        ("slack-app-token", "xapp-1-A0123456789-1234567890-abcdef"),
        (
            "slack-webhook",
            "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        (
            "jwt",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        (
            "pem-private-key",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
        ),
        ("stripe-key", "rk_prod_4eC39HqLyjWDarjtT1zdp7dc"),
        ("google-api-key", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
        ("npm-token", "NPM_A1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6Q7R8"),
        ("bearer-token", "BEARER abcdefgh12345678"),
        ("authorization-header", "AUTHORIZATION=Basic dXNlcjpwYXNz"),
        ("url-userinfo", "ftp://user:pass@host"),
    ];

    #[test]
    fn every_rule_match_contains_one_of_its_anchors() {
        let compiled = COMPILED.as_ref().unwrap();
        for rule in RULES {
            assert!(!rule.anchors.is_empty(), "rule {} has no anchor", rule.name);
            let samples: Vec<_> = SAMPLES.iter().filter(|(n, _)| *n == rule.name).collect();
            assert!(!samples.is_empty(), "rule {} has no sample", rule.name);
            for (_, sample) in samples {
                let matched = Regex::new(rule.pattern)
                    .unwrap()
                    .find(sample)
                    .map(|m| m.as_str());
                let matched = matched.unwrap_or_else(|| panic!("{} misses {sample}", rule.name));
                let lower = matched.to_ascii_lowercase();
                assert!(
                    rule.anchors
                        .iter()
                        .any(|a| lower.contains(&a.to_ascii_lowercase())),
                    "{}: no anchor in {matched}",
                    rule.name
                );
                assert!(compiled.set.is_match(sample), "{}: {sample}", rule.name);
            }
        }
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }
}
