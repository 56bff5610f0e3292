//! The plugin conformance suite, run against every good plugin library the
//! workspace builds ([`GOOD_LIBRARIES`]): `plugins check` passes, the
//! metadata is sane, every offered hook answers on sample data, and no
//! adversarial input makes a plugin panic.

use otto_hooks_core::registry::check::check_library;
use otto_hooks_core::registry::samples;
use otto_hooks_plugin_api::abi::ABI_VERSION;
use otto_hooks_plugin_api::host::{CallError, Instance, PluginHandle};
use otto_hooks_plugin_api::{
    Action, Document, DocumentKind, ErrorKind, Event, HookContext, PluginKind, RetentionInput, Run,
    RunQuery, RunResult, RunStart, RunStatus, Timestamp,
};
use otto_hooks_tests::{
    GOOD_LIBRARIES, PrivateDir, PrivateLibrary, conformance_settings, library, library_file_name,
};

/// One good library, copied to a private directory, with its settings.
struct Subject {
    crate_name: &'static str,
    lib: PrivateLibrary,
    data: PrivateDir,
    settings: toml::Table,
}

impl Subject {
    fn all() -> Vec<Subject> {
        GOOD_LIBRARIES
            .iter()
            .map(|&crate_name| {
                let lib = PrivateLibrary::of(crate_name);
                let data = PrivateDir::new();
                let settings = conformance_settings(crate_name, data.path());
                Subject {
                    crate_name,
                    lib,
                    data,
                    settings,
                }
            })
            .collect()
    }

    fn instantiate(&self, handle: &PluginHandle) -> Instance {
        let name = format!("{}.{}", handle.kind(), handle.name());
        handle
            .instantiate(&name, &self.settings, &self.data.path().to_string_lossy())
            .unwrap_or_else(|e| panic!("{}: cannot create {name}: {e}", self.crate_name))
    }
}

#[test]
fn the_suite_checks_a_non_empty_list_that_includes_the_builtin_library() {
    assert!(!GOOD_LIBRARIES.is_empty());
    assert!(GOOD_LIBRARIES.contains(&"otto-hooks-builtin"));
    assert_eq!(
        library_file_name("otto-hooks-builtin"),
        format!(
            "{}otto_hooks_builtin{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    );
    // Every listed library exists (this panics with the build command if
    // not) and declares at least one plugin: nothing is checked vacuously.
    for crate_name in GOOD_LIBRARIES {
        assert!(library(crate_name).is_file());
        let lib = PrivateLibrary::of(crate_name);
        assert!(!lib.load().is_empty(), "{crate_name} declares no plugins");
    }
    let builtin = PrivateLibrary::of("otto-hooks-builtin").load();
    let names: Vec<&str> = builtin.iter().map(|h| h.name()).collect();
    for reporter in ["table", "json", "markdown"] {
        assert!(
            names.contains(&reporter),
            "the builtin library declares {names:?}"
        );
    }
}

#[test]
fn every_good_library_passes_plugins_check() {
    for s in Subject::all() {
        let report = check_library(&s.lib.path, &s.settings, s.data.path());
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|step| !step.ok)
            .map(|step| format!("{}: {}", step.step, step.detail))
            .collect();
        assert!(
            report.passed,
            "{} fails `plugins check`: {failed:#?}",
            s.crate_name
        );
        assert!(failed.is_empty());
        for step in ["trust", "load", "abi"] {
            assert!(
                report.steps.iter().any(|st| st.step == step && st.ok),
                "{}: no passing `{step}` step: {:#?}",
                s.crate_name,
                report.steps
            );
        }
        for step in &report.steps {
            assert!(!step.detail.contains('\n'), "{}: {step:?}", s.crate_name);
        }
    }
}

#[test]
fn every_plugin_has_sane_metadata() {
    for s in Subject::all() {
        let handles = s.lib.load();
        assert!(!handles.is_empty(), "{}", s.crate_name);
        for h in &handles {
            let who = format!("{}: {} `{}`", s.crate_name, h.kind(), h.name());
            assert!(!h.name().is_empty(), "{who}");
            assert!(!h.version().is_empty(), "{who}");
            let parts: Vec<&str> = h.version().split(['.', '-', '+']).collect();
            assert!(
                parts.len() >= 3 && parts[..3].iter().all(|p| p.parse::<u64>().is_ok()),
                "{who}: version `{}` is not semver",
                h.version()
            );
            assert_ne!(h.kind(), PluginKind::Unknown, "{who}");
            assert!(ABI_VERSION.can_load(h.abi()), "{who}: ABI {}", h.abi());
            let required = match h.kind() {
                PluginKind::Storage => "list_runs",
                PluginKind::Status => "detect",
                PluginKind::Retention => "decide",
                _ => "render",
            };
            assert!(
                h.offers().contains(&required),
                "{who}: offers {:?}",
                h.offers()
            );
            assert!(!h.description().contains('\n'), "{who}");
        }
        // Names are unique within a kind across the library.
        let mut keys: Vec<(PluginKind, &str)> =
            handles.iter().map(|h| (h.kind(), h.name())).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "{}: duplicate names", s.crate_name);
    }
}

