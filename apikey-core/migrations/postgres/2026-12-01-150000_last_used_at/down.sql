ALTER TABLE api_keys DROP COLUMN last_used_at;
-- apikey_notify_change() keeps its quiet-write check: other key tables may
-- have been made with it, and it changes nothing for writes without the
-- setting.
