-- Every published version of the service standards, as the sink reads them from the standards
-- topic: its number, content hash, from when it is valid, who published it and when, and the
-- catalog itself (canonical JSON, docs/catalog.md). A version delivered twice is stored twice;
-- v_standards shows each once.
CREATE TABLE IF NOT EXISTS {db}.standards
(
    version UInt32,
    content_hash String,
    valid_from DateTime,
    published_by String,
    published_at DateTime,
    catalog String,
    stored_at DateTime
)
ENGINE = MergeTree
ORDER BY (version, stored_at);

-- Which versions of the service standards were published, valid from when, by whom? One row
-- per version (times in UTC, to the second).
CREATE VIEW IF NOT EXISTS {db}.v_standards AS
SELECT
    version,
    argMax(content_hash, stored_at) AS content_hash,
    argMax(valid_from, stored_at) AS valid_from,
    argMax(published_by, stored_at) AS published_by,
    argMax(published_at, stored_at) AS published_at,
    argMax(catalog, stored_at) AS catalog
FROM {db}.standards
GROUP BY version;

-- v_cases also says which version of the service standards each case is judged by
-- (`standard_version`, from the tracker's state; 0 when the standards were not published).
DROP TABLE IF EXISTS {db}.v_cases;

-- What is the latest state of each case? One row per case: its status, step, times, whether it
-- breached its standard, and the version of the service standards it is judged by.
CREATE VIEW IF NOT EXISTS {db}.v_cases AS
SELECT
    agency, service, case_id,
    argMax(status, version) AS status,
    argMax(current_step, version) AS current_step,
    argMax(opened_at, version) AS opened_at,
    argMax(closed_at, version) AS closed_at,
    argMax(due_at, version) AS due_at,
    argMax(breached, version) AS breached,
    max(version) AS latest_version,
    argMax(visitParamExtractUInt(state, 'standard_version'), version) AS standard_version
FROM {db}.case_states
GROUP BY agency, service, case_id;