/// A lifecycle hook's answer: anything but a panic or an I/O failure.
fn hook_ok(who: &str, hook: &str, result: Result<(), CallError>) {
    if let Err(e) = result {
        assert!(
            e.kind != ErrorKind::Panic && e.kind != ErrorKind::Io,
            "{who}: {hook} on sample data: {e}"
        );
    }
}

#[test]
fn every_offered_hook_answers_on_sample_data() {
    for s in Subject::all() {
        for h in s.lib.load() {
            let who = format!("{}: {} `{}`", s.crate_name, h.kind(), h.name());
            let i = s.instantiate(&h);
            let offers = h.offers();
            let ctx = samples::context();
            let events = samples::events();
            if offers.contains(&"run_start") {
                hook_ok(&who, "run_start", i.run_start(&samples::run_start()));
            }
            if offers.contains(&"events") {
                hook_ok(&who, "events", i.events(&ctx, &events[..2]));
            }
            if offers.contains(&"event") {
                for e in &events[2..] {
                    hook_ok(&who, "event", i.event(&ctx, e));
                }
            }
            if offers.contains(&"run_complete") {
                hook_ok(&who, "run_complete", i.run_complete(&samples::run_result()));
            }
            match h.kind() {
                PluginKind::Storage => {
                    let runs = i
                        .list_runs(&RunQuery::default())
                        .unwrap_or_else(|e| panic!("{who}: list_runs: {e}"));
                    for r in &runs {
                        assert!(!r.id.is_empty() && !r.project.is_empty(), "{who}: {r:?}");
                    }
                    let limited = i
                        .list_runs(&RunQuery {
                            project: Some(samples::PROJECT),
                            limit: Some(1),
                        })
                        .unwrap_or_else(|e| panic!("{who}: list_runs: {e}"));
                    assert!(limited.len() <= 1, "{who}: limit 1 gave {limited:?}");
                    assert!(
                        limited.iter().all(|r| r.project == samples::PROJECT),
                        "{who}"
                    );
                    if offers.contains(&"run_details") {
                        match i.run_details(&ctx) {
                            Ok(d) => assert_eq!(d.run.id, samples::RUN_ID, "{who}"),
                            Err(e) => assert!(
                                matches!(e.kind, ErrorKind::NotFound | ErrorKind::Unsupported),
                                "{who}: run_details: {e}"
                            ),
                        }
                    }
                }
                PluginKind::Status => {
                    for run in samples::runs() {
                        i.detect(&run)
                            .unwrap_or_else(|e| panic!("{who}: detect: {e}"));
                    }
                }
                PluginKind::Retention => {
                    let runs = samples::runs();
                    let decisions = i
                        .decide(&RetentionInput {
                            group: samples::PROJECT,
                            now: Timestamp::from_secs(samples::START + 60),
                            runs: &runs,
                        })
                        .unwrap_or_else(|e| panic!("{who}: decide: {e}"));
                    for d in &decisions {
                        assert!(runs.iter().any(|r| r.id == d.run_id), "{who}: {d:?}");
                        assert!(
                            d.action != Action::Keep || !d.reasons.is_empty(),
                            "{who}: {d:?}"
                        );
                    }
                }
                PluginKind::Reporter => {
                    let mut rendered = 0;
                    for (kind, json) in samples::documents() {
                        match i.render(&Document { kind, json: &json }) {
                            Ok(text) => {
                                assert!(!text.is_empty(), "{who}: rendered {kind} as nothing");
                                rendered += 1;
                            }
                            Err(e) if e.kind == ErrorKind::Unsupported => {}
                            Err(e) => panic!("{who}: render {kind}: {e}"),
                        }
                    }
                    assert!(rendered > 0, "{who}: rendered no sample document");
                }
                PluginKind::Unknown => unreachable!("{who}: refused by the host"),
            }
            assert!(i.disabled_reason().is_none(), "{who}");
        }
    }
}

