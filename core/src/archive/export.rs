//! Writing an archive: otto runs (directory, cache scripts, otto.db rows)
//! and history runs (run, events, graph), with the manifest last.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    EntryType, FORMAT, Limits, MANIFEST, Manifest, ManifestEntry, ManifestRun, VERSION, check, hex,
    rows,
};

/// A run to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An otto run directory `<home>/<project>/<run>`.
    Otto {
        /// `$OTTO_HOME`.
        home: PathBuf,
        /// Project directory.
        project: String,
        /// Run directory name.
        run: String,
    },
    /// A run of the SQLite history `db`.
    History {
        /// The database.
        db: PathBuf,
        /// The run id.
        id: String,
    },
}

/// One exported run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedRun {
    /// `otto` or `history`.
    pub kind: &'static str,
    /// `<project>/<run>` or the history run id.
    pub run: String,
    /// Entries written for it (files, directories, links; events for a
    /// history run).
    pub entries: u64,
    /// Bytes of its files (rows included).
    pub bytes: u64,
    /// Whether its database rows are in the archive (an otto run whose
    /// otto.db has no row naming its directory has none).
    pub rows: bool,
}

/// What `export` wrote: the document `export --json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// The archive.
    pub output: String,
    /// The runs in it.
    pub runs: Vec<ExportedRun>,
    /// The archive's size.
    pub archive_bytes: u64,
    /// The archive's sha256.
    pub sha256: String,
    /// What was left out, one line each (a link pointing out of its project,
    /// a cache script that is missing, a FIFO).
    pub warnings: Vec<String>,
}

/// The archive being written: tar over zstd, each entry hashed.
struct Writer {
    tar: tar::Builder<zstd::stream::write::Encoder<'static, BufWriter<File>>>,
    entries: Vec<ManifestEntry>,
    limits: Limits,
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

impl Writer {
    fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h
    }

    fn dir(&mut self, path: &str, mtime: u64) -> Result<(), String> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755, mtime);
        self.tar
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| format!("cannot write {path} into the archive: {e}"))?;
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            kind: EntryType::Dir,
            size: 0,
            sha256: None,
            target: None,
        });
        Ok(())
    }

    fn link(&mut self, path: &str, target: &str, mtime: u64) -> Result<(), String> {
        let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777, mtime);
        self.tar
            .append_link(&mut h, path, target)
            .map_err(|e| format!("cannot write {path} into the archive: {e}"))?;
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            kind: EntryType::Symlink,
            size: 0,
            sha256: None,
            target: Some(target.to_owned()),
        });
        Ok(())
    }

    /// A file of `size` bytes read from `data` (exactly that many: a file
    /// that changes size meanwhile is an error).
    fn file(
        &mut self,
        path: &str,
        data: impl Read,
        size: u64,
        mode: u32,
        mtime: u64,
    ) -> Result<(), String> {
        if size > self.limits.max_entry_bytes {
            return Err(format!(
                "{path} is {size} bytes, more than an archive entry may hold ({} bytes)",
                self.limits.max_entry_bytes
            ));
        }
        let mut h = Self::header(tar::EntryType::Regular, size, mode, mtime);
        let mut reader = Hashing {
            inner: data.take(size),
            hasher: Sha256::new(),
            read: 0,
        };
        self.tar
            .append_data(&mut h, path, &mut reader)
            .map_err(|e| format!("cannot write {path} into the archive: {e}"))?;
        if reader.read != size {
            return Err(format!("{path} changed while it was being exported"));
        }
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            kind: EntryType::File,
            size,
            sha256: Some(hex(&reader.hasher.finalize())),
            target: None,
        });
        Ok(())
    }

    fn bytes(&mut self, path: &str, data: &[u8], mtime: u64) -> Result<(), String> {
        self.file(path, data, data.len() as u64, 0o644, mtime)
    }
}

fn mtime_of(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    u64::try_from(meta.mtime()).unwrap_or(0)
}

