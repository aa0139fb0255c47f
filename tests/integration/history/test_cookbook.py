"""The auditor cookbook: each of its twenty queries gives the known answer on both engines."""

from __future__ import annotations

import re

import pytest

from integration.history.engines import Engine
from pantau.settings import REPO_DIR

COOKBOOK = REPO_DIR / "docs" / "auditor-cookbook.md"
KM, DK, SL = "kota-malang.dpmptsp", "kota-malang.disdukcapil", "kab-sleman.dpmptsp"


def cookbook_queries() -> dict[int, str]:
    """Question number -> its SQL, as the cookbook states them."""
    text = COOKBOOK.read_text(encoding="utf-8")
    found = re.findall(r"^### (\d+)\. .*?\n.*?```sql\n(.*?)```", text, flags=re.M | re.S)
    return {int(number): sql for number, sql in found}


def test_the_cookbook_has_twenty_questions_each_with_sql() -> None:
    """Twenty numbered questions, each followed by one SQL block."""
    assert sorted(cookbook_queries()) == list(range(1, 21))


# The answers, worked out by hand from tests/integration/history/known_history.py.
EXPECTED: dict[int, list[tuple[object, ...]]] = {
    1: [
        (SL, "reklame-insidentil", 1, 0, 1, 0),
        (DK, "ktp-el", 1, 1, 0, 100),
        (KM, "pbg", 2, 2, 0, 100),
        (KM, "slf", 1, 1, 0, 100),
    ],
    2: [(SL, 1, 0, 0), (DK, 1, 1, 100), (KM, 3, 3, 100)],
    3: [
        (
            SL,
            "reklame-insidentil",
            "R-1",
            "2026-11-02 02:00:00",
            "2026-11-12 04:00:00",
            "2026-11-05 09:00:00",
        )
    ],
    4: [(KM, "pbg", "PBG-3", "verified", "2026-11-26 09:00:00", 39)],
    5: [
        (
            KM,
            "PBG-2",
            "approved",
            "paid",
            "2026-11-12 09:00:00",
            "2026-11-20 03:00:00",
            186,
            "5 working_days",
        ),
        (
            KM,
            "PBG-3",
            "verified",
            "submitted",
            "2026-11-25 09:00:00",
            "2026-11-27 02:00:00",
            41,
            "3 working_days",
        ),
    ],
    6: [
        ("approved", 2, 201, 357),
        ("verified", 3, 72.7, 168),
        ("issued", 2, 95, 120),
        ("fee_assessed", 2, 24, 24),
        ("paid", 2, 4, 4),
    ],
    7: [
        (1, "submitted", "2026-11-03 01:00:00", "", "NULL"),
        (2, "verified", "2026-11-04 02:00:00", "O7", "NULL"),
        (3, "fee_assessed", "2026-11-05 02:00:00", "A1", "NULL"),
        (4, "paid", "2026-11-05 06:00:00", "", 60000),
        (5, "approved", "2026-11-20 03:00:00", "O7", "NULL"),
        (6, "issued", "2026-11-25 03:00:00", "", "NULL"),
    ],
    8: [(KM, "slf", "SLF-1", "[inspected]")],
    9: [(DK, "ktp-el", "KTP-2", "2026-10-29 02:00:00", "OP1", "dokumen tidak lengkap")],
    10: [(SL, "R-1", "approved", "S9", "2026-11-12 03:00:00", "2026-11-15 03:00:00", 72)],
    11: [
        (SL, "2026-11-01", "counter", 1),
        (DK, "2026-10-01", "online", 1),
        (DK, "2026-11-01", "counter", 1),
        (KM, "2026-11-01", "counter", 2),
        (KM, "2026-11-01", "online", 2),
    ],
    12: [
        (DK, "ktp-el", "KTP-1", "verified", 50000, 0, 0, 50000),
        (KM, "pbg", "PBG-2", "paid", 60000, 100000, 50000000, 40000),
    ],
    13: [(SL, "reklame-insidentil", 1, 150000), (DK, "ktp-el", 1, 50000), (KM, "pbg", 2, 210000)],
    14: [(DK, "ktp-el", "KTP-1", "verified", "OP1", 50000)],
    15: [
        (SL, "duty.same_officer", 1, 1),
        (SL, "sla.case_overdue", 1, 1),
        (SL, "time.backdated", 1, 1),
        (DK, "fee.mismatch", 1, 1),
        (KM, "duty.same_officer", 1, 1),
        (KM, "fee.mismatch", 1, 1),
        (KM, "process.skipped_step", 1, 1),
        (KM, "sla.step_overdue", 2, 2),
    ],
    16: [
        (SL, "S9", 2, "[duty.same_officer,time.backdated]"),
        (KM, "O7", 1, "[duty.same_officer]"),
        (DK, "OP1", 1, "[fee.mismatch]"),
    ],
    17: [
        (SL, "reklame-insidentil", "S9", 1, "[R-1]", "[approved]"),
        (KM, "pbg", "O7", 1, "[PBG-2]", "[approved]"),
    ],
    18: [(DK, "ktp-el", "OP1", 2, 3), (KM, "pbg", "A1", 2, 2), (KM, "pbg", "V1", 2, 2)],
    19: [
        (KM, "PBG-2", "fee.mismatch", "high", 23),
        (SL, "R-1", "sla.case_overdue", "medium", 23),
        (KM, "SLF-1", "process.skipped_step", "high", 22),
        (KM, "PBG-2", "sla.step_overdue", "medium", 16),
        (SL, "R-1", "duty.same_officer", "high", 13),
        (SL, "R-1", "time.backdated", "high", 13),
        (KM, "PBG-3", "sla.step_overdue", "medium", 3),
    ],
    20: [(SL, 7, 0), (DK, 7, 0), (KM, 18, 0)],
}


def _as_text(rows: list[tuple[object, ...]]) -> list[tuple[str, ...]]:
    from integration.history.engines import normalise

    return [tuple(normalise(v) for v in row) for row in rows]


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_cookbook_query_gives_the_known_answer(engine: Engine, number: int) -> None:
    """The cookbook's query answers its question correctly on the known history."""
    assert engine.rows(cookbook_queries()[number]) == _as_text(EXPECTED[number])
