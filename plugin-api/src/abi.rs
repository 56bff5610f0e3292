//! The raw, C-compatible ABI between the otto-hooks host and its plugins.
//!
//! Rust plugin authors never touch this module: they implement the safe
//! traits in [`crate::traits`] and call [`crate::export_plugins!`], which
//! writes every `extern "C"` shim below for them. This module is the
//! specification for everyone else — hosts, and plugins written in C or any
//! language that can export a C symbol.
//!
//! Its C spelling is `plugin-api/include/otto_hooks.h`, which
//! `tests/c_header.rs` checks against this module (sizes, alignments, field
//! offsets, codes): a change here needs the same change there.
//!
//! # Shape
//!
//! A plugin library exports one symbol, [`ENTRY_SYMBOL`]
//! (`otto_hooks_plugin_entry`), an `extern "C" fn() -> *const PluginModule`.
//! The module starts with a [`ModuleHeader`] whose layout is frozen across
//! every ABI version, so any host can read any plugin's magic and version
//! before it touches anything else. The module lists one or more
//! [`PluginDecl`]s; each declares a kind, a name, a version, a constructor
//! and two tables of function pointers: the lifecycle hooks shared by every
//! kind ([`LifecycleTable`]) and the kind's own methods ([`StorageTable`],
//! [`StatusTable`], [`RetentionTable`], [`ReporterTable`]).
//!
//! # Versioning and evolution
//!
//! [`ABI_VERSION`] is `major.minor`, independent of crate versions. A host of
//! ABI `1.x` loads every plugin built for `1.0..=1.x` and refuses a plugin of
//! another major, or of a newer minor, naming both versions.
//!
//! Minor versions only *append*: every table and argument struct begins with
//! its own `size` (the `size_of` the plugin was compiled with), and a field
//! lies beyond a shorter table is simply absent. An entry that is absent or
//! null is *not offered*; the host falls back (for example, to one `event`
//! call per event when `events` is missing) or reports the capability as
//! unsupported. Enumerations cross the boundary as integer codes, and an
//! unknown code reads as "unknown", never as undefined behaviour.
//!
//! History:
//! - **1.0** — entry point, module header, plugin declarations, the lifecycle
//!   table (`run_start`, `event`, `run_complete`) and the four kind tables.
//! - **1.1** — appended [`LifecycleTable::events`]: a batch of events in one
//!   call, so stores can commit a batch in one transaction.
//! - **1.2** — appended [`StorageTable::usage`] (disk usage per project:
//!   runs, cache, orphaned cache) and [`StatusTable::detect_details`] (task
//!   statuses, exit codes and durations), for `otto-hooks usage` and `info`.
//! - **1.3** — appended [`LifecycleTable::run_stop`] and
//!   [`LifecycleTable::run_resume`] (a run stopped on purpose, and resumed
//!   under the same id), and [`StorageTable::stored_events`] (a run's stored
//!   events, filtered and paged), [`StorageTable::delete_runs`] (delete named
//!   runs) and [`StorageTable::expire`] (history retention by age).
//! - **1.4** — [`StorageTable::usage`] emits a [`ProjectUsageExt`]: the
//!   [`ProjectUsage`] of 1.2 followed by the project's allocated bytes
//!   (`du -sB1` of all of it), for `usage` to show disk use beside apparent
//!   size. The host reads the longer item only from plugins of 1.4 and later.
//!   And the task status code 6, `interrupted` (a task its dying run left
//!   unfinished): a host shows it as `unknown` in the documents it gives a
//!   reporter built before 1.4, whose JSON reader would refuse the name; the
//!   ABI code itself already reads as `unknown` in older code. Also a
//!   convention, not a field: a status source starting with `guess: ` marks a
//!   guessed status ([`crate::StatusVerdict`]).
//!
//! # Calls, results and errors
//!
//! Every method returns a [`CallStatus`] and receives an [`Out`]: a pair of
//! host callbacks. A method emits its results by calling `Out::emit` with a
//! pointer to a borrowed value (the pointee type is documented on each
//! method); the host copies what it needs before `emit` returns — or uses
//! the item right there (writes rendered text out, decides a run's status),
//! so `emit` may take a while: hold no lock another call needs. On failure
//! it calls `Out::error` once with a code and a UTF-8 message. No memory is
//! ever freed on the other side of the boundary, so host and plugin may use
//! different allocators (or languages).
//!
//! All [`Str`]s are UTF-8. The host guarantees that for what it passes in;
//! the host validates what a plugin passes out.
//!
//! # Threads and panics
//!
//! A plugin instance must be safe to call from several threads at once
//! (`Send + Sync` in Rust). A panic must never unwind across the boundary:
//! the Rust shims catch it and return [`CallStatus::PANIC`]; the host then
//! marks that instance failed and never calls it again.

