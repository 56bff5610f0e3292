//! The plugin seen from the host's side, through [`MODULE`]'s ABI tables:
//! its identity, and settings refused at creation with one line.

use otto_hooks_plugin_api::host::{PluginHandle, open_module};
use otto_hooks_plugin_api::{
    Action, ErrorKind, PluginKind, RetentionInput, Run, RunStatus, Timestamp,
};
use otto_hooks_retention_standard::MODULE;

fn handle() -> PluginHandle {
    // SAFETY: `MODULE` is a `static` of the linked crate, live for the whole
    // process, built by `plugin_module!`.
    let mut handles = unsafe { open_module(&MODULE) }.expect("the module is accepted");
    assert_eq!(handles.len(), 1);
    handles.remove(0)
}

fn settings(text: &str) -> toml::Table {
    text.parse().expect("valid TOML")
}

#[test]
fn the_module_declares_one_retention_plugin_named_standard() {
    let h = handle();
    assert_eq!(h.kind(), PluginKind::Retention);
    assert_eq!(h.name(), "standard");
    assert_eq!(h.version(), env!("CARGO_PKG_VERSION"));
    assert!(h.offers().contains(&"decide"), "{:?}", h.offers());
}

#[test]
fn an_empty_table_is_the_default_policy() {
    let instance = handle()
        .instantiate("retention.standard", &settings(""), "/tmp/otto-hooks")
        .expect("no settings is valid");
    let now = Timestamp::from_secs(1_795_197_600);
    let runs: Vec<Run> = (0..12_i64)
        .map(|n| Run {
            id: format!("{}", now.secs - n * 5 * 86_400),
            started_at: Timestamp::from_secs(now.secs - n * 5 * 86_400),
            status: RunStatus::Success,
            ..Run::default()
        })
        .collect();
    let decisions = instance
        .decide(&RetentionInput {
            group: "web-1a2b3c4d",
            now,
            runs: &runs,
        })
        .expect("decide succeeds");
    let kept = decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .count();
    // The last 10 (0 to 45 days old); the 50- and 55-day-old runs go.
    assert_eq!(kept, 10);
    assert_eq!(decisions[11].reasons, ["older than 30d"]);
}

#[test]
fn bad_settings_are_refused_through_the_abi_with_one_line_naming_the_key() {
    for (text, key) in [
        ("keep_dayz = 3", "keep_dayz"),
        ("keep_days = -3", "keep_days"),
        ("age_from = \"oldest\"", "age_from"),
        ("max_runs = 0", "max_runs"),
        ("max_bytes = \"lots\"", "max_bytes"),
    ] {
        let err = handle()
            .instantiate("retention.standard", &settings(text), "/tmp/otto-hooks")
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Invalid, "{text}");
        assert!(
            err.message.contains(&format!("`{key}`")),
            "{text}: {}",
            err.message
        );
        assert!(err.to_string().starts_with("retention `standard`"), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
