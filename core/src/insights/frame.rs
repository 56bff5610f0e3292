//! A window in compact form: what `stats` and `flaky` compute from.
//!
//! A [`Frame`] holds a window's runs (as [`RunRecord`]s, one per run) and
//! its executions as small fixed-size [`Exec`] values whose project, task
//! and script hash are numbers into the frame's name tables: a window of a
//! million executions is one allocation, not four strings each. Sources
//! that read their rows directly (otto.db, its insights cache, history.db's
//! unit summary) fill a frame without making an [`Execution`]; any other
//! source's executions are converted ([`Frame::from_parts`]).
//!
//! The figures computed from a frame are the same documents, to the bit, as
//! the straightforward computation over [`Execution`]s
//! ([`super::stats::stats_straight`], [`super::flaky::flaky_straight`]):
//! the same percentiles (nearest rank, selected rather than sorted), the
//! same series buckets, the same orders and tie-breaks.

use std::collections::HashMap;

use otto_hooks_plugin_api::TaskStatus;

use super::{Execution, RunRecord};

/// No name (an execution without a script hash).
pub const NONE: u32 = u32::MAX;

/// A hasher for the frames' maps (run ids, names): a multiply-rotate over
/// words, much cheaper than the default for a million small keys. Not
/// resistant to chosen collisions; the keys are the databases' own.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// Names numbered in the order first seen.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    names: Vec<String>,
    ids: FastMap<String, u32>,
}

impl Interner {
    /// The number of `name`, numbering it if new.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(NONE - 1);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), i);
        i
    }

    /// The number of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name numbered `i`.
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One execution, its names as numbers of its frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exec {
    /// Its run: an index into [`Frame::runs`].
    pub run: u32,
    /// Its project, in [`Frame::projects`].
    pub project: u32,
    /// Its task, in [`Frame::tasks`].
    pub task: u32,
    /// Its script hash, in [`Frame::hashes`] ([`NONE`]: not known).
    pub hash: u32,
    /// How it ended.
    pub status: TaskStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// When it started (the run's start when unknown).
    pub started_at: i64,
    /// How long it ran.
    pub duration_seconds: Option<f64>,
}

/// A window's runs and executions.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// The runs: the window's first ([`Frame::listed`] of them, what run
    /// figures count), then any run only an execution names.
    pub runs: Vec<RunRecord>,
    /// How many of `runs` are the window's.
    pub listed: usize,
    /// Project names.
    pub projects: Interner,
    /// Task names.
    pub tasks: Interner,
    /// Script hashes.
    pub hashes: Interner,
    /// The executions, in no particular order.
    pub execs: Vec<Exec>,
    /// The insights cache's blocks read for this frame being written
    /// meanwhile: dropping the frame waits for them.
    pub cache_write: super::otto_cache::PendingWrite,
}

impl Frame {
    /// A frame of `runs` (the window's) and `executions`.
    pub fn from_parts(runs: Vec<RunRecord>, executions: Vec<Execution>) -> Frame {
        let mut f = Frame {
            listed: runs.len(),
            runs,
            ..Frame::default()
        };
        let mut by_name: FastMap<String, u32> = FastMap::default();
        for (i, r) in f.runs.iter().enumerate() {
            by_name.insert(r.run.clone(), i as u32);
        }
        f.execs.reserve(executions.len());
        for e in executions {
            let run = match by_name.get(&e.run) {
                Some(&i) => i,
                None => {
                    let i = f.runs.len() as u32;
                    f.runs.push(RunRecord {
                        project: e.project.clone(),
                        run: e.run.clone(),
                        started_at: e.started_at,
                        status: String::new(),
                        duration_seconds: None,
                        size_bytes: None,
                    });
                    by_name.insert(e.run.clone(), i);
                    i
                }
            };
            f.push(run, &e);
        }
        f
    }

    /// Adds a listed run (before any execution names a run the window
    /// does not list); returns its index.
    pub fn add_run(&mut self, record: RunRecord) -> u32 {
        debug_assert_eq!(self.listed, self.runs.len());
        self.runs.push(record);
        self.listed = self.runs.len();
        (self.runs.len() - 1) as u32
    }

    /// Adds `e`, of the run at index `run`.
    pub fn push(&mut self, run: u32, e: &Execution) {
        let exec = Exec {
            run,
            project: self.projects.id(&e.project),
            task: self.tasks.id(&e.task),
            hash: e.script_hash.as_deref().map_or(NONE, |h| self.hashes.id(h)),
            status: e.status,
            exit_code: e.exit_code,
            started_at: e.started_at,
            duration_seconds: e.duration_seconds,
        };
        self.execs.push(exec);
    }

