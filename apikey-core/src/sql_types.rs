//! Timestamps written the way Django writes them.
//!
//! Key tables declare their time columns as diesel's `Timestamp` and read
//! them as UTC [`NaiveDateTime`]s. Every value apikey-core *writes or
//! compares* goes through [`DjangoTimestamp`], which binds it exactly the way
//! Django binds a `DateTimeField` value with `USE_TZ = True`, so that rows
//! written by either side compare, sort and parse the same on the other:
//!
//! ```text
//! PostgreSQL  the column is timestamp with time zone, and the value is
//!             bound as one (type timestamptz, microseconds since
//!             2000-01-01 00:00 UTC): the same instant whatever the
//!             session's TimeZone (a transaction-pooling proxy may hand
//!             out sessions that never ran `SET TIME ZONE 'UTC'`)
//! SQLite      text, Python's str(datetime) of the UTC time:
//!             YYYY-MM-DD HH:MM:SS.ffffff   exactly 6 fraction digits,
//!             YYYY-MM-DD HH:MM:SS          or none when microsecond == 0
//! ```
//!
//! diesel's own SQLite serialisation writes 0, 3, 6 or 9 fraction digits, and
//! SQLite compares such text as text: `…:05.5` is not Django's `…:05.500000`.
//! Reading needs nothing special (diesel parses every one of these forms).
//!
//! ```
//! use apikey_core::sql_types::DjangoTimestamp;
//! use chrono::NaiveDate;
//!
//! let t = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(1, 2, 3, 500_000).unwrap();
//! assert_eq!(DjangoTimestamp(t).to_sqlite_text(), "2024-02-29 01:02:03.500000");
//! // in a query: api_keys::created.eq(DjangoTimestamp(t))
//! ```

use chrono::{NaiveDateTime, Timelike};
#[cfg(feature = "postgres")]
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
#[cfg(feature = "sqlite")]
use diesel::sqlite::Sqlite;

use crate::db::MultiBackend;

/// A UTC time bound to a `Timestamp` column the way Django binds it (see the
/// module docs). Wrap values in it wherever a query writes or compares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, diesel::AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct DjangoTimestamp(pub NaiveDateTime);

impl DjangoTimestamp {
    /// The SQLite text: Python's `str()` of a naive `datetime` (6 fraction
    /// digits, or none when the microsecond is 0; nanoseconds are truncated).
    pub fn to_sqlite_text(&self) -> String {
        let micros = (self.0.nanosecond() % 1_000_000_000) / 1_000;
        let base = self.0.format("%Y-%m-%d %H:%M:%S");
        if micros == 0 {
            base.to_string()
        } else {
            format!("{base}.{micros:06}")
        }
    }

    /// Wraps an optional time (for nullable columns).
    pub fn opt(t: Option<NaiveDateTime>) -> Option<Self> {
        t.map(DjangoTimestamp)
    }
}

impl From<NaiveDateTime> for DjangoTimestamp {
    fn from(t: NaiveDateTime) -> Self {
        DjangoTimestamp(t)
    }
}

#[cfg(feature = "sqlite")]
impl ToSql<Timestamp, Sqlite> for DjangoTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.to_sqlite_text());
        Ok(IsNull::No)
    }
}

#[cfg(feature = "postgres")]
impl ToSql<Timestamp, Pg> for DjangoTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // Microseconds since 2000-01-01: the binary form of timestamptz too.
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

/// The type a [`DjangoTimestamp`] is bound as through
/// [`crate::DbConnection`]: `timestamptz` on PostgreSQL (compared with a
/// `timestamp with time zone` column without any conversion through the
/// session's time zone), text on SQLite. Not public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, diesel::SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct BoundTimestamptz;

#[cfg(feature = "sqlite")]
impl ToSql<BoundTimestamptz, Sqlite> for DjangoTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <Self as ToSql<Timestamp, Sqlite>>::to_sql(self, out)
    }
}

#[cfg(feature = "postgres")]
impl ToSql<BoundTimestamptz, Pg> for DjangoTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // The binary forms of timestamp and timestamptz are the same:
        // microseconds since 2000-01-01, here read as UTC.
        <Self as ToSql<Timestamp, Pg>>::to_sql(self, out)
    }
}

impl ToSql<Timestamp, MultiBackend> for DjangoTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((BoundTimestamptz, self));
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::DjangoTimestamp;
    use chrono::NaiveDate;

    fn format_sqlite(t: &chrono::NaiveDateTime) -> String {
        DjangoTimestamp(*t).to_sqlite_text()
    }

    #[test]
    fn sqlite_text_is_pythons_str_of_datetime() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
        let t = |h, m, s, us| d.and_hms_micro_opt(h, m, s, us).expect("time");
        assert_eq!(format_sqlite(&t(1, 2, 3, 0)), "2024-02-29 01:02:03");
        assert_eq!(
            format_sqlite(&t(1, 2, 3, 500_000)),
            "2024-02-29 01:02:03.500000"
        );
        assert_eq!(
            format_sqlite(&t(23, 59, 59, 7)),
            "2024-02-29 23:59:59.000007"
        );
        assert_eq!(
            format_sqlite(&t(0, 0, 0, 123_456)),
            "2024-02-29 00:00:00.123456"
        );
    }
}
