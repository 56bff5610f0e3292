//! Reading an archive back: checked whole first, then written.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::check::{self, Place};
use super::rows::{self, HistoryOutcome, HistoryRows, OttoRows, Row, RowsOutcome};
use super::{EntryType, FORMAT, Limits, Manifest, ManifestEntry, ManifestRun, VERSION, hex};

/// Where runs are imported.
#[derive(Clone, Debug)]
pub struct Destination {
    /// `$OTTO_HOME` for otto runs.
    pub otto_home: PathBuf,
    /// The history database for history runs.
    pub history_db: PathBuf,
}

/// One run of the archive, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportedRun {
    /// `otto` or `history`.
    pub kind: &'static str,
    /// `<project>/<run>` or the history run id.
    pub run: String,
    /// `imported`, `unchanged` (the same run was there), `conflict` (a
    /// different run is there: kept, not overwritten) or `failed`.
    pub outcome: &'static str,
    /// Where it is (the run directory, or the history database).
    pub path: String,
    /// otto runs: what became of its otto.db rows — `imported`,
    /// `unchanged`, `none` (the archive has none) or `not-imported: <why>`.
    pub rows: Option<String>,
    /// Why it conflicted or failed.
    pub error: Option<String>,
}

/// What `import --from` did: the document `import --from --json` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The archive.
    pub archive: String,
    /// Every run of the archive.
    pub runs: Vec<ImportedRun>,
    /// Runs written.
    pub imported: u64,
    /// Runs that were there already, the same.
    pub unchanged: u64,
    /// Runs not written because a different one is there.
    pub conflicts: u64,
    /// Runs that could not be written.
    pub failed: u64,
}

/// A checked entry.
#[derive(Clone, Debug)]
struct Entry {
    place: Place,
    meta: ManifestEntry,
}

/// The checked archive.
struct Checked {
    manifest: Manifest,
    entries: Vec<Entry>,
}

fn refused(e: impl std::fmt::Display) -> String {
    format!("archive refused: {e}; nothing was written")
}

/// Reads the next entry's path: a pending GNU long name, else the header's.
fn entry_path(
    pending: &mut Option<Vec<u8>>,
    entry: &tar::Entry<'_, impl Read>,
) -> Result<String, String> {
    let bytes = match pending.take() {
        Some(b) => b,
        None => entry.path_bytes().into_owned(),
    };
    String::from_utf8(bytes).map_err(|_| "an entry's path is not UTF-8".to_owned())
}

fn read_long(entry: &mut tar::Entry<'_, impl Read>, limits: &Limits) -> Result<Vec<u8>, String> {
    if entry.size() > limits.max_path_bytes as u64 + 1 {
        return Err(format!(
            "a long name of {} bytes (the limit is {})",
            entry.size(),
            limits.max_path_bytes
        ));
    }
    let mut v = Vec::new();
    entry
        .read_to_end(&mut v)
        .map_err(|e| format!("cannot read the archive: {e}"))?;
    while v.last() == Some(&0) {
        v.pop();
    }
    Ok(v)
}