use std::ffi::c_void;
use std::marker::PhantomData;

/// The magic bytes every [`ModuleHeader`] starts with.
pub const MAGIC: [u8; 8] = *b"OTTOHOOK";

/// The symbol every plugin library exports (NUL-terminated for `dlsym`).
pub const ENTRY_SYMBOL: &[u8] = b"otto_hooks_plugin_entry\0";

/// The ABI version this crate implements (host and SDK alike).
pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 4 };

/// An ABI version, `major.minor`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbiVersion {
    /// Incompatible changes bump the major version.
    pub major: u16,
    /// Appended entries bump the minor version.
    pub minor: u16,
}

impl AbiVersion {
    /// Whether a host implementing `self` can load a plugin built for `plugin`:
    /// same major, and the plugin's minor no newer than the host's.
    pub fn can_load(self, plugin: AbiVersion) -> bool {
        self.major == plugin.major && plugin.minor <= self.minor
    }
}

impl std::fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The signature of [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginModule;

// ---------------------------------------------------------------------------
// Plain data that crosses the boundary
// ---------------------------------------------------------------------------

/// A borrowed UTF-8 string: pointer and length, no terminator.
///
/// A null pointer means "absent" (an `Option<&str>` that is `None`);
/// `len == 0` with a non-null pointer is the empty string.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str<'a> {
    /// First byte, or null for "absent".
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
    /// Ties the borrow to its owner.
    pub _marker: PhantomData<&'a str>,
}

impl<'a> Str<'a> {
    /// The absent string.
    pub const NONE: Str<'static> = Str {
        ptr: std::ptr::null(),
        len: 0,
        _marker: PhantomData,
    };

    /// Borrows a `&str`.
    pub const fn new(s: &'a str) -> Self {
        Str {
            ptr: s.as_ptr(),
            len: s.len(),
            _marker: PhantomData,
        }
    }

    /// Borrows an optional `&str`; `None` becomes [`Str::NONE`].
    pub fn from_opt(s: Option<&'a str>) -> Self {
        match s {
            Some(s) => Str::new(s),
            None => Str {
                ptr: std::ptr::null(),
                len: 0,
                _marker: PhantomData,
            },
        }
    }

    /// Whether this is the absent string.
    pub fn is_none(&self) -> bool {
        self.ptr.is_null()
    }

    /// The string, trusting that it is UTF-8 (the ABI contract for
    /// everything the host passes in). Absent reads as `""`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be readable for `'a` and hold UTF-8.
    pub unsafe fn as_str_unchecked(&self) -> &'a str {
        if self.ptr.is_null() {
            return "";
        }
        // SAFETY: the caller guarantees a live, UTF-8 buffer.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }

    /// `None` for the absent string, else the string (trusted UTF-8).
    ///
    /// # Safety
    /// As [`Str::as_str_unchecked`].
    pub unsafe fn as_opt_unchecked(&self) -> Option<&'a str> {
        if self.ptr.is_null() {
            None
        } else {
            // SAFETY: forwarded to the caller.
            Some(unsafe { self.as_str_unchecked() })
        }
    }

    /// The string, validating UTF-8 (what hosts do with plugin output).
    ///
    /// # Safety
    /// `ptr..ptr+len` must be readable for `'a`.
    pub unsafe fn to_str(&self) -> Result<Option<&'a str>, std::str::Utf8Error> {
        if self.ptr.is_null() {
            return Ok(None);
        }
        // SAFETY: the caller guarantees a live buffer.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).map(Some)
    }
}

impl std::fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: a `Str` is only built from live UTF-8 by this crate; Debug
        // is a diagnostic aid for host and SDK code that built it.
        match unsafe { self.to_str() } {
            Ok(Some(s)) => write!(f, "{s:?}"),
            Ok(None) => f.write_str("<none>"),
            Err(_) => f.write_str("<invalid utf-8>"),
        }
    }
}

