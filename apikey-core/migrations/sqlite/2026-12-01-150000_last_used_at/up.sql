-- When the key was last used (written off the request path, at most once per
-- key per interval: apikey_core::BaseApiKeyManager::with_last_used). Same
-- column as apikey_core::scaffold::KeyTable::last_used_at.
ALTER TABLE api_keys ADD COLUMN last_used_at DATETIME NULL;
