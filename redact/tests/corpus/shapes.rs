//! The planted-secret corpus: one credential per shape otto-hooks masks (the
//! shapes of gitleaks' default rules, and those an attack sweep planted), and
//! common non-secrets that must come out unchanged.
//!
//! Every token is built in code from an obviously fake filler, so that no
//! token-shaped literal sits in the repository for a secret scanner to flag.
//! Shared by the redaction crate's corpus test and the end-to-end sweep
//! (`tests/tests/redaction_sweep.rs`), which includes this file by path.

#![allow(dead_code)]

/// One planted secret: `text` is where it sits (a log line, a command line, a
/// JSON document), `secrets` the parts that must never be stored.
pub struct Planted {
    pub name: &'static str,
    pub text: String,
    pub secrets: Vec<String>,
}

/// `n` characters of a fake mixed-case alphanumeric filler, shifted by `seed` so
/// that two tokens of one run differ.
pub fn fill(seed: usize, n: usize) -> String {
    const ALPHABET: &str = "Xq7Rk2Vb9Lm4Tz8Wc3Hn6Pd5Jf1Gs0YaEuOi";
    ALPHABET
        .chars()
        .cycle()
        .skip(seed % ALPHABET.len())
        .take(n)
        .collect()
}

/// `n` lower-case hex digits of a fake filler.
pub fn hex(seed: usize, n: usize) -> String {
    "3f9a0c7e1b5d2468"
        .chars()
        .cycle()
        .skip(seed % 16)
        .take(n)
        .collect()
}

/// `n` characters of `[A-Z2-7]` (AWS key ids).
pub fn base32(seed: usize, n: usize) -> String {
    "QZ7XK2VB5LM4TW3HN6PD"
        .chars()
        .cycle()
        .skip(seed % 20)
        .take(n)
        .collect()
}

fn planted(name: &'static str, text: String, secret: String) -> Planted {
    Planted {
        name,
        text,
        secrets: vec![secret],
    }
}

/// A token that must be masked wherever it sits: `text` is `secret` in a line.
fn token(name: &'static str, secret: String) -> Planted {
    planted(
        name,
        format!("step failed: credential {secret} was rejected"),
        secret,
    )
}

/// Three lines of a private key's base64 body (two full PEM lines and the short
/// last one).
pub fn pem_body(seed: usize) -> Vec<String> {
    vec![
        format!("MIIEow{}", fill(seed, 58)),
        fill(seed + 7, 64),
        format!("{}==", fill(seed + 3, 22)),
    ]
}

