-- The service standards by version (docs/catalog.md#versions-changing-a-standard). The sink
-- writes the services and steps of each published version when it stores the version, with its
-- number and from when it is valid; a case is compared with the version it follows
-- (v_cases.standard_version). Version 0 is the catalog the sink was started with, for the cases
-- judged while no version was published. Rows stored before this migration become version 0;
-- the sink, at start, stores the services and steps of every version in `standards` that has
-- none.
ALTER TABLE {db}.service_standards ADD COLUMN version UInt32 DEFAULT 0;
ALTER TABLE {db}.service_standards ADD COLUMN valid_from DateTime DEFAULT toDateTime(0);
ALTER TABLE {db}.service_steps ADD COLUMN version UInt32 DEFAULT 0;

DROP TABLE IF EXISTS {db}.v_service_standards;
DROP TABLE IF EXISTS {db}.v_service_steps;
DROP TABLE IF EXISTS {db}.v_step_durations;
DROP TABLE IF EXISTS {db}.v_fee_discrepancies;

-- What did each version of the service standards say of each service? One row per version and
-- service: its limit (`sla`) and tariff, and from when the version is valid (UTC). Version 0 is
-- the catalog the sink was last started with (valid_from 1970-01-01).
CREATE VIEW IF NOT EXISTS {db}.v_service_standards_by_version AS
SELECT agency, service, version, valid_from, name, sla, fee_min, fee_max
FROM {db}.service_standards
WHERE (version, loaded_at) IN
(
    SELECT version, max(loaded_at) FROM {db}.service_standards GROUP BY version
)
LIMIT 1 BY agency, service, version;

-- What did each version say of each step? One row per version, service and step: the step's
-- own limit (empty: none), roles, and whether it is mandatory, terminal, successful.
CREATE VIEW IF NOT EXISTS {db}.v_service_steps_by_version AS
SELECT
    agency, service, version, step, step_index, sla, roles, mandatory, terminal, successful
FROM {db}.service_steps
WHERE (version, loaded_at) IN
(
    SELECT version, max(loaded_at) FROM {db}.service_steps GROUP BY version
)
LIMIT 1 BY agency, service, version, step;

-- The service standards in force now: the services of the highest-numbered version whose
-- valid_from has come (before the first one's, the first version; version 0 when none was
-- published), with their limit and tariff.
CREATE VIEW IF NOT EXISTS {db}.v_service_standards AS
SELECT agency, service, name, sla, fee_min, fee_max, version, valid_from
FROM {db}.v_service_standards_by_version
WHERE version =
(
    SELECT
        if(countIf(version > 0) = 0, toUInt32(0),
           if(countIf(version > 0 AND valid_from <= now()) = 0,
              minIf(version, version > 0),
              maxIf(version, version > 0 AND valid_from <= now())))
    FROM {db}.service_standards
);

-- The steps of the standards in force now, with each step's own limit (empty: none).
CREATE VIEW IF NOT EXISTS {db}.v_service_steps AS
SELECT
    agency, service, step, step_index, sla, roles, mandatory, terminal, successful, version
FROM {db}.v_service_steps_by_version
WHERE version =
(
    SELECT
        if(countIf(version > 0) = 0, toUInt32(0),
           if(countIf(version > 0 AND valid_from <= now()) = 0,
              minIf(version, version > 0),
              maxIf(version, version > 0 AND valid_from <= now())))
    FROM {db}.service_standards
);

-- How long did each step take against its standard? For every event: the step before it in the
-- case (by occurred_at, then chain position), the elapsed wall-clock hours, the step's limit in
-- the version of the standards the case follows (`standard_version`, from v_cases), and whether
-- this event came after its own deadline. A wait for a step starts at an event (the alert's
-- first event id, `waited_from` its step) and ends at the first event of the awaited step after
-- it; when the tracker raised sla.step_overdue for that wait (judged in working time with the
-- agency's calendar and clock stops) and the ending event is later than the deadline (the
-- alert's occurred_at, `due_at`), that event is `overdue`.
CREATE VIEW IF NOT EXISTS {db}.v_step_durations AS
SELECT
    agency, service, case_id, step, event_id, officer_id, occurred_at,
    previous_step, previous_occurred_at, elapsed_seconds,
    round(elapsed_seconds / 3600, 2) AS elapsed_hours,
    step_sla, overdue, due_at, waited_from, standard_version
FROM
(
    SELECT
        agency, service, case_id, step, event_id, officer_id, occurred_at,
        previous_step, previous_occurred_at, elapsed_seconds, step_sla, standard_version
    FROM
    (
        SELECT
            agency, service, case_id, standard_version,
            e.3 AS step, e.4 AS event_id, e.5 AS officer_id, e.1 AS occurred_at,
            if(i = 1, '', timeline[i - 1].3) AS previous_step,
            if(i = 1, e.1, timeline[i - 1].1) AS previous_occurred_at,
            toInt64(e.1) - toInt64(previous_occurred_at) AS elapsed_seconds
        FROM
        (
            SELECT agency, service, case_id, timeline, standard_version
            FROM
            (
                SELECT
                    agency, service, case_id,
                    arraySort(
                        x -> (x.1, x.2),
                        groupArray((occurred_at, position, step, event_id, officer_id))
                    ) AS timeline
                FROM {db}.v_events
                GROUP BY agency, service, case_id
            ) AS histories
            ANY LEFT JOIN
            (
                SELECT agency, service, case_id, standard_version FROM {db}.v_cases
            ) AS judged USING (agency, service, case_id)
        ) AS cases
        ARRAY JOIN timeline AS e, arrayEnumerate(timeline) AS i
    ) AS steps
    ANY LEFT JOIN
    (
        SELECT agency, service, toUInt64(version) AS standard_version, step, sla AS step_sla
        FROM {db}.v_service_steps_by_version
    ) AS standard USING (agency, service, standard_version, step)
) AS timed
ANY LEFT JOIN
(
    SELECT
        ended_by AS event_id,
        toUInt8(1) AS overdue,
        toNullable(min(deadline)) AS due_at,
        any(anchor_step) AS waited_from
    FROM
    (
        SELECT
            deadline,
            wait.1 AS anchor_index,
            timeline[anchor_index].3 AS anchor_step,
            arrayFirstIndex(
                (x, j) -> j > wait.1 AND x.3 = wait.2,
                timeline,
                arrayEnumerate(timeline)
            ) AS ending,
            timeline[ending].4 AS ended_by,
            timeline[ending].1 AS ended_at
        FROM
        (
            SELECT
                deadline, timeline,
                (indexOf(arrayMap(x -> x.4, timeline), anchor_event), awaited) AS wait
            FROM
            (
                SELECT
                    agency, service, case_id, step AS awaited,
                    assumeNotNull(occurred_at) AS deadline,
                    event_ids[1] AS anchor_event
                FROM {db}.v_alerts
                WHERE rule = 'sla.step_overdue' AND occurred_at IS NOT NULL
            ) AS waits
            ALL INNER JOIN
            (
                SELECT
                    agency, service, case_id,
                    arraySort(
                        x -> (x.1, x.2),
                        groupArray((occurred_at, position, step, event_id))
                    ) AS timeline
                FROM {db}.v_events
                GROUP BY agency, service, case_id
            ) AS histories USING (agency, service, case_id)
        ) AS anchored
        WHERE anchor_index > 0
    ) AS ended
    WHERE ending > 0 AND ended_at > deadline
    GROUP BY ended_by
) AS late USING (event_id);

-- Which payments differ from the official tariff? Every event with a payment outside the fee
-- range of its service in the version of the standards its case follows (`standard_version`,
-- from v_cases), any payment at all on a free service.
CREATE VIEW IF NOT EXISTS {db}.v_fee_discrepancies AS
SELECT
    agency, service, case_id, event_id, step, occurred_at, officer_id, payment_receipt,
    amount, fee_min, fee_max,
    if(amount > fee_max, amount - fee_max, fee_min - amount) AS difference,
    standard_version
FROM
(
    SELECT
        agency, service, case_id, event_id, step, occurred_at, officer_id, payment_receipt,
        amount, standard_version
    FROM
    (
        SELECT
            agency, service, case_id, event_id, step, occurred_at, officer_id, payment_receipt,
            assumeNotNull(payment_amount) AS amount
        FROM {db}.v_events
        WHERE payment_amount IS NOT NULL
    ) AS paid
    ANY LEFT JOIN
    (
        SELECT agency, service, case_id, standard_version FROM {db}.v_cases
    ) AS judged USING (agency, service, case_id)
) AS payments
ALL INNER JOIN
(
    SELECT agency, service, toUInt64(version) AS standard_version, fee_min, fee_max
    FROM {db}.v_service_standards_by_version
) AS tariff USING (agency, service, standard_version)
WHERE amount < fee_min OR amount > fee_max;
