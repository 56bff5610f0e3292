//! Disk usage of a project: its runs, its script cache (and which cache
//! files no run refers to), and everything else, adding up to exactly
//! `du -sb <project>`.
//!
//! A script link refers to a cache file when its target, resolved
//! *lexically* (never following anything), lands inside the project's own
//! `.cache`: a relative target from the link's own directory
//! (`../../../.cache/<hash8>.sh`), an absolute one as written (legacy runs),
//! and the legacy per-task layout (`.cache/<task>/<hash>`) alike. A target
//! anywhere else protects nothing.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path};

use otto_hooks_plugin_api::{ProjectUsage, Timestamp};
use rustix::fs::Stat;

use crate::layout::RunName;
use crate::measure::RunFacts;
use crate::scan::{Project, Warnings};
use crate::strings::Strings;
use crate::walk::{self, CountOnly, Du, Visitor};

/// The roots a script link's target may name `$OTTO_HOME` by, to resolve
/// script links lexically ([`Roots::cache_path`]): the path as
/// configured (made absolute, `.` and `..` removed lexically) and, when it
/// differs, its canonical form (what the kernel resolves `..` against).
#[derive(Clone, Debug)]
pub struct Roots {
    /// Components of each form, the first being the one relative links
    /// start from.
    forms: Vec<Vec<Vec<u8>>>,
}

impl Roots {
    /// The roots for `home` (absolute).
    pub fn new(home: &Path) -> Self {
        let lexical = components(home);
        let mut forms = Vec::new();
        if let Ok(canonical) = std::fs::canonicalize(home) {
            forms.push(components(&canonical));
        }
        if !forms.contains(&lexical) {
            forms.push(lexical);
        }
        Roots { forms }
    }

    /// Whether the absolute `path` lies in (or is) `$OTTO_HOME`, in any of
    /// its forms, lexically or once resolved.
    pub fn contains(&self, path: &Path) -> bool {
        let mut forms = vec![components(path)];
        if let Ok(canonical) = std::fs::canonicalize(path) {
            forms.push(components(&canonical));
        }
        forms
            .iter()
            .any(|p| self.forms.iter().any(|root| p.starts_with(root)))
    }

    /// The cache-relative path (`0123abcd.sh`, `build/0f1e…`) of the file a
    /// script link refers to, or `None` when its target is not inside
    /// `project`'s `.cache`. The link is `<project>/<run>/tasks/<task>/script.*`.
    pub fn cache_path(&self, project: &str, target: &[u8]) -> Option<Vec<u8>> {
        let mut stack: Vec<&[u8]> = Vec::new();
        if !target.starts_with(b"/") {
            // The link's own directory; run and task names can't be `.cache`
            // and are popped by `..` like any name, so placeholders do.
            stack.extend(self.forms.first()?.iter().map(Vec::as_slice));
            stack.extend([project.as_bytes(), b"\0run", b"tasks", b"\0task"]);
        }
        for part in target.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    stack.pop();
                }
                name => stack.push(name),
            }
        }
        self.forms.iter().find_map(|root| {
            let n = root.len();
            let inside = stack.len() > n + 2
                && stack.iter().zip(root).all(|(a, b)| *a == b.as_slice())
                && stack[n] == project.as_bytes()
                && stack[n + 1] == b".cache";
            inside.then(|| stack[n + 2..].join(&b'/'))
        })
    }
}

/// A path's normal components, with `..` applied lexically.
fn components(path: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s.as_encoded_bytes().to_vec()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// One measured run of a project, for [`project_usage`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct UsedRun<'a> {
    /// Its name.
    pub key: RunName,
    /// What was measured.
    pub facts: &'a RunFacts,
}

