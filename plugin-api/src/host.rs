//! The host side of the ABI: safe handles over a plugin's declaration.
//!
//! The otto-hooks runtime uses this module for every call, to built-in and
//! loaded plugins alike; other Rust hosts (an orchestrator embedding
//! plugins, the conformance suite) can use it too. Finding, trusting and
//! loading library files is the runtime's registry's job; this module starts
//! from a [`PluginModule`] already in memory.
//!
//! Everything a plugin passes out is validated here (UTF-8, known codes,
//! table sizes); a plugin that panics is disabled for good.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::ptr::addr_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::abi::{
    self, ABI_VERSION, AbiVersion, CallStatus, CreateArgs, ErrorCode, InstancePtr, KindCode,
    LifecycleTable, MAGIC, Method, ModuleHeader, Out, PluginDecl, PluginModule, ReporterTable,
    RetentionTable, Slice, StatusTable, StorageTable, Str,
};
use crate::model::convert;
use crate::{
    Decision, DeleteReport, Document, ErrorKind, Event, EventPage, EventQuery, ExpireReport,
    ExpireRequest, HookContext, PluginKind, ProjectUsage, RetentionInput, Run, RunDetails,
    RunQuery, RunResult, RunResume, RunStart, RunStatus, RunStop, StatusVerdict,
};

/// The ABI that appended `run_stop`, `run_resume`, `stored_events`,
/// `delete_runs` and `expire`.
const ABI_1_3: AbiVersion = AbiVersion { major: 1, minor: 3 };

/// ABI 1.4: the task status `interrupted`, and `usage` items that carry
/// the project's allocated bytes.
const ABI_1_4: AbiVersion = AbiVersion { major: 1, minor: 4 };

/// A document as a reporter built for `abi` can read it: before ABI 1.4,
/// a task status `interrupted` is shown as `unknown` (that reporter's JSON
/// reader would refuse a name it does not know, failing the whole
/// document). `None` when the document needs no change.
fn document_for(abi: AbiVersion, doc: &Document<'_>) -> Option<String> {
    if abi >= ABI_1_4
        || doc.kind != crate::DocumentKind::RunInfo
        || !doc.json.contains("\"interrupted\"")
    {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(doc.json).ok()?;
    let tasks = value.get_mut("tasks")?.as_array_mut()?;
    let mut changed = false;
    for task in tasks {
        if let Some(status) = task.get_mut("status").filter(|s| *s == "interrupted") {
            *status = serde_json::Value::from(crate::TaskStatus::Unknown.as_str());
            changed = true;
        }
    }
    changed.then(|| value.to_string())
}

/// Why a module or a declaration was refused. One line, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Checks a module's header and returns its plugins.
///
/// # Safety
/// `module` must point at memory that stays readable for the rest of the
/// process (a library that is never unloaded, or a `static`) and that the
/// plugin initialised as a [`PluginModule`] of *some* ABI version: only the
/// frozen [`ModuleHeader`] is read before the version is checked.
pub unsafe fn open_module(module: *const PluginModule) -> Result<Vec<PluginHandle>, Refusal> {
    if module.is_null() {
        return Err(Refusal("the entry point returned a null module".into()));
    }
    // SAFETY: the header layout is frozen across versions; the caller
    // guarantees the pointer is live.
    let header: ModuleHeader = unsafe { addr_of!((*module).header).read_unaligned() };
    if header.magic != MAGIC {
        return Err(Refusal(
            "the entry point returned something that is not an otto-hooks module (bad magic)"
                .into(),
        ));
    }
    if !ABI_VERSION.can_load(header.abi) {
        let fix = if header.abi.major != ABI_VERSION.major {
            "rebuild the plugin against a plugin-api of the host's major version"
        } else {
            "upgrade otto-hooks, or rebuild the plugin against an older plugin-api"
        };
        return Err(Refusal(format!(
            "built for plugin ABI {}, this host supports {}.0 to {}: {fix}",
            header.abi, ABI_VERSION.major, ABI_VERSION
        )));
    }
    if (header.size as usize) < size_of::<PluginModule>() {
        return Err(Refusal(format!(
            "module header declares {} bytes, ABI {} needs {}",
            header.size,
            header.abi,
            size_of::<PluginModule>()
        )));
    }
    // SAFETY: the version and size checks above make the full 1.x module
    // layout valid to read.
    let decls = unsafe { (*module).plugins.as_slice() };
    if decls.is_empty() {
        return Err(Refusal("the module declares no plugins".into()));
    }
    decls
        .iter()
        .enumerate()
        .map(|(i, decl)| {
            // SAFETY: declarations of a checked module live as long as it.
            unsafe { PluginHandle::from_decl(decl, header.abi) }
                .map_err(|e| Refusal(format!("plugin #{} of the module: {e}", i + 1)))
        })
        .collect()
}

/// Reads entry `$field` of table `$ptr: *const $table` only when the table's
/// declared size covers it.
macro_rules! entry {
    ($ptr:expr, $table:ty, $field:ident) => {{
        let ptr: *const $table = $ptr;
        // SAFETY: `size` is the first field of every table; the entry is read
        // only when the declared size covers it.
        unsafe {
            let size = addr_of!((*ptr).size).read();
            let end = offset_of!($table, $field) + size_of::<Option<unsafe extern "C" fn()>>();
            if size as usize >= end {
                addr_of!((*ptr).$field).read()
            } else {
                None
            }
        }
    }};
}

type EventFn = unsafe extern "C" fn(
    InstancePtr,
    *const abi::HookContext<'_>,
    *const abi::Event<'_>,
    *const Out,
) -> CallStatus;
type EventsFn = unsafe extern "C" fn(
    InstancePtr,
    *const abi::HookContext<'_>,
    Slice<'_, abi::Event<'_>>,
    *const Out,
) -> CallStatus;

/// The entries a plugin offers, copied out of its tables after the size checks.
#[derive(Clone, Copy, Default)]
struct Entries {
    run_start: Option<Method<abi::RunStart<'static>>>,
    event: Option<EventFn>,
    run_complete: Option<Method<abi::RunResult<'static>>>,
    events: Option<EventsFn>,
    run_stop: Option<Method<abi::RunStop<'static>>>,
    run_resume: Option<Method<abi::RunResume<'static>>>,
    list_runs: Option<Method<abi::RunQuery<'static>>>,
    run_details: Option<Method<abi::HookContext<'static>>>,
    usage: Option<Method<abi::RunQuery<'static>>>,
    stored_events: Option<Method<abi::EventQuery<'static>>>,
    delete_runs: Option<Method<abi::DeleteRequest<'static>>>,
    expire: Option<Method<abi::ExpireRequest>>,
    detect: Option<Method<abi::Run<'static>>>,
    detect_details: Option<Method<abi::RunDetails<'static>>>,
    decide: Option<Method<abi::RetentionInput<'static>>>,
    render: Option<Method<abi::Document<'static>>>,
}

/// A plugin declaration that passed every check: what `plugins list`
/// shows, and what instances are created from.
#[derive(Clone)]
pub struct PluginHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    decl: &'static PluginDecl,
    abi: AbiVersion,
    kind: PluginKind,
    name: String,
    version: String,
    description: String,
    entries: Entries,
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("kind", &self.inner.kind)
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("abi", &self.inner.abi)
            .finish()
    }
}