/// A borrowed slice: pointer and length.
#[repr(C)]
pub struct Slice<'a, T> {
    /// First element (may dangle when `len == 0`, never null).
    pub ptr: *const T,
    /// Number of elements.
    pub len: usize,
    /// Ties the borrow to its owner.
    pub _marker: PhantomData<&'a [T]>,
}

impl<T> Clone for Slice<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Slice<'_, T> {}

impl<'a, T> Slice<'a, T> {
    /// Borrows a slice.
    pub const fn new(s: &'a [T]) -> Self {
        Slice {
            ptr: s.as_ptr(),
            len: s.len(),
            _marker: PhantomData,
        }
    }

    /// The slice.
    ///
    /// # Safety
    /// `ptr` must point at `len` initialised `T`s that live for `'a`.
    pub unsafe fn as_slice(&self) -> &'a [T] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the caller guarantees the buffer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T> std::fmt::Debug for Slice<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slice(len = {})", self.len)
    }
}

/// An optional plain value: `is_some != 0` means `value` is meaningful.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Opt<T: Copy> {
    /// Non-zero when the value is present.
    pub is_some: u8,
    /// The value (zeroed when absent).
    pub value: T,
}

impl<T: Copy + Default> Opt<T> {
    /// Wraps an `Option`.
    pub fn new(v: Option<T>) -> Self {
        match v {
            Some(value) => Opt { is_some: 1, value },
            None => Opt {
                is_some: 0,
                value: T::default(),
            },
        }
    }

    /// Unwraps into an `Option`.
    pub fn get(self) -> Option<T> {
        (self.is_some != 0).then_some(self.value)
    }
}

/// A point in time: seconds since the Unix epoch (UTC) plus nanoseconds.
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub secs: i64,
    /// Nanoseconds within that second, `0..1_000_000_000`.
    pub nanos: u32,
}

/// A plugin kind, as an integer code (see the constants).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KindCode(pub u32);

impl KindCode {
    /// [`StorageTable`]: where runs and their events live.
    pub const STORAGE: KindCode = KindCode(1);
    /// [`StatusTable`]: did a run succeed, fail, or is it still running.
    pub const STATUS: KindCode = KindCode(2);
    /// [`RetentionTable`]: which runs may go, and why each one stays.
    pub const RETENTION: KindCode = KindCode(3);
    /// [`ReporterTable`]: how a result is shown or sent.
    pub const REPORTER: KindCode = KindCode(4);
}

/// What a method call did.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallStatus(pub u32);

impl CallStatus {
    /// Done; results (if any) were emitted.
    pub const OK: CallStatus = CallStatus(0);
    /// Failed; `Out::error` was called with the reason.
    pub const ERROR: CallStatus = CallStatus(1);
    /// The plugin panicked; `Out::error` carries the panic message. The host
    /// disables the instance.
    pub const PANIC: CallStatus = CallStatus(2);
}

/// Error codes passed to `Out::error` (see [`crate::ErrorKind`]).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Anything else.
    pub const FAILED: ErrorCode = ErrorCode(1);
    /// Bad configuration or bad input.
    pub const INVALID: ErrorCode = ErrorCode(2);
    /// The run (or other object) does not exist.
    pub const NOT_FOUND: ErrorCode = ErrorCode(3);
    /// The run (or other object) already exists.
    pub const ALREADY_EXISTS: ErrorCode = ErrorCode(4);
    /// The plugin does not support this request.
    pub const UNSUPPORTED: ErrorCode = ErrorCode(5);
    /// An I/O error.
    pub const IO: ErrorCode = ErrorCode(6);
    /// A panic caught at the boundary.
    pub const PANIC: ErrorCode = ErrorCode(7);
}