/// Walks every entry of the archive in `file`, checking its header;
/// `visit(entry meta, place, reader)` is called for each with the data
/// not read yet. Raw iteration: GNU long names are read here (bounded),
/// PAX headers refused.
fn walk(
    file: &File,
    limits: &Limits,
    mut visit: impl FnMut(ManifestEntry, Place, &mut dyn Read) -> Result<(), String>,
) -> Result<(), String> {
    let mut handle = file.try_clone().map_err(|e| e.to_string())?;
    handle.rewind().map_err(|e| e.to_string())?;
    let decoder = zstd::stream::read::Decoder::new(BufReader::new(handle))
        .map_err(|e| format!("not a zstd stream: {e}"))?;
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?
        .raw(true);
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut count = 0u64;
    let mut total = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive is damaged: {e}"))?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() {
            long_name = Some(read_long(&mut entry, limits)?);
            continue;
        }
        if kind.is_gnu_longlink() {
            long_link = Some(read_long(&mut entry, limits)?);
            continue;
        }
        let path = entry_path(&mut long_name, &entry)?;
        count += 1;
        if count > limits.max_entries {
            return Err(format!("more than {} entries", limits.max_entries));
        }
        let what = match kind {
            tar::EntryType::Regular => EntryType::File,
            tar::EntryType::Directory => EntryType::Dir,
            tar::EntryType::Symlink => EntryType::Symlink,
            tar::EntryType::Link => return Err(format!("entry `{path}` is a hard link")),
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(format!("entry `{path}` is a device file"));
            }
            tar::EntryType::Fifo => return Err(format!("entry `{path}` is a FIFO")),
            k if k.is_pax_global_extensions() || k.is_pax_local_extensions() => {
                return Err(format!(
                    "entry `{path}` is a PAX header (never written by otto-hooks)"
                ));
            }
            _ => return Err(format!("entry `{path}` has an unsupported type")),
        };
        let size = entry
            .header()
            .size()
            .map_err(|e| format!("entry `{path}`: bad size: {e}"))?;
        if what == EntryType::File && size > limits.max_entry_bytes {
            return Err(format!(
                "entry `{path}` is {size} bytes, more than the {} an entry may hold",
                limits.max_entry_bytes
            ));
        }
        if what != EntryType::File && size != 0 {
            return Err(format!(
                "entry `{path}` is not a file but carries {size} bytes"
            ));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(format!(
                "the entries add up to more than {} bytes",
                limits.max_total_bytes
            ));
        }
        let parts = check::components(&path, limits.max_path_bytes)?;
        let place = check::place(&parts)?;
        let target = if what == EntryType::Symlink {
            let bytes = match long_link.take() {
                Some(b) => b,
                None => entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .ok_or_else(|| format!("symlink `{path}` has no target"))?,
            };
            let target = String::from_utf8(bytes)
                .map_err(|_| format!("symlink `{path}`: its target is not UTF-8"))?;
            if !matches!(&place, Place::Run { rel, .. } if !rel.is_empty()) {
                return Err(format!("symlink `{path}` is outside a run"));
            }
            check::link_target(&parts, &target, limits.max_path_bytes)?;
            Some(target)
        } else {
            long_link = None;
            None
        };
        match (&place, what) {
            (Place::Run { .. }, _) => {}
            (_, EntryType::File) => {}
            _ => return Err(format!("entry `{path}` must be a regular file")),
        }
        let meta = ManifestEntry {
            path: parts.join("/"),
            kind: what,
            size: if what == EntryType::File { size } else { 0 },
            sha256: None,
            target,
        };
        let mut data = (&mut entry).take(size);
        visit(meta, place, &mut data)?;
        // What the visitor did not read is read (and dropped) by the
        // iterator when it moves on.
    }
    Ok(())
}

/// Reads `data` to its end through sha256; keeps the bytes when `keep`.
fn digest(data: &mut dyn Read, sink: &mut dyn Write) -> Result<(String, u64), String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let read = data
            .read(&mut buf)
            .map_err(|e| format!("the archive is damaged: {e}"))?;
        if read == 0 {
            break;
        }
        let chunk = buf.get(..read).unwrap_or_default();
        hasher.update(chunk);
        sink.write_all(chunk).map_err(|e| e.to_string())?;
        n += read as u64;
    }
    Ok((hex(&hasher.finalize()), n))
}

