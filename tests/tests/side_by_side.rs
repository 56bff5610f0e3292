//! Many plugins, and many instances of one plugin, side by side: each its
//! own instance with its own settings, no process-wide cache.

use otto_hooks_core::registry::{Registry, Source, load_library};
use otto_hooks_plugin_api::{
    Action, Decision, PluginKind, RetentionInput, Run, RunStatus, Timestamp,
};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, settings, spec};

/// 2026-11-22T12:00:00Z, a Sunday.
const NOW: i64 = 1_795_348_800;
const DAY: i64 = 86_400;

/// One finished run a day, for the 30 days up to `NOW`.
fn daily_runs() -> Vec<Run> {
    (0..30)
        .map(|i| {
            let secs = NOW - 3_600 - i * DAY;
            Run {
                id: secs.to_string(),
                project: "web-1a2b3c4d".into(),
                started_at: Timestamp::from_secs(secs),
                ended_at: Some(Timestamp::from_secs(secs + 60)),
                status: RunStatus::Success,
                location: format!("/home/dev/.otto/web-1a2b3c4d/{secs}"),
                ..Run::default()
            }
        })
        .collect()
}

fn kept(decisions: &[Decision]) -> usize {
    decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .count()
}

#[test]
fn two_weekday_instances_with_different_settings_decide_differently_without_sharing_state() {
    let lib = PrivateLibrary::of("weekday-retention");
    let data = PrivateDir::new();
    let mut registry = Registry::with_builtins();
    assert_eq!(
        registry.add_library(&lib.path),
        1,
        "{:?}",
        registry.refusals()
    );

    let short = spec(
        PluginKind::Retention,
        "weekday",
        "retention.short",
        settings("weeks = 1"),
    );
    let long = spec(
        PluginKind::Retention,
        "weekday",
        "retention.long",
        settings("weeks = 8"),
    );
    let short = registry.instantiate(&short, data.path()).unwrap();
    let long = registry.instantiate(&long, data.path()).unwrap();
    assert_eq!(short.instance_name(), "retention.short");
    assert_eq!(long.instance_name(), "retention.long");

    let runs = daily_runs();
    let input = RetentionInput {
        group: "web-1a2b3c4d",
        now: Timestamp::from_secs(NOW),
        runs: &runs,
    };
    let short_first = short.decide(&input).unwrap();
    let long_first = long.decide(&input).unwrap();
    assert_eq!(short_first.len(), runs.len());
    assert_eq!(long_first.len(), runs.len());
    // One week keeps the 7 days of the window; eight weeks keep all 30.
    assert_eq!(kept(&short_first), 7, "{short_first:#?}");
    assert_eq!(kept(&long_first), 30, "{long_first:#?}");
    assert!(
        short_first
            .iter()
            .any(|d| d.reasons.iter().any(|r| r == "older than 1 week")),
        "{short_first:#?}"
    );

    // Interleaved calls: neither instance's answer moves.
    for _ in 0..3 {
        assert_eq!(long.decide(&input).unwrap(), long_first);
        assert_eq!(short.decide(&input).unwrap(), short_first);
    }
}

#[test]
fn two_instances_made_through_the_handle_are_independent_too() {
    let lib = PrivateLibrary::of("weekday-retention");
    let data = PrivateDir::new();
    let handle = lib.plugin("weekday");
    let weekdays_only = handle
        .instantiate(
            "retention.weekdays",
            &settings(r#"weekdays = ["mon", "tue", "wed", "thu", "fri"]"#),
            &data.path().to_string_lossy(),
        )
        .unwrap();
    let every_day = handle
        .instantiate(
            "retention.all",
            &toml::Table::new(),
            &data.path().to_string_lossy(),
        )
        .unwrap();
    let runs = daily_runs();
    let input = RetentionInput {
        group: "web-1a2b3c4d",
        now: Timestamp::from_secs(NOW),
        runs: &runs,
    };
    let weekdays = weekdays_only.decide(&input).unwrap();
    let all = every_day.decide(&input).unwrap();
    assert_eq!(kept(&all), 30);
    assert!(kept(&weekdays) < 30, "{weekdays:#?}");
    assert!(
        weekdays
            .iter()
            .any(|d| d.reasons.iter().any(|r| r.ends_with("not in weekdays"))),
        "{weekdays:#?}"
    );
    drop(every_day);
    // Destroying one instance leaves the other working.
    assert_eq!(weekdays_only.decide(&input).unwrap(), weekdays);
}

#[test]
fn two_retention_plugins_from_two_libraries_are_registered_side_by_side() {
    let weekday = PrivateLibrary::of("weekday-retention");
    let panicky = PrivateLibrary::of("fixture-panicky");
    let data = PrivateDir::new();
    let mut registry = Registry::with_builtins();
    assert_eq!(
        registry.add_library(&weekday.path),
        1,
        "{:?}",
        registry.refusals()
    );
    assert_eq!(
        registry.add_library(&panicky.path),
        2,
        "{:?}",
        registry.refusals()
    );
    assert!(registry.refusals().is_empty(), "{:?}", registry.refusals());

    let w = registry.find(PluginKind::Retention, "weekday").unwrap();
    let p = registry.find(PluginKind::Retention, "panicky").unwrap();
    assert_eq!(w.source, Source::Library(weekday.path.clone()));
    assert_eq!(p.source, Source::Library(panicky.path.clone()));
    let retention: Vec<&str> = registry
        .plugins()
        .iter()
        .filter(|r| r.handle.kind() == PluginKind::Retention)
        .map(|r| r.handle.name())
        .collect();
    assert_eq!(
        retention,
        ["standard", "weekday", "panicky"],
        "the built-in first"
    );

    let runs = daily_runs();
    let input = RetentionInput {
        group: "web-1a2b3c4d",
        now: Timestamp::from_secs(NOW),
        runs: &runs,
    };
    let w = registry
        .instantiate(
            &spec(
                PluginKind::Retention,
                "weekday",
                "retention.weekday",
                settings("weeks = 1"),
            ),
            data.path(),
        )
        .unwrap();
    let p = registry
        .instantiate(
            &spec(
                PluginKind::Retention,
                "panicky",
                "retention.panicky",
                toml::Table::new(),
            ),
            data.path(),
        )
        .unwrap();
    let by_weekday = w.decide(&input).unwrap();
    let by_panicky = p.decide(&input).unwrap();
    assert_eq!(kept(&by_weekday), 7);
    assert_eq!(kept(&by_panicky), 30);
    assert!(
        by_panicky.iter().all(|d| d.reasons == ["fixture"]),
        "{by_panicky:#?}"
    );
}

#[test]
fn loading_two_libraries_never_makes_the_second_come_back_as_the_first() {
    // Fresh copies each round, loaded one after another: a loader that
    // caches by type, by path or by a recycled descriptor name would hand
    // back an earlier library's plugins.
    let expected = [
        ("weekday-retention", vec!["weekday"]),
        ("fixture-panicky", vec!["panicky", "panicky-reporter"]),
        ("fixture-recorder", vec!["recorder"]),
        ("fixture-abi-1-0", vec!["abi10"]),
    ];
    let mut copies = Vec::new();
    for round in 0..3 {
        for (crate_name, names) in &expected {
            let lib = PrivateLibrary::of(crate_name);
            let handles = load_library(&lib.path)
                .unwrap_or_else(|e| panic!("round {round}: {crate_name} refused: {e}"));
            let got: Vec<&str> = handles.iter().map(|h| h.name()).collect();
            assert_eq!(&got, names, "round {round}: loading {crate_name}");
            copies.push(lib);
        }
    }
}
