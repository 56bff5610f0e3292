/*
 * otto_hooks.h — the otto-hooks plugin ABI, for plugins written in C.
 *
 * This header describes, in C99, exactly the ABI that plugin-api/src/abi.rs
 * defines in Rust: that file is the contract, this is its C spelling. It is
 * written by hand (so that it reads like C and carries the comments a C
 * author needs) and *checked* by a test, plugin-api/tests/c_header.rs, which
 * compiles `_Static_assert`s of the size, alignment and every field offset of
 * each struct below, and of every constant, with the numbers taken from the
 * Rust definitions. A change to abi.rs that is not made here fails that test.
 *
 * ABI version 1.4. A host of ABI 1.x loads a plugin built for 1.0 to 1.x.
 *
 * THE SHAPE
 *
 *   A plugin library exports one function,
 *
 *       const otto_plugin_module *otto_hooks_plugin_entry(void);
 *
 *   which returns a module that lives as long as the library (a `static`).
 *   The module lists one or more plugin declarations; each has a kind, a
 *   name, a version, a constructor (`create`), a destructor (`destroy`) and
 *   two tables of function pointers: the lifecycle hooks shared by every
 *   kind (`otto_lifecycle_table`, optional) and the kind's own methods
 *   (`otto_retention_table`, ...).
 *
 *   Every table and argument struct that can grow starts with its own `size`:
 *   set it to `sizeof` the struct as you compiled it. An entry beyond that
 *   size, or a NULL entry, is "not offered": the host falls back or reports
 *   the capability as unsupported.
 *
 * CALLS
 *
 *   Every method receives the instance `create` returned, a pointer to its
 *   argument, and an `otto_out`: two host callbacks. It returns
 *   OTTO_CALL_OK after emitting its results with `out->emit(out->ctx, item)`,
 *   one call per item (the item's type is documented on each method), or
 *   calls `out->error(out->ctx, code, message)` once and returns
 *   OTTO_CALL_ERROR. OTTO_CALL_PANIC disables the instance for good: a C
 *   plugin has no reason to return it.
 *
 * MEMORY: WHO OWNS WHAT
 *
 *   - Everything the host passes in (arguments, runs, strings, the settings
 *     text) is borrowed for the duration of the call only. Copy what you want
 *     to keep; never free it.
 *   - Everything you pass out (an item given to `emit`, a message given to
 *     `error`, and every string and array it points to) needs to stay valid
 *     only until that callback returns: the host copies it. Stack buffers
 *     are fine. The host never frees your memory, and you never free the
 *     host's, so the two may use different allocators.
 *   - The module, its declarations, tables and their strings must live as
 *     long as the library: make them `static const`.
 *
 * STRINGS
 *
 *   An `otto_str` is a pointer and a length in bytes, UTF-8, with NO
 *   terminating NUL: never pass `ptr` to a function that expects a C string.
 *   A NULL `ptr` means "absent" (an optional value that is not there); a
 *   non-NULL `ptr` with `len == 0` is the empty string. The host guarantees
 *   UTF-8 for what it passes in, and rejects output that is not UTF-8.
 *
 * THREADS
 *
 *   An instance may be called from several threads at once: keep per-call
 *   state on the stack (or in memory the call allocates and frees), and treat
 *   the instance as read-only after `create`, or lock. `emit` may take a
 *   while (the host may write output from it): hold no lock another call
 *   needs while calling it.
 *
 * NEVER
 *
 *   Abort, exit, or crash: the plugin runs inside the host's process, and
 *   that would take the host down. Report every failure through
 *   `out->error`. Enumerations cross as integer codes: treat a code you do
 *   not know as "unknown", never as undefined behaviour.
 */
#ifndef OTTO_HOOKS_H
#define OTTO_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Versions, magic, entry point
 * ------------------------------------------------------------------------ */

/** The ABI major version this header describes (incompatible changes). */
#define OTTO_HOOKS_ABI_MAJOR 1
/** The ABI minor version this header describes (appended entries). */
#define OTTO_HOOKS_ABI_MINOR 4

