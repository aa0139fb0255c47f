"""What the simulator plans and sends, and the honest draws it plans with.

A `Draft` is a case being planned (its steps, times, officers and the adjustments a planter
makes); a `Group` is cases planted together; an `Emission` is an event as the source sends it,
with the `CaseTruth` of its case on the case's first one. Officers are drawn with NIP-like ids
and uneven workloads, representatives with pseudonymous references, fees within the tariff and
paid with a receipt through a channel the service takes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pantau.core.catalog import Catalog, Service
from pantau.core.events import Event
from pantau.core.rule_table import RULES, Kind, Table, rules_of
from pantau.core.working_time import WorkingCalendar

Regime = Literal["live", "backfill"]

# The rules the simulator plants and the evaluation scores, read off the rule table: the
# contract's (section 5), then the cross-case rules, deemed approval of the services that declare
# it, and how a case's fee is assessed and paid (docs/contract-extensions.md); `fee.mismatch` of
# the contract is planted against the case's assessment as well where the service assesses.
CONTRACT_RULES: tuple[str, ...] = rules_of(Table.CONTRACT)
CROSS_CASE_RULES: tuple[str, ...] = rules_of(Table.CROSS_CASE)
DEEMED_APPROVAL_RULES: tuple[str, ...] = rules_of(Table.DEEMED_APPROVAL)
FEE_RULES: tuple[str, ...] = rules_of(Table.FEE)
ALL_RULES: tuple[str, ...] = tuple(
    rule for rule, info in RULES.items() if info.kind is not Kind.REPORTED
)

PAYMENT_CHANNELS = ("bank", "online", "cash")
UNSTATED_PAYMENT_CHANNEL = 0.1  # share of payments recorded without their channel


@dataclass(frozen=True)
class CaseTruth:
    """What one simulated case should raise: `rules` (empty for a clean case), `planted` rule."""

    agency: str
    service: str
    case_id: str
    rules: tuple[str, ...]
    planted: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ground-truth line of this case."""
        return {
            "agency": self.agency,
            "service": self.service,
            "case_id": self.case_id,
            "rules": list(self.rules),
            "planted": self.planted,
        }


@dataclass(frozen=True)
class Emission:
    """An event as the source sends it, at simulated instant `sent_at`.

    `anchored`: `occurred_at - sent_at` is what matters, so an adapter that sends at another
    real time moves `occurred_at` by as much. `truth` is set on the first emission of a case.
    """

    sent_at: datetime
    event: Event
    anchored: bool = False
    truth: CaseTruth | None = None


@dataclass(frozen=True)
class Officer:
    """A simulated civil servant: an 18-digit NIP-like id and the role they hold."""

    id: str
    role: str


@dataclass
class Draft:
    """A case being planned: its steps, times, officers, and per-event adjustments."""

    service: Service
    calendar: WorkingCalendar
    case_id: str
    path: list[str]
    times: list[datetime] = field(default_factory=list)
    officers: list[Officer | None] = field(default_factory=list)
    sent_delay: dict[int, timedelta] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)
    duplicates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (index, changes)
    follows: set[int] = field(default_factory=set)  # sent together with the event before it
    anchored: bool = False
    representative: str | None = None  # attributes.representative_ref of the submission
    exempt: set[int] = field(default_factory=set)  # completions of a planted burst
    fee: str | None = None  # the fee assessed (and paid) for the case; None: drawn honestly


@dataclass(frozen=True)
class Group:
    """Cases planted together (a burst, an episode, a queue): `drafts[planted]` raises the rule,
    the others are clean cases that make it possible."""

    drafts: list[Draft]
    planted: int


# Special timing of one step: ("at", instant), ("fast", share of the minimum), ("off_hours",).
Special = tuple[Any, ...]


# --- honest draws ---------------------------------------------------------------------------


def paid(
    service: Service, amount: str, rng: random.Random, *, receipt: bool = True
) -> dict[str, Any]:
    """An honest payment of `amount`: with a receipt number, through a channel the service
    takes (now and then not stated)."""
    payment: dict[str, Any] = {"amount": amount, "currency": "IDR"}
    if receipt:
        payment["receipt"] = f"KW-{rng.randrange(10**6):06d}"
    allowed = [c for c in PAYMENT_CHANNELS if c in (service.payment_channels or PAYMENT_CHANNELS)]
    if rng.random() >= UNSTATED_PAYMENT_CHANNEL:
        payment["channel"] = rng.choice(allowed)
    return payment


def tariff_amount(service: Service, rng: random.Random) -> str:
    fee = service.fee
    if fee.is_fixed:
        return format(fee.min, "f")
    spread = float(fee.max - fee.min)
    amount = fee.min + Decimal(int(spread * rng.random() ** 3 / 1000) * 1000)
    return format(min(amount, fee.max), "f")


def busy_first(pool: Sequence[Officer], rng: random.Random) -> Officer:
    """Some officers carry far more of the work than others (Zipf-like weights)."""
    return rng.choices(list(pool), [1.0 / (rank + 1) for rank in range(len(pool))])[0]


def officer_pools(
    catalog: Catalog, rng: random.Random, staffing: int
) -> dict[tuple[str, str], list[Officer]]:
    pools: dict[tuple[str, str], list[Officer]] = {}
    for service in catalog.services.values():
        for step in service.steps:
            for role in step.roles:
                key = (service.agency, role)
                if key in pools:
                    continue
                size = rng.randint(3, 6) * staffing
                pools[key] = [Officer(_nip(rng), role) for _ in range(size)]
    return pools


def _nip(rng: random.Random) -> str:
    """An 18-digit NIP: birth date, appointment month, sex, serial."""
    born = f"{rng.randint(1965, 1998)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    appointed = f"{rng.randint(1990, 2022)}{rng.randint(1, 12):02d}"
    return f"{born}{appointed}{rng.randint(1, 2)}{rng.randint(1, 999):03d}"


def pseudonym(rng: random.Random) -> str:
    """A pseudonymous reference like those the senders make: key version and an HMAC."""
    return "k1:" + "".join(rng.choices("0123456789abcdef", k=64))
