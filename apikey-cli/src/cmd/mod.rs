//! One module per command. The key commands (`migrate`, `create`, `list`,
//! `revoke`, `verify`) work on a [`KeyStore`]: a model this binary is built
//! with ([`Keys`]: the built-in table, Django's, or an application's derived
//! model when it embeds the CLI) or any key table by name
//! ([`crate::table::KeyTable`], `--table`). `scaffold` needs no database.

pub mod create;
pub mod list;
pub mod migrate;
pub mod revoke;
pub mod rotate;
pub mod scaffold;
pub mod verify;

use std::io::{self, Write};
use std::time::Duration;

use apikey_core::{
    AbstractApiKey, BaseApiKeyManager, BrandedKeyGenerator, Database, Error, FormFields, KeyFilter,
    KeyGenerator, NewKey, PlainKey, RateLimit, Scopes,
};
use chrono::{DateTime, Utc};

use crate::failure::Failure;
use crate::output::{sanitize, Row};
use crate::table::{KeyTable, LAST_USED_COLUMN};

/// What the key commands need of a key table.
pub trait KeyStore {
    /// "API key", "Project API key": how messages name one key.
    fn verbose_name(&self) -> String;
    /// The table's name.
    fn table_name(&self) -> String;
    /// The model's own columns, in order.
    fn own_columns(&self) -> Vec<String>;
    /// True when the table records when each key was last used (a
    /// `last_used_at` column).
    fn tracks_last_use(&self) -> bool;
    /// The database.
    fn database(&self) -> &Database;
    /// The keys matching `filter`, newest first.
    fn list(&self, filter: &KeyFilter) -> Result<Vec<Row>, Failure>;
    /// The key with this prefix, whatever its state.
    fn find(&self, prefix: &str) -> Result<Option<Row>, Failure>;
    /// Revokes the key with this prefix (`false`: no such key any more).
    fn revoke(&self, prefix: &str) -> Result<bool, Failure>;
    /// The key's row when it is usable; [`Failure::NotUsable`] otherwise.
    fn verify(&self, key: &str) -> Result<Row, Failure>;
    /// A new key with these own columns (`--set NAME=VALUE`), branded by
    /// `brand` (`--brand`) or plain.
    fn create(
        &self,
        name: &str,
        expiry: Option<DateTime<Utc>>,
        set: &[(String, String)],
        brand: Option<&BrandedKeyGenerator>,
        scopes: &Scopes,
        limits: &KeyLimits,
    ) -> Result<(Row, PlainKey), Failure>;
    /// A new key replacing the one with this prefix, which stops working
    /// after `grace` (at once when zero).
    fn rotate(&self, prefix: &str, grace: Duration) -> Result<(Row, PlainKey), Failure>;
    /// How to create the table when it is missing.
    fn missing_table_hint(&self) -> &'static str;
}

/// The limits of a new key (`create --rate`, `--uses`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyLimits {
    /// The key's own rate limit.
    pub rate_limit: Option<RateLimit>,
    /// The key's usage quota.
    pub uses: Option<i64>,
    /// The quota's refill.
    pub refill: Option<apikey_core::limits::Refill>,
}

/// A model this binary is built with, through its manager.
#[derive(Debug)]
pub struct Keys<M: AbstractApiKey> {
    manager: BaseApiKeyManager<M>,
    hint: &'static str,
}

impl<M: AbstractApiKey> Keys<M> {
    /// The key table of `M` in `db`; `hint` says how to create it.
    pub fn new(db: Database, hint: &'static str) -> Self {
        Keys {
            // One command, one or two queries: no verification cache (and
            // no change-feed thread) in a process that exits right away.
            // Plain keys and branded keys of any brand (`create --brand`).
            // `verify` is an operator's check, not a use: no last-used write.
            manager: BaseApiKeyManager::new(db)
                .without_cache()
                .without_last_used()
                .with_generator(KeyGenerator::default().accept_branded()),
            hint,
        }
    }

    /// An apikey-core error as the CLI reports it: the database named, a hint
    /// when the key table is missing.
    pub fn failure(&self, e: Error) -> Failure {
        let db = self.manager.database();
        let mut hint = self.hint.to_owned();
        if matches!(&e, Error::Database(inner) if crate::failure::is_missing_table(&inner.to_string()))
        {
            // The keys may be in an application's table: say which.
            let others: Vec<String> = crate::table::key_tables(db)
                .into_iter()
                .filter(|t| t != M::TABLE_NAME)
                .collect();
            if !others.is_empty() {
                hint.push_str(&format!(
                    "; or choose one of this database's key tables with --table NAME: {}",
                    others.join(", ")
                ));
            }
        }
        Failure::from_core(e, &db.redacted_url(), M::TABLE_NAME, &hint)
    }
}

