//! A table of distinct byte strings (script-link targets), each stored once.
//!
//! Thousands of runs link the same few cache files: a run keeps small ids
//! into this table instead of its own copies, in memory and in the index.

use std::collections::HashMap;
use std::sync::Arc;

/// Distinct byte strings, numbered from 0 in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Strings {
    all: Vec<Arc<[u8]>>,
    ids: HashMap<Arc<[u8]>, u32>,
}

impl Strings {
    /// The id of `s`, added when new.
    pub fn intern(&mut self, s: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.all.len()).unwrap_or(u32::MAX);
        let s: Arc<[u8]> = Arc::from(s);
        self.all.push(Arc::clone(&s));
        self.ids.insert(s, id);
        id
    }

    /// The string of `id`, when it exists.
    pub fn get(&self, id: u32) -> Option<&[u8]> {
        self.all.get(id as usize).map(|s| &s[..])
    }

    /// How many strings there are.
    pub fn len(&self) -> usize {
        self.all.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_stored_once_and_keeps_its_id() {
        let mut s = Strings::default();
        let a = s.intern(b"../../../.cache/0123abcd.sh");
        let b = s.intern(b"/abs/.cache/x.py");
        assert_eq!(s.intern(b"../../../.cache/0123abcd.sh"), a);
        assert_ne!(a, b);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(b), Some(&b"/abs/.cache/x.py"[..]));
        assert_eq!(s.get(7), None);
    }
}
