-- A daily or monthly refill of the usage quota (apikey_core::limits::Refill):
-- uses_refill is N/day or N/month, NULL for none; uses_refill_period the
-- period (days or months since 1970-01) the quota was last refilled for.
-- Same columns as apikey_core::scaffold::KeyTable::uses_refill.
ALTER TABLE api_keys ADD COLUMN uses_refill TEXT NULL;
ALTER TABLE api_keys ADD COLUMN uses_refill_period BIGINT NULL;
