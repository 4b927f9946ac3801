-- Emergency export mode: when a platform's emergency work finished, and an automatic
-- proposal waiting for a person's confirmation (the reason, shown in the banner).
ALTER TABLE platforms ADD COLUMN emergency_finished_at INTEGER;
ALTER TABLE platforms ADD COLUMN emergency_proposed TEXT;
-- How many items the platform says the account holds, when its API tells (a total in a
-- header or a field): the emergency page estimates what is left from it.
ALTER TABLE connections ADD COLUMN expected_items INTEGER;
