//! # Every built-in otto-hooks plugin, as one loadable library
//!
//! The `otto-hooks` binary links the built-in plugins in; this crate builds
//! them as a shared library too (`libotto_hooks_builtin.so`), so that any
//! host that loads plugins from files — the plugin conformance suite,
//! another orchestrator embedding otto-hooks — can load the built-ins
//! exactly as it loads a team's own plugin.
//!
//! ## Why the built-in crates are rlibs and this is the only cdylib
//!
//! A plugin library is found through one exported symbol,
//! `otto_hooks_plugin_entry`, which
//! [`export_plugins!`](otto_hooks_plugin_api::export_plugins) writes with
//! `#[no_mangle]`. If every built-in crate exported it, two of them could not
//! both be linked into the `otto-hooks` binary: the linker would see the
//! same unmangled symbol twice and fail with a duplicate-symbol error.
//!
//! So each built-in crate is an rlib that only *declares* its plugins, as a
//! `static` module built by
//! [`plugin_module!`](otto_hooks_plugin_api::plugin_module) (for example
//! [`otto_hooks_reporters::MODULE`]). The binary links those statics and
//! calls them through the very same ABI tables a loaded library offers, so
//! every command exercises the ABI. This crate lists every built-in plugin in
//! one module and exports it — the single place the entry symbol is defined.
//!
//! A new built-in plugin crate adds its plugins to [`ALL`] below.

otto_hooks_plugin_api::plugin_module! {
    /// Every built-in plugin.
    pub static ALL = [
        storage(otto_hooks_otto_fs::OttoFs),
        storage(otto_hooks_sqlite::SqliteHistory),
        status(otto_hooks_status_default::DefaultStatus),
        retention(otto_hooks_retention_standard::Standard),
        reporter(otto_hooks_reporters::TableReporter),
        reporter(otto_hooks_reporters::JsonReporter),
        reporter(otto_hooks_reporters::MarkdownReporter),
    ];
}

otto_hooks_plugin_api::export_plugins!(module ALL);
