-- Sealed receipts: the chain of version 2 covers when and where the broker received each event.
-- `receipt` is compact JSON of the receive time (UTC, milliseconds), the Kafka partition and the
-- offset, built from received_at, received_at_ms, source_partition and source_offset; `hash` is
-- SHA-256 over prev_hash, canonical, a newline and receipt. Rows stored before this migration
-- keep chain version 1 (hash over prev_hash and canonical only, receipt empty): `pantau verify`
-- checks them as before and counts them as legacy rows whose receive time is not sealed.
ALTER TABLE {db}.events ADD COLUMN chain_version UInt8 DEFAULT 1;
ALTER TABLE {db}.events ADD COLUMN receipt String DEFAULT '';
