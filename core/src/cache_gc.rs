//! Cache garbage collection: the script-cache files no remaining run
//! references (`clean --cache`, `clean --cache-only`).
//!
//! For each otto project the survey ([`OttoRoot::survey_cache`]) reads the
//! `script.*` links of every run that stays; a cache file none of them
//! references, last modified longer ago than the grace period (default 1
//! hour — otto writes a file before it links it, so a young unreferenced
//! file may be about to be used), is an orphan.
//!
//! - **Preview** ([`preview`]): the runs the plan deletes are left out of
//!   the roots, so the dry run shows what the real command would delete.
//! - **Collect** ([`collect`]): after the runs are deleted, each project is
//!   surveyed again from disk — every run directory present is a root,
//!   including runs that started since the plan. Just before deleting, the
//!   project's run directories are listed once more; if a run appeared, the
//!   project is surveyed again. Each file then goes through
//!   [`OttoRoot::delete_cache_file`], which checks it once more on its
//!   descriptor (a regular file, on the root's filesystem, still older than
//!   the grace period) before it goes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use otto_hooks_otto_fs::Roots;
use otto_hooks_plugin_api::report::{CacheFile, CacheLink, CachePlan, RefusedRun};

use crate::fsops::{CacheSurvey, OttoRoot, Outcome, ScriptLink};
use crate::policy::{Plan, otto_root_of};

/// The default grace period: one hour.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// What cache collection works on.
#[derive(Clone, Debug)]
pub struct CacheScope {
    /// The `$OTTO_HOME` directories to look in.
    pub roots: Vec<PathBuf>,
    /// Only this project (directory name, name or hash, exactly).
    pub project: Option<String>,
    /// Unreferenced files younger than this stay.
    pub grace: Duration,
}

impl CacheScope {
    /// The roots of the runs in `plan`, plus `configured` (the storage's
    /// `$OTTO_HOME`, so a root with no runs left still has its cache
    /// collected).
    pub fn new(
        plan: &Plan,
        configured: Option<PathBuf>,
        project: Option<String>,
        grace: Duration,
    ) -> Self {
        let mut roots: BTreeSet<PathBuf> = plan
            .groups
            .iter()
            .flat_map(|g| &g.decisions)
            .filter_map(|d| otto_root_of(&d.run))
            .collect();
        roots.extend(configured);
        CacheScope {
            roots: roots.into_iter().collect(),
            project,
            grace,
        }
    }
}

/// The result of a preview or a collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheResult {
    /// The `cache` part of the `clean` document.
    pub plan: CachePlan,
    /// Cache files (or whole projects) that could not be collected: the
    /// command exits 1.
    pub refused: Vec<RefusedRun>,
    /// Notes for stderr.
    pub warnings: Vec<String>,
}

/// The projects of `root` in scope.
fn projects(root: &OttoRoot, scope: &CacheScope) -> Result<Vec<String>, String> {
    let all = root.project_names()?;
    Ok(all
        .into_iter()
        .filter(|dir| {
            scope.project.as_deref().is_none_or(|filter| {
                otto_hooks_otto_fs::layout::ProjectName::parse(dir)
                    .is_some_and(|p| p.matches(filter))
            })
        })
        .collect())
}

/// The dry run: what collection would delete after `plan` ran (`plan`'s
/// deletions are not roots; `None`: no run is deleted, as with
/// `--cache-only`).
pub fn preview(plan: Option<&Plan>, scope: &CacheScope) -> CacheResult {
    let now = SystemTime::now();
    let mut out = CacheResult {
        plan: CachePlan {
            grace_seconds: scope.grace.as_secs(),
            ..CachePlan::default()
        },
        ..CacheResult::default()
    };
    for_each_project(scope, &mut out, |root, roots, project, out| {
        let excluded: BTreeSet<String> = plan
            .into_iter()
            .flat_map(|p| &p.groups)
            .filter(|g| g.project == project)
            .flat_map(|g| g.deletions())
            .filter(|d| otto_root_of(&d.run).as_deref() == Some(root.path()))
            .map(|d| d.run.id.clone())
            .collect();
        let survey = root.survey_cache(project, &excluded, roots)?;
        let (orphans, _) = record(&survey, project, scope.grace, now, &mut out.plan);
        out.plan
            .deleted
            .extend(orphans.into_iter().map(|(rel, size)| CacheFile {
                project: project.to_owned(),
                file: rel,
                size_bytes: size,
            }));
        Ok(())
    });
    out
}