/// Pass one: every header checked, every entry summed, the manifest
/// compared with what is there. Nothing is written.
fn scan(file: &File, limits: &Limits) -> Result<Checked, String> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    walk(file, limits, |mut meta, place, data| {
        if manifest.is_some() {
            return Err(format!("entry `{}` follows the manifest", meta.path));
        }
        if place == Place::Manifest {
            if meta.size > limits.max_document_bytes {
                return Err("the manifest is too large".into());
            }
            let mut text = Vec::new();
            data.read_to_end(&mut text)
                .map_err(|e| format!("the archive is damaged: {e}"))?;
            let parsed: Manifest = serde_json::from_slice(&text)
                .map_err(|e| format!("its manifest is not valid: {e}"))?;
            manifest = Some(parsed);
            return Ok(());
        }
        if meta.kind == EntryType::File {
            let (sum, n) = digest(data, &mut std::io::sink())?;
            if n != meta.size {
                return Err(format!("entry `{}` is truncated", meta.path));
            }
            meta.sha256 = Some(sum);
        }
        entries.push(Entry { place, meta });
        Ok(())
    })?;
    let manifest = manifest.ok_or("it has no manifest.json (not an otto-hooks export?)")?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(format!(
            "its manifest is `{}` version {}, not {FORMAT} version {VERSION}",
            manifest.format, manifest.version
        ));
    }
    verify(&manifest, &entries)?;
    Ok(Checked { manifest, entries })
}

/// The manifest and the entries must agree exactly; every entry belongs to
/// a run of the manifest; no entry lies below a symlink.
fn verify(manifest: &Manifest, entries: &[Entry]) -> Result<(), String> {
    let mut listed: BTreeMap<&str, &ManifestEntry> = BTreeMap::new();
    for m in &manifest.entries {
        if listed.insert(m.path.as_str(), m).is_some() {
            return Err(format!("its manifest lists `{}` twice", m.path));
        }
    }
    let mut seen = BTreeSet::new();
    for e in entries {
        if !seen.insert(e.meta.path.as_str()) {
            return Err(format!("entry `{}` appears twice", e.meta.path));
        }
        let Some(m) = listed.get(e.meta.path.as_str()) else {
            return Err(format!("entry `{}` is not in the manifest", e.meta.path));
        };
        if **m != e.meta {
            return Err(format!(
                "entry `{}` does not match its checksum or description in the manifest (tampered or damaged)",
                e.meta.path
            ));
        }
    }
    if let Some(missing) = listed.keys().find(|p| !seen.contains(*p)) {
        return Err(format!(
            "the manifest lists `{missing}`, which is not in the archive"
        ));
    }
    let links: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.meta.kind == EntryType::Symlink)
        .map(|e| e.meta.path.as_str())
        .collect();
    for e in entries {
        let mut prefix = e.meta.path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if links.contains(parent) {
                return Err(format!(
                    "entry `{}` lies below the symlink `{parent}`",
                    e.meta.path
                ));
            }
            prefix = parent;
        }
    }
    let mut otto: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut history: BTreeSet<&str> = BTreeSet::new();
    for r in &manifest.runs {
        match r {
            ManifestRun::Otto { project, run, .. } => {
                check::place(&["otto".into(), project.clone(), run.clone()])?;
                otto.insert((project, run));
            }
            ManifestRun::History { id, .. } => {
                if !check::is_history_id(id) {
                    return Err(format!("its manifest names a bad history run id `{id}`"));
                }
                history.insert(id);
            }
        }
    }
    let projects: BTreeSet<&str> = otto.iter().map(|(p, _)| *p).collect();
    for e in entries {
        let ok = match &e.place {
            Place::Run { project, run, .. } | Place::Rows { project, run } => {
                otto.contains(&(project.as_str(), run.as_str()))
            }
            Place::Cache { project, .. } => projects.contains(project.as_str()),
            Place::History { id, .. } => history.contains(id.as_str()),
            Place::Manifest => false,
        };
        if !ok {
            return Err(format!(
                "entry `{}` belongs to no run of the manifest",
                e.meta.path
            ));
        }
    }
    for (project, run) in &otto {
        let dir = format!("otto/{project}/{run}");
        if !entries
            .iter()
            .any(|e| e.meta.path == dir && e.meta.kind == EntryType::Dir)
        {
            return Err(format!("run {project}/{run} has no directory entry"));
        }
    }
    Ok(())
}