impl PluginHandle {
    /// Checks one declaration.
    ///
    /// # Safety
    /// `decl` must be a declaration of a module that passed
    /// [`open_module`]'s checks (ABI `abi`).
    unsafe fn from_decl(decl: &'static PluginDecl, abi: AbiVersion) -> Result<Self, String> {
        let min_decl = offset_of!(PluginDecl, methods) + size_of::<*const c_void>();
        if (decl.size as usize) < min_decl {
            return Err(format!(
                "declaration is {} bytes, at least {min_decl} needed",
                decl.size
            ));
        }
        // SAFETY: strings of a live declaration.
        let (name, version, description) = unsafe {
            (
                convert::req(decl.name, "name")?,
                convert::req(decl.version, "version")?,
                convert::opt(decl.description, "description")?.unwrap_or_default(),
            )
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(format!(
                "name `{name}` is not valid (lowercase letters, digits, `-` and `_` only)"
            ));
        }
        let kind = PluginKind::from_code(decl.kind.0);
        if kind == PluginKind::Unknown {
            return Err(format!(
                "`{name}` declares kind code {}, which this host does not know",
                decl.kind.0
            ));
        }
        let mut entries = Entries::default();
        if !decl.lifecycle.is_null() {
            let t = decl.lifecycle;
            entries.run_start = entry!(t, LifecycleTable, run_start);
            entries.event = entry!(t, LifecycleTable, event);
            entries.run_complete = entry!(t, LifecycleTable, run_complete);
            entries.events = entry!(t, LifecycleTable, events);
            entries.run_stop = entry!(t, LifecycleTable, run_stop);
            entries.run_resume = entry!(t, LifecycleTable, run_resume);
        }
        let methods = decl.methods;
        if methods.is_null() {
            return Err(format!("{kind} plugin `{name}` has no {kind} table"));
        }
        let (required, present) = match decl.kind {
            KindCode::STORAGE => {
                let t = methods as *const StorageTable;
                entries.list_runs = entry!(t, StorageTable, list_runs);
                entries.run_details = entry!(t, StorageTable, run_details);
                entries.usage = entry!(t, StorageTable, usage);
                entries.stored_events = entry!(t, StorageTable, stored_events);
                entries.delete_runs = entry!(t, StorageTable, delete_runs);
                entries.expire = entry!(t, StorageTable, expire);
                ("list_runs", entries.list_runs.is_some())
            }
            KindCode::STATUS => {
                let t = methods as *const StatusTable;
                entries.detect = entry!(t, StatusTable, detect);
                entries.detect_details = entry!(t, StatusTable, detect_details);
                ("detect", entries.detect.is_some())
            }
            KindCode::RETENTION => {
                entries.decide = entry!(methods as *const RetentionTable, RetentionTable, decide);
                ("decide", entries.decide.is_some())
            }
            _ => {
                entries.render = entry!(methods as *const ReporterTable, ReporterTable, render);
                ("render", entries.render.is_some())
            }
        };
        if !present {
            return Err(format!(
                "{kind} plugin `{name}` lacks its required entry `{required}`"
            ));
        }
        Ok(PluginHandle {
            inner: Arc::new(HandleInner {
                decl,
                abi,
                kind,
                name: name.to_owned(),
                version: version.to_owned(),
                description,
                entries,
            }),
        })
    }

    /// The plugin's kind.
    pub fn kind(&self) -> PluginKind {
        self.inner.kind
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The plugin's own version.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// Its one-sentence description.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// The ABI it was built for.
    pub fn abi(&self) -> AbiVersion {
        self.inner.abi
    }

    /// The names of the entries it offers, in table order (`run_start`,
    /// `event`, `run_complete`, `events`, `run_stop`, `run_resume`, then its
    /// kind's). The storage entry behind [`crate::Storage::events`] is
    /// `stored_events`, as in [`StorageTable`].
    pub fn offers(&self) -> Vec<&'static str> {
        let e = &self.inner.entries;
        [
            ("run_start", e.run_start.is_some()),
            ("event", e.event.is_some()),
            ("run_complete", e.run_complete.is_some()),
            ("events", e.events.is_some()),
            ("run_stop", e.run_stop.is_some()),
            ("run_resume", e.run_resume.is_some()),
            ("list_runs", e.list_runs.is_some()),
            ("run_details", e.run_details.is_some()),
            ("usage", e.usage.is_some()),
            ("stored_events", e.stored_events.is_some()),
            ("delete_runs", e.delete_runs.is_some()),
            ("expire", e.expire.is_some()),
            ("detect", e.detect.is_some()),
            ("detect_details", e.detect_details.is_some()),
            ("decide", e.decide.is_some()),
            ("render", e.render.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, offered)| offered.then_some(name))
        .collect()
    }

    /// Creates an instance with `settings` (a TOML table).
    ///
    /// `instance` names it in messages (`retention.weekly`); `data_dir` is
    /// where it may keep state.
    pub fn instantiate(
        &self,
        instance: &str,
        settings: &toml::Table,
        data_dir: &str,
    ) -> Result<Instance, CallError> {
        let label = format!("{} `{}`", self.inner.kind, self.inner.name);
        let config_toml = toml::to_string(settings).map_err(|e| CallError {
            plugin: label.clone(),
            kind: ErrorKind::Invalid,
            message: format!("settings cannot be passed on: {e}"),
        })?;
        let args = CreateArgs {
            size: size_of::<CreateArgs>() as u32,
            instance: Str::new(instance),
            config_toml: Str::new(&config_toml),
            data_dir: Str::new(data_dir),
        };
        let mut collector = Collector::<()>::new(|_| Ok(()));
        // SAFETY: a checked declaration; `args` and `collector` outlive the call.
        let ptr = unsafe { (self.inner.decl.create)(&args, &collector.out()) };
        if ptr.is_null() {
            let (kind, message) = collector.error.take().unwrap_or((
                ErrorKind::Failed,
                "create returned no instance and no error".into(),
            ));
            return Err(CallError {
                plugin: label,
                kind,
                message,
            });
        }
        Ok(Instance {
            handle: self.clone(),
            label,
            instance_name: instance.to_owned(),
            ptr,
            disabled: AtomicBool::new(false),
            disabled_reason: OnceLock::new(),
        })
    }
}

/// A failed call: which plugin, what kind of failure, and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// `kind \`name\``, e.g. ``reporter `table` ``.
    pub plugin: String,
    /// The category.
    pub kind: ErrorKind,
    /// The plugin's message.
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ErrorKind::Panic => write!(f, "{} panicked: {}", self.plugin, self.message),
            _ => write!(f, "{}: {}", self.plugin, self.message),
        }
    }
}

impl std::error::Error for CallError {}

/// Collects what a plugin emits during one call — or, with a sink, hands
/// each item on as it comes.
struct Collector<'s, T> {
    items: Vec<T>,
    sink: Option<&'s mut dyn FnMut(T)>,
    /// A panic of the sink (host code), caught in the emit callback — it
    /// may not unwind through the plugin — and resumed once the plugin
    /// returns.
    sink_panic: Option<Box<dyn std::any::Any + Send>>,
    convert: fn(*const c_void) -> Result<T, String>,
    bad_item: Option<String>,
    error: Option<(ErrorKind, String)>,
}

impl<'s, T> Collector<'s, T> {
    fn new(convert: fn(*const c_void) -> Result<T, String>) -> Self {
        Collector {
            items: Vec::new(),
            sink: None,
            sink_panic: None,
            convert,
            bad_item: None,
            error: None,
        }
    }

    fn out(&mut self) -> Out {
        Out {
            ctx: self as *mut Self as *mut c_void,
            emit: emit_callback::<T>,
            error: error_callback::<T>,
        }
    }
}

unsafe extern "C" fn emit_callback<T>(ctx: *mut c_void, item: *const c_void) {
    // SAFETY: `ctx` is the collector of the current call.
    let collector = unsafe { &mut *(ctx as *mut Collector<'_, T>) };
    // After a bad item or a panicking sink the call fails: nothing more is
    // handed on (a stream with a hole in it is worse than none).
    if collector.bad_item.is_some() || collector.sink_panic.is_some() {
        return;
    }
    if item.is_null() {
        collector.bad_item = Some("emitted a null item".into());
        return;
    }
    match (collector.convert)(item) {
        Ok(v) => match collector.sink.as_mut() {
            Some(sink) => {
                let handed = crate::export::as_host(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(v)))
                });
                if let Err(payload) = handed {
                    collector.sink_panic = Some(payload);
                }
            }
            None => collector.items.push(v),
        },
        Err(e) => collector.bad_item = Some(e),
    }
}

