//! One storage conformance suite, two backends: every test runs against
//! history.db (`sqlite::…`) and against a throw-away PostgreSQL cluster
//! (`postgres::…`, see `otto_hooks_postgres::test_cluster`; skipped with one
//! line when PostgreSQL is not installed, a failure under `CI=true`).
//!
//! This is the only copy of these tests: `otto-hooks-sqlite`'s own tests
//! keep what only history.db has (WAL, page accounting, query plans,
//! migrations of the file, graphs given at start), so a behaviour of the
//! `HistoryStore` contract is written once and checked on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backends;
mod concurrency;
mod feed;
mod import;
mod markers;
mod reads;
mod retention;
mod search;
mod units;
mod writes;

/// Declares each test once per backend.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$module::$name(&super::backends::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(backend) = super::backends::postgres() {
                        super::$module::$name(&backend);
                    }
                }
            )*
        }
    };
}

conformance! {
    writes::stop_and_resume_keep_the_run_id_and_number_events_on,
    writes::a_failed_run_can_be_resumed,
    writes::starting_an_existing_run_is_already_exists,
    writes::unknown_runs_are_not_found,
    writes::an_invalid_event_stores_nothing_of_its_batch,
    writes::concurrent_commands_commit_even_when_one_of_them_fails,
    writes::orch_started_stores_the_graph,
    writes::unit_events_count_units_and_completion_overrides_counters,
    writes::payloads_come_back_byte_for_byte,
    reads::run_pages_return_every_matching_run_once_newest_first,
    reads::a_run_row_has_the_formats_shape,
    reads::event_pages_return_every_matching_event_once_in_seq_order,
    retention::expire_deletes_old_finished_runs_in_chunks_and_never_running_ones,
    retention::delete_runs_skips_running_runs_and_reports_unknown_ids,
    retention::repos_and_usage_count_runs_per_repository_and_project,
    import::importing_is_idempotent_and_a_finished_run_replaces_its_running_copy,
    import::an_imported_stop_and_resume_are_summarised,
    import::a_bad_import_changes_nothing,
    feed::the_listener_gets_every_stored_event_before_the_writer_is_answered,
    feed::refused_commands_are_not_reported_and_run_changes_are,
    feed::offset_paging_matches_cursor_paging,
    concurrency::eight_writers_on_one_run_lose_nothing_and_number_contiguously,
    markers::posted_run_stopped_and_run_resumed_events_change_the_run_like_stop_and_resume,
    markers::a_posted_run_resumed_on_a_run_still_marked_running_counts_the_resume,
    markers::stop_resume_and_complete_endpoints_record_their_marker_once,
    markers::a_dry_run_graph_comes_from_orch_dryrun_started,
    search::text_search_failures_and_both_orders_match_the_grammar,
    search::newest_first_pages_and_offsets_without_filters_count_from_the_bound,
    units::unit_summaries_fold_each_units_events_as_the_waterfall_shows_them,
    units::a_run_started_with_its_graph_has_it,
}