/// Every true positive.
pub fn true_positives() -> Vec<Planted> {
    let body = pem_body(1);
    let headless = pem_body(5);
    let loose = pem_body(9);
    let joined = pem_body(13);
    let aws_secret = format!("{}/{}", fill(2, 20), fill(4, 19));
    let azure = format!("{}==", fill(6, 86));
    let query_password = format!("Pw{}", fill(8, 14));
    let flag_password = format!("Fl{}", fill(9, 14));
    let env_password = format!("En{}", fill(10, 14));
    let json_secret = format!("Js{}", fill(11, 14));
    let dsn_password = format!("Ds{}", fill(12, 12));
    vec![
        token("aws-access-key-id", format!("AKIA{}", base32(0, 16))),
        planted(
            "aws-secret-access-key",
            format!("export AWS_SECRET_ACCESS_KEY={aws_secret}"),
            aws_secret,
        ),
        token("github-pat", format!("ghp_{}", fill(1, 36))),
        token("github-fine-grained", format!("github_pat_{}", fill(2, 82))),
        token("gitlab-pat", format!("glpat-{}", fill(3, 20))),
        token("gitlab-runner", format!("glrt-{}", fill(4, 24))),
        token("slack-bot", format!("xoxb-1234567890-{}", fill(5, 24))),
        token("slack-app", format!("xapp-1-A0123-{}", fill(6, 20))),
        token(
            "slack-webhook",
            format!("https://hooks.slack.com/services/T0/B0/{}", fill(7, 24)),
        ),
        token(
            "discord-webhook",
            format!("https://discord.com/api/webhooks/123456/{}", fill(8, 68)),
        ),
        token(
            "jwt",
            format!("eyJ{}.eyJ{}.{}", fill(9, 30), fill(10, 40), fill(11, 43)),
        ),
        token("stripe-live", format!("sk_live_{}", fill(12, 24))),
        token("stripe-webhook-secret", format!("whsec_{}", fill(13, 32))),
        token("google-api-key", format!("AIza{}", fill(14, 35))),
        token("npm", format!("npm_{}", fill(15, 36))),
        token("openai-project", format!("sk-proj-{}", fill(16, 120))),
        token(
            "openai-legacy",
            format!("sk-{}T3BlbkFJ{}", fill(17, 20), fill(18, 20)),
        ),
        token("anthropic", format!("sk-ant-api03-{}AA", fill(19, 93))),
        token("sendgrid", format!("SG.{}.{}", fill(20, 22), fill(21, 43))),
        token("docker-pat", format!("dckr_pat_{}", fill(22, 27))),
        token("vault-service", format!("hvs.{}", fill(23, 90))),
        token(
            "azure-ad-client-secret",
            format!("xY7{}Q~{}", 8, fill(24, 34)),
        ),
        token("shopify", format!("shpat_{}", hex(0, 32))),
        token("digitalocean", format!("dop_v1_{}", hex(1, 64))),
        token("pypi", format!("pypi-AgEIcHlwaS5vcmc{}", fill(25, 70))),
        token(
            "huggingface",
            format!("hf_{}", "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH"),
        ),
        token("databricks", format!("dapi{}", hex(2, 32))),
        token("atlassian", format!("ATATT3{}", fill(26, 186))),
        token("linear", format!("lin_api_{}", fill(27, 40))),
        token("postman", format!("PMAK-{}-{}", hex(3, 24), hex(4, 34))),
        token(
            "grafana-service-account",
            format!("glsa_{}_{}", fill(28, 32), hex(5, 8)),
        ),
        token("new-relic", format!("NRAK-{}", fill(29, 27).to_uppercase())),
        token("doppler", format!("dp.pt.{}", fill(30, 43))),
        token("sentry", format!("sntrys_{}", fill(31, 80))),
        token(
            "age",
            format!(
                "AGE-SECRET-KEY-1{}",
                "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
                    .repeat(2)
                    .get(..58)
                    .unwrap_or_default()
            ),
        ),
        token(
            "terraform-cloud",
            format!("{}.atlasv1.{}", fill(32, 14), fill(33, 67)),
        ),
        Planted {
            name: "pem-block",
            text: format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
                body.join("\n")
            ),
            secrets: body,
        },
        Planted {
            name: "pem-body-without-begin",
            text: format!("{}\n-----END RSA PRIVATE KEY-----\n", headless.join("\n")),
            secrets: headless,
        },
        Planted {
            name: "pem-body-lines-alone",
            text: format!("key material:\n{}\n", loose.join("\n")),
            secrets: loose,
        },
        Planted {
            name: "pem-body-joined-with-blanks",
            text: format!("PRIVATE_KEY_LINES={}", joined.join(" ")),
            secrets: joined,
        },
        planted(
            "azure-storage-connection-string",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={azure};EndpointSuffix=core.windows.net"
            ),
            azure,
        ),
        planted(
            "password-in-url-query",
            format!(
                "GET https://api.example.com/login?user=bob&password={query_password}&next=/home"
            ),
            query_password,
        ),
        planted(
            "password-flag",
            format!("mysql --user root --password {flag_password} -h db.internal"),
            flag_password,
        ),
        planted(
            "password-env-text",
            format!("HOME=/root\nDB_PASSWORD={env_password}\nPATH=/usr/bin"),
            env_password,
        ),
        planted(
            "json-inside-a-string",
            format!(r#"request body: {{"user":"bob","passphrase":"{json_secret}"}}"#),
            json_secret,
        ),
        planted(
            "url-userinfo",
            format!("postgres://app:{dsn_password}@db.internal:5432/otto"),
            dsn_password,
        ),
        planted(
            "bearer",
            format!(
                "curl -H 'Authorization: Bearer {}' https://api",
                fill(34, 40)
            ),
            fill(34, 40),
        ),
    ]
}

/// Common values that are not secrets: none may change.
pub fn true_negatives() -> Vec<String> {
    vec![
        // sha1, sha256 and sha512 digests, in both cases
        "da39a3ee5e6b4b0d3255bfef95601890afd80709".to_owned(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".to_owned(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".to_owned(),
        // UUIDs
        "123e4567-e89b-12d3-a456-426614174000".to_owned(),
        "550E8400-E29B-41D4-A716-446655440000".to_owned(),
        // git commit ids
        "commit 3f786850e387550fdab836ed7e6dc881de23001b".to_owned(),
        "HEAD is now at a1b2c3d fix the build".to_owned(),
        // base64 of ordinary text
        "aGVsbG8gd29ybGQsIHRoaXMgaXMgZmluZQ==".to_owned(),
        "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcw==".to_owned(),
        // paths
        "/home/ci/.choo/worktrees/app-shell/src/main.rs".to_owned(),
        "C:\\Users\\ci\\project\\keys\\README.md".to_owned(),
        "PWD=/home/ci/project".to_owned(),
        // versions and times
        "1.2.3-rc.1+build.5".to_owned(),
        "v0.14.2".to_owned(),
        "2025-01-20T14:30:52.123456789Z".to_owned(),
        "2025-01-20 14:30:52".to_owned(),
        "1737383452".to_owned(),
        // prose and everyday key=value text
        "author: Jane Doe".to_owned(),
        "tests pass: 12, fail: 0".to_owned(),
        "bypass=true".to_owned(),
        "max_tokens=4096".to_owned(),
        "sort_key=name".to_owned(),
        "the bearer of bad news".to_owned(),
        "non-secret data".to_owned(),
        "task-build-frontend-components".to_owned(),
        "npm test -- --watch=false".to_owned(),
        "docker run -e HOME=/root image:latest".to_owned(),
        "key_count: 3".to_owned(),
        "msg.txt written".to_owned(),
        "https://github.com/acme/app/pull/42".to_owned(),
        "[REDACTED]".to_owned(),
        // placeholders in help and error texts
        "send `Authorization: Bearer <token>` with the daemon's token".to_owned(),
        "--password <PASSWORD>".to_owned(),
    ]
}
