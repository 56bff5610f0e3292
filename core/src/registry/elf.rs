//! Validation of a plugin library's ELF image before the dynamic loader
//! sees it.
//!
//! `dlopen` maps a library's segments straight from the file. A library
//! cut short — a half-copied `.so`, a build interrupted mid-write — maps
//! pages past the end of the file, and the first touch of such a page
//! kills the whole process with `SIGBUS`: `plugins list`, `hook run-start`
//! and every other command that merely discovers plugins would die with it.
//! So every byte range the loader will read is checked against the file's
//! size first, on the descriptor that will be loaded:
//!
//! - the ELF identification: 64-bit, this machine's byte order and
//!   architecture, a shared object (`ET_DYN`);
//! - the program header table, and every segment's file range;
//! - the section header table, and every section's file range (except
//!   `SHT_NOBITS`, which has none);
//! - the dynamic symbol table defines `otto_hooks_plugin_entry`.
//!
//! Anything else is refused with one line that says what is wrong.

use std::fs::File;
use std::os::unix::fs::FileExt;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::{Endianness, FileKind};

/// The largest library we read into memory to check (a plugin is a few
/// megabytes; a debug build with full symbols some tens).
pub const MAX_LIBRARY_BYTES: u64 = 1 << 30;

/// The ELF machine of this build's target.
const HOST_MACHINE: Option<elf::Machine> = if cfg!(target_arch = "x86_64") {
    Some(elf::EM_X86_64)
} else if cfg!(target_arch = "aarch64") {
    Some(elf::EM_AARCH64)
} else {
    // Another architecture: the loader's own check decides.
    None
};

/// Checks that `file` is a complete 64-bit ELF shared object for this
/// machine that defines `entry_symbol` (its name, a trailing NUL allowed). Reads the file through the
/// descriptor (positioned reads; the descriptor's offset is not moved).
/// The error is one line, without the path.
pub fn check(file: &File, entry_symbol: &[u8]) -> Result<(), String> {
    let size = file
        .metadata()
        .map_err(|e| format!("cannot stat it: {e}"))?
        .len();
    if size > MAX_LIBRARY_BYTES {
        return Err(format!(
            "it is {size} bytes, more than the {MAX_LIBRARY_BYTES} bytes a plugin library may have"
        ));
    }
    let len = usize::try_from(size).map_err(|_| "it is too large to read".to_owned())?;
    let mut data = vec![0u8; len];
    file.read_exact_at(&mut data, 0)
        .map_err(|e| format!("cannot read it: {e}"))?;
    check_image(&data, entry_symbol)
}

/// [`check`] on the bytes of a whole file.
pub fn check_image(data: &[u8], entry_symbol: &[u8]) -> Result<(), String> {
    let entry_symbol = entry_symbol.strip_suffix(b"\0").unwrap_or(entry_symbol);
    let not_library = |what: &str| {
        format!("it is not a shared library ({what}); is it a plugin built for this platform?")
    };
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => return Err(not_library("a 32-bit ELF file")),
        Ok(_) | Err(_) if data.starts_with(b"\x7fELF") => {
            return Err(truncated(data.len(), "its ELF header is incomplete"));
        }
        Ok(_) | Err(_) => return Err(not_library("no ELF header")),
    }
    let header = elf::FileHeader64::<Endianness>::parse(data)
        .map_err(|_| truncated(data.len(), "its ELF header is incomplete"))?;
    let endian = header
        .endian()
        .map_err(|_| not_library("an unknown byte order"))?;
    if endian != Endianness::default() {
        return Err(not_library("the other byte order"));
    }
    if header.e_type(endian) != elf::ET_DYN {
        return Err(not_library("an ELF file, but not a shared object"));
    }
    if let Some(machine) = HOST_MACHINE
        && header.e_machine(endian) != machine
    {
        return Err(not_library(&format!(
            "built for ELF machine {}, this machine is {}",
            header.e_machine(endian).0,
            machine.0
        )));
    }

    let size = data.len() as u64;
    let segments = header
        .program_headers(endian, data)
        .map_err(|_| truncated(data.len(), "its program header table lies past the end"))?;
    if segments.is_empty() {
        return Err(not_library("it has no program headers"));
    }
    for (i, segment) in segments.iter().enumerate() {
        let end = segment
            .p_offset(endian)
            .saturating_add(segment.p_filesz(endian));
        if end > size {
            return Err(truncated(
                data.len(),
                &format!("segment {i} ends at byte {end}"),
            ));
        }
    }

    let sections = header
        .sections(endian, data)
        .map_err(|_| truncated(data.len(), "its section header table lies past the end"))?;
    for (i, section) in sections.iter().enumerate() {
        if section.sh_type(endian) == elf::SHT_NOBITS {
            continue;
        }
        let end = section
            .sh_offset(endian)
            .saturating_add(section.sh_size(endian));
        if end > size {
            return Err(truncated(
                data.len(),
                &format!("section {i} ends at byte {end}"),
            ));
        }
    }

    let symbols = sections
        .symbols(endian, data, elf::SHT_DYNSYM)
        .map_err(|_| not_library("its dynamic symbol table is damaged"))?;
    let defines_entry = symbols.iter().any(|sym| {
        sym.st_shndx(endian) != elf::SHN_UNDEF
            && symbols.symbol_name(endian, sym).ok() == Some(entry_symbol)
    });
    if !defines_entry {
        let entry_symbol = String::from_utf8_lossy(entry_symbol);
        return Err(format!(
            "it has no `{entry_symbol}` symbol, so it is not an otto-hooks plugin \
             (export one with `otto_hooks_plugin_api::export_plugins!`)"
        ));
    }
    Ok(())
}

/// The refusal of a library cut short.
fn truncated(len: usize, what: &str) -> String {
    format!(
        "it is truncated or damaged: {what}, but the file has {len} bytes \
         (a half-copied file? copy or rebuild it)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_a_library() {
        let e = check_image(b"this is not a shared library\n", b"x").unwrap_err();
        assert!(e.contains("not a shared library"), "{e}");
    }

    #[test]
    fn an_empty_file_is_not_a_library() {
        let e = check_image(b"", b"x").unwrap_err();
        assert!(e.contains("not a shared library"), "{e}");
    }

    #[test]
    fn an_elf_magic_alone_is_a_truncated_header() {
        let e = check_image(b"\x7fELF\x02\x01\x01", b"x").unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn this_test_binary_is_not_a_shared_object_or_has_no_entry() {
        // The test executable is a complete ELF file for this machine: it is
        // refused for what it is, never as truncated.
        let exe = std::fs::read("/proc/self/exe").expect("read self");
        let e = check_image(&exe, b"otto_hooks_plugin_entry").unwrap_err();
        assert!(!e.contains("truncated"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
