//! ABI evolution: a host of ABI 1.2 loads a plugin built for 1.0, reads
//! none of the entries 1.1 and 1.2 appended, and falls back where the old plugin
//! lacks them (`events` → one `event` call per event).

use otto_hooks_core::registry::Registry;
use otto_hooks_plugin_api::abi::{ABI_VERSION, AbiVersion};
use otto_hooks_plugin_api::{Document, DocumentKind, HookContext, PluginKind};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, event, instantiate, settings};

const ABI_1_0: AbiVersion = AbiVersion { major: 1, minor: 0 };

fn ctx() -> HookContext<'static> {
    HookContext {
        project: "web-1a2b3c4d",
        run_id: "run_20261122_101500_c0de",
    }
}

fn any_document() -> Document<'static> {
    Document {
        kind: DocumentKind::RunSummary,
        json: "{}",
    }
}

#[test]
fn the_host_is_1_2_and_loads_1_0() {
    // The premise of this file: if the host's ABI moves on, revisit it.
    assert_eq!(ABI_VERSION, AbiVersion { major: 1, minor: 2 });
    assert!(ABI_VERSION.can_load(ABI_1_0));
}

#[test]
fn a_1_0_plugin_loads_under_the_current_host_and_is_reported_with_abi_1_0() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let handles = lib.load();
    assert_eq!(handles.len(), 1);
    let h = &handles[0];
    assert_eq!(h.name(), "abi10");
    assert_eq!(h.kind(), PluginKind::Reporter);
    assert_eq!(h.abi(), ABI_1_0);
    assert_eq!(h.abi().to_string(), "1.0");

    let mut registry = Registry::with_builtins();
    assert_eq!(
        registry.add_library(&lib.path),
        1,
        "{:?}",
        registry.refusals()
    );
    let list = registry.plugin_list();
    let entry = list.iter().find(|e| e.name == "abi10").unwrap();
    assert_eq!(entry.abi, "1.0");
    assert_eq!(entry.state, "ok");
    assert!(
        !entry.offers.iter().any(|o| o == "events"),
        "{:?}",
        entry.offers
    );
}

#[test]
fn a_1_0_plugin_offers_event_but_not_the_1_1_events_entry() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let h = lib.plugin("abi10");
    let offers = h.offers();
    assert!(offers.contains(&"event"), "{offers:?}");
    assert!(!offers.contains(&"events"), "{offers:?}");
    // Nothing else was made up either.
    assert_eq!(offers, ["event", "render"]);
}

#[test]
fn a_batch_of_three_events_reaches_a_1_0_plugin_as_three_event_calls() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let data = PrivateDir::new();
    let h = lib.plugin("abi10");
    let instance = instantiate(&h, &toml::Table::new(), data.path());
    assert!(!instance.offers_batches());
    assert_eq!(instance.render(&any_document()).unwrap(), "events=0");

    let batch = [
        event("unit.started", Some(r#"{"total_tasks":2}"#), 1),
        event("task.completed", None, 2),
        event("unit.failed", None, 3),
    ];
    instance.events(&ctx(), &batch).unwrap();
    // Three `event` calls, and the entry beyond the 1.0 table (a trap that
    // would add a million) was never called.
    assert_eq!(instance.render(&any_document()).unwrap(), "events=3");

    instance.event(&ctx(), &batch[0]).unwrap();
    assert_eq!(instance.render(&any_document()).unwrap(), "events=4");
    instance.events(&ctx(), &[]).unwrap();
    assert_eq!(instance.render(&any_document()).unwrap(), "events=4");

    // Each instance counts its own events.
    let other = instantiate(&h, &toml::Table::new(), data.path());
    assert_eq!(other.render(&any_document()).unwrap(), "events=0");
    // Hooks it does not offer succeed without a call.
    other
        .run_start(&otto_hooks_core::registry::samples::run_start())
        .unwrap();
    other
        .run_complete(&otto_hooks_core::registry::samples::run_result())
        .unwrap();
}

#[test]
fn a_hand_written_1_0_plugin_refuses_settings_it_does_not_take() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let data = PrivateDir::new();
    let err = lib
        .plugin("abi10")
        .instantiate(
            "reporter.abi10",
            &settings("colour = true"),
            &data.path().to_string_lossy(),
        )
        .unwrap_err();
    assert_eq!(err.kind, otto_hooks_plugin_api::ErrorKind::Invalid);
    assert!(err.message.contains("reporter.abi10"), "{err}");
    assert!(err.message.contains("no settings"), "{err}");
}

#[test]
fn sdk_built_plugins_are_current_and_offer_events() {
    for crate_name in ["weekday-retention", "fixture-panicky", "fixture-recorder"] {
        let lib = PrivateLibrary::of(crate_name);
        for h in lib.load() {
            assert_eq!(h.abi(), ABI_VERSION, "{crate_name}: {}", h.name());
            let offers = h.offers();
            for hook in ["run_start", "event", "run_complete", "events"] {
                assert!(
                    offers.contains(&hook),
                    "{crate_name}: {} offers {offers:?}",
                    h.name()
                );
            }
        }
    }
}

#[test]
fn an_sdk_plugin_takes_a_batch_in_one_events_call() {
    let lib = PrivateLibrary::of("fixture-recorder");
    let data = PrivateDir::new();
    let log = data.path().join("calls.jsonl");
    let h = lib.plugin("recorder");
    let mut table = toml::Table::new();
    table.insert("log".into(), log.to_string_lossy().into_owned().into());
    let instance = instantiate(&h, &table, data.path());
    assert!(instance.offers_batches());
    let batch = [
        event("unit.started", None, 1),
        event("task.completed", None, 2),
        event("unit.completed", None, 3),
    ];
    instance.events(&ctx(), &batch).unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one line for the whole batch: {text}");
    assert_eq!(lines[0]["hook"], "events");
    assert_eq!(lines[0]["count"], 3);
    assert_eq!(
        lines[0]["types"],
        serde_json::json!(["unit.started", "task.completed", "unit.completed"])
    );
}
