//! Run ids in choo's shape: `run_YYYYMMDD_HHMMSS_xxxx`.

use otto_hooks_plugin_api::Timestamp;

/// Mints `run_YYYYMMDD_HHMMSS_xxxx` (UTC, 4 random lowercase hex digits).
///
/// Two runs started in the same second get the same id one time in 65,536:
/// the caller checks that the id is free (`AlreadyExists` from
/// [`HistoryDb::start_run`](crate::HistoryDb::start_run)) and mints again.
pub fn mint_run_id(at: Timestamp) -> String {
    let mut bytes = [0u8; 2];
    // getrandom never blocks once the pool is initialised; on failure fall
    // back to the clock's nanoseconds, which only weakens uniqueness (the
    // caller still checks for an existing record).
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        bytes = (Timestamp::now().nanos as u16).to_le_bytes();
    }
    let time = chrono::DateTime::from_timestamp(at.secs, 0)
        .map(|t| t.format("%Y%m%d_%H%M%S").to_string())
        .unwrap_or_else(|| "00000000_000000".to_owned());
    format!("run_{time}_{:02x}{:02x}", bytes[0], bytes[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_choos_shape() {
        let id = mint_run_id(Timestamp::from_secs(1_737_383_452));
        assert!(id.starts_with("run_20250120_143052_"), "{id}");
        assert_eq!(id.len(), "run_20250120_143052_a1b2".len());
        assert!(
            id[20..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
