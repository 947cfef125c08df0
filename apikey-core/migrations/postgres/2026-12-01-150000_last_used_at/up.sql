-- When the key was last used (written off the request path, at most once per
-- key per interval: apikey_core::BaseApiKeyManager::with_last_used). Same
-- column as apikey_core::scaffold::KeyTable::last_used_at.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP WITH TIME ZONE NULL;

-- The shared change trigger learns to stay quiet for bookkeeping writes
-- (last use), which no cached key depends on: they run with
-- SET LOCAL apikey.quiet_write = 'on', and the caches of every server keep
-- answering instead of revalidating after each one. Same SQL as
-- apikey_core::scaffold::pg_notify_trigger.
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
