//! The least-privilege roles of docs/TEAM-HISTORY.md ("Security"), created
//! in the throw-away cluster exactly as the guide says: the owner role can
//! migrate and run a daemon's whole workload and nothing beyond its
//! database; the DML-only role runs the workload on a database the owner
//! migrated, and is refused schema changes (and a migration, with a
//! message saying who must run it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::{
    Completion, DbError, EventFilter, HistoryStore, ImportedRun, NewEvent, NewRun, RunFilter,
    all_events,
};

/// Role and database names of this test process (roles are cluster-wide).
fn name(what: &str) -> String {
    format!("{what}_{}", std::process::id())
}

/// Runs `sql` on `db` as the superuser, one statement at a time (CREATE
/// DATABASE refuses the implicit transaction of a multi-statement query).
fn as_superuser(cluster: &TestCluster, db: &str, sql: &str) {
    let mut client = cluster.target(db).connect().unwrap();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        client
            .batch_execute(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
}

fn superuser(cluster: &TestCluster, db: &str) -> postgres::Client {
    cluster.target(db).connect().unwrap()
}

/// `role` logging in to `db` over TCP with its password.
fn login(cluster: &TestCluster, role: &str, db: &str) -> PgTarget {
    PgTarget {
        url: format!("postgres://{role}@127.0.0.1:{}/{db}", cluster.port()),
        password: Some(format!("pw-{role}")),
    }
}

/// The guide's owner set-up: a login role owning the history's database,
/// which nobody else may connect to.
fn create_owner(cluster: &TestCluster, role: &str, db: &str) {
    as_superuser(
        cluster,
        "postgres",
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}';
             CREATE DATABASE {db} OWNER {role};
             REVOKE ALL ON DATABASE {db} FROM PUBLIC;"
        ),
    );
}

/// The guide's DML-only role for the machines, on `db` (migrated by its owner).
fn create_writer(cluster: &TestCluster, role: &str, db: &str) {
    as_superuser(
        cluster,
        "postgres",
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}';
             GRANT CONNECT ON DATABASE {db} TO {role};"
        ),
    );
    as_superuser(
        cluster,
        db,
        &format!(
            "GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON runs, events, graphs TO {role};
             GRANT SELECT ON schema_version TO {role};"
        ),
    );
}

fn run(id: &str, started: i64) -> NewRun {
    NewRun {
        id: id.into(),
        project: "/p".into(),
        repo_path: "/p".into(),
        started_at: Timestamp::from_secs(1_737_367_200 + started),
        parallelism: 1,
        total_units: 2,
        tasks_dir: None,
        dry_run: false,
    }
}

fn completion(id: &str, at: i64) -> Completion {
    Completion {
        run_id: id.into(),
        ended_at: Timestamp::from_secs(1_737_367_200 + at),
        status: "completed".into(),
        completed_units: None,
        failed_units: None,
        blocked_units: None,
        error: None,
    }
}

