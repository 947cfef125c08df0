//! `--table NAME`: any key table, known from the database itself.
//!
//! An application's derived model (`#[derive(ApiKeyModel)]`) lives in the
//! application, not in this binary; what the CLI needs of it is in its
//! table: the base columns every key table has (`id`, `prefix`,
//! `hashed_key`, `created`, `name`, `revoked`, `expiry_date`) and the
//! model's own columns, read from the schema (`pragma_table_info` on
//! SQLite, `pg_attribute` on PostgreSQL). A table without the base columns
//! is refused, naming what it lacks. The SQL is the derive's, written out:
//! the same timestamps (Django's text format on SQLite), the same
//! definition of expired, the same hash formats.
//!
//! The application's narrowing (`UsableKeys`, say "only keys of projects
//! that are not archived") is code, not data: `verify` says whether the key
//! is usable by its own row (not revoked, not expired, right secret).

use apikey_core::diesel::prelude::*;
use apikey_core::diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use apikey_core::diesel::result::{DatabaseErrorKind, Error as DieselError};
use apikey_core::diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use apikey_core::diesel::{self, QueryResult};
use apikey_core::sql_types::DjangoTimestamp;
use apikey_core::{
    hashers, now, validate_name, BackendKind, BrandedKeyGenerator, Database, DbConnection,
    GenerateKey, KeyFilter, KeyGenerator, PlainKey, Verification, MAX_CREATE_ATTEMPTS,
    MAX_KEY_LENGTH,
};
use chrono::NaiveDateTime;

use crate::failure::Failure;
use crate::output::{sanitize, Row};

/// The base columns of every key table.
/// The column in which the manager records a key's last use.
pub const LAST_USED_COLUMN: &str = "last_used_at";

/// A time as the JSON of a row gives it: PostgreSQL's ISO form with an
/// offset, or SQLite's text (Django's form, UTC).
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

pub const BASE_COLUMNS: [&str; 7] = [
    "id",
    "prefix",
    "hashed_key",
    "created",
    "name",
    "revoked",
    "expiry_date",
];

/// One of the model's own columns.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared SQL type (PostgreSQL: `format_type`; SQLite: as declared).
    sql_type: String,
    /// NOT NULL without a default: `create` needs `--set NAME=VALUE`.
    required: bool,
}

/// A key table of the database, by name.
#[derive(Debug)]
pub struct KeyTable {
    db: Database,
    name: String,
    own: Vec<Column>,
    /// Django's table: the primary key is the text `{prefix}.{hashed_key}`.
    text_id: bool,
}

/// A value bound to a query.
enum Bind {
    Text(String),
    Bool(bool),
    Time(DjangoTimestamp),
    OptTime(Option<DjangoTimestamp>),
}

/// A statement and its values, with the backend's placeholders.
struct Statement {
    kind: BackendKind,
    sql: String,
    binds: Vec<Bind>,
}

impl Statement {
    fn new(kind: BackendKind) -> Self {
        Statement {
            kind,
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        match self.kind {
            BackendKind::Sqlite => self.sql.push('?'),
            _ => self.sql.push_str(&format!("${}", self.binds.len())),
        }
        self
    }
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s),
                Bind::Bool(v) => q.bind::<Bool, _>(v),
                Bind::Time(t) => q.bind::<Timestamp, _>(t),
                Bind::OptTime(t) => q.bind::<Nullable<Timestamp>, _>(t),
            };
        }
        q
    }};
}

fn load<T>(conn: &mut DbConnection, st: Statement) -> QueryResult<Vec<T>>
where
    T: diesel::deserialize::QueryableByName<diesel::sqlite::Sqlite>
        + diesel::deserialize::QueryableByName<diesel::pg::Pg>
        + 'static,
{
    match conn {
        DbConnection::Sqlite(c) => {
            let q: BoxedSqlQuery<'_, diesel::sqlite::Sqlite, SqlQuery> =
                diesel::sql_query(st.sql).into_boxed();
            bound!(q, st.binds).load(c)
        }
        DbConnection::Postgresql(c) => {
            let q: BoxedSqlQuery<'_, diesel::pg::Pg, SqlQuery> =
                diesel::sql_query(st.sql).into_boxed();
            bound!(q, st.binds).load(c)
        }
    }
}

