-- Every running server's verification cache watches key tables
-- (apikey_core::BaseApiKeyManager::with_cache): a write to a key row stops
-- being honoured within milliseconds. Same SQL as apikey_core::scaffold::pg_notify_trigger.

-- Shared by every key table: tells the verification caches of every server
-- that a key table changed, twice over: a counter they poll every few
-- milliseconds (committed with the change, so it cannot arrive late), and a
-- notification on `apikey_changes` (payload `<table> <operation>`).
CREATE TABLE IF NOT EXISTS apikey_change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes BIGINT NOT NULL DEFAULT 0,
    inserts BIGINT NOT NULL DEFAULT 0
);
INSERT INTO apikey_change_counter (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION apikey_notify_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE apikey_change_counter SET inserts = inserts + 1 WHERE id = 1;
    ELSE
        UPDATE apikey_change_counter SET changes = changes + 1 WHERE id = 1;
    END IF;
    PERFORM pg_notify('apikey_changes', TG_TABLE_NAME || ' ' || TG_OP);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify_change
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION apikey_notify_change();
