//! The plugin seen from the host's side: through the exported entry point
//! and the C ABI tables, exactly as otto-hooks calls it after loading the
//! `.so` (minus the file loading and trust checks, which are the registry's).

use otto_hooks_plugin_api::host::{PluginHandle, open_module};
use otto_hooks_plugin_api::{
    Action, ErrorKind, PluginKind, RetentionInput, Run, RunStatus, Timestamp,
};

fn handle() -> PluginHandle {
    let module = weekday_retention::otto_hooks_plugin_entry();
    // SAFETY: the module is a `static` of this (linked) crate, live for the
    // whole process, and built by `export_plugins!`.
    let mut handles = unsafe { open_module(module) }.expect("the module is accepted");
    assert_eq!(handles.len(), 1);
    handles.remove(0)
}

fn settings(text: &str) -> toml::Table {
    text.parse().expect("valid TOML")
}

#[test]
fn the_library_exports_one_retention_plugin_named_weekday() {
    let h = handle();
    assert_eq!(h.kind(), PluginKind::Retention);
    assert_eq!(h.name(), "weekday");
    assert_eq!(h.version(), env!("CARGO_PKG_VERSION"));
    assert!(h.description().contains("weekday"));
    assert_eq!(h.abi(), otto_hooks_plugin_api::abi::ABI_VERSION);
    assert!(h.offers().contains(&"decide"), "{:?}", h.offers());
}

#[test]
fn decisions_and_reasons_cross_the_abi_in_input_order() {
    let instance = handle()
        .instantiate(
            "projects.web-*.retention",
            &settings(
                r#"weeks = 8
                         weekdays = ["mon", "tue", "wed", "thu", "fri"]"#,
            ),
            "/tmp/otto-hooks",
        )
        .expect("valid settings");
    // Tue 2026-11-17 08:00 and 19:00 UTC, Sun 2026-11-15 (pinned), and a 2025 run.
    let run = |secs: i64, pinned: bool| Run {
        id: secs.to_string(),
        project: "web-1a2b3c4d".into(),
        started_at: Timestamp::from_secs(secs),
        status: RunStatus::Success,
        pinned,
        ..Run::default()
    };
    let runs = [
        run(1_794_902_400, false),
        run(1_794_942_000, false),
        run(1_794_736_800, true),
        run(1_750_000_000, false),
    ];
    let decisions = instance
        .decide(&RetentionInput {
            group: "web-1a2b3c4d",
            now: Timestamp::from_secs(1_795_197_600), // Fri 2026-11-20 18:00 UTC
            runs: &runs,
        })
        .expect("decide succeeds");

    let got: Vec<_> = decisions
        .iter()
        .map(|d| (d.run_id.as_str(), d.action, d.reasons.join(", ")))
        .collect();
    assert_eq!(
        got,
        [
            (
                "1794902400",
                Action::Delete,
                "not the newest of Tue 2026-11-17".to_owned()
            ),
            (
                "1794942000",
                Action::Keep,
                "weekday Tue 2026-11-17".to_owned()
            ),
            ("1794736800", Action::Keep, "pinned".to_owned()),
            (
                "1750000000",
                Action::Delete,
                "older than 8 weeks".to_owned()
            ),
        ]
    );
}

#[test]
fn a_bad_setting_is_refused_through_the_abi_with_one_line_naming_it() {
    let err = handle()
        .instantiate(
            "projects.web-*.retention",
            &settings(r#"weekdays = ["mon", "caturday"]"#),
            "/tmp/otto-hooks",
        )
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("`caturday`"), "{}", err.message);
    assert!(err.to_string().starts_with("retention `weekday`"), "{err}");
}
