-- The built-in key table (apikey_core::ApiKey), SQLite.
-- Timestamps are UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff', as Django writes them.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    prefix VARCHAR(64) NOT NULL UNIQUE,
    hashed_key VARCHAR(150) NOT NULL,
    created DATETIME NOT NULL,
    name VARCHAR(50) NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 50),
    revoked BOOLEAN NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    expiry_date DATETIME NULL
);

CREATE INDEX api_keys_created_idx ON api_keys (created);

-- Revocation cannot be undone, not even by a raw bulk UPDATE.
CREATE TRIGGER api_keys_revocation_irreversible
BEFORE UPDATE OF revoked ON api_keys
FOR EACH ROW WHEN OLD.revoked AND NOT NEW.revoked
BEGIN
    SELECT RAISE(ABORT, 'revocation cannot be undone');
END;