/** The 8 bytes every module header starts with (the array holds no
 *  terminating NUL: OTTO_MODULE_HEADER spells it out byte by byte). */
#define OTTO_HOOKS_MAGIC "OTTOHOOK"
/** The number of bytes of OTTO_HOOKS_MAGIC. */
#define OTTO_HOOKS_MAGIC_LEN 8

/** The name of the symbol every plugin library exports. */
#define OTTO_HOOKS_ENTRY_SYMBOL "otto_hooks_plugin_entry"

/** Gives a function default visibility (exported even under
 *  -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define OTTO_HOOKS_EXPORT __attribute__((visibility("default")))
#else
#define OTTO_HOOKS_EXPORT
#endif

/** An ABI version, `major.minor`. */
typedef struct otto_abi_version {
    uint16_t major;
    uint16_t minor;
} otto_abi_version;

/* ------------------------------------------------------------------------
 * Codes. They cross the boundary as uint32_t; an unknown code reads as
 * "unknown" (0) on both sides.
 * ------------------------------------------------------------------------ */

/** The kind of a plugin (`otto_plugin_decl.kind`). */
typedef uint32_t otto_kind;
enum {
    OTTO_KIND_STORAGE = 1,   /**< methods: otto_storage_table */
    OTTO_KIND_STATUS = 2,    /**< methods: otto_status_table */
    OTTO_KIND_RETENTION = 3, /**< methods: otto_retention_table */
    OTTO_KIND_REPORTER = 4   /**< methods: otto_reporter_table */
};

/** What a method call did. */
typedef uint32_t otto_call_status;
enum {
    OTTO_CALL_OK = 0,    /**< done; results (if any) were emitted */
    OTTO_CALL_ERROR = 1, /**< failed; out->error was called with the reason */
    OTTO_CALL_PANIC = 2  /**< Rust plugins only: the instance is disabled */
};

/** The category of an error, passed to `out->error`. */
typedef uint32_t otto_error_code;
enum {
    OTTO_ERROR_FAILED = 1,         /**< anything else */
    OTTO_ERROR_INVALID = 2,        /**< bad configuration or bad input */
    OTTO_ERROR_NOT_FOUND = 3,      /**< the run (or other object) does not exist */
    OTTO_ERROR_ALREADY_EXISTS = 4, /**< the run (or other object) already exists */
    OTTO_ERROR_UNSUPPORTED = 5,    /**< this request is not supported */
    OTTO_ERROR_IO = 6,             /**< an I/O error */
    OTTO_ERROR_PANIC = 7           /**< a panic caught at the boundary (Rust) */
};

/** The status of a run (`otto_run.status`, `otto_run_result.status`). */
enum {
    OTTO_RUN_STATUS_UNKNOWN = 0,     /**< nothing decided it */
    OTTO_RUN_STATUS_SUCCESS = 1,     /**< finished, every task succeeded */
    OTTO_RUN_STATUS_FAILED = 2,      /**< finished with a failure */
    OTTO_RUN_STATUS_RUNNING = 3,     /**< still running (otto: its .lock is held) */
    OTTO_RUN_STATUS_INTERRUPTED = 4, /**< died without finishing */
    OTTO_RUN_STATUS_STOPPED = 5      /**< stopped on purpose, resumable */
};

/** The status of a task (`otto_task.status`). */
enum {
    OTTO_TASK_STATUS_UNKNOWN = 0,
    OTTO_TASK_STATUS_SUCCESS = 1,
    OTTO_TASK_STATUS_FAILED = 2,
    OTTO_TASK_STATUS_RUNNING = 3,
    OTTO_TASK_STATUS_PENDING = 4,
    OTTO_TASK_STATUS_SKIPPED = 5,
    OTTO_TASK_STATUS_INTERRUPTED = 6 /**< since 1.4: its run died under it */
};

/** A retention decision (`otto_decision.action`). */
enum {
    OTTO_ACTION_UNKNOWN = 0, /**< treated as keep */
    OTTO_ACTION_KEEP = 1,
    OTTO_ACTION_DELETE = 2
};

