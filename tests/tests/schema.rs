//! One source for the schema: what `apikey scaffold` writes for the built-in
//! table (`scaffold::KeyTable::new("api_keys")`) creates the very schema the
//! shipped migrations (`apikey-core/migrations/<backend>/`) create.
//!
//! Each side runs on a fresh database of its own; the schemas are read back
//! from the catalogue and compared as sorted lists of facts: columns (type,
//! length, nullability, default), constraints (unique, check, primary key),
//! indexes, triggers, trigger functions and sequences. SQLite keeps CHECK
//! constraints and trigger bodies only as the statement text, so its facts
//! include `sqlite_master.sql`, whitespace collapsed.

use apikey_core::db::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use apikey_core::scaffold::KeyTable;
use apikey_core::BackendKind;
use apikey_tests::{backend_tests, TestDb};
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::MigrationHarness;

/// diesel's own bookkeeping table, present on the migrated side only.
const DIESEL_TABLE: &str = "__diesel_schema_migrations";

#[derive(QueryableByName)]
struct Fact {
    #[diesel(sql_type = Text)]
    fact: String,
}

fn sqlite_queries() -> Vec<String> {
    let not_diesel = format!("m.tbl_name <> '{DIESEL_TABLE}'");
    vec![
        // Every table, index and trigger, as SQLite stores the statement.
        format!(
            "SELECT 'object ' || m.type || ' ' || m.name || ' on ' || m.tbl_name || ': ' \
             || coalesce(m.sql, '-') AS fact FROM sqlite_master m WHERE {not_diesel}"
        ),
        format!(
            "SELECT 'column ' || m.name || '.' || p.name || ' type=' || p.type \
             || ' notnull=' || p.\"notnull\" || ' default=' || coalesce(p.dflt_value, '-') \
             || ' pk=' || p.pk || ' hidden=' || p.hidden AS fact \
             FROM sqlite_master m, pragma_table_xinfo(m.name) p \
             WHERE m.type = 'table' AND {not_diesel}"
        ),
        format!(
            "SELECT 'index ' || m.name || ' ' || il.name || ' unique=' || il.\"unique\" \
             || ' origin=' || il.origin || ' partial=' || il.partial || ' columns=' \
             || (SELECT group_concat(name, ',') FROM \
                 (SELECT coalesce(ii.name, '<expr>') AS name FROM pragma_index_info(il.name) ii \
                  ORDER BY ii.seqno)) AS fact \
             FROM sqlite_master m, pragma_index_list(m.name) il \
             WHERE m.type = 'table' AND {not_diesel}"
        ),
        format!(
            "SELECT 'foreign key ' || m.name || '.' || f.\"from\" || ' -> ' || f.\"table\" \
             || '.' || coalesce(f.\"to\", '-') || ' on delete ' || f.on_delete AS fact \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND {not_diesel}"
        ),
    ]
}

fn postgres_queries() -> Vec<String> {
    vec![
        format!(
            "SELECT format('column %s.%s type=%s length=%s precision=%s nullable=%s default=%s', \
                table_name, column_name, data_type, \
                coalesce(character_maximum_length::text, '-'), \
                coalesce(datetime_precision::text, '-'), is_nullable, \
                coalesce(column_default::text, '-'))::text AS fact \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '{DIESEL_TABLE}'"
        ),
        format!(
            "SELECT format('constraint %s on %s: %s %s', c.conname, t.relname, c.contype, \
                pg_get_constraintdef(c.oid))::text AS fact \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             WHERE t.relnamespace = current_schema()::regnamespace \
               AND t.relname <> '{DIESEL_TABLE}'"
        ),
        format!(
            "SELECT format('index %s: %s', indexname, indexdef)::text AS fact \
             FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename <> '{DIESEL_TABLE}'"
        ),
        "SELECT format('trigger %s: %s', t.tgname, pg_get_triggerdef(t.oid))::text AS fact \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            .to_owned(),
        "SELECT format('function %s: %s', p.proname, pg_get_functiondef(p.oid))::text AS fact \
         FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace"
            .to_owned(),
        "SELECT format('sequence %s type=%s start=%s increment=%s', sequence_name, data_type, \
            start_value, increment)::text AS fact \
         FROM information_schema.sequences WHERE sequence_schema = current_schema()"
            .to_owned(),
    ]
}

