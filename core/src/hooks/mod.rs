//! The lifecycle dispatcher: `run_start`, `event(s)` and `run_complete`,
//! routed to the plugins configured for the run's project.
//!
//! The [`Runtime`] is what an orchestrator embeds (Rust), what
//! `otto-hooks hook …` calls (any language), and what the daemon will call
//! (HTTP). A failing plugin never fails the orchestrator: its error comes
//! back as a warning in [`HookOutcome`], and only `--strict` turns
//! warnings into a failing exit code. Errors of the *caller* — an unknown
//! run id, a duplicate one, a malformed event — are [`HookError`]s.

pub mod runs;
pub mod wire;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::registry::proxy::PluginInstance as Instance;
use otto_hooks_plugin_api::report::RunSummary;
use otto_hooks_plugin_api::{
    ErrorKind, Event, HookContext, PluginKind, RunResult, RunStart, RunStatus, Timestamp,
};

use otto_hooks_redact::Redactor;

use crate::config::{Config, InstanceSpec};
use crate::registry::Registry;
use runs::{ActiveRun, RunIndex};

/// A project as an orchestrator names it: its key and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProjectRef {
    /// The key storage files it under (otto: `<name>-<hash>`; choo: the
    /// canonical repository path).
    pub key: String,
    /// The name configuration patterns match (otto: `<name>`; choo: the
    /// repository's directory name).
    pub name: String,
}

impl ProjectRef {
    /// A project identified by its repository path (choo's way): the key
    /// is the canonical path, the name its last component.
    pub fn from_repo(path: &Path) -> std::io::Result<Self> {
        let canonical = std::fs::canonicalize(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("repository {}: {e}", path.display()))
        })?;
        let name = canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".to_owned());
        Ok(ProjectRef {
            key: canonical.to_string_lossy().into_owned(),
            name,
        })
    }

    /// A project identified by its key. An otto directory name
    /// `<name>-<8 lowercase hex>` yields `<name>`; any other key is its own name.
    pub fn from_key(key: &str) -> Self {
        let name = match key.rsplit_once('-') {
            Some((name, hash))
                if !name.is_empty()
                    && hash.len() == 8
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                name.to_owned()
            }
            _ => key.to_owned(),
        };
        ProjectRef {
            key: key.to_owned(),
            name,
        }
    }
}

/// What a hook call produced besides its result: one line per plugin that
/// failed. Empty when everything worked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookOutcome {
    /// Warnings, one line each, naming the plugin instance.
    pub warnings: Vec<String>,
}

/// A hook call the runtime could not accept: the caller's mistake or the
/// runtime's own I/O. (Plugin failures are [`HookOutcome`] warnings.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookError {
    /// Bad input: an invalid or duplicate run id, a malformed request.
    Invalid(String),
    /// A run id no `run_start` recorded.
    UnknownRun(String),
    /// otto-hooks' own state could not be read or written.
    Io(String),
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookError::Invalid(m) | HookError::Io(m) => f.write_str(m),
            HookError::UnknownRun(id) => write!(
                f,
                "unknown run `{id}`: no run-start recorded it (start it with `otto-hooks hook run-start`)"
            ),
        }
    }
}

impl std::error::Error for HookError {}

/// What `run_start` needs beyond the project.
#[derive(Clone, Debug, Default)]
pub struct RunStartRequest {
    /// The orchestrator's own run id; minted when `None`.
    pub run_id: Option<String>,
    /// Start time; now when `None`.
    pub started_at: Option<Timestamp>,
    /// Repository or project path.
    pub repo_path: Option<String>,
    /// Parallelism.
    pub parallelism: Option<u32>,
    /// Planned units or tasks.
    pub total_units: Option<u32>,
    /// Tasks directory.
    pub tasks_dir: Option<String>,
    /// A dry run.
    pub dry_run: bool,
    /// Names of environment variables holding secrets to mask in this
    /// run's events (their values, plain and base64). Remembered by name
    /// for later hook processes, which read the values from their own
    /// environment.
    pub secret_env: Vec<String>,
    /// Secret values to mask, for an orchestrator embedding the runtime
    /// (kept in memory only, for this runtime's life).
    pub secrets: Vec<String>,
}