/** What a reporter is asked to render (`otto_document.kind`). */
enum {
    OTTO_DOCUMENT_UNKNOWN = 0, /**< render the JSON generically */
    OTTO_DOCUMENT_RUN_LIST = 1,
    OTTO_DOCUMENT_RUN_INFO = 2,
    OTTO_DOCUMENT_USAGE = 3,
    OTTO_DOCUMENT_CLEAN_PLAN = 4,
    OTTO_DOCUMENT_RUN_SUMMARY = 5,
    OTTO_DOCUMENT_PLUGIN_LIST = 6,
    OTTO_DOCUMENT_CONFIG = 7
};

/* ------------------------------------------------------------------------
 * Plain data
 * ------------------------------------------------------------------------ */

/** A borrowed UTF-8 string: pointer and length, NO terminating NUL.
 *  `ptr == NULL` means absent; `len == 0` with a non-NULL `ptr` is "". */
typedef struct otto_str {
    const uint8_t *ptr;
    size_t len;
} otto_str;

/** An otto_str of a string literal, for static initialisers. */
#define OTTO_STR_LIT(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}

/** A point in time: seconds since the Unix epoch (UTC) plus nanoseconds. */
typedef struct otto_timestamp {
    int64_t secs;   /**< negative before 1970 */
    uint32_t nanos; /**< 0 to 999 999 999 */
} otto_timestamp;

/* Optional plain values: `is_some != 0` means `value` is meaningful. */
typedef struct otto_opt_u32 { uint8_t is_some; uint32_t value; } otto_opt_u32;
typedef struct otto_opt_u64 { uint8_t is_some; uint64_t value; } otto_opt_u64;
typedef struct otto_opt_i32 { uint8_t is_some; int32_t value; } otto_opt_i32;
typedef struct otto_opt_i64 { uint8_t is_some; int64_t value; } otto_opt_i64;
typedef struct otto_opt_timestamp {
    uint8_t is_some;
    otto_timestamp value;
} otto_opt_timestamp;

/* Borrowed arrays: `len` elements from `ptr` (which may be NULL when len is 0). */
typedef struct otto_str_slice { const otto_str *ptr; size_t len; } otto_str_slice;

/** The host's callbacks for one method call. */
typedef struct otto_out {
    /** Opaque host state: pass it back to both callbacks, unchanged. */
    void *ctx;
    /** Receives one result item, valid (and copied by the host) only during
     *  the call. */
    void (*emit)(void *ctx, const void *item);
    /** Receives the error of a failed call: at most once, before the method
     *  returns OTTO_CALL_ERROR. One line, UTF-8, copied by the host. */
    void (*error)(void *ctx, otto_error_code code, otto_str message);
} otto_out;

/* ------------------------------------------------------------------------
 * The model, as borrowed views
 * ------------------------------------------------------------------------ */

/** A run. */
typedef struct otto_run {
    otto_str id;                   /**< unique within its project */
    otto_str project;              /**< project key */
    otto_timestamp started_at;
    otto_opt_timestamp ended_at;   /**< when known */
    uint32_t status;               /**< OTTO_RUN_STATUS_* */
    otto_str status_source;        /**< which source decided it; absent when unknown */
    uint32_t task_count;
    otto_opt_u64 size_bytes;       /**< apparent size (du -sb), when measured */
    otto_opt_u64 allocated_bytes;  /**< allocated size (du -sB1), when measured */
    otto_str location;             /**< a path or URL where the run lives */
    uint8_t pinned;                /**< non-zero: never delete (otto: a .keep file) */
    otto_str attributes;           /**< JSON object of storage attributes; absent = {} */
} otto_run;

typedef struct otto_run_slice { const otto_run *ptr; size_t len; } otto_run_slice;

/** A task of a run. */
typedef struct otto_task {
    otto_str name;
    uint32_t status;               /**< OTTO_TASK_STATUS_* */
    otto_opt_i32 exit_code;
    otto_opt_u64 duration_ms;
    otto_str stdout_path;
    otto_str stderr_path;
    otto_str script_path;
    otto_str script_target;
} otto_task;

