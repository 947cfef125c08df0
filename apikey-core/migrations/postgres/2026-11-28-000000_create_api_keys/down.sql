DROP TRIGGER IF EXISTS api_keys_revocation_irreversible ON api_keys;
DROP TABLE IF EXISTS api_keys;
-- apikey_refuse_unrevoke() stays: other key tables may use it.
