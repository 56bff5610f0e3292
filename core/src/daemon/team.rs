//! The daemon's store when the configured storage is `postgres`: a team
//! history that several daemons on several machines serve at once.
//!
//! With `[storage] plugin = "postgres"` in the configuration the daemon
//! serves that database instead of `history.db`: its API, streams and UI
//! read and write the shared history, and its scheduled pass applies the
//! `postgres` storage's `retention_days` there.

use std::path::Path;

use otto_hooks_postgres::{PgHistory, PgSettings};
use otto_hooks_sqlite::HistoryStore;
use serde::Deserialize;

use crate::config::{Config, InstanceSpec};
use crate::daemon::server::StoreOpener;

/// The configured PostgreSQL history, ready to be opened by the daemon.
pub struct TeamStore {
    /// Opens (connects, migrates) the store.
    pub open: StoreOpener,
    /// `postgres://user@host:port/db`, for the log (no password).
    pub location: String,
    /// The storage instance, for the scheduled retention pass.
    pub spec: InstanceSpec,
}

impl std::fmt::Debug for TeamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamStore")
            .field("location", &self.location)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The `postgres` storage the configuration selects first, when it does;
/// an error (one line) when its settings are wrong.
pub fn configured(config: &Config, data_dir: &Path) -> Result<Option<TeamStore>, String> {
    let Some(spec) = config
        .default_selection()
        .storage
        .into_iter()
        .find(|s| s.plugin == "postgres")
    else {
        return Ok(None);
    };
    let settings = PgSettings::deserialize(toml::Value::Table(spec.settings.clone()))
        .map_err(|e| format!("{} ({}): {e}", spec.instance, spec.origin))?;
    let target = settings
        .target(&spec.instance, data_dir)
        .map_err(|e| format!("{} ({}): {e}", spec.instance, spec.origin))?;
    let location = target.describe();
    let open: StoreOpener = Box::new(move || {
        PgHistory::open(target)
            .map(|db| Box::new(db) as Box<dyn HistoryStore>)
            .map_err(|e| format!("cannot open the PostgreSQL history: {e}"))
    });
    Ok(Some(TeamStore {
        open,
        location,
        spec,
    }))
}
