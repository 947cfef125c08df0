DROP TRIGGER IF EXISTS organization_api_keys_revocation_irreversible;
DROP TABLE IF EXISTS organization_api_keys;
