-- Nothing to install on SQLite: the verification cache's change feed reads
-- PRAGMA data_version, which moves on every commit to the database file.
-- (This migration keeps the two backends' migration versions in step.)
SELECT 1;
