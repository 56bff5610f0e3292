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

/// A run list of `n` runs, as the host serialises it.
fn long_run_list(n: usize) -> String {
    let runs: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "project": format!("wéb-{i:04}"),
                "run": format!("{}", 1_700_000_000 + i),
                "status": "success",
                // Multi-byte characters everywhere, so that some fall
                // across the 64 KiB piece boundaries.
                "path": format!("/home/dév/.otto/✓-{i}/ünïcode"),
            })
        })
        .collect();
    serde_json::to_string(&runs).expect("serialises")
}

#[test]
fn a_large_document_streams_in_pieces_that_join_into_the_rendering() {
    let json = long_run_list(5_000);
    assert!(json.len() > 4 * 64 * 1024, "{}", json.len());
    for settings in ["", "compact = true"] {
        let json_reporter = crate::instance("json", settings).expect("instantiates");
        let doc = Document {
            kind: DocumentKind::RunList,
            json: &json,
        };
        let mut pieces: Vec<String> = Vec::new();
        json_reporter
            .render_to(&doc, &mut |piece| pieces.push(piece.to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(pieces.len() > 4, "{settings:?}: {} pieces", pieces.len());
        assert!(
            pieces.iter().all(|p| p.len() <= 2 * 64 * 1024),
            "{settings:?}: no piece holds the output whole"
        );
        let joined = pieces.concat();
        assert_eq!(
            joined,
            json_reporter.render(&doc).expect("renders"),
            "{settings:?}"
        );
        assert_eq!(parse(&joined), parse(&json), "{settings:?}");
    }
}

#[test]
fn invalid_json_streams_nothing_before_its_error() {
    let mut json = long_run_list(5_000);
    // Valid for most of its length, broken near the end.
    json.truncate(json.len() - 10);
    let json_reporter = crate::instance("json", "").expect("instantiates");
    let mut emitted = 0;
    let err = json_reporter
        .render_to(
            &Document {
                kind: DocumentKind::RunList,
                json: &json,
            },
            &mut |piece| emitted += piece.len(),
        )
        .expect_err("invalid JSON");
    assert_eq!(emitted, 0, "nothing went out");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("not valid JSON"), "{err}");

    // Well-formed to a lenient parser, refused by the transcoder: a lone
    // surrogate escape, a number out of range — still nothing goes out.
    let runs = long_run_list(5_000);
    for bad in [r#""\uD800""#, "1e400"] {
        let json = format!("[{},{bad}]", &runs[1..runs.len() - 1]);
        let mut emitted = 0;
        let err = json_reporter
            .render_to(
                &Document {
                    kind: DocumentKind::RunList,
                    json: &json,
                },
                &mut |piece| emitted += piece.len(),
            )
            .expect_err("refused");
        assert_eq!(emitted, 0, "{bad}: nothing went out");
        assert_eq!(err.kind, ErrorKind::Invalid, "{bad}: {err}");
    }
}
