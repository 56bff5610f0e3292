//! Token-shaped patterns: the built-in rules that find credentials by their shape.
//!
//! The shapes come from gitleaks' default rules (see `docs/ANCHORS.md`, "Secret
//! redaction"), simplified where gitleaks relies on word boundaries: redaction
//! prefers masking a little too much over letting a token through, so a token glued
//! to other characters is still masked.
//!
//! The rules are compiled once per process. Matching runs in steps: one
//! Aho-Corasick search for the rules' anchor literals (`AKIA`, `ghp_`, `://`, ...)
//! and the registered secrets (see [`crate::prefilter`]) lets most clean strings
//! through in one pass and names, for the others, the rules whose anchors occur;
//! only those rules' regexes run.

use std::sync::LazyLock;

use regex::Regex;

use crate::prefilter::{RuleSet, rule_indices};

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
    /// What is masked: 0 masks the whole match; 1 masks every capture group that
    /// took part in the match (the `Bearer` value, the `user:pass` of a URL, the
    /// quoted or bare value of `PASSWORD=…`), so the context that makes a log line
    /// readable stays.
    pub(crate) mask_group: usize,
}

/// The built-in rules, in no particular order (overlapping spans are merged).
///
/// Each rule needs anchors that rarely occur in clean text: the anchors decide,
/// in one pass over a string, whether any regex runs at all.
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
        // Personal, pipeline-trigger, deploy and runner tokens, and runner
        // registration tokens.
        name: "gitlab-token",
        anchors: &["glp", "gldt-", "glrt-", "GR1348941"],
        pattern: r"(?:gl(?:pat|ptt|dt|rt)-|GR1348941)[0-9A-Za-z_-]{20,}",
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
        name: "discord-webhook",
        anchors: &["/api/webhooks/"],
        pattern: r"/api/webhooks/[0-9]+/[A-Za-z0-9_-]{20,}",
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
        anchors: &["-----"],
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        mask_group: 0,
    },
    Rule {
        // A block whose BEGIN line was cut off (a log that starts mid-key): the END
        // line and the base64 lines before it.
        name: "pem-private-key-end",
        anchors: &["-----"],
        pattern: r"(?:[A-Za-z0-9+/=]{4,}\s*)*-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        mask_group: 0,
    },
    Rule {
        // A private key's DER body in base64 on one line (an environment variable, a
        // JSON field): RSA and PKCS#8 keys start `MII`, EC keys `MHc`, OpenSSH keys
        // `b3BlbnNzaC1rZXktdjE` ("openssh-key-v1").
        name: "private-key-body",
        anchors: &["MII", "MHc", "b3BlbnNzaC1rZXktdjE"],
        pattern: r"(?:MII[A-Za-z0-9+/]{60,}|MHc[A-Za-z0-9+/]{60,}|b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/]{40,})={0,2}",
        mask_group: 0,
    },
    Rule {
        name: "stripe-key",
        anchors: &["k_test_", "k_live_", "k_prod_", "whsec_"],
        pattern: r"(?:(?:sk|rk)_(?:test|live|prod)_[0-9a-zA-Z]{10,99}|whsec_[0-9a-zA-Z]{24,})",
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
        // Project keys (`sk-proj-…`), and every OpenAI key's `T3BlbkFJ` marker
        // ("OpenAI" in base64: service-account, admin and legacy keys hold it).
        name: "openai-api-key",
        anchors: &["sk-proj-", "T3BlbkFJ"],
        pattern: r"sk-proj-[A-Za-z0-9_-]{20,}|[A-Za-z0-9_-]*T3BlbkFJ[A-Za-z0-9_-]*",
        mask_group: 0,
    },
    Rule {
        name: "anthropic-api-key",
        anchors: &["sk-ant-"],
        pattern: r"sk-ant-[A-Za-z0-9_-]{20,}",
        mask_group: 0,
    },
    Rule {
        name: "sendgrid-api-key",
        anchors: &["SG."],
        pattern: r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{32,64}",
        mask_group: 0,
    },
    Rule {
        name: "docker-pat",
        anchors: &["dckr_"],
        pattern: r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,}",
        mask_group: 0,
    },
    Rule {
        // Vault service and batch tokens.
        name: "vault-token",
        anchors: &["hvs.", "hvb."],
        pattern: r"hv[sb]\.[A-Za-z0-9_-]{20,}",
        mask_group: 0,
    },
    Rule {
        name: "azure-ad-client-secret",
        anchors: &["Q~"],
        pattern: r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
        mask_group: 0,
    },
    Rule {
        name: "shopify-token",
        anchors: &["shp"],
        pattern: r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        mask_group: 0,
    },
    Rule {
        name: "digitalocean-token",
        anchors: &["_v1_"],
        pattern: r"do[opr]_v1_[a-f0-9]{64}",
        mask_group: 0,
    },
    Rule {
        name: "pypi-token",
        anchors: &["pypi-AgEIcHlwaS5vcmc"],
        pattern: r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        mask_group: 0,
    },
    Rule {
        name: "huggingface-token",
        anchors: &["hf_"],
        pattern: r"hf_[A-Za-z]{34}",
        mask_group: 0,
    },
    Rule {
        name: "databricks-token",
        anchors: &["dapi"],
        pattern: r"dapi[a-f0-9]{32}(?:-[0-9])?",
        mask_group: 0,
    },
    Rule {
        name: "atlassian-api-token",
        anchors: &["ATATT3"],
        pattern: r"ATATT3[A-Za-z0-9_=-]{40,}",
        mask_group: 0,
    },
    Rule {
        name: "linear-api-key",
        anchors: &["lin_api_"],
        pattern: r"lin_api_[A-Za-z0-9]{40}",
        mask_group: 0,
    },
    Rule {
        name: "postman-api-token",
        anchors: &["PMAK-"],
        pattern: r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
        mask_group: 0,
    },
    Rule {
        name: "grafana-token",
        anchors: &["glc_", "glsa_"],
        pattern: r"glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
        mask_group: 0,
    },
    Rule {
        name: "new-relic-key",
        anchors: &["NRAK-"],
        pattern: r"NRAK-[A-Za-z0-9]{19,}",
        mask_group: 0,
    },
    Rule {
        name: "doppler-token",
        anchors: &["dp."],
        pattern: r"dp\.(?:pt|st|ct)\.[A-Za-z0-9]{40,}",
        mask_group: 0,
    },
    Rule {
        name: "sentry-token",
        anchors: &["sntry"],
        pattern: r"sntry[su]_[A-Za-z0-9+/=_]{40,}",
        mask_group: 0,
    },
    Rule {
        name: "age-secret-key",
        anchors: &["AGE-SECRET-KEY-1"],
        pattern: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        mask_group: 0,
    },
    Rule {
        name: "terraform-cloud-token",
        anchors: &[".atlasv1."],
        pattern: r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}",
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
        // masks the credentials whatever the scheme (Basic, Token, Digest, ...). A
        // value already masked (`Bearer [REDACTED]`) or a placeholder
        // (`Bearer <token>`, in help and error texts) is left as it is.
        name: "authorization-header",
        anchors: &["auth"],
        pattern: r#"(?i:authorization)\s*[:=]\s*(?:(?i:basic|bearer|token|digest|negotiate|bot)\s+(?:[\[<]|([^\s"',;\[<][^\s"',;]*))|([^\s"',;\[<][^\s"',;]*))"#,
        mask_group: 1,
    },
    Rule {
        // `scheme://user:pass@host`: the scheme and host stay, `user:pass` goes.
        name: "url-userinfo",
        anchors: &["://"],
        pattern: r#"[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@"'<>]+:[^/\s@"'<>]*)@"#,
        mask_group: 1,
    },
    Rule {
        // `NAME=value`, `name: value`, `"name": "value"` and `?name=value&` where the
        // name ends in a secret's name (after `:`, a bare value needs a blank first,
        // so a URL's `https://x-access-token:…@host` is left to `url-userinfo`):
        // environment text (`PASSWORD=…`,
        // `AWS_SECRET_ACCESS_KEY=…`), a connection string (`AccountKey=…;`), a URL
        // query (`?password=…`), YAML, and JSON serialised inside a string. The name
        // stays, the value goes (a quoted value whole, spaces included). `auth`,
        // `dsn` and `sig` count as a whole word or after `_`, `.` or `-`; `pass` and
        // `pwd` only after one (`DB_PASS=`), so `bypass=`, `author:`, `pass: 12`
        // and `PWD=/home/ci` stay. A value that is already `[REDACTED]` does not
        // match (no value starts with `[`).
        name: "secret-assignment",
        anchors: &[
            "pass",
            "pwd",
            "secret",
            "token",
            "key",
            "auth",
            "credential",
            "dsn",
            "sig",
        ],
        pattern: r#"(?i)(?:(?-u:\b)[a-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|account[_-]?key|ssh[_-]?key|encryption[_-]?key|signing[_-]?key|credentials?|signature)|(?-u:\b)(?:auth|dsn|sig)|[_.-](?:pass|pwd|auth|dsn|sig))["']?[ \t]*(?:=[ \t]*(?:"([^"\[\r\n][^"\r\n]*)"|'([^'\[\r\n][^'\r\n]*)'|([^\s"'&;,<>()\[\]{}]+))|:[ \t]*(?:"([^"\[\r\n][^"\r\n]*)"|'([^'\[\r\n][^'\r\n]*)')|:[ \t]+([^\s"'&;,<>()\[\]{}]+))"#,
        mask_group: 1,
    },
    Rule {
        // `--password <v>`, `--password=<v>`, `--db-pass "<v>"`, `--api-key <v>` on
        // a command line (the flag starts the text or follows a blank or a quote, so
        // prose such as "non-secret data" stays). A following flag
        // (`--password --verbose`) and a placeholder (`--password <PASSWORD>`)
        // are not values.
        name: "secret-cli-flag",
        anchors: &["pass", "pwd", "secret", "token", "key"],
        pattern: r#"(?i)(?:^|[ \t"'])--?[a-z0-9-]*(?:password|passwd|passphrase|secret|token|api-?key|access-?key|private-?key|-pass|-pwd)(?:=|[ \t]+)(?:"([^"\[\r\n][^"\r\n]*)"|'([^'\[\r\n][^'\r\n]*)'|([^\s"'\-\[<][^\s"']*))"#,
        mask_group: 1,
    },
];

