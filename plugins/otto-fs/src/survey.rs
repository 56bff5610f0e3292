//! One listing from start to finish: the projects scanned, the size index
//! loaded, what was measured of each run, and the index brought up to date.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::index::Index;
use crate::measure::{self, Job, Measured, RunFacts};
use crate::scan::{Project, Warnings};

/// A run, as a (project, run) pair of positions in [`Survey::projects`].
pub(crate) type Pick = (usize, usize);

/// Projects scanned, the index, and what was measured of each run.
#[derive(Debug)]
pub(crate) struct Survey {
    /// The projects, sorted by directory name, with their runs.
    pub projects: Vec<Project>,
    /// Where each project's runs start in `outcomes`.
    offsets: Vec<usize>,
    /// The size index as loaded (and, after [`Survey::finish`], updated).
    pub index: Index,
    /// One slot per run, set once the run is measured.
    outcomes: Vec<OnceLock<Measured>>,
    /// Whether every project was scanned (no filter): index entries of
    /// projects not seen are then dropped.
    whole: bool,
}

/// What a survey needs of the plugin instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    /// `$OTTO_HOME`, for paths in warnings.
    pub home: &'a Path,
    /// Threads for walking.
    pub threads: usize,
    /// Counts runs walked.
    pub walked: &'a AtomicU64,
    /// Reports symlinks and unreadable runs.
    pub warnings: &'a Warnings,
}

impl Survey {
    /// A survey of `projects` with `index`; `whole` when no filter chose them.
    pub fn new(projects: Vec<Project>, index: Index, whole: bool) -> Self {
        let mut offsets = Vec::with_capacity(projects.len());
        let mut total = 0;
        for project in &projects {
            offsets.push(total);
            total += project.runs.len();
        }
        let mut outcomes = Vec::with_capacity(total);
        outcomes.resize_with(total, OnceLock::new);
        Survey {
            projects,
            offsets,
            index,
            outcomes,
            whole,
        }
    }

    fn slot(&self, (p, r): Pick) -> Option<usize> {
        Some(self.offsets.get(p)? + r)
    }

    /// Every run, newest first (then by project and name).
    pub fn newest_first(&self) -> Vec<Pick> {
        let mut all: Vec<Pick> = self
            .projects
            .iter()
            .enumerate()
            .flat_map(|(p, project)| (0..project.runs.len()).map(move |r| (p, r)))
            .collect();
        all.sort_by(|&(pa, ra), &(pb, rb)| {
            let (a, b) = (&self.projects[pa], &self.projects[pb]);
            let (x, y) = (&a.runs[ra], &b.runs[rb]);
            y.key
                .cmp(&x.key)
                .then_with(|| a.dir.cmp(&b.dir))
                .then_with(|| x.name.cmp(&y.name))
        });
        all
    }

    /// Measures the runs `picks`, reusing valid index entries.
    pub fn measure(&self, picks: &[Pick], cx: Context<'_>) {
        let jobs: Vec<Job<'_>> = picks
            .iter()
            .filter_map(|&(p, r)| {
                let project = self.projects.get(p)?;
                let run = project.runs.get(r)?;
                let name = &run.name;
                Some(Job {
                    slot: self.slot((p, r))?,
                    project: project.fd.as_fd(),
                    name,
                    identity: Some(run.identity),
                    cached: self
                        .index
                        .projects
                        .get(project.dir.as_str())
                        .and_then(|runs| runs.get(name)),
                })
            })
            .collect();
        measure::measure_all(&jobs, &self.outcomes, cx.threads, &self.index.strings);
        for &(p, r) in picks {
            let path = || {
                let project = &self.projects[p];
                cx.home.join(&project.dir).join(&*project.runs[r].name)
            };
            match self.outcome((p, r)) {
                Some(Measured::Walked { .. }) => {
                    cx.walked.fetch_add(1, Ordering::Relaxed);
                }
                Some(Measured::Symlink) => cx.warnings.symlink(&path()),
                Some(Measured::Unreadable(e)) => {
                    cx.warnings
                        .once(&path(), &format!("cannot be read ({e}); skipped"));
                }
                Some(Measured::Cached | Measured::Gone) | None => {}
            }
        }
    }

