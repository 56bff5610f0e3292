#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The redaction layers, as a specification: what goes, what stays.

use std::borrow::Cow;

use otto_hooks_redact::{Mode, RedactOptions, Redactor};
use serde_json::{Value, json};

const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_STS: &str = "ASIAY34FZKBOKMUTVV7A";
const GITHUB: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const GITHUB_SERVER: &str = "ghs_Xa9bC8dE7fG6hI5jK4lM3nO2pQ1rS0tUvWxY";
const GITLAB: &str = "glpat-xT3bQ9mZk2LpR7vW1cYd";
const SLACK: &str = "xoxb-2431563342-2431563343-Zk9rYWxhc2Rmc2FkZmFz";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const STRIPE: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
const GOOGLE: &str = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe";
const NPM: &str = "npm_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8";
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx5bYQvK3n0VfW8\nk2m9QpL7sT4uV1wX0yZ3aB6cD9eF2g\n-----END RSA PRIVATE KEY-----";

fn github_pat() -> String {
    format!("github_pat_11ABCDEFG0{}", "aZ9_".repeat(18)) // 10 + 72 = 82 after the prefix
}

/// Every token shape, with a recognisable piece that must not survive.
fn planted() -> Vec<(&'static str, String)> {
    vec![
        ("aws", AWS.to_owned()),
        ("aws-sts", AWS_STS.to_owned()),
        ("github", GITHUB.to_owned()),
        ("github-server", GITHUB_SERVER.to_owned()),
        ("github-pat", github_pat()),
        ("gitlab", GITLAB.to_owned()),
        ("slack", SLACK.to_owned()),
        ("jwt", JWT.to_owned()),
        ("stripe", STRIPE.to_owned()),
        ("google", GOOGLE.to_owned()),
        ("npm", NPM.to_owned()),
        ("npm-upper", NPM.to_uppercase()),
        ("pem", PEM.to_owned()),
    ]
}

fn redactor() -> Redactor {
    Redactor::new(RedactOptions::default())
}

fn allow_list() -> Redactor {
    Redactor::new(RedactOptions {
        mode: Mode::AllowList,
        ..RedactOptions::default()
    })
}

fn payload(r: &Redactor, value: &Value) -> Value {
    let input = value.to_string();
    let out = r.redact_payload(&input).unwrap();
    serde_json::from_str(out.as_str()).unwrap()
}

#[test]
fn every_token_shape_inside_a_longer_string_is_masked_and_the_context_kept() {
    let r = redactor();
    for (name, token) in planted() {
        let text = format!("step 3 failed: using {token} for the upload (exit 1)");
        let out = r.redact_text(&text);
        assert!(!out.contains(&token), "{name}: {out}");
        assert!(out.contains("[REDACTED]"), "{name}: {out}");
        assert!(out.starts_with("step 3 failed: using "), "{name}: {out}");
        assert!(out.ends_with(" for the upload (exit 1)"), "{name}: {out}");
    }
}

#[test]
fn a_token_glued_to_other_characters_is_still_masked() {
    let r = redactor();
    let text = format!("key={AWS};other={GITHUB}\"");
    let out = r.redact_text(&text);
    assert_eq!(out, "key=[REDACTED];other=[REDACTED]\"");
}

#[test]
fn every_token_shape_in_nested_payload_objects_and_arrays_is_masked() {
    for r in [redactor(), allow_list()] {
        for (name, token) in planted() {
            let input = json!({
                "title": format!("deploy with {token}"),
                "graph": {"nodes": [{"id": "a", "status": token}], "levels": [[token.clone()]]},
                "value": [[{"reason": format!("x {token} y")}]],
            });
            let text = r.redact_payload(&input.to_string()).unwrap().into_string();
            assert!(!text.contains(&token), "{name}: {text}");
            // The escaped form would also betray the token (PEM has newlines).
            let escaped = Value::String(token.clone()).to_string();
            assert!(!text.contains(escaped.trim_matches('"')), "{name}: {text}");
            let out: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(out["title"], "deploy with [REDACTED]", "{name}");
            assert_eq!(out["graph"]["nodes"][0]["id"], "a", "{name}");
            assert_eq!(out["value"][0][0]["reason"], "x [REDACTED] y", "{name}");
        }
    }
}

