//! Key rotation (`BaseApiKeyManager::rotate`) on SQLite and PostgreSQL: the
//! built-in model, a derived model with own fields that records rotations,
//! one that does not, and Django's table.

use std::time::{Duration, Instant};

use apikey_core::scaffold::KeyTable;
use apikey_core::{
    AbstractApiKey, ApiKey, BaseApiKeyManager, DjangoApiKey, Error, KeyFilter, NewKey,
};
use apikey_tests::{backend_tests, TestDb};
use chrono::{NaiveDateTime, Utc};

mod schema {
    diesel::table! {
        team_api_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            team_id -> BigInt,
            note -> Nullable<Text>,
            rotated_from -> Nullable<Text>,
        }
    }

    diesel::table! {
        plain_team_keys (id) {
            id -> BigInt,
            prefix -> Text,
            hashed_key -> Text,
            created -> Timestamp,
            name -> Text,
            revoked -> Bool,
            expiry_date -> Nullable<Timestamp>,
            team_id -> BigInt,
        }
    }
}

use schema::{plain_team_keys, team_api_keys};

/// A derived model that records rotations.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = team_api_keys)]
pub struct TeamApiKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// Own field.
    pub team_id: i64,
    /// Own optional field.
    pub note: Option<String>,
    /// Filled by `rotate`.
    pub rotated_from: Option<String>,
}

/// A derived model without the column: rotation works, unrecorded.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, apikey_core::ApiKeyModel)]
#[diesel(table_name = plain_team_keys)]
pub struct PlainTeamKey {
    id: i64,
    prefix: String,
    hashed_key: String,
    created: NaiveDateTime,
    name: String,
    revoked: bool,
    expiry_date: Option<NaiveDateTime>,
    /// Own field.
    pub team_id: i64,
}

fn builtin(db: &TestDb) -> BaseApiKeyManager<ApiKey> {
    BaseApiKeyManager::new(db.database())
}

fn count<M: AbstractApiKey>(keys: &BaseApiKeyManager<M>) -> i64 {
    keys.count(&KeyFilter::default()).expect("count")
}

fn grace_zero_revokes_at_once(db: &TestDb) {
    let keys = builtin(db);
    let expiry = Utc::now() + chrono::Duration::days(30);
    let (old, old_key) = keys
        .create_key(NewKey::new("billing").expires(expiry))
        .expect("create");
    // Cached before the rotation: the rotation must still be seen at once.
    assert!(keys.is_valid(old_key.expose_secret()).expect("valid"));
    assert!(keys.is_valid(old_key.expose_secret()).expect("valid"));

    let (new, new_key) = keys.rotate(old.prefix(), Duration::ZERO).expect("rotate");
    assert_ne!(new.prefix(), old.prefix());
    assert_eq!(new.name(), "billing");
    assert_eq!(
        new.expiry_date_naive(),
        old.expiry_date_naive(),
        "same expiry"
    );
    assert_eq!(new.rotated_from(), Some(old.prefix()));
    assert_eq!(new.rotated_from.as_deref(), Some(old.prefix()));
    assert_eq!(old.rotated_from(), None);
    assert!(!new.revoked());

    assert!(!keys.is_valid(old_key.expose_secret()).expect("answered"));
    assert!(keys.is_valid(new_key.expose_secret()).expect("answered"));
    let stored = keys
        .find_by_prefix(old.prefix())
        .expect("find")
        .expect("kept");
    assert!(stored.revoked(), "grace 0 revokes");
    assert_eq!(stored.expiry_date_naive(), old.expiry_date_naive());
    // Another manager (another server) agrees.
    assert!(!builtin(db)
        .is_valid(old_key.expose_secret())
        .expect("answered"));
}

