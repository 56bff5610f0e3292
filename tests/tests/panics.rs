//! A plugin can't take the host down by accident: a panic becomes an error
//! value, that instance is disabled, and the host carries on.

use otto_hooks_core::registry::{Registry, samples};
use otto_hooks_core::render::{Streamed, render, render_json_to};
use otto_hooks_plugin_api::host::{CallError, Instance, PluginHandle};
use otto_hooks_plugin_api::{
    Action, DeleteReport, DocumentKind, ErrorKind, EventPage, EventQuery, ExpireReport,
    ExpireRequest, Plugin, PluginConfig, PluginError, PluginKind, RetentionInput, Run, RunQuery,
    RunResume, RunStop, Storage, Timestamp,
};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, event, instantiate, settings, spec};

const DECIDE_PANIC: &str = "panicky: decide was told to panic (panic = true)";
const EVENT_PANIC: &str = "panicky: event hook got a `boom` event";
const RENDER_PANIC: &str = "panicky-reporter: render always panics";
const STOP_PANIC: &str = "panicky: run_stop got the reason `boom`";
const RESUME_PANIC: &str = "panicky: run_resume got the run `boom`";

fn decide(instance: &Instance) -> Result<Vec<otto_hooks_plugin_api::Decision>, CallError> {
    let runs = samples::runs();
    instance.decide(&RetentionInput {
        group: samples::PROJECT,
        now: Timestamp::from_secs(samples::START + 60),
        runs: &runs,
    })
}

fn assert_panic(err: &CallError, message: &str) {
    assert_eq!(err.kind, ErrorKind::Panic, "{err}");
    assert!(err.message.contains(message), "{err}");
    assert_eq!(err.plugin, "retention `panicky`");
    let shown = err.to_string();
    assert!(shown.contains("panicked"), "{shown}");
    assert!(!shown.contains('\n'), "{shown:?}");
}

fn assert_disabled(instance: &Instance, first_panic: &str) {
    let reason = instance
        .disabled_reason()
        .expect("the instance is disabled");
    assert!(reason.contains(first_panic), "{reason}");
    // Later calls fail fast, naming the first panic, without a new panic.
    for err in [
        decide(instance).expect_err("decide on a disabled instance"),
        instance
            .event(&samples::context(), &event("unit.started", None, 1))
            .expect_err("event on a disabled instance"),
        instance
            .run_start(&samples::run_start())
            .expect_err("run_start on a disabled instance"),
        instance
            .run_complete(&samples::run_result())
            .expect_err("run_complete on a disabled instance"),
        instance
            .run_stop(&stop(None))
            .expect_err("run_stop on a disabled instance"),
        instance
            .run_resume(&resume(samples::RUN_ID))
            .expect_err("run_resume on a disabled instance"),
    ] {
        assert_eq!(err.kind, ErrorKind::Panic, "{err}");
        assert!(err.message.contains("disabled"), "{err}");
        assert!(err.message.contains(first_panic), "{err}");
    }
}

fn stop(reason: Option<&str>) -> RunStop<'_> {
    RunStop {
        project: samples::PROJECT,
        run_id: samples::RUN_ID,
        at: Timestamp::from_secs(samples::START + 30),
        reason,
    }
}

fn resume(run_id: &str) -> RunResume<'_> {
    RunResume {
        project: samples::PROJECT,
        run_id,
        at: Timestamp::from_secs(samples::START + 40),
    }
}

fn panicky() -> (PrivateLibrary, PluginHandle) {
    let lib = PrivateLibrary::of("fixture-panicky");
    let handle = lib.plugin("panicky");
    (lib, handle)
}

