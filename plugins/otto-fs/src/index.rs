//! The size index: what was measured of each finished run, so that `list`
//! and `usage` walk only new or changed runs.
//!
//! # Validity
//!
//! An entry is used only while the run directory has the identity recorded
//! with it (device, inode, mtime and ctime to the nanosecond): adding,
//! removing or renaming anything in the run directory (`.keep`, `.lock`,
//! `run.yaml`, `tasks/`), or replacing the run directory, changes it.
//! Deeper changes to a finished run — which otto never makes — are not
//! seen. Live runs
//! (their `.lock` held, or younger than two minutes) are never indexed, nor are walks that met an
//! unreadable or vanishing entry. Entries of runs that are gone are dropped
//! when their project is next scanned. A file that cannot be read, is
//! corrupt, or has another version is ignored and rebuilt.
//!
//! The file and its format are described in the crate docs.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::measure::{RunFacts, TaskOutputs};
use crate::strings::Strings;
use crate::walk::{Identity, Linked, Sizes};

const MAGIC: &[u8; 8] = b"OTTOFSIX";
const VERSION: u32 = 3;
/// Bytes before the checksummed part: magic, version, checksum.
const HEADER: usize = 8 + 4 + 8;
/// An index larger than this is not read (it would be corrupt anyway).
const MAX_LEN: u64 = 1 << 31;

/// The runs of one project, by run directory name.
pub(crate) type ProjectRuns = HashMap<Box<str>, RunFacts>;

/// The size index in memory.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Script-link targets, shared by every run.
    pub strings: Mutex<Strings>,
    /// Runs by project directory name.
    pub projects: HashMap<Box<str>, ProjectRuns>,
}

/// A 64-bit hash, for the checksum and the file name (not cryptographic:
/// it detects accidents, not attacks).
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x6A09_E667_F3BC_C908 ^ (bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
        h ^= h >> 29;
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h.wrapping_mul(K) ^ (h >> 31)
}

/// Where the index of `otto_home` lives under `data_dir`.
pub(crate) fn path_for(data_dir: &Path, otto_home: &Path) -> PathBuf {
    let h = hash64(otto_home.as_os_str().as_encoded_bytes());
    data_dir.join("index").join(format!("otto-fs-{h:016x}.idx"))
}

/// The bytes of the index file at `path` when it is a regular file of at
/// most [`MAX_LEN`] bytes (never a link followed, never a FIFO waited on).
fn read_regular(path: &Path) -> Option<Vec<u8>> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || u64::try_from(st.st_size).ok()? > MAX_LEN
    {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_LEN + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_LEN).then_some(bytes)
}

impl Index {
    /// Loads the index at `path` for `otto_home`; anything unreadable,
    /// corrupt, of another version or of another root reads as empty.
    pub fn load(path: &Path, otto_home: &Path) -> Index {
        read_regular(path)
            .and_then(|bytes| Index::decode(&bytes, otto_home))
            .unwrap_or_default()
    }

