DROP TRIGGER IF EXISTS api_keys_notify_change ON api_keys;
-- apikey_notify_change() stays: other key tables may use it.
