//! The shims the export macros generate: safe traits in, C tables out.
//!
//! Every `extern "C"` function here catches panics: nothing unwinds across
//! the boundary. Plugin authors use these only through
//! [`crate::export_plugins!`] and [`crate::plugin_module!`].

use std::any::Any;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    self, CallStatus, CreateArgs, ErrorCode, InstancePtr, KindCode, LifecycleTable, Out,
    PluginDecl, ReporterTable, RetentionTable, Slice, StatusTable, StorageTable, Str,
};
use crate::model::convert;
use crate::{
    DocumentKind, Plugin, PluginConfig, PluginError, Reporter, Retention, RunStatus,
    StatusDetector, Storage,
};

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Calls the host's error callback.
///
/// # Safety
/// `out` must be the live `Out` of the current call.
unsafe fn report(out: *const Out, code: ErrorCode, message: &str) {
    // SAFETY: the host passes a live `Out` for the duration of the call.
    unsafe {
        if let Some(out) = out.as_ref() {
            (out.error)(out.ctx, code, Str::new(message));
        }
    }
}

/// Calls the host's emit callback with one item.
///
/// # Safety
/// `out` must be the live `Out` of the current call, and `T` the item type
/// the method documents.
unsafe fn emit<T>(out: *const Out, item: &T) {
    // SAFETY: as above.
    unsafe {
        if let Some(out) = out.as_ref() {
            (out.emit)(out.ctx, item as *const T as *const c_void);
        }
    }
}

thread_local! {
    /// Set while a plugin call runs on this thread: its panics are caught
    /// and reported by the host, so the panic hook records them quietly.
    static IN_PLUGIN_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last caught panic happened (`file:line`).
    static PANIC_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs host code `f` from inside a plugin call (an emit callback's sink):
/// a panic there is the host's, reported by the previous hook as usual,
/// not recorded quietly as the plugin's.
pub(crate) fn as_host<R>(f: impl FnOnce() -> R) -> R {
    let outer = IN_PLUGIN_CALL.with(|c| c.replace(false));
    let result = f();
    IN_PLUGIN_CALL.with(|c| c.set(outer));
    result
}

/// Installs (once) a panic hook that, inside plugin calls, records the
/// location instead of printing a multi-line report — the host prints one
/// line naming the plugin. Outside plugin calls the previous hook runs.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PLUGIN_CALL.with(std::cell::Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_LOCATION.with(|p| *p.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning an error or a panic into a status and an error report.
fn guard(out: *const Out, f: impl FnOnce() -> Result<(), PluginError>) -> CallStatus {
    install_panic_hook();
    let outer = IN_PLUGIN_CALL.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_PLUGIN_CALL.with(|c| c.set(outer));
    match result {
        Ok(Ok(())) => CallStatus::OK,
        Ok(Err(e)) => {
            // SAFETY: `out` is the live `Out` of this call.
            unsafe { report(out, e.kind.code(), &e.message) };
            CallStatus::ERROR
        }
        Err(payload) => {
            let mut message = panic_message(&*payload);
            if let Some(location) = PANIC_LOCATION.with(|p| p.borrow_mut().take()) {
                message = format!("{message} (at {location})");
            }
            // A payload whose destructor panics would unwind from here.
            std::mem::forget(payload);
            // SAFETY: as above.
            unsafe { report(out, ErrorCode::PANIC, &message) };
            CallStatus::PANIC
        }
    }
}

/// # Safety
/// `instance` must come from `create::<P>` and not be destroyed.
unsafe fn instance<'a, P>(instance: InstancePtr) -> &'a P {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(instance as *const P) }
}

unsafe extern "C" fn create<P: Plugin>(
    args: *const CreateArgs<'_>,
    out: *const Out,
) -> InstancePtr {
    let mut created: InstancePtr = std::ptr::null_mut();
    guard(out, || {
        // SAFETY: the host passes live, UTF-8 arguments for the call.
        let config = unsafe {
            let args = &*args;
            PluginConfig::from_toml(
                args.instance.as_str_unchecked(),
                args.config_toml.as_str_unchecked(),
                args.data_dir.as_str_unchecked(),
            )?
        };
        let plugin = P::new(&config)?;
        created = Box::into_raw(Box::new(plugin)) as InstancePtr;
        Ok(())
    });
    created
}

unsafe extern "C" fn destroy<P: Plugin>(instance: InstancePtr) {
    if instance.is_null() {
        return;
    }
    // SAFETY: `instance` came from `create::<P>`; the host destroys it once.
    let boxed = unsafe { Box::from_raw(instance as *mut P) };
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(boxed))) {
        std::mem::forget(payload);
    }
}