impl<M: AbstractApiKey> KeyStore for Keys<M>
where
    M::Extra: FormFields,
{
    fn verbose_name(&self) -> String {
        M::VERBOSE_NAME.to_owned()
    }

    fn table_name(&self) -> String {
        M::TABLE_NAME.to_owned()
    }

    fn own_columns(&self) -> Vec<String> {
        <M::Extra as FormFields>::FIELDS
            .iter()
            .map(|f| f.name.to_owned())
            .collect()
    }

    fn tracks_last_use(&self) -> bool {
        M::TRACKS_LAST_USE
    }

    fn database(&self) -> &Database {
        self.manager.database()
    }

    fn list(&self, filter: &KeyFilter) -> Result<Vec<Row>, Failure> {
        let rows = self.manager.list(filter).map_err(|e| self.failure(e))?;
        Ok(rows.iter().map(Row::from_model).collect())
    }

    fn find(&self, prefix: &str) -> Result<Option<Row>, Failure> {
        let row = self
            .manager
            .find_by_prefix(prefix)
            .map_err(|e| self.failure(e))?;
        Ok(row.as_ref().map(Row::from_model))
    }

    fn revoke(&self, prefix: &str) -> Result<bool, Failure> {
        match self.manager.revoke(prefix) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(self.failure(e)),
        }
    }

    fn verify(&self, key: &str) -> Result<Row, Failure> {
        let row = self
            .manager
            .get_from_key(key)
            .map_err(|e| self.failure(e))?;
        Ok(Row::from_model(&row))
    }

    fn create(
        &self,
        name: &str,
        expiry: Option<DateTime<Utc>>,
        set: &[(String, String)],
        brand: Option<&BrandedKeyGenerator>,
        scopes: &Scopes,
        limits: &KeyLimits,
    ) -> Result<(Row, PlainKey), Failure> {
        if !scopes.is_empty() && !M::HAS_SCOPES {
            return Err(Failure::Usage(format!(
                "--scope: {} has no scopes (Django's table has none)",
                M::TABLE_NAME
            )));
        }
        if limits.rate_limit.is_some() && !M::HAS_RATE_LIMIT {
            return Err(Failure::Usage(format!(
                "--rate: {} has no rate_limit column (Django's table has none)",
                M::TABLE_NAME
            )));
        }
        if limits.uses.is_some() && !M::HAS_QUOTA {
            return Err(Failure::Usage(format!(
                "--uses: {} has no remaining_uses column (Django's table has none)",
                M::TABLE_NAME
            )));
        }
        if limits.refill.is_some() && !M::HAS_REFILL {
            return Err(Failure::Usage(format!(
                "--refill: {} has no uses_refill columns (Django's table has none)",
                M::TABLE_NAME
            )));
        }
        let fields = <M::Extra as FormFields>::FIELDS;
        for (column, _) in set {
            if !fields.iter().any(|f| f.name == column) {
                return Err(Failure::Usage(format!(
                    "--set {}: {} has no such column (its own columns: {})",
                    sanitize(column, 64),
                    M::TABLE_NAME,
                    own_list(&self.own_columns())
                )));
            }
        }
        let extra = <M::Extra as FormFields>::from_form(&|name| {
            set.iter().find(|(c, _)| c == name).map(|(_, v)| v.clone())
        })
        .map_err(|errors| {
            Failure::Usage(
                errors
                    .iter()
                    .map(|(field, e)| format!("--set {field}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let new = NewKey::with_extra(name, extra)
            .expiry(expiry)
            .scopes(scopes.clone())
            .rate_limit(limits.rate_limit)
            .uses(limits.uses)
            .refill(limits.refill);
        let (row, key) = match brand {
            Some(brand) => self
                .manager
                .clone()
                .with_generator(brand.clone())
                .create_key(new),
            None => self.manager.create_key(new),
        }
        .map_err(|e| self.failure(e))?;
        Ok((Row::from_model(&row), key))
    }

    fn rotate(&self, prefix: &str, grace: Duration) -> Result<(Row, PlainKey), Failure> {
        let (row, key) = self.manager.rotate(prefix, grace).map_err(|e| match e {
            Error::NotFound(_) => Failure::NotFound(format!(
                "no {} with prefix `{}` in table `{}`",
                M::VERBOSE_NAME,
                sanitize(prefix, 64),
                M::TABLE_NAME
            )),
            Error::Validation { reason, .. } => Failure::Usage(format!(
                "{} `{}`: {reason}",
                M::VERBOSE_NAME,
                sanitize(prefix, 64)
            )),
            e => self.failure(e),
        })?;
        Ok((Row::from_model(&row), key))
    }

    fn missing_table_hint(&self) -> &'static str {
        self.hint
    }
}

impl KeyStore for KeyTable {
    fn verbose_name(&self) -> String {
        format!("{} key", self.name())
    }

    fn table_name(&self) -> String {
        self.name().to_owned()
    }

    fn own_columns(&self) -> Vec<String> {
        self.own_columns()
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| n != LAST_USED_COLUMN)
            .collect()
    }

    fn tracks_last_use(&self) -> bool {
        KeyTable::tracks_last_use(self)
    }

    fn database(&self) -> &Database {
        KeyTable::database(self)
    }

    fn list(&self, filter: &KeyFilter) -> Result<Vec<Row>, Failure> {
        KeyTable::list(self, filter)
    }

    fn find(&self, prefix: &str) -> Result<Option<Row>, Failure> {
        KeyTable::find(self, prefix)
    }

    fn revoke(&self, prefix: &str) -> Result<bool, Failure> {
        // Revoking a revoked key changes nothing and is still success.
        KeyTable::revoke(self, prefix)?;
        Ok(KeyTable::find(self, prefix)?.is_some())
    }

    fn verify(&self, key: &str) -> Result<Row, Failure> {
        KeyTable::verify(self, key)
    }

    fn create(
        &self,
        name: &str,
        expiry: Option<DateTime<Utc>>,
        set: &[(String, String)],
        brand: Option<&BrandedKeyGenerator>,
        scopes: &Scopes,
        limits: &KeyLimits,
    ) -> Result<(Row, PlainKey), Failure> {
        let expiry = expiry.map(|t| t.naive_utc());
        let mut set = set.to_vec();
        let has = |column: &str| KeyTable::own_columns(self).iter().any(|c| c.name == column);
        if let Some(limit) = limits.rate_limit {
            if !has("rate_limit") {
                return Err(Failure::Usage(format!(
                    "--rate: table `{}` has no rate_limit column",
                    self.name()
                )));
            }
            set.push(("rate_limit".to_owned(), limit.to_string()));
        }
        if let Some(uses) = limits.uses {
            if !has("remaining_uses") {
                return Err(Failure::Usage(format!(
                    "--uses: table `{}` has no remaining_uses column",
                    self.name()
                )));
            }
            set.push(("remaining_uses".to_owned(), uses.to_string()));
        }
        if let Some(refill) = limits.refill {
            if !has("uses_refill") || !has("uses_refill_period") || !has("remaining_uses") {
                return Err(Failure::Usage(format!(
                    "--refill: table `{}` has no uses_refill, uses_refill_period and \
                     remaining_uses columns",
                    self.name()
                )));
            }
            if limits.uses.is_none() {
                set.push(("remaining_uses".to_owned(), refill.uses().to_string()));
            }
            set.push(("uses_refill".to_owned(), refill.to_string()));
            set.push((
                "uses_refill_period".to_owned(),
                refill.period_index(apikey_core::now()).to_string(),
            ));
        }
        if !scopes.is_empty() {
            if !KeyTable::own_columns(self)
                .iter()
                .any(|c| c.name == "scopes")
            {
                return Err(Failure::Usage(format!(
                    "--scope: table `{}` has no scopes column",
                    self.name()
                )));
            }
            set.push(("scopes".to_owned(), scopes.to_column()));
        }
        KeyTable::create(self, name, expiry, &set, brand)
    }

    fn rotate(&self, _prefix: &str, _grace: Duration) -> Result<(Row, PlainKey), Failure> {
        Err(Failure::Usage(format!(
            "rotate works on the built-in and Django's tables; for `{}`, rotate with the \
             application's manager (BaseApiKeyManager::rotate copies its own columns)",
            self.name()
        )))
    }

    fn missing_table_hint(&self) -> &'static str {
        "apply the application's migrations first"
    }
}

/// When a command found nothing: the other key tables of the database, if
/// any (`apikey list` on the built-in table of a database whose keys are in
/// `project_api_keys`), as a sentence.
pub fn other_key_tables(keys: &dyn KeyStore) -> Option<String> {
    let own = keys.table_name();
    let others: Vec<String> = crate::table::key_tables(keys.database())
        .into_iter()
        .filter(|t| *t != own)
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "this database has other key tables: {} (choose one with --table NAME)",
            others.join(", ")
        )
    })
}

/// `a, b` or `none`.
pub fn own_list(columns: &[String]) -> String {
    if columns.is_empty() {
        "none".to_owned()
    } else {
        columns.join(", ")
    }
}

/// Writes to stdout; a closed pipe (`apikey list | head -1`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Io(format!("cannot write to stdout: {e}"))),
    }
}

/// A message on stderr; failing to write it is not worth failing for.
pub fn eprintln_quiet(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}
