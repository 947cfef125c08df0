-- Key rotation (apikey_core::BaseApiKeyManager::rotate): the prefix of the
-- key a new key replaced. Same column as apikey_core::scaffold::KeyTable::rotated_from.
ALTER TABLE api_keys ADD COLUMN rotated_from VARCHAR(64) NULL;
