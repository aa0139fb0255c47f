"""Reading the process of one service: its steps, which step may follow which (`next`), the
`mandatory` steps and the pairs of steps two officers must `separate`, and the checks of its flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pantau.core.catalog.model import ROLE_NAME, STEP_CODE, Fee, Step
from pantau.core.durations import Duration
from pantau.core.entry_reader import distinct_names, listing

if TYPE_CHECKING:
    from pantau.core.catalog.loading import CatalogReader


class ProcessReader:
    """Reads and checks the process of one service: steps, next, mandatory, separate."""

    def __init__(self, catalog: CatalogReader, label: str, fee: Fee | None) -> None:
        self.catalog = catalog
        self.label = label
        self.fee = fee
        self.codes: list[str] = []  # every well-formed step code, even of otherwise bad steps
        self.steps: list[Step] = []
        self.broken = False  # some step could not be read: start/terminal/flow checks would guess
        self.transitions: dict[str, frozenset[str]] = {}
        self.mandatory: list[str] = []
        self.separate: list[tuple[str, str]] = []

    def report(self, entry: str, message: str) -> None:
        self.catalog.report(entry, message)

    def unknown(self, entry: str, code: object) -> None:
        self.report(entry, f"unknown step {code!r} (steps: {listing(self.codes)})")

    def read(self, item: Mapping[Any, Any]) -> None:
        steps = item["steps"]
        if not isinstance(steps, list) or not steps:
            self.report(f"{self.label}.steps", "steps must be a non-empty list of steps")
            return
        for index, raw in enumerate(steps, start=1):
            mark = len(self.catalog.problems)
            self.read_step(index, raw)
            self.broken = self.broken or len(self.catalog.problems) > mark
        by_code = {step.code: step for step in self.steps}
        self.check_sla_starts(by_code)
        if not self.broken:
            self.check_ends()
        if "next" in item:
            flow_known = self.read_next(item["next"], by_code)
        else:
            self.derive_next()
            flow_known = True
        if flow_known and not self.broken:
            self.check_flow(explicit="next" in item)
        self.check_clock()
        if "mandatory" in item:
            self.read_mandatory(item["mandatory"], by_code)
        if "separate" in item:
            self.read_separate(item["separate"])

    def read_step(self, index: int, raw: object) -> None:
        entry = f"{self.label}.steps[#{index}]"
        if not isinstance(raw, Mapping):
            self.report(entry, f"a step must be a mapping such as {{code: verified}}, not {raw!r}")
            return
        code = raw.get("code")
        if isinstance(code, str) and STEP_CODE.fullmatch(code):
            entry = f"{self.label}.steps[{code}]"
            if code in self.codes:
                self.report(entry, f"duplicate step code {code!r}")
                return
            self.codes.append(code)
        elif "code" in raw:
            self.report(entry, f"bad step code {code!r}: expected {STEP_CODE.pattern}")
        catalog = self.catalog
        mark = len(catalog.problems)
        catalog.check_keys(
            entry,
            raw,
            ("code",),
            (
                "start",
                "terminal",
                "roles",
                "sla",
                "payment",
                "reason_required",
                "clock",
                "assessment",
            ),
        )
        start = catalog.read_flag(entry, raw, "start")
        terminal = catalog.read_flag(entry, raw, "terminal")
        payment = catalog.read_flag(entry, raw, "payment")
        assessment = catalog.read_flag(entry, raw, "assessment")
        reason_required = catalog.read_flag(entry, raw, "reason_required")
        roles = self.read_roles(f"{entry}.roles", raw["roles"]) if "roles" in raw else frozenset()
        sla, sla_from = (
            self.read_step_sla(f"{entry}.sla", raw["sla"]) if "sla" in raw else (None, None)
        )
        clock = raw.get("clock")
        if clock not in (None, "stop", "resume"):
            self.report(f"{entry}.clock", f"clock must be 'stop' or 'resume', not {clock!r}")
        if start and terminal:
            self.report(entry, "a step cannot be both start and terminal")
        if (start or terminal) and clock is not None:
            self.report(entry, "a start or terminal step cannot stop or resume the clock")
        if start and sla is not None and sla_from is None:
            self.report(f"{entry}.sla", "a start step has no step before it to count its sla from")
        if sla_from is not None and sla_from == code:
            self.report(
                f"{entry}.sla.from", "a step's limit cannot be counted from the step itself"
            )
        if payment and self.fee is not None and self.fee.is_free:
            self.report(
                entry,
                "a payment step in a free service (fee 0): every payment would be a fee.mismatch",
            )
        if assessment and (start or terminal or payment):
            self.report(
                entry,
                "an assessing step cannot be a start, terminal or payment step: the fee is "
                "assessed during the case, and paid at a step of its own",
            )
        if assessment and self.fee is not None and self.fee.is_free:
            self.report(entry, "an assessing step in a free service (fee 0): nothing to assess")
        if len(catalog.problems) == mark and isinstance(code, str):
            self.steps.append(
                Step(
                    code=code,
                    start=start,
                    terminal=terminal,
                    roles=roles,
                    sla=sla,
                    payment=payment,
                    reason_required=reason_required,
                    clock="stop" if clock == "stop" else "resume" if clock == "resume" else None,
                    sla_from=sla_from,
                    assessment=assessment,
                )
            )

    def read_step_sla(self, entry: str, value: object) -> tuple[Duration | None, str | None]:
        """A step's limit: a duration (counted from the step before), or `{within: <duration>,
        from: <step>}` (counted from the named step, checked once every step is known)."""
        if not isinstance(value, Mapping):
            return self.catalog.duration(entry, value), None
        self.catalog.check_keys(entry, value, ("within",), ("from",))
        within = (
            self.catalog.duration(f"{entry}.within", value["within"]) if "within" in value else None
        )
        start = value.get("from")
        if "from" in value and (not isinstance(start, str) or not STEP_CODE.fullmatch(start)):
            self.report(f"{entry}.from", f"must be a step code, not {start!r}")
            start = None
        return within, start if isinstance(start, str) else None

    def read_roles(self, entry: str, value: object) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            self.report(
                entry,
                f"roles must be a non-empty list of role names (omit roles when "
                f"any officer may do the step), not {value!r}",
            )
            return frozenset()
        return distinct_names(
            value,
            "role",
            lambda role: (
                None
                if isinstance(role, str) and ROLE_NAME.fullmatch(role)
                else f"bad role name {role!r}: expected {ROLE_NAME.pattern}"
            ),
            lambda message: self.report(entry, message),
        )

    def check_sla_starts(self, by_code: Mapping[str, Step]) -> None:
        """Each `sla.from` names another step of the service, one that does not end the case."""
        for step in self.steps:
            if step.sla_from is None:
                continue
            entry = f"{self.label}.steps[{step.code}].sla.from"
            start = by_code.get(step.sla_from)
            if step.sla_from not in self.codes:
                self.unknown(entry, step.sla_from)
            elif start is not None and start.terminal:
                self.report(
                    entry,
                    f"terminal step {step.sla_from!r} ends the case: nothing is awaited after it",
                )
            elif start is not None and start.clock is not None:
                self.report(
                    entry,
                    f"step {step.sla_from!r} stops or resumes the clock: a limit counts from a "
                    "step of the work",
                )

    def check_ends(self) -> None:
        entry = f"{self.label}.steps"
        if not any(step.start for step in self.steps):
            self.report(entry, "no start step: mark the step a case begins with `start: true`")
        if not any(step.terminal for step in self.steps):
            self.report(entry, "no terminal step: mark the steps a case ends with `terminal: true`")

    def read_next(self, value: object, by_code: Mapping[str, Step]) -> bool:
        """Read the explicit transitions; False when they are too broken to check the flow."""
        entry = f"{self.label}.next"
        if not isinstance(value, Mapping):
            self.report(
                entry, "next must be a mapping of step to the list of steps allowed after it"
            )
            return False
        for source, targets in value.items():
            if source not in self.codes:
                self.unknown(entry, source)
                continue
            where = f"{entry}.{source}"
            if not isinstance(targets, list):
                self.report(where, f"must be a list of steps, not {targets!r}")
                continue
            allowed: set[str] = set()
            for target in targets:
                if target not in self.codes:
                    self.unknown(where, target)
                elif target in allowed:
                    self.report(where, f"step {target!r} is listed twice")
                else:
                    allowed.add(target)
            step = by_code.get(source)
            if step is not None and step.terminal and targets:
                self.report(where, f"terminal step {source!r} cannot have successors")
                continue
            self.transitions[source] = frozenset(allowed)
        for step in self.steps:
            self.transitions.setdefault(step.code, frozenset())
        return True

    def derive_next(self) -> None:
        for step, following in zip(self.steps, [*self.steps[1:], None], strict=True):
            if step.terminal or following is None:
                self.transitions[step.code] = frozenset()
            else:
                self.transitions[step.code] = frozenset({following.code})

    def check_flow(self, *, explicit: bool) -> None:
        """Every step reachable from a start step, and every non-terminal step able to go on."""
        entry = f"{self.label}.next" if explicit else f"{self.label}.steps"
        why = ""
        if not explicit:
            why = " (without next, a step is followed only by the step listed after it)"
        for step in self.steps:
            if not step.terminal and not self.transitions.get(step.code):
                self.report(
                    entry,
                    f"step {step.code!r} has no successors, so a case reaching it "
                    f"can never finish{why}",
                )
        reached = {step.code for step in self.steps if step.start}
        frontier = list(reached)
        while frontier:
            for following in self.transitions.get(frontier.pop(), frozenset()):
                if following not in reached:
                    reached.add(following)
                    frontier.append(following)
        if reached:
            for step in self.steps:
                if step.code not in reached:
                    self.report(
                        entry, f"step {step.code!r} cannot be reached from a start step{why}"
                    )

    def check_clock(self) -> None:
        stops = [step.code for step in self.steps if step.clock == "stop"]
        resumes = [step.code for step in self.steps if step.clock == "resume"]
        if resumes and not stops:
            for code in resumes:
                self.report(
                    f"{self.label}.steps[{code}]",
                    "clock: resume, but no step of the service has clock: stop",
                )
        if stops and not resumes:
            for code in stops:
                self.report(
                    f"{self.label}.steps[{code}]",
                    "clock: stop, but no step of the "
                    "service has clock: resume, so the clock would never restart",
                )

    def read_mandatory(self, value: object, by_code: Mapping[str, Step]) -> None:
        entry = f"{self.label}.mandatory"
        if not isinstance(value, list):
            self.report(entry, f"mandatory must be a list of steps, not {value!r}")
            return
        for code in value:
            step = by_code.get(code) if isinstance(code, str) else None
            if code not in self.codes:
                self.unknown(entry, code)
            elif code in self.mandatory:
                self.report(entry, f"step {code!r} is listed twice")
            elif step is not None and step.terminal:
                self.report(
                    entry,
                    f"terminal step {code!r} cannot be mandatory: mandatory steps "
                    "must happen before a successful terminal step",
                )
            else:
                self.mandatory.append(code)

    def read_separate(self, value: object) -> None:
        entry = f"{self.label}.separate"
        if not isinstance(value, list):
            self.report(entry, f"separate must be a list of step pairs, not {value!r}")
            return
        for pair in value:
            if not isinstance(pair, list) or len(pair) != 2:
                self.report(
                    entry,
                    f"each entry must be a pair of steps such as "
                    f"[verified, approved], not {pair!r}",
                )
                continue
            first, second = pair
            known = True
            for code in pair:
                if code not in self.codes:
                    self.unknown(entry, code)
                    known = False
            if known and first == second:
                self.report(entry, f"a pair needs two different steps, not {pair!r}")
            elif known:
                self.separate.append((first, second))
