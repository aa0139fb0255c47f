-- The history of record (contract section 6), written by `pantau sink`. Every table is
-- append-only: retries and replays may store a row twice, and the v_* views (0002) show each
-- event, alert, action and case once.
-- Types are chosen to work on ClickHouse 18.16 and on current ClickHouse alike: String, DateTime
-- in UTC with the sub-second part in a separate column, Decimal for money, no DateTime64, no
-- LowCardinality, Nullable only where "absent" must differ from a value and never in a key.

-- One row per stored event. `position` is the event's place in its case's hash chain (1 = first
-- received); `hash` = SHA-256 hex over `prev_hash` (hex, empty for position 1) followed by
-- `canonical`, the canonical JSON of the event. Every other event column is a copy of a field of
-- `canonical`, so `pantau verify` can tell when a column was edited.
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id String,
    agency String,
    service String,
    case_id String,
    step String,
    seq Nullable(UInt64),
    occurred_at DateTime,
    occurred_at_us UInt32,
    received_at DateTime,
    received_at_ms UInt16,
    officer_id String,
    officer_role String,
    applicant_ref String,
    payment_amount Nullable(Decimal(18, 2)),
    payment_currency String,
    payment_receipt String,
    reason String,
    channel String,
    mode String,
    attributes String,
    canonical String,
    position UInt32,
    prev_hash String,
    hash String,
    source_partition UInt32,
    source_offset UInt64,
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (agency, service, case_id, position, event_id);

-- One row per stored alert (contract section 5); `alert` is the alert's JSON as published.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id String,
    rule String,
    category String,
    severity String,
    agency String,
    service String,
    case_id String,
    step String,
    officer_id String,
    occurred_at Nullable(DateTime),
    detected_at DateTime,
    detected_at_ms UInt16,
    message String,
    evidence String,
    event_ids Array(String),
    alert String,
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (agency, rule, detected_at, alert_id);

-- One row per operator action on an alert (ack, resolve, comment, ...); `raw` is the record.
CREATE TABLE IF NOT EXISTS {db}.alert_actions
(
    action_id String,
    alert_id String,
    action String,
    actor String,
    note String,
    at DateTime,
    at_ms UInt16,
    raw String,
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at, action_id);

-- One row per case-state change published by the tracker (every version is kept, so the table
-- is the case's state history); `state` is the record as published, `updated_at` its Kafka time.
CREATE TABLE IF NOT EXISTS {db}.case_states
(
    agency String,
    service String,
    case_id String,
    version UInt64,
    status String,
    current_step String,
    opened_at Nullable(DateTime),
    closed_at Nullable(DateTime),
    due_at Nullable(DateTime),
    breached UInt8,
    state String,
    updated_at DateTime,
    stored_at DateTime
)
ENGINE = MergeTree
ORDER BY (agency, service, case_id, version);

-- The service standards of the catalog, one snapshot per load (the sink loads the catalog it
-- validates with at start); views use the latest snapshot (max loaded_at).
CREATE TABLE IF NOT EXISTS {db}.service_standards
(
    agency String,
    service String,
    name String,
    sla String,
    fee_min Decimal(18, 2),
    fee_max Decimal(18, 2),
    loaded_at DateTime
)
ENGINE = MergeTree
ORDER BY (agency, service, loaded_at);

-- The steps of each service standard with their own limit (`sla`, empty when the step has none),
-- whether the standard requires them before a successful end (`mandatory`), and whether they end
-- a case (`terminal`) successfully (`successful`), from the same snapshots as service_standards.
CREATE TABLE IF NOT EXISTS {db}.service_steps
(
    agency String,
    service String,
    step String,
    step_index UInt16,
    sla String,
    roles Array(String),
    mandatory UInt8,
    terminal UInt8,
    successful UInt8,
    loaded_at DateTime
)
ENGINE = MergeTree
ORDER BY (agency, service, step, loaded_at);
