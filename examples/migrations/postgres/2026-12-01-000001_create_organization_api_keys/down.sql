DROP TRIGGER IF EXISTS organization_api_keys_revocation_irreversible ON organization_api_keys;
DROP TABLE IF EXISTS organization_api_keys;
-- apikey_refuse_unrevoke() stays: other key tables may use it.