    /// The run of `e`.
    pub fn run_of(&self, e: &Exec) -> &RunRecord {
        &self.runs[e.run as usize]
    }

    /// The window's runs (with `task`: those that ran it).
    pub fn listed_runs(&self, task: Option<&str>) -> Vec<&RunRecord> {
        let listed = &self.runs[..self.listed];
        if task.is_none() {
            return listed.iter().collect();
        }
        // By name, as the straightforward computation matches them.
        let ran: std::collections::HashSet<&str> = self
            .execs
            .iter()
            .map(|e| self.run_of(e).run.as_str())
            .collect();
        listed
            .iter()
            .filter(|r| ran.contains(r.run.as_str()))
            .collect()
    }
}

/// The executions of `execs` grouped by `key` (a dense group number below
/// `groups`): `(offsets, order)` where group `g`'s executions are
/// `order[offsets[g]..offsets[g + 1]]`, each group in frame order.
pub fn group_by(
    execs: &[Exec],
    groups: usize,
    key: impl Fn(usize, &Exec) -> u32,
) -> (Vec<usize>, Vec<u32>) {
    let mut counts = vec![0usize; groups + 1];
    let keys: Vec<u32> = execs.iter().enumerate().map(|(i, e)| key(i, e)).collect();
    for &k in &keys {
        if k != NONE {
            counts[k as usize + 1] += 1;
        }
    }
    for g in 0..groups {
        counts[g + 1] += counts[g];
    }
    let mut next = counts.clone();
    let mut order = vec![0u32; counts[groups]];
    for (i, &k) in keys.iter().enumerate() {
        if k != NONE {
            order[next[k as usize]] = i as u32;
            next[k as usize] += 1;
        }
    }
    (counts, order)
}

/// Numbers the distinct (project, task) pairs of `frame` densely: the
/// number of each execution's pair, and the pairs.
pub fn task_groups(frame: &Frame) -> (Vec<u32>, Vec<(u32, u32)>) {
    let tasks = frame.tasks.len().max(1);
    let cells = frame.projects.len().max(1).saturating_mul(tasks);
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut ids = Vec::with_capacity(frame.execs.len());
    if cells <= 4 * frame.execs.len() + 4096 {
        let mut table = vec![NONE; cells];
        for e in &frame.execs {
            let cell = &mut table[e.project as usize * tasks + e.task as usize];
            if *cell == NONE {
                *cell = pairs.len() as u32;
                pairs.push((e.project, e.task));
            }
            ids.push(*cell);
        }
    } else {
        let mut map: FastMap<(u32, u32), u32> = FastMap::default();
        for e in &frame.execs {
            let id = *map.entry((e.project, e.task)).or_insert_with(|| {
                pairs.push((e.project, e.task));
                (pairs.len() - 1) as u32
            });
            ids.push(id);
        }
    }
    (ids, pairs)
}

/// Nearest-rank percentile `p` (0–100) of `values` (reordered): the value
/// [`super::stats::percentile`] finds in them sorted.
pub fn percentile_of(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    let k = rank.clamp(1, values.len()) - 1;
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    Some(*v)
}

/// The largest of `values` in the order sorting uses.
pub fn max_of(values: &[f64]) -> Option<f64> {
    values
        .iter()
        .copied()
        .reduce(|a, b| if b.total_cmp(&a).is_ge() { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_percentiles_are_the_sorted_ones() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for n in [1usize, 2, 3, 4, 7, 10, 11, 100, 1001] {
            let mut v: Vec<f64> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 50) as f64 / 4.0
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            for p in [0.0, 50.0, 90.0, 99.0, 100.0] {
                assert_eq!(
                    percentile_of(&mut v, p),
                    super::super::stats::percentile(&sorted, p),
                    "{n} {p}"
                );
            }
            assert_eq!(max_of(&v), sorted.last().copied());
        }
        assert_eq!(percentile_of(&mut [], 50.0), None);
    }

    #[test]
    fn groups_keep_frame_order() {
        let e = |task| Exec {
            run: 0,
            project: 0,
            task,
            hash: NONE,
            status: TaskStatus::Success,
            exit_code: None,
            started_at: 0,
            duration_seconds: None,
        };
        let execs = [e(1), e(0), e(1), e(0), e(1)];
        let (offsets, order) = group_by(&execs, 2, |_, x| x.task);
        assert_eq!(offsets, [0, 2, 5]);
        assert_eq!(order, [1, 3, 0, 2, 4]);
    }
}
