-- Erasures of applicants' personal data (docs/history-of-record.md#erasure): who destroyed
-- which applicant's data keys, when and why. A row names the applicant only by its key id
-- (SHA-256 of the keyed pseudonym) and the data keys destroyed, never the erased data. An
-- erasure recorded twice (a repeated command) is stored twice; v_erasures shows each once.
CREATE TABLE IF NOT EXISTS {db}.erasures
(
    erasure_id String,
    erased_at DateTime,
    erased_by String,
    why String,
    scope String,
    applicant_key String,
    data_keys Array(String),
    stored_at DateTime
)
ENGINE = MergeTree
ORDER BY (applicant_key, erased_at, erasure_id);

-- Whose personal data was erased, by whom, when and why? One row per erasure (UTC).
CREATE VIEW IF NOT EXISTS {db}.v_erasures AS
SELECT
    erasure_id,
    argMax(erased_at, stored_at) AS erased_at,
    argMax(erased_by, stored_at) AS erased_by,
    argMax(why, stored_at) AS why,
    argMax(scope, stored_at) AS scope,
    argMax(applicant_key, stored_at) AS applicant_key,
    argMax(data_keys, stored_at) AS data_keys
FROM {db}.erasures
GROUP BY erasure_id;

-- Which events carry sealed personal data, and is it erased? One row per event: the data key
-- its envelope names (empty when nothing is sealed) and whether that key was destroyed.
CREATE VIEW IF NOT EXISTS {db}.v_personal_data AS
SELECT
    event_id, agency, service, case_id, applicant_ref,
    visitParamExtractString(visitParamExtractRaw(attributes, 'pantau_sealed'), 'key') AS data_key,
    data_key != '' AS sealed,
    data_key != '' AND data_key IN (SELECT arrayJoin(data_keys) FROM {db}.erasures) AS erased
FROM {db}.v_events;