unsafe extern "C" fn run_start<P: Plugin>(
    inst: InstancePtr,
    start: *const abi::RunStart<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let s = &*start;
            let start = crate::RunStart {
                project: s.project.as_str_unchecked(),
                run_id: s.run_id.as_str_unchecked(),
                started_at: s.started_at,
                repo_path: s.repo_path.as_opt_unchecked(),
                parallelism: s.parallelism.get(),
                total_units: s.total_units.get(),
                tasks_dir: s.tasks_dir.as_opt_unchecked(),
                dry_run: s.dry_run != 0,
            };
            instance::<P>(inst).run_start(&start)
        }
    })
}

/// # Safety
/// `ctx` must be live and UTF-8.
unsafe fn hook_context<'a>(ctx: *const abi::HookContext<'a>) -> crate::HookContext<'a> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let c = &*ctx;
        crate::HookContext {
            project: c.project.as_str_unchecked(),
            run_id: c.run_id.as_str_unchecked(),
        }
    }
}

unsafe extern "C" fn event<P: Plugin>(
    inst: InstancePtr,
    ctx: *const abi::HookContext<'_>,
    event: *const abi::Event<'_>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let ctx = hook_context(ctx);
            let event = convert::event_from_view(&*event);
            instance::<P>(inst).event(&ctx, &event)
        }
    })
}

unsafe extern "C" fn events<P: Plugin>(
    inst: InstancePtr,
    ctx: *const abi::HookContext<'_>,
    events: Slice<'_, abi::Event<'_>>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let ctx = hook_context(ctx);
            let events: Vec<crate::Event<'_>> = events
                .as_slice()
                .iter()
                .map(|e| convert::event_from_view(e))
                .collect();
            instance::<P>(inst).events(&ctx, &events)
        }
    })
}

unsafe extern "C" fn run_complete<P: Plugin>(
    inst: InstancePtr,
    result: *const abi::RunResult<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let r = &*result;
            let result = crate::RunResult {
                project: r.project.as_str_unchecked(),
                run_id: r.run_id.as_str_unchecked(),
                ended_at: r.ended_at,
                status: RunStatus::from_code(r.status),
                completed_units: r.completed_units.get(),
                failed_units: r.failed_units.get(),
                blocked_units: r.blocked_units.get(),
                error: r.error.as_opt_unchecked(),
            };
            instance::<P>(inst).run_complete(&result)
        }
    })
}

unsafe extern "C" fn run_stop<P: Plugin>(
    inst: InstancePtr,
    stop: *const abi::RunStop<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let s = &*stop;
            let stop = crate::RunStop {
                project: s.project.as_str_unchecked(),
                run_id: s.run_id.as_str_unchecked(),
                at: s.at,
                reason: s.reason.as_opt_unchecked(),
            };
            instance::<P>(inst).run_stop(&stop)
        }
    })
}

unsafe extern "C" fn run_resume<P: Plugin>(
    inst: InstancePtr,
    resume: *const abi::RunResume<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let r = &*resume;
            let resume = crate::RunResume {
                project: r.project.as_str_unchecked(),
                run_id: r.run_id.as_str_unchecked(),
                at: r.at,
            };
            instance::<P>(inst).run_resume(&resume)
        }
    })
}

/// Emits a run through `out`.
///
/// # Safety
/// `out` must be the live `Out` of a call whose items are `abi::Run`.
unsafe fn emit_run(out: *const Out, run: &crate::Run) {
    let attributes = convert::attributes_json(run);
    let view = convert::run_view(run, &attributes);
    // SAFETY: forwarded to the caller.
    unsafe { emit(out, &view) };
}

unsafe extern "C" fn list_runs<P: Storage>(
    inst: InstancePtr,
    query: *const abi::RunQuery<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let query = run_query(query);
            instance::<P>(inst).list_runs_into(&query, &mut |run| emit_run(out, &run))?;
        }
        Ok(())
    })
}