/// The host's callbacks for one method call.
///
/// `emit` receives a pointer to one result item (its type is documented on
/// each table entry) that is valid only during the callback. `error` is
/// called at most once, before the method returns a non-OK status.
#[repr(C)]
#[derive(Debug)]
pub struct Out {
    /// Opaque host state passed back to both callbacks.
    pub ctx: *mut c_void,
    /// Receives one result item.
    pub emit: unsafe extern "C" fn(ctx: *mut c_void, item: *const c_void),
    /// Receives the error of a failed call.
    pub error: unsafe extern "C" fn(ctx: *mut c_void, code: ErrorCode, message: Str<'_>),
}

/// An opaque plugin instance, created by [`PluginDecl::create`].
pub type InstancePtr = *mut c_void;

// ---------------------------------------------------------------------------
// The model, as borrowed views
// ---------------------------------------------------------------------------

/// A run, as it crosses the boundary (see [`crate::Run`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Run id, unique within its project.
    pub id: Str<'a>,
    /// Project key.
    pub project: Str<'a>,
    /// Start time.
    pub started_at: Timestamp,
    /// End time, when known.
    pub ended_at: Opt<Timestamp>,
    /// A [`crate::RunStatus`] code.
    pub status: u32,
    /// Which source decided the status (absent when unknown).
    pub status_source: Str<'a>,
    /// Number of tasks.
    pub task_count: u32,
    /// Apparent size in bytes (`du -sb`), when measured.
    pub size_bytes: Opt<u64>,
    /// Allocated size in bytes (`du -sB1`), when measured.
    pub allocated_bytes: Opt<u64>,
    /// A path or URL where the run lives.
    pub location: Str<'a>,
    /// Non-zero when the run is pinned (never deleted).
    pub pinned: u8,
    /// A JSON object of storage-specific attributes (absent = `{}`).
    pub attributes: Str<'a>,
}

/// A task of a run (see [`crate::Task`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// Task name (may contain `:`).
    pub name: Str<'a>,
    /// A [`crate::TaskStatus`] code.
    pub status: u32,
    /// Exit code, when recorded.
    pub exit_code: Opt<i32>,
    /// Duration in milliseconds, when known.
    pub duration_ms: Opt<u64>,
    /// Path of the captured stdout, when any.
    pub stdout_path: Str<'a>,
    /// Path of the captured stderr, when any.
    pub stderr_path: Str<'a>,
    /// Path of the task's script, when any.
    pub script_path: Str<'a>,
    /// Where the script link points, when it is a link.
    pub script_target: Str<'a>,
}

/// A run with its tasks (see [`crate::RunDetails`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunDetails<'a> {
    /// The run.
    pub run: Run<'a>,
    /// Its tasks.
    pub tasks: Slice<'a, Task<'a>>,
}

/// Which run a hook call concerns (see [`crate::HookContext`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HookContext<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Run id.
    pub run_id: Str<'a>,
}

/// A run starting (see [`crate::RunStart`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Run id (minted by the host or given by the orchestrator).
    pub run_id: Str<'a>,
    /// Start time.
    pub started_at: Timestamp,
    /// Canonical repository or project path, when known.
    pub repo_path: Str<'a>,
    /// Parallelism, when known.
    pub parallelism: Opt<u32>,
    /// Number of units (or tasks) planned, when known.
    pub total_units: Opt<u32>,
    /// Tasks directory, when any.
    pub tasks_dir: Str<'a>,
    /// Non-zero for a dry run.
    pub dry_run: u8,
}

/// One orchestrator event (see [`crate::Event`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// When it happened.
    pub time: Timestamp,
    /// Event type, e.g. `unit.started`.
    pub kind: Str<'a>,
    /// Unit, when any.
    pub unit: Str<'a>,
    /// Task number, when any.
    pub task: Opt<i64>,
    /// Pull-request number, when any.
    pub pr: Opt<i64>,
    /// Payload as JSON text (an object), when any.
    pub payload: Str<'a>,
    /// Error message, when any.
    pub error: Str<'a>,
}

/// A run finishing (see [`crate::RunResult`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunResult<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Run id.
    pub run_id: Str<'a>,
    /// End time.
    pub ended_at: Timestamp,
    /// A [`crate::RunStatus`] code.
    pub status: u32,
    /// Units completed, when known.
    pub completed_units: Opt<u32>,
    /// Units failed, when known.
    pub failed_units: Opt<u32>,
    /// Units blocked, when known.
    pub blocked_units: Opt<u32>,
    /// Error message, when any.
    pub error: Str<'a>,
}

/// A query for runs (see [`crate::RunQuery`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunQuery<'a> {
    /// Only this project (an exact key, name or hash), when given.
    pub project: Str<'a>,
    /// At most this many runs, newest first, when given.
    pub limit: Opt<u64>,
}

/// A status verdict (see [`crate::StatusVerdict`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StatusVerdict<'a> {
    /// A [`crate::RunStatus`] code.
    pub status: u32,
    /// Which source decided, e.g. `otto.db`, `lock`, `stderr`.
    pub source: Str<'a>,
}