typedef struct otto_task_slice { const otto_task *ptr; size_t len; } otto_task_slice;

/** A run with its tasks. */
typedef struct otto_run_details {
    otto_run run;
    otto_task_slice tasks;
} otto_run_details;

/** Which run a hook call concerns. */
typedef struct otto_hook_context {
    otto_str project;
    otto_str run_id;
} otto_hook_context;

/** A run starting. */
typedef struct otto_run_start {
    otto_str project;
    otto_str run_id;
    otto_timestamp started_at;
    otto_str repo_path;
    otto_opt_u32 parallelism;
    otto_opt_u32 total_units;
    otto_str tasks_dir;
    uint8_t dry_run;
} otto_run_start;

/** One orchestrator event. */
typedef struct otto_event {
    otto_timestamp time;
    otto_str kind;                 /**< e.g. "unit.started" */
    otto_str unit;
    otto_opt_i64 task;
    otto_opt_i64 pr;
    otto_str payload;              /**< JSON object text, when any */
    otto_str error;
} otto_event;

typedef struct otto_event_slice { const otto_event *ptr; size_t len; } otto_event_slice;

/** A run finishing. */
typedef struct otto_run_result {
    otto_str project;
    otto_str run_id;
    otto_timestamp ended_at;
    uint32_t status;               /**< OTTO_RUN_STATUS_* */
    otto_opt_u32 completed_units;
    otto_opt_u32 failed_units;
    otto_opt_u32 blocked_units;
    otto_str error;
} otto_run_result;

/** A run stopped on purpose (since 1.3). */
typedef struct otto_run_stop {
    otto_str project;
    otto_str run_id;
    otto_timestamp at;
    otto_str reason;
} otto_run_stop;

/** A stopped run resuming (since 1.3). */
typedef struct otto_run_resume {
    otto_str project;
    otto_str run_id;
    otto_timestamp at;
} otto_run_resume;

/** A query for runs. */
typedef struct otto_run_query {
    otto_str project;              /**< only this project, when given */
    otto_opt_u64 limit;            /**< at most this many, newest first */
} otto_run_query;

/** A status verdict. */
typedef struct otto_status_verdict {
    uint32_t status;               /**< OTTO_RUN_STATUS_* */
    otto_str source;               /**< e.g. "otto.db", "lock"; "guess: ..." for a guess */
} otto_status_verdict;

/** The input of a retention decision. */
typedef struct otto_retention_input {
    otto_str group;                /**< usually a project key */
    otto_timestamp now;            /**< the reference time: use it, not a clock */
    otto_run_slice runs;           /**< in no particular order */
} otto_retention_input;

/** A retention decision for one run. */
typedef struct otto_decision {
    otto_str run_id;
    uint32_t action;               /**< OTTO_ACTION_KEEP or OTTO_ACTION_DELETE */
    otto_str_slice reasons;        /**< every rule that matched, stable strings */
} otto_decision;

/** A document to render. */
typedef struct otto_document {
    uint32_t kind;                 /**< OTTO_DOCUMENT_* */
    otto_str json;                 /**< the document, as `--json` prints it */
} otto_document;

/** A query for a run's stored events (since 1.3). */
typedef struct otto_event_query {
    otto_str run_id;
    otto_str type_prefix;
    otto_str unit;
    otto_opt_u64 after_seq;
    uint32_t limit;
} otto_event_query;

/** One stored event (since 1.3). */
typedef struct otto_stored_event {
    uint64_t seq;
    otto_timestamp time;
    otto_str kind;
    otto_str unit;
    otto_opt_i64 task;
    otto_opt_i64 pr;
    otto_str payload;
    otto_str error;
} otto_stored_event;

typedef struct otto_stored_event_slice {
    const otto_stored_event *ptr;
    size_t len;
} otto_stored_event_slice;

/** One page of stored events (since 1.3). */
typedef struct otto_event_page {
    otto_stored_event_slice events;
    uint8_t has_more;
    otto_opt_u64 total;
} otto_event_page;

/** Runs to delete (since 1.3). */
typedef struct otto_delete_request {
    otto_str_slice runs;
} otto_delete_request;