unsafe extern "C" fn error_callback<T>(ctx: *mut c_void, code: ErrorCode, message: Str<'_>) {
    // SAFETY: `ctx` is the collector of the current call; `message` is live.
    let collector = unsafe { &mut *(ctx as *mut Collector<'_, T>) };
    let text = match unsafe { message.to_str() } {
        Ok(Some(s)) => one_line(s),
        Ok(None) => "(no message)".to_owned(),
        Err(_) => "(message is not UTF-8)".to_owned(),
    };
    collector
        .error
        .get_or_insert((ErrorKind::from_code(code), text));
}

fn one_line(s: &str) -> String {
    // A carriage return (or any line break) would let a plugin's message
    // overwrite what the terminal shows before it, like a newline splits it.
    if s.contains(|c: char| {
        matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    }) {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        s.to_owned()
    }
}

/// One configured plugin instance. Every call goes through its ABI table.
///
/// After a panic the instance is *disabled*: every later call fails at once
/// with [`ErrorKind::Panic`] and names the first panic.
pub struct Instance {
    handle: PluginHandle,
    label: String,
    instance_name: String,
    ptr: InstancePtr,
    disabled: AtomicBool,
    disabled_reason: OnceLock<String>,
}

// SAFETY: the ABI requires plugin instances to be callable from any thread
// (the Rust SDK enforces `Send + Sync` on plugin types).
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.label)
            .field("instance", &self.instance_name)
            .field("disabled", &self.disabled_reason())
            .finish()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from this declaration's `create`; dropped once.
        unsafe { (self.handle.inner.decl.destroy)(self.ptr) };
    }
}

impl Instance {
    /// The plugin this is an instance of.
    pub fn handle(&self) -> &PluginHandle {
        &self.handle
    }

    /// The instance's name in the configuration.
    pub fn instance_name(&self) -> &str {
        &self.instance_name
    }

    /// ``kind `name` `` for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Why the instance is disabled, if it is.
    pub fn disabled_reason(&self) -> Option<&str> {
        self.disabled_reason.get().map(String::as_str)
    }

    fn fail(&self, kind: ErrorKind, message: String) -> CallError {
        CallError {
            plugin: self.label.clone(),
            kind,
            message,
        }
    }

    /// Makes one call: checks the disabled flag, runs `call` with a fresh
    /// collector, and turns the status into a result.
    fn call<T>(
        &self,
        convert: fn(*const c_void) -> Result<T, String>,
        call: impl FnOnce(InstancePtr, &Out) -> CallStatus,
    ) -> Result<Vec<T>, CallError> {
        self.call_into(Collector::new(convert), call)
    }

    /// [`Instance::call`] with a collector made by the caller (one with a
    /// sink, say).
    fn call_into<T>(
        &self,
        mut collector: Collector<'_, T>,
        call: impl FnOnce(InstancePtr, &Out) -> CallStatus,
    ) -> Result<Vec<T>, CallError> {
        if self.disabled.load(Ordering::Acquire) {
            let first = self.disabled_reason().unwrap_or("an earlier panic");
            return Err(self.fail(
                ErrorKind::Panic,
                format!("disabled after an earlier panic ({first})"),
            ));
        }
        let out = collector.out();
        let status = call(self.ptr, &out);
        if let Some(payload) = collector.sink_panic.take() {
            std::panic::resume_unwind(payload);
        }
        match status {
            CallStatus::OK => match collector.bad_item {
                Some(e) => Err(self.fail(ErrorKind::Failed, format!("returned a bad result: {e}"))),
                None => Ok(collector.items),
            },
            CallStatus::PANIC => {
                let message = collector
                    .error
                    .map(|(_, m)| m)
                    .unwrap_or_else(|| "no message".into());
                let _ = self.disabled_reason.set(message.clone());
                self.disabled.store(true, Ordering::Release);
                Err(self.fail(ErrorKind::Panic, format!("{message} (instance disabled)")))
            }
            _ => {
                let (kind, message) = collector
                    .error
                    .unwrap_or((ErrorKind::Failed, "failed without a message".into()));
                // A plugin may not forge a panic with an error code.
                let kind = if kind == ErrorKind::Panic {
                    ErrorKind::Failed
                } else {
                    kind
                };
                Err(self.fail(kind, message))
            }
        }
    }

    fn unsupported(&self, what: &str) -> CallError {
        self.fail(ErrorKind::Unsupported, format!("does not offer `{what}`"))
    }

    /// `unsupported` for an entry appended in ABI `since`: names the ABI the
    /// plugin was built for when that is older.
    fn unsupported_since(&self, what: &str, since: AbiVersion) -> CallError {
        let abi = self.handle.abi();
        if abi < since {
            self.fail(
                ErrorKind::Unsupported,
                format!("built for plugin ABI {abi}, does not offer `{what}` (ABI {since})"),
            )
        } else {
            self.unsupported(what)
        }
    }

    /// Calls `run_start`; a plugin that does not offer it succeeds.
    pub fn run_start(&self, start: &RunStart<'_>) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.run_start else {
            return Ok(());
        };
        let view = abi::RunStart {
            project: Str::new(start.project),
            run_id: Str::new(start.run_id),
            started_at: start.started_at,
            repo_path: Str::from_opt(start.repo_path),
            parallelism: abi::Opt::new(start.parallelism),
            total_units: abi::Opt::new(start.total_units),
            tasks_dir: Str::from_opt(start.tasks_dir),
            dry_run: start.dry_run as u8,
        };
        // SAFETY: checked entry; `view` outlives the call.
        self.call(ignore, |p, out| unsafe {
            f(p, (&view as *const abi::RunStart<'_>).cast(), out)
        })
        .map(drop)
    }

    /// Calls `event`; a plugin that does not offer it succeeds.
    pub fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.event else {
            return Ok(());
        };
        let ctx = context_view(ctx);
        let view = convert::event_view(event);
        // SAFETY: checked entry; the views outlive the call.
        self.call(ignore, |p, out| unsafe { f(p, &ctx, &view, out) })
            .map(drop)
    }

