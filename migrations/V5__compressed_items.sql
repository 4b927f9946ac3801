-- Raw items may be stored compressed: an export's chunks are JSON, which zstd makes
-- about ten times smaller, so a big import writes (and keeps) a tenth of the bytes.
-- NULL encoding: the payload as it arrived.
ALTER TABLE ingested_items ADD COLUMN encoding TEXT CHECK (encoding IN ('zstd'));
-- The payload's size before encoding (NULL: length(payload)), for the pipeline's memory budget.
ALTER TABLE ingested_items ADD COLUMN payload_size INTEGER;