/// The compiled rules.
#[derive(Debug)]
pub(crate) struct CompiledRules {
    /// One regex per rule, same order as [`RULES`]. Only the rules whose anchors
    /// occur in a string run on it (see [`crate::prefilter`]).
    pub(crate) each: Vec<Regex>,
}

impl CompiledRules {
    fn build() -> Result<Self, String> {
        let each = RULES
            .iter()
            .map(|r| Regex::new(r.pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self { each })
    }

    /// Whether one of the rules in `hits` would mask something in `s` (for a
    /// rule that masks groups, a match in which a group takes part: `Bearer
    /// <token>` matches and masks nothing).
    pub(crate) fn is_match(&self, s: &str, hits: RuleSet) -> bool {
        rule_indices(hits).any(|i| {
            let (Some(rule), Some(re)) = (RULES.get(i), self.each.get(i)) else {
                return false;
            };
            if rule.mask_group == 0 {
                re.is_match(s)
            } else {
                re.is_match(s)
                    && re
                        .captures_iter(s)
                        .any(|c| c.iter().skip(1).flatten().next().is_some())
            }
        })
    }

    /// Appends the spans (byte ranges) to mask in `s` to `spans`, for the rules in
    /// `hits`.
    pub(crate) fn find_spans(&self, s: &str, hits: RuleSet, spans: &mut Vec<(usize, usize)>) {
        for index in rule_indices(hits) {
            let (Some(rule), Some(regex)) = (RULES.get(index), self.each.get(index)) else {
                continue;
            };
            if rule.mask_group == 0 {
                spans.extend(regex.find_iter(s).map(|m| (m.start(), m.end())));
            } else {
                for captures in regex.captures_iter(s) {
                    spans.extend(
                        captures
                            .iter()
                            .skip(1)
                            .flatten()
                            .map(|m| (m.start(), m.end())),
                    );
                }
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

    /// `n` characters of a deterministic mixed-case alphanumeric filler, so that no
    /// token-shaped literal sits in the source (secret scanners read it too).
    fn fill(n: usize) -> String {
        "Xq7Rk2Vb9Lm4Tz8Wc3Hn6Pd5Jf1Gs0Ya"
            .chars()
            .cycle()
            .take(n)
            .collect()
    }

    fn hex(n: usize) -> String {
        "3f9a0c7e1b5d2468".chars().cycle().take(n).collect()
    }

    /// One realistic match per rule, including case variants for the rules that
    /// ignore case.
    fn samples() -> Vec<(&'static str, String)> {
        vec![
            ("aws-access-key-id", format!("AKIA{}", "IOSFODNN7EXAMPLE")),
            ("aws-access-key-id", format!("A3TX{}", "IOSFODNN7EXAMPLE")),
            ("github-token", format!("ghr_{}", fill(36))),
            (
                "github-fine-grained-pat",
                format!("github_pat_{}", fill(82)),
            ),
            ("gitlab-token", format!("glpat-{}", fill(20))),
            ("gitlab-token", format!("glrt-{}", fill(24))),
            ("slack-token", format!("xoxp-{}-{}", "2431563342", fill(12))),
            ("slack-app-token", format!("xapp-1-{}", fill(20))),
            (
                "slack-webhook",
                format!("https://hooks.slack.com/services/{}", fill(40)),
            ),
            (
                "discord-webhook",
                format!("https://discord.com/api/webhooks/1234567/{}", fill(60)),
            ),
            (
                "jwt",
                format!("eyJ{}.eyJ{}.{}", fill(20), fill(30), fill(40)),
            ),
            (
                "pem-private-key",
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----".to_owned(),
            ),
            (
                "pem-private-key-end",
                format!("{}\n-----END RSA PRIVATE KEY-----", fill(64)),
            ),
            ("private-key-body", format!("MIIEow{}", fill(80))),
            (
                "private-key-body",
                format!("b3BlbnNzaC1rZXktdjE{}", fill(60)),
            ),
            ("stripe-key", format!("rk_prod_{}", fill(24))),
            ("stripe-key", format!("whsec_{}", fill(32))),
            ("google-api-key", format!("AIza{}", fill(35))),
            ("npm-token", format!("NPM_{}", fill(36).to_uppercase())),
            ("openai-api-key", format!("sk-proj-{}", fill(60))),
            (
                "openai-api-key",
                format!("sk-{}T3BlbkFJ{}", fill(20), fill(20)),
            ),
            ("anthropic-api-key", format!("sk-ant-api03-{}", fill(80))),
            ("sendgrid-api-key", format!("SG.{}.{}", fill(22), fill(43))),
            ("docker-pat", format!("dckr_pat_{}", fill(27))),
            ("vault-token", format!("hvs.{}", fill(90))),
            ("azure-ad-client-secret", format!("abc8Q~{}", fill(34))),
            ("shopify-token", format!("shpat_{}", hex(32))),
            ("digitalocean-token", format!("dop_v1_{}", hex(64))),
            ("pypi-token", format!("pypi-AgEIcHlwaS5vcmc{}", fill(60))),
            (
                "huggingface-token",
                format!("hf_{}", "abcdefghijklmnopqrstuvwxyzABCDEFGH"),
            ),
            ("databricks-token", format!("dapi{}", hex(32))),
            ("atlassian-api-token", format!("ATATT3{}", fill(180))),
            ("linear-api-key", format!("lin_api_{}", fill(40))),
            ("postman-api-token", format!("PMAK-{}-{}", hex(24), hex(34))),
            ("grafana-token", format!("glsa_{}_{}", fill(32), hex(8))),
            ("new-relic-key", format!("NRAK-{}", fill(27).to_uppercase())),
            ("doppler-token", format!("dp.pt.{}", fill(43))),
            ("sentry-token", format!("sntrys_{}", fill(60))),
            (
                "age-secret-key",
                format!(
                    "AGE-SECRET-KEY-1{}",
                    "QPZRY9X8GF".repeat(6).get(..58).unwrap_or_default()
                ),
            ),
            (
                "terraform-cloud-token",
                format!("{}.atlasv1.{}", fill(14), fill(64)),
            ),
            ("bearer-token", "BEARER abcdefgh12345678".to_owned()),
            (
                "authorization-header",
                "AUTHORIZATION=Basic dXNlcjpwYXNz".to_owned(),
            ),
            ("url-userinfo", "ftp://user:pass@host".to_owned()),
            (
                "secret-assignment",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI".to_owned(),
            ),
            ("secret-assignment", "db_pass: 'two words'".to_owned()),
            ("secret-cli-flag", "--password hunter2".to_owned()),
        ]
    }

    #[test]
    fn every_rule_match_contains_one_of_its_anchors() {
        let compiled = COMPILED.as_ref().unwrap();
        for rule in RULES {
            assert!(!rule.anchors.is_empty(), "rule {} has no anchor", rule.name);
            let all = samples();
            let samples: Vec<_> = all.iter().filter(|(n, _)| *n == rule.name).collect();
            assert!(!samples.is_empty(), "rule {} has no sample", rule.name);
            for (_, sample) in samples {
                let matched = Regex::new(rule.pattern)
                    .unwrap()
                    .find(sample)
                    .map(|m| m.as_str());
                let sample = sample.as_str();
                let matched = matched.unwrap_or_else(|| panic!("{} misses {sample}", rule.name));
                let lower = matched.to_ascii_lowercase();
                assert!(
                    rule.anchors
                        .iter()
                        .any(|a| lower.contains(&a.to_ascii_lowercase())),
                    "{}: no anchor in {matched}",
                    rule.name
                );
                let index = RULES.iter().position(|r| r.name == rule.name).unwrap();
                let hits: RuleSet = 1 << index;
                assert!(compiled.is_match(sample, hits), "{}: {sample}", rule.name);
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
