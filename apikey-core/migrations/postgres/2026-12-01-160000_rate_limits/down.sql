ALTER TABLE api_keys DROP COLUMN remaining_uses;
ALTER TABLE api_keys DROP COLUMN rate_limit;