/// What `run_complete` needs.
#[derive(Clone, Debug)]
pub struct RunCompleteRequest {
    /// The run id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// End time; now when `None`.
    pub ended_at: Option<Timestamp>,
    /// Units completed.
    pub completed_units: Option<u32>,
    /// Units failed.
    pub failed_units: Option<u32>,
    /// Units blocked.
    pub blocked_units: Option<u32>,
    /// The error that ended it.
    pub error: Option<String>,
}

/// The instances chosen for one project, created once per runtime.
#[derive(Debug, Default)]
pub struct ProjectPlugins {
    /// Every instance, storage first, then status, retention, reporters.
    pub instances: Vec<Instance>,
    /// Instances that could not be created, one line each.
    pub failures: Vec<String>,
}

/// The hook dispatcher.
#[derive(Debug)]
pub struct Runtime {
    config: Config,
    registry: Registry,
    hooks_home: PathBuf,
    runs: RunIndex,
    projects: Mutex<HashMap<ProjectRef, Arc<ProjectPlugins>>>,
    /// The storage every project records into, when chosen by the caller
    /// (`--backend`, `--db`).
    storage: Option<InstanceSpec>,
    /// The storage of a project whose configuration chose none
    /// ([`default_hook_storage`], or the history daemon while it runs).
    default_storage: InstanceSpec,
    /// Whether anything is recorded at all (`--no-history`: no).
    record: bool,
    redactor: Redactor,
    /// Secret values registered by run (library callers).
    secrets: Mutex<HashMap<String, Vec<String>>>,
}

/// A payload or error after redaction: borrowed when nothing changed.
type MaybeText<'a> = Option<Cow<'a, str>>;

/// The storage the hooks record into when nothing chose one: the SQLite
/// history (`$OTTO_HOOKS_HOME/history.db`).
pub fn default_hook_storage() -> InstanceSpec {
    InstanceSpec {
        kind: PluginKind::Storage,
        plugin: "sqlite".to_owned(),
        instance: "storage.sqlite".to_owned(),
        settings: toml::Table::new(),
        origin: "default for hooks".to_owned(),
    }
}

/// The storage instances the hooks record into when the caller chose none:
/// what the configuration chose explicitly (a file, the environment,
/// `--set`), else the SQLite history ([`default_hook_storage`]).
pub fn hook_storages(configured: &[InstanceSpec]) -> Vec<InstanceSpec> {
    storages_or(configured, &default_hook_storage())
}

/// What the configuration chose explicitly, else `default`.
fn storages_or(configured: &[InstanceSpec], default: &InstanceSpec) -> Vec<InstanceSpec> {
    if configured.iter().all(|s| s.origin == "default") {
        return vec![default.clone()];
    }
    configured.to_vec()
}

/// The SQLite history in the file `db` (`--db PATH`), made absolute.
pub fn history_db_storage(db: &Path) -> std::io::Result<InstanceSpec> {
    let path = std::path::absolute(db)?;
    let mut spec = default_hook_storage();
    spec.settings.insert(
        "db".to_owned(),
        toml::Value::String(path.to_string_lossy().into_owned()),
    );
    spec.origin = "flag --db".to_owned();
    Ok(spec)
}

/// The values of the environment variables `names` (a variable that is not set
/// is a warning: its value cannot be masked).
fn env_values(run_id: &str, names: &[String]) -> Vec<String> {
    let mut values = Vec::new();
    for name in names {
        match std::env::var(name) {
            Ok(v) => values.push(v),
            Err(_) => tracing::warn!(
                run = %run_id,
                "secret variable {name} is not set in this process: its value cannot be masked"
            ),
        }
    }
    values
}