/// The input of a retention decision (see [`crate::RetentionInput`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RetentionInput<'a> {
    /// The group (usually a project key) these runs belong to.
    pub group: Str<'a>,
    /// The reference time.
    pub now: Timestamp,
    /// The group's runs, in no particular order.
    pub runs: Slice<'a, Run<'a>>,
}

/// A retention decision for one run (see [`crate::Decision`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The run.
    pub run_id: Str<'a>,
    /// 1 = keep, 2 = delete (see [`crate::Action`]).
    pub action: u32,
    /// Every rule that matched, as stable reason strings.
    pub reasons: Slice<'a, Str<'a>>,
}

/// A document to render (see [`crate::Document`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// A [`crate::DocumentKind`] code.
    pub kind: u32,
    /// The document as JSON, in the shape documented for `--json`.
    pub json: Str<'a>,
}

/// Arguments of [`PluginDecl::create`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CreateArgs<'a> {
    /// `size_of::<CreateArgs>()` as the host compiled it.
    pub size: u32,
    /// The instance's name in the configuration (e.g. `retention.weekly`).
    pub instance: Str<'a>,
    /// The plugin's settings as a TOML document (a table; may be empty).
    pub config_toml: Str<'a>,
    /// A directory the plugin may keep state in (`$OTTO_HOOKS_HOME`).
    pub data_dir: Str<'a>,
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// Frozen forever: the first bytes of every [`PluginModule`], in every ABI major.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModuleHeader {
    /// Must equal [`MAGIC`].
    pub magic: [u8; 8],
    /// The ABI the plugin was built for.
    pub abi: AbiVersion,
    /// `size_of::<PluginModule>()` as the plugin compiled it.
    pub size: u32,
}

/// What [`ENTRY_SYMBOL`] returns: the plugins one library provides.
#[repr(C)]
#[derive(Debug)]
pub struct PluginModule {
    /// Magic and version.
    pub header: ModuleHeader,
    /// The plugins, at least one.
    pub plugins: Slice<'static, PluginDecl>,
}

// SAFETY: a module is immutable static data (pointers to statics and
// functions), safe to read from any thread.
unsafe impl Sync for PluginModule {}
unsafe impl Send for PluginModule {}

impl PluginModule {
    /// A module of the current ABI over `plugins`.
    pub const fn new(plugins: &'static [PluginDecl]) -> Self {
        PluginModule {
            header: ModuleHeader {
                magic: MAGIC,
                abi: ABI_VERSION,
                size: std::mem::size_of::<PluginModule>() as u32,
            },
            plugins: Slice::new(plugins),
        }
    }
}

/// One plugin: its identity, constructor and tables.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDecl {
    /// `size_of::<PluginDecl>()` as the plugin compiled it.
    pub size: u32,
    /// Which kind table `methods` points at.
    pub kind: KindCode,
    /// Unique name within its kind, e.g. `table`, `weekday`.
    pub name: Str<'static>,
    /// The plugin's own version (semver).
    pub version: Str<'static>,
    /// One sentence for `plugins list`.
    pub description: Str<'static>,
    /// Creates an instance from its settings. Returns null after calling
    /// `out.error` on failure (a bad setting, for example).
    pub create: unsafe extern "C" fn(args: *const CreateArgs<'_>, out: *const Out) -> InstancePtr,
    /// Destroys an instance made by `create`.
    pub destroy: unsafe extern "C" fn(instance: InstancePtr),
    /// The lifecycle hooks.
    pub lifecycle: *const LifecycleTable,
    /// The kind's table: `*const StorageTable`, `*const StatusTable`,
    /// `*const RetentionTable` or `*const ReporterTable`.
    pub methods: *const c_void,
}

// SAFETY: as for `PluginModule`.
unsafe impl Sync for PluginDecl {}
unsafe impl Send for PluginDecl {}

/// A method taking one argument and emitting results through `out`.
pub type Method<A> =
    unsafe extern "C" fn(instance: InstancePtr, arg: *const A, out: *const Out) -> CallStatus;

