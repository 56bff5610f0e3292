#![allow(clippy::unwrap_used)]

//! Plugins declared with the SDK, called through the ABI by the host module.

use std::sync::Mutex;

use otto_hooks_plugin_api::host::{self, Instance};
use otto_hooks_plugin_api::*;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    keep: usize,
}

/// Keeps the `keep` newest runs; records every hook call.
struct Recorder {
    keep: usize,
    calls: Mutex<Vec<String>>,
}

impl Plugin for Recorder {
    const NAME: &'static str = "recorder";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "records calls";
    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let s: Settings = config.parse()?;
        Ok(Recorder {
            keep: s.keep,
            calls: Mutex::new(Vec::new()),
        })
    }
    fn run_start(&self, start: &RunStart<'_>) -> Result<(), PluginError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("start {}", start.run_id));
        Ok(())
    }
    fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
        if event.kind == "boom" {
            panic!("boom in {}", ctx.run_id);
        }
        if event.kind == "bad" {
            return Err(PluginError::invalid("bad event\nover two lines"));
        }
        self.calls.lock().unwrap().push(format!(
            "event {} {}",
            event.kind,
            event.payload.unwrap_or("")
        ));
        Ok(())
    }
}

impl Retention for Recorder {
    fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, PluginError> {
        let mut runs: Vec<&Run> = input.runs.iter().collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        Ok(runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if i < self.keep {
                    Decision::keep(&r.id, vec![format!("last#{}", i + 1)])
                } else {
                    Decision::delete(&r.id, vec![])
                }
            })
            .collect())
    }
}

plugin_module! {
    static MODULE = [retention(Recorder)];
}

fn instance(settings: &str) -> Result<Instance, host::CallError> {
    // SAFETY: MODULE is a static of this test.
    let plugins = unsafe { host::open_module(&MODULE) }.unwrap();
    plugins[0].instantiate("retention.recorder", &settings.parse().unwrap(), "/tmp")
}

fn run(id: &str, secs: i64) -> Run {
    Run {
        id: id.into(),
        project: "p-0123abcd".into(),
        started_at: Timestamp::from_secs(secs),
        ..Default::default()
    }
}

#[test]
fn declarations_read_back_through_the_host() {
    // SAFETY: as above.
    let plugins = unsafe { host::open_module(&MODULE) }.unwrap();
    let p = &plugins[0];
    assert_eq!(
        (p.name(), p.version(), p.kind()),
        ("recorder", "0.1.0", PluginKind::Retention)
    );
    assert_eq!(p.abi(), abi::ABI_VERSION);
    assert!(p.offers().contains(&"decide"));
    assert!(p.offers().contains(&"events"));
}

#[test]
fn decisions_and_reasons_cross_the_boundary() {
    let inst = instance("keep = 1").unwrap();
    let runs = [run("1", 10), run("2", 20), run("3", 5)];
    let out = inst
        .decide(&RetentionInput {
            group: "p",
            now: Timestamp::from_secs(30),
            runs: &runs,
        })
        .unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Decision::keep("2", vec!["last#1".into()]));
    assert_eq!(out[1].action, Action::Delete);
}

#[test]
fn a_bad_setting_is_an_error_naming_the_key() {
    let err = instance("kep = 1").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("kep"), "{err}");
}

#[test]
fn events_arrive_in_order_with_payloads() {
    let inst = instance("").unwrap();
    let ctx = HookContext {
        project: "p",
        run_id: "r1",
    };
    let e = |kind| Event {
        time: Timestamp::from_secs(1),
        kind,
        unit: None,
        task: None,
        pr: None,
        payload: Some("{\"a\":1}"),
        error: None,
    };
    inst.events(&ctx, &[e("a"), e("b")]).unwrap();
    inst.event(&ctx, &e("c")).unwrap();
    let err = inst.event(&ctx, &e("bad")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "retention `recorder`: bad event over two lines"
    );
}

#[test]
fn a_panic_becomes_an_error_and_disables_the_instance() {
    let inst = instance("").unwrap();
    let ctx = HookContext {
        project: "p",
        run_id: "r9",
    };
    let boom = Event {
        time: Timestamp::from_secs(1),
        kind: "boom",
        unit: None,
        task: None,
        pr: None,
        payload: None,
        error: None,
    };
    let err = inst.event(&ctx, &boom).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Panic);
    assert!(err.message.contains("boom in r9"), "{err}");
    assert!(
        err.message.contains("(at plugin-api/tests/roundtrip.rs:"),
        "the location is kept: {err}"
    );
    assert!(inst.disabled_reason().is_some());
    let again = inst
        .decide(&RetentionInput {
            group: "p",
            now: Timestamp::from_secs(0),
            runs: &[],
        })
        .unwrap_err();
    assert!(again.message.contains("disabled"), "{again}");
    // A second instance of the same plugin is unaffected.
    let other = instance("").unwrap();
    assert!(
        other
            .decide(&RetentionInput {
                group: "p",
                now: Timestamp::from_secs(0),
                runs: &[]
            })
            .is_ok()
    );
}
