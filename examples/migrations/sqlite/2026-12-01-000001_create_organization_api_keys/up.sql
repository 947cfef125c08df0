-- The key table `organization_api_keys` (sqlite), made by apikey_core::scaffold.
CREATE TABLE organization_api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    prefix VARCHAR(64) NOT NULL UNIQUE,
    hashed_key VARCHAR(150) NOT NULL,
    created DATETIME NOT NULL,
    name VARCHAR(50) NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 50),
    revoked BOOLEAN NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    expiry_date DATETIME NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE INDEX organization_api_keys_created_idx ON organization_api_keys (created);
CREATE INDEX organization_api_keys_organization_id_idx ON organization_api_keys (organization_id);

-- Revocation cannot be undone, not even by a raw bulk UPDATE.
CREATE TRIGGER organization_api_keys_revocation_irreversible
BEFORE UPDATE OF revoked ON organization_api_keys
FOR EACH ROW WHEN OLD.revoked AND NOT NEW.revoked
BEGIN
    SELECT RAISE(ABORT, 'revocation cannot be undone');
END;
