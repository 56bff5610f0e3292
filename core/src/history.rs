//! Reading run history: `list`, `info` and `usage` as library calls.
//!
//! A storage plugin lists runs (and measures them); the status plugin
//! configured for each run's project decides its status; the result is one
//! of the documents of `otto_hooks_plugin_api::report`, ready for a
//! reporter. Nothing here knows otto's layout: that is the storage plugin's
//! business.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::registry::proxy::PluginInstance as Instance;
use otto_hooks_plugin_api::report::{
    ProjectUsage as ProjectUsageDoc, Recommendation, RunEntry, RunInfo, RunList, RunSize, TaskInfo,
    UsageReport,
};
use otto_hooks_plugin_api::{
    HookContext, PluginKind, ProjectUsage, Run, RunDetails, RunQuery, RunStatus, Timestamp,
};

use otto_hooks_reporters::format::human_size;

use crate::config::{Config, InstanceSpec};
use crate::hooks::ProjectRef;
use crate::hooks::wire::rfc3339;
use crate::registry::Registry;
use crate::run_ref::{self, RunSpec};

/// A failure to read history: one line, and whether it was the caller's
/// mistake (an unknown or ambiguous run: exit 2) or not (exit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// The message.
    pub message: String,
    /// The caller asked for something that does not exist or is ambiguous.
    pub bad_input: bool,
}

impl HistoryError {
    fn failed(message: impl Into<String>) -> Self {
        HistoryError {
            message: message.into(),
            bad_input: false,
        }
    }

    fn bad_input(message: impl Into<String>) -> Self {
        HistoryError {
            message: message.into(),
            bad_input: true,
        }
    }
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HistoryError {}

/// How many runs `list` hands an isolated status plugin per round trip.
const LIST_DETECT_BATCH: usize = 1024;

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Only this project: its full key, its name, or its hash, exactly.
    pub project: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// At most this many runs, newest first.
    pub limit: Option<usize>,
}

/// The history of the runs one storage holds, with per-project status
/// plugins from the configuration.
pub struct History<'a> {
    config: &'a Config,
    registry: &'a Registry,
    data_dir: PathBuf,
    storage: Instance,
    /// Status instances by the spec that made them (most projects share one).
    statuses: std::sync::Mutex<Vec<(InstanceSpec, Option<Arc<Instance>>)>>,
    /// One line per plugin problem met along the way, for stderr.
    warnings: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for History<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// The storage spec for `backend` (a plugin name), or the configured one.
/// A backend that is also configured keeps its configured settings.
pub fn storage_spec(config: &Config, backend: Option<&str>) -> Result<InstanceSpec, HistoryError> {
    let configured = config.default_selection().storage;
    match backend {
        Some(name) => Ok(configured
            .into_iter()
            .find(|s| s.plugin == name)
            .unwrap_or_else(|| InstanceSpec {
                kind: PluginKind::Storage,
                plugin: name.to_owned(),
                instance: format!("storage.{name}"),
                settings: toml::Table::new(),
                origin: "flag --backend".to_owned(),
            })),
        None => configured.into_iter().next().ok_or_else(|| {
            HistoryError::bad_input(
                "no storage plugin is configured: set `[storage] plugin = \"otto-fs\"` in the config, or pass --backend",
            )
        }),
    }
}

