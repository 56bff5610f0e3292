//! `otto-hooks plugins check <PATH>`: everything the host would do with a
//! library, one step at a time, with a verdict.
//!
//! Steps: the trust checks, loading, the ABI version, each plugin's
//! metadata, creating an instance with the given settings, then one call of
//! every hook and method the plugin offers, on [`samples`] data.

use std::path::Path;

use otto_hooks_plugin_api::host::PluginHandle;
use otto_hooks_plugin_api::{Action, Document, ErrorKind, PluginKind, RetentionInput, RunQuery};
use serde::Serialize;

use std::time::Instant;

use super::isolation::{self, Isolation};
use super::proxy::{self, PluginInstance};
use super::{samples, trust};

/// Whatever runs the plugin: the checks call both modes alike.
type Instance = PluginInstance;

/// One step of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What was checked, e.g. `trust`, `reporter table: render`.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, one line.
    pub detail: String,
}

/// The result of checking one library.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The library checked.
    pub path: String,
    /// Whether every step passed.
    pub passed: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl CheckReport {
    fn push(&mut self, step: impl Into<String>, result: Result<String, String>) -> bool {
        let ok = result.is_ok();
        let detail = match result {
            Ok(d) | Err(d) => d,
        };
        self.passed &= ok;
        self.steps.push(Step {
            step: step.into(),
            ok,
            detail,
        });
        ok
    }
}

/// Checks the library at `path`, creating each plugin with `settings`.
pub fn check_library(path: &Path, settings: &toml::Table, data_dir: &Path) -> CheckReport {
    let mut report = CheckReport {
        path: path.display().to_string(),
        passed: true,
        steps: Vec::new(),
    };
    let trusted = trust::check(path)
        .map(|_| "absolute path, regular file, owned by you, not writable by others, safe parent directories".to_owned());
    if !report.push("trust", trusted) {
        return report;
    }
    let handles = match super::load_library(path) {
        Ok(h) => h,
        Err(e) => {
            report.push("load", Err(e));
            return report;
        }
    };
    report.push(
        "load",
        Ok(format!(
            "entry point found, {} plugin(s) declared",
            handles.len()
        )),
    );
    let abi = handles[0].abi();
    report.push(
        "abi",
        Ok(format!(
            "built for ABI {abi}; this host implements {}",
            otto_hooks_plugin_api::abi::ABI_VERSION
        )),
    );
    for handle in &handles {
        check_plugin(&mut report, path, handle, settings, data_dir);
    }
    report
}

fn check_plugin(
    report: &mut CheckReport,
    path: &Path,
    handle: &PluginHandle,
    settings: &toml::Table,
    data_dir: &Path,
) {
    let label = format!("{} {}", handle.kind(), handle.name());
    report.push(
        format!("{label}: metadata"),
        Ok(format!(
            "version {}, offers {}{}",
            handle.version(),
            handle.offers().join(", "),
            if handle.description().is_empty() {
                String::new()
            } else {
                format!(" — {}", handle.description())
            }
        )),
    );
    // The `isolation` key is the host's, as in a configuration entry.
    let (isolation, settings) = match isolation::for_kind(handle.kind(), settings) {
        Ok(split) => split,
        Err(e) => {
            report.push(format!("{label}: isolation"), Err(e));
            return;
        }
    };
    report.push(
        format!("{label}: isolation"),
        Ok(describe_isolation(&isolation)),
    );
    let settings = &settings;
    let instance_name = format!("{}.{}", handle.kind(), handle.name());
    let started = Instant::now();
    let instance = match &isolation {
        Isolation::InProcess => handle
            .instantiate(&instance_name, settings, &data_dir.to_string_lossy())
            .map(PluginInstance::InProcess)
            .map_err(|e| e.to_string()),
        // Isolated, the plugin's code runs in the runner only: a plugin
        // that would crash the host crashes its runner, and the check says so.
        Isolation::Process(limits) => {
            start_runner(path, handle, &instance_name, settings, data_dir, *limits)
                .map(PluginInstance::Process)
        }
    };
    let start_cost = started.elapsed();
    let suffix = match isolation {
        Isolation::InProcess => "",
        Isolation::Process(_) => " (isolated)",
    };
    let instance = match instance {
        Ok(i) => i,
        Err(e) => {
            report.push(format!("{label}: create{suffix}"), Err(e));
            return;
        }
    };
    let mode = match isolation {
        Isolation::InProcess => "in-process".to_owned(),
        Isolation::Process(_) => format!("isolated; starting the runner: {}", millis(start_cost)),
    };
    report.push(
        format!("{label}: create{suffix}"),
        Ok(match isolation {
            Isolation::InProcess => "instance created".to_owned(),
            Isolation::Process(_) => format!("instance created in its own process ({mode})"),
        }),
    );
    check_hooks(report, &label, suffix, &instance);
    let method = method_of(handle.kind());
    let started = Instant::now();
    let result = call_method(&instance);
    let cost = started.elapsed();
    let result = result.map(|found| format!("{found} (one call: {} {mode})", millis(cost)));
    let ok = report.push(format!("{label}: {method}{suffix}"), result);
    drop(instance);
    if ok && isolation == Isolation::InProcess {
        // The same call isolated, for the cost of each mode side by side.
        // (An isolated entry is never measured in-process: its code could
        // take the host down.)
        let isolated = measure_isolated(path, handle, &instance_name, settings, data_dir);
        report.push(
            format!("{label}: cost of one call"),
            Ok(format!(
                "`{method}`: {} in-process, {isolated}",
                millis(cost)
            )),
        );
    }
}