/// # Safety
/// `query` must be live and UTF-8 (the ABI contract).
unsafe fn run_query<'a>(query: *const abi::RunQuery<'a>) -> crate::RunQuery<'a> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let q = &*query;
        crate::RunQuery {
            project: q.project.as_opt_unchecked(),
            limit: q.limit.get(),
        }
    }
}

unsafe extern "C" fn run_details<P: Storage>(
    inst: InstancePtr,
    ctx: *const abi::HookContext<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let ctx = hook_context(ctx);
            let details = instance::<P>(inst).run_details(&ctx)?;
            emit_details(out, &details);
        }
        Ok(())
    })
}

unsafe extern "C" fn usage<P: Storage>(
    inst: InstancePtr,
    query: *const abi::RunQuery<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let query = run_query(query);
            for project in instance::<P>(inst).usage(&query)? {
                emit(out, &convert::usage_ext_view(&project));
            }
        }
        Ok(())
    })
}

unsafe extern "C" fn stored_events<P: Storage>(
    inst: InstancePtr,
    query: *const abi::EventQuery<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let q = &*query;
            let query = crate::EventQuery {
                run_id: q.run_id.as_str_unchecked(),
                type_prefix: q.type_prefix.as_opt_unchecked(),
                unit: q.unit.as_opt_unchecked(),
                after_seq: q.after_seq.get(),
                limit: q.limit,
            };
            // `Storage::events`, not the lifecycle batch `Plugin::events`.
            let page = Storage::events(instance::<P>(inst), &query)?;
            let events: Vec<abi::StoredEvent<'_>> =
                page.events.iter().map(convert::stored_event_view).collect();
            emit(
                out,
                &abi::EventPage {
                    events: Slice::new(&events),
                    has_more: page.has_more as u8,
                    total: abi::Opt::new(page.total),
                },
            );
        }
        Ok(())
    })
}

unsafe extern "C" fn delete_runs<P: Storage>(
    inst: InstancePtr,
    request: *const abi::DeleteRequest<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let runs: Vec<&str> = (*request)
                .runs
                .as_slice()
                .iter()
                .map(|r| r.as_str_unchecked())
                .collect();
            let report = instance::<P>(inst).delete_runs(&runs)?;
            let deleted: Vec<abi::DeletedRun<'_>> = report
                .deleted
                .iter()
                .map(|d| abi::DeletedRun {
                    run_id: Str::new(&d.run_id),
                    bytes_freed: d.bytes_freed,
                })
                .collect();
            let refused: Vec<abi::RefusedDeletion<'_>> = report
                .refused
                .iter()
                .map(|r| abi::RefusedDeletion {
                    run_id: Str::new(&r.run_id),
                    reason: Str::new(&r.reason),
                })
                .collect();
            emit(
                out,
                &abi::DeleteReport {
                    deleted: Slice::new(&deleted),
                    refused: Slice::new(&refused),
                    bytes_freed: report.bytes_freed,
                },
            );
        }
        Ok(())
    })
}

unsafe extern "C" fn expire<P: Storage>(
    inst: InstancePtr,
    request: *const abi::ExpireRequest,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let r = &*request;
            let request = crate::ExpireRequest {
                cutoff: r.cutoff,
                dry_run: r.dry_run != 0,
            };
            let report = instance::<P>(inst).expire(&request)?;
            let run_ids: Vec<Str<'_>> = report.run_ids.iter().map(|r| Str::new(r)).collect();
            emit(
                out,
                &abi::ExpireReport {
                    runs: report.runs,
                    events: report.events,
                    bytes_freed: report.bytes_freed,
                    run_ids: Slice::new(&run_ids),
                },
            );
        }
        Ok(())
    })
}

unsafe extern "C" fn detect<P: StatusDetector>(
    inst: InstancePtr,
    run: *const abi::Run<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let run = convert::run_from_view(&*run).map_err(PluginError::invalid)?;
            let verdict = instance::<P>(inst).detect(&run)?;
            emit(
                out,
                &abi::StatusVerdict {
                    status: verdict.status.code(),
                    source: Str::new(&verdict.source),
                },
            );
        }
        Ok(())
    })
}

