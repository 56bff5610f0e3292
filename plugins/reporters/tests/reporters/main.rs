//! The reporters, called through the plugin ABI exactly as the host calls
//! them: open the module, instantiate by name, render documents.

mod json;
mod markdown;
mod samples;
mod table;

use otto_hooks_plugin_api::host::{CallError, Instance, open_module};
use otto_hooks_plugin_api::{Document, DocumentKind, ErrorKind, PluginKind};
use otto_hooks_reporters::MODULE;

/// An instance of reporter `name` with `settings` (TOML text).
fn instance(name: &str, settings: &str) -> Result<Instance, CallError> {
    // SAFETY: `MODULE` is a `static` of this process, built by `plugin_module!`.
    let handles = unsafe { open_module(&MODULE) }.expect("the module opens");
    let handle = handles
        .into_iter()
        .find(|h| h.name() == name)
        .unwrap_or_else(|| panic!("no plugin `{name}` in the module"));
    let settings: toml::Table = settings.parse().expect("valid TOML");
    handle.instantiate(&format!("reporter.{name}"), &settings, "/tmp")
}

/// Renders `json` as `kind` with reporter `name` and default settings.
fn render(name: &str, kind: DocumentKind, json: &str) -> String {
    try_render(name, kind, json).unwrap_or_else(|e| panic!("{e}"))
}

fn try_render(name: &str, kind: DocumentKind, json: &str) -> Result<String, CallError> {
    instance(name, "")
        .expect("instantiates")
        .render(&Document { kind, json })
}

#[test]
fn the_module_declares_the_three_reporters() {
    // SAFETY: as above.
    let handles = unsafe { open_module(&MODULE) }.expect("the module opens");
    let names: Vec<&str> = handles.iter().map(|h| h.name()).collect();
    assert_eq!(names, ["table", "json", "markdown"]);
    for h in &handles {
        assert_eq!(h.kind(), PluginKind::Reporter);
        assert_eq!(h.version(), env!("CARGO_PKG_VERSION"));
        assert!(h.description().ends_with('.'), "{}", h.description());
        assert!(h.offers().contains(&"render"), "{:?}", h.offers());
    }
}

#[test]
fn every_reporter_renders_every_kind() {
    for name in ["table", "json", "markdown"] {
        for (kind, json) in samples::all() {
            let out = render(name, kind, &json);
            assert!(out.ends_with('\n'), "{name} {kind}: {out:?}");
            assert!(!out.trim().is_empty(), "{name} {kind}");
        }
    }
}

#[test]
fn invalid_json_is_refused_as_invalid() {
    for name in ["table", "json", "markdown"] {
        for kind in [DocumentKind::RunList, DocumentKind::Unknown] {
            let err = try_render(name, kind, "{not json").expect_err("refused");
            assert_eq!(err.kind, ErrorKind::Invalid, "{name}: {err}");
            assert!(!err.message.contains('\n'), "{err}");
        }
    }
}

#[test]
fn a_document_of_the_wrong_shape_names_its_kind() {
    for name in ["table", "markdown"] {
        let err = try_render(name, DocumentKind::RunInfo, "[1, 2]").expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("run-info"), "{err}");
    }
}

#[test]
fn markdown_takes_no_settings_and_table_only_color() {
    for (name, settings, key) in [
        ("markdown", "color = \"auto\"", "`color`"),
        ("table", "colour = \"auto\"", "`colour`"),
        ("table", "color = \"yes\"", "`color`"),
    ] {
        let err = instance(name, settings).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains(key), "{err}");
        assert!(err.message.contains(&format!("reporter.{name}")), "{err}");
    }
    for when in ["auto", "always", "never"] {
        assert!(instance("table", &format!("color = \"{when}\"")).is_ok());
    }
}
