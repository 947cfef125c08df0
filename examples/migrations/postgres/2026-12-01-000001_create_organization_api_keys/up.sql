-- The key table `organization_api_keys` (postgres), made by apikey_core::scaffold.
CREATE TABLE organization_api_keys (
    id BIGSERIAL PRIMARY KEY,
    prefix VARCHAR(64) NOT NULL UNIQUE,
    hashed_key VARCHAR(150) NOT NULL,
    created TIMESTAMP WITH TIME ZONE NOT NULL,
    name VARCHAR(50) NOT NULL CHECK (length(btrim(name)) > 0),
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    expiry_date TIMESTAMP WITH TIME ZONE NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE INDEX organization_api_keys_created_idx ON organization_api_keys (created);
CREATE INDEX organization_api_keys_organization_id_idx ON organization_api_keys (organization_id);

-- Shared by every key table: refuses an UPDATE that un-revokes a row.
CREATE OR REPLACE FUNCTION apikey_refuse_unrevoke() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked AND NOT NEW.revoked THEN
        RAISE EXCEPTION 'revocation cannot be undone' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER organization_api_keys_revocation_irreversible
BEFORE UPDATE OF revoked ON organization_api_keys
FOR EACH ROW EXECUTE FUNCTION apikey_refuse_unrevoke();