fn execute(conn: &mut DbConnection, st: Statement) -> QueryResult<usize> {
    match conn {
        DbConnection::Sqlite(c) => {
            let q: BoxedSqlQuery<'_, diesel::sqlite::Sqlite, SqlQuery> =
                diesel::sql_query(st.sql).into_boxed();
            bound!(q, st.binds).execute(c)
        }
        DbConnection::Postgresql(c) => {
            let q: BoxedSqlQuery<'_, diesel::pg::Pg, SqlQuery> =
                diesel::sql_query(st.sql).into_boxed();
            bound!(q, st.binds).execute(c)
        }
    }
}

#[derive(QueryableByName)]
struct SchemaColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Bool)]
    required: bool,
}

#[derive(QueryableByName)]
struct RawRow {
    #[diesel(sql_type = Text)]
    prefix: String,
    #[diesel(sql_type = Text)]
    hashed_key: String,
    #[diesel(sql_type = Timestamp)]
    created: NaiveDateTime,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    revoked: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    expiry_date: Option<NaiveDateTime>,
    /// The own columns as a JSON object.
    #[diesel(sql_type = Text)]
    own: String,
}

/// `name` as an SQL identifier: `"name"`, any `"` doubled. (Table names
/// pass [`check_identifier`]; column names come from the schema and may
/// hold anything.)
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal: `'text'`, any `'` doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A table or column name the CLI accepts: an SQL identifier.
fn check_identifier(name: &str) -> Result<(), Failure> {
    let mut chars = name.chars();
    let ok = name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "--table: `{}` is not a table name (letters, digits and `_`, not starting with a digit)",
            sanitize(name, 64)
        )))
    }
}

impl KeyTable {
    /// The key table `name` of `db`, with its own columns read from the
    /// schema. No such table, or one without the base columns: an error.
    pub fn open(db: Database, name: &str) -> Result<Self, Failure> {
        check_identifier(name)?;
        let kind = db.backend();
        let mut st = Statement::new(kind);
        match kind {
            BackendKind::Sqlite => {
                st.push(
                    "SELECT name, type AS sql_type, \
                     (\"notnull\" = 1 AND dflt_value IS NULL AND pk = 0) AS required \
                     FROM pragma_table_info(",
                )
                .bind(Bind::Text(name.to_owned()))
                .push(") ORDER BY cid");
            }
            _ => {
                st.push(
                    "SELECT a.attname::text AS name, \
                     format_type(a.atttypid, a.atttypmod) AS sql_type, \
                     (a.attnotnull AND NOT a.atthasdef AND a.attidentity = '') AS required \
                     FROM pg_attribute a \
                     WHERE a.attrelid = to_regclass(",
                )
                .bind(Bind::Text(quoted(name)))
                .push(") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
            }
        }
        let shown = db.redacted_url();
        let columns: Vec<SchemaColumn> = db
            .run(|conn| load(conn, st))
            .map_err(|e| Failure::Database(format!("database {shown}: {e}")))?;
        if columns.is_empty() {
            return Err(Failure::Database(format!(
                "database {shown}: there is no table `{name}` (apply the application's \
                 migrations first; `apikey scaffold` writes those of a key table)"
            )));
        }
        let missing: Vec<&str> = BASE_COLUMNS
            .iter()
            .copied()
            .filter(|b| !columns.iter().any(|c| c.name == *b))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::Usage(format!(
                "table `{name}` is not a key table: it has no column {} (a key table has {})",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                BASE_COLUMNS.join(", ")
            )));
        }
        let text_id = columns.iter().any(|c| {
            let t = c.sql_type.to_ascii_lowercase();
            c.name == "id" && (t.contains("char") || t.contains("text") || t.contains("clob"))
        });
        let own = columns
            .into_iter()
            .filter(|c| !BASE_COLUMNS.contains(&c.name.as_str()))
            .map(|c| Column {
                name: c.name,
                sql_type: c.sql_type,
                required: c.required,
            })
            .collect();
        Ok(KeyTable {
            db,
            name: name.to_owned(),
            own,
            text_id,
        })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's own columns, in table order.
    pub fn own_columns(&self) -> &[Column] {
        &self.own
    }

    fn failure(&self, e: apikey_core::Error) -> Failure {
        Failure::from_core(
            e,
            &self.db.redacted_url(),
            &self.name,
            "apply the application's migrations first",
        )
    }

