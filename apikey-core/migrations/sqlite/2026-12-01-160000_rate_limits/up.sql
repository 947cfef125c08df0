-- Rate limits and usage quotas (apikey_core::limits). rate_limit: N/period
-- (10/s, 600/min), NULL for none of the key's own; remaining_uses: uses
-- left, NULL for unlimited. Same columns as apikey_core::scaffold::KeyTable::
-- rate_limit and remaining_uses.
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT NULL;
ALTER TABLE api_keys ADD COLUMN remaining_uses BIGINT NULL;
