//! Export and import of runs as `.tar.zst` archives.
//!
//! An archive holds, under fixed prefixes:
//!
//! ```text
//! otto/<project>/<run>/…             an otto run directory, as on disk (files,
//!                                    directories, relative symlinks)
//! otto/<project>/.cache/<file>       the cache scripts its script links point at
//! rows/otto/<project>/<run>.json     its otto.db rows (run, tasks, project), when it has
//! history/<id>/run.json              a history run's row
//! history/<id>/events.jsonl          its events, one row a line, in seq order
//! history/<id>/graph.json            its graph row (`null` when none)
//! manifest.json                      last: every other entry with its type, size
//!                                    and sha256, and the runs it holds
//! ```
//!
//! [`import`](import::import) checks the whole archive before writing
//! anything: every entry's header (a relative path of plain components
//! under those prefixes; a regular file, a directory, or a symlink whose
//! target stays inside its project; no hard link, device, FIFO or PAX
//! header; sizes within [`Limits`]), then every entry's sha256 against the
//! manifest (and the manifest against the entries). A refused archive is
//! one line and nothing written. Then it writes, reading the archive a
//! second time and checking each entry's sum again as it is written: each
//! otto run into a staging directory beside its place, renamed into place
//! only when complete and never over an existing directory
//! (`RENAME_NOREPLACE`).

pub mod check;
pub mod export;
pub mod import;
mod rows;

use serde::{Deserialize, Serialize};

/// The manifest's name: the archive's last entry.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's `format`.
pub const FORMAT: &str = "otto-hooks-export";
/// The manifest's `version`.
pub const VERSION: u32 = 1;

/// What an import accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest entry (a file's size in its header).
    pub max_entry_bytes: u64,
    /// The sum of all entries' sizes.
    pub max_total_bytes: u64,
    /// The number of entries.
    pub max_entries: u64,
    /// The longest entry path or link target, in bytes.
    pub max_path_bytes: usize,
    /// The largest manifest, rows or history file read into memory.
    pub max_document_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: 1 << 30,
            max_total_bytes: 8 << 30,
            max_entries: 200_000,
            max_path_bytes: 1024,
            max_document_bytes: 256 << 20,
        }
    }
}

/// An entry's type in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (relative, inside its project).
    Symlink,
}

/// One entry of the archive, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Its path in the archive.
    pub path: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Bytes (files).
    #[serde(default)]
    pub size: u64,
    /// sha256 of the content, lowercase hex (files).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The link's target (symlinks).
    #[serde(default)]
    pub target: Option<String>,
}

/// A run the archive holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ManifestRun {
    /// An otto run directory.
    Otto {
        /// Project directory (`web-6b20a2e4`).
        project: String,
        /// Run directory name.
        run: String,
        /// Where it was exported from.
        source: String,
        /// Whether its otto.db rows are in the archive.
        rows: bool,
    },
    /// A history run.
    History {
        /// The run id.
        id: String,
        /// The history database's schema version.
        schema_version: u32,
    },
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When the archive was made (RFC 3339 UTC).
    pub created_at: String,
    /// The otto-hooks version that made it.
    pub created_by: String,
    /// The runs.
    pub runs: Vec<ManifestRun>,
    /// Every other entry, in archive order.
    pub entries: Vec<ManifestEntry>,
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