/// Exports `sources` into a new archive `output` (never over an existing
/// file: written beside it and renamed into place).
pub fn export(sources: &[Source], output: &Path) -> Result<ExportSummary, String> {
    if std::fs::symlink_metadata(output).is_ok() {
        return Err(format!(
            "{} exists; not overwritten (choose another --output)",
            output.display()
        ));
    }
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: not a file name", output.display()))?;
    let partial = output.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = write_archive(sources, &partial, output);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_archive(
    sources: &[Source],
    partial: &Path,
    output: &Path,
) -> Result<ExportSummary, String> {
    let file = File::create_new(partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let encoder = zstd::stream::write::Encoder::new(BufWriter::new(file), 3)
        .map_err(|e| format!("cannot start compressing: {e}"))?;
    let mut w = Writer {
        tar: tar::Builder::new(encoder),
        entries: Vec::new(),
        limits: Limits::default(),
    };
    let mut runs = Vec::new();
    let mut manifest_runs = Vec::new();
    let mut warnings = Vec::new();
    for source in sources {
        let before = w.entries.len();
        let (kind, name, has_rows) = match source {
            Source::Otto { home, project, run } => {
                let rows = otto_run(&mut w, home, project, run, &mut warnings)?;
                manifest_runs.push(ManifestRun::Otto {
                    project: project.clone(),
                    run: run.clone(),
                    source: home.join(project).join(run).display().to_string(),
                    rows,
                });
                ("otto", format!("{project}/{run}"), rows)
            }
            Source::History { db, id } => {
                let version = history_run(&mut w, db, id)?;
                manifest_runs.push(ManifestRun::History {
                    id: id.clone(),
                    schema_version: version,
                });
                ("history", id.clone(), true)
            }
        };
        let added = &w.entries[before..];
        runs.push(ExportedRun {
            kind,
            run: name,
            entries: added.len() as u64,
            bytes: added.iter().map(|e| e.size).sum(),
            rows: has_rows,
        });
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        created_at: crate::hooks::wire::rfc3339(otto_hooks_plugin_api::Timestamp::from_secs(
            otto_hooks_plugin_api::Timestamp::now().secs,
        )),
        created_by: format!("otto-hooks {}", env!("CARGO_PKG_VERSION")),
        runs: manifest_runs,
        entries: std::mem::take(&mut w.entries),
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| format!("cannot encode the manifest: {e}"))?;
    let now = otto_hooks_plugin_api::Timestamp::now().secs.max(0) as u64;
    w.bytes(MANIFEST, &text, now)?;
    let encoder = w
        .tar
        .into_inner()
        .map_err(|e| format!("cannot finish the archive: {e}"))?;
    let mut buffered = encoder
        .finish()
        .map_err(|e| format!("cannot finish compressing: {e}"))?;
    buffered
        .flush()
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| format!("cannot write {}: {}", partial.display(), e.error()))?;
    file.sync_all()
        .map_err(|e| format!("cannot sync {}: {e}", partial.display()))?;
    drop(file);
    // Into place, never over a file that appeared meanwhile.
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        partial,
        rustix::fs::CWD,
        output,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| format!("cannot move the archive to {}: {e}", output.display()))?;
    let (archive_bytes, sha256) = sum_file(output)?;
    Ok(ExportSummary {
        output: output.display().to_string(),
        runs,
        archive_bytes,
        sha256,
        warnings,
    })
}

fn sum_file(path: &Path) -> Result<(u64, String), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = Hashing {
        inner: &mut file,
        hasher: Sha256::new(),
        read: 0,
    };
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((reader.read, hex(&reader.hasher.finalize())))
}

/// Writes otto run `<home>/<project>/<run>`, the cache files its links
/// point at and its otto.db rows; returns whether it had rows.
fn otto_run(
    w: &mut Writer,
    home: &Path,
    project: &str,
    run: &str,
    warnings: &mut Vec<String>,
) -> Result<bool, String> {
    let project_dir = home.join(project);
    let run_dir = project_dir.join(run);
    let meta = std::fs::symlink_metadata(&run_dir)
        .map_err(|e| format!("cannot read {}: {e}", run_dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a run directory", run_dir.display()));
    }
    // A live run is still being written: refused. The shared lock held
    // for the export keeps it finished (otto takes it exclusively).
    let _finished = finished(&run_dir)?;
    let prefix = format!("otto/{project}/{run}");
    w.dir(&prefix, mtime_of(&meta))?;
    let mut cache = std::collections::BTreeSet::new();
    walk(
        w,
        &run_dir,
        &prefix,
        &project_dir,
        project,
        &mut cache,
        warnings,
    )?;
    for rel in cache {
        let path = project_dir.join(".cache").join(&rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                use std::os::unix::fs::PermissionsExt;
                let file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                w.file(
                    &format!("otto/{project}/.cache/{rel}"),
                    file,
                    m.len(),
                    m.permissions().mode() & 0o755,
                    mtime_of(&m),
                )?;
            }
            _ => warnings.push(format!(
                "{}: a script link of {project}/{run} points at it, but it is not a regular file there; not exported",
                path.display()
            )),
        }
    }
    let rows = rows::export_otto(home, &run_dir)?;
    if let Some(rows) = &rows {
        let text = serde_json::to_vec_pretty(rows).map_err(|e| e.to_string())?;
        w.bytes(
            &format!("rows/otto/{project}/{run}.json"),
            &text,
            mtime_of(&meta),
        )?;
    }
    Ok(rows.is_some())
}