    fn outcome(&self, pick: Pick) -> Option<&Measured> {
        self.outcomes.get(self.slot(pick)?)?.get()
    }

    /// Whether a run is known to be finished: it came from the index (only
    /// finished runs go there) or was walked after its lock was found free.
    pub fn finished(&self, pick: Pick) -> bool {
        matches!(
            self.outcome(pick),
            Some(
                Measured::Cached
                    | Measured::Walked {
                        indexable: true,
                        ..
                    }
            )
        )
    }

    /// What was measured of a run, when it was and it exists.
    pub fn facts(&self, (p, r): Pick) -> Option<&RunFacts> {
        match self.outcome((p, r))? {
            Measured::Walked { facts, .. } => Some(facts),
            Measured::Cached => {
                let project = self.projects.get(p)?;
                self.index
                    .projects
                    .get(project.dir.as_str())?
                    .get(&project.runs.get(r)?.name)
            }
            Measured::Gone | Measured::Symlink | Measured::Unreadable(_) => None,
        }
    }

    /// Brings the index up to date with what was measured, writes it when
    /// anything changed (to `path`, when the index is on), and returns the
    /// projects: everything else is freed — except, when the index is off
    /// (`path` is `None`), the updated index itself, which `memory` keeps
    /// for the instance's next call (one command, one walk).
    ///
    /// The index is updated in place: entries of runs walked again are
    /// replaced (or dropped when the run may not be indexed), entries of
    /// runs gone are dropped, the others stay.
    pub fn finish(
        self,
        path: Option<&Path>,
        memory: &Mutex<Option<Index>>,
        cx: Context<'_>,
    ) -> Vec<Project> {
        let Survey {
            projects,
            offsets,
            mut index,
            outcomes,
            whole,
        } = self;
        let mut outcomes: Vec<Option<Measured>> =
            outcomes.into_iter().map(OnceLock::into_inner).collect();
        let mut dirty = false;
        for (p, project) in projects.iter().enumerate() {
            let offset = offsets.get(p).copied().unwrap_or(0);
            let runs = index
                .projects
                .entry(project.dir.as_str().into())
                .or_default();
            for (r, run) in project.runs.iter().enumerate() {
                match outcomes.get_mut(offset + r).and_then(Option::take) {
                    Some(Measured::Walked {
                        facts,
                        indexable: true,
                    }) => {
                        runs.insert(run.name.clone(), *facts);
                        dirty = true;
                    }
                    Some(
                        Measured::Walked {
                            indexable: false, ..
                        }
                        | Measured::Gone
                        | Measured::Symlink
                        | Measured::Unreadable(_),
                    ) => {
                        dirty |= runs.remove(&run.name).is_some();
                    }
                    Some(Measured::Cached) | None => {}
                }
            }
            // Runs no longer in the project.
            if !runs.is_empty() {
                let present: HashSet<&str> = project.runs.iter().map(|r| &*r.name).collect();
                let kept = runs.len();
                runs.retain(|name, _| present.contains(&**name));
                dirty |= runs.len() != kept;
            }
            if runs.is_empty() {
                index.projects.remove(project.dir.as_str());
            }
        }
        drop(outcomes);
        if whole {
            let seen: HashSet<&str> = projects.iter().map(|p| p.dir.as_str()).collect();
            let before = index.projects.len();
            index.projects.retain(|dir, _| seen.contains(&**dir));
            dirty |= index.projects.len() != before;
        }
        let Some(path) = path else {
            *memory.lock().unwrap_or_else(PoisonError::into_inner) = Some(index);
            return projects;
        };
        if dirty {
            if let Err(e) = index.save(path, cx.home) {
                cx.warnings.once(
                    path,
                    &format!("cannot be written ({e}); the size index is not saved"),
                );
            }
        }
        projects
    }
}
