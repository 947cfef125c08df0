//! The derive's output is lint-clean: this crate denies every warning, and
//! the usual strict rustc lints on top. (Clippy's lints on the output are
//! covered by `cargo clippy --all-targets -- -D warnings` over
//! `tests/tests/derive.rs`.)
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    missing_copy_implementations,
    unused_qualifications,
    unused_results,
    unreachable_pub,
    trivial_casts,
    unused_import_braces,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

/// The application's schema.
pub mod schema {
    diesel::table! {
        /// Keys of organizations.
        organization_api_keys (id) {
            /// Primary key.
            id -> BigInt,
            /// Prefix.
            prefix -> Text,
            /// Hash.
            hashed_key -> Text,
            /// Creation time.
            created -> Timestamp,
            /// Name.
            name -> Text,
            /// Revoked.
            revoked -> Bool,
            /// Expiry.
            expiry_date -> Nullable<Timestamp>,
            /// The organization.
            organization_id -> BigInt,
            /// The organization's tier.
            tier -> Nullable<Text>,
        }
    }
}

/// A key of an organization.
pub mod models {
    use apikey_core::ApiKeyModel;
    use chrono::NaiveDateTime;
    use diesel::{Queryable, Selectable};

    use crate::schema::organization_api_keys;

    /// A key of an organization.
    #[derive(Debug, Clone, Queryable, Selectable, ApiKeyModel)]
    #[diesel(table_name = organization_api_keys)]
    #[apikey(
        table = crate::schema::organization_api_keys,
        verbose_name = "Organization API key",
        verbose_name_plural = "Organization API keys"
    )]
    pub struct OrganizationApiKey {
        /// Primary key.
        pub id: i64,
        /// Prefix.
        pub prefix: String,
        /// Hash.
        pub hashed_key: String,
        /// Creation time.
        pub created: NaiveDateTime,
        /// Name.
        pub name: String,
        /// Revoked.
        pub revoked: bool,
        /// Expiry.
        pub expiry_date: Option<NaiveDateTime>,
        /// The organization.
        pub organization_id: i64,
        /// The organization's tier, renamed in Rust.
        #[diesel(column_name = tier)]
        pub plan: Option<String>,
    }
}

fn main() {
    use apikey_core::{AbstractApiKey, NewKey};
    use models::{OrganizationApiKey, OrganizationApiKeyFields};

    let new = NewKey::with_extra(
        "ci",
        OrganizationApiKeyFields {
            organization_id: 1,
            plan: None,
        },
    );
    assert_eq!(new.extra.organization_id, 1);
    assert_eq!(OrganizationApiKey::VERBOSE_NAME, "Organization API key");
}
