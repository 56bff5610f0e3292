//! `include/otto_hooks.h` cannot drift from `src/abi.rs`.
//!
//! The header is written by hand, not generated: cbindgen would be a heavy
//! build dependency, and it would spell the generic `Str<'a>`, `Slice<T>`
//! and `Opt<T>` and the `Option<extern "C" fn>` entries in ways a C author
//! would not write (nor document). Instead this test *checks* the header:
//! it writes a C file of `_Static_assert`s — the size, alignment, and every
//! field's offset and size of each struct, and the value of every constant —
//! with the numbers taken from the Rust definitions (`size_of`, `align_of`,
//! `offset_of!`), and compiles it with the system C compiler. It also reads
//! `abi.rs` to make sure every `#[repr(C)]` struct and every field of it is
//! in that list, so a struct or field added to the ABI and not to the header
//! fails here too.
//!
//! Without a C compiler the test is skipped with one line, except under
//! `CI=true`, where it fails (CI installs `gcc`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use otto_hooks_plugin_api::abi::{
    self, ABI_VERSION, CallStatus, ENTRY_SYMBOL, ErrorCode, KindCode, MAGIC,
};
use otto_hooks_plugin_api::{Action, DocumentKind, PluginKind, RunStatus, TaskStatus};

/// The layout of one Rust struct, as its C twin must have it.
struct Layout {
    /// The Rust struct's name, without generics (`Slice`).
    rust: &'static str,
    /// The C typedef (`otto_run_slice`).
    c: &'static str,
    size: usize,
    align: usize,
    /// (name, offset, size) of every field the C struct has.
    fields: Vec<(&'static str, usize, usize)>,
}

/// `size_of` a field, from an accessor (Rust has no `size_of_val` for a
/// field without a value).
fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! layout {
    ($rust:ident, $ty:ty => $c:literal { $($field:ident),* $(,)? }) => {
        Layout {
            rust: stringify!($rust),
            c: $c,
            size: size_of::<$ty>(),
            align: align_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                offset_of!($ty, $field),
                field_size(|v: &$ty| &v.$field),
            )),*],
        }
    };
}

