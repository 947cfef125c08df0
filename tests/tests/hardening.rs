//! Abuse cases and input edges (issue 12), on both backends.

use apikey_core::scaffold::{KeyTable, MAX_IDENTIFIER_LENGTH};
use apikey_core::BackendKind;
use apikey_tests::{backend_tests, TestDb};

backend_tests!(scaffold_long_table_names_fit_and_do_not_collide);

/// Two key tables whose 63-character names differ only in their last
/// character: both scaffolds run on the same database (index names are
/// schema-wide on PostgreSQL, which truncates longer names silently), each
/// table keeps its revocation trigger, and the down scripts undo both.
fn scaffold_long_table_names_fit_and_do_not_collide(db: &TestDb) {
    let base = "k".repeat(MAX_IDENTIFIER_LENGTH - 1);
    let tables: Vec<String> = ['a', 'b'].iter().map(|c| format!("{base}{c}")).collect();
    let migrations: Vec<_> = tables
        .iter()
        .map(|t| {
            KeyTable::new(t.as_str())
                .column("owner_id BIGINT NOT NULL DEFAULT 0")
                .index("owner_id")
                .migration(db.kind)
                .expect("a 63-character table name is accepted")
        })
        .collect();
    for m in &migrations {
        db.raw_sql(&m.up).expect("up");
    }
    if db.kind == BackendKind::Postgres {
        for t in &tables {
            // pkey, unique prefix, created, owner_id.
            db.raw_sql(&format!(
                "DO $$ BEGIN IF (SELECT count(*) FROM pg_indexes WHERE tablename = '{t}') <> 4 \
                 THEN RAISE EXCEPTION 'indexes of {t}'; END IF; \
                 IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = '{t}'::regclass \
                 AND NOT tgisinternal) <> 2 THEN RAISE EXCEPTION 'triggers of {t}'; END IF; END $$;"
            ))
            .expect("every index and trigger of each table exists");
        }
    }
    for t in &tables {
        db.raw_sql(&format!(
            "INSERT INTO {t} (prefix, hashed_key, created, name) \
             VALUES ('p', 'h', '2026-01-01 00:00:00', 'n'); \
             UPDATE {t} SET revoked = TRUE;"
        ))
        .expect("insert and revoke");
        assert!(
            db.raw_sql(&format!("UPDATE {t} SET revoked = FALSE"))
                .is_err(),
            "the revocation trigger of {t} refuses un-revoking"
        );
    }
    for m in migrations.iter().rev() {
        db.raw_sql(&m.down).expect("down");
    }
    for m in &migrations {
        db.raw_sql(&m.up).expect("up again");
    }
}
