-- Where each case's events are stored (docs/history-of-record.md#chain-heads). `events` is
-- ordered by agency, service and case, while the sink knows a case by agency and case id: to
-- read a case's chain head it first finds the case's services here (ordered by case), then only
-- the case's rows of `events`, instead of reading the case id of every stored row. Every stored
-- event's agency, case and service has a row here: the store writes them before the events
-- (a repeated row is harmless), and this migration writes those of the events stored before it.
CREATE TABLE IF NOT EXISTS {db}.case_services
(
    agency String,
    case_id String,
    service String,
    noted_at DateTime
)
ENGINE = MergeTree
ORDER BY (agency, case_id, service);

INSERT INTO {db}.case_services (agency, case_id, service, noted_at)
SELECT DISTINCT agency, case_id, service, now() FROM {db}.events;
