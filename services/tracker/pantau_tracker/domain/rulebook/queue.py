"""`queue.jump`: a case overtakes earlier-submitted cases that waited longer at the same step.

State key: `<agency>|<service>` (`queue_key`). Queues of every step of a service live in one
state so that a case leaving one step and joining the next is a single update. The state is
bounded: per step at most `max_waiting` cases, and a case waiting longer than `stale_after` is
forgotten as abandoned (it is long overdue, and the deadline rules have said so).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event, service_key
from pantau.core.frozen import once, quick_init
from pantau_tracker.domain.rulebook.case_step import CaseStep, instant_from_text, instant_text
from pantau_tracker.domain.rulebook.cross_case import StatefulRule
from pantau_tracker.domain.rulebook.family import Family, Stage

EVIDENCE_CASES_MAX = 10  # overtaken cases named in an alert; the count says how many in all


def queue_key(event: Event) -> str:
    """The state key of `QueueState`: `<agency>|<service>`."""
    return service_key(event.agency, event.service)


class Waiting(tuple[datetime, datetime, str]):
    """A case waiting at a step: since when, and when it was submitted (kept in UTC).

    A tuple (since, submitted at, case id): entries order by it, the order of the queues,
    so the bisections compare them in compiled code. Its instants are in UTC, as they are
    read back from state: datetimes of one time zone object compare without asking it for
    their offsets."""

    def __new__(cls, case_id: str, since: datetime, submitted_at: datetime) -> Waiting:
        return super().__new__(cls, (since.astimezone(UTC), submitted_at.astimezone(UTC), case_id))

    @property
    def since(self) -> datetime:
        return self[0]

    @property
    def submitted_at(self) -> datetime:
        return self[1]

    @property
    def case_id(self) -> str:
        return self[2]

    @once
    def row(self) -> list[str]:
        """The entry as stored: written with the whole queue, so made once (and only for an
        entry still waiting when its state is written)."""
        return [self[2], instant_text(self[0]), instant_text(self[1])]


@quick_init
@dataclass(frozen=True)
class QueueState:
    """The cases of one agency and service waiting at each step, longest waiting first."""

    waiting: Mapping[str, tuple[Waiting, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return {
            "waiting": {
                step: [w.row for w in queue] for step, queue in sorted(self.waiting.items())
            }
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueState:
        """The state `to_dict` gave; ValueError or KeyError on anything else."""
        return cls(
            {
                str(step): tuple(
                    Waiting(str(case_id), instant_from_text(since), instant_from_text(submitted))
                    for case_id, since, submitted in queue
                )
                for step, queue in data["waiting"].items()
            }
        )


def observe_queue(
    state: QueueState, step: CaseStep, now: datetime
) -> tuple[QueueState, list[Alert]]:
    """Move the case from the queue of its previous step to the queue of its new step, and alert
    when completing the step overtook at least `min_positions` earlier-submitted cases that had
    each been waiting at that step at least `min_wait` longer than this case.

    Only a forward staff step counts as overtaking: a rejection, a clock stop, a payment (the
    applicant's act) or an automatic step moves the case without overtaking anyone. A case does
    not join a queue at a terminal step or while its clock is stopped (it waits for the applicant).
    """
    policy = step.policy.queue_jump
    if not policy.enabled:
        return state, []
    event = step.event
    at = event.occurred_at.astimezone(UTC)  # as the entries' instants (`Waiting`)
    # Measured from the receive time when the event claims a later time: one step stamped a
    # year ahead (a clock or typing error) must not make every waiting case look abandoned.
    stale_before = min(at, now) - policy.stale_after.as_timedelta()
    # Queues are ordered by `since`, so the stale cases are a prefix of each.
    queues = {
        name: queue if not queue or queue[0].since >= stale_before else _fresh(queue, stale_before)
        for name, queue in state.waiting.items()
    }
    submitted_at = step.opened_at or at
    alerts: list[Alert] = []
    if step.previous_step is not None:
        queue = queues.get(step.previous_step, ())
        position = _position(queue, event.case_id, step.previous_at)
        own = None if position is None else queue[position]
        since = own.since if own is not None else step.previous_at or at
        if own is not None:
            submitted_at = step.opened_at or own.submitted_at
        if position is not None:
            queue = queue[:position] + queue[position + 1 :]
        queues[step.previous_step] = queue
        if _overtakes(step):
            longer = queue[: _waited_longer_count(step, queue, since)]
            overtaken = [w for w in longer if w.submitted_at < submitted_at]
            if len(overtaken) >= policy.min_positions:
                alerts.append(_alert(step, now, since, overtaken))
    definition = step.definition
    if definition is not None and not definition.terminal and definition.clock != "stop":
        # A case waits in one queue at most, that of its latest step, which it just left.
        joining = queues.get(event.step, ())
        entry = Waiting(event.case_id, at, submitted_at)
        index = bisect.bisect_right(joining, entry)
        joined = joining[:index] + (entry,) + joining[index:]  # noqa: RUF005 (unpacking: 1.7x slower)
        queues[event.step] = joined[-policy.max_waiting :]
    return QueueState({name: queue for name, queue in queues.items() if queue}), alerts


def _fresh(queue: tuple[Waiting, ...], stale_before: datetime) -> tuple[Waiting, ...]:
    """The queue without its stale prefix (most steps find none: the caller asks only when
    the head is stale, without a call for each of the service's queues)."""
    return queue[bisect.bisect_left(queue, (stale_before,)) :]


def _position(queue: Sequence[Waiting], case_id: str, since: datetime | None) -> int | None:
    """Where `case_id` waits in `queue`, if it does. `since`, when known, is when it began to
    wait there (a case joins the queue of a step when that step occurs, and the case's
    previous time is that step's): the queue is ordered by it, so a binary search finds it."""
    if since is not None:
        index = bisect.bisect_left(queue, (since,))  # the first entry since `since` or later
        while index < len(queue) and queue[index].since == since:
            if queue[index].case_id == case_id:
                return index
            index += 1
        return None
    for index, entry in enumerate(queue):
        if entry.case_id == case_id:
            return index
    return None


def _overtakes(step: CaseStep) -> bool:
    definition = step.definition
    if definition is None or not step.is_staff_step:
        return False
    if definition.is_rejection or definition.clock == "stop":
        return False
    chosen = step.policy.queue_jump.steps
    return chosen is None or step.event.step in chosen


def _waited_longer_count(step: CaseStep, queue: tuple[Waiting, ...], own_since: datetime) -> int:
    """How many cases at the head of `queue` (longest waiting first) had already waited
    `min_wait` when this case began waiting.

    A later start never has an earlier deadline, so a search needs only a few deadline
    computations however long the queue is. The count is nearly always small (a case rarely
    began waiting long after many others), so the search first doubles a bound from the head
    until it passes the count, then halves within it: about 2 log2(count) + 1 computations
    instead of log2(len(queue)), one when no case had waited that long.
    """
    min_wait = step.policy.queue_jump.min_wait
    deadline = step.calendar.deadline
    low, high, size = 0, 1, len(queue)
    while high <= size:  # queue[:low] all counted; is queue[high - 1]?
        due = deadline(queue[high - 1].since, min_wait)
        if due is None or due > own_since:
            break
        low, high = high, 2 * high
    high = min(high - 1, size)  # queue[high] is known not counted, or the end
    while low < high:
        middle = (low + high) // 2
        due = deadline(queue[middle].since, min_wait)
        if due is not None and due <= own_since:
            low = middle + 1
        else:
            high = middle
    return low


def _alert(step: CaseStep, now: datetime, since: datetime, overtaken: list[Waiting]) -> Alert:
    policy = step.policy.queue_jump
    event = step.event
    longest = min(overtaken)
    named: list[JsonValue] = [
        {"case_id": w.case_id, "waiting_since": instant_text(w.since)}
        for w in sorted(overtaken)[:EVIDENCE_CASES_MAX]
    ]
    return step.alert(
        Rule.QUEUE_JUMP,
        trigger=event.event_id,
        now=now,
        message=(
            f"Step {event.step} completed after waiting at {step.previous_step} since "
            f"{instant_text(since)}, ahead of {len(overtaken)} earlier-submitted cases waiting "
            f"at least {policy.min_wait} longer (the longest since {instant_text(longest.since)})"
        ),
        evidence={
            "waited_at": step.previous_step,
            "waiting_since": instant_text(since),
            "overtaken": len(overtaken),
            "overtaken_cases": named,
            "min_positions": policy.min_positions,
            "min_wait": str(policy.min_wait),
        },
    )


RULE = StatefulRule[QueueState](
    "queue", (Rule.QUEUE_JUMP,), queue_key, QueueState, QueueState.from_dict, observe_queue
)
FAMILY = Family(RULE.name, Stage.SERVICE, (Rule.QUEUE_JUMP,), RULE)
