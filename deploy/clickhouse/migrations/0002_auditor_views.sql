-- Auditors' views over the history of record (contract section 6; docs/auditor-cookbook.md).
-- Each view answers one recurring question, named in the comment above it. They run on
-- ClickHouse 18.16 and on current ClickHouse: no window functions, no CTEs, one JOIN per
-- SELECT with explicit ANY/ALL strictness and USING, aliases never shadow a column they read.

-- Which events happened? Every stored event once (retries and replays may store one twice).
CREATE VIEW IF NOT EXISTS {db}.v_events AS
SELECT
    event_id, agency, service, case_id, step, seq, occurred_at, occurred_at_us,
    received_at, received_at_ms, officer_id, officer_role, applicant_ref,
    payment_amount, payment_currency, payment_receipt, reason, channel, mode, attributes,
    position, prev_hash, hash
FROM {db}.events
LIMIT 1 BY event_id;

-- Which alerts were raised? Every alert once.
CREATE VIEW IF NOT EXISTS {db}.v_alerts AS
SELECT
    alert_id, rule, category, severity, agency, service, case_id, step, officer_id,
    occurred_at, detected_at, detected_at_ms, message, evidence, event_ids
FROM {db}.alerts
LIMIT 1 BY alert_id;

-- What did operators do with the alerts? Every action once.
CREATE VIEW IF NOT EXISTS {db}.v_alert_actions AS
SELECT action_id, alert_id, action, actor, note, at, at_ms
FROM {db}.alert_actions
LIMIT 1 BY action_id;

-- Where does each alert stand? Its latest operator action (none: still open), who and when.
CREATE VIEW IF NOT EXISTS {db}.v_alert_status AS
SELECT
    alert_id, rule, severity, agency, service, case_id, officer_id, detected_at,
    if(actions = 0, 'open', last_action) AS status, last_actor, last_action_at, actions
FROM {db}.v_alerts
ANY LEFT JOIN
(
    SELECT
        alert_id,
        argMax(action, at) AS last_action,
        argMax(actor, at) AS last_actor,
        max(at) AS last_action_at,
        count() AS actions
    FROM {db}.v_alert_actions
    GROUP BY alert_id
) AS acted USING (alert_id);

-- What is the state of each case? The latest state the tracker published for it.
CREATE VIEW IF NOT EXISTS {db}.v_cases AS
SELECT
    agency, service, case_id,
    argMax(status, version) AS status,
    argMax(current_step, version) AS current_step,
    argMax(opened_at, version) AS opened_at,
    argMax(closed_at, version) AS closed_at,
    argMax(due_at, version) AS due_at,
    argMax(breached, version) AS breached,
    max(version) AS latest_version
FROM {db}.case_states
GROUP BY agency, service, case_id;

-- Did each agency meet its service standard, per service and month? Cases closed in the month
-- (UTC), how many within the standard's limit and how many past it, and the share within it.
CREATE VIEW IF NOT EXISTS {db}.v_sla_compliance AS
SELECT
    agency, service, month,
    count() AS cases_closed,
    countIf(was_breached = 0) AS within_sla,
    countIf(was_breached = 1) AS breached,
    round(100 * countIf(was_breached = 0) / count(), 1) AS compliance_pct
FROM
(
    SELECT agency, service, toStartOfMonth(assumeNotNull(closed_at)) AS month,
           breached AS was_breached
    FROM {db}.v_cases
    WHERE closed_at IS NOT NULL
) AS closed
GROUP BY agency, service, month;

-- The service standards in force: the latest catalog snapshot the sink loaded.
CREATE VIEW IF NOT EXISTS {db}.v_service_standards AS
SELECT agency, service, name, sla, fee_min, fee_max
FROM {db}.service_standards
WHERE loaded_at = (SELECT max(loaded_at) FROM {db}.service_standards);

-- The steps of the standards in force, with each step's own limit (empty: none).
CREATE VIEW IF NOT EXISTS {db}.v_service_steps AS
SELECT agency, service, step, step_index, sla, roles, mandatory, terminal, successful
FROM {db}.service_steps
WHERE loaded_at = (SELECT max(loaded_at) FROM {db}.service_steps);

-- How long did each step take against its standard? For every event: the step before it in the
-- case (by occurred_at, then chain position), the elapsed wall-clock hours, the step's limit
-- from the standard, and whether the tracker found the limit passed (an sla.step_overdue alert,
-- judged in working time with the agency's calendar).
CREATE VIEW IF NOT EXISTS {db}.v_step_durations AS
SELECT
    agency, service, case_id, step, event_id, officer_id, occurred_at,
    previous_step, previous_occurred_at, elapsed_seconds,
    round(elapsed_seconds / 3600, 2) AS elapsed_hours,
    step_sla, overdue
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
    SELECT agency, case_id, step, toUInt8(1) AS overdue
    FROM {db}.v_alerts
    WHERE rule = 'sla.step_overdue'
    GROUP BY agency, case_id, step
) AS late USING (agency, case_id, step);

-- Which payments differ from the official tariff? Every event with a payment outside the
-- service's fee range in the standard in force (any payment at all on a free service).
CREATE VIEW IF NOT EXISTS {db}.v_fee_discrepancies AS
SELECT
    agency, service, case_id, event_id, step, occurred_at, officer_id, payment_receipt,
    amount, fee_min, fee_max,
    if(amount > fee_max, amount - fee_max, fee_min - amount) AS difference
FROM
(
    SELECT
        agency, service, case_id, event_id, step, occurred_at, officer_id, payment_receipt,
        assumeNotNull(payment_amount) AS amount
    FROM {db}.v_events
    WHERE payment_amount IS NOT NULL
) AS payments
ALL INNER JOIN
(
    SELECT agency, service, fee_min, fee_max FROM {db}.v_service_standards
) AS tariff USING (agency, service)
WHERE amount < fee_min OR amount > fee_max;

-- Which rules fire where? Alerts per agency, service, rule and month of detection (UTC).
CREATE VIEW IF NOT EXISTS {db}.v_alerts_by_rule AS
SELECT
    agency, service, rule, category, month,
    count() AS alerts,
    uniqExact(case_id) AS cases
FROM
(
    SELECT agency, service, rule, category, case_id, toStartOfMonth(detected_at) AS month
    FROM {db}.v_alerts
) AS detected
GROUP BY agency, service, rule, category, month;

-- Which officers are named in alerts, for which rules? Alerts and distinct cases per officer.
CREATE VIEW IF NOT EXISTS {db}.v_alerts_by_officer AS
SELECT
    agency, officer_id, rule,
    count() AS alerts,
    uniqExact(case_id) AS cases,
    min(detected_at) AS first_detected_at,
    max(detected_at) AS last_detected_at
FROM {db}.v_alerts
WHERE officer_id != ''
GROUP BY agency, officer_id, rule;

-- Which officers did both steps of a pair the standard requires to be separated
-- (duty.same_officer alerts)? Per officer: alerts, distinct cases, the cases and the steps.
CREATE VIEW IF NOT EXISTS {db}.v_duty_separation AS
SELECT
    agency, service, officer_id,
    count() AS alerts,
    uniqExact(case_id) AS cases,
    arraySort(groupUniqArray(case_id)) AS case_ids,
    arraySort(groupUniqArray(step)) AS steps,
    min(detected_at) AS first_detected_at,
    max(detected_at) AS last_detected_at
FROM {db}.v_alerts
WHERE rule = 'duty.same_officer'
GROUP BY agency, service, officer_id;