/** A deleted run (since 1.3). */
typedef struct otto_deleted_run {
    otto_str run_id;
    uint64_t bytes_freed;
} otto_deleted_run;

typedef struct otto_deleted_run_slice {
    const otto_deleted_run *ptr;
    size_t len;
} otto_deleted_run_slice;

/** A run not deleted, and why (since 1.3). */
typedef struct otto_refused_deletion {
    otto_str run_id;
    otto_str reason;
} otto_refused_deletion;

typedef struct otto_refused_deletion_slice {
    const otto_refused_deletion *ptr;
    size_t len;
} otto_refused_deletion_slice;

/** What a deletion did (since 1.3). */
typedef struct otto_delete_report {
    otto_deleted_run_slice deleted;
    otto_refused_deletion_slice refused;
    uint64_t bytes_freed;
} otto_delete_report;

/** A history-retention request (since 1.3). */
typedef struct otto_expire_request {
    otto_timestamp cutoff;
    uint8_t dry_run;
} otto_expire_request;

/** What expiry did (since 1.3). */
typedef struct otto_expire_report {
    uint64_t runs;
    uint64_t events;
    uint64_t bytes_freed;
    otto_str_slice run_ids;
} otto_expire_report;

/** Disk usage of one project (since 1.2). */
typedef struct otto_project_usage {
    otto_str project;
    uint64_t runs;
    uint64_t runs_bytes;
    uint64_t runs_allocated_bytes;
    uint64_t cache_bytes;
    uint64_t cache_files;
    uint64_t orphaned_cache_bytes;
    uint64_t orphaned_cache_files;
    uint64_t other_bytes;
    otto_opt_timestamp oldest_run;
} otto_project_usage;

/** What a plugin of 1.4 or later emits for `usage` (since 1.4). */
typedef struct otto_project_usage_ext {
    otto_project_usage base;
    otto_opt_u64 allocated_bytes;
} otto_project_usage_ext;

/** The arguments of `create`. */
typedef struct otto_create_args {
    uint32_t size;                 /**< sizeof as the host compiled it */
    otto_str instance;             /**< e.g. "retention.weekday": name it in messages */
    otto_str config_toml;          /**< the settings: a TOML table, maybe empty */
    otto_str data_dir;             /**< a directory you may keep state in */
} otto_create_args;

/* ------------------------------------------------------------------------
 * Tables. Set `size` to sizeof the table; leave what you do not offer NULL.
 * ------------------------------------------------------------------------ */

/** The lifecycle hooks every kind may offer. Each emits nothing. */
typedef struct otto_lifecycle_table {
    uint32_t size;
    otto_call_status (*run_start)(void *instance, const otto_run_start *arg,
                                  const otto_out *out);
    otto_call_status (*event)(void *instance, const otto_hook_context *ctx,
                              const otto_event *event, const otto_out *out);
    otto_call_status (*run_complete)(void *instance, const otto_run_result *arg,
                                     const otto_out *out);
    /** Since 1.1: a batch of events of one run, in order (passed by value). */
    otto_call_status (*events)(void *instance, const otto_hook_context *ctx,
                               otto_event_slice events, const otto_out *out);
    /** Since 1.3. */
    otto_call_status (*run_stop)(void *instance, const otto_run_stop *arg,
                                 const otto_out *out);
    /** Since 1.3. */
    otto_call_status (*run_resume)(void *instance, const otto_run_resume *arg,
                                   const otto_out *out);
} otto_lifecycle_table;