/// Emits run details through `out`.
///
/// # Safety
/// `out` must be the live `Out` of a call whose items are `abi::RunDetails`.
unsafe fn emit_details(out: *const Out, details: &crate::RunDetails) {
    let attributes = convert::attributes_json(&details.run);
    let tasks: Vec<abi::Task<'_>> = details.tasks.iter().map(convert::task_view).collect();
    let view = abi::RunDetails {
        run: convert::run_view(&details.run, &attributes),
        tasks: Slice::new(&tasks),
    };
    // SAFETY: forwarded to the caller.
    unsafe { emit(out, &view) };
}

unsafe extern "C" fn detect_details<P: StatusDetector>(
    inst: InstancePtr,
    details: *const abi::RunDetails<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let details = convert::details_from_view(&*details).map_err(PluginError::invalid)?;
            let refined = instance::<P>(inst).detect_details(&details)?;
            emit_details(out, &refined);
        }
        Ok(())
    })
}

unsafe extern "C" fn decide<P: Retention>(
    inst: InstancePtr,
    input: *const abi::RetentionInput<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let i = &*input;
            let runs = i
                .runs
                .as_slice()
                .iter()
                .map(|r| convert::run_from_view(r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PluginError::invalid)?;
            let input = crate::RetentionInput {
                group: i.group.as_str_unchecked(),
                now: i.now,
                runs: &runs,
            };
            for decision in instance::<P>(inst).decide(&input)? {
                let reasons: Vec<Str<'_>> = decision.reasons.iter().map(|r| Str::new(r)).collect();
                emit(
                    out,
                    &abi::Decision {
                        run_id: Str::new(&decision.run_id),
                        action: decision.action.code(),
                        reasons: Slice::new(&reasons),
                    },
                );
            }
        }
        Ok(())
    })
}

unsafe extern "C" fn render<P: Reporter>(
    inst: InstancePtr,
    doc: *const abi::Document<'static>,
    out: *const Out,
) -> CallStatus {
    guard(out, || {
        // SAFETY: live instance and arguments for the call (ABI contract).
        unsafe {
            let d = &*doc;
            let doc = crate::Document {
                kind: DocumentKind::from_code(d.kind),
                json: d.json.as_str_unchecked(),
            };
            instance::<P>(inst).render_into(&doc, &mut |piece| emit(out, &Str::new(piece)))?;
        }
        Ok(())
    })
}

/// The tables of plugin type `P`, as constants the macros take `'static`
/// references to.
#[derive(Debug)]
pub struct Tables<P>(PhantomData<P>);

impl<P: Plugin> Tables<P> {
    /// The lifecycle table: every hook, defaulted or not.
    pub const LIFECYCLE: LifecycleTable = LifecycleTable {
        size: size_of::<LifecycleTable>() as u32,
        run_start: Some(run_start::<P>),
        event: Some(event::<P>),
        run_complete: Some(run_complete::<P>),
        events: Some(events::<P>),
        run_stop: Some(run_stop::<P>),
        run_resume: Some(run_resume::<P>),
    };
}

impl<P: Storage> Tables<P> {
    /// The storage table.
    pub const STORAGE: StorageTable = StorageTable {
        size: size_of::<StorageTable>() as u32,
        list_runs: Some(list_runs::<P>),
        run_details: Some(run_details::<P>),
        usage: Some(usage::<P>),
        stored_events: Some(stored_events::<P>),
        delete_runs: Some(delete_runs::<P>),
        expire: Some(expire::<P>),
    };
}

impl<P: StatusDetector> Tables<P> {
    /// The status table.
    pub const STATUS: StatusTable = StatusTable {
        size: size_of::<StatusTable>() as u32,
        detect: Some(detect::<P>),
        detect_details: Some(detect_details::<P>),
    };
}

impl<P: Retention> Tables<P> {
    /// The retention table.
    pub const RETENTION: RetentionTable = RetentionTable {
        size: size_of::<RetentionTable>() as u32,
        decide: Some(decide::<P>),
    };
}

impl<P: Reporter> Tables<P> {
    /// The reporter table.
    pub const REPORTER: ReporterTable = ReporterTable {
        size: size_of::<ReporterTable>() as u32,
        render: Some(render::<P>),
    };
}

