//! Creates a key on SQLite, verifies it, revokes it, and shows it refused.
//!
//! ```text
//! cargo run -p apikey-examples --bin create_and_verify
//! ```
//!
//! `DATABASE_URL` picks the database (default: `apikeys.db` here).

use apikey_core::{AbstractApiKey, ApiKey, BaseApiKeyManager, Database, NewKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "apikeys.db".into());
    let db = Database::connect(&url)?;
    db.migrate()?;
    let keys: BaseApiKeyManager<ApiKey> = BaseApiKeyManager::new(db);

    let (row, key) = keys.create_key(NewKey::new("create_and_verify example"))?;
    println!(
        "created key {} ({}) in {}",
        row.prefix(),
        row.name(),
        keys.database().redacted_url()
    );
    println!("full key, shown once: {}", key.expose_secret());

    let found = keys.get_from_key(key.expose_secret())?;
    println!("verified: {} -> {}", found.prefix(), found.name());

    keys.revoke(row.prefix())?;
    println!(
        "revoked; still valid? {}",
        keys.is_valid(key.expose_secret())?
    );
    Ok(())
}