/// The schema of `db` as sorted facts, whitespace collapsed.
fn schema(db: &TestDb) -> Vec<String> {
    let mut facts: Vec<String> = match db.kind {
        BackendKind::Postgres => {
            let mut c = PgConnection::establish(&db.url).expect("connect");
            postgres_queries()
                .iter()
                .flat_map(|q| load(&mut c, q))
                .collect()
        }
        _ => {
            let mut c = SqliteConnection::establish(sqlite_path(db)).expect("connect");
            sqlite_queries()
                .iter()
                .flat_map(|q| load(&mut c, q))
                .collect()
        }
    };
    for fact in &mut facts {
        // Whitespace collapsed, and none next to `(`, `,` and `)`: SQLite's
        // ALTER TABLE ADD COLUMN splices `, <column>` into the stored
        // CREATE TABLE text just before its `)`.
        *fact = fact
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" ,", ",")
            .replace(" )", ")")
            .replace("( ", "(");
    }
    facts.sort();
    facts
}

fn load<C>(c: &mut C, query: &str) -> Vec<String>
where
    C: Connection,
    Fact: QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Fact>,
{
    diesel::sql_query(query)
        .load::<Fact>(c)
        .unwrap_or_else(|e| panic!("{e}: {query}"))
        .into_iter()
        .map(|f| f.fact)
        .collect()
}

fn sqlite_path(db: &TestDb) -> &str {
    db.url.trim_start_matches("sqlite://")
}

/// Runs the shipped migrations up (`up = true`) or all the way down again.
fn shipped(db: &TestDb, up: bool) {
    match db.kind {
        BackendKind::Postgres => {
            let mut c = PgConnection::establish(&db.url).expect("connect");
            if up {
                c.run_pending_migrations(POSTGRES_MIGRATIONS).expect("up");
            } else {
                c.revert_all_migrations(POSTGRES_MIGRATIONS).expect("down");
            }
        }
        _ => {
            let mut c = SqliteConnection::establish(sqlite_path(db)).expect("connect");
            if up {
                c.run_pending_migrations(SQLITE_MIGRATIONS).expect("up");
            } else {
                c.revert_all_migrations(SQLITE_MIGRATIONS).expect("down");
            }
        }
    }
}

/// Applies `sql` on a connection of its own.
fn run_sql(db: &TestDb, sql: &str) {
    let result = match db.kind {
        BackendKind::Postgres => PgConnection::establish(&db.url)
            .expect("connect")
            .batch_execute(sql),
        _ => SqliteConnection::establish(sqlite_path(db))
            .expect("connect")
            .batch_execute(sql),
    };
    result.unwrap_or_else(|e| panic!("{e}:\n{sql}"));
}

/// Lines of `a` missing from `b`, for a readable failure.
fn missing(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|f| !b.contains(f)).cloned().collect()
}

fn assert_same_schema(what: &str, migrated: &[String], scaffolded: &[String]) {
    assert!(
        migrated == scaffolded,
        "{what}: the shipped migrations and `apikey scaffold --table api_keys` disagree\n\
         only in the migrations: {:#?}\nonly in the scaffold: {:#?}",
        missing(migrated, scaffolded),
        missing(scaffolded, migrated),
    );
}

fn scaffold_matches_shipped_migrations(db: &TestDb) {
    let other = TestDb::of(db.kind);
    // The built-in table has every opt-in column.
    let scaffold = KeyTable::new("api_keys")
        .rotated_from()
        .scopes()
        .last_used_at()
        .rate_limit()
        .remaining_uses()
        .uses_refill()
        .migration(db.kind)
        .expect("scaffold SQL");

    shipped(db, true);
    run_sql(&other, &scaffold.up);
    let (migrated, scaffolded) = (schema(db), schema(&other));
    assert!(
        migrated
            .iter()
            .any(|f| f.starts_with("column api_keys.prefix ")),
        "the catalogue queries see the table: {migrated:#?}"
    );
    assert_same_schema("up", &migrated, &scaffolded);

    shipped(db, false);
    run_sql(&other, &scaffold.down);
    assert_same_schema("down", &schema(db), &schema(&other));
}

backend_tests!(scaffold_matches_shipped_migrations);