/// The usage of `project` from its measured runs (see the module docs).
pub(crate) fn project_usage(
    project: &Project,
    runs: &[UsedRun<'_>],
    strings: &Strings,
    roots: &Roots,
    warnings: &Warnings,
    home: &Path,
) -> ProjectUsage {
    let mut du = Du::new(false);
    let mut usage = ProjectUsage {
        project: project.dir.clone(),
        ..ProjectUsage::default()
    };

    // Runs, with a file hard-linked from several runs counted once.
    let mut referenced: HashSet<Vec<u8>> = HashSet::new();
    let mut resolved: HashMap<u32, Option<Vec<u8>>> = HashMap::new();
    for run in runs {
        let mut sizes = run.facts.sizes;
        for link in run.facts.links.iter() {
            if !du.add_linked(link) {
                sizes.apparent = sizes.apparent.saturating_sub(link.apparent);
                sizes.allocated = sizes.allocated.saturating_sub(link.allocated);
            }
        }
        usage.runs += 1;
        usage.runs_bytes = usage.runs_bytes.saturating_add(sizes.apparent);
        usage.runs_allocated_bytes = usage.runs_allocated_bytes.saturating_add(sizes.allocated);
        let started = Timestamp::from_secs(run.key.start_secs());
        usage.oldest_run = Some(usage.oldest_run.map_or(started, |o| o.min(started)));
        for &t in run.facts.targets.iter() {
            let path = resolved.entry(t).or_insert_with(|| {
                strings
                    .get(t)
                    .and_then(|target| roots.cache_path(&project.dir, target))
            });
            if let Some(path) = path {
                if !referenced.contains(path.as_slice()) {
                    referenced.insert(path.clone());
                }
            }
        }
    }

    // The project directory's own entry, then the cache, then the rest.
    du.add(&project.stat);
    let mut other = du.sizes.apparent;
    let fd = project.fd.as_fd();
    match walk::lstat_at(fd, ".cache") {
        Ok(st) if walk::is_dir(&st) => {
            let before = du.sizes.apparent;
            du.add(&st);
            let mut cache = CacheVisitor {
                referenced: &referenced,
                files: 0,
                orphaned_files: 0,
                orphaned_bytes: 0,
            };
            if let Ok(cache_fd) = walk::open_dir_at(fd, ".cache") {
                walk::walk(cache_fd, &mut du, &mut cache);
            }
            usage.cache_bytes = du.sizes.apparent - before;
            usage.cache_files = cache.files;
            usage.orphaned_cache_files = cache.orphaned_files;
            usage.orphaned_cache_bytes = cache.orphaned_bytes;
        }
        Ok(st) => {
            if walk::is_symlink(&st) {
                warnings.symlink(&home.join(&project.dir).join(".cache"));
            }
            let before = du.sizes.apparent;
            du.add(&st);
            other += du.sizes.apparent - before;
        }
        Err(_) => {}
    }
    for name in &project.others {
        let before = du.sizes.apparent;
        walk::du_at(fd, name, &mut du, &mut CountOnly);
        other += du.sizes.apparent - before;
    }
    usage.other_bytes = other;
    // `du` holds everything but the runs' own figures (their hard links
    // were only marked seen): together, `du -sB1` of the project.
    usage.allocated_bytes = Some(
        usage
            .runs_allocated_bytes
            .saturating_add(du.sizes.allocated),
    );
    usage
}

/// Counts cache files and those no run refers to.
struct CacheVisitor<'a> {
    referenced: &'a HashSet<Vec<u8>>,
    files: u64,
    orphaned_files: u64,
    orphaned_bytes: u64,
}

impl Visitor for CacheVisitor<'_> {
    fn entry(&mut self, _: BorrowedFd<'_>, dir: &[u8], name: &CStr, st: &Stat, counted: bool) {
        if walk::is_dir(st) {
            return;
        }
        self.files += 1;
        let mut path = Vec::with_capacity(dir.len() + 1 + name.to_bytes().len());
        if !dir.is_empty() {
            path.extend_from_slice(dir);
            path.push(b'/');
        }
        path.extend_from_slice(name.to_bytes());
        if !self.referenced.contains(&path) {
            self.orphaned_files += 1;
            if counted {
                self.orphaned_bytes = self.orphaned_bytes.saturating_add(walk::apparent(st));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(home: &str) -> Roots {
        Roots {
            forms: vec![components(Path::new(home))],
        }
    }

    fn resolve(target: &str) -> Option<String> {
        roots("/home/u/.otto")
            .cache_path("web-0123abcd", target.as_bytes())
            .map(|p| String::from_utf8(p).unwrap())
    }

    #[test]
    fn relative_absolute_and_legacy_targets_resolve_into_the_cache() {
        assert_eq!(
            resolve("../../../.cache/0f1e2d3c.sh").as_deref(),
            Some("0f1e2d3c.sh")
        );
        assert_eq!(
            resolve("./../../.././.cache//0f1e2d3c.py").as_deref(),
            Some("0f1e2d3c.py")
        );
        assert_eq!(
            resolve("/home/u/.otto/web-0123abcd/.cache/0f1e2d3c.sh").as_deref(),
            Some("0f1e2d3c.sh")
        );
        assert_eq!(
            resolve("/home/u/.otto/web-0123abcd/.cache/build/0f1e2d3c4b5a").as_deref(),
            Some("build/0f1e2d3c4b5a")
        );
        assert_eq!(
            resolve("../../../.cache/build/0f1e").as_deref(),
            Some("build/0f1e")
        );
        assert_eq!(
            resolve("../../../../web-0123abcd/.cache/x.sh").as_deref(),
            Some("x.sh"),
            "out of the project and back in"
        );
    }

    #[test]
    fn targets_outside_the_projects_cache_refer_to_nothing() {
        for target in [
            "../../../other/x.sh",
            "../../.cache/x.sh",
            "../../../.cache",
            "../../../.cache/",
            "../../../../other-89abcdef/.cache/x.sh",
            "/home/u/.otto/other-89abcdef/.cache/x.sh",
            "/elsewhere/web-0123abcd/.cache/x.sh",
            "/tmp/x.sh",
            "x.sh",
            "",
        ] {
            assert_eq!(resolve(target), None, "{target}");
        }
    }
}
