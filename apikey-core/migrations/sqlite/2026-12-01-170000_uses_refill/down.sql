ALTER TABLE api_keys DROP COLUMN uses_refill_period;
ALTER TABLE api_keys DROP COLUMN uses_refill;