/// The lifecycle hooks every kind may offer. Each emits nothing.
#[repr(C)]
#[derive(Debug)]
pub struct LifecycleTable {
    /// `size_of::<LifecycleTable>()` as the plugin compiled it.
    pub size: u32,
    /// A run started (since 1.0).
    pub run_start: Option<Method<RunStart<'static>>>,
    /// One event of a run (since 1.0).
    pub event: Option<
        unsafe extern "C" fn(
            instance: InstancePtr,
            ctx: *const HookContext<'_>,
            event: *const Event<'_>,
            out: *const Out,
        ) -> CallStatus,
    >,
    /// A run completed (since 1.0).
    pub run_complete: Option<Method<RunResult<'static>>>,
    /// A batch of events of one run, in order (since 1.1).
    pub events: Option<
        unsafe extern "C" fn(
            instance: InstancePtr,
            ctx: *const HookContext<'_>,
            events: Slice<'_, Event<'_>>,
            out: *const Out,
        ) -> CallStatus,
    >,
    /// A run was stopped on purpose and may be resumed under the same id
    /// (since 1.3).
    pub run_stop: Option<Method<RunStop<'static>>>,
    /// A stopped (or interrupted) run resumed; its events continue after
    /// this call (since 1.3).
    pub run_resume: Option<Method<RunResume<'static>>>,
}

/// A run stopped on purpose (see [`crate::RunStop`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunStop<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Run id.
    pub run_id: Str<'a>,
    /// When it stopped.
    pub at: Timestamp,
    /// Why, when given.
    pub reason: Str<'a>,
}

/// A run resuming (see [`crate::RunResume`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RunResume<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Run id (the stopped run's).
    pub run_id: Str<'a>,
    /// When it resumed.
    pub at: Timestamp,
}

/// Storage: where runs live.
#[repr(C)]
#[derive(Debug)]
pub struct StorageTable {
    /// `size_of::<StorageTable>()` as the plugin compiled it.
    pub size: u32,
    /// Required. Emits one `*const Run` per run matching a
    /// `*const RunQuery`, newest first; the host may use each as it comes
    /// (runs emitted before a failure are discarded).
    pub list_runs: Option<Method<RunQuery<'static>>>,
    /// Emits one `*const RunDetails` for the run named by a
    /// `*const HookContext`, or fails with `NOT_FOUND`.
    pub run_details: Option<Method<HookContext<'static>>>,
    /// Emits one `*const ProjectUsage` per project matching a
    /// `*const RunQuery` (since 1.2); a plugin of 1.4 or later emits
    /// `*const ProjectUsageExt` (which begins with the `ProjectUsage`).
    pub usage: Option<Method<RunQuery<'static>>>,
    /// [`crate::Storage::events`]: emits one `*const EventPage` for a
    /// `*const EventQuery`, or fails with `NOT_FOUND` for an unknown run
    /// (since 1.3).
    pub stored_events: Option<Method<EventQuery<'static>>>,
    /// Emits one `*const DeleteReport` for a `*const DeleteRequest`
    /// (since 1.3).
    pub delete_runs: Option<Method<DeleteRequest<'static>>>,
    /// Emits one `*const ExpireReport` for a `*const ExpireRequest`
    /// (since 1.3).
    pub expire: Option<Method<ExpireRequest>>,
}

/// A query for a run's stored events (see [`crate::EventQuery`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EventQuery<'a> {
    /// The run.
    pub run_id: Str<'a>,
    /// Only types equal to this or starting with it plus `.`, when given.
    pub type_prefix: Str<'a>,
    /// Only events of this unit, when given.
    pub unit: Str<'a>,
    /// Only events with a greater sequence number, when given.
    pub after_seq: Opt<u64>,
    /// At most this many events.
    pub limit: u32,
}

/// One stored event (see [`crate::StoredEvent`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    /// Sequence number within the run, from 1, contiguous.
    pub seq: u64,
    /// When it happened.
    pub time: Timestamp,
    /// Event type, e.g. `unit.started`.
    pub kind: Str<'a>,
    /// Unit, when any.
    pub unit: Str<'a>,
    /// Task number, when any.
    pub task: Opt<i64>,
    /// Pull-request number, when any.
    pub pr: Opt<i64>,
    /// Payload as JSON text, when any.
    pub payload: Str<'a>,
    /// Error message, when any.
    pub error: Str<'a>,
}

/// One page of stored events (see [`crate::EventPage`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EventPage<'a> {
    /// The events, in sequence order.
    pub events: Slice<'a, StoredEvent<'a>>,
    /// Non-zero when more events match after the last one.
    pub has_more: u8,
    /// How many events match in all, when known.
    pub total: Opt<u64>,
}

