-- The history of record (contract section 6). Every table is append-only; retries and replays may
-- store a row twice, and the v_* views show each event, alert and case once.
-- Types are chosen to work on ClickHouse 18.16 and on current ClickHouse alike: plain String and
-- DateTime (UTC), no DateTime64, no LowCardinality, no Nullable in sorting keys.

CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id String,
    agency String,
    service String,
    case_id String,
    step String,
    seq UInt32,
    occurred_at DateTime,
    occurred_at_ms UInt16,
    received_at DateTime,
    received_at_ms UInt16,
    officer_id String,
    officer_role String,
    applicant_ref String,
    payment_amount Decimal(18, 2),
    payment_currency String,
    payment_receipt String,
    channel String,
    mode String,
    reason String,
    attributes String,
    canonical String,
    prev_hash String,
    hash String,
    position UInt32,
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (agency, service, case_id, position, event_id);

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
    occurred_at DateTime,
    detected_at DateTime,
    detected_at_ms UInt16,
    message String,
    evidence String,
    event_ids Array(String),
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (agency, rule, detected_at, alert_id);

CREATE TABLE IF NOT EXISTS {db}.alert_actions
(
    action_id String,
    alert_id String,
    action String,
    actor String,
    note String,
    at DateTime,
    at_ms UInt16,
    stored_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at, action_id);

CREATE TABLE IF NOT EXISTS {db}.case_states
(
    agency String,
    service String,
    case_id String,
    version UInt64,
    status String,
    current_step String,
    opened_at DateTime,
    closed_at DateTime,
    due_at DateTime,
    breached UInt8,
    state String,
    updated_at DateTime,
    stored_at DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (agency, service, case_id);