#[test]
fn a_pem_block_is_masked_whole_from_begin_to_end_line() {
    let r = redactor();
    let text = format!("key file:\n{PEM}\nthen more output");
    assert_eq!(
        r.redact_text(&text),
        "key file:\n[REDACTED]\nthen more output"
    );
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    assert_eq!(r.redact_text(&format!("a {openssh} b")), "a [REDACTED] b");
}

#[test]
fn a_pem_block_without_its_end_line_is_masked_to_the_end() {
    let r = redactor();
    let out = r.redact_text("got: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVW...");
    assert_eq!(out, "got: [REDACTED]");
}

#[test]
fn bearer_and_authorization_values_are_masked_and_the_header_name_kept() {
    let r = redactor();
    assert_eq!(
        r.redact_text("Authorization: Bearer abc123def456ghi789"),
        "Authorization: Bearer [REDACTED]"
    );
    assert_eq!(
        r.redact_text("curl -H \"authorization: token 0123456789abcdef\" https://api.example.com"),
        "curl -H \"authorization: token [REDACTED]\" https://api.example.com"
    );
    assert_eq!(
        r.redact_text("sent bearer dGhpcyBpcyBhIHRva2Vu== to the proxy"),
        "sent bearer [REDACTED] to the proxy"
    );
}

#[test]
fn url_userinfo_is_masked_and_scheme_and_host_kept() {
    let r = redactor();
    assert_eq!(
        r.redact_text("git push https://deploy:s3cr3tP4ss@git.example.com/repo.git main"),
        "git push https://[REDACTED]@git.example.com/repo.git main"
    );
    assert_eq!(
        r.redact_text("postgres://app:pw@db:5432/otto"),
        "postgres://[REDACTED]@db:5432/otto"
    );
    let out = payload(
        &allow_list(),
        &json!({"url": "https://x-access-token:abcd@github.com/o/r"}),
    );
    assert_eq!(out, json!({"url": "https://[REDACTED]@github.com/o/r"}));
}

#[test]
fn look_alikes_that_are_not_tokens_are_kept() {
    let r = redactor();
    for text in [
        "AKIA",
        "AKIA is the prefix of an AWS key id",
        "ghp_short",
        "github_pat_tooShort",
        "glpat-short",
        "sk_test_",
        "tokenizer",
        "the session ended; password prompts were skipped",
        "https://example.com/path?q=1#frag",
        "mail user@example.com or git@github.com:org/repo.git",
        "the bearer of bad news",
        "eyes.eyebrows.eyelashes",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----",
        "npm_install",
        "xoxb-short",
        "Authorization failed for user alice",
        "",
        "日本語のテキスト 🦀 ünïcödé",
    ] {
        let out = r.redact_text(text);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "changed {text:?} into {out:?}"
        );
    }
    let value =
        json!({"kind": "tokenizer", "note": "a secret garden", "url": "https://example.com/path"});
    let input = value.to_string();
    let out = r.redact_payload(&input).unwrap();
    assert!(out.is_unchanged(), "{out}");
}

#[test]
fn denied_keys_are_redacted_at_any_depth_whatever_the_value_type() {
    let r = redactor();
    let input = json!({
        "env": [
            {"GITHUB_TOKEN": "abc", "HOME": "/home/ci"},
            {"name": "x", "api-key": 12345, "ApiKey": true, "api_key": null},
        ],
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "text/plain"},
        "session_id": 42,
        "cookie": {"a": 1},
        "db": {"password": ["p", "q"], "passwd": "x", "client_secret": "y", "credentials": "z"},
        "private-key": "k",
        "branch": "main",
    });
    let out = payload(&r, &input);
    let expected = json!({
        "env": [
            {"GITHUB_TOKEN": "[REDACTED]", "HOME": "/home/ci"},
            {"name": "x", "api-key": "[REDACTED]", "ApiKey": "[REDACTED]", "api_key": "[REDACTED]"},
        ],
        "headers": {"Authorization": "[REDACTED]", "Accept": "text/plain"},
        "session_id": "[REDACTED]",
        "cookie": "[REDACTED]",
        "db": {"password": "[REDACTED]", "passwd": "[REDACTED]", "client_secret": "[REDACTED]", "credentials": "[REDACTED]"},
        "private-key": "[REDACTED]",
        "branch": "main",
    });
    assert_eq!(out, expected);
}

