DROP TRIGGER IF EXISTS project_api_keys_revocation_irreversible;
DROP TABLE IF EXISTS project_api_keys;