/// Runs to delete (see [`crate::Storage::delete_runs`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DeleteRequest<'a> {
    /// The run ids.
    pub runs: Slice<'a, Str<'a>>,
}

/// A deleted run (see [`crate::DeletedRun`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DeletedRun<'a> {
    /// The run id.
    pub run_id: Str<'a>,
    /// Bytes freed by deleting it.
    pub bytes_freed: u64,
}

/// A run not deleted, and why (see [`crate::RefusedDeletion`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RefusedDeletion<'a> {
    /// The run id.
    pub run_id: Str<'a>,
    /// Why it was not deleted.
    pub reason: Str<'a>,
}

/// What a deletion did (see [`crate::DeleteReport`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DeleteReport<'a> {
    /// The runs deleted.
    pub deleted: Slice<'a, DeletedRun<'a>>,
    /// The runs not deleted.
    pub refused: Slice<'a, RefusedDeletion<'a>>,
    /// Bytes freed in all.
    pub bytes_freed: u64,
}

/// A history-retention request (see [`crate::ExpireRequest`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ExpireRequest {
    /// Runs that completed before this go.
    pub cutoff: Timestamp,
    /// Non-zero: report what would go, delete nothing.
    pub dry_run: u8,
}

/// What expiry did (see [`crate::ExpireReport`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ExpireReport<'a> {
    /// Runs deleted (or that would be).
    pub runs: u64,
    /// Events deleted (or that would be).
    pub events: u64,
    /// Bytes freed (or that would be).
    pub bytes_freed: u64,
    /// The runs' ids.
    pub run_ids: Slice<'a, Str<'a>>,
}

/// Disk usage of one project (see [`crate::ProjectUsage`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProjectUsage<'a> {
    /// Project key.
    pub project: Str<'a>,
    /// Number of runs.
    pub runs: u64,
    /// Apparent bytes of all runs.
    pub runs_bytes: u64,
    /// Allocated bytes of all runs.
    pub runs_allocated_bytes: u64,
    /// Apparent bytes of the project's cache (otto: `.cache`).
    pub cache_bytes: u64,
    /// Number of cache files.
    pub cache_files: u64,
    /// Apparent bytes of cache files no run references.
    pub orphaned_cache_bytes: u64,
    /// Number of cache files no run references.
    pub orphaned_cache_files: u64,
    /// Apparent bytes of everything else in the project directory.
    pub other_bytes: u64,
    /// The oldest run's start, when there are runs.
    pub oldest_run: Opt<Timestamp>,
}

/// What a plugin of ABI 1.4 or later emits for [`StorageTable::usage`]:
/// the 1.2 item, then what was appended (a pointer to it is also a valid
/// pointer to its [`ProjectUsage`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProjectUsageExt<'a> {
    /// The 1.2 figures.
    pub base: ProjectUsage<'a>,
    /// Allocated bytes of the whole project (`du -sB1`: runs, cache and
    /// the rest), when measured.
    pub allocated_bytes: Opt<u64>,
}

/// Status detection.
#[repr(C)]
#[derive(Debug)]
pub struct StatusTable {
    /// `size_of::<StatusTable>()` as the plugin compiled it.
    pub size: u32,
    /// Required. Emits one `*const StatusVerdict` for a `*const Run`.
    pub detect: Option<Method<Run<'static>>>,
    /// Emits one `*const RunDetails`: the given `*const RunDetails` with the
    /// run's status, status source and end time and every task's status,
    /// exit code and duration filled in where known (since 1.2).
    pub detect_details: Option<Method<RunDetails<'static>>>,
}

/// Retention.
#[repr(C)]
#[derive(Debug)]
pub struct RetentionTable {
    /// `size_of::<RetentionTable>()` as the plugin compiled it.
    pub size: u32,
    /// Required. Emits one `*const Decision` per run of a
    /// `*const RetentionInput`.
    pub decide: Option<Method<RetentionInput<'static>>>,
}

/// Reporting.
#[repr(C)]
#[derive(Debug)]
pub struct ReporterTable {
    /// `size_of::<ReporterTable>()` as the plugin compiled it.
    pub size: u32,
    /// Required. Emits the rendering of a `*const Document` as one or more
    /// `*const Str` chunks, concatenated by the host — which may write each
    /// out as it comes, so fail before the first chunk (after it, the
    /// host cannot fall back to another reporter).
    pub render: Option<Method<Document<'static>>>,
}