/** Storage: where runs live. `list_runs` is required. */
typedef struct otto_storage_table {
    uint32_t size;
    /** Emits one `const otto_run *` per matching run, newest first. */
    otto_call_status (*list_runs)(void *instance, const otto_run_query *arg,
                                  const otto_out *out);
    /** Emits one `const otto_run_details *`, or fails with NOT_FOUND. */
    otto_call_status (*run_details)(void *instance, const otto_hook_context *arg,
                                    const otto_out *out);
    /** Since 1.2: emits one `const otto_project_usage_ext *` per project. */
    otto_call_status (*usage)(void *instance, const otto_run_query *arg,
                              const otto_out *out);
    /** Since 1.3: emits one `const otto_event_page *`. */
    otto_call_status (*stored_events)(void *instance, const otto_event_query *arg,
                                      const otto_out *out);
    /** Since 1.3: emits one `const otto_delete_report *`. */
    otto_call_status (*delete_runs)(void *instance, const otto_delete_request *arg,
                                    const otto_out *out);
    /** Since 1.3: emits one `const otto_expire_report *`. */
    otto_call_status (*expire)(void *instance, const otto_expire_request *arg,
                               const otto_out *out);
} otto_storage_table;

/** Status detection. `detect` is required. */
typedef struct otto_status_table {
    uint32_t size;
    /** Emits one `const otto_status_verdict *`. */
    otto_call_status (*detect)(void *instance, const otto_run *arg, const otto_out *out);
    /** Since 1.2: emits one `const otto_run_details *`, filled in. */
    otto_call_status (*detect_details)(void *instance, const otto_run_details *arg,
                                       const otto_out *out);
} otto_status_table;

/** Retention. `decide` is required. */
typedef struct otto_retention_table {
    uint32_t size;
    /** Emits one `const otto_decision *` per run of the input (a run without
     *  a decision is kept). */
    otto_call_status (*decide)(void *instance, const otto_retention_input *arg,
                               const otto_out *out);
} otto_retention_table;

/** Reporting. `render` is required. */
typedef struct otto_reporter_table {
    uint32_t size;
    /** Emits the rendering as one or more `const otto_str *` chunks; fail
     *  before the first chunk, if at all. */
    otto_call_status (*render)(void *instance, const otto_document *arg,
                               const otto_out *out);
} otto_reporter_table;

/* ------------------------------------------------------------------------
 * Declarations and the module
 * ------------------------------------------------------------------------ */

/** One plugin. */
typedef struct otto_plugin_decl {
    uint32_t size;                 /**< sizeof(otto_plugin_decl) */
    otto_kind kind;                /**< OTTO_KIND_* */
    otto_str name;                 /**< [a-z0-9_-]+, unique within its kind */
    otto_str version;              /**< the plugin's own version (semver) */
    otto_str description;          /**< one sentence for `plugins list` */
    /** Creates an instance from its settings. On failure: call out->error
     *  (OTTO_ERROR_INVALID for a bad setting, naming it) and return NULL. */
    void *(*create)(const otto_create_args *args, const otto_out *out);
    /** Destroys an instance made by `create`. */
    void (*destroy)(void *instance);
    /** The lifecycle hooks, or NULL for none. */
    const otto_lifecycle_table *lifecycle;
    /** The kind's table: `const otto_retention_table *` and so on. */
    const void *methods;
} otto_plugin_decl;

typedef struct otto_plugin_decl_slice {
    const otto_plugin_decl *ptr;
    size_t len;
} otto_plugin_decl_slice;

/** Frozen in every ABI version: the first bytes of every module. */
typedef struct otto_module_header {
    uint8_t magic[OTTO_HOOKS_MAGIC_LEN]; /**< OTTO_HOOKS_MAGIC */
    otto_abi_version abi;          /**< the ABI you built for */
    uint32_t size;                 /**< sizeof(otto_plugin_module) */
} otto_module_header;

/** What the entry point returns. */
typedef struct otto_plugin_module {
    otto_module_header header;
    otto_plugin_decl_slice plugins; /**< at least one */
} otto_plugin_module;

/** The header of a module of this ABI version, for a static initialiser. */
#define OTTO_MODULE_HEADER                                                   \
    {{'O', 'T', 'T', 'O', 'H', 'O', 'O', 'K'},                              \
     {OTTO_HOOKS_ABI_MAJOR, OTTO_HOOKS_ABI_MINOR},                          \
     (uint32_t)sizeof(otto_plugin_module)}

/** The entry point every plugin library defines (with OTTO_HOOKS_EXPORT). */
OTTO_HOOKS_EXPORT const otto_plugin_module *otto_hooks_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* OTTO_HOOKS_H */
