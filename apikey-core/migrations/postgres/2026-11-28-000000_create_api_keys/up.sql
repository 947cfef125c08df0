-- The built-in key table (apikey_core::ApiKey), PostgreSQL.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    prefix VARCHAR(64) NOT NULL UNIQUE,
    hashed_key VARCHAR(150) NOT NULL,
    created TIMESTAMP WITH TIME ZONE NOT NULL,
    name VARCHAR(50) NOT NULL CHECK (length(btrim(name)) > 0),
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    expiry_date TIMESTAMP WITH TIME ZONE NULL
);

CREATE INDEX api_keys_created_idx ON api_keys (created);

-- Shared by every key table: refuses an UPDATE that un-revokes a row.
CREATE OR REPLACE FUNCTION apikey_refuse_unrevoke() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked AND NOT NEW.revoked THEN
        RAISE EXCEPTION 'revocation cannot be undone' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_revocation_irreversible
BEFORE UPDATE OF revoked ON api_keys
FOR EACH ROW EXECUTE FUNCTION apikey_refuse_unrevoke();
