DROP TRIGGER IF EXISTS api_keys_notify_change ON api_keys;
-- apikey_notify_change() and apikey_change_counter stay: other key tables may use them.