/// The method `plugins check` calls for a plugin of `kind`.
fn method_of(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Storage => "list_runs",
        PluginKind::Status => "detect",
        PluginKind::Retention => "decide",
        _ => "render",
    }
}

/// Calls the method of `instance`'s kind on the samples, checked.
fn call_method(instance: &PluginInstance) -> Result<String, String> {
    match instance.handle().kind() {
        PluginKind::Storage => check_storage(instance),
        PluginKind::Status => check_status(instance),
        PluginKind::Retention => check_retention(instance),
        PluginKind::Reporter => check_reporter(instance),
        PluginKind::Unknown => Err("unknown kind".into()),
    }
}

/// The cost of the kind's method in a runner of its own, or why it could
/// not be measured.
fn measure_isolated(
    path: &Path,
    handle: &PluginHandle,
    instance_name: &str,
    settings: &toml::Table,
    data_dir: &Path,
) -> String {
    let started = Instant::now();
    let instance = match start_runner(
        path,
        handle,
        instance_name,
        settings,
        data_dir,
        isolation::Limits::default(),
    ) {
        Ok(i) => PluginInstance::Process(i),
        Err(e) => return format!("isolated not measured ({e})"),
    };
    let start_cost = started.elapsed();
    // The first call pays for the runner's first page faults: the second
    // is the steady cost.
    let _ = call_method(&instance);
    let started = Instant::now();
    match call_method(&instance) {
        Ok(_) => format!(
            "{} isolated (starting the runner: {})",
            millis(started.elapsed()),
            millis(start_cost)
        ),
        Err(e) => format!("isolated failed ({e})"),
    }
}