/// Every struct of the ABI and its C name. The lifetimes are `'static`:
/// layout does not depend on them.
fn layouts() -> Vec<Layout> {
    use abi::*;
    vec![
        layout!(AbiVersion, AbiVersion => "otto_abi_version" { major, minor }),
        layout!(Str, Str<'static> => "otto_str" { ptr, len }),
        layout!(Slice, Slice<'static, Str<'static>> => "otto_str_slice" { ptr, len }),
        layout!(Slice, Slice<'static, Run<'static>> => "otto_run_slice" { ptr, len }),
        layout!(Slice, Slice<'static, Task<'static>> => "otto_task_slice" { ptr, len }),
        layout!(Slice, Slice<'static, Event<'static>> => "otto_event_slice" { ptr, len }),
        layout!(Slice, Slice<'static, StoredEvent<'static>> => "otto_stored_event_slice" { ptr, len }),
        layout!(Slice, Slice<'static, DeletedRun<'static>> => "otto_deleted_run_slice" { ptr, len }),
        layout!(Slice, Slice<'static, RefusedDeletion<'static>> => "otto_refused_deletion_slice" { ptr, len }),
        layout!(Slice, Slice<'static, PluginDecl> => "otto_plugin_decl_slice" { ptr, len }),
        layout!(Opt, Opt<u32> => "otto_opt_u32" { is_some, value }),
        layout!(Opt, Opt<u64> => "otto_opt_u64" { is_some, value }),
        layout!(Opt, Opt<i32> => "otto_opt_i32" { is_some, value }),
        layout!(Opt, Opt<i64> => "otto_opt_i64" { is_some, value }),
        layout!(Opt, Opt<Timestamp> => "otto_opt_timestamp" { is_some, value }),
        layout!(Timestamp, Timestamp => "otto_timestamp" { secs, nanos }),
        layout!(Out, Out => "otto_out" { ctx, emit, error }),
        layout!(Run, Run<'static> => "otto_run" {
            id, project, started_at, ended_at, status, status_source, task_count,
            size_bytes, allocated_bytes, location, pinned, attributes,
        }),
        layout!(Task, Task<'static> => "otto_task" {
            name, status, exit_code, duration_ms, stdout_path, stderr_path, script_path,
            script_target,
        }),
        layout!(RunDetails, RunDetails<'static> => "otto_run_details" { run, tasks }),
        layout!(HookContext, HookContext<'static> => "otto_hook_context" { project, run_id }),
        layout!(RunStart, RunStart<'static> => "otto_run_start" {
            project, run_id, started_at, repo_path, parallelism, total_units, tasks_dir, dry_run,
        }),
        layout!(Event, Event<'static> => "otto_event" { time, kind, unit, task, pr, payload, error }),
        layout!(RunResult, RunResult<'static> => "otto_run_result" {
            project, run_id, ended_at, status, completed_units, failed_units, blocked_units, error,
        }),
        layout!(RunQuery, RunQuery<'static> => "otto_run_query" { project, limit }),
        layout!(StatusVerdict, StatusVerdict<'static> => "otto_status_verdict" { status, source }),
        layout!(RetentionInput, RetentionInput<'static> => "otto_retention_input" { group, now, runs }),
        layout!(Decision, Decision<'static> => "otto_decision" { run_id, action, reasons }),
        layout!(Document, Document<'static> => "otto_document" { kind, json }),
        layout!(CreateArgs, CreateArgs<'static> => "otto_create_args" { size, instance, config_toml, data_dir }),
        layout!(ModuleHeader, ModuleHeader => "otto_module_header" { magic, abi, size }),
        layout!(PluginModule, PluginModule => "otto_plugin_module" { header, plugins }),
        layout!(PluginDecl, PluginDecl => "otto_plugin_decl" {
            size, kind, name, version, description, create, destroy, lifecycle, methods,
        }),
        layout!(LifecycleTable, LifecycleTable => "otto_lifecycle_table" {
            size, run_start, event, run_complete, events, run_stop, run_resume,
        }),
        layout!(RunStop, RunStop<'static> => "otto_run_stop" { project, run_id, at, reason }),
        layout!(RunResume, RunResume<'static> => "otto_run_resume" { project, run_id, at }),
        layout!(StorageTable, StorageTable => "otto_storage_table" {
            size, list_runs, run_details, usage, stored_events, delete_runs, expire,
        }),
        layout!(EventQuery, EventQuery<'static> => "otto_event_query" { run_id, type_prefix, unit, after_seq, limit }),
        layout!(StoredEvent, StoredEvent<'static> => "otto_stored_event" {
            seq, time, kind, unit, task, pr, payload, error,
        }),
        layout!(EventPage, EventPage<'static> => "otto_event_page" { events, has_more, total }),
        layout!(DeleteRequest, DeleteRequest<'static> => "otto_delete_request" { runs }),
        layout!(DeletedRun, DeletedRun<'static> => "otto_deleted_run" { run_id, bytes_freed }),
        layout!(RefusedDeletion, RefusedDeletion<'static> => "otto_refused_deletion" { run_id, reason }),
        layout!(DeleteReport, DeleteReport<'static> => "otto_delete_report" { deleted, refused, bytes_freed }),
        layout!(ExpireRequest, ExpireRequest => "otto_expire_request" { cutoff, dry_run }),
        layout!(ExpireReport, ExpireReport<'static> => "otto_expire_report" { runs, events, bytes_freed, run_ids }),
        layout!(ProjectUsage, ProjectUsage<'static> => "otto_project_usage" {
            project, runs, runs_bytes, runs_allocated_bytes, cache_bytes, cache_files,
            orphaned_cache_bytes, orphaned_cache_files, other_bytes, oldest_run,
        }),
        layout!(ProjectUsageExt, ProjectUsageExt<'static> => "otto_project_usage_ext" { base, allocated_bytes }),
        layout!(StatusTable, StatusTable => "otto_status_table" { size, detect, detect_details }),
        layout!(RetentionTable, RetentionTable => "otto_retention_table" { size, decide }),
        layout!(ReporterTable, ReporterTable => "otto_reporter_table" { size, render }),
    ]
}

/// `OTTO_<PREFIX>_<NAME>` for a code's stable name (`run-list` → `RUN_LIST`).
fn c_constant(prefix: &str, name: &str) -> String {
    format!(
        "OTTO_{prefix}_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Every constant the header must define, with its value.
fn constants() -> Vec<(String, u64)> {
    let mut out = vec![
        (
            "OTTO_HOOKS_ABI_MAJOR".to_owned(),
            u64::from(ABI_VERSION.major),
        ),
        (
            "OTTO_HOOKS_ABI_MINOR".to_owned(),
            u64::from(ABI_VERSION.minor),
        ),
        ("OTTO_HOOKS_MAGIC_LEN".to_owned(), MAGIC.len() as u64),
    ];
    let codes: [(&str, &str, u32); 13] = [
        ("KIND", "STORAGE", KindCode::STORAGE.0),
        ("KIND", "STATUS", KindCode::STATUS.0),
        ("KIND", "RETENTION", KindCode::RETENTION.0),
        ("KIND", "REPORTER", KindCode::REPORTER.0),
        ("CALL", "OK", CallStatus::OK.0),
        ("CALL", "ERROR", CallStatus::ERROR.0),
        ("CALL", "PANIC", CallStatus::PANIC.0),
        ("ERROR", "FAILED", ErrorCode::FAILED.0),
        ("ERROR", "INVALID", ErrorCode::INVALID.0),
        ("ERROR", "NOT_FOUND", ErrorCode::NOT_FOUND.0),
        ("ERROR", "ALREADY_EXISTS", ErrorCode::ALREADY_EXISTS.0),
        ("ERROR", "UNSUPPORTED", ErrorCode::UNSUPPORTED.0),
        ("ERROR", "IO", ErrorCode::IO.0),
    ];
    out.extend(
        codes
            .iter()
            .map(|(p, n, v)| (c_constant(p, n), u64::from(*v))),
    );
    out.push(("OTTO_ERROR_PANIC".into(), u64::from(ErrorCode::PANIC.0)));
    for k in PluginKind::ALL
        .iter()
        .filter(|k| **k != PluginKind::Unknown)
    {
        out.push((c_constant("KIND", k.as_str()), u64::from(k.code())));
    }
    for s in RunStatus::ALL {
        out.push((c_constant("RUN_STATUS", s.as_str()), u64::from(s.code())));
    }
    for s in TaskStatus::ALL {
        out.push((c_constant("TASK_STATUS", s.as_str()), u64::from(s.code())));
    }
    for a in Action::ALL {
        out.push((c_constant("ACTION", a.as_str()), u64::from(a.code())));
    }
    for d in DocumentKind::ALL {
        out.push((c_constant("DOCUMENT", d.as_str()), u64::from(d.code())));
    }
    out
}

/// The `_Static_assert`s of every layout and constant.
fn assertions() -> String {
    let mut c = String::from("#include <stddef.h>\n#include \"otto_hooks.h\"\n\n");
    for l in layouts() {
        let t = l.c;
        let _ = writeln!(
            c,
            "_Static_assert(sizeof({t}) == {}, \"sizeof({t}) differs from size_of::<{}>() = {}\");",
            l.size, l.rust, l.size
        );
        let _ = writeln!(
            c,
            "_Static_assert(_Alignof({t}) == {}, \"_Alignof({t}) differs from align_of::<{}>() = {}\");",
            l.align, l.rust, l.align
        );
        for (f, offset, size) in &l.fields {
            let _ = writeln!(
                c,
                "_Static_assert(offsetof({t}, {f}) == {offset}, \"offsetof({t}, {f}) differs from the Rust offset {offset}\");"
            );
            let _ = writeln!(
                c,
                "_Static_assert(sizeof((({t} *)0)->{f}) == {size}, \"{t}.{f} has a size other than the Rust field ({size})\");"
            );
        }
        c.push('\n');
    }
    for (name, value) in constants() {
        let _ = writeln!(
            c,
            "_Static_assert({name} == {value}, \"{name} differs from the Rust value {value}\");"
        );
    }
    c
}

/// `(struct, its fields)` of every `#[repr(C)]` struct with named fields in
/// `abi.rs`, in source order, without the zero-sized `_marker`s.
fn repr_c_structs(source: &str) -> BTreeMap<String, Vec<String>> {
    let mut structs = BTreeMap::new();
    let mut repr_c = false;
    let mut current: Option<(String, Vec<String>)> = None;
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some((name, fields)) = current.as_mut() {
            if line.starts_with('}') {
                structs.insert(std::mem::take(name), std::mem::take(fields));
                current = None;
            } else if let Some(field) = line
                .strip_prefix("    pub ")
                .and_then(|rest| rest.split_once(':'))
                .map(|(f, _)| f.trim())
                .filter(|f| *f != "_marker")
            {
                fields.push(field.to_owned());
            }
            continue;
        }
        if trimmed == "#[repr(C)]" {
            repr_c = true;
        } else if let Some(rest) = trimmed.strip_prefix("pub struct ") {
            if repr_c && trimmed.ends_with('{') {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                current = Some((name, Vec::new()));
            }
            repr_c = false;
        } else if !trimmed.starts_with("#[") && !trimmed.starts_with("//") && !trimmed.is_empty() {
            // Attributes span several lines (`#[derive(\n …\n)]`): only a
            // line of code ends the attribute block.
            if !trimmed.ends_with(',') && trimmed != ")]" {
                repr_c = false;
            }
        }
    }
    structs
}

#[test]
fn every_repr_c_struct_and_field_of_abi_rs_is_checked() {
    let source = include_str!("../src/abi.rs");
    let structs = repr_c_structs(source);
    assert!(
        structs.len() >= 40 && structs.contains_key("Run") && structs.contains_key("Str"),
        "the abi.rs reader found too few structs: {:?}",
        structs.keys().collect::<Vec<_>>()
    );
    let layouts = layouts();
    for (name, fields) in &structs {
        let checked: Vec<&Layout> = layouts.iter().filter(|l| l.rust == name).collect();
        assert!(
            !checked.is_empty(),
            "abi.rs struct `{name}` has no C twin in include/otto_hooks.h (add it there and to layouts() here)"
        );
        for l in checked {
            let names: Vec<&str> = l.fields.iter().map(|f| f.0).collect();
            assert_eq!(
                names, *fields,
                "the fields of `{name}` in abi.rs and of `{}` here differ: update include/otto_hooks.h and layouts()",
                l.c
            );
        }
    }
}

#[test]
fn every_code_constant_of_abi_rs_is_checked() {
    let source = include_str!("../src/abi.rs");
    let checked: Vec<String> = constants().into_iter().map(|(n, _)| n).collect();
    for (ty, prefix) in [
        ("KindCode", "KIND"),
        ("CallStatus", "CALL"),
        ("ErrorCode", "ERROR"),
    ] {
        let marker = format!(": {ty} = {ty}(");
        for line in source.lines().filter(|l| l.contains(&marker)) {
            let name = line
                .trim()
                .trim_start_matches("pub const ")
                .split(':')
                .next()
                .unwrap();
            let c = c_constant(prefix, name);
            assert!(
                checked.contains(&c),
                "{ty}::{name} has no checked C constant `{c}`"
            );
        }
    }
}

#[test]
fn the_header_spells_the_magic_and_the_entry_symbol_of_abi_rs() {
    let header = std::fs::read_to_string(header_dir().join("otto_hooks.h")).unwrap();
    let magic = std::str::from_utf8(&MAGIC).unwrap();
    assert!(header.contains(&format!("#define OTTO_HOOKS_MAGIC \"{magic}\"")));
    let bytes: Vec<String> = MAGIC.iter().map(|b| format!("'{}'", *b as char)).collect();
    assert!(
        header.contains(&format!("{{{{{}}}", bytes.join(", "))),
        "OTTO_MODULE_HEADER spells the magic byte by byte"
    );
    let symbol = std::str::from_utf8(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1]).unwrap();
    assert!(header.contains(&format!("#define OTTO_HOOKS_ENTRY_SYMBOL \"{symbol}\"")));
    assert!(header.contains(&format!("*{symbol}(void);")));
}

#[test]
fn the_c_header_matches_the_rust_abi_layout_and_constants() {
    let Some(cc) = c_compiler() else { return };
    let dir = scratch_dir("layout");
    let file = dir.join("layout_check.c");
    std::fs::write(&file, assertions()).unwrap();
    compile(&cc, &file, "c11");
}

#[test]
fn the_c_header_is_plain_c99_without_warnings() {
    let Some(cc) = c_compiler() else { return };
    let dir = scratch_dir("c99");
    let file = dir.join("c99_check.c");
    std::fs::write(
        &file,
        "#include \"otto_hooks.h\"\n\
         static const otto_retention_table t = {sizeof(otto_retention_table), 0};\n\
         static const otto_plugin_decl d[1] = {{sizeof(otto_plugin_decl), OTTO_KIND_RETENTION,\n\
             OTTO_STR_LIT(\"x\"), OTTO_STR_LIT(\"1\"), OTTO_STR_LIT(\"\"), 0, 0, 0, &t}};\n\
         static const otto_plugin_module m = {OTTO_MODULE_HEADER, {d, 1}};\n\
         const otto_plugin_module *otto_hooks_plugin_entry(void) { return &m; }\n",
    )
    .unwrap();
    compile(&cc, &file, "c99");
}

/// `plugin-api/include`.
fn header_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// A fresh directory for this test's files (cargo's scratch space for
/// integration tests; removed first so that a stale file never passes).
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c_header-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `file` (syntax and constant evaluation only) with every
/// warning an error; panics with the compiler's output on failure.
fn compile(cc: &str, file: &Path, std: &str) {
    let out = Command::new(cc)
        .arg(format!("-std={std}"))
        .args(["-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg("-I")
        .arg(header_dir())
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "{cc} rejected {} (include/otto_hooks.h no longer matches src/abi.rs):\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The system C compiler (`$CC`, else `cc`), or `None` after one line on
/// stderr when there is none — a failure under `CI=true`.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    if Command::new(&cc).arg("--version").output().is_ok() {
        return Some(cc);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("`{cc}` is needed under CI: apt-get install gcc libc6-dev");
    }
    eprintln!("skipped: no C compiler (`{cc}`); install gcc to check include/otto_hooks.h");
    None
}
