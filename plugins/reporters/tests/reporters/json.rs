//! The `json` reporter.

use otto_hooks_plugin_api::{Document, DocumentKind, ErrorKind};
use serde_json::Value;

use crate::samples;

fn render(settings: &str, kind: DocumentKind, json: &str) -> String {
    crate::instance("json", settings)
        .expect("instantiates")
        .render(&Document { kind, json })
        .unwrap_or_else(|e| panic!("{e}"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn every_document_round_trips_pretty_printed() {
    for (kind, json) in samples::all() {
        let out = render("", kind, &json);
        assert_eq!(parse(&out), parse(&json), "{kind}");
        assert!(out.ends_with('\n'), "{kind}");
        // Pretty-printed, two-space indented, keys in the document's own
        // order (the shape documented for `--json`), not re-sorted.
        assert!(out.lines().count() > 1 || json.len() < 3, "{kind}: {out}");
        let keys_in = |text: &str| -> Vec<String> {
            text.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(keys_in(&out), keys_in(&json), "{kind}: order kept");
    }
    let out = render(
        "compact = false",
        DocumentKind::RunSummary,
        &samples::to_json(&samples::run_summary()),
    );
    assert!(out.lines().count() > 1, "{out}");
}

#[test]
fn compact_output_is_one_line() {
    for (kind, json) in samples::all() {
        let out = render("compact = true", kind, &json);
        assert_eq!(out.lines().count(), 1, "{kind}: {out}");
        assert!(out.ends_with('\n'));
        assert_eq!(parse(&out), parse(&json), "{kind}");
    }
}

#[test]
fn a_bad_setting_is_refused_naming_the_key() {
    let err = crate::instance("json", "compakt = true").expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("compakt"), "{err}");
    assert!(err.message.contains("reporter.json"), "{err}");

    let err = crate::instance("json", "compact = \"yes\"").expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("compact"), "{err}");
}
