//! What the fuzz targets share: carving an input into fields, and the
//! one-line rule every error message follows.
//!
//! Each target is a binary in `src/bin/` built against libFuzzer (see
//! README.md); the checks live here too, so that a crashing input can be
//! replayed by the normal test suite.

/// The byte that separates the fields of a multi-field input (ASCII unit
/// separator): seeds stay readable, and a mutation that deletes it merges
/// two fields, which is still a valid input.
pub const SEP: u8 = 0x1f;

/// The fields of `data` split at [`SEP`], each as text (invalid UTF-8
/// replaced: these targets fuzz what text parsers do with text).
pub fn fields(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == SEP)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// The field `i`, or `""`.
pub fn field(fields: &[String], i: usize) -> &str {
    fields.get(i).map_or("", String::as_str)
}

/// The first byte (a selector) and the rest.
pub fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    }
}

/// Panics (a finding) when an error message that reaches a terminal or a
/// log spans more than one line.
pub fn assert_one_line(what: &str, message: &str) {
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "{what}: the error is not one line: {message:?}"
    );
}

/// A reader of fixed-size numbers from the front of a byte slice; zeros
/// once it is exhausted.
#[derive(Debug)]
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let got = self.take(4);
        b[..got.len()].copy_from_slice(got);
        u32::from_le_bytes(b)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let got = self.take(8);
        b[..got.len()].copy_from_slice(got);
        u64::from_le_bytes(b)
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self) -> i64 {
        self.u64() as i64
    }

    /// A byte string of length given by one byte.
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.take(n)
    }

    /// What is left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }
}

pub mod targets;
