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

-- Shared by every key table: tells the verification caches of every server
-- that a key table changed, twice over: a counter they poll every few
-- milliseconds (committed with the change, so it cannot arrive late), and a
-- notification on `apikey_changes` (payload `<table> <operation>`).
-- Bookkeeping writes that no cached key depends on (last use) run with
-- SET LOCAL apikey.quiet_write = 'on' and tell nobody.
CREATE TABLE IF NOT EXISTS apikey_change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes BIGINT NOT NULL DEFAULT 0,
    inserts BIGINT NOT NULL DEFAULT 0
);
INSERT INTO apikey_change_counter (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION apikey_notify_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('apikey.quiet_write', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE apikey_change_counter SET inserts = inserts + 1 WHERE id = 1;
    ELSE
        UPDATE apikey_change_counter SET changes = changes + 1 WHERE id = 1;
    END IF;
    PERFORM pg_notify('apikey_changes', TG_TABLE_NAME || ' ' || TG_OP);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER organization_api_keys_notify_change
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organization_api_keys
FOR EACH STATEMENT EXECUTE FUNCTION apikey_notify_change();
