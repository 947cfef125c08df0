-- Every running server's verification cache listens on `apikey_changes`
-- (apikey_core::BaseApiKeyManager::with_cache): a write to a key row stops
-- being honoured within milliseconds. Same SQL as apikey_core::scaffold::pg_notify_trigger.

-- Shared by every key table: tells the verification caches of every server
-- (LISTEN apikey_changes) that a key table changed.
CREATE OR REPLACE FUNCTION apikey_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('apikey_changes', TG_TABLE_NAME || ' ' || TG_OP);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify_change
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION apikey_notify_change();
