DROP TRIGGER IF EXISTS organization_api_keys_notify_change ON organization_api_keys;
DROP TRIGGER IF EXISTS organization_api_keys_revocation_irreversible ON organization_api_keys;
DROP TABLE IF EXISTS organization_api_keys;
-- apikey_refuse_unrevoke(), apikey_notify_change() and apikey_change_counter stay: other key tables may use them.