#[test]
fn extra_denied_and_allowed_keys_change_the_deny_list() {
    let r = Redactor::new(RedactOptions {
        extra_denied_keys: vec!["ssn".into()],
        extra_allowed_keys: vec!["session_count".into()],
        ..RedactOptions::default()
    });
    let out = payload(
        &r,
        &json!({"user_ssn": "123", "session_count": 3, "session": "s"}),
    );
    assert_eq!(
        out,
        json!({"user_ssn": "[REDACTED]", "session_count": 3, "session": "[REDACTED]"})
    );
}

#[test]
fn allow_list_keeps_allowed_keys_and_redacts_the_others() {
    let r = allow_list();
    let input = json!({
        "output": "FAIL src/app.test.ts\n  expected 1, got 2",
        "exit_code": 1,
        "branch": "feature/app-shell",
        "nested": {"status": "ok"},
        "Status": "Done",
    });
    let out = payload(&r, &input);
    assert_eq!(
        out,
        json!({"output": "[REDACTED]", "exit_code": 1, "branch": "feature/app-shell", "nested": "[REDACTED]", "Status": "Done"})
    );
}

#[test]
fn allow_list_scans_allowed_string_values_too() {
    let out = payload(
        &allow_list(),
        &json!({"reason": format!("push failed with {GITHUB}")}),
    );
    assert_eq!(out, json!({"reason": "push failed with [REDACTED]"}));
}

#[test]
fn orch_started_graph_survives_allow_list_mode_intact() {
    let graph = r#"{"unit_count":3,"parallelism":2,"graph":{"nodes":[{"id":"app-shell","level":0,"tasks":4,"status":"pending","completed_tasks":0},{"id":"api","level":1,"tasks":2,"status":"pending","completed_tasks":0},{"id":"ui","level":1,"tasks":3,"status":"pending","completed_tasks":0}],"edges":[{"from":"api","to":"app-shell"},{"from":"ui","to":"app-shell"}],"levels":[["app-shell"],["api","ui"]]}}"#;
    for r in [allow_list(), redactor()] {
        let out = r.redact_payload(graph).unwrap();
        assert!(out.is_unchanged());
        assert_eq!(out.as_str(), graph);
        assert!(!out.was_redacted() && !out.was_truncated());
    }
    // The other choo payloads otto-hooks reads survive too.
    for event in [
        json!({"total_tasks": 4, "completed_tasks": 1}),
        json!({"blocked_by": ["api", "ui"]}),
        json!({"branch": "unit/api", "target_branch": "main"}),
        json!({"title": "Add the login form"}),
        json!({"attempt": 2, "reason": "tests failed"}),
        json!({"url": "https://github.com/o/r/pull/12", "branch": "unit/api", "target": "main"}),
        json!({"reason": "signal"}),
        json!({"resumed_from_seq": 50}),
        json!({"value": [1, 2, 3]}),
        json!({"file": "src/a.rs", "path": "/w", "worktree": "/w/.wt/a", "commit": "abc123", "pr_number": 7, "duration": "3s", "duration_ms": 3000}),
    ] {
        assert_eq!(payload(&allow_list(), &event), event);
    }
}

