//! The corpus: every planted shape is masked (in text and in a payload), and
//! common non-secrets come out unchanged.

#[path = "corpus/shapes.rs"]
mod shapes;

use otto_hooks_redact::{MASK, RedactOptions, Redactor};
use serde_json::{Value, json};

fn redactor() -> Redactor {
    Redactor::new(RedactOptions::default())
}

#[test]
fn every_planted_shape_is_masked_in_text_errors_and_payloads() {
    let r = redactor();
    for p in shapes::true_positives() {
        let text = r.redact_text(&p.text);
        let error = r.redact_error(&p.text);
        let payload = r
            .redact_payload(&json!({"output": p.text, "list": [p.text]}).to_string())
            .unwrap()
            .into_string();
        for secret in &p.secrets {
            assert!(!text.contains(secret.as_str()), "{}: {text}", p.name);
            assert!(!error.contains(secret.as_str()), "{}: {error}", p.name);
            assert!(!payload.contains(secret.as_str()), "{}: {payload}", p.name);
        }
        assert!(text.contains(MASK), "{}", p.name);
    }
}

#[test]
fn common_non_secrets_are_left_unchanged() {
    let r = redactor().with_secrets(["registered-but-absent".to_owned()]);
    for value in shapes::true_negatives() {
        assert_eq!(r.redact_text(&value), value, "false positive");
        let input = json!({"output": value, "commit": value, "list": [value]}).to_string();
        let out = r.redact_payload(&input).unwrap();
        assert!(out.is_unchanged(), "false positive in a payload: {out}");
    }
}

#[test]
fn a_private_key_split_into_an_array_of_lines_is_masked_line_by_line() {
    let r = redactor();
    let body = shapes::pem_body(3);
    let mut lines = vec!["-----BEGIN OPENSSH PRIVATE KEY-----".to_owned()];
    lines.extend(body.iter().cloned());
    lines.push("-----END OPENSSH PRIVATE KEY-----".to_owned());
    let out = r
        .redact_payload(&json!({"key_lines": "x", "lines": lines}).to_string())
        .unwrap()
        .into_string();
    for line in &body {
        assert!(!out.contains(line.as_str()), "{out}");
    }
    // Without the BEGIN and END lines, the full 64-character lines still go.
    let out = r
        .redact_payload(&json!({"lines": body}).to_string())
        .unwrap()
        .into_string();
    assert!(
        !out.contains(body[0].as_str()) && !out.contains(body[1].as_str()),
        "{out}"
    );
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

#[test]
fn a_registered_secret_is_masked_in_every_encoding() {
    let secret = "Tr0ub4dor&3 horse/x";
    let r = redactor().with_secrets([secret.to_owned()]);
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let forms = [
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        "Tr0ub4dor%263%20horse%2Fx".to_owned(),
        "Tr0ub4dor%263+horse%2fx".to_owned(),
        hex.clone(),
        hex.to_uppercase(),
        base64(secret.as_bytes()),
        base64(format!("bot:{secret}").as_bytes()),
    ];
    for form in &forms {
        let text = format!("deploy with {form} now");
        let out = r.redact_text(&text);
        assert!(!out.contains(form.as_str()), "{form}: {out}");
        assert!(out.contains(MASK), "{form}: {out}");
    }
}

#[test]
fn deny_list_keys_and_their_usual_suffixes_are_redacted() {
    let r = redactor();
    let keys = [
        "passphrase",
        "pwd",
        "pass",
        "auth",
        "key",
        "ssh_key",
        "encryption_key",
        "signature",
        "dsn",
        "deploy_key",
        "webhook_secret",
        "refresh_token",
        "AccountKey",
        "apiKey",
        "X-Auth",
        "db.pass",
    ];
    let mut input = serde_json::Map::new();
    for key in keys {
        input.insert(key.to_owned(), json!("visible-value-1234"));
    }
    input.insert("author".to_owned(), json!("Jane"));
    let out: Value = serde_json::from_str(
        r.redact_payload(&Value::Object(input).to_string())
            .unwrap()
            .as_str(),
    )
    .unwrap();
    for key in keys {
        assert_eq!(out[key], json!(MASK), "{key}");
    }
    assert_eq!(out["author"], json!("Jane"));
}

#[test]
fn a_json_document_inside_a_string_is_redacted_by_its_keys() {
    let r = redactor();
    let inner = json!({"auth": {"user": "bob", "pass": "inner-pass-9931"}, "dsn": "inner-dsn-4471", "ok": 1})
        .to_string();
    let out = r
        .redact_payload(&json!({"body": inner}).to_string())
        .unwrap()
        .into_string();
    assert!(
        !out.contains("inner-pass-9931") && !out.contains("inner-dsn-4471"),
        "{out}"
    );
    let body: Value = serde_json::from_str(&out).unwrap();
    let body: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["ok"], json!(1), "the rest of the document stays");
}