const fn decl<P: Plugin>(kind: KindCode, methods: *const c_void) -> PluginDecl {
    PluginDecl {
        size: size_of::<PluginDecl>() as u32,
        kind,
        name: Str::new(P::NAME),
        version: Str::new(P::VERSION),
        description: Str::new(P::DESCRIPTION),
        create: create::<P>,
        destroy: destroy::<P>,
        lifecycle: &const { Tables::<P>::LIFECYCLE },
        methods,
    }
}

/// The declaration of a storage plugin.
pub const fn storage<P: Storage>() -> PluginDecl {
    let table: &'static StorageTable = &const { Tables::<P>::STORAGE };
    decl::<P>(
        KindCode::STORAGE,
        table as *const StorageTable as *const c_void,
    )
}

/// The declaration of a status plugin.
pub const fn status<P: StatusDetector>() -> PluginDecl {
    let table: &'static StatusTable = &const { Tables::<P>::STATUS };
    decl::<P>(
        KindCode::STATUS,
        table as *const StatusTable as *const c_void,
    )
}

/// The declaration of a retention plugin.
pub const fn retention<P: Retention>() -> PluginDecl {
    let table: &'static RetentionTable = &const { Tables::<P>::RETENTION };
    decl::<P>(
        KindCode::RETENTION,
        table as *const RetentionTable as *const c_void,
    )
}

/// The declaration of a reporter plugin.
pub const fn reporter<P: Reporter>() -> PluginDecl {
    let table: &'static ReporterTable = &const { Tables::<P>::REPORTER };
    decl::<P>(
        KindCode::REPORTER,
        table as *const ReporterTable as *const c_void,
    )
}

/// Declares a module of plugins as a `static`, without exporting it.
///
/// Use this in a crate that is linked into a host (the built-in plugins);
/// use [`export_plugins!`](crate::export_plugins) in a `cdylib`.
///
/// ```
/// # use otto_hooks_plugin_api::*;
/// # struct Ids;
/// # impl Plugin for Ids { const NAME: &'static str = "ids"; const VERSION: &'static str = "1.0.0";
/// #   fn new(_: &PluginConfig) -> Result<Self, PluginError> { Ok(Ids) } }
/// # impl Reporter for Ids { fn render(&self, _: &Document<'_>) -> Result<String, PluginError> { Ok(String::new()) } }
/// otto_hooks_plugin_api::plugin_module! {
///     /// The plugins of this crate.
///     pub static MODULE = [reporter(Ids)];
/// }
/// assert_eq!(MODULE.plugins.len, 1);
/// ```
#[macro_export]
macro_rules! plugin_module {
    ($(#[$meta:meta])* $vis:vis static $name:ident = [$($kind:ident($ty:ty)),+ $(,)?];) => {
        $(#[$meta])*
        $vis static $name: $crate::abi::PluginModule = $crate::abi::PluginModule::new({
            const DECLS: &[$crate::abi::PluginDecl] = &[$($crate::export::$kind::<$ty>()),+];
            DECLS
        });
    };
}

/// Exports plugins from a `cdylib`: declares them and writes the
/// `otto_hooks_plugin_entry` symbol the host looks for.
///
/// Each entry is `kind(Type)` with `kind` one of `storage`, `status`,
/// `retention`, `reporter`, and `Type` implementing [`Plugin`] and the
/// kind's trait. Call it once per library. No `unsafe` needed.
///
/// ```ignore
/// otto_hooks_plugin_api::export_plugins![retention(WeekdayPolicy)];
/// ```
///
/// A library that already declared a module with
/// [`plugin_module!`](crate::plugin_module) exports it with
/// `export_plugins!(module path::to::MODULE)`.
#[macro_export]
macro_rules! export_plugins {
    (module $module:path) => {
        /// The otto-hooks plugin entry point.
        #[unsafe(no_mangle)]
        pub extern "C" fn otto_hooks_plugin_entry() -> *const $crate::abi::PluginModule {
            &$module
        }
    };
    ($($kind:ident($ty:ty)),+ $(,)?) => {
        $crate::plugin_module! {
            static __OTTO_HOOKS_MODULE = [$($kind($ty)),+];
        }
        $crate::export_plugins!(module __OTTO_HOOKS_MODULE);
    };
}