/// Imports the archive at `path` into `dest`. `Err` is a refused archive
/// (one line; nothing written) or an error before anything was written.
pub fn import(path: &Path, dest: &Destination, limits: Limits) -> Result<ImportReport, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let checked = scan(&file, &limits).map_err(refused)?;
    let mut report = ImportReport {
        archive: path.display().to_string(),
        ..ImportReport::default()
    };
    let plans = plan(&checked, dest)?;
    let staged = stage(&file, &limits, &checked, &plans, dest)?;
    finish(&checked, plans, staged, dest, &mut report);
    Ok(report)
}

/// What to do with each otto run: write it (into the staging directory),
/// or it is there already (unchanged or in conflict).
#[derive(Debug)]
enum RunPlan {
    Write { staging: PathBuf, dest: PathBuf },
    Same { dest: PathBuf },
    Conflict { dest: PathBuf, why: String },
}

fn plan(
    checked: &Checked,
    dest: &Destination,
) -> Result<BTreeMap<(String, String), RunPlan>, String> {
    let mut plans = BTreeMap::new();
    for r in &checked.manifest.runs {
        let ManifestRun::Otto { project, run, .. } = r else {
            continue;
        };
        let project_dir = dest.otto_home.join(project);
        let run_dir = project_dir.join(run);
        // Nothing is ever written through a link planted as the project.
        if let Ok(m) = std::fs::symlink_metadata(&project_dir) {
            if !m.is_dir() {
                plans.insert(
                    (project.clone(), run.clone()),
                    RunPlan::Conflict {
                        dest: run_dir,
                        why: format!(
                            "{} is not a directory (a symlink?); nothing is written there",
                            project_dir.display()
                        ),
                    },
                );
                continue;
            }
        }
        let plan = match std::fs::symlink_metadata(&run_dir) {
            Ok(_) => match same_tree(&run_dir, project, run, &checked.entries) {
                Ok(()) => RunPlan::Same { dest: run_dir },
                Err(why) => RunPlan::Conflict { dest: run_dir, why },
            },
            Err(_) => RunPlan::Write {
                staging: project_dir
                    .join(format!(".otto-hooks-import-{}-{run}", std::process::id())),
                dest: run_dir,
            },
        };
        plans.insert((project.clone(), run.clone()), plan);
    }
    Ok(plans)
}

/// Whether the run directory at `dir` holds exactly the archive's entries
/// of `<project>/<run>` (never following a link).
fn same_tree(dir: &Path, project: &str, run: &str, entries: &[Entry]) -> Result<(), String> {
    let differs = || {
        format!(
            "{} exists with different content; it is kept, not overwritten",
            dir.display()
        )
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err(differs());
    }
    let mut want: BTreeMap<String, &ManifestEntry> = BTreeMap::new();
    for e in entries {
        if let Place::Run {
            project: p,
            run: r,
            rel,
        } = &e.place
        {
            if p == project && r == run && !rel.is_empty() {
                want.insert(rel.join("/"), &e.meta);
            }
        }
    }
    let mut have: BTreeMap<String, ManifestEntry> = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, rel)) = stack.pop() {
        for item in std::fs::read_dir(&at).map_err(|e| e.to_string())? {
            let item = item.map_err(|e| e.to_string())?;
            let name = item.file_name().to_str().ok_or_else(differs)?.to_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = item.path();
            let m = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
            let entry = if m.is_dir() {
                stack.push((path, rel.clone()));
                ManifestEntry {
                    path: String::new(),
                    kind: EntryType::Dir,
                    size: 0,
                    sha256: None,
                    target: None,
                }
            } else if m.is_file() {
                let want_size = want.get(&rel).map(|w| w.size);
                let sha = if want_size == Some(m.len()) {
                    let mut f = File::open(&path).map_err(|e| e.to_string())?;
                    Some(digest(&mut f, &mut std::io::sink())?.0)
                } else {
                    None
                };
                ManifestEntry {
                    path: String::new(),
                    kind: EntryType::File,
                    size: m.len(),
                    sha256: sha,
                    target: None,
                }
            } else if m.file_type().is_symlink() {
                let t = std::fs::read_link(&path).map_err(|e| e.to_string())?;
                ManifestEntry {
                    path: String::new(),
                    kind: EntryType::Symlink,
                    size: 0,
                    sha256: None,
                    target: t.to_str().map(str::to_owned),
                }
            } else {
                return Err(differs());
            };
            have.insert(rel, entry);
        }
    }
    if have.len() != want.len() {
        return Err(differs());
    }
    for (rel, h) in &have {
        let Some(w) = want.get(rel) else {
            return Err(differs());
        };
        if h.kind != w.kind || h.size != w.size || h.sha256 != w.sha256 || h.target != w.target {
            return Err(differs());
        }
    }
    Ok(())
}

