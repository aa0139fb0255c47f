-- v_step_durations judges each step against its own deadline. Migration 0002 marked every event
-- of a step overdue as soon as any sla.step_overdue alert named that step in the case, so a step
-- done on time showed as late because of a later wait for the same step (a revisited step, or a
-- wait started again after the step was done). Now an event is overdue only when it is the step
-- that ended an alerted wait, and it came after that wait's deadline.
DROP TABLE IF EXISTS {db}.v_step_durations;

-- How long did each step take against its standard? For every event: the step before it in the
-- case (by occurred_at, then chain position), the elapsed wall-clock hours, the step's limit
-- from the standard, and whether this event came after its own deadline. A wait for a step
-- starts at an event (the alert's first event id, `waited_from` its step) and ends at the first
-- event of the awaited step after it; when the tracker raised sla.step_overdue for that wait
-- (judged in working time with the agency's calendar and clock stops) and the ending event is
-- later than the deadline (the alert's occurred_at, `due_at`), that event is `overdue`.
CREATE VIEW IF NOT EXISTS {db}.v_step_durations AS
SELECT
    agency, service, case_id, step, event_id, officer_id, occurred_at,
    previous_step, previous_occurred_at, elapsed_seconds,
    round(elapsed_seconds / 3600, 2) AS elapsed_hours,
    step_sla, overdue, due_at, waited_from
FROM
(
    SELECT
        agency, service, case_id, step, event_id, officer_id, occurred_at,
        previous_step, previous_occurred_at, elapsed_seconds, step_sla
    FROM
    (
        SELECT
            agency, service, case_id,
            e.3 AS step, e.4 AS event_id, e.5 AS officer_id, e.1 AS occurred_at,
            if(i = 1, '', timeline[i - 1].3) AS previous_step,
            if(i = 1, e.1, timeline[i - 1].1) AS previous_occurred_at,
            toInt64(e.1) - toInt64(previous_occurred_at) AS elapsed_seconds
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
        ) AS cases
        ARRAY JOIN timeline AS e, arrayEnumerate(timeline) AS i
    ) AS steps
    ANY LEFT JOIN
    (
        SELECT agency, service, step, sla AS step_sla FROM {db}.v_service_steps
    ) AS standard USING (agency, service, step)
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