/// Deletes the orphans of every project in scope (see the module docs).
/// The caller holds the clean lock.
pub fn collect(scope: &CacheScope) -> CacheResult {
    let mut out = CacheResult {
        plan: CachePlan {
            grace_seconds: scope.grace.as_secs(),
            ..CachePlan::default()
        },
        ..CacheResult::default()
    };
    for_each_project(scope, &mut out, |root, roots, project, out| {
        let none = BTreeSet::new();
        let mut attempts = 0;
        let survey = loop {
            let survey = root.survey_cache(project, &none, roots)?;
            let now_present = root.run_names(project)?;
            if now_present.is_subset(&survey.runs) || attempts == 3 {
                if !now_present.is_subset(&survey.runs) {
                    return Err(format!(
                        "runs keep appearing in {project}; its cache is left for the next clean"
                    ));
                }
                break survey;
            }
            attempts += 1;
        };
        let (orphans, _) = record(
            &survey,
            project,
            scope.grace,
            SystemTime::now(),
            &mut out.plan,
        );
        for (rel, _) in orphans {
            match root.delete_cache_file(project, &rel, scope.grace) {
                Outcome::Deleted { bytes_freed } => {
                    out.plan.bytes_freed += bytes_freed;
                    out.plan.deleted.push(CacheFile {
                        project: project.to_owned(),
                        file: rel,
                        size_bytes: bytes_freed,
                    });
                }
                Outcome::AlreadyGone => {}
                // Touched since the survey, or no longer a plain file: left
                // alone on purpose.
                Outcome::Refused(why) => out.warnings.push(format!("{why}: left in the cache")),
                Outcome::Failed(error) => out.refused.push(RefusedRun {
                    project: project.to_owned(),
                    run: format!(".cache/{rel}"),
                    error,
                }),
            }
        }
        Ok(())
    });
    // The trash the deletions went through must not stay in $OTTO_HOME.
    for path in &scope.roots {
        if let Ok(root) = OttoRoot::open(path) {
            root.remove_trash_if_empty();
        }
    }
    out
}

/// Runs `f` for every project of every root in scope; a project whose
/// survey fails is refused as a whole.
fn for_each_project(
    scope: &CacheScope,
    out: &mut CacheResult,
    mut f: impl FnMut(&OttoRoot, &Roots, &str, &mut CacheResult) -> Result<(), String>,
) {
    for path in &scope.roots {
        let root = match OttoRoot::open(path) {
            Ok(root) => root,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.refused.push(RefusedRun {
                    project: path.display().to_string(),
                    run: ".cache".to_owned(),
                    error: format!("cannot open {}: {e}", path.display()),
                });
                continue;
            }
        };
        let roots = Roots::new(root.path());
        let projects = match projects(&root, scope) {
            Ok(p) => p,
            Err(error) => {
                out.refused.push(RefusedRun {
                    project: path.display().to_string(),
                    run: ".cache".to_owned(),
                    error,
                });
                continue;
            }
        };
        for project in projects {
            if let Err(error) = f(&root, &roots, &project, out) {
                out.refused.push(RefusedRun {
                    project: project.clone(),
                    run: ".cache".to_owned(),
                    error: format!("cache not collected: {error}"),
                });
            }
        }
    }
}

/// A cache file's path below `.cache`, and its apparent bytes.
type FileSize = (String, u64);

/// Adds `survey`'s counts and links to `plan`; returns the orphans (path,
/// bytes) and the recent unreferenced files.
fn record(
    survey: &CacheSurvey,
    project: &str,
    grace: Duration,
    now: SystemTime,
    plan: &mut CachePlan,
) -> (Vec<FileSize>, Vec<FileSize>) {
    let (orphans, recent) = survey.unreferenced(grace, now);
    plan.referenced_files += survey
        .files
        .keys()
        .filter(|rel| survey.referenced.contains(*rel))
        .count() as u64;
    plan.orphaned_files += orphans.len() as u64;
    plan.orphaned_bytes += orphans.iter().map(|f| f.size).sum::<u64>();
    plan.recent_files += recent.len() as u64;
    plan.recent_bytes += recent.iter().map(|f| f.size).sum::<u64>();
    let link = |l: &ScriptLink| CacheLink {
        project: project.to_owned(),
        run: l.run.clone(),
        task: l.task.clone(),
        link: l.link.clone(),
        target: l.target.clone(),
    };
    plan.dangling.extend(survey.dangling.iter().map(link));
    plan.outside.extend(survey.outside.iter().map(link));
    let pairs = |v: Vec<&crate::fsops::CacheEntry>| {
        v.into_iter()
            .map(|f| (f.rel.clone(), f.size))
            .collect::<Vec<_>>()
    };
    (pairs(orphans), pairs(recent))
}