/// What pass two leaves: cache files written beside their place, rows and
/// history documents in memory.
#[derive(Default)]
struct Staged {
    /// (temporary file, final path, sha256).
    cache: Vec<(PathBuf, PathBuf, String)>,
    rows: BTreeMap<(String, String), Vec<u8>>,
    history: BTreeMap<(String, String), Vec<u8>>,
}

impl Staged {
    /// Removes whatever was written (the archive changed under us, or a
    /// write failed).
    fn discard(&self, plans: &BTreeMap<(String, String), RunPlan>) {
        for (tmp, _, _) in &self.cache {
            let _ = std::fs::remove_file(tmp);
        }
        for plan in plans.values() {
            if let RunPlan::Write { staging, .. } = plan {
                let _ = std::fs::remove_dir_all(staging);
            }
        }
    }
}

/// Pass two: reads the archive again, checking every entry's sum against
/// the manifest as it is written: runs into their staging directories,
/// cache files beside their place, documents into memory.
fn stage(
    file: &File,
    limits: &Limits,
    checked: &Checked,
    plans: &BTreeMap<(String, String), RunPlan>,
    dest: &Destination,
) -> Result<Staged, String> {
    let sums: BTreeMap<&str, &ManifestEntry> = checked
        .manifest
        .entries
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    let mut staged = Staged::default();
    let mut made: BTreeSet<PathBuf> = BTreeSet::new();
    let mut n = 0u32;
    let result = walk(file, limits, |meta, place, data| {
        let want = sums.get(meta.path.as_str()).copied();
        let check_sum = |sum: &str| -> Result<(), String> {
            match want.and_then(|w| w.sha256.as_deref()) {
                Some(w) if w == sum => Ok(()),
                _ => Err(format!(
                    "entry `{}` changed since it was checked; nothing was imported",
                    meta.path
                )),
            }
        };
        match place {
            Place::Manifest => Ok(()),
            Place::Run { project, run, rel } => {
                let Some(RunPlan::Write { staging, .. }) =
                    plans.get(&(project.clone(), run.clone()))
                else {
                    return Ok(());
                };
                if made.insert(staging.clone()) {
                    std::fs::create_dir_all(staging.parent().unwrap_or(staging))
                        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
                    std::fs::DirBuilder::new()
                        .mode(0o755)
                        .create(staging)
                        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
                }
                let target = rel.iter().fold(staging.clone(), |p, c| p.join(c));
                match meta.kind {
                    EntryType::Dir if rel.is_empty() => Ok(()),
                    EntryType::Dir => std::fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&target)
                        .map_err(|e| format!("cannot create {}: {e}", target.display())),
                    EntryType::Symlink => {
                        let t = meta.target.as_deref().unwrap_or_default();
                        std::os::unix::fs::symlink(t, &target)
                            .map_err(|e| format!("cannot create {}: {e}", target.display()))
                    }
                    EntryType::File => {
                        let sum = write_new(&target, data)?;
                        check_sum(&sum)
                    }
                }
            }
            Place::Cache { project, rel } => {
                let cache_dir = dest.otto_home.join(&project).join(".cache");
                let final_path = rel.iter().fold(cache_dir.clone(), |p, c| p.join(c));
                let sum = want.and_then(|w| w.sha256.clone()).unwrap_or_default();
                if let Ok(existing) = File::open(&final_path) {
                    // There already (named by its content's hash): not written again.
                    let mut existing = existing;
                    let (have, _) = digest(&mut existing, &mut std::io::sink())?;
                    if have != sum {
                        tracing::warn!("{} differs from the archive's; kept", final_path.display());
                    }
                    return Ok(());
                }
                let parent = final_path.parent().unwrap_or(&cache_dir).to_path_buf();
                // Never written through a link planted as the project, its
                // `.cache` or a legacy task directory in it.
                for dir in [
                    dest.otto_home.join(&project),
                    cache_dir.clone(),
                    parent.clone(),
                ] {
                    real_dir_or_missing(&dir)?;
                }
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                n += 1;
                let tmp = parent.join(format!(".otto-hooks-import-{}-{n}", std::process::id()));
                let got = write_new(&tmp, data)?;
                staged.cache.push((tmp, final_path, got.clone()));
                check_sum(&got)
            }
            Place::Rows { project, run } => {
                let mut buf = Vec::new();
                let (sum, _) = digest(data, &mut buf)?;
                check_sum(&sum)?;
                staged.rows.insert((project, run), buf);
                Ok(())
            }
            Place::History { id, part } => {
                let mut buf = Vec::new();
                let (sum, _) = digest(data, &mut buf)?;
                check_sum(&sum)?;
                staged.history.insert((id, part), buf);
                Ok(())
            }
        }
    });
    if let Err(e) = result {
        staged.discard(plans);
        return Err(e);
    }
    Ok(staged)
}