/// The redaction configured (`[redaction]`).
pub fn configured_redactor(config: &Config) -> Redactor {
    let mode = config
        .setting_str("redaction.mode")
        .and_then(|m| otto_hooks_redact::Mode::parse(m).ok())
        .unwrap_or_default();
    Redactor::new(otto_hooks_redact::RedactOptions {
        mode,
        max_payload_bytes: usize::try_from(config.setting_int("redaction.max_payload_bytes"))
            .unwrap_or(otto_hooks_redact::DEFAULT_MAX_PAYLOAD_BYTES),
        ..Default::default()
    })
}

impl Runtime {
    /// A runtime over a loaded configuration and registry; state lives in
    /// `hooks_home`.
    pub fn new(config: Config, registry: Registry, hooks_home: PathBuf) -> Self {
        Runtime {
            redactor: configured_redactor(&config),
            config,
            registry,
            runs: RunIndex::new(&hooks_home),
            hooks_home,
            projects: Mutex::new(HashMap::new()),
            storage: None,
            default_storage: default_hook_storage(),
            record: true,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// Records every project into `storage`, whatever the configuration
    /// says (`--backend`, `--db`).
    pub fn with_storage(mut self, storage: InstanceSpec) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Records the projects whose configuration chose no storage into
    /// `storage` instead of the SQLite history file (the hook commands
    /// pass the history daemon's while it runs).
    pub fn with_default_storage(mut self, storage: InstanceSpec) -> Self {
        self.default_storage = storage;
        self
    }

    /// Records nothing: the other plugins (reporters…) still run
    /// (`--no-history`).
    pub fn without_storage(mut self) -> Self {
        self.record = false;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry in use.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The instances configured for `project`, created on first use.
    pub fn plugins_for(&self, project: &ProjectRef) -> Arc<ProjectPlugins> {
        let mut cache = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(project.clone())
            .or_insert_with(|| Arc::new(self.instantiate(project)))
            .clone()
    }

    fn instantiate(&self, project: &ProjectRef) -> ProjectPlugins {
        let selection = self.config.selection(&project.name, &project.key);
        let mut plugins = ProjectPlugins::default();
        for kind in [
            PluginKind::Storage,
            PluginKind::Status,
            PluginKind::Retention,
            PluginKind::Reporter,
        ] {
            let specs: Vec<InstanceSpec> = if kind == PluginKind::Storage {
                self.hook_storage(selection.of_kind(kind))
            } else {
                selection.of_kind(kind).to_vec()
            };
            for spec in &specs {
                match self.registry.instantiate(spec, &self.hooks_home) {
                    Ok(instance) => plugins.instances.push(instance),
                    Err(e) => plugins.failures.push(e),
                }
            }
        }
        plugins
    }

    /// The storage instances the hooks record into: the caller's choice,
    /// else what the configuration chose explicitly (a file, the
    /// environment, `--set`), else the SQLite history — the built-in
    /// default `otto-fs` is for reading otto's own directories and records
    /// nothing.
    fn hook_storage(&self, configured: &[InstanceSpec]) -> Vec<InstanceSpec> {
        if !self.record {
            return Vec::new();
        }
        match &self.storage {
            Some(spec) => vec![spec.clone()],
            None => storages_or(configured, &self.default_storage),
        }
    }

    /// The redactor for `run`: the configured one, plus the run's secrets.
    fn redactor_for(&self, run: &ActiveRun) -> Redactor {
        let kept = self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run.run_id)
            .cloned()
            .unwrap_or_default();
        self.redactor_with(&run.run_id, &run.secret_env, kept)
    }

    /// The configured redactor plus the values of the environment variables
    /// `secret_env` and the secret `values`.
    fn redactor_with(&self, run_id: &str, secret_env: &[String], values: Vec<String>) -> Redactor {
        let mut values = values;
        values.extend(env_values(run_id, secret_env));
        if values.is_empty() {
            self.redactor.clone()
        } else {
            self.redactor.clone().with_secrets(values)
        }
    }

    /// The redactor for a message about `run_id` (an error, a warning) before
    /// it is printed: the configured one with the run's secrets when the run is
    /// known, plus the values of `secret_env` (`run-start`, whose run is not
    /// recorded yet). Messages echo input (a bad value, a path), and input
    /// may hold a secret.
    pub fn message_redactor(&self, run_id: Option<&str>, secret_env: &[String]) -> Redactor {
        let run = run_id
            .filter(|id| runs::validate_run_id(id).is_ok())
            .and_then(|id| self.runs.get(id).ok().flatten());
        let id = run_id.unwrap_or_default();
        match run {
            Some(run) if secret_env.is_empty() => self.redactor_for(&run),
            Some(run) => self
                .redactor_for(&run)
                .with_secrets(env_values(id, secret_env)),
            None => self.redactor_with(id, secret_env, Vec::new()),
        }
    }

    /// Calls `f` on every instance for `project`, collecting failures as
    /// warnings; instances that could not be created are warned about too.
    fn dispatch(
        &self,
        project: &ProjectRef,
        mut f: impl FnMut(&Instance) -> Result<(), otto_hooks_plugin_api::host::CallError>,
    ) -> (HookOutcome, Vec<otto_hooks_plugin_api::host::CallError>) {
        let plugins = self.plugins_for(project);
        let mut outcome = HookOutcome {
            warnings: plugins.failures.clone(),
        };
        let mut errors = Vec::new();
        for instance in &plugins.instances {
            if let Err(e) = f(instance) {
                outcome.warnings.push(format!(
                    "{} ({}): {}",
                    instance.label(),
                    instance.instance_name(),
                    e.message
                ));
                errors.push(e);
            }
        }
        (outcome, errors)
    }

    /// A run started: records it, then calls every plugin's `run_start`.
    /// Returns the run id (the orchestrator's, or a minted one).
    pub fn run_start(
        &self,
        project: &ProjectRef,
        request: RunStartRequest,
    ) -> Result<(String, HookOutcome), HookError> {
        let started_at = request.started_at.unwrap_or_else(Timestamp::now);
        // Every text of the run is redacted before anything records it (the
        // active-run file, every plugin): the project key and name, the paths.
        let redactor = self.redactor_with(
            request.run_id.as_deref().unwrap_or_default(),
            &request.secret_env,
            request.secrets.clone(),
        );
        let redacted = |s: &str| redactor.redact_error(s).into_owned();
        let project = &ProjectRef {
            key: redacted(&project.key),
            name: redacted(&project.name),
        };
        let repo_path = request.repo_path.as_deref().map(redacted);
        let tasks_dir = request.tasks_dir.as_deref().map(redacted);
        if let Some(id) = &request.run_id {
            if redactor.needs_redaction(id) {
                return Err(HookError::Invalid(
                    "the run id holds a secret (a token shape or a registered secret): choose another"
                        .to_owned(),
                ));
            }
        }
        let given = request.run_id.is_some();
        let mut attempts = 0;
        let run_id = loop {
            let id = match &request.run_id {
                Some(id) => id.clone(),
                None => runs::mint_run_id(started_at),
            };
            runs::validate_run_id(&id).map_err(HookError::Invalid)?;
            let record = ActiveRun {
                run_id: id.clone(),
                project: project.key.clone(),
                name: project.name.clone(),
                started_at,
                secret_env: request.secret_env.clone(),
            };
            match self.runs.create(&record) {
                Ok(()) => break id,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists && !given && attempts < 16 =>
                {
                    attempts += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(HookError::Invalid(format!(
                        "ALREADY_EXISTS: run `{id}` was already started and has not completed"
                    )));
                }
                Err(e) => {
                    return Err(HookError::Io(format!(
                        "cannot record run `{id}` under {}: {e}",
                        self.hooks_home.display()
                    )));
                }
            }
        };
        let start = RunStart {
            project: &project.key,
            run_id: &run_id,
            started_at,
            repo_path: repo_path.as_deref(),
            parallelism: request.parallelism,
            total_units: request.total_units,
            tasks_dir: tasks_dir.as_deref(),
            dry_run: request.dry_run,
        };
        if !request.secrets.is_empty() {
            self.secrets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(run_id.clone(), request.secrets.clone());
        }
        let (outcome, errors) = self.dispatch(project, |i| i.run_start(&start));
        if let Some(e) = errors.iter().find(|e| e.kind == ErrorKind::AlreadyExists) {
            let _ = self.runs.remove(&run_id);
            return Err(HookError::Invalid(format!("ALREADY_EXISTS: {e}")));
        }
        Ok((run_id, outcome))
    }

    /// The active run `run_id`, or [`HookError::UnknownRun`].
    pub fn active_run(&self, run_id: &str) -> Result<ActiveRun, HookError> {
        runs::validate_run_id(run_id).map_err(HookError::Invalid)?;
        match self.runs.get(run_id) {
            Ok(Some(run)) => Ok(run),
            Ok(None) => Err(HookError::UnknownRun(run_id.to_owned())),
            Err(e) => Err(HookError::Io(format!("cannot read run `{run_id}`: {e}"))),
        }
    }

    /// Events of a run, in order: one batch call per plugin (or one call
    /// per event for plugins built before batches existed).
    pub fn events(&self, run_id: &str, events: &[Event<'_>]) -> Result<HookOutcome, HookError> {
        let run = self.active_run(run_id)?;
        if events.is_empty() {
            return Ok(HookOutcome::default());
        }
        let project = ProjectRef {
            key: run.project.clone(),
            name: run.name.clone(),
        };
        let ctx = HookContext {
            project: &run.project,
            run_id,
        };
        // Redaction before any plugin sees an event: payload keys, token
        // shapes, registered secrets, the size cap.
        let redactor = self.redactor_for(&run);
        let mut fallback = Vec::new();
        let cleaned: Vec<(MaybeText<'_>, MaybeText<'_>)> = events
            .iter()
            .map(|e| {
                let payload = e.payload.map(|p| match redactor.redact_payload(p) {
                    Ok(r) => r.into_cow(),
                    Err(err) => {
                        fallback.push(format!("an event's payload was dropped: {err}"));
                        Cow::Borrowed("{\"value\":\"[REDACTED]\"}")
                    }
                });
                (payload, e.error.map(|x| redactor.redact_error(x)))
            })
            .collect();
        // The type and the unit too: an orchestrator may put anything there.
        let names: Vec<(Cow<'_, str>, MaybeText<'_>)> = events
            .iter()
            .map(|e| {
                (
                    redactor.redact_error(e.kind),
                    e.unit.map(|u| redactor.redact_error(u)),
                )
            })
            .collect();
        let redacted: Vec<Event<'_>> = events
            .iter()
            .zip(&cleaned)
            .zip(&names)
            .map(|((e, (payload, error)), (kind, unit))| Event {
                kind,
                unit: unit.as_deref(),
                payload: payload.as_deref(),
                error: error.as_deref(),
                ..*e
            })
            .collect();
        let mut outcome = self.dispatch(&project, |i| i.events(&ctx, &redacted)).0;
        outcome.warnings.extend(fallback);
        Ok(outcome)
    }

    /// A run was stopped on purpose: calls every plugin's `run_stop`
    /// (storage appends `run.stopped {reason}`). The run stays known, for
    /// [`Runtime::run_resume`] and later events.
    pub fn run_stop(
        &self,
        run_id: &str,
        reason: Option<&str>,
        at: Option<Timestamp>,
    ) -> Result<HookOutcome, HookError> {
        let run = self.active_run(run_id)?;
        let reason = reason.map(|r| self.redactor_for(&run).redact_error(r).into_owned());
        let stop = otto_hooks_plugin_api::RunStop {
            project: &run.project,
            run_id,
            at: at.unwrap_or_else(Timestamp::now),
            reason: reason.as_deref(),
        };
        let project = ProjectRef {
            key: run.project.clone(),
            name: run.name.clone(),
        };
        let (outcome, errors) = self.dispatch(&project, |i| i.run_stop(&stop));
        if let Some(e) = errors.iter().find(|e| e.kind == ErrorKind::Invalid) {
            return Err(HookError::Invalid(e.message.clone()));
        }
        Ok(outcome)
    }

    /// A stopped run resumes with the same id: calls every plugin's
    /// `run_resume` (storage appends `run.resumed {resumed_from_seq}`;
    /// events continue after it).
    pub fn run_resume(
        &self,
        run_id: &str,
        at: Option<Timestamp>,
    ) -> Result<HookOutcome, HookError> {
        let run = self.active_run(run_id)?;
        let resume = otto_hooks_plugin_api::RunResume {
            project: &run.project,
            run_id,
            at: at.unwrap_or_else(Timestamp::now),
        };
        let project = ProjectRef {
            key: run.project.clone(),
            name: run.name.clone(),
        };
        let (outcome, errors) = self.dispatch(&project, |i| i.run_resume(&resume));
        if let Some(e) = errors.iter().find(|e| e.kind == ErrorKind::Invalid) {
            return Err(HookError::Invalid(e.message.clone()));
        }
        Ok(outcome)
    }

    /// A run completed: calls every plugin's `run_complete`, forgets the
    /// run, and returns a summary for the reporters.
    pub fn run_complete(
        &self,
        request: &RunCompleteRequest,
    ) -> Result<(RunSummary, HookOutcome), HookError> {
        let run = self.active_run(&request.run_id)?;
        let ended_at = request.ended_at.unwrap_or_else(Timestamp::now);
        let project = ProjectRef {
            key: run.project.clone(),
            name: run.name.clone(),
        };
        let error = request
            .error
            .as_deref()
            .map(|e| self.redactor_for(&run).redact_error(e).into_owned());
        let result = RunResult {
            project: &run.project,
            run_id: &request.run_id,
            ended_at,
            status: request.status,
            completed_units: request.completed_units,
            failed_units: request.failed_units,
            blocked_units: request.blocked_units,
            error: error.as_deref(),
        };
        let (outcome, _) = self.dispatch(&project, |i| i.run_complete(&result));
        self.runs
            .remove(&request.run_id)
            .map_err(|e| HookError::Io(format!("cannot forget run `{}`: {e}", request.run_id)))?;
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.run_id);
        let duration = (ended_at.secs - run.started_at.secs) as f64
            + (ended_at.nanos as f64 - run.started_at.nanos as f64) / 1e9;
        let summary = RunSummary {
            project: run.project,
            run: request.run_id.clone(),
            status: request.status,
            started_at: Some(wire::rfc3339(run.started_at)),
            ended_at: wire::rfc3339(ended_at),
            duration_seconds: Some(duration.max(0.0)),
            completed_units: request.completed_units,
            failed_units: request.failed_units,
            blocked_units: request.blocked_units,
            error,
            warnings: outcome.warnings.clone(),
        };
        Ok((summary, outcome))
    }
}

/// Parses a run status as orchestrators send it: ours (`success`, `failed`,
/// `interrupted`, `stopped`) or choo's (`completed`, `failed`, `stopped`).
pub fn parse_status(s: &str) -> Result<RunStatus, String> {
    match s {
        "completed" | "success" => Ok(RunStatus::Success),
        "failed" => Ok(RunStatus::Failed),
        "stopped" => Ok(RunStatus::Stopped),
        "interrupted" => Ok(RunStatus::Interrupted),
        _ => Err(format!(
            "invalid status `{s}` (expected one of: completed, success, failed, stopped, interrupted)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otto_directory_keys_yield_the_project_name() {
        assert_eq!(ProjectRef::from_key("web-app-1a2b3c4d").name, "web-app");
        assert_eq!(ProjectRef::from_key("otto-1a2b3c4d").name, "otto");
        assert_eq!(ProjectRef::from_key("proj-ABCDEF12").name, "proj-ABCDEF12");
        assert_eq!(ProjectRef::from_key("-1a2b3c4d").name, "-1a2b3c4d");
        assert_eq!(ProjectRef::from_key("plain").name, "plain");
    }

    #[test]
    fn statuses_of_both_orchestrators_parse() {
        assert_eq!(parse_status("completed"), Ok(RunStatus::Success));
        assert_eq!(parse_status("stopped"), Ok(RunStatus::Stopped));
        assert!(
            parse_status("done")
                .unwrap_err()
                .contains("expected one of")
        );
    }
}
