//! # apikey-core
//!
//! API keys for programs calling Rust services: generate keys, store only a
//! hash, check them, revoke them, let them expire. The database format is the
//! one of `djangorestframework-api-key` 3.x, so keys issued by a Django
//! service keep working.
//!
//! ```
//! use apikey_core::{ApiKey, ApiKeyModel, Database, Manager, NewKey};
//!
//! # fn main() -> apikey_core::Result<()> {
//! let db = Database::connect(":memory:")?;
//! db.migrate()?;
//! let keys: Manager<ApiKey> = Manager::new(db);
//!
//! let (row, key) = keys.create_key(NewKey::new("billing service"))?;
//! // `key` is shown to its owner once; only `row.hashed_key` is stored.
//! assert_eq!(keys.get_from_key(key.expose_secret())?.prefix(), row.prefix());
//!
//! keys.revoke(row.prefix())?;
//! assert!(!keys.is_valid(key.expose_secret())?);
//! # Ok(())
//! # }
//! ```
//!
//! See [`hashers`] for the stored hash format, [`db`] for database URLs, and
//! [`ApiKeyModel`] for custom key models.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod builtin;
pub mod db;
mod django;
mod error;
pub mod hashers;
pub mod key;
mod macros;
mod manager;
mod model;
pub mod sql_types;

pub use builtin::{schema, ApiKey};
pub use db::{BackendKind, Database, DatabaseConfig, DatabaseUrl, DbConnection};
pub use django::{django_schema, DjangoApiKey};
pub use error::{Error, Result};
pub use hashers::Verification;
pub use key::{GenerateKey, GeneratedKey, KeyGenerator, PlainKey};
pub use manager::{AllUsable, Manager, NewKey, UsableKeys, MAX_CREATE_ATTEMPTS, MAX_KEY_LENGTH};
pub use model::{now, validate_name, ApiKeyModel, KeyFilter, NewKeyRow, MAX_NAME_LENGTH};

#[doc(inline)]
pub use apikey_derive::ApiKeyModel;

/// Items the macros expand to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::db::{Backend, DbConnection};
    pub use chrono::NaiveDateTime;
    pub use diesel;
    pub use diesel::QueryResult;

    diesel::define_sql_function! {
        /// SQL `lower(text)`, on both backends.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
    }
}