/// `Ok` when nothing is at `dir` or a real directory is (not a symlink).
fn real_dir_or_missing(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => Err(format!(
            "{} is not a directory (a symlink?); nothing is written there",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Creates `path` (never over anything, never through a link) with
/// `data`; returns its sha256.
fn write_new(path: &Path, data: &mut dyn Read) -> Result<String, String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let (sum, _) =
        digest(data, &mut file).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(sum)
}

fn rename_noreplace(from: &Path, to: &Path) -> Result<(), rustix::io::Errno> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
}

/// Puts everything staged into place and fills the report.
fn finish(
    checked: &Checked,
    plans: BTreeMap<(String, String), RunPlan>,
    staged: Staged,
    dest: &Destination,
    report: &mut ImportReport,
) {
    for (tmp, final_path, _) in &staged.cache {
        if rename_noreplace(tmp, final_path).is_err() {
            // Another import or otto wrote it meanwhile: theirs stays.
            let _ = std::fs::remove_file(tmp);
        }
    }
    let mut plans = plans;
    for r in &checked.manifest.runs {
        let entry = match r {
            ManifestRun::Otto { project, run, .. } => {
                let key = (project.clone(), run.clone());
                let rows_doc: Option<OttoRows> = staged
                    .rows
                    .get(&key)
                    .and_then(|b| serde_json::from_slice(b).ok());
                otto_run(project, run, plans.remove(&key), rows_doc, dest)
            }
            ManifestRun::History { id, .. } => history_run(id, &staged, dest),
        };
        match entry.outcome {
            "imported" => report.imported += 1,
            "unchanged" => report.unchanged += 1,
            "conflict" => report.conflicts += 1,
            _ => report.failed += 1,
        }
        report.runs.push(entry);
    }
}

fn rows_text(outcome: RowsOutcome) -> String {
    match outcome {
        RowsOutcome::Imported => "imported".into(),
        RowsOutcome::Unchanged => "unchanged".into(),
        RowsOutcome::None => "none".into(),
        RowsOutcome::NotImported(why) => format!("not-imported: {why}"),
    }
}

fn otto_run(
    project: &str,
    run: &str,
    plan: Option<RunPlan>,
    rows: Option<OttoRows>,
    dest: &Destination,
) -> ImportedRun {
    let name = format!("{project}/{run}");
    let out = |outcome, path: &Path, rows: Option<String>, error| ImportedRun {
        kind: "otto",
        run: name.clone(),
        outcome,
        path: path.display().to_string(),
        rows,
        error,
    };
    let with_rows = |at: &Path| match &rows {
        Some(r) => rows_text(rows::import_otto(&dest.otto_home, r, at)),
        None => rows_text(RowsOutcome::None),
    };
    match plan {
        None => out("failed", &dest.otto_home, None, Some("not planned".into())),
        Some(RunPlan::Conflict { dest: at, why }) => out("conflict", &at, None, Some(why)),
        Some(RunPlan::Same { dest: at }) => {
            let rows = with_rows(&at);
            // The directory is the same; rows that were missing are added.
            let outcome = if rows == "imported" {
                "imported"
            } else {
                "unchanged"
            };
            out(outcome, &at, Some(rows), None)
        }
        Some(RunPlan::Write { staging, dest: at }) => match rename_noreplace(&staging, &at) {
            Ok(()) => {
                if let Some(parent) = at.parent() {
                    if let Ok(d) = File::open(parent) {
                        let _ = d.sync_all();
                    }
                }
                let rows = with_rows(&at);
                out("imported", &at, Some(rows), None)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                let conflict = e == rustix::io::Errno::EXIST || e == rustix::io::Errno::NOTEMPTY;
                out(
                    if conflict { "conflict" } else { "failed" },
                    &at,
                    None,
                    Some(if conflict {
                        format!(
                            "{} appeared while importing; it is kept, not overwritten",
                            at.display()
                        )
                    } else {
                        format!("cannot move the run into place: {e}")
                    }),
                )
            }
        },
    }
}

fn history_run(id: &str, staged: &Staged, dest: &Destination) -> ImportedRun {
    let out = |outcome, error| ImportedRun {
        kind: "history",
        run: id.to_owned(),
        outcome,
        path: dest.history_db.display().to_string(),
        rows: None,
        error,
    };
    let part = |name: &str| staged.history.get(&(id.to_owned(), name.to_owned()));
    let parsed = (|| -> Result<(HistoryRows, Vec<Row>), String> {
        let head: serde_json::Value =
            serde_json::from_slice(part("run.json").ok_or("run.json is missing")?)
                .map_err(|e| format!("run.json: {e}"))?;
        let schema_version = head["schema_version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or("run.json has no schema_version")?;
        let run: Row =
            serde_json::from_value(head["run"].clone()).map_err(|e| format!("run.json: {e}"))?;
        if run.get("id").and_then(|v| v.as_str()) != Some(id) {
            return Err("run.json names another run".into());
        }
        let graph: Option<Row> = match part("graph.json") {
            Some(b) => serde_json::from_slice(b).map_err(|e| format!("graph.json: {e}"))?,
            None => None,
        };
        let mut events = Vec::new();
        if let Some(b) = part("events.jsonl") {
            for line in b.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                events
                    .push(serde_json::from_slice(line).map_err(|e| format!("events.jsonl: {e}"))?);
            }
        }
        Ok((
            HistoryRows {
                schema_version,
                run,
                graph,
            },
            events,
        ))
    })();
    let (run, events) = match parsed {
        Ok(p) => p,
        Err(e) => return out("failed", Some(e)),
    };
    match rows::import_history(&dest.history_db, &run, &events) {
        Ok(HistoryOutcome::Imported) => out("imported", None),
        Ok(HistoryOutcome::Unchanged) => out("unchanged", None),
        Ok(HistoryOutcome::Conflict) => out(
            "conflict",
            Some(format!(
                "{} has a different run `{id}`; it is kept, not overwritten",
                dest.history_db.display()
            )),
        ),
        Err(e) => out("failed", Some(e)),
    }
}
