-- Scopes (apikey_core::scopes), space-separated; '' is none. Same column as
-- apikey_core::scaffold::KeyTable::scopes.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
