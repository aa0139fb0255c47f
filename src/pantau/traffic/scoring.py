"""Ground truth files and the precision/recall of raised alerts against them (pure).

A ground-truth file has one JSON object per line, one per simulated case:
`{"agency", "service", "case_id", "rules": [...], "planted": rule | null}`. A case is scored on
(case, rule) pairs: an alert is a true positive when its case lists its rule, a false positive
when its case is in the truth but does not list it; alerts of cases outside the truth (other
traffic on the same topics) are counted apart and do not count against precision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pantau.traffic.generator import ALL_RULES, CaseTruth

CaseKey = tuple[str, str]  # (agency, case_id)


def write_truth(out: TextIO, truth: CaseTruth) -> None:
    """Append one case's ground truth as a JSON line."""
    out.write(json.dumps(truth.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n")


def read_truth(path: Path) -> list[CaseTruth]:
    """Every case of a ground-truth file; raises ValueError naming the line of a bad entry."""
    truths = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                truths.append(
                    CaseTruth(
                        agency=str(doc["agency"]),
                        service=str(doc["service"]),
                        case_id=str(doc["case_id"]),
                        rules=tuple(str(rule) for rule in doc["rules"]),
                        planted=None if doc.get("planted") is None else str(doc["planted"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a ground-truth line ({error})") from None
    return truths


@dataclass
class RuleScore:
    """Counts of one rule: true positives, false positives, false negatives."""

    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def expected(self) -> int:
        return self.tp + self.fn

    @property
    def raised(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        """None when the rule raised nothing (precision is undefined, not perfect)."""
        return None if self.raised == 0 else self.tp / self.raised

    @property
    def recall(self) -> float | None:
        """None when nothing was expected of the rule."""
        return None if self.expected == 0 else self.tp / self.expected


@dataclass
class Scores:
    """Per-rule scores, plus alerts on cases that the truth does not know."""

    rules: dict[str, RuleScore]
    outside: int = 0
    misses: dict[str, list[CaseKey]] = field(default_factory=dict)
    extras: dict[str, list[CaseKey]] = field(default_factory=dict)

    def failing(self, min_precision: float | None, min_recall: float | None) -> list[str]:
        """Rules below a threshold (a rule without expectations or alerts is not judged)."""
        bad = []
        for score in self.rules.values():
            p, r = score.precision, score.recall
            if (min_precision is not None and p is not None and p < min_precision) or (
                min_recall is not None and r is not None and r < min_recall
            ):
                bad.append(score.rule)
        return bad


def score(
    truths: Iterable[CaseTruth],
    raised: Iterable[tuple[str, str, str]],
    rules: Sequence[str] = ALL_RULES,
) -> Scores:
    """Score raised `(agency, case_id, rule)` triples (duplicates allowed) against the truth."""
    expected: dict[CaseKey, frozenset[str]] = {
        (t.agency, t.case_id): frozenset(t.rules) for t in truths
    }
    seen: set[tuple[CaseKey, str]] = set()
    outside = 0
    for agency, case_id, rule in raised:
        if (agency, case_id) in expected:
            seen.add(((agency, case_id), rule))
        else:
            outside += 1
    names = list(rules) + sorted({rule for _, rule in seen} - set(rules))
    result = Scores({name: RuleScore(name) for name in names}, outside=outside)
    for case, wanted in expected.items():
        for rule in wanted:
            if (case, rule) in seen:
                result.rules.setdefault(rule, RuleScore(rule)).tp += 1
            else:
                result.rules.setdefault(rule, RuleScore(rule)).fn += 1
                result.misses.setdefault(rule, []).append(case)
    for case, rule in seen:
        if rule not in expected[case]:
            result.rules[rule].fp += 1
            result.extras.setdefault(rule, []).append(case)
    return result


def table(scores: Scores) -> Iterator[str]:
    """The scores as a text table, one row per rule, then a total."""

    def fmt(value: float | None) -> str:
        return "   -  " if value is None else f"{value:6.3f}"

    yield (
        f"{'rule':<34} {'expected':>8} {'raised':>7} {'tp':>6} {'fp':>5} {'fn':>5}"
        "  precision  recall"
    )
    total = RuleScore("all")
    for s in scores.rules.values():
        total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
        yield (
            f"{s.rule:<34} {s.expected:>8} {s.raised:>7} {s.tp:>6} {s.fp:>5} {s.fn:>5}"
            f"     {fmt(s.precision)}  {fmt(s.recall)}"
        )
    yield (
        f"{'all rules':<34} {total.expected:>8} {total.raised:>7} {total.tp:>6} {total.fp:>5} "
        f"{total.fn:>5}     {fmt(total.precision)}  {fmt(total.recall)}"
    )
    if scores.outside:
        yield f"({scores.outside} alerts on cases outside the ground truth were not scored)"