#[test]
fn a_changed_payload_keeps_key_order_and_is_compact() {
    let r = redactor();
    let input = format!(r#"{{ "z": 1, "a": "{AWS}", "m": {{"y": 2, "b": 3}} }}"#);
    let out = r.redact_payload(&input).unwrap();
    assert!(out.was_redacted());
    assert_eq!(
        out.as_str(),
        r#"{"z":1,"a":"[REDACTED]","m":{"y":2,"b":3}}"#
    );
}

#[test]
fn an_escaped_token_is_found_after_unescaping() {
    let r = redactor();
    let out = r
        .redact_payload(r#"{"a":"\u0041KIAIOSFODNN7EXAMPLE"}"#)
        .unwrap();
    assert_eq!(out.as_str(), r#"{"a":"[REDACTED]"}"#);
}

#[test]
fn a_token_split_by_json_escapes_is_found_after_unescaping() {
    let r = redactor();
    let out = r
        .redact_payload(r#"{"url":"https:\/\/deploy:pw@git.example.com\/r"}"#)
        .unwrap();
    assert_eq!(
        out.as_str(),
        r#"{"url":"https://[REDACTED]@git.example.com/r"}"#
    );
    let out = r
        .redact_payload(r#"{"a":"gh\u0070_16C7e42F292c6912E7710c838347Ae178B4a"}"#)
        .unwrap();
    assert_eq!(out.as_str(), r#"{"a":"[REDACTED]"}"#);
}

#[test]
fn a_duplicate_key_cannot_smuggle_a_token_through() {
    let r = redactor();
    let input = format!(r#"{{"note":"{AWS}","note":"clean"}}"#);
    let out = r.redact_payload(&input).unwrap();
    assert!(!out.as_str().contains(AWS), "{out}");
    assert_eq!(out.as_str(), r#"{"note":"clean"}"#);
}

#[test]
fn a_token_used_as_a_key_is_masked_too() {
    let r = redactor();
    let out = payload(&r, &json!({ GITHUB: {"branch": "main"} }));
    assert_eq!(out, json!({"[REDACTED]": {"branch": "main"}}));
}

#[test]
fn non_object_payloads_are_scanned() {
    let r = redactor();
    assert_eq!(
        r.redact_payload(&format!("\"{AWS}\"")).unwrap().as_str(),
        r#""[REDACTED]""#
    );
    assert_eq!(
        r.redact_payload(&format!("[1, \"a {GITLAB}\", null]"))
            .unwrap()
            .as_str(),
        r#"[1,"a [REDACTED]",null]"#
    );
    assert!(r.redact_payload("42").unwrap().is_unchanged());
    assert!(
        allow_list()
            .redact_payload("[\"x\"]")
            .unwrap()
            .is_unchanged()
    );
}

#[test]
fn redacting_twice_changes_nothing_the_second_time() {
    for r in [redactor(), allow_list()] {
        let input = json!({"token": "abc", "reason": format!("{JWT} and {STRIPE}"), "deep": [{"password": 1}]});
        let once = r.redact_payload(&input.to_string()).unwrap().into_string();
        let twice = r.redact_payload(&once).unwrap();
        assert!(twice.is_unchanged(), "{once} -> {twice}");
    }
}

#[test]
fn invalid_json_is_an_error_with_serdes_message() {
    let r = redactor();
    for bad in ["", "{", r#"{"a":}"#, r#"{"a":1} trailing"#, "nul"] {
        let err = r.redact_payload(bad).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("payload is not valid JSON: "),
            "{message}"
        );
        assert!(message.contains("line 1 column"), "{message}");
        assert!(std::error::Error::source(&err).is_some());
    }
}

// ---- registered secrets ----

fn b64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

const SECRET: &str = "Tr0ub4dor&3-horse?";

fn with_secret() -> Redactor {
    redactor().with_secrets([SECRET.to_owned()])
}

#[test]
fn a_registered_secret_is_masked_plain() {
    let r = with_secret();
    assert_eq!(r.secret_count(), 1);
    assert_eq!(
        r.redact_text(&format!("login with {SECRET} failed")),
        "login with [REDACTED] failed"
    );
    let out = payload(
        &allow_list().with_secrets([SECRET.to_owned()]),
        &json!({"reason": SECRET}),
    );
    assert_eq!(out, json!({"reason": "[REDACTED]"}));
}

#[test]
fn a_registered_secret_is_masked_base64_encoded_in_every_alignment_and_both_alphabets() {
    let r = with_secret();
    for prefix in ["", "u", "us", "user:", "admin:", "x-access-token:"] {
        for url_safe in [false, true] {
            let value = format!("{prefix}{SECRET}");
            let encoded = b64(value.as_bytes(), url_safe);
            let text = format!("blob={encoded};");
            let out = r.redact_text(&text);
            assert!(!out.contains(&encoded), "prefix {prefix:?}: {out}");
            assert!(out.contains("[REDACTED]"), "prefix {prefix:?}: {out}");
            // Whatever is left cannot be decoded back to the secret's bytes.
            assert!(
                !out.contains(&b64(SECRET.as_bytes(), url_safe)[..8]),
                "{out}"
            );
        }
    }
}

#[test]
fn a_registered_secret_in_a_basic_header_is_masked() {
    let r = with_secret();
    let header = format!("Basic {}", b64(format!("user:{SECRET}").as_bytes(), false));
    let out = payload(&r, &json!({"request": {"header": header}}));
    let text = out.to_string();
    assert!(!text.contains(&header[6..]), "{text}");
    assert!(text.contains("Basic "), "{text}");
}

#[test]
fn short_and_empty_secrets_are_ignored() {
    let r = redactor().with_secrets(["".to_owned(), "abc".to_owned(), "äöü".to_owned()]);
    assert_eq!(r.secret_count(), 0);
    assert!(matches!(r.redact_text("abc äöü abc"), Cow::Borrowed(_)));
    let r = r.with_secrets(["abcd".to_owned()]);
    assert_eq!(r.secret_count(), 1);
    assert_eq!(r.redact_text("xabcdx"), "x[REDACTED]x");
}

#[test]
fn secrets_accumulate_across_calls_and_overlapping_ones_are_both_masked() {
    let r = redactor()
        .with_secrets(["alpha-secret".to_owned()])
        .with_secrets(["secret-beta".to_owned()]);
    assert_eq!(r.secret_count(), 2);
    assert_eq!(r.redact_text("[alpha-secret-beta]"), "[[REDACTED]]");
}

// ---- size cap ----

fn capped(cap: usize) -> Redactor {
    Redactor::new(RedactOptions {
        max_payload_bytes: cap,
        ..RedactOptions::default()
    })
}

#[test]
fn an_oversized_payload_becomes_a_valid_marker_within_the_cap() {
    let r = redactor();
    let big = json!({"output": "x".repeat(100_000), "branch": "main"}).to_string();
    let out = r.redact_payload(&big).unwrap();
    assert!(out.was_truncated());
    let text = out.as_str();
    assert!(text.len() <= 65_536, "{}", text.len());
    let value: Value = serde_json::from_str(text).unwrap();
    assert_eq!(value["_truncated"], true);
    assert_eq!(value["_original_bytes"], big.len());
    let preview = value["_preview"].as_str().unwrap();
    assert!(big.starts_with(preview));
    assert!(
        preview.len() > 60_000,
        "the preview uses the room: {}",
        preview.len()
    );
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["_truncated", "_original_bytes", "_preview"]);
}

#[test]
fn the_preview_is_redacted_before_it_is_cut() {
    let r = capped(1000);
    let input =
        json!({"a": format!("{AWS} {}", "y".repeat(5000)), "token": "zzz-visible?"}).to_string();
    let out = r.redact_payload(&input).unwrap();
    assert!(out.was_truncated() && out.was_redacted());
    assert!(!out.as_str().contains(AWS));
    assert!(out.as_str().contains("[REDACTED]"));
}

#[test]
fn the_cap_is_safe_with_unicode_and_escapes_for_every_size() {
    let content = "é\"\\\n🦀a".repeat(200);
    let input = json!({"s": content}).to_string();
    for cap in (256..1400).step_by(7) {
        let out = capped(cap).redact_payload(&input).unwrap();
        assert!(
            out.as_str().len() <= cap,
            "cap {cap}: {}",
            out.as_str().len()
        );
        let value: Value = serde_json::from_str(out.as_str()).unwrap();
        assert!(input.starts_with(value["_preview"].as_str().unwrap()));
    }
}

#[test]
fn a_tiny_cap_is_raised_to_the_minimum() {
    let r = capped(10);
    assert_eq!(
        r.options().max_payload_bytes,
        otto_hooks_redact::MIN_MAX_PAYLOAD_BYTES
    );
    let input = json!({"s": "w".repeat(1000)}).to_string();
    let out = r.redact_payload(&input).unwrap();
    assert!(out.as_str().len() <= otto_hooks_redact::MIN_MAX_PAYLOAD_BYTES);
}

#[test]
fn a_clean_pretty_payload_over_the_cap_that_fits_compact_is_compacted_not_truncated() {
    let r = capped(300);
    let value = json!({"levels": [["a"], ["b"]], "branch": "main"});
    let pretty = serde_json::to_string_pretty(&value).unwrap() + &" ".repeat(400);
    let out = r.redact_payload(&pretty).unwrap();
    assert!(!out.was_truncated() && !out.was_redacted());
    assert_eq!(out.as_str(), value.to_string());
}

#[test]
fn redact_error_masks_and_caps() {
    let r = capped(300);
    assert_eq!(
        r.redact_error(&format!("auth with {GITHUB} failed")),
        "auth with [REDACTED] failed"
    );
    assert!(matches!(r.redact_error("plain failure"), Cow::Borrowed(_)));
    let long = format!("{GITHUB} {}", "é".repeat(500));
    let out = r.redact_error(&long);
    assert!(out.len() <= 300, "{}", out.len());
    assert!(out.starts_with("[REDACTED] é"));
    assert!(out.ends_with(&format!(
        "...[truncated, {} bytes]",
        "[REDACTED] ".len() + 1000
    )));
}

// ---- robustness ----

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_string(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "7",
        "_",
        "-",
        ".",
        ":",
        "/",
        "@",
        " ",
        "\n",
        "\"",
        "\\",
        "=",
        "é",
        "🦀",
        "日",
        "\u{0}",
        "AKIA",
        "ASIA",
        "gh",
        "p_",
        "ghp_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "ey",
        "eyJ",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "sk_live_",
        "AIza",
        "npm_",
        "Bearer ",
        "Authorization: ",
        "https://",
        "u:p@",
        "[REDACTED]",
        "ABCDEFGHIJKLMNOP",
        "abcdefghij0123456789",
    ];
    let len = rng.below(40);
    (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

#[test]
fn random_strings_never_panic_and_redaction_is_idempotent() {
    let r = redactor().with_secrets(["ABCDEFGHIJ".to_owned(), "é🦀日é".to_owned()]);
    let small = Redactor::new(RedactOptions {
        max_payload_bytes: 256,
        mode: Mode::AllowList,
        ..RedactOptions::default()
    });
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..5_000 {
        let s = random_string(&mut rng);
        let once = r.redact_text(&s).into_owned();
        assert_eq!(r.redact_text(&once), once, "not idempotent on {s:?}");
        let _ = small.redact_error(&s);
        let key = random_string(&mut rng);
        let input = json!({ key.clone(): s.clone(), "list": [s.clone(), {"token": s.clone()}], "reason": s }).to_string();
        for redactor in [&r, &small] {
            let out = redactor.redact_payload(&input).unwrap();
            assert!(out.as_str().len() <= redactor.options().max_payload_bytes);
            let _: Value = serde_json::from_str(out.as_str()).unwrap();
        }
        // Not JSON at all: an error, not a panic.
        let _ = r.redact_payload(&s);
    }
}

#[test]
fn planted_tokens_in_random_surroundings_never_survive() {
    let r = redactor();
    let tokens = planted();
    let mut rng = Rng(42);
    for _ in 0..3_000 {
        let (name, token) = &tokens[rng.below(tokens.len())];
        let text = format!(
            "{}{} {}",
            random_string(&mut rng),
            token,
            random_string(&mut rng)
        );
        let out = r.redact_text(&text);
        assert!(!out.contains(token.as_str()), "{name} survived in {out:?}");
        let input = json!({"k": [text]}).to_string();
        let payload = r.redact_payload(&input).unwrap();
        assert!(
            !payload.as_str().contains(token.as_str()),
            "{name}: {payload}"
        );
    }
}