/// Reads an entry of a size-prefixed table only when the table, as the
/// plugin compiled it, is long enough to contain it.
///
/// `offset_end` is `offset_of!(Table, field) + size_of::<FieldType>()`.
pub fn entry_present(declared_size: u32, offset_end: usize) -> bool {
    declared_size as usize >= offset_end
}

/// `offset_of!(T, f) + size_of_val(f)`: the bytes a table must declare to
/// contain the entry `f`.
#[macro_export]
#[doc(hidden)]
macro_rules! __entry_end {
    ($table:ty, $field:ident) => {
        ::std::mem::offset_of!($table, $field)
            + ::std::mem::size_of::<Option<unsafe extern "C" fn()>>()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_loads_older_minors_of_its_major_only() {
        let host = AbiVersion { major: 1, minor: 1 };
        assert!(host.can_load(AbiVersion { major: 1, minor: 0 }));
        assert!(host.can_load(AbiVersion { major: 1, minor: 1 }));
        assert!(!host.can_load(AbiVersion { major: 1, minor: 2 }));
        assert!(ABI_VERSION.can_load(AbiVersion { major: 1, minor: 2 }));
        assert!(!ABI_VERSION.can_load(AbiVersion {
            major: 1,
            minor: ABI_VERSION.minor + 1
        }));
        assert!(!host.can_load(AbiVersion { major: 2, minor: 0 }));
        assert!(!host.can_load(AbiVersion { major: 0, minor: 9 }));
    }

    #[test]
    fn the_batch_entry_lies_beyond_a_1_0_lifecycle_table() {
        let v1_0_size = std::mem::offset_of!(LifecycleTable, events) as u32;
        assert!(!entry_present(
            v1_0_size,
            __entry_end!(LifecycleTable, events)
        ));
        assert!(entry_present(
            v1_0_size,
            __entry_end!(LifecycleTable, run_complete)
        ));
        let full = std::mem::size_of::<LifecycleTable>() as u32;
        assert!(entry_present(full, __entry_end!(LifecycleTable, events)));
    }

    #[test]
    fn the_1_3_entries_lie_beyond_1_2_tables() {
        let lifecycle_1_2 = std::mem::offset_of!(LifecycleTable, run_stop) as u32;
        assert!(entry_present(
            lifecycle_1_2,
            __entry_end!(LifecycleTable, events)
        ));
        for end in [
            __entry_end!(LifecycleTable, run_stop),
            __entry_end!(LifecycleTable, run_resume),
        ] {
            assert!(!entry_present(lifecycle_1_2, end));
            assert!(entry_present(
                std::mem::size_of::<LifecycleTable>() as u32,
                end
            ));
        }
        let storage_1_2 = std::mem::offset_of!(StorageTable, stored_events) as u32;
        assert!(entry_present(
            storage_1_2,
            __entry_end!(StorageTable, usage)
        ));
        for end in [
            __entry_end!(StorageTable, stored_events),
            __entry_end!(StorageTable, delete_runs),
            __entry_end!(StorageTable, expire),
        ] {
            assert!(!entry_present(storage_1_2, end));
            assert!(entry_present(
                std::mem::size_of::<StorageTable>() as u32,
                end
            ));
        }
        // Appended in order: nothing of 1.0-1.2 moved.
        assert!(
            std::mem::offset_of!(LifecycleTable, run_stop)
                < std::mem::offset_of!(LifecycleTable, run_resume)
        );
        assert!(
            std::mem::offset_of!(StorageTable, stored_events)
                < std::mem::offset_of!(StorageTable, delete_runs)
        );
        assert!(
            std::mem::offset_of!(StorageTable, delete_runs)
                < std::mem::offset_of!(StorageTable, expire)
        );
    }

    #[test]
    fn absent_and_empty_strings_differ() {
        let none = Str::NONE;
        let empty = Str::new("");
        assert!(none.is_none());
        assert!(!empty.is_none());
        // SAFETY: both built from live strings above.
        unsafe {
            assert_eq!(none.as_opt_unchecked(), None);
            assert_eq!(empty.as_opt_unchecked(), Some(""));
        }
    }
}
