//! Entry points for the fuzz targets in `fuzz/`: the parsers of what otto
//! wrote on disk (`run.yaml`, the size index). Not part of the API.

use std::path::Path;

use serde_json::{Map, Value};

/// The attributes `run.yaml`'s `text` gives a run, or its one-line error
/// (the `run_yaml_error` attribute).
pub fn run_yaml(text: &str) -> Result<Map<String, Value>, String> {
    let mut attributes = Map::new();
    crate::runyaml::parse_into(text, &mut attributes).map(|()| attributes)
}

/// The size index `bytes` decode to for `otto_home`, encoded again: `None`
/// when they are not an index.
pub fn index_reencoded(bytes: &[u8], otto_home: &Path) -> Option<Vec<u8>> {
    crate::index::Index::decode(bytes, otto_home).map(|index| index.encode(otto_home))
}