    /// Writes the index atomically to `path` (see the module docs).
    pub fn save(&self, path: &Path, otto_home: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = self.encode(otto_home);
        let mut random = [0u8; 8];
        // Any value will do when the kernel has no randomness to give: the
        // pid and `create_new` keep the name unique.
        let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::NONBLOCK);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{file_name}.{}.{:016x}.tmp",
            std::process::id(),
            u64::from_le_bytes(random)
        ));
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// The bytes of the index (see the module docs). Only targets that some
    /// run refers to are written, renumbered.
    pub fn encode(&self, otto_home: &Path) -> Vec<u8> {
        let strings = self.strings.lock().unwrap_or_else(|e| e.into_inner());
        // Old string number → new one (u32::MAX: not written yet).
        let mut renumber = vec![u32::MAX; strings.len()];
        let mut kept: Vec<u32> = Vec::new();
        let mut projects: Vec<(&Box<str>, &ProjectRuns)> = self.projects.iter().collect();
        projects.sort_by(|a, b| a.0.cmp(b.0));
        for (_, runs) in &projects {
            for facts in runs.values() {
                for &t in facts.targets.iter() {
                    if let Some(slot) = renumber.get_mut(t as usize) {
                        if *slot == u32::MAX {
                            *slot = u32::try_from(kept.len()).unwrap_or(u32::MAX);
                            kept.push(t);
                        }
                    }
                }
            }
        }

        let mut out = Writer(Vec::with_capacity(
            64 + self.projects.values().map(|r| r.len() * 160).sum::<usize>(),
        ));
        out.0.extend_from_slice(MAGIC);
        out.u32(VERSION);
        out.u64(0); // the checksum, filled in below
        out.bytes(otto_home.as_os_str().as_encoded_bytes());
        out.len(kept.len());
        for &t in &kept {
            out.bytes(strings.get(t).unwrap_or_default());
        }
        out.len(projects.len());
        for (dir, runs) in projects {
            out.bytes(dir.as_bytes());
            out.len(runs.len());
            let mut names: Vec<&Box<str>> = runs.keys().collect();
            names.sort();
            for name in names {
                let Some(f) = runs.get(name) else { continue };
                out.bytes(name.as_bytes());
                out.identity(&f.identity);
                out.u64(f.sizes.apparent);
                out.u64(f.sizes.allocated);
                out.u32(f.task_count);
                out.u64(f.stderr_bytes);
                out.0.push(
                    u8::from(f.pinned)
                        | (u8::from(f.lock_file) << 1)
                        | (u8::from(f.outputs.is_some()) << 2),
                );
                out.len(f.targets.len());
                for &t in f.targets.iter() {
                    out.u32(renumber.get(t as usize).copied().unwrap_or(u32::MAX));
                }
                out.len(f.links.len());
                for l in f.links.iter() {
                    out.u64(l.dev);
                    out.u64(l.ino);
                    out.u64(l.apparent);
                    out.u64(l.allocated);
                }
                // Zeros when unknown (flag bit 2 clear): indexed walks are
                // complete, so they are known in practice.
                let outputs = f.outputs.clone().unwrap_or_default();
                out.u32(outputs.exited_0);
                out.u32(outputs.tasks_with_stderr);
                out.len(outputs.unfinished.len());
                for task in outputs.unfinished.iter() {
                    out.bytes(task.as_bytes());
                }
            }
        }
        let checksum = hash64(out.0.get(HEADER..).unwrap_or_default());
        if let Some(slot) = out.0.get_mut(12..HEADER) {
            slot.copy_from_slice(&checksum.to_le_bytes());
        }
        out.0
    }

    /// Reads the bytes of an index for `otto_home`; `None` when they are not
    /// one (wrong magic, version, checksum or root, truncated, trailing
    /// bytes, out-of-range numbers).
    pub fn decode(bytes: &[u8], otto_home: &Path) -> Option<Index> {
        let mut r = Reader(bytes);
        if r.take(8)? != MAGIC || r.u32()? != VERSION {
            return None;
        }
        let checksum = r.u64()?;
        if hash64(r.0) != checksum {
            return None;
        }
        if r.bytes()? != otto_home.as_os_str().as_encoded_bytes() {
            return None;
        }
        let mut strings = Strings::default();
        let count = r.count(4)?;
        for i in 0..count {
            // Targets are distinct when written; a duplicate is corruption.
            if strings.intern(r.bytes()?) as usize != i {
                return None;
            }
        }
        let mut projects = HashMap::new();
        for _ in 0..r.count(8)? {
            let dir: Box<str> = std::str::from_utf8(r.bytes()?).ok()?.into();
            // A run takes at least: its name (4 + 1), identity (40), sizes
            // and counts (28), flags (1), two list lengths (8) and task
            // outputs (12).
            let run_count = r.count(94)?;
            let mut runs = ProjectRuns::with_capacity(run_count);
            for _ in 0..run_count {
                let name: Box<str> = std::str::from_utf8(r.bytes()?).ok()?.into();
                let identity = r.identity()?;
                let sizes = Sizes {
                    apparent: r.u64()?,
                    allocated: r.u64()?,
                };
                let task_count = r.u32()?;
                let stderr_bytes = r.u64()?;
                let flags = r.u8()?;
                if flags > 7 {
                    return None;
                }
                let targets = (0..r.count(4)?)
                    .map(|_| r.u32().filter(|&t| (t as usize) < count))
                    .collect::<Option<Box<[u32]>>>()?;
                let links = (0..r.count(32)?)
                    .map(|_| {
                        Some(Linked {
                            dev: r.u64()?,
                            ino: r.u64()?,
                            apparent: r.u64()?,
                            allocated: r.u64()?,
                        })
                    })
                    .collect::<Option<Box<[Linked]>>>()?;
                let exited_0 = r.u32()?;
                let tasks_with_stderr = r.u32()?;
                let unfinished = (0..r.count(5)?)
                    .map(|_| Some(Box::from(std::str::from_utf8(r.bytes()?).ok()?)))
                    .collect::<Option<Box<[Box<str>]>>>()?;
                let facts = RunFacts {
                    identity,
                    sizes,
                    task_count,
                    stderr_bytes,
                    lock_file: flags & 2 != 0,
                    pinned: flags & 1 != 0,
                    targets,
                    links,
                    outputs: (flags & 4 != 0).then_some(TaskOutputs {
                        exited_0,
                        tasks_with_stderr,
                        unfinished,
                    }),
                };
                if runs.insert(name, facts).is_some() {
                    return None;
                }
            }
            if projects.insert(dir, runs).is_some() {
                return None;
            }
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(Index {
            strings: Mutex::new(strings),
            projects,
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn identity(&mut self, id: &Identity) {
        self.u64(id.dev);
        self.u64(id.ino);
        self.i64(id.mtime);
        self.u32(id.mtime_nsec);
        self.i64(id.ctime);
        self.u32(id.ctime_nsec);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    /// A count of items of at least `min_size` bytes each: refused when the
    /// rest of the file could not hold them (no huge allocation from a
    /// corrupt count).
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(min_size)? <= self.0.len()).then_some(n)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn identity(&mut self) -> Option<Identity> {
        Some(Identity {
            dev: self.u64()?,
            ino: self.u64()?,
            mtime: self.i64()?,
            mtime_nsec: self.u32()?,
            ctime: self.i64()?,
            ctime_nsec: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        let index = Index::default();
        let mut strings = index.strings.lock().unwrap();
        let unused = strings.intern(b"dropped/target");
        let t = strings.intern(b"../../../.cache/0123abcd.sh");
        let u = strings.intern(b"/home/u/.otto/p-01234567/.cache/build/ff");
        drop(strings);
        let _ = unused;
        let mut index = index;
        let facts = RunFacts {
            identity: Identity {
                dev: 1,
                ino: 2,
                mtime: 3,
                mtime_nsec: 4,
                ctime: -5,
                ctime_nsec: 6,
            },
            sizes: Sizes {
                apparent: 1234,
                allocated: 8192,
            },
            task_count: 3,
            stderr_bytes: 17,
            lock_file: false,
            pinned: true,
            targets: vec![t, u, t].into(),
            links: vec![Linked {
                dev: 1,
                ino: 77,
                apparent: 5,
                allocated: 4096,
            }]
            .into(),
            outputs: Some(TaskOutputs {
                exited_0: 1,
                tasks_with_stderr: 2,
                unfinished: vec!["build".into(), "test".into()].into(),
            }),
        };
        let other = RunFacts {
            outputs: None,
            targets: Box::default(),
            links: Box::default(),
            pinned: false,
            ..facts.clone()
        };
        let mut runs = ProjectRuns::new();
        runs.insert("1700000000".into(), facts);
        runs.insert("1700000000-1".into(), other);
        index.projects.insert("p-01234567".into(), runs);
        index
            .projects
            .insert("q-89abcdef".into(), ProjectRuns::new());
        index
    }

    /// The runs with their targets spelled out (numbers differ after a round trip).
    fn spelled(index: &Index) -> Vec<(String, String, RunFacts, Vec<Vec<u8>>)> {
        let strings = index.strings.lock().unwrap();
        let mut out: Vec<_> = index
            .projects
            .iter()
            .flat_map(|(p, runs)| {
                runs.iter().map(|(r, f)| {
                    let targets = f
                        .targets
                        .iter()
                        .map(|&t| strings.get(t).unwrap().to_vec())
                        .collect();
                    (
                        p.to_string(),
                        r.to_string(),
                        RunFacts {
                            targets: Box::default(),
                            ..f.clone()
                        },
                        targets,
                    )
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    #[test]
    fn an_index_reads_back_what_was_written_without_unused_targets() {
        let home = Path::new("/home/u/.otto");
        let index = sample();
        let bytes = index.encode(home);
        let back = Index::decode(&bytes, home).expect("decodes");
        assert_eq!(spelled(&back), spelled(&index));
        assert_eq!(
            back.strings.lock().unwrap().len(),
            2,
            "the unused target is not written"
        );
        assert!(back.projects.contains_key("q-89abcdef"));
        assert_eq!(back.encode(home), bytes, "encoding is deterministic");
    }

    #[test]
    fn a_corrupt_truncated_foreign_or_newer_index_reads_as_none() {
        let home = Path::new("/home/u/.otto");
        let bytes = sample().encode(home);
        for cut in [0, 7, 12, HEADER, bytes.len() / 2, bytes.len() - 1] {
            assert!(Index::decode(&bytes[..cut], home).is_none(), "cut at {cut}");
        }
        for at in [0, 9, 14, HEADER + 3, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(Index::decode(&bad, home).is_none(), "flip at {at}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Index::decode(&longer, home).is_none());
        assert!(Index::decode(&bytes, Path::new("/other/.otto")).is_none());
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert!(Index::decode(&newer, home).is_none());
        // An index of version 2 (before task outputs were kept) is rebuilt.
        let mut older = bytes.clone();
        older[8..12].copy_from_slice(&(VERSION - 1).to_le_bytes());
        assert!(Index::decode(&older, home).is_none());
    }

    #[test]
    fn save_replaces_the_file_atomically_and_load_ignores_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Path::new("/home/u/.otto");
        let path = path_for(tmp.path(), home);
        assert!(
            Index::load(&path, home).projects.is_empty(),
            "missing reads as empty"
        );
        sample().save(&path, home).unwrap();
        sample().save(&path, home).unwrap();
        assert_eq!(spelled(&Index::load(&path, home)), spelled(&sample()));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Index::load(&path, home).projects.is_empty());
    }

    #[test]
    fn the_file_name_depends_on_the_root() {
        let a = path_for(Path::new("/d"), Path::new("/home/a/.otto"));
        let b = path_for(Path::new("/d"), Path::new("/home/b/.otto"));
        assert_ne!(a, b);
        assert!(a.starts_with("/d/index"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("otto-fs-") && name.ends_with(".idx") && name.len() == 8 + 16 + 4,
            "{name}"
        );
    }
}