fn check_hooks(report: &mut CheckReport, label: &str, suffix: &str, instance: &PluginInstance) {
    let offers = instance.handle().offers();
    let events = samples::events();
    let ctx = samples::context();
    type HookCall<'a> = Box<dyn Fn() -> Result<(), otto_hooks_plugin_api::host::CallError> + 'a>;
    let calls: [(&str, HookCall<'_>); 4] = [
        (
            "run_start",
            Box::new(|| instance.run_start(&samples::run_start())),
        ),
        ("events", Box::new(|| instance.events(&ctx, &events))),
        ("event", Box::new(|| instance.event(&ctx, &events[0]))),
        (
            "run_complete",
            Box::new(|| instance.run_complete(&samples::run_result())),
        ),
    ];
    for (hook, call) in calls {
        if !offers.contains(&hook) {
            report.push(format!("{label}: {hook}{suffix}"), Ok("not offered".into()));
            continue;
        }
        let started = Instant::now();
        let result = call();
        let cost = millis(started.elapsed());
        let result = result.map(|()| format!("ok on sample data (one call: {cost})"));
        // A storage may rightly refuse a second `event` outside a started
        // run; anything but a panic, an I/O failure or a dead runner is an
        // answer.
        let dead = instance.disabled_reason().is_some();
        let result = match result {
            Err(e) if e.kind != ErrorKind::Panic && e.kind != ErrorKind::Io && !dead => {
                Ok(format!("answered with an error: {}", e.message))
            }
            other => other.map_err(|e| e.to_string()),
        };
        report.push(format!("{label}: {hook}{suffix}"), result);
    }
}

fn check_storage(instance: &Instance) -> Result<String, String> {
    let query = RunQuery {
        project: None,
        limit: Some(5),
    };
    let runs = instance.list_runs(&query).map_err(|e| e.to_string())?;
    if let Some(bad) = runs
        .iter()
        .find(|r| r.id.is_empty() || r.project.is_empty())
    {
        return Err(format!("listed a run without an id or project: {bad:?}"));
    }
    let mut found = format!("listed {} run(s)", runs.len());
    if let Some(first) = runs.first() {
        let ctx = otto_hooks_plugin_api::HookContext {
            project: &first.project,
            run_id: &first.id,
        };
        match instance.run_details(&ctx) {
            Ok(d) => found.push_str(&format!(
                "; details of {}: {} task(s)",
                first.id,
                d.tasks.len()
            )),
            Err(e) if e.kind == ErrorKind::Unsupported => found.push_str("; no run details"),
            Err(e) => return Err(format!("run_details of {}: {e}", first.id)),
        }
    }
    match instance.usage(&query) {
        Ok(projects) => found.push_str(&format!("; usage of {} project(s)", projects.len())),
        Err(e) if e.kind == ErrorKind::Unsupported => found.push_str("; no usage"),
        Err(e) => return Err(format!("usage: {e}")),
    }
    Ok(found)
}

fn check_status(instance: &Instance) -> Result<String, String> {
    let runs = samples::runs();
    let verdict = instance.detect(&runs[1]).map_err(|e| e.to_string())?;
    let details = otto_hooks_plugin_api::RunDetails {
        run: runs[1].clone(),
        tasks: Vec::new(),
    };
    let refined = instance
        .detect_details(&details)
        .map_err(|e| format!("detect_details: {e}"))?;
    if refined.run.id != details.run.id {
        return Err(format!(
            "detect_details returned run `{}` for run `{}`",
            refined.run.id, details.run.id
        ));
    }
    Ok(format!(
        "sample run is {} (source: {})",
        verdict.status, verdict.source
    ))
}

fn describe_isolation(isolation: &Isolation) -> String {
    match isolation {
        Isolation::InProcess => "in-process".to_owned(),
        Isolation::Process(limits) => format!(
            "process (timeout {}s, memory {} MiB)",
            limits.timeout.as_secs_f64(),
            limits.memory >> 20
        ),
    }
}

/// Milliseconds, for the measured cost of one call.
fn millis(d: std::time::Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Starts a runner for `handle` of the library at `path`.
fn start_runner(
    path: &Path,
    handle: &PluginHandle,
    instance_name: &str,
    settings: &toml::Table,
    data_dir: &Path,
    limits: isolation::Limits,
) -> Result<proxy::ProcessInstance, String> {
    let program = proxy::runner_program()?;
    let settings =
        toml::to_string(settings).map_err(|e| format!("settings cannot be passed on: {e}"))?;
    proxy::ProcessInstance::start(proxy::Launch {
        program: &program,
        handle: handle.clone(),
        library: Some(path.to_string_lossy().into_owned()),
        instance: instance_name.to_owned(),
        settings,
        data_dir: data_dir.to_string_lossy().into_owned(),
        limits,
    })
    .map_err(|e| e.to_string())
}

fn check_retention(instance: &Instance) -> Result<String, String> {
    decide_samples(|input| instance.decide(input)).map(|(found, _)| found)
}

/// One `decide` on the sample runs, checked; what it decided and how long
/// the call took.
fn decide_samples(
    decide: impl FnOnce(
        &RetentionInput<'_>,
    ) -> Result<
        Vec<otto_hooks_plugin_api::Decision>,
        otto_hooks_plugin_api::host::CallError,
    >,
) -> Result<(String, std::time::Duration), String> {
    let runs = samples::runs();
    let started = Instant::now();
    let decisions = decide(&RetentionInput {
        group: samples::PROJECT,
        now: otto_hooks_plugin_api::Timestamp::from_secs(samples::START + 60),
        runs: &runs,
    })
    .map_err(|e| e.to_string())?;
    let cost = started.elapsed();
    for d in &decisions {
        if !runs.iter().any(|r| r.id == d.run_id) {
            return Err(format!(
                "decided for run `{}`, which it was not given",
                d.run_id
            ));
        }
        if d.action == Action::Keep && d.reasons.is_empty() {
            return Err(format!("kept run `{}` without a reason", d.run_id));
        }
    }
    let keep = decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .count();
    let delete = decisions
        .iter()
        .filter(|d| d.action == Action::Delete)
        .count();
    let undecided = runs.len() - decisions.len().min(runs.len());
    let found = format!(
        "{} sample runs: {keep} keep, {delete} delete{}",
        runs.len(),
        if undecided > 0 {
            format!(", {undecided} without a decision (kept)")
        } else {
            String::new()
        }
    );
    Ok((found, cost))
}

fn check_reporter(instance: &Instance) -> Result<String, String> {
    let mut rendered = Vec::new();
    let mut unsupported = Vec::new();
    for (kind, json) in samples::documents() {
        match instance.render(&Document { kind, json: &json }) {
            Ok(text) if text.is_empty() => return Err(format!("rendered {kind} as nothing")),
            Ok(_) => rendered.push(kind.as_str()),
            Err(e) if e.kind == ErrorKind::Unsupported => unsupported.push(kind.as_str()),
            Err(e) => return Err(format!("{kind}: {e}")),
        }
    }
    if rendered.is_empty() {
        return Err("rendered none of the sample documents".into());
    }
    Ok(format!(
        "rendered {}{}",
        rendered.join(", "),
        if unsupported.is_empty() {
            String::new()
        } else {
            format!("; declined {}", unsupported.join(", "))
        }
    ))
}