#[test]
fn a_panic_in_decide_is_an_error_that_disables_the_instance_and_the_host_carries_on() {
    let (_lib, handle) = panicky();
    let data = PrivateDir::new();
    let doomed = instantiate(&handle, &settings("panic = true"), data.path());
    assert!(doomed.disabled_reason().is_none());

    let err = decide(&doomed).unwrap_err();
    assert_panic(&err, DECIDE_PANIC);
    assert!(err.message.contains("instance disabled"), "{err}");
    assert_disabled(&doomed, DECIDE_PANIC);

    // A second instance of the same plugin, created afterwards, works.
    let fine = instantiate(&handle, &toml::Table::new(), data.path());
    assert!(fine.disabled_reason().is_none());
    let decisions = decide(&fine).unwrap();
    assert_eq!(decisions.len(), samples::runs().len());
    assert!(
        decisions
            .iter()
            .all(|d| d.action == Action::Keep && d.reasons == ["fixture"])
    );
    // So does a new instance told to panic, until it does.
    let next = instantiate(&handle, &settings("panic = true"), data.path());
    assert!(next.disabled_reason().is_none());
    assert_panic(&decide(&next).unwrap_err(), DECIDE_PANIC);
    // And the earlier one is still disabled, for the same first reason.
    assert_disabled(&doomed, DECIDE_PANIC);
}

#[test]
fn a_panic_in_the_event_hook_on_a_boom_event_disables_only_that_instance() {
    let (_lib, handle) = panicky();
    let data = PrivateDir::new();
    let ctx = samples::context();
    let instance = instantiate(&handle, &toml::Table::new(), data.path());
    let sibling = instantiate(&handle, &toml::Table::new(), data.path());

    instance
        .event(&ctx, &event("unit.started", None, 1))
        .unwrap();
    let err = instance.event(&ctx, &event("boom", None, 2)).unwrap_err();
    assert_panic(&err, EVENT_PANIC);
    assert_disabled(&instance, EVENT_PANIC);

    // The sibling took no damage; in a batch (the SDK's `events` entry),
    // `boom` panics there too.
    sibling
        .event(&ctx, &event("unit.started", None, 1))
        .unwrap();
    assert!(decide(&sibling).is_ok());
    let batch = [
        event("unit.started", None, 1),
        event("boom", None, 2),
        event("unit.completed", None, 3),
    ];
    assert_panic(&sibling.events(&ctx, &batch).unwrap_err(), EVENT_PANIC);
    assert_disabled(&sibling, EVENT_PANIC);
}

#[test]
fn panics_on_many_threads_at_once_are_all_caught() {
    let (_lib, handle) = panicky();
    let data = PrivateDir::new();
    let instance = instantiate(&handle, &settings("panic = true"), data.path());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..8).map(|_| s.spawn(|| decide(&instance))).collect();
        for worker in workers {
            let err = worker
                .join()
                .expect("no panic escapes a plugin call")
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Panic, "{err}");
        }
    });
    assert_disabled(&instance, DECIDE_PANIC);
    // Many panicking instances later, the process is fine.
    for _ in 0..20 {
        let i = instantiate(&handle, &settings("panic = true"), data.path());
        assert!(decide(&i).is_err());
    }
    let fine = instantiate(&handle, &toml::Table::new(), data.path());
    assert!(decide(&fine).is_ok());
}

/// The built-ins and the panicky library (kept alive with its data dir).
fn registry_with_panicky() -> (PrivateLibrary, PrivateDir, Registry) {
    let lib = PrivateLibrary::of("fixture-panicky");
    let data = PrivateDir::new();
    let mut registry = Registry::with_builtins();
    assert_eq!(
        registry.add_library(&lib.path),
        2,
        "{:?}",
        registry.refusals()
    );
    (lib, data, registry)
}

/// The sample run summary document, as JSON text.
fn run_summary_json() -> String {
    samples::documents()
        .into_iter()
        .find(|(kind, _)| *kind == DocumentKind::RunSummary)
        .map(|(_, json)| json)
        .expect("a sample run summary")
}

