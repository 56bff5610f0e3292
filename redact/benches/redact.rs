//! Nanoseconds per redaction of a typical ~200-byte choo event payload.
//!
//! Run with `cargo bench -p otto-hooks-redact`. Prints, for each case, the median
//! of several timed batches and its ratio to a baseline measured in the same run:
//! serde_json parsing the same payload into a `Value` and serialising it again
//! (what any redaction that rewrites the payload must at least pay).

use std::hint::black_box;
use std::time::Instant;

use otto_hooks_redact::{Mode, RedactOptions, Redactor};

const BATCHES: usize = 15;
const PER_BATCH: usize = 20_000;

/// The median nanoseconds per call of `f`.
fn measure(mut f: impl FnMut()) -> f64 {
    for _ in 0..PER_BATCH {
        f();
    }
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PER_BATCH {
                f();
            }
            start.elapsed().as_nanos() as f64 / PER_BATCH as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[BATCHES / 2]
}

fn main() {
    let clean = r#"{"output":"FAIL src/components/AppShell.test.tsx > renders the sidebar\nexpected 3 items, got 2\n  at AppShell.test.tsx:41:7","exit_code":1,"branch":"unit/app-shell","attempt":2}"#;
    let with_token = r#"{"output":"git push https://github.com/acme/app.git failed: token ghp_16C7e42F292c6912E7710c838347Ae178B4a expired","exit_code":128,"branch":"unit/app-shell","attempt":2}"#;
    let graph = r#"{"unit_count":3,"parallelism":2,"graph":{"nodes":[{"id":"app-shell","level":0,"tasks":4,"status":"pending","completed_tasks":0},{"id":"api","level":1,"tasks":2,"status":"pending","completed_tasks":0}],"edges":[{"from":"api","to":"app-shell"}],"levels":[["app-shell"],["api"]]}}"#;
    let clean_text = "FAIL src/components/AppShell.test.tsx > renders the sidebar: expected 3 items, got 2 at AppShell.test.tsx:41:7 while running npm test in the worktree /home/ci/.choo/worktrees/app-shell (exit 1)";
    let token_text = "git push https://github.com/acme/app.git failed: the token ghp_16C7e42F292c6912E7710c838347Ae178B4a has expired; run `gh auth login` again and retry the unit app-shell";

    let deny = Redactor::new(RedactOptions::default()).with_secrets([
        "s3cr3t-db-password".to_owned(),
        "another-registered-secret-value".to_owned(),
    ]);
    let allow = Redactor::new(RedactOptions {
        mode: Mode::AllowList,
        ..RedactOptions::default()
    });

    let baseline = measure(|| {
        let value: serde_json::Value = serde_json::from_str(black_box(clean)).unwrap_or_default();
        black_box(value.to_string());
    });

    println!(
        "otto-hooks-redact: ns per call (median of {BATCHES} x {PER_BATCH}), ratio to baseline"
    );
    println!(
        "  {:<52} {:>8.0} ns  1.00x  ({} bytes)",
        "baseline: serde_json parse + serialise, clean payload",
        baseline,
        clean.len()
    );
    let report = |name: &str, bytes: usize, ns: f64| {
        println!(
            "  {name:<52} {ns:>8.0} ns  {:.2}x  ({bytes} bytes)",
            ns / baseline
        );
    };
    report(
        "redact_text, clean",
        clean_text.len(),
        measure(|| {
            black_box(deny.redact_text(black_box(clean_text)));
        }),
    );
    report(
        "redact_text, one token",
        token_text.len(),
        measure(|| {
            black_box(deny.redact_text(black_box(token_text)));
        }),
    );
    report(
        "redact_payload deny-list, clean",
        clean.len(),
        measure(|| {
            black_box(deny.redact_payload(black_box(clean)).ok());
        }),
    );
    report(
        "redact_payload deny-list, one token",
        with_token.len(),
        measure(|| {
            black_box(deny.redact_payload(black_box(with_token)).ok());
        }),
    );
    report(
        "redact_payload allow-list, clean graph (orch.started)",
        graph.len(),
        measure(|| {
            black_box(allow.redact_payload(black_box(graph)).ok());
        }),
    );
    report(
        "redact_payload allow-list, `output` redacted",
        clean.len(),
        measure(|| {
            black_box(allow.redact_payload(black_box(clean)).ok());
        }),
    );
    // Once per batch of events (the run's secrets are added to the configured
    // redactor): how much a batch pays before its first event.
    let base = Redactor::new(RedactOptions::default());
    let start = std::time::Instant::now();
    const BUILDS: u32 = 200;
    for _ in 0..BUILDS {
        black_box(base.clone().with_secrets([
            "s3cr3t-db-password".to_owned(),
            "another-registered-secret-value".to_owned(),
        ]));
    }
    println!(
        "  {:<52} {:>8.0} ns  (once per batch)",
        "with_secrets, 2 secrets (build the matchers)",
        start.elapsed().as_nanos() as f64 / f64::from(BUILDS)
    );
}