    /// `SELECT <the row> FROM "table"`: the base columns, and the own ones
    /// as one JSON object.
    fn select(&self) -> Statement {
        let kind = self.db.backend();
        let own = if self.own.is_empty() {
            "'{}'".to_owned()
        } else {
            let pairs: Vec<String> = self
                .own
                .iter()
                .map(|c| format!("{}, {}", literal(&c.name), quoted(&c.name)))
                .collect();
            match kind {
                BackendKind::Sqlite => format!("json_object({})", pairs.join(", ")),
                _ => format!("json_build_object({})::text", pairs.join(", ")),
            }
        };
        let mut st = Statement::new(kind);
        st.push(&format!(
            "SELECT prefix, hashed_key, created, name, revoked, expiry_date, {own} AS own FROM {}",
            quoted(&self.name)
        ));
        st
    }

    /// True when the table has a `last_used_at` column.
    pub fn tracks_last_use(&self) -> bool {
        self.own.iter().any(|c| c.name == LAST_USED_COLUMN)
    }

    fn row(&self, raw: RawRow) -> Row {
        let own: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&raw.own).unwrap_or_default();
        let mut extra = self
            .own
            .iter()
            .map(|c| {
                let v = own.get(&c.name).cloned().unwrap_or(serde_json::Value::Null);
                (c.name.clone(), v)
            })
            .collect::<Vec<(String, serde_json::Value)>>();
        // A `last_used_at` column is shown as such, not as an own column.
        let last_used_at = extra
            .iter()
            .position(|(n, _)| n == LAST_USED_COLUMN)
            .map(|i| extra.remove(i).1)
            .and_then(|v| v.as_str().and_then(parse_time));
        // A `scopes` column, when the table has one (apikey_core::scopes).
        let scopes = extra
            .iter()
            .find(|(n, _)| n == "scopes")
            .and_then(|(_, v)| v.as_str())
            .map(|s| {
                apikey_core::Scopes::from_column(s)
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Row {
            prefix: raw.prefix,
            name: raw.name,
            created: raw.created.and_utc(),
            expiry_date: raw.expiry_date.map(|t| t.and_utc()),
            revoked: raw.revoked,
            scopes,
            last_used_at,
            // The limit columns, when the table has them (apikey_core::limits).
            rate_limit: extra
                .iter()
                .find(|(n, _)| n == "rate_limit")
                .and_then(|(_, v)| v.as_str())
                .and_then(|s| apikey_core::RateLimit::from_column(Some(s)))
                .map(|l| l.to_string()),
            remaining_uses: extra
                .iter()
                .find(|(n, _)| n == "remaining_uses")
                .and_then(|(_, v)| v.as_i64()),
            uses_refill: extra
                .iter()
                .find(|(n, _)| n == "uses_refill")
                .and_then(|(_, v)| v.as_str())
                .and_then(|s| apikey_core::limits::Refill::from_column(Some(s)))
                .map(|r| r.to_string()),
            extra,
        }
    }

    /// The keys matching `filter`, newest first.
    pub fn list(&self, filter: &KeyFilter) -> Result<Vec<Row>, Failure> {
        let mut st = self.select();
        st.push(" WHERE 1 = 1");
        if let Some(pattern) = filter.like_pattern() {
            let pattern = pattern.to_lowercase();
            st.push(" AND (lower(name) LIKE ")
                .bind(Bind::Text(pattern.clone()))
                .push(" ESCAPE '\\' OR lower(prefix) LIKE ")
                .bind(Bind::Text(pattern))
                .push(" ESCAPE '\\')");
        }
        if let Some(revoked) = filter.revoked {
            st.push(" AND revoked = ").bind(Bind::Bool(revoked));
        }
        let at = DjangoTimestamp(filter.now.unwrap_or_else(now));
        match filter.expired {
            Some(true) => {
                st.push(" AND expiry_date IS NOT NULL AND expiry_date <= ")
                    .bind(Bind::Time(at));
            }
            Some(false) => {
                st.push(" AND (expiry_date IS NULL OR expiry_date > ")
                    .bind(Bind::Time(at))
                    .push(")");
            }
            None => {}
        }
        if let Some(since) = filter.unused_since {
            if !self.tracks_last_use() {
                return Err(Failure::Usage(format!(
                    "--unused-for: table `{}` has no {LAST_USED_COLUMN} column",
                    self.name
                )));
            }
            let since = DjangoTimestamp(since);
            st.push(" AND (last_used_at < ")
                .bind(Bind::Time(since))
                .push(" OR (last_used_at IS NULL AND created < ")
                .bind(Bind::Time(since))
                .push("))");
        }
        st.push(" ORDER BY created DESC, prefix ASC");
        let rows: Vec<RawRow> = self
            .db
            .run(|conn| load(conn, st))
            .map_err(|e| self.failure(e))?;
        Ok(rows.into_iter().map(|r| self.row(r)).collect())
    }

    fn find_raw(&self, prefix: &str) -> Result<Option<RawRow>, Failure> {
        let mut st = self.select();
        st.push(" WHERE prefix = ")
            .bind(Bind::Text(prefix.to_owned()));
        let mut rows: Vec<RawRow> = self
            .db
            .run(|conn| load(conn, st))
            .map_err(|e| self.failure(e))?;
        Ok(rows.pop())
    }

    /// The key with this prefix, whatever its state.
    pub fn find(&self, prefix: &str) -> Result<Option<Row>, Failure> {
        Ok(self.find_raw(prefix)?.map(|r| self.row(r)))
    }

    /// Revokes the key with this prefix; the number of rows changed.
    pub fn revoke(&self, prefix: &str) -> Result<usize, Failure> {
        let mut st = Statement::new(self.db.backend());
        st.push(&format!("UPDATE {} SET revoked = ", quoted(&self.name)))
            .bind(Bind::Bool(true))
            .push(" WHERE prefix = ")
            .bind(Bind::Text(prefix.to_owned()))
            .push(" AND revoked = ")
            .bind(Bind::Bool(false));
        self.db
            .run(|conn| execute(conn, st))
            .map_err(|e| self.failure(e))
    }

    /// The key's row when the key is usable by its row: right secret, not
    /// revoked, not expired. A legacy hash that matches is rewritten in
    /// the preferred format, as the manager does.
    pub fn verify(&self, key: &str) -> Result<Row, Failure> {
        let refused =
            || Failure::NotUsable("invalid api key (unknown, wrong, revoked or expired)".into());
        if key.len() > MAX_KEY_LENGTH || !key.contains('.') {
            return Err(refused());
        }
        let prefix = apikey_core::key::split_prefix(key);
        let raw = self.find_raw(prefix)?.ok_or_else(refused)?;
        let verification = hashers::verify(key, &raw.hashed_key);
        let expired = raw.expiry_date.is_some_and(|t| t <= now());
        if !verification.is_valid() || raw.revoked || expired {
            return Err(refused());
        }
        if verification == Verification::ValidOutdated {
            let mut st = Statement::new(self.db.backend());
            st.push(&format!("UPDATE {} SET hashed_key = ", quoted(&self.name)))
                .bind(Bind::Text(hashers::hash(key)))
                .push(" WHERE prefix = ")
                .bind(Bind::Text(raw.prefix.clone()))
                .push(" AND hashed_key = ")
                .bind(Bind::Text(raw.hashed_key.clone()));
            self.db
                .run(|conn| execute(conn, st))
                .map_err(|e| self.failure(e))?;
        }
        Ok(self.row(raw))
    }

    /// Creates a key named `name`, with the own columns of `set`
    /// (`column`, value as text, cast to the column's type by the database).
    pub fn create(
        &self,
        name: &str,
        expiry: Option<NaiveDateTime>,
        set: &[(String, String)],
        brand: Option<&BrandedKeyGenerator>,
    ) -> Result<(Row, PlainKey), Failure> {
        validate_name(name).map_err(|e| Failure::Usage(e.to_string()))?;
        if brand.is_some() && self.text_id {
            return Err(Failure::Usage(format!(
                "--brand: table `{}` has Django's layout, whose prefixes are 8 characters; \
                 a branded key's prefix (`acme_Gm7lu2UK`) is longer",
                self.name
            )));
        }
        for (column, _) in set {
            if BASE_COLUMNS.contains(&column.as_str()) {
                return Err(Failure::Usage(format!(
                    "--set {column}: `{column}` is a base column, set by the command itself"
                )));
            }
            if !self.own.iter().any(|c| &c.name == column) {
                return Err(Failure::Usage(format!(
                    "--set {}: table `{}` has no such column (its own columns: {})",
                    sanitize(column, 64),
                    self.name,
                    self.own_names()
                )));
            }
        }
        for (i, (column, _)) in set.iter().enumerate() {
            if set[..i].iter().any(|(c, _)| c == column) {
                return Err(Failure::Usage(format!("--set {column} is given twice")));
            }
        }
        let missing: Vec<String> = self
            .own
            .iter()
            .filter(|c| c.required && !set.iter().any(|(n, _)| n == &c.name))
            .map(|c| format!("--set {}=VALUE", c.name))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::Usage(format!(
                "table `{}` needs a value for each of its required columns: {}",
                self.name,
                missing.join(" ")
            )));
        }
        let plain = KeyGenerator::default();
        let generator: &dyn GenerateKey = match brand {
            Some(brand) => brand,
            None => &plain,
        };
        let created = now();
        let kind = self.db.backend();
        for attempt in 1..=MAX_CREATE_ATTEMPTS {
            let generated = generator.generate();
            let mut columns = vec![
                "prefix",
                "hashed_key",
                "created",
                "name",
                "revoked",
                "expiry_date",
            ];
            if self.text_id {
                columns.insert(0, "id");
            }
            let mut st = Statement::new(kind);
            let own_names: Vec<String> = set.iter().map(|(c, _)| quoted(c)).collect();
            st.push(&format!(
                "INSERT INTO {} ({}{}{}) VALUES (",
                quoted(&self.name),
                columns.join(", "),
                if own_names.is_empty() { "" } else { ", " },
                own_names.join(", ")
            ));
            if self.text_id {
                st.bind(Bind::Text(format!(
                    "{}.{}",
                    generated.prefix, generated.hashed_key
                )))
                .push(", ");
            }
            st.bind(Bind::Text(generated.prefix.clone()))
                .push(", ")
                .bind(Bind::Text(generated.hashed_key.clone()))
                .push(", ")
                .bind(Bind::Time(DjangoTimestamp(created)))
                .push(", ")
                .bind(Bind::Text(name.to_owned()))
                .push(", ")
                .bind(Bind::Bool(false))
                .push(", ")
                .bind(Bind::OptTime(expiry.map(DjangoTimestamp)));
            for (column, value) in set {
                st.push(", ");
                match kind {
                    // SQLite converts by the column's affinity.
                    BackendKind::Sqlite => {
                        st.bind(Bind::Text(value.clone()));
                    }
                    _ => {
                        let ty = self
                            .own
                            .iter()
                            .find(|c| &c.name == column)
                            .map_or("text", |c| c.sql_type.as_str());
                        st.push("CAST(")
                            .bind(Bind::Text(value.clone()))
                            .push(&format!(" AS {ty})"));
                    }
                }
            }
            st.push(")");
            // Running servers learn of it as of any write: the trigger's
            // notification (PostgreSQL), `data_version` (SQLite).
            let result = self.db.run(|conn| execute(conn, st));
            match result {
                Ok(_) => {
                    let row = self.find(&generated.prefix)?.ok_or_else(|| {
                        Failure::Database(format!(
                            "table `{}`: the new key {} cannot be read back",
                            self.name, generated.prefix
                        ))
                    })?;
                    return Ok((row, generated.key));
                }
                Err(apikey_core::Error::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation,
                    info,
                ))) if attempt < MAX_CREATE_ATTEMPTS && info.message().contains("prefix") => {
                    continue;
                }
                Err(e) => return Err(self.failure(e)),
            }
        }
        Err(Failure::Database(format!(
            "table `{}`: no free prefix after {MAX_CREATE_ATTEMPTS} attempts",
            self.name
        )))
    }

    fn own_names(&self) -> String {
        if self.own.is_empty() {
            "none".to_owned()
        } else {
            self.own
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// The key tables of the database (tables with every base column), for a
/// hint when a command found nothing in the table it looked at.
pub fn key_tables(db: &Database) -> Vec<String> {
    let kind = db.backend();
    let mut st = Statement::new(kind);
    let tables = match kind {
        BackendKind::Sqlite => {
            "SELECT m.name AS name, COUNT(*) AS n FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name IN ("
        }
        _ => {
            "SELECT c.table_name::text AS name, COUNT(*) AS n FROM information_schema.columns c \
             WHERE c.table_schema = current_schema() AND c.column_name IN ("
        }
    };
    st.push(tables);
    for (i, b) in BASE_COLUMNS.iter().enumerate() {
        if i > 0 {
            st.push(", ");
        }
        st.push(&format!("'{b}'"));
    }
    st.push(match kind {
        BackendKind::Sqlite => ") GROUP BY m.name ORDER BY m.name",
        _ => ") GROUP BY c.table_name ORDER BY c.table_name",
    });
    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    db.run(|conn| load::<Named>(conn, st))
        .map(|rows| {
            rows.into_iter()
                .filter(|r| r.n == BASE_COLUMNS.len() as i64)
                .map(|r| r.name)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{check_identifier, literal, quoted};

    #[test]
    fn names_are_quoted_whatever_they_hold() {
        assert_eq!(quoted("project_id"), "\"project_id\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert!(check_identifier("project_api_keys").is_ok());
        for bad in ["", "1abc", "a b", "a;b", "a\"b", &"x".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
