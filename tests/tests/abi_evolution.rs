//! ABI evolution: a host of ABI 1.3 loads a plugin built for 1.0, reads
//! none of the entries 1.1 to 1.3 appended, and falls back where the old
//! plugin lacks them (`events` → one `event` call per event; `run_stop` and
//! `run_resume` → success without a call; the 1.3 storage methods →
//! `unsupported`, naming the plugin's ABI). A 1.3 plugin's new entries carry
//! every field both ways through the real ABI.

use otto_hooks_core::registry::Registry;
use otto_hooks_plugin_api::abi::{ABI_VERSION, AbiVersion};
use otto_hooks_plugin_api::host::Instance;
use otto_hooks_plugin_api::{
    DeleteReport, DeletedRun, Document, DocumentKind, ErrorKind, EventPage, EventQuery,
    ExpireReport, ExpireRequest, HookContext, PluginKind, RefusedDeletion, RunResume, RunStop,
    StoredEvent, Timestamp,
};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, event, instantiate, settings};
use serde_json::{Value, json};

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
fn the_host_is_1_4_and_loads_1_0() {
    // The premise of this file: if the host's ABI moves on, revisit it.
    assert_eq!(ABI_VERSION, AbiVersion { major: 1, minor: 4 });
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
            for hook in [
                "run_start",
                "event",
                "run_complete",
                "events",
                "run_stop",
                "run_resume",
            ] {
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

#[test]
fn run_stop_and_run_resume_reach_no_1_0_plugin_and_succeed() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let data = PrivateDir::new();
    let h = lib.plugin("abi10");
    let offers = h.offers();
    assert!(!offers.contains(&"run_stop"), "{offers:?}");
    assert!(!offers.contains(&"run_resume"), "{offers:?}");
    let instance = instantiate(&h, &toml::Table::new(), data.path());
    let at = Timestamp::from_secs(1_795_342_600);
    instance
        .run_stop(&RunStop {
            project: ctx().project,
            run_id: ctx().run_id,
            at,
            reason: Some("user asked"),
        })
        .unwrap();
    instance
        .run_resume(&RunResume {
            project: ctx().project,
            run_id: ctx().run_id,
            at,
        })
        .unwrap();
    // The traps beyond the 1.0 table (each would add a million) were not
    // called, and events still arrive one `event` call each afterwards.
    assert_eq!(instance.render(&any_document()).unwrap(), "events=0");
    instance
        .events(&ctx(), &[event("unit.started", None, 1)])
        .unwrap();
    assert_eq!(instance.render(&any_document()).unwrap(), "events=1");
    assert!(instance.disabled_reason().is_none());
}

#[test]
fn the_1_3_storage_methods_on_a_1_0_plugin_are_unsupported_naming_its_abi() {
    let lib = PrivateLibrary::of("fixture-abi-1-0");
    let data = PrivateDir::new();
    let instance = instantiate(&lib.plugin("abi10"), &toml::Table::new(), data.path());
    let errors = [
        (
            "stored_events",
            instance
                .stored_events(&EventQuery {
                    run_id: ctx().run_id,
                    limit: 10,
                    ..EventQuery::default()
                })
                .unwrap_err(),
        ),
        ("delete_runs", instance.delete_runs(&["r1"]).unwrap_err()),
        (
            "expire",
            instance
                .expire(&ExpireRequest {
                    cutoff: Timestamp::from_secs(1),
                    dry_run: true,
                })
                .unwrap_err(),
        ),
    ];
    for (what, err) in errors {
        assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
        assert_eq!(err.plugin, "reporter `abi10`");
        assert!(
            err.message.contains("built for plugin ABI 1.0"),
            "{what}: {err}"
        );
        assert!(err.message.contains(&format!("`{what}`")), "{what}: {err}");
        assert!(!err.to_string().contains('\n'));
    }
    // Nothing was called, nothing was disabled.
    assert!(instance.disabled_reason().is_none());
    assert_eq!(instance.render(&any_document()).unwrap(), "events=0");
}

/// A recorder instance answering the 1.3 storage methods from `responses`.
struct Recorder {
    _lib: PrivateLibrary,
    data: PrivateDir,
    instance: Instance,
}

impl Recorder {
    fn new() -> Self {
        let lib = PrivateLibrary::of("fixture-recorder");
        let data = PrivateDir::new();
        let mut table = toml::Table::new();
        let path = |name: &str| data.path().join(name).to_string_lossy().into_owned();
        table.insert("log".into(), path("calls.jsonl").into());
        table.insert("responses".into(), path("responses.json").into());
        let instance = instantiate(&lib.plugin("recorder"), &table, data.path());
        Recorder {
            _lib: lib,
            data,
            instance,
        }
    }

    fn respond(&self, responses: &Value) {
        std::fs::write(
            self.data.path().join("responses.json"),
            serde_json::to_string(responses).expect("responses serialise"),
        )
        .expect("the responses file is written");
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data.path().join("calls.jsonl"))
            .expect("the recorder wrote its log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
            .collect()
    }
}

#[test]
fn a_1_3_plugin_receives_run_stop_and_run_resume_with_every_field() {
    let r = Recorder::new();
    assert_eq!(r.instance.handle().abi(), ABI_VERSION);
    let reason = "стоп: user asked ✋";
    r.instance
        .run_stop(&RunStop {
            project: "wëb",
            run_id: "run_20261122_101500_c0de",
            at: Timestamp {
                secs: 1_795_342_600,
                nanos: 999_999_999,
            },
            reason: Some(reason),
        })
        .unwrap();
    r.instance
        .run_stop(&RunStop {
            project: "",
            run_id: "r2",
            at: Timestamp { secs: -1, nanos: 0 },
            reason: None,
        })
        .unwrap();
    r.instance
        .run_resume(&RunResume {
            project: "wëb",
            run_id: "run_20261122_101500_c0de",
            at: Timestamp {
                secs: 1_795_342_700,
                nanos: 1,
            },
        })
        .unwrap();
    assert_eq!(
        r.lines(),
        [
            json!({"hook": "run_stop", "project": "wëb", "run_id": "run_20261122_101500_c0de",
                   "at": 1_795_342_600, "at_nanos": 999_999_999, "reason": reason}),
            json!({"hook": "run_stop", "project": "", "run_id": "r2",
                   "at": -1, "at_nanos": 0, "reason": null}),
            json!({"hook": "run_resume", "project": "wëb", "run_id": "run_20261122_101500_c0de",
                   "at": 1_795_342_700, "at_nanos": 1}),
        ]
    );
}

fn large_payload() -> String {
    let note = "Grüße aus Köln — 日本語 — emoji 🎉 ".repeat(40_000);
    json!({"note": note, "n": 1.5, "nested": {"list": [1, 2, 3], "null": null}}).to_string()
}

#[test]
fn a_1_3_storage_returns_event_pages_with_every_field_intact() {
    let r = Recorder::new();
    let big = large_payload();
    assert!(big.len() > 1_000_000);
    let full = EventPage {
        events: vec![
            StoredEvent {
                seq: 1,
                time: Timestamp {
                    secs: 1_795_342_500,
                    nanos: 123_456_789,
                },
                kind: "unit.started".into(),
                unit: Some("api-ünit".into()),
                task: Some(-7),
                pr: Some(i64::MAX),
                payload: Some(big.clone()),
                error: Some("fehlgeschlagen ✗\ttab".into()),
            },
            StoredEvent {
                seq: u64::MAX,
                time: Timestamp {
                    secs: i64::MIN / 2,
                    nanos: 0,
                },
                kind: "run.stopped".into(),
                unit: None,
                task: None,
                pr: None,
                payload: None,
                error: None,
            },
            StoredEvent {
                seq: 3,
                time: Timestamp::default(),
                kind: String::new(),
                unit: Some(String::new()),
                task: Some(0),
                pr: Some(i64::MIN),
                payload: Some(r#"{"resumed_from_seq":2}"#.into()),
                error: Some(String::new()),
            },
        ],
        has_more: true,
        total: Some(u64::MAX),
    };
    let empty = EventPage {
        events: Vec::new(),
        has_more: false,
        total: None,
    };
    r.respond(&json!({"events": {"rün-1": full, "empty": empty}}));

    let got = r
        .instance
        .stored_events(&EventQuery {
            run_id: "rün-1",
            type_prefix: Some("unit"),
            unit: Some("api-ünit"),
            after_seq: Some(u64::MAX - 1),
            limit: u32::MAX,
        })
        .unwrap();
    assert_eq!(got, full);
    assert_eq!(got.events[0].payload.as_deref(), Some(big.as_str()));
    let got = r
        .instance
        .stored_events(&EventQuery {
            run_id: "empty",
            type_prefix: None,
            unit: None,
            after_seq: None,
            limit: 0,
        })
        .unwrap();
    assert_eq!(got, empty);
    let missing = r
        .instance
        .stored_events(&EventQuery {
            run_id: "nope",
            limit: 1,
            ..EventQuery::default()
        })
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
    assert!(missing.message.contains("nope"), "{missing}");

    // The queries arrived with every field.
    assert_eq!(
        r.lines(),
        [
            json!({"hook": "stored_events", "project": null, "run_id": "rün-1",
                   "type_prefix": "unit", "unit": "api-ünit", "after_seq": u64::MAX - 1,
                   "limit": u32::MAX}),
            json!({"hook": "stored_events", "project": null, "run_id": "empty",
                   "type_prefix": null, "unit": null, "after_seq": null, "limit": 0}),
            json!({"hook": "stored_events", "project": null, "run_id": "nope",
                   "type_prefix": null, "unit": null, "after_seq": null, "limit": 1}),
        ]
    );
    assert!(r.instance.disabled_reason().is_none());
}

#[test]
fn a_1_3_storage_reports_deletions_and_expiry_with_every_field_intact() {
    let r = Recorder::new();
    let deleted = DeleteReport {
        deleted: vec![
            DeletedRun {
                run_id: "run_1".into(),
                bytes_freed: 4096,
            },
            DeletedRun {
                run_id: "ラン-2".into(),
                bytes_freed: 0,
            },
        ],
        refused: vec![
            RefusedDeletion {
                run_id: "run_3".into(),
                reason: "running".into(),
            },
            RefusedDeletion {
                run_id: "ghost".into(),
                reason: "not found — never recorded".into(),
            },
        ],
        bytes_freed: u64::MAX,
    };
    let expired = ExpireReport {
        runs: 2,
        events: 1_000_000_000_000,
        bytes_freed: 123_456_789,
        run_ids: vec!["old-1".into(), "алт-2".into()],
    };
    r.respond(&json!({"delete_runs": deleted, "expire": expired}));

    let runs = ["run_1", "ラン-2", "run_3", "ghost", ""];
    assert_eq!(r.instance.delete_runs(&runs).unwrap(), deleted);
    assert_eq!(
        r.instance
            .expire(&ExpireRequest {
                cutoff: Timestamp {
                    secs: 1_795_000_000,
                    nanos: 42,
                },
                dry_run: true,
            })
            .unwrap(),
        expired
    );
    assert_eq!(
        r.instance
            .expire(&ExpireRequest {
                cutoff: Timestamp::from_secs(-3),
                dry_run: false,
            })
            .unwrap(),
        expired
    );
    assert_eq!(
        r.lines(),
        [
            json!({"hook": "delete_runs", "project": null, "run_id": null, "runs": runs}),
            json!({"hook": "expire", "project": null, "run_id": null,
                   "cutoff": 1_795_000_000, "cutoff_nanos": 42, "dry_run": true}),
            json!({"hook": "expire", "project": null, "run_id": null,
                   "cutoff": -3, "cutoff_nanos": 0, "dry_run": false}),
        ]
    );

    // Empty reports cross too, and an answer the plugin lacks is its error.
    r.respond(&json!({"delete_runs": DeleteReport::default(), "expire": ExpireReport::default()}));
    assert_eq!(
        r.instance.delete_runs(&[]).unwrap(),
        DeleteReport::default()
    );
    assert_eq!(
        r.instance.expire(&ExpireRequest::default()).unwrap(),
        ExpireReport::default()
    );
    r.respond(&json!({}));
    let err = r.instance.delete_runs(&["x"]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    assert!(err.message.contains("delete_runs"), "{err}");
}
