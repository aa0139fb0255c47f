"""The table of docs/rules.md, written from the rulebook.

`python -m pantau_tracker.rulebook_doc [docs/rules.md]` rewrites the table between its markers;
a unit test fails while the file and the rulebook disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pantau.core.rule_table import Kind
from pantau_tracker.domain.rulebook import RULEBOOK, Rulebook

START = "<!-- rulebook table: written by `python -m pantau_tracker.rulebook_doc` -->"
END = "<!-- end of rulebook table -->"
DOC = Path("docs/rules.md")


def rulebook_markdown(rulebook: Rulebook = RULEBOOK) -> str:
    """One row per rule of the rulebook's table, in table order."""
    lines = [
        "| rule | kind | category | severity | title (Bahasa Indonesia) | title (English) "
        "| where |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule, info in rulebook.table.items():
        family = rulebook.by_rule.get(rule)
        if family is not None:
            where = f"`{family.module.rsplit('.', 1)[-1]}`"
        elif info.kind is Kind.REPORTED:
            where = "status page"
        else:
            where = "—"
        lines.append(
            f"| `{rule}` | {info.kind} | {info.category} | {info.severity} | "
            f"{info.title.id} | {info.title.en} | {where} |"
        )
    return "\n".join(lines) + "\n"


def with_table(text: str, table: str) -> str:
    """`text` with the part between the markers replaced by `table`."""
    head, rest = text.split(START + "\n", 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the table of the rules document (default docs/rules.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else DOC
    path.write_text(with_table(path.read_text(encoding="utf-8"), rulebook_markdown()), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