#[test]
fn a_panicking_reporter_falls_back_to_json_with_a_warning() {
    let (_lib, data, registry) = registry_with_panicky();
    assert!(
        registry
            .find(PluginKind::Reporter, "panicky-reporter")
            .is_some()
    );

    let reporter = spec(
        PluginKind::Reporter,
        "panicky-reporter",
        "reporter.panicky-reporter",
        toml::Table::new(),
    );
    let doc: serde_json::Value = serde_json::from_str(&run_summary_json()).unwrap();
    let rendered = render(
        &registry,
        &reporter,
        data.path(),
        DocumentKind::RunSummary,
        &doc,
    )
    .expect("the json fallback renders");
    let reparsed: serde_json::Value = serde_json::from_str(&rendered.text)
        .unwrap_or_else(|e| panic!("the fallback output is not JSON ({e}): {}", rendered.text));
    assert_eq!(reparsed, doc);

    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    let warning = &rendered.warnings[0];
    assert!(warning.contains("panicky-reporter"), "{warning}");
    assert!(warning.contains("panicked"), "{warning}");
    assert!(warning.contains(RENDER_PANIC), "{warning}");
    assert!(!warning.contains('\n'), "{warning:?}");

    // The process carries on: the same reporter panics again, cleanly, in a
    // fresh instance; the table reporter still renders.
    let again = render(
        &registry,
        &reporter,
        data.path(),
        DocumentKind::RunSummary,
        &doc,
    )
    .unwrap();
    assert_eq!(again.warnings.len(), 1);
    let table = spec(
        PluginKind::Reporter,
        "table",
        "reporter.table",
        toml::Table::new(),
    );
    let by_table = render(
        &registry,
        &table,
        data.path(),
        DocumentKind::RunSummary,
        &doc,
    )
    .unwrap();
    assert!(by_table.warnings.is_empty(), "{:?}", by_table.warnings);
}

