DROP TRIGGER IF EXISTS api_keys_revocation_irreversible;
DROP TABLE IF EXISTS api_keys;
