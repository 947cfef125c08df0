-- The key table `project_api_keys` (sqlite), made by apikey_core::scaffold.
CREATE TABLE project_api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    prefix VARCHAR(64) NOT NULL UNIQUE,
    hashed_key VARCHAR(150) NOT NULL,
    created DATETIME NOT NULL,
    name VARCHAR(50) NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 50),
    revoked BOOLEAN NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    expiry_date DATETIME NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE
);

CREATE INDEX project_api_keys_created_idx ON project_api_keys (created);
CREATE INDEX project_api_keys_project_id_idx ON project_api_keys (project_id);

-- Revocation cannot be undone, not even by a raw bulk UPDATE.
CREATE TRIGGER project_api_keys_revocation_irreversible
BEFORE UPDATE OF revoked ON project_api_keys
FOR EACH ROW WHEN OLD.revoked AND NOT NEW.revoked
BEGIN
    SELECT RAISE(ABORT, 'revocation cannot be undone');
END;
