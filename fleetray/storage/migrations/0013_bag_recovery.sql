-- Bags a robot left damaged (power lost mid-recording): what was readable is decoded from a scan of
-- the records that are whole, the bag is marked partial, and recovery says, per storage file, what
-- was wrong with its index and how many bytes (and, where known, messages) were lost.
ALTER TABLE bags DROP CONSTRAINT bags_status_check;
ALTER TABLE bags ADD CONSTRAINT bags_status_check
    CHECK (status IN ('pending', 'processing', 'done', 'partial', 'failed'));
ALTER TABLE bags ADD COLUMN recovery jsonb;