/// What a daemon does to its history: runs with graphs, events, stop and
/// resume, completion, pages, import, retention, deletion.
fn daemon_workload(db: &dyn HistoryStore) {
    db.start_run(run("live", 0)).unwrap();
    let mut events = vec![NewEvent {
        payload: Some(r#"{"graph":{"nodes":[{"id":"a"}],"edges":[],"levels":[["a"]]}}"#.into()),
        ..NewEvent::new(Timestamp::from_secs(1_737_367_200), "orch.started")
    }];
    events.extend(
        (1..20).map(|i| NewEvent::new(Timestamp::from_secs(1_737_367_200 + i), "task.started")),
    );
    db.append_events("live", events).unwrap();
    db.stop_run("live", Timestamp::from_secs(1_737_367_300), None)
        .unwrap();
    db.resume_run("live", Timestamp::from_secs(1_737_367_400))
        .unwrap();
    db.complete_run(completion("live", 500)).unwrap();
    assert_eq!(
        all_events(db, "live")
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        (1..=22).collect::<Vec<_>>()
    );
    assert!(db.graph("live").unwrap().is_some());
    let page = db
        .events(&EventFilter {
            run_id: "live".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 5);

    db.import_run(ImportedRun {
        run: run("imported", -10_000_000),
        events: vec![NewEvent::new(
            Timestamp::from_secs(1_737_367_200 - 10_000_000),
            "orch.started",
        )],
        completion: Some(completion("imported", -9_999_000)),
    })
    .unwrap();
    db.start_run(run("doomed", 10)).unwrap();
    db.complete_run(completion("doomed", 20)).unwrap();
    let listed = db
        .list_runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed.runs.len(), 3);
    // Retention: the imported run is 115 days old.
    let expired = db
        .expire(Timestamp::from_secs(1_737_367_200 - 86_400 * 90), 500)
        .unwrap();
    assert_eq!(expired.run_ids, vec!["imported".to_owned()]);
    let deleted = db.delete_runs(vec!["doomed".into()]).unwrap();
    assert_eq!(deleted.deleted, vec!["doomed".to_owned()]);
}

/// The error text of a statement that must be refused.
fn refused(client: &mut postgres::Client, sql: &str) -> String {
    let e = client
        .batch_execute(sql)
        .expect_err(&format!("`{sql}` must be refused"));
    let text = e
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_default();
    assert!(
        text.contains("permission denied") || text.contains("must be owner"),
        "{sql}: {e:?}"
    );
    text
}

#[test]
fn the_owner_role_of_the_guide_migrates_and_runs_a_daemon_and_nothing_beyond_its_database() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let (role, db) = (name("hist_owner"), name("hist_owned"));
    create_owner(cluster, &role, &db);
    let target = login(cluster, &role, &db);
    let history = PgHistory::open(target.clone()).unwrap();
    daemon_workload(&history);

    let mut client = target.connect().unwrap();
    for sql in [
        "CREATE DATABASE another_history".to_owned(),
        "CREATE ROLE intruder LOGIN".to_owned(),
        "ALTER SYSTEM SET ssl = off".to_owned(),
    ] {
        refused(&mut client, &sql);
    }
    // Another team's history: no CONNECT for anyone but its owner.
    let (other_role, other_db) = (name("other_owner"), name("other_history"));
    create_owner(cluster, &other_role, &other_db);
    let Err(e) = login(cluster, &role, &other_db).connect() else {
        panic!("{role} connected to another team's database");
    };
    assert!(e.to_string().contains("permission denied"), "{e}");
}

#[test]
fn the_dml_only_role_runs_a_daemon_on_a_migrated_database_and_cannot_change_the_schema() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let (owner, db) = (name("dml_owner"), name("dml_history"));
    let writer = name("dml_writer");
    create_owner(cluster, &owner, &db);
    // The owner migrates once (one daemon started as the owner).
    drop(PgHistory::open(login(cluster, &owner, &db)).unwrap());
    create_writer(cluster, &writer, &db);

    let target = login(cluster, &writer, &db);
    let history = PgHistory::open(target.clone()).unwrap();
    daemon_workload(&history);

    let mut client = target.connect().unwrap();
    for sql in [
        "CREATE TABLE stash (x int)",
        "DROP TABLE events",
        "TRUNCATE events",
        "ALTER TABLE runs ADD COLUMN x int",
        "CREATE INDEX ON events (time)",
        "DELETE FROM schema_version",
        "INSERT INTO schema_version (version) VALUES (99)",
    ] {
        refused(&mut client, sql);
    }
}

#[test]
fn a_dml_only_role_on_an_unmigrated_database_is_told_to_migrate_as_the_owner() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let (owner, db) = (name("new_owner"), name("new_history"));
    let writer = name("new_writer");
    create_owner(cluster, &owner, &db);
    as_superuser(
        cluster,
        "postgres",
        &format!(
            "CREATE ROLE {writer} LOGIN PASSWORD 'pw-{writer}';
             GRANT CONNECT ON DATABASE {db} TO {writer};"
        ),
    );
    as_superuser(
        cluster,
        &db,
        &format!("GRANT USAGE ON SCHEMA public TO {writer};"),
    );
    let e = PgHistory::open(login(cluster, &writer, &db)).unwrap_err();
    assert!(matches!(e, DbError::Schema(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("permission") && text.contains("owner"),
        "{text}"
    );
    // Nothing was half-created.
    let tables: i64 = superuser(cluster, &db)
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}