impl<'a> History<'a> {
    /// History through the storage `spec`.
    pub fn open(
        config: &'a Config,
        registry: &'a Registry,
        data_dir: &Path,
        spec: &InstanceSpec,
    ) -> Result<Self, HistoryError> {
        let storage = registry
            .instantiate(spec, data_dir)
            .map_err(HistoryError::failed)?;
        Ok(History {
            config,
            registry,
            data_dir: data_dir.to_path_buf(),
            storage,
            statuses: std::sync::Mutex::new(Vec::new()),
            warnings: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The storage plugin's name.
    pub fn storage_name(&self) -> &str {
        self.storage.handle().name()
    }

    /// Plugin problems met so far (each once), for stderr.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn warn(&self, message: String) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }

    /// The status instance configured for `project`, created once per spec.
    fn status_for(&self, project: &str) -> Option<Arc<Instance>> {
        let project = ProjectRef::from_key(project);
        let spec = self
            .config
            .selection(&project.name, &project.key)
            .status
            .into_iter()
            .next()?;
        let mut cache = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, instance)) = cache.iter().find(|(s, _)| *s == spec) {
            return instance.clone();
        }
        let instance = match self.registry.instantiate(&spec, &self.data_dir) {
            Ok(i) => Some(Arc::new(i)),
            Err(e) => {
                self.warn(e);
                None
            }
        };
        cache.push((spec, instance.clone()));
        instance
    }

    /// Drops the status instances made so far. A batch detection ends with
    /// it: a status plugin may hold a snapshot of a large database (otto.db
    /// with 100,000 rows is tens of megabytes) that nothing needs after.
    fn release_statuses(&self) {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Every run of the storage matching `project`, newest first, with the
    /// storage's own figures (no status detection).
    pub fn raw_runs(
        &self,
        project: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<Run>, HistoryError> {
        let mut runs = self
            .storage
            .list_runs(&RunQuery { project, limit })
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        // Collected by doubling: give back the unused quarter or so.
        runs.shrink_to_fit();
        sort_newest_first(&mut runs);
        Ok(runs)
    }

    /// Every run of the storage matching `project`, newest first, with its
    /// status detected.
    pub fn detected_runs(&self, project: Option<&str>) -> Result<Vec<Run>, HistoryError> {
        let mut runs = self.raw_runs(project, None)?;
        self.detect_statuses(&mut runs);
        Ok(runs)
    }

    /// Decides every run's status with its project's status plugin, in
    /// parallel. A run whose status plugin fails keeps storage's status; a
    /// run storage gave a status source to (a recorded status) is left as is.
    pub fn detect_statuses(&self, runs: &mut [Run]) {
        // Resolve the instances first (config matching is per project).
        let mut instances = HashMap::new();
        for run in runs.iter() {
            self.status_of(&run.project, &mut instances);
        }
        // One thread per core, and none below a few thousand runs: a
        // detection is a lookup (and at most one lock probe) once storage
        // says which runs are finished, and every thread grows its own heap
        // arena.
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(16);
        self.detect_isolated(runs, &instances);
        let chunk = runs.len().div_ceil(threads).max(4096);
        std::thread::scope(|scope| {
            for part in runs.chunks_mut(chunk) {
                let instances = &instances;
                scope.spawn(move || {
                    for run in part {
                        if let Some(Some(status)) = instances.get(&run.project)
                            && status.mode() == "in-process"
                        {
                            self.detect_with(status, run);
                        }
                    }
                });
            }
        });
        drop(instances);
        self.release_statuses();
    }

    /// Decides the status of the runs whose status plugin runs in a process
    /// of its own: a few round trips per instance (batches of runs), not one
    /// per run.
    fn detect_isolated(
        &self,
        runs: &mut [Run],
        instances: &HashMap<String, Option<Arc<Instance>>>,
    ) {
        let mut isolated: Vec<&Arc<Instance>> = Vec::new();
        for status in instances.values().flatten() {
            if status.mode() != "in-process" && !isolated.iter().any(|s| Arc::ptr_eq(s, status)) {
                isolated.push(status);
            }
        }
        for status in isolated {
            let mine: Vec<usize> = (0..runs.len())
                .filter(|&i| {
                    runs[i].status_source.is_none()
                        && instances
                            .get(&runs[i].project)
                            .and_then(Option::as_ref)
                            .is_some_and(|s| Arc::ptr_eq(s, status))
                })
                .collect();
            let asked: Vec<Run> = mine.iter().map(|&i| runs[i].clone()).collect();
            for (i, verdict) in mine.into_iter().zip(status.detect_many(&asked)) {
                match verdict {
                    Ok(verdict) => {
                        runs[i].status = verdict.status;
                        runs[i].status_source = Some(verdict.source);
                    }
                    Err(e) => self.warn(e.to_string()),
                }
            }
        }
    }

    /// The status instance of `project`, resolved once per project into
    /// `instances`.
    fn status_of<'i>(
        &self,
        project: &str,
        instances: &'i mut HashMap<String, Option<Arc<Instance>>>,
    ) -> Option<&'i Arc<Instance>> {
        if !instances.contains_key(project) {
            instances.insert(project.to_owned(), self.status_for(project));
        }
        instances.get(project).and_then(Option::as_ref)
    }

    /// Decides one run's status (see [`History::detect_statuses`]),
    /// resolving its project's status instance into `instances`.
    fn detect(&self, run: &mut Run, instances: &mut HashMap<String, Option<Arc<Instance>>>) {
        if let Some(status) = self.status_of(&run.project, instances) {
            self.detect_with(status, run);
        }
    }

    /// Decides `run`'s status with `status`, unless storage recorded it.
    fn detect_with(&self, status: &Instance, run: &mut Run) {
        // A storage that records statuses itself (the SQLite history) has
        // decided already.
        if run.status_source.is_some() {
            return;
        }
        match status.detect(run) {
            Ok(verdict) => {
                run.status = verdict.status;
                run.status_source = Some(verdict.source);
            }
            Err(e) => self.warn(e.to_string()),
        }
    }

    /// `otto-hooks list`.
    ///
    /// Each run's status is detected as the storage hands it over, and only
    /// its entry is kept: a listing of 100,000 runs is never held as runs
    /// (with their attributes) all at once.
    pub fn list(&self, query: &ListQuery) -> Result<RunList, HistoryError> {
        // The storage may stop early only when no status filter follows.
        let limit = match query.status {
            None => query.limit.map(|l| l as u64),
            Some(_) => None,
        };
        let mut instances = HashMap::new();
        let mut listed: Vec<(Timestamp, RunEntry)> = Vec::new();
        // Runs whose status plugin is isolated wait here, to be detected a
        // batch per round trip rather than one each.
        let mut pending: Vec<Run> = Vec::new();
        let flush = |pending: &mut Vec<Run>,
                     instances: &HashMap<String, Option<Arc<Instance>>>,
                     listed: &mut Vec<(Timestamp, RunEntry)>| {
            self.detect_isolated(pending, instances);
            for run in pending.drain(..) {
                if query.status.is_none_or(|s| run.status == s) {
                    listed.push((run.started_at, entry(run)));
                }
            }
        };
        self.storage
            .list_runs_each(
                &RunQuery {
                    project: query.project.as_deref(),
                    limit,
                },
                &mut |mut run| {
                    let isolated = run.status_source.is_none()
                        && self
                            .status_of(&run.project, &mut instances)
                            .is_some_and(|s| s.mode() != "in-process");
                    if isolated {
                        pending.push(run);
                        if pending.len() >= LIST_DETECT_BATCH {
                            flush(&mut pending, &instances, &mut listed);
                        }
                        return;
                    }
                    self.detect(&mut run, &mut instances);
                    if query.status.is_none_or(|s| run.status == s) {
                        listed.push((run.started_at, entry(run)));
                    }
                },
            )
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        flush(&mut pending, &instances, &mut listed);
        drop(instances);
        self.release_statuses();
        listed.sort_by(|(a_start, a), (b_start, b)| {
            newest_first(
                (*a_start, own_id_of(&a.run, &a.project), &a.project),
                (*b_start, own_id_of(&b.run, &b.project), &b.project),
            )
        });
        listed.truncate(query.limit.unwrap_or(usize::MAX));
        Ok(listed.into_iter().map(|(_, entry)| entry).collect())
    }

    /// Finds the run `spec` names, in any form [`crate::run_ref`] accepts
    /// (`<project>/<ts>` as `list` shows it, `<ts>`, a history id);
    /// `project` narrows a bare one. Unknown → bad input naming the newest
    /// runs (or the closest projects); ambiguous → bad input listing the
    /// candidates.
    pub fn resolve(&self, spec: &str, project: Option<&str>) -> Result<Run, HistoryError> {
        match self.find(spec, project)? {
            Some(run) => Ok(run),
            None => Err(self.not_found(&RunSpec::parse(spec, project))?),
        }
    }

    /// [`History::resolve`], with a run nobody has as `None` (an ambiguous
    /// name is still an error).
    pub fn find(&self, spec: &str, project: Option<&str>) -> Result<Option<Run>, HistoryError> {
        let spec = RunSpec::parse(spec, project);
        // Only the runs with that name are kept of the listing. Storage
        // narrows to the project first (otto-fs reads its name or hash, the
        // history only its key: a miss is looked for again without it).
        let mut candidates = self.matching_runs(&spec, spec.project.as_deref())?;
        if candidates.is_empty() && spec.project.is_some() {
            candidates = self.matching_runs(&spec, None)?;
        }
        sort_newest_first(&mut candidates);
        match candidates.len() {
            0 => Ok(None),
            1 => Ok(candidates.into_iter().next()),
            _ => Err(HistoryError::bad_input(format!(
                "run `{}` is ambiguous: {}; name one as `list` shows it",
                spec.raw,
                candidates
                    .iter()
                    .map(run_ref::of)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The runs of `project` (storage's reading of it) that `spec` names.
    fn matching_runs(
        &self,
        spec: &RunSpec,
        project: Option<&str>,
    ) -> Result<Vec<Run>, HistoryError> {
        let mut found = Vec::new();
        self.storage
            .list_runs_each(
                &RunQuery {
                    project,
                    limit: None,
                },
                &mut |run| {
                    if spec.matches(&run) {
                        found.push(run);
                    }
                },
            )
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        Ok(found)
    }

    /// The error for a run nobody has: the closest projects when the
    /// project named is unknown, else the newest runs, in `list`'s syntax.
    fn not_found(&self, spec: &RunSpec) -> Result<HistoryError, HistoryError> {
        let known = self.known_projects()?;
        if let Some(project) = &spec.project {
            if !known
                .projects
                .iter()
                .any(|k| run_ref::project_matches(k, project))
            {
                return Ok(HistoryError::bad_input(format!(
                    "no run `{}`: storage `{}` has no project `{project}`{}",
                    spec.raw,
                    self.storage_name(),
                    known.suggest(project)
                )));
            }
        }
        let newest = if known.newest.is_empty() {
            " (it holds no runs)".to_owned()
        } else {
            format!(
                "; the newest: {} (see `otto-hooks list`)",
                known.newest.join(", ")
            )
        };
        Ok(HistoryError::bad_input(format!(
            "no run `{}`{} in storage `{}`{newest}",
            spec.raw,
            spec.project
                .as_deref()
                .filter(|_| !spec.raw.contains(['/', ':']))
                .map(|p| format!(" in project `{p}`"))
                .unwrap_or_default(),
            self.storage_name(),
        )))
    }

    /// The projects storage has runs of, and its newest few runs: what a
    /// "not found" message suggests. One listing, on the error path only.
    fn known_projects(&self) -> Result<KnownProjects, HistoryError> {
        let mut projects = std::collections::BTreeSet::new();
        let mut newest: Vec<Run> = Vec::new();
        self.storage
            .list_runs_each(
                &RunQuery {
                    project: None,
                    limit: None,
                },
                &mut |run| {
                    if !projects.contains(&run.project) {
                        projects.insert(run.project.clone());
                    }
                    newest.push(Run {
                        attributes: Default::default(),
                        ..run
                    });
                    if newest.len() > 64 {
                        sort_newest_first(&mut newest);
                        newest.truncate(3);
                    }
                },
            )
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        sort_newest_first(&mut newest);
        Ok(KnownProjects {
            projects: projects.into_iter().collect(),
            newest: newest.iter().take(3).map(run_ref::of).collect(),
        })
    }

    /// Checks that storage knows `project` (a key, name or hash, as
    /// `--project` reads it): an unknown one is bad input naming the closest
    /// projects, not an empty result.
    pub fn check_project(&self, project: &str) -> Result<(), HistoryError> {
        let mut any = false;
        self.storage
            .list_runs_each(
                &RunQuery {
                    project: Some(project),
                    limit: Some(1),
                },
                &mut |_| any = true,
            )
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        if any {
            return Ok(());
        }
        // A project without runs (a cache left) is still a project.
        let usage = self
            .storage
            .usage(&RunQuery {
                project: Some(project),
                limit: None,
            })
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        if !usage.is_empty() {
            return Ok(());
        }
        let known = self.known_projects()?;
        Err(HistoryError::bad_input(format!(
            "no project `{project}` in storage `{}`{}",
            self.storage_name(),
            known.suggest(project)
        )))
    }

    /// `otto-hooks info`.
    ///
    /// A run named with its project (`<project-dir>/<ts>`, as `list` shows
    /// it) or by a history id is asked of storage directly; anything else,
    /// or a run storage does not find there, is resolved from a listing
    /// (which also words the errors: unknown, ambiguous).
    pub fn info(&self, spec: &str, project: Option<&str>) -> Result<RunInfo, HistoryError> {
        match self.find_info(spec, project)? {
            Some(info) => Ok(info),
            None => Err(self.not_found(&RunSpec::parse(spec, project))?),
        }
    }

    /// [`History::info`], with a run nobody has as `None` (an ambiguous
    /// name is still an error).
    pub fn find_info(
        &self,
        spec: &str,
        project: Option<&str>,
    ) -> Result<Option<RunInfo>, HistoryError> {
        let parsed = RunSpec::parse(spec, project);
        let direct: Vec<(&str, String)> = match &parsed.project {
            Some(p) => parsed
                .storage_ids()
                .into_iter()
                .map(|id| (p.as_str(), id))
                .collect(),
            // A history id (`run_…`) is unique on its own.
            None if !run_ref::is_otto_run_id(&parsed.run) => vec![("", parsed.run.clone())],
            None => Vec::new(),
        };
        for (project, run_id) in &direct {
            let found = self.storage.run_details(&HookContext { project, run_id });
            if let Ok(details) = found {
                // Storage may look a run up by id alone: the name must agree.
                if parsed.matches(&details.run) {
                    return Ok(Some(run_info(
                        self.with_units(self.decide_details(details)),
                    )));
                }
            }
        }
        match self.find(spec, project)? {
            Some(run) => Ok(Some(run_info(self.with_units(self.details(&run)?)))),
            None => Ok(None),
        }
    }

    /// The error for a run named `spec` that storage does not have (see
    /// [`History::resolve`]).
    pub fn not_found_error(&self, spec: &str, project: Option<&str>) -> HistoryError {
        self.not_found(&RunSpec::parse(spec, project))
            .unwrap_or_else(|e| e)
    }

    /// A run without tasks (one the hooks recorded: it has units and
    /// events) gets its units as tasks, from its stored `unit.*` events;
    /// a storage that keeps no events leaves it as it is.
    fn with_units(&self, mut details: RunDetails) -> RunDetails {
        if !details.tasks.is_empty() || !self.storage.handle().offers().contains(&"stored_events") {
            return details;
        }
        let mut events = Vec::new();
        let mut after_seq = None;
        // A run has a few events per unit: a thousand pages is far beyond
        // any real one, and bounds a corrupt one.
        for _ in 0..1000 {
            let page = self
                .storage
                .stored_events(&otto_hooks_plugin_api::EventQuery {
                    run_id: &details.run.id,
                    type_prefix: Some("unit"),
                    unit: None,
                    after_seq,
                    limit: 1000,
                });
            let Ok(page) = page else {
                return details;
            };
            after_seq = page.events.last().map(|e| e.seq);
            events.extend(page.events);
            if !page.has_more || after_seq.is_none() {
                break;
            }
        }
        details.tasks = crate::units::units_of(&events);
        details
    }

    /// One run's details (from storage), with its status and its tasks'
    /// decided by its project's status plugin: what `info` shows and
    /// `import otto` records. A status plugin that fails leaves storage's
    /// figures, with a warning.
    pub fn details(&self, run: &Run) -> Result<RunDetails, HistoryError> {
        let details = self
            .storage
            .run_details(&HookContext {
                project: &run.project,
                run_id: &run.id,
            })
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        Ok(self.decide_details(details))
    }

    /// `details` with the status its project's status plugin decides.
    fn decide_details(&self, details: RunDetails) -> RunDetails {
        match self.status_for(&details.run.project) {
            Some(status) => status.detect_details(&details).unwrap_or_else(|e| {
                self.warn(e.to_string());
                details
            }),
            None => details,
        }
    }

    /// `otto-hooks usage`: sizes per project, the largest runs, orphaned
    /// cache — and every run it measured, newest first with its status
    /// detected, for the caller to add what the retention policy would free
    /// (from [`crate::policy::plan_runs`]) without listing them again.
    pub fn usage(&self, project: Option<&str>) -> Result<(UsageReport, Vec<Run>), HistoryError> {
        let usage: Vec<ProjectUsage> = self
            .storage
            .usage(&RunQuery {
                project,
                limit: None,
            })
            .map_err(|e| HistoryError::failed(e.to_string()))?;
        let runs = self.detected_runs(project)?;

        let mut projects: Vec<ProjectUsageDoc> = usage
            .iter()
            .map(|u| ProjectUsageDoc {
                project: u.project.clone(),
                bytes: u.runs_bytes + u.cache_bytes + u.other_bytes,
                runs_bytes: u.runs_bytes,
                cache_bytes: u.cache_bytes,
                orphaned_cache_bytes: u.orphaned_cache_bytes,
                runs_allocated_bytes: u.runs_allocated_bytes,
                allocated_bytes: u.allocated_bytes,
                runs: u.runs,
                oldest_timestamp: u.oldest_run.map(|t| t.secs),
            })
            .collect();
        projects.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.project.cmp(&b.project))
        });

        let mut largest: Vec<&Run> = runs.iter().collect();
        largest.sort_by_key(|r| std::cmp::Reverse(r.size_bytes.unwrap_or(0)));
        let largest_runs = largest
            .iter()
            .take(10)
            .map(|r| RunSize {
                project: r.project.clone(),
                run: r.id.clone(),
                size_bytes: r.size_bytes.unwrap_or(0),
            })
            .collect();

        let orphaned: u64 = usage.iter().map(|u| u.orphaned_cache_bytes).sum();
        let mut recommendations = Vec::new();
        if orphaned > 0 {
            let files: u64 = usage.iter().map(|u| u.orphaned_cache_files).sum();
            recommendations.push(Recommendation {
                message: format!(
                    "removing the {files} cache file(s) no run references would free {}",
                    human_size(orphaned)
                ),
                command: None,
                bytes: orphaned,
            });
        }
        let report = UsageReport {
            total_bytes: projects.iter().map(|p| p.bytes).sum(),
            // Only when every project was measured: a partial sum would
            // read as the whole.
            total_allocated_bytes: projects
                .iter()
                .map(|p| p.allocated_bytes)
                .sum::<Option<u64>>()
                .filter(|_| !projects.is_empty()),
            projects,
            largest_runs,
            orphaned_cache_bytes: orphaned,
            // The trash is the otto home's, not a storage's: `usage` adds it.
            trash_entries: 0,
            trash_bytes: 0,
            recommendations,
        };
        Ok((report, runs))
    }
}

/// The projects a storage knows and its newest runs, for messages.
struct KnownProjects {
    projects: Vec<String>,
    newest: Vec<String>,
}

impl KnownProjects {
    /// `; did you mean `x`?` (or the list of projects when few and none
    /// is close), for a project nobody has.
    fn suggest(&self, wanted: &str) -> String {
        let close = run_ref::closest(wanted, self.projects.iter().map(String::as_str));
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !close.is_empty() {
            format!("; did you mean {}?", quoted(&close))
        } else if self.projects.is_empty() {
            " (it holds no runs)".to_owned()
        } else if self.projects.len() <= 8 {
            let all: Vec<&str> = self.projects.iter().map(String::as_str).collect();
            format!("; projects: {}", quoted(&all))
        } else {
            format!(
                "; it has {} projects (see `otto-hooks usage`)",
                self.projects.len()
            )
        }
    }
}

/// Newest first: by start time, then by id (so `<ts>-2` before `<ts>-1`
/// before `<ts>`: suffixes compare as numbers).
///
/// Runs compare by their own ids (an imported run's without its
/// `<project>:`), so that every storage lists the same runs in one order.
pub fn sort_newest_first(runs: &mut [Run]) {
    runs.sort_by(|a, b| {
        newest_first(
            (a.started_at, run_ref::own_id(a), &a.project),
            (b.started_at, run_ref::own_id(b), &b.project),
        )
    });
}

/// [`run_ref::own_id`] of a listed entry.
fn own_id_of<'a>(run: &'a str, project: &str) -> &'a str {
    run.strip_prefix(project)
        .and_then(|r| r.strip_prefix(':'))
        .filter(|r| run_ref::is_otto_run_id(r))
        .unwrap_or(run)
}

/// The order of [`sort_newest_first`], on (start, run id, project).
fn newest_first(
    (a_start, a_id, a_project): (Timestamp, &str, &str),
    (b_start, b_id, b_project): (Timestamp, &str, &str),
) -> std::cmp::Ordering {
    fn suffix(id: &str) -> u64 {
        id.rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }
    b_start
        .cmp(&a_start)
        .then_with(|| suffix(b_id).cmp(&suffix(a_id)))
        .then_with(|| b_id.cmp(a_id))
        .then_with(|| a_project.cmp(b_project))
}

fn entry(run: Run) -> RunEntry {
    let status_guessed = run.status_is_guess();
    RunEntry {
        id: run_ref::of(&run),
        timestamp: run.started_at.secs,
        started_at: rfc3339(run.started_at),
        project: run.project,
        run: run.id,
        tasks: run.task_count,
        status: run.status,
        status_guessed,
        status_source: run.status_source,
        size_bytes: run.size_bytes,
        allocated_bytes: run.allocated_bytes,
        path: run.location,
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.secs - from.secs) as f64 + (f64::from(to.nanos) - f64::from(from.nanos)) / 1e9
}

fn run_info(details: RunDetails) -> RunInfo {
    let run = details.run;
    let status_guessed = run.status_is_guess();
    RunInfo {
        id: run_ref::of(&run),
        timestamp: run.started_at.secs,
        started_at: rfc3339(run.started_at),
        ended_at: run.ended_at.map(rfc3339),
        duration_seconds: run
            .ended_at
            .map(|end| seconds_between(run.started_at, end).max(0.0)),
        status: run.status,
        status_guessed,
        status_source: run.status_source.unwrap_or_else(|| "unknown".to_owned()),
        size_bytes: run.size_bytes,
        path: run.location,
        attributes: run.attributes,
        project: run.project,
        run: run.id,
        tasks: details
            .tasks
            .into_iter()
            .map(|t| TaskInfo {
                name: t.name,
                status: t.status,
                exit_code: t.exit_code,
                duration_seconds: t.duration_ms.map(|ms| ms as f64 / 1000.0),
                stdout: t.stdout_path,
                stderr: t.stderr_path,
                script: t.script_path,
                script_target: t.script_target,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, secs: i64) -> Run {
        Run {
            id: id.into(),
            project: "p-0123abcd".into(),
            started_at: Timestamp::from_secs(secs),
            ..Run::default()
        }
    }

    #[test]
    fn same_second_runs_sort_by_their_numeric_suffix() {
        let mut runs = vec![
            run("100", 100),
            run("100-2", 100),
            run("100-10", 100),
            run("99", 99),
            run("100-1", 100),
        ];
        sort_newest_first(&mut runs);
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["100-10", "100-2", "100-1", "100", "99"]);
    }
}