// ---------------------------------------------------------------------------
// The panic probe
// ---------------------------------------------------------------------------

const UNICODE: &str = "プロジェクト-🚀-\u{202e}ɹǝʌo-\u{0}-é\u{301}";
const LONG_LEN: usize = 100_000;

/// Collects every call that panicked.
struct Probe<'a> {
    who: String,
    instance: &'a Instance,
    panics: Vec<String>,
}

impl Probe<'_> {
    fn call<T>(&mut self, what: impl std::fmt::Display, result: Result<T, CallError>) {
        if let Err(e) = result {
            if e.kind == ErrorKind::Panic {
                self.panics.push(format!("{}: {what}: {e}", self.who));
            }
        }
    }
}

fn adversarial_events(long: &str) -> Vec<Event<'_>> {
    let payloads: [Option<&str>; 11] = [
        None,
        Some(""),
        Some(r#"{"value":1}"#),
        Some("[1,2,3]"),
        Some("1"),
        Some(r#""text""#),
        Some("null"),
        Some("not json"),
        Some(r#"{"graph":{"nodes":"not a list","edges":[null]},"unit_count":-1}"#),
        Some(
            r#"{"big":1e309,"n":18446744073709551616,"deep":[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]}"#,
        ),
        Some(long),
    ];
    let kinds = ["", "unit.failed", ".failed", UNICODE, "orch.started", long];
    let mut events = Vec::new();
    for (i, payload) in payloads.into_iter().enumerate() {
        for kind in kinds {
            let extreme = i % 2 == 0;
            events.push(Event {
                time: if extreme {
                    Timestamp {
                        secs: i64::MAX,
                        nanos: 999_999_999,
                    }
                } else {
                    Timestamp::from_secs(i64::MIN)
                },
                kind,
                unit: [None, Some(""), Some(UNICODE)][i % 3],
                task: Some(if extreme { i64::MAX } else { i64::MIN }),
                pr: Some(if extreme { -1 } else { i64::MAX }),
                payload,
                error: [None, Some(""), Some(UNICODE)][(i + 1) % 3],
            });
        }
    }
    events
}

fn adversarial_runs(long: &str) -> Vec<Run> {
    let times = [i64::MIN, -1, 0, 1, i64::MAX];
    let ids = [
        "",
        "1795342500",
        "1795342500-1",
        "1795342500-",
        "-1",
        UNICODE,
        long,
    ];
    let mut runs = Vec::new();
    for (n, &secs) in times.iter().enumerate() {
        for (m, id) in ids.iter().enumerate() {
            let mut attributes = serde_json::Map::new();
            if m % 2 == 0 {
                attributes.insert("value".into(), 1.into());
                attributes.insert(UNICODE.into(), serde_json::Value::Null);
            }
            runs.push(Run {
                id: (*id).to_owned(),
                project: [
                    String::new(),
                    UNICODE.to_owned(),
                    samples::PROJECT.to_owned(),
                ][m % 3]
                    .clone(),
                started_at: Timestamp {
                    secs,
                    nanos: 999_999_999,
                },
                ended_at: [
                    None,
                    Some(Timestamp::from_secs(i64::MIN)),
                    Some(Timestamp::from_secs(i64::MAX)),
                ][(n + m) % 3],
                status: RunStatus::ALL[(n + m) % RunStatus::ALL.len()],
                status_source: [None, Some(String::new()), Some(UNICODE.to_owned())][m % 3].clone(),
                task_count: u32::MAX,
                size_bytes: [None, Some(0), Some(u64::MAX)][n % 3],
                allocated_bytes: [None, Some(u64::MAX), Some(0)][m % 3],
                location: [String::new(), UNICODE.to_owned(), long.to_owned()][n % 3].clone(),
                pinned: (n + m) % 2 == 0,
                attributes,
            });
        }
    }
    // Duplicate ids, too.
    runs.extend(runs.clone().into_iter().take(3));
    runs
}

/// Every adversarial call this plugin offers, on one fresh instance per
/// group so that a first panic does not hide the others.
fn probe(s: &Subject, h: &PluginHandle) -> Vec<String> {
    let who = format!("{}: {} `{}`", s.crate_name, h.kind(), h.name());
    let long = "x".repeat(LONG_LEN);
    let events = adversarial_events(&long);
    let runs = adversarial_runs(&long);
    let contexts = [
        HookContext {
            project: "",
            run_id: "",
        },
        HookContext {
            project: UNICODE,
            run_id: UNICODE,
        },
        HookContext {
            project: &long,
            run_id: "run",
        },
    ];
    let mut panics = Vec::new();

    // Lifecycle hooks.
    {
        let instance = s.instantiate(h);
        let mut p = Probe {
            who: who.clone(),
            instance: &instance,
            panics: Vec::new(),
        };
        for ctx in &contexts {
            for (secs, strings) in [(i64::MIN, ""), (i64::MAX, UNICODE), (0, long.as_str())] {
                let start = RunStart {
                    project: ctx.project,
                    run_id: ctx.run_id,
                    started_at: Timestamp {
                        secs,
                        nanos: 999_999_999,
                    },
                    repo_path: Some(strings),
                    parallelism: Some(u32::MAX),
                    total_units: Some(0),
                    tasks_dir: Some(strings),
                    dry_run: secs == 0,
                };
                p.call(
                    format!("run_start({start:?})"),
                    p.instance.run_start(&start),
                );
            }
            p.call("events([])", p.instance.events(ctx, &[]));
            p.call("events(adversarial batch)", p.instance.events(ctx, &events));
            for e in &events {
                p.call(format!("event({e:?})"), p.instance.event(ctx, e));
            }
            for status in RunStatus::ALL {
                let result = RunResult {
                    project: ctx.project,
                    run_id: ctx.run_id,
                    ended_at: Timestamp::from_secs(i64::MIN),
                    status: *status,
                    completed_units: Some(u32::MAX),
                    failed_units: None,
                    blocked_units: Some(0),
                    error: Some(UNICODE),
                };
                p.call(
                    format!("run_complete({result:?})"),
                    p.instance.run_complete(&result),
                );
            }
        }
        panics.append(&mut p.panics);
    }

    // The kind's own methods.
    let instance = s.instantiate(h);
    let mut p = Probe {
        who,
        instance: &instance,
        panics: Vec::new(),
    };
    match h.kind() {
        PluginKind::Storage => {
            // Give it adversarial history first (a recorder lists what it saw).
            for ctx in &contexts {
                let _ = p.instance.run_start(&RunStart {
                    project: ctx.project,
                    run_id: ctx.run_id,
                    started_at: Timestamp::from_secs(i64::MAX),
                    repo_path: None,
                    parallelism: None,
                    total_units: None,
                    tasks_dir: None,
                    dry_run: false,
                });
            }
            for project in [
                None,
                Some(""),
                Some(UNICODE),
                Some(long.as_str()),
                Some(samples::PROJECT),
            ] {
                for limit in [None, Some(0), Some(1), Some(u64::MAX)] {
                    let query = RunQuery { project, limit };
                    p.call(
                        format!("list_runs({query:?})"),
                        p.instance.list_runs(&query),
                    );
                }
            }
            for ctx in &contexts {
                p.call(format!("run_details({ctx:?})"), p.instance.run_details(ctx));
            }
        }
        PluginKind::Status => {
            for run in &runs {
                p.call(format!("detect({run:?})"), p.instance.detect(run));
            }
        }
        PluginKind::Retention => {
            for now in [i64::MIN, -1, 0, samples::START, i64::MAX] {
                let now = Timestamp {
                    secs: now,
                    nanos: 999_999_999,
                };
                for group in ["", UNICODE, samples::PROJECT] {
                    let empty = RetentionInput {
                        group,
                        now,
                        runs: &[],
                    };
                    p.call(
                        format!("decide(no runs, now {now:?})"),
                        p.instance.decide(&empty),
                    );
                    let input = RetentionInput {
                        group,
                        now,
                        runs: &runs,
                    };
                    p.call(
                        format!("decide(adversarial runs, now {now:?})"),
                        p.instance.decide(&input),
                    );
                }
            }
        }
        PluginKind::Reporter => {
            let texts = [
                "{}",
                "not json",
                "",
                "[]",
                "null",
                "[{}]",
                r#"{"total_bytes":-1,"projects":"x"}"#,
                r#"[{"run":1e400,"size_bytes":18446744073709551616}]"#,
                r#"{"tasks":[{"name":null}],"attributes":[]}"#,
                UNICODE,
                long.as_str(),
            ];
            for kind in DocumentKind::ALL {
                for json in texts {
                    let doc = Document { kind: *kind, json };
                    let shown: String = json.chars().take(60).collect();
                    p.call(
                        format!("render({kind}, {shown:?})"),
                        p.instance.render(&doc),
                    );
                }
            }
            // The two the contract names explicitly.
            for json in ["{}", "not json"] {
                let doc = Document {
                    kind: DocumentKind::Unknown,
                    json,
                };
                p.call(
                    format!("render(unknown, {json:?})"),
                    p.instance.render(&doc),
                );
            }
        }
        PluginKind::Unknown => {}
    }
    panics.append(&mut p.panics);
    panics
}

#[test]
fn no_plugin_panics_on_adversarial_input() {
    let mut panics = Vec::new();
    let mut probed = Vec::new();
    for s in Subject::all() {
        for h in s.lib.load() {
            probed.push(format!("{} `{}`", h.kind(), h.name()));
            panics.extend(probe(&s, &h));
        }
    }
    assert!(probed.len() >= GOOD_LIBRARIES.len(), "{probed:?}");
    assert!(
        panics.is_empty(),
        "{} call(s) panicked (errors are fine, panics are not):\n{}",
        panics.len(),
        panics
            .iter()
            .map(|p| p.chars().take(400).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_panic_probe_reports_a_plugin_that_panics() {
    // The probe is not vacuous: on the panicking fixture it finds the
    // reporter's panics, and the retention plugin (which panics only on a
    // `boom` event or with `panic = true`) passes.
    let lib = PrivateLibrary::of("fixture-panicky");
    let data = PrivateDir::new();
    let s = Subject {
        crate_name: "fixture-panicky",
        lib,
        data,
        settings: toml::Table::new(),
    };
    let handles = s.lib.load();
    let reporter = handles
        .iter()
        .find(|h| h.name() == "panicky-reporter")
        .unwrap();
    let retention = handles.iter().find(|h| h.name() == "panicky").unwrap();
    let panics = probe(&s, reporter);
    assert!(!panics.is_empty());
    assert!(panics[0].contains("render"), "{}", panics[0]);
    assert!(panics[0].contains("render always panics"), "{}", panics[0]);
    assert_eq!(probe(&s, retention), Vec::<String>::new());
}