fn grace_keeps_the_old_key_until_it_ends(db: &TestDb) {
    let keys = builtin(db);
    let (old, old_key) = keys.create_key(NewKey::new("deploy")).expect("create");
    let before = apikey_core::now();
    let grace = Duration::from_secs(2);
    let (new, new_key) = keys.rotate(old.prefix(), grace).expect("rotate");
    let after = apikey_core::now();
    assert_eq!(new.expiry_date_naive(), None, "the old key had none");

    let stored = keys
        .find_by_prefix(old.prefix())
        .expect("find")
        .expect("kept");
    assert!(!stored.revoked());
    let stop = stored.expiry_date_naive().expect("an expiry now");
    let grace = chrono::Duration::from_std(grace).expect("grace");
    assert!(
        before + grace <= stop && stop <= after + grace,
        "{before} + {grace} <= {stop} <= {after} + {grace}"
    );
    // Both work during the grace...
    assert!(keys.is_valid(old_key.expose_secret()).expect("answered"));
    assert!(keys.is_valid(new_key.expose_secret()).expect("answered"));
    // ...and the old one stops at its end (polled: no timed assertion).
    let start = Instant::now();
    while keys.is_valid(old_key.expose_secret()).expect("answered") {
        assert!(start.elapsed() < Duration::from_secs(30), "still valid");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(apikey_core::now() >= stop, "refused only after the grace");
    assert!(keys.is_valid(new_key.expose_secret()).expect("answered"));
}

fn an_earlier_expiry_is_kept(db: &TestDb) {
    let keys = builtin(db);
    let soon = Utc::now() + chrono::Duration::hours(1);
    let (old, _) = keys
        .create_key(NewKey::new("soon").expires(soon))
        .expect("create");
    keys.rotate(old.prefix(), Duration::from_secs(24 * 3600))
        .expect("rotate");
    let stored = keys
        .find_by_prefix(old.prefix())
        .expect("find")
        .expect("kept");
    assert_eq!(stored.expiry_date_naive(), old.expiry_date_naive());

    // A later expiry is brought forward.
    let later = Utc::now() + chrono::Duration::days(90);
    let (old, _) = keys
        .create_key(NewKey::new("later").expires(later))
        .expect("create");
    keys.rotate(old.prefix(), Duration::from_secs(3600))
        .expect("rotate");
    let stored = keys
        .find_by_prefix(old.prefix())
        .expect("find")
        .expect("kept");
    let stop = stored.expiry_date_naive().expect("expiry");
    assert!(stop < old.expiry_date_naive().expect("expiry"));
    assert!(stop <= apikey_core::now() + chrono::Duration::hours(1));
}

fn revoked_expired_and_unknown_keys_are_refused(db: &TestDb) {
    let keys = builtin(db);
    let (old, _) = keys.create_key(NewKey::new("gone")).expect("create");
    keys.revoke(old.prefix()).expect("revoke");
    let n = count(&keys);
    for grace in [Duration::ZERO, Duration::from_secs(60)] {
        let err = keys.rotate(old.prefix(), grace).expect_err("revoked");
        assert!(
            matches!(&err, Error::Validation { reason, .. } if reason.contains("revoked")),
            "{err}"
        );
    }
    assert_eq!(count(&keys), n, "nothing written");

    let (expired, _) = keys.create_key(NewKey::new("old")).expect("create");
    db.raw_sql(&format!(
        "UPDATE api_keys SET expiry_date = '2001-01-01 00:00:00' WHERE prefix = '{}'",
        expired.prefix()
    ))
    .expect("expire");
    let n = count(&keys);
    let err = keys
        .rotate(expired.prefix(), Duration::ZERO)
        .expect_err("expired");
    assert!(
        matches!(&err, Error::Validation { reason, .. } if reason.contains("expired")),
        "{err}"
    );
    assert_eq!(count(&keys), n, "nothing written");
    let stored = keys
        .find_by_prefix(expired.prefix())
        .expect("find")
        .expect("kept");
    assert!(!stored.revoked());

    assert!(matches!(
        keys.rotate("NoSuchPx", Duration::ZERO),
        Err(Error::NotFound(_))
    ));
    assert_eq!(count(&keys), n);

    // A chain: the new key can be rotated in turn.
    let (first, _) = keys.create_key(NewKey::new("chain")).expect("create");
    let (second, _) = keys.rotate(first.prefix(), Duration::ZERO).expect("rotate");
    let (third, third_key) = keys
        .rotate(second.prefix(), Duration::ZERO)
        .expect("rotate");
    assert_eq!(third.rotated_from(), Some(second.prefix()));
    assert!(keys.is_valid(third_key.expose_secret()).expect("answered"));
}

fn team_tables(db: &TestDb) -> apikey_core::Database {
    let database = db.database();
    let recorded = KeyTable::new("team_api_keys")
        .column("team_id BIGINT NOT NULL")
        .column("note VARCHAR(100) NULL")
        .rotated_from();
    let plain = KeyTable::new("plain_team_keys").column("team_id BIGINT NOT NULL");
    for table in [recorded, plain] {
        db.raw_sql(&table.migration(db.kind).expect("scaffold").up)
            .expect("up.sql");
    }
    database
}

fn derived_models_keep_their_own_fields(db: &TestDb) {
    let database = team_tables(db);
    let keys: BaseApiKeyManager<TeamApiKey> = BaseApiKeyManager::new(database.clone());
    let (old, old_key) = keys
        .create_key(NewKey::with_extra(
            "ci",
            TeamApiKeyFields {
                team_id: 7,
                note: Some("runner".into()),
            },
        ))
        .expect("create");
    let (new, new_key) = keys.rotate(old.prefix(), Duration::ZERO).expect("rotate");
    assert_eq!((new.team_id, new.note.as_deref()), (7, Some("runner")));
    assert_eq!(new.rotated_from(), Some(old.prefix()));
    assert_eq!(new.name(), "ci");
    assert!(!keys.is_valid(old_key.expose_secret()).expect("answered"));
    assert!(keys.is_valid(new_key.expose_secret()).expect("answered"));

    let plain: BaseApiKeyManager<PlainTeamKey> = BaseApiKeyManager::new(database);
    let (old, old_key) = plain
        .create_key(NewKey::with_extra("ci", PlainTeamKeyFields { team_id: 9 }))
        .expect("create");
    let (new, new_key) = plain
        .rotate(old.prefix(), Duration::from_secs(3600))
        .expect("rotate");
    assert_eq!(new.team_id, 9);
    assert_eq!(new.rotated_from(), None, "no column, nothing recorded");
    assert!(plain.is_valid(old_key.expose_secret()).expect("answered"));
    assert!(plain.is_valid(new_key.expose_secret()).expect("answered"));
}

fn django_keys_rotate(db: &TestDb) {
    db.create_django_table();
    let keys: BaseApiKeyManager<DjangoApiKey> = BaseApiKeyManager::new(db.database());
    let (old, old_key) = keys.create_key(NewKey::new("shared")).expect("create");
    let (new, new_key) = keys.rotate(old.prefix(), Duration::ZERO).expect("rotate");
    assert_eq!(
        new.rotated_from(),
        None,
        "Django's table has no such column"
    );
    assert!(!keys.is_valid(old_key.expose_secret()).expect("answered"));
    assert!(keys.is_valid(new_key.expose_secret()).expect("answered"));
}

backend_tests!(
    grace_zero_revokes_at_once,
    grace_keeps_the_old_key_until_it_ends,
    an_earlier_expiry_is_kept,
    revoked_expired_and_unknown_keys_are_refused,
    derived_models_keep_their_own_fields,
    django_keys_rotate,
);