    /// Delivers a batch of events: one `events` call when the plugin offers
    /// it (ABI 1.1), else one `event` call each, stopping at the first error.
    pub fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.events else {
            return events.iter().try_for_each(|e| self.event(ctx, e));
        };
        let ctx = context_view(ctx);
        let views: Vec<abi::Event<'_>> = events.iter().map(convert::event_view).collect();
        // SAFETY: checked entry; the views outlive the call.
        self.call(ignore, |p, out| unsafe {
            f(p, &ctx, Slice::new(&views), out)
        })
        .map(drop)
    }

    /// Whether the plugin takes batches in one call (ABI 1.1 `events`).
    pub fn offers_batches(&self) -> bool {
        self.handle.inner.entries.events.is_some()
    }

    /// Calls `run_complete`; a plugin that does not offer it succeeds.
    pub fn run_complete(&self, result: &RunResult<'_>) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.run_complete else {
            return Ok(());
        };
        let view = abi::RunResult {
            project: Str::new(result.project),
            run_id: Str::new(result.run_id),
            ended_at: result.ended_at,
            status: result.status.code(),
            completed_units: abi::Opt::new(result.completed_units),
            failed_units: abi::Opt::new(result.failed_units),
            blocked_units: abi::Opt::new(result.blocked_units),
            error: Str::from_opt(result.error),
        };
        // SAFETY: checked entry; `view` outlives the call.
        self.call(ignore, |p, out| unsafe {
            f(p, (&view as *const abi::RunResult<'_>).cast(), out)
        })
        .map(drop)
    }

    /// Calls `run_stop` (ABI 1.3); a plugin that does not offer it (one
    /// built for ABI 1.0 to 1.2) succeeds without a call.
    pub fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.run_stop else {
            return Ok(());
        };
        let view = abi::RunStop {
            project: Str::new(stop.project),
            run_id: Str::new(stop.run_id),
            at: stop.at,
            reason: Str::from_opt(stop.reason),
        };
        // SAFETY: checked entry; `view` outlives the call.
        self.call(ignore, |p, out| unsafe {
            f(p, (&view as *const abi::RunStop<'_>).cast(), out)
        })
        .map(drop)
    }

    /// Calls `run_resume` (ABI 1.3); a plugin that does not offer it (one
    /// built for ABI 1.0 to 1.2) succeeds without a call.
    pub fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.run_resume else {
            return Ok(());
        };
        let view = abi::RunResume {
            project: Str::new(resume.project),
            run_id: Str::new(resume.run_id),
            at: resume.at,
        };
        // SAFETY: checked entry; `view` outlives the call.
        self.call(ignore, |p, out| unsafe {
            f(p, (&view as *const abi::RunResume<'_>).cast(), out)
        })
        .map(drop)
    }

    /// Storage: lists runs.
    pub fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, CallError> {
        let Some(f) = self.handle.inner.entries.list_runs else {
            return Err(self.unsupported("list_runs"));
        };
        let view = abi::RunQuery {
            project: Str::from_opt(query.project),
            limit: abi::Opt::new(query.limit),
        };
        // SAFETY: checked entry; `view` outlives the call; items are `abi::Run`.
        self.call(run_item, |p, out| unsafe {
            f(p, (&view as *const abi::RunQuery<'_>).cast(), out)
        })
    }

    /// Storage: the runs matching `query`, newest first, each handed to
    /// `sink` as the plugin emits it — a long listing is never held whole
    /// unless `sink` keeps it. On an error, `sink` may have had some runs
    /// already.
    pub fn list_runs_each(
        &self,
        query: &RunQuery<'_>,
        sink: &mut dyn FnMut(Run),
    ) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.list_runs else {
            return Err(self.unsupported("list_runs"));
        };
        let view = abi::RunQuery {
            project: Str::from_opt(query.project),
            limit: abi::Opt::new(query.limit),
        };
        let mut collector = Collector::new(run_item);
        collector.sink = Some(sink);
        // SAFETY: checked entry; `view` outlives the call; items are `abi::Run`.
        self.call_into(collector, |p, out| unsafe {
            f(p, (&view as *const abi::RunQuery<'_>).cast(), out)
        })
        .map(drop)
    }

    /// Storage: one run with its tasks.
    pub fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, CallError> {
        let Some(f) = self.handle.inner.entries.run_details else {
            return Err(self.unsupported("run_details"));
        };
        let view = context_view(run);
        // SAFETY: checked entry; `view` outlives the call; items are `abi::RunDetails`.
        let items = self.call(details_item, |p, out| unsafe {
            f(p, (&view as *const abi::HookContext<'_>).cast(), out)
        })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no run details".into()))
    }

    /// Storage: disk usage per project (ABI 1.2).
    pub fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, CallError> {
        let Some(f) = self.handle.inner.entries.usage else {
            return Err(self.unsupported("usage"));
        };
        let view = abi::RunQuery {
            project: Str::from_opt(query.project),
            limit: abi::Opt::new(query.limit),
        };
        // A plugin of 1.4 or later emits the longer item.
        let item = if self.handle.abi() >= ABI_1_4 {
            usage_ext_item
        } else {
            usage_item
        };
        // SAFETY: checked entry; `view` outlives the call; items are usage views.
        self.call(item, |p, out| unsafe {
            f(p, (&view as *const abi::RunQuery<'_>).cast(), out)
        })
    }

    /// Storage: a page of a run's stored events ([`crate::Storage::events`],
    /// ABI 1.3; named apart from the lifecycle batch [`Instance::events`]).
    /// A plugin built before 1.3 answers `unsupported`.
    pub fn stored_events(&self, query: &EventQuery<'_>) -> Result<EventPage, CallError> {
        let Some(f) = self.handle.inner.entries.stored_events else {
            return Err(self.unsupported_since("stored_events", ABI_1_3));
        };
        let view = abi::EventQuery {
            run_id: Str::new(query.run_id),
            type_prefix: Str::from_opt(query.type_prefix),
            unit: Str::from_opt(query.unit),
            after_seq: abi::Opt::new(query.after_seq),
            limit: query.limit,
        };
        // SAFETY: checked entry; `view` outlives the call; items are pages.
        let items = self.call(page_item, |p, out| unsafe {
            f(p, (&view as *const abi::EventQuery<'_>).cast(), out)
        })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no page of events".into()))
    }

    /// Storage: deletes the named runs (ABI 1.3). A plugin built before 1.3
    /// answers `unsupported`.
    pub fn delete_runs(&self, runs: &[&str]) -> Result<DeleteReport, CallError> {
        let Some(f) = self.handle.inner.entries.delete_runs else {
            return Err(self.unsupported_since("delete_runs", ABI_1_3));
        };
        let ids: Vec<Str<'_>> = runs.iter().map(|r| Str::new(r)).collect();
        let view = abi::DeleteRequest {
            runs: Slice::new(&ids),
        };
        // SAFETY: checked entry; the views outlive the call; items are reports.
        let items = self.call(delete_item, |p, out| unsafe {
            f(p, (&view as *const abi::DeleteRequest<'_>).cast(), out)
        })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no deletion report".into()))
    }

    /// Storage: history retention by age (ABI 1.3). A plugin built before
    /// 1.3 answers `unsupported`.
    pub fn expire(&self, request: &ExpireRequest) -> Result<ExpireReport, CallError> {
        let Some(f) = self.handle.inner.entries.expire else {
            return Err(self.unsupported_since("expire", ABI_1_3));
        };
        let view = abi::ExpireRequest {
            cutoff: request.cutoff,
            dry_run: request.dry_run as u8,
        };
        // SAFETY: checked entry; `view` outlives the call; items are reports.
        let items = self.call(expire_item, |p, out| unsafe { f(p, &view, out) })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no expiry report".into()))
    }

    /// Status: decides a run's status.
    pub fn detect(&self, run: &Run) -> Result<StatusVerdict, CallError> {
        let Some(f) = self.handle.inner.entries.detect else {
            return Err(self.unsupported("detect"));
        };
        let attributes = convert::attributes_json(run);
        let view = convert::run_view(run, &attributes);
        // SAFETY: checked entry; `view` outlives the call; items are verdicts.
        let items = self.call(verdict_item, |p, out| unsafe {
            f(p, (&view as *const abi::Run<'_>).cast(), out)
        })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no status".into()))
    }

    /// Status: refines a run's details (ABI 1.2). A plugin built before 1.2
    /// gets the run's status from `detect` and leaves the tasks alone.
    pub fn detect_details(&self, details: &RunDetails) -> Result<RunDetails, CallError> {
        let Some(f) = self.handle.inner.entries.detect_details else {
            let verdict = self.detect(&details.run)?;
            let mut refined = details.clone();
            refined.run.status = verdict.status;
            refined.run.status_source = Some(verdict.source);
            return Ok(refined);
        };
        let attributes = convert::attributes_json(&details.run);
        let tasks: Vec<abi::Task<'_>> = details.tasks.iter().map(convert::task_view).collect();
        let view = abi::RunDetails {
            run: convert::run_view(&details.run, &attributes),
            tasks: Slice::new(&tasks),
        };
        // SAFETY: checked entry; the views outlive the call; items are details.
        let items = self.call(details_item, |p, out| unsafe {
            f(p, (&view as *const abi::RunDetails<'_>).cast(), out)
        })?;
        items
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Failed, "returned no run details".into()))
    }

    /// Retention: decides for every run of a group.
    pub fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, CallError> {
        let Some(f) = self.handle.inner.entries.decide else {
            return Err(self.unsupported("decide"));
        };
        let attributes: Vec<String> = input.runs.iter().map(convert::attributes_json).collect();
        let runs: Vec<abi::Run<'_>> = input
            .runs
            .iter()
            .zip(&attributes)
            .map(|(r, a)| convert::run_view(r, a))
            .collect();
        let view = abi::RetentionInput {
            group: Str::new(input.group),
            now: input.now,
            runs: Slice::new(&runs),
        };
        // SAFETY: checked entry; the views outlive the call; items are decisions.
        self.call(decision_item, |p, out| unsafe {
            f(p, (&view as *const abi::RetentionInput<'_>).cast(), out)
        })
    }

    /// Reporter: renders a document.
    pub fn render(&self, doc: &Document<'_>) -> Result<String, CallError> {
        let Some(f) = self.handle.inner.entries.render else {
            return Err(self.unsupported("render"));
        };
        let older = document_for(self.handle.abi(), doc);
        let view = abi::Document {
            kind: doc.kind.code(),
            json: Str::new(older.as_deref().unwrap_or(doc.json)),
        };
        // SAFETY: checked entry; `view` outlives the call; items are `Str`.
        let mut chunks = self.call(text_item, |p, out| unsafe {
            f(p, (&view as *const abi::Document<'_>).cast(), out)
        })?;
        // One chunk is returned as is: no second copy of what may be a
        // large document.
        Ok(if chunks.len() == 1 {
            chunks.pop().unwrap_or_default()
        } else {
            chunks.concat()
        })
    }

    /// Reporter: renders a document, handing the text to `sink` piece by
    /// piece as the plugin emits it, so that a large document's output is
    /// never held whole (a reporter that renders in pieces, as the built-in
    /// `json` does, never holds it either). On an error, `sink` may have
    /// had part of the text already.
    pub fn render_to(
        &self,
        doc: &Document<'_>,
        sink: &mut dyn FnMut(&str),
    ) -> Result<(), CallError> {
        let Some(f) = self.handle.inner.entries.render else {
            return Err(self.unsupported("render"));
        };
        let older = document_for(self.handle.abi(), doc);
        let view = abi::Document {
            kind: doc.kind.code(),
            json: Str::new(older.as_deref().unwrap_or(doc.json)),
        };
        /// A piece of rendered text, borrowed for the emit callback only.
        /// The 'static is a lie that never escapes: the one collector made
        /// with it has a sink, `forward`, which takes any lifetime and only
        /// hands the piece to `sink`, itself unable to keep it.
        fn text_piece(item: *const c_void) -> Result<&'static str, String> {
            // SAFETY: `render` emits `*const Str`, live during the callback.
            unsafe { convert::req(*(item as *const Str<'_>), "rendered text") }
        }
        let mut forward = |piece: &str| sink(piece);
        let mut collector: Collector<'_, &str> = Collector::new(text_piece);
        collector.sink = Some(&mut forward);
        // SAFETY: checked entry; `view` outlives the call; items are `Str`,
        // each read before the emit callback returns.
        self.call_into(collector, |p, out| unsafe {
            f(p, (&view as *const abi::Document<'_>).cast(), out)
        })
        .map(drop)
    }
}

fn context_view<'a>(ctx: &HookContext<'a>) -> abi::HookContext<'a> {
    abi::HookContext {
        project: Str::new(ctx.project),
        run_id: Str::new(ctx.run_id),
    }
}

fn ignore(_: *const c_void) -> Result<(), String> {
    Err("emitted a result from a hook that returns none".into())
}

fn run_item(item: *const c_void) -> Result<Run, String> {
    // SAFETY: `list_runs` emits `*const abi::Run`, live during the callback.
    unsafe { convert::run_from_view(&*(item as *const abi::Run<'_>)) }
}

fn details_item(item: *const c_void) -> Result<RunDetails, String> {
    // SAFETY: `run_details` emits `*const abi::RunDetails`.
    unsafe { convert::details_from_view(&*(item as *const abi::RunDetails<'_>)) }
}

fn usage_item(item: *const c_void) -> Result<ProjectUsage, String> {
    // SAFETY: `usage` emits `*const abi::ProjectUsage`.
    unsafe { convert::usage_from_view(&*(item as *const abi::ProjectUsage<'_>)) }
}

fn usage_ext_item(item: *const c_void) -> Result<ProjectUsage, String> {
    // SAFETY: `usage` of a plugin of ABI 1.4 or later emits
    // `*const abi::ProjectUsageExt`.
    unsafe { convert::usage_from_ext_view(&*(item as *const abi::ProjectUsageExt<'_>)) }
}

fn page_item(item: *const c_void) -> Result<EventPage, String> {
    // SAFETY: `stored_events` emits `*const abi::EventPage`.
    unsafe { convert::page_from_view(&*(item as *const abi::EventPage<'_>)) }
}

fn delete_item(item: *const c_void) -> Result<DeleteReport, String> {
    // SAFETY: `delete_runs` emits `*const abi::DeleteReport`.
    unsafe { convert::delete_report_from_view(&*(item as *const abi::DeleteReport<'_>)) }
}

fn expire_item(item: *const c_void) -> Result<ExpireReport, String> {
    // SAFETY: `expire` emits `*const abi::ExpireReport`.
    unsafe { convert::expire_report_from_view(&*(item as *const abi::ExpireReport<'_>)) }
}

fn verdict_item(item: *const c_void) -> Result<StatusVerdict, String> {
    // SAFETY: `detect` emits `*const abi::StatusVerdict`.
    unsafe {
        let v = &*(item as *const abi::StatusVerdict<'_>);
        Ok(StatusVerdict {
            status: RunStatus::from_code(v.status),
            source: convert::req(v.source, "status source")?.to_owned(),
        })
    }
}

fn decision_item(item: *const c_void) -> Result<Decision, String> {
    // SAFETY: `decide` emits `*const abi::Decision`.
    unsafe { convert::decision_from_view(&*(item as *const abi::Decision<'_>)) }
}

fn text_item(item: *const c_void) -> Result<String, String> {
    // SAFETY: `render` emits `*const Str`.
    unsafe { convert::req(*(item as *const Str<'_>), "rendered text").map(str::to_owned) }
}

/// The decoding of what a plugin hands the host through the `emit` and
/// `error` callbacks, for the fuzz targets in `fuzz/`. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// What a call made of `items` emitted, then `error` reported (when
    /// given), then returning `status` yields: the items decoded, shown with
    /// `Debug`, or the error's kind and one-line message.
    fn collect<T: std::fmt::Debug>(
        convert: fn(*const c_void) -> Result<T, String>,
        items: &[*const c_void],
        error: Option<(ErrorCode, Str<'_>)>,
        status: CallStatus,
    ) -> Result<Vec<String>, (ErrorKind, String)> {
        let mut collector = Collector::new(convert);
        let out = collector.out();
        for &item in items {
            // SAFETY: `out.ctx` is the live collector; the caller vouches
            // for the items.
            unsafe { (out.emit)(out.ctx, item) };
        }
        if let Some((code, message)) = error {
            // SAFETY: as above; the caller vouches for `message`.
            unsafe { (out.error)(out.ctx, code, message) };
        }
        match status {
            CallStatus::OK => match collector.bad_item {
                Some(e) => Err((ErrorKind::Failed, e)),
                None => Ok(collector.items.iter().map(|i| format!("{i:?}")).collect()),
            },
            _ => Err(collector
                .error
                .unwrap_or((ErrorKind::Failed, "failed without a message".into()))),
        }
    }

    /// `list_runs`' items.
    ///
    /// # Safety
    /// Every item is null or points at a live [`abi::Run`] whose strings are
    /// live (any bytes); `error`'s message is live.
    pub unsafe fn runs(
        items: &[*const abi::Run<'_>],
        error: Option<(ErrorCode, Str<'_>)>,
        status: CallStatus,
    ) -> Result<Vec<String>, (ErrorKind, String)> {
        let items: Vec<*const c_void> = items.iter().map(|&p| p.cast()).collect();
        collect(run_item, &items, error, status)
    }

    /// `detect`'s items.
    ///
    /// # Safety
    /// As [`runs`], of [`abi::StatusVerdict`]s.
    pub unsafe fn verdicts(
        items: &[*const abi::StatusVerdict<'_>],
        error: Option<(ErrorCode, Str<'_>)>,
        status: CallStatus,
    ) -> Result<Vec<String>, (ErrorKind, String)> {
        let items: Vec<*const c_void> = items.iter().map(|&p| p.cast()).collect();
        collect(verdict_item, &items, error, status)
    }

    /// `render`'s items.
    ///
    /// # Safety
    /// As [`runs`], of [`Str`]s.
    pub unsafe fn texts(
        items: &[*const Str<'_>],
        error: Option<(ErrorCode, Str<'_>)>,
        status: CallStatus,
    ) -> Result<Vec<String>, (ErrorKind, String)> {
        let items: Vec<*const c_void> = items.iter().map(|&p| p.cast()).collect();
        collect(text_item, &items, error, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `plugin_abi` fuzz target (the input is
    /// `plugin-api/tests/fuzz-regressions/plugin_abi-error-with-carriage-returns`):
    /// an error message of carriage returns reached the host as is.
    #[test]
    fn a_plugin_error_message_is_one_line_whatever_its_line_breaks() {
        // The fuzz input: flags, status, the error code (4 bytes), then the
        // message as a length byte and its bytes.
        let input =
            include_bytes!("../tests/fuzz-regressions/plugin_abi-error-with-carriage-returns");
        let len = usize::from(input[6]);
        let found = std::str::from_utf8(&input[7..7 + len]).unwrap();
        assert!(found.contains('\r'));
        let error = Some((ErrorCode(1), Str::new(found)));
        // SAFETY: no items; the message is a live `&str`.
        let (_, text) = unsafe { fuzzing::texts(&[], error, CallStatus::ERROR) }.unwrap_err();
        assert!(!text.contains('\r'), "{text:?}");
        let message = "storage failed\r\r\rall good\u{2028}really";
        let error = Some((ErrorCode(1), Str::new(message)));
        // SAFETY: no items; the message is a live `&str`.
        let (_, text) = unsafe { fuzzing::texts(&[], error, CallStatus::ERROR) }.unwrap_err();
        assert_eq!(text, "storage failed all good really");
        assert_eq!(one_line("a\rb"), "a b");
    }
    use crate::{Plugin, PluginConfig, PluginError, Storage, StoredEvent, Timestamp};

    /// A storage that offers nothing of ABI 1.3 but the SDK's defaults.
    struct Plain;

    impl Plugin for Plain {
        const NAME: &'static str = "plain";
        const VERSION: &'static str = "1.0.0";
        fn new(_: &PluginConfig) -> Result<Self, PluginError> {
            Ok(Plain)
        }
    }

    impl Storage for Plain {
        fn list_runs(&self, _: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
            Ok(Vec::new())
        }
    }

    /// A storage that answers the 1.3 methods from its input.
    struct Echo;

    impl Plugin for Echo {
        const NAME: &'static str = "echo";
        const VERSION: &'static str = "1.0.0";
        fn new(_: &PluginConfig) -> Result<Self, PluginError> {
            Ok(Echo)
        }
        fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
            Err(PluginError::invalid(format!(
                "stop {} {} {:?} {:?}",
                stop.project, stop.run_id, stop.at, stop.reason
            )))
        }
        fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
            match resume.run_id {
                "boom" => panic!("echo: resume boom"),
                _ => Err(PluginError::not_found(format!(
                    "resume {} {} {:?}",
                    resume.project, resume.run_id, resume.at
                ))),
            }
        }
    }

    impl Storage for Echo {
        fn list_runs(&self, _: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
            Ok(Vec::new())
        }
        fn events(&self, query: &EventQuery<'_>) -> Result<EventPage, PluginError> {
            if query.run_id == "missing" {
                return Err(PluginError::not_found("no run `missing`"));
            }
            Ok(EventPage {
                events: vec![StoredEvent {
                    seq: query.after_seq.unwrap_or(0) + 1,
                    time: Timestamp {
                        secs: -5,
                        nanos: 999_999_999,
                    },
                    kind: query.type_prefix.unwrap_or("none").to_owned(),
                    unit: query.unit.map(str::to_owned),
                    task: Some(i64::MIN),
                    pr: None,
                    payload: Some(format!("{{\"run\":\"{}\"}}", query.run_id)),
                    error: None,
                }],
                has_more: query.limit == 1,
                total: (query.limit > 1).then_some(u64::from(query.limit)),
            })
        }
        fn delete_runs(&self, runs: &[&str]) -> Result<DeleteReport, PluginError> {
            Ok(DeleteReport {
                deleted: runs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| crate::DeletedRun {
                        run_id: (*r).to_owned(),
                        bytes_freed: i as u64,
                    })
                    .collect(),
                refused: vec![crate::RefusedDeletion {
                    run_id: "läuft".into(),
                    reason: "running".into(),
                }],
                bytes_freed: u64::MAX,
            })
        }
        fn expire(&self, request: &ExpireRequest) -> Result<ExpireReport, PluginError> {
            if request.dry_run {
                panic!("echo: expire dry run");
            }
            Ok(ExpireReport {
                runs: request.cutoff.secs as u64,
                events: u64::from(request.cutoff.nanos),
                bytes_freed: 0,
                run_ids: vec![String::new(), "r-✓".into()],
            })
        }
    }

    /// A storage that hands its runs over one by one (and fails, after two,
    /// for project `broken`), and a reporter that renders in pieces.
    struct Streams;

    impl Plugin for Streams {
        const NAME: &'static str = "streams";
        const VERSION: &'static str = "1.0.0";
        fn new(_: &PluginConfig) -> Result<Self, PluginError> {
            Ok(Streams)
        }
    }

    fn numbered_run(n: i64) -> Run {
        Run {
            id: format!("r{n}"),
            project: "p".into(),
            started_at: Timestamp::from_secs(1_000 - n),
            ended_at: None,
            status: crate::RunStatus::Unknown,
            status_source: None,
            task_count: 1,
            size_bytes: Some(n as u64),
            allocated_bytes: None,
            location: format!("/runs/r{n}"),
            pinned: false,
            attributes: serde_json::Map::from_iter([("n".to_owned(), serde_json::Value::from(n))]),
        }
    }

    impl Storage for Streams {
        fn list_runs(&self, _: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
            panic!("streams: list_runs_into is the one called");
        }
        fn list_runs_into(
            &self,
            query: &RunQuery<'_>,
            emit: &mut dyn FnMut(Run),
        ) -> Result<(), PluginError> {
            for n in 0..3 {
                if n == 2 && query.project == Some("broken") {
                    return Err(PluginError::failed("broken after two"));
                }
                emit(numbered_run(n));
            }
            Ok(())
        }
    }

    impl crate::Reporter for Streams {
        fn render(&self, _: &Document<'_>) -> Result<String, PluginError> {
            panic!("streams: render_into is the one called");
        }
        fn render_into(
            &self,
            doc: &Document<'_>,
            emit: &mut dyn FnMut(&str),
        ) -> Result<(), PluginError> {
            for piece in doc.json.split_inclusive(',') {
                emit(piece);
            }
            Ok(())
        }
    }

    crate::plugin_module! {
        static MODULE = [storage(Plain), storage(Echo), storage(Streams), reporter(Streams)];
    }

    fn handle_of(kind: crate::PluginKind, name: &str) -> PluginHandle {
        // SAFETY: MODULE is a static of this program.
        let handles = unsafe { open_module(&MODULE) }.expect("module");
        handles
            .into_iter()
            .find(|h| h.name() == name && h.kind() == kind)
            .expect("plugin")
    }

    #[test]
    fn runs_reach_the_sink_one_by_one_as_the_storage_emits_them() {
        let streams = handle_of(crate::PluginKind::Storage, "streams")
            .instantiate("storage.streams", &toml::Table::new(), "/tmp")
            .unwrap();
        let mut seen = Vec::new();
        streams
            .list_runs_each(&RunQuery::default(), &mut |run| seen.push(run))
            .unwrap();
        assert_eq!(seen, (0..3).map(numbered_run).collect::<Vec<_>>());
        // Collected the same way, whole.
        assert_eq!(streams.list_runs(&RunQuery::default()).unwrap(), seen);

        // A failure after two runs: the sink had them, the call fails.
        let mut partial = Vec::new();
        let broken = RunQuery {
            project: Some("broken"),
            limit: None,
        };
        let err = streams
            .list_runs_each(&broken, &mut |run| partial.push(run.id))
            .unwrap_err();
        assert_eq!(partial, ["r0", "r1"]);
        assert_eq!(err.kind, ErrorKind::Failed);
        assert_eq!(err.message, "broken after two");
        assert!(streams.list_runs(&broken).is_err());

        // A storage with only `list_runs` streams through the default.
        let mut none = 0;
        instance("plain")
            .list_runs_each(&RunQuery::default(), &mut |_| none += 1)
            .unwrap();
        assert_eq!(none, 0);
    }

    #[test]
    fn a_panicking_sink_unwinds_in_the_host_after_the_plugin_returns() {
        let streams = handle_of(crate::PluginKind::Storage, "streams")
            .instantiate("storage.streams", &toml::Table::new(), "/tmp")
            .unwrap();
        let mut seen = 0;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            streams.list_runs_each(&RunQuery::default(), &mut |_| {
                seen += 1;
                if seen == 2 {
                    panic!("host sink gives up");
                }
            })
        }));
        let payload = caught.expect_err("the sink's panic reaches the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"host sink gives up"));
        assert_eq!(seen, 2, "nothing is handed on after the panic");
        // The panic was the host's: the plugin is not blamed, nor disabled.
        assert!(streams.disabled_reason().is_none());
        assert_eq!(streams.list_runs(&RunQuery::default()).unwrap().len(), 3);
    }

    #[test]
    fn rendered_pieces_reach_the_sink_in_order_and_join_into_the_text() {
        let streams = handle_of(crate::PluginKind::Reporter, "streams")
            .instantiate("reporter.streams", &toml::Table::new(), "/tmp")
            .unwrap();
        let doc = Document {
            kind: crate::DocumentKind::RunList,
            json: "[1,2,3,\"✓\"]",
        };
        let mut pieces = Vec::new();
        streams
            .render_to(&doc, &mut |piece| pieces.push(piece.to_owned()))
            .unwrap();
        assert_eq!(pieces, ["[1,", "2,", "3,", "\"✓\"]"]);
        assert_eq!(streams.render(&doc).unwrap(), pieces.concat());
    }

    fn instance(name: &str) -> Instance {
        // SAFETY: MODULE is a static of this program.
        let handles = unsafe { open_module(&MODULE) }.expect("module");
        let handle = handles
            .into_iter()
            .find(|h| h.name() == name)
            .expect("plugin");
        handle
            .instantiate(&format!("storage.{name}"), &toml::Table::new(), "/tmp")
            .expect("instance")
    }

    #[test]
    fn sdk_storage_offers_every_1_3_entry() {
        let plain = instance("plain");
        let offers = plain.handle().offers();
        for entry in [
            "run_stop",
            "run_resume",
            "stored_events",
            "delete_runs",
            "expire",
        ] {
            assert!(offers.contains(&entry), "{offers:?}");
        }
    }

    #[test]
    fn the_sdk_defaults_of_1_3_succeed_or_answer_unsupported() {
        let plain = instance("plain");
        let at = Timestamp::from_secs(7);
        plain
            .run_stop(&RunStop {
                project: "p",
                run_id: "r",
                at,
                reason: None,
            })
            .unwrap();
        plain
            .run_resume(&RunResume {
                project: "p",
                run_id: "r",
                at,
            })
            .unwrap();
        let q = EventQuery {
            run_id: "r",
            limit: 10,
            ..EventQuery::default()
        };
        for (err, says) in [
            (
                plain.stored_events(&q).unwrap_err(),
                "storage `plain` does not keep events",
            ),
            (
                plain.delete_runs(&["r"]).unwrap_err(),
                "storage `plain` deletes nothing itself",
            ),
            (
                plain
                    .expire(&ExpireRequest {
                        cutoff: at,
                        dry_run: false,
                    })
                    .unwrap_err(),
                "storage `plain` does not expire history",
            ),
        ] {
            assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
            assert_eq!(err.message, says);
        }
        assert!(plain.disabled_reason().is_none());
    }

    #[test]
    fn the_1_3_methods_carry_every_field_both_ways() {
        let echo = instance("echo");
        let err = echo
            .run_stop(&RunStop {
                project: "pröject",
                run_id: "r1",
                at: Timestamp { secs: 1, nanos: 2 },
                reason: Some("user ✋"),
            })
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            r#"stop pröject r1 Timestamp { secs: 1, nanos: 2 } Some("user ✋")"#
        );
        let err = echo
            .run_stop(&RunStop {
                project: "",
                run_id: "r1",
                at: Timestamp::default(),
                reason: None,
            })
            .unwrap_err();
        assert!(err.message.ends_with(" None"), "{err}");
        let err = echo
            .run_resume(&RunResume {
                project: "p",
                run_id: "r2",
                at: Timestamp::from_secs(-1),
            })
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.message, "resume p r2 Timestamp { secs: -1, nanos: 0 }");

        let page = echo
            .stored_events(&EventQuery {
                run_id: "rün",
                type_prefix: Some("unit"),
                unit: Some("api"),
                after_seq: Some(41),
                limit: 1,
            })
            .unwrap();
        assert_eq!(
            page,
            EventPage {
                events: vec![StoredEvent {
                    seq: 42,
                    time: Timestamp {
                        secs: -5,
                        nanos: 999_999_999
                    },
                    kind: "unit".into(),
                    unit: Some("api".into()),
                    task: Some(i64::MIN),
                    pr: None,
                    payload: Some(r#"{"run":"rün"}"#.into()),
                    error: None,
                }],
                has_more: true,
                total: None,
            }
        );
        let page = echo
            .stored_events(&EventQuery {
                run_id: "r",
                limit: 5,
                ..EventQuery::default()
            })
            .unwrap();
        assert_eq!(page.events[0].seq, 1);
        assert_eq!(page.events[0].kind, "none");
        assert_eq!(page.events[0].unit, None);
        assert!(!page.has_more);
        assert_eq!(page.total, Some(5));
        let missing = echo
            .stored_events(&EventQuery {
                run_id: "missing",
                ..EventQuery::default()
            })
            .unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound);

        let report = echo.delete_runs(&["a", "ß"]).unwrap();
        assert_eq!(report.bytes_freed, u64::MAX);
        assert_eq!(
            report
                .deleted
                .iter()
                .map(|d| (d.run_id.as_str(), d.bytes_freed))
                .collect::<Vec<_>>(),
            [("a", 0), ("ß", 1)]
        );
        assert_eq!(report.refused[0].run_id, "läuft");
        assert!(echo.delete_runs(&[]).unwrap().deleted.is_empty());

        let report = echo
            .expire(&ExpireRequest {
                cutoff: Timestamp { secs: 3, nanos: 4 },
                dry_run: false,
            })
            .unwrap();
        assert_eq!(
            report,
            ExpireReport {
                runs: 3,
                events: 4,
                bytes_freed: 0,
                run_ids: vec![String::new(), "r-✓".into()],
            }
        );
    }

    #[test]
    fn a_panic_in_a_1_3_shim_disables_the_instance() {
        let echo = instance("echo");
        let err = echo
            .expire(&ExpireRequest {
                cutoff: Timestamp::from_secs(0),
                dry_run: true,
            })
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Panic);
        assert!(err.message.contains("echo: expire dry run"), "{err}");
        let again = echo.delete_runs(&["a"]).unwrap_err();
        assert_eq!(again.kind, ErrorKind::Panic);
        assert!(again.message.contains("disabled"), "{again}");

        let echo = instance("echo");
        let err = echo
            .run_resume(&RunResume {
                project: "p",
                run_id: "boom",
                at: Timestamp::default(),
            })
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Panic);
        assert!(echo.disabled_reason().is_some());
    }

    /// A storage table as ABI 1.2 laid it out: it ends before `stored_events`.
    static STORAGE_1_2: StorageTable = StorageTable {
        size: offset_of!(StorageTable, stored_events) as u32,
        list_runs: Some(list_nothing),
        run_details: None,
        usage: None,
        // Beyond `size`: must never be read.
        stored_events: Some(trap),
        delete_runs: Some(trap),
        expire: Some(trap),
    };

    /// A lifecycle table as ABI 1.2 laid it out: it ends before `run_stop`.
    static LIFECYCLE_1_2: LifecycleTable = LifecycleTable {
        size: offset_of!(LifecycleTable, run_stop) as u32,
        run_start: None,
        event: None,
        run_complete: None,
        events: None,
        run_stop: Some(trap),
        run_resume: Some(trap),
    };

    unsafe extern "C" fn list_nothing(
        _: InstancePtr,
        _: *const abi::RunQuery<'static>,
        _: *const Out,
    ) -> CallStatus {
        CallStatus::OK
    }

    unsafe extern "C" fn trap<A>(_: InstancePtr, _: *const A, _: *const Out) -> CallStatus {
        std::process::abort()
    }

    unsafe extern "C" fn create_unit(_: *const CreateArgs<'_>, _: *const Out) -> InstancePtr {
        std::ptr::NonNull::<u8>::dangling().as_ptr().cast()
    }

    unsafe extern "C" fn destroy_unit(_: InstancePtr) {}

    static DECLS_1_2: [PluginDecl; 1] = [PluginDecl {
        size: size_of::<PluginDecl>() as u32,
        kind: KindCode::STORAGE,
        name: Str::new("old"),
        version: Str::new("1.2.0"),
        description: Str::new(""),
        create: create_unit,
        destroy: destroy_unit,
        lifecycle: &LIFECYCLE_1_2,
        methods: (&STORAGE_1_2 as *const StorageTable).cast(),
    }];

    static MODULE_1_2: PluginModule = PluginModule {
        header: ModuleHeader {
            magic: MAGIC,
            abi: AbiVersion { major: 1, minor: 2 },
            size: size_of::<PluginModule>() as u32,
        },
        plugins: Slice::new(&DECLS_1_2),
    };

    #[test]
    fn a_1_2_storage_gets_no_1_3_call() {
        // SAFETY: MODULE_1_2 is a static of this program.
        let handles = unsafe { open_module(&MODULE_1_2) }.expect("module");
        let old = &handles[0];
        assert_eq!(old.offers(), ["list_runs"]);
        let i = old
            .instantiate("storage.old", &toml::Table::new(), "/tmp")
            .unwrap();
        let at = Timestamp::from_secs(1);
        i.run_stop(&RunStop {
            project: "p",
            run_id: "r",
            at,
            reason: Some("why"),
        })
        .unwrap();
        i.run_resume(&RunResume {
            project: "p",
            run_id: "r",
            at,
        })
        .unwrap();
        let errors = [
            i.stored_events(&EventQuery::default()).unwrap_err(),
            i.delete_runs(&["r"]).unwrap_err(),
            i.expire(&ExpireRequest::default()).unwrap_err(),
        ];
        for (err, what) in errors
            .iter()
            .zip(["stored_events", "delete_runs", "expire"])
        {
            assert_eq!(err.kind, ErrorKind::Unsupported);
            assert_eq!(
                err.message,
                format!("built for plugin ABI 1.2, does not offer `{what}` (ABI 1.3)")
            );
            assert_eq!(err.plugin, "storage `old`");
        }
    }

    #[test]
    fn a_reporter_built_before_1_4_sees_an_interrupted_task_as_unknown() {
        let json = r#"{"status":"interrupted","tasks":[{"name":"build","status":"interrupted"},{"name":"lint","status":"success"}]}"#;
        let info = Document {
            kind: crate::DocumentKind::RunInfo,
            json,
        };
        let old = AbiVersion { major: 1, minor: 3 };
        let seen: serde_json::Value =
            serde_json::from_str(&document_for(old, &info).unwrap()).unwrap();
        assert_eq!(seen["tasks"][0]["status"], "unknown");
        assert_eq!(seen["tasks"][1]["status"], "success");
        // The run's own status was `interrupted` before 1.4: unchanged.
        assert_eq!(seen["status"], "interrupted");
        // A 1.4 reporter gets the document as it is, and other kinds are
        // never touched.
        assert_eq!(document_for(ABI_1_4, &info), None);
        let list = Document {
            kind: crate::DocumentKind::RunList,
            json,
        };
        assert_eq!(document_for(old, &list), None);
        // A reporter of today reads the name; one of tomorrow's names reads
        // as `unknown` rather than failing the document.
        let task: crate::report::TaskInfo =
            serde_json::from_value(serde_json::json!({"name": "b", "status": "interrupted"}))
                .unwrap();
        assert_eq!(task.status, crate::TaskStatus::Interrupted);
        let task: crate::report::TaskInfo =
            serde_json::from_value(serde_json::json!({"name": "b", "status": "frobbed"})).unwrap();
        assert_eq!(task.status, crate::TaskStatus::Unknown);
        assert_eq!(
            crate::TaskStatus::from_code(6),
            crate::TaskStatus::Interrupted
        );
        assert_eq!(crate::TaskStatus::from_code(7), crate::TaskStatus::Unknown);
    }

    /// A reporter as ABI 1.3 built it: it echoes the document's JSON.
    static REPORTER_1_3: ReporterTable = ReporterTable {
        size: size_of::<ReporterTable>() as u32,
        render: Some(echo),
    };

    unsafe extern "C" fn echo(
        _: InstancePtr,
        doc: *const abi::Document<'static>,
        out: *const Out,
    ) -> CallStatus {
        // SAFETY: the host passes a live document and a live `Out`.
        unsafe {
            let json = (*doc).json;
            ((*out).emit)((*out).ctx, (&json as *const Str<'_>).cast());
        }
        CallStatus::OK
    }

    static DECLS_R_1_3: [PluginDecl; 1] = [PluginDecl {
        size: size_of::<PluginDecl>() as u32,
        kind: KindCode::REPORTER,
        name: Str::new("echo13"),
        version: Str::new("1.3.0"),
        description: Str::new(""),
        create: create_unit,
        destroy: destroy_unit,
        lifecycle: &LIFECYCLE_1_2,
        methods: (&REPORTER_1_3 as *const ReporterTable).cast(),
    }];

    fn reporter_module(minor: u16) -> PluginModule {
        PluginModule {
            header: ModuleHeader {
                magic: MAGIC,
                abi: AbiVersion { major: 1, minor },
                size: size_of::<PluginModule>() as u32,
            },
            plugins: Slice::new(&DECLS_R_1_3),
        }
    }

    #[test]
    fn a_1_3_reporter_is_given_an_interrupted_task_as_unknown_and_a_1_4_one_as_it_is() {
        let json = r#"{"status":"interrupted","tasks":[{"name":"test","status":"interrupted"}]}"#;
        let doc = Document {
            kind: crate::DocumentKind::RunInfo,
            json,
        };
        for (minor, task_status) in [(3, "unknown"), (4, "interrupted")] {
            let module = Box::leak(Box::new(reporter_module(minor)));
            // SAFETY: the module is leaked: it lives for the whole process.
            let handles = unsafe { open_module(module) }.expect("module");
            let r = handles[0]
                .instantiate("reporter.echo13", &toml::Table::new(), "/tmp")
                .unwrap();
            for seen in [r.render(&doc).unwrap(), {
                let mut text = String::new();
                r.render_to(&doc, &mut |piece| text.push_str(piece))
                    .unwrap();
                text
            }] {
                let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
                assert_eq!(seen["tasks"][0]["status"], task_status, "ABI 1.{minor}");
                assert_eq!(seen["status"], "interrupted");
            }
        }
    }
}