#[test]
fn streamed_output_falls_back_to_json_only_while_nothing_went_out() {
    let (_lib, data, registry) = registry_with_panicky();
    let json = run_summary_json();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let stream = |settings: toml::Table, out: &mut dyn std::io::Write| {
        let reporter = spec(
            PluginKind::Reporter,
            "panicky-reporter",
            "reporter.panicky-reporter",
            settings,
        );
        let mut warnings = Vec::new();
        let streamed = render_json_to(
            &registry,
            &reporter,
            data.path(),
            DocumentKind::RunSummary,
            &json,
            out,
            &mut |w| warnings.push(w.to_owned()),
        );
        (streamed, warnings)
    };

    // It panics before any output: the json reporter takes over, and the
    // output is the document, once.
    let mut out = Vec::new();
    match stream(toml::Table::new(), &mut out) {
        (Streamed::Written, warnings) => {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains(RENDER_PANIC), "{warnings:?}");
        }
        other => panic!("expected the json fallback, got {other:?}"),
    }
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        doc
    );

    // It panics after a line went out: no fallback (output is never mixed),
    // the failure names what happened.
    let mut out = Vec::new();
    match stream(settings("after_output = true"), &mut out) {
        (Streamed::Failed(message), warnings) => {
            assert!(warnings.is_empty(), "{warnings:?}");
            assert!(message.contains(RENDER_PANIC), "{message}");
            assert!(message.contains("after part of its output"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(String::from_utf8(out).unwrap(), "partial output\n");

    // A failing writer (a closed pipe) stops the rendering with its error.
    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let table = spec(
        PluginKind::Reporter,
        "table",
        "reporter.table",
        toml::Table::new(),
    );
    match render_json_to(
        &registry,
        &table,
        data.path(),
        DocumentKind::RunSummary,
        &json,
        &mut Closed,
        &mut |w| panic!("no reporter failed, yet: {w}"),
    ) {
        Streamed::Write(e) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("expected the write error, got {other:?}"),
    }
}

#[test]
fn panics_in_run_stop_and_run_resume_are_caught_and_disable_the_instance() {
    let (_lib, handle) = panicky();
    let data = PrivateDir::new();
    let stopped = instantiate(&handle, &toml::Table::new(), data.path());
    stopped.run_stop(&stop(Some("user asked"))).unwrap();
    stopped.run_stop(&stop(None)).unwrap();
    stopped.run_resume(&resume(samples::RUN_ID)).unwrap();
    let err = stopped.run_stop(&stop(Some("boom"))).unwrap_err();
    assert_panic(&err, STOP_PANIC);
    assert!(err.message.contains("instance disabled"), "{err}");
    assert_disabled(&stopped, STOP_PANIC);

    let resumed = instantiate(&handle, &toml::Table::new(), data.path());
    let err = resumed.run_resume(&resume("boom")).unwrap_err();
    assert_panic(&err, RESUME_PANIC);
    assert_disabled(&resumed, RESUME_PANIC);
    // Siblings carry on.
    let fine = instantiate(&handle, &toml::Table::new(), data.path());
    fine.run_resume(&resume(samples::RUN_ID)).unwrap();
    assert!(decide(&fine).is_ok());
}

/// A storage whose ABI 1.3 methods panic, exported through the SDK's shims
/// into this test binary.
struct PanickyStore;

const EVENTS_PANIC: &str = "panicky-store: events";
const DELETE_PANIC: &str = "panicky-store: delete_runs";
const EXPIRE_PANIC: &str = "panicky-store: expire";

impl Plugin for PanickyStore {
    const NAME: &'static str = "panicky-store";
    const VERSION: &'static str = "1.0.0";
    fn new(_: &PluginConfig) -> Result<Self, PluginError> {
        Ok(PanickyStore)
    }
}

impl Storage for PanickyStore {
    fn list_runs(&self, _: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
        Ok(Vec::new())
    }
    fn events(&self, _: &EventQuery<'_>) -> Result<EventPage, PluginError> {
        panic!("{EVENTS_PANIC}");
    }
    fn delete_runs(&self, _: &[&str]) -> Result<DeleteReport, PluginError> {
        panic!("{DELETE_PANIC}");
    }
    fn expire(&self, _: &ExpireRequest) -> Result<ExpireReport, PluginError> {
        panic!("{EXPIRE_PANIC}");
    }
}

otto_hooks_plugin_api::plugin_module! {
    static PANICKY_STORE = [storage(PanickyStore)];
}

#[test]
fn panics_in_the_1_3_storage_methods_are_caught_and_disable_the_instance() {
    // SAFETY: a static of this program.
    let handles = unsafe { otto_hooks_plugin_api::host::open_module(&PANICKY_STORE) }.unwrap();
    let data = PrivateDir::new();
    type Call = fn(&Instance) -> Result<(), CallError>;
    let calls: [(&str, Call); 3] = [
        (EVENTS_PANIC, |i| {
            i.stored_events(&EventQuery {
                run_id: samples::RUN_ID,
                limit: 10,
                ..EventQuery::default()
            })
            .map(drop)
        }),
        (DELETE_PANIC, |i| {
            i.delete_runs(&[samples::RUN_ID]).map(drop)
        }),
        (EXPIRE_PANIC, |i| {
            i.expire(&ExpireRequest {
                cutoff: Timestamp::from_secs(samples::START),
                dry_run: true,
            })
            .map(drop)
        }),
    ];
    for (message, call) in calls {
        let i = instantiate(&handles[0], &toml::Table::new(), data.path());
        let err = call(&i).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Panic, "{err}");
        assert!(err.message.contains(message), "{err}");
        assert!(err.message.contains("instance disabled"), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
        assert_eq!(err.plugin, "storage `panicky-store`");
        // Every later call fails fast, naming the first panic.
        for (_, later) in calls {
            let again = later(&i).unwrap_err();
            assert_eq!(again.kind, ErrorKind::Panic, "{again}");
            assert!(again.message.contains("disabled"), "{again}");
            assert!(again.message.contains(message), "{again}");
        }
        assert!(i.run_stop(&stop(None)).is_err());
    }
}