/// A shared `flock` on the run's `.lock` (none when it has no `.lock`);
/// refused when otto holds it (the run is live).
fn finished(run_dir: &Path) -> Result<Option<File>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let lock = run_dir.join(".lock");
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&lock)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", lock.display())),
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(format!(
            "{} is running (its .lock is held): export it when it has finished",
            run_dir.display()
        )),
        Err(e) => Err(format!("cannot lock {}: {e}", lock.display())),
    }
}

/// Writes the tree under `dir` (archive path `prefix`), never following a
/// symlink; a link is kept when it stays inside the project (an absolute
/// legacy link into the project is made relative), and the cache files
/// links point at are collected in `cache`.
fn walk(
    w: &mut Writer,
    dir: &Path,
    prefix: &str,
    project_dir: &Path,
    project: &str,
    cache: &mut std::collections::BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let Some(name) = name.to_str() else {
            warnings.push(format!("{}: not UTF-8; not exported", path.display()));
            continue;
        };
        let archive_path = format!("{prefix}/{name}");
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            w.dir(&archive_path, mtime_of(&meta))?;
            walk(
                w,
                &path,
                &archive_path,
                project_dir,
                project,
                cache,
                warnings,
            )?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let file =
                File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            w.file(
                &archive_path,
                file,
                meta.len(),
                meta.permissions().mode() & 0o755,
                mtime_of(&meta),
            )?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let parts: Vec<String> = archive_path.split('/').map(str::to_owned).collect();
            let Some(target) = relative_target(&target, &path, project_dir) else {
                warnings.push(format!(
                    "{}: a link to {} (outside its project); not exported",
                    path.display(),
                    target.display()
                ));
                continue;
            };
            if check::link_target(&parts, &target, w.limits.max_path_bytes).is_err() {
                warnings.push(format!(
                    "{}: a link out of its project ({target}); not exported",
                    path.display()
                ));
                continue;
            }
            if let Some(rel) = cache_file(&parts, &target, project) {
                cache.insert(rel);
            }
            w.link(&archive_path, &target, mtime_of(&meta))?;
        } else {
            warnings.push(format!(
                "{}: not a file, directory or link; not exported",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The link's target as a relative path: as is when relative; an absolute
/// target inside `project_dir` made relative to the link's directory.
fn relative_target(target: &Path, link: &Path, project_dir: &Path) -> Option<String> {
    if target.is_relative() {
        return target.to_str().map(str::to_owned);
    }
    let inside = target.strip_prefix(project_dir).ok()?;
    let link_dir = link.parent()?.strip_prefix(project_dir).ok()?;
    let ups = link_dir.components().count();
    let mut rel = "../".repeat(ups);
    rel.push_str(inside.to_str()?);
    Some(rel)
}

/// The `.cache`-relative path a link at `parts` resolves to, if it points
/// into the project's cache.
fn cache_file(parts: &[String], target: &str, project: &str) -> Option<String> {
    let mut at: Vec<&str> = parts
        .iter()
        .take(parts.len().saturating_sub(1))
        .map(String::as_str)
        .collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                at.pop()?;
            }
            name => at.push(name),
        }
    }
    match at.as_slice() {
        ["otto", p, ".cache", rel @ ..] if *p == project && matches!(rel.len(), 1 | 2) => {
            Some(rel.join("/"))
        }
        _ => None,
    }
}

/// Writes history run `id` of `db`; returns the database's schema version.
fn history_run(w: &mut Writer, db: &Path, id: &str) -> Result<u32, String> {
    if !check::is_history_id(id) {
        return Err(format!(
            "`{id}` is not a history run id this archive format can hold"
        ));
    }
    let (run, events) = rows::export_history(db, id)?
        .ok_or_else(|| format!("no history run `{id}` in {}", db.display()))?;
    let now = otto_hooks_plugin_api::Timestamp::now().secs.max(0) as u64;
    let head = serde_json::json!({"schema_version": run.schema_version, "run": run.run});
    w.bytes(
        &format!("history/{id}/run.json"),
        &serde_json::to_vec_pretty(&head).map_err(|e| e.to_string())?,
        now,
    )?;
    let mut lines = Vec::new();
    for event in &events {
        serde_json::to_writer(&mut lines, event).map_err(|e| e.to_string())?;
        lines.push(b'\n');
    }
    w.bytes(&format!("history/{id}/events.jsonl"), &lines, now)?;
    let graph = serde_json::to_vec_pretty(&run.graph).map_err(|e| e.to_string())?;
    w.bytes(&format!("history/{id}/graph.json"), &graph, now)?;
    Ok(run.schema_version)
}
