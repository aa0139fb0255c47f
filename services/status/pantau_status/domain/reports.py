"""An applicant's report from the status page, as a `citizen.report` alert on the case.

The free text never carries a NIK or a phone number: both are replaced before the alert is
made, so they reach neither Kafka nor ClickHouse nor an operator. A case reports each kind once
per day (the agency's local day): the day is part of the alert's trigger, so the same report
sent twice, or from two instances, is one alert id.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pantau.core.alerts import Alert, Category, Rule, make_alert

__all__ = [
    "REPORT_TEXT_MAX_CHARS",
    "ReportKind",
    "clean_text",
    "report_alert",
    "report_day",
]

REPORT_TEXT_MAX_CHARS = 1000
NIK_MARK = "[NIK]"
PHONE_MARK = "[TELEPON]"

# 16 digits, optionally grouped by single spaces, dots or dashes (3507 1234 5678 9012).
_NIK = re.compile(r"(?<!\d)\d(?:[ .\-]?\d){15}(?!\d)")
# Indonesian mobile numbers: 08.., 628.., +628.., 9 to 13 digits after the prefix's 8.
_PHONE = re.compile(r"(?<![\d+])(?:\+62|62|0)[ .\-]?8(?:[ .\-]?\d){7,11}(?!\d)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ReportKind(StrEnum):
    """What the applicant reports; each maps to the category of maladministration it claims."""

    OVERCHARGE = "overcharge"
    UNOFFICIAL_CHANNEL = "unofficial_channel"
    STALLED = "stalled"
    OTHER = "other"

    @property
    def category(self) -> Category:
        return _CATEGORIES[self]


_CATEGORIES = {
    ReportKind.OVERCHARGE: Category.IMPROPER_REQUEST,
    ReportKind.UNOFFICIAL_CHANNEL: Category.IMPROPER_REQUEST,
    ReportKind.STALLED: Category.UNDUE_DELAY,
    ReportKind.OTHER: Category.IMPROPRIETY,
}

_OPERATOR_LINES = {
    ReportKind.OVERCHARGE: "asked to pay more than the official fee",
    ReportKind.UNOFFICIAL_CHANNEL: "asked to pay outside the official channel",
    ReportKind.STALLED: "the file is not moving",
    ReportKind.OTHER: "another problem",
}


def clean_text(text: str) -> tuple[str, int]:
    """The report text without NIKs, phone numbers or control characters, and how many of the
    first two were replaced. Raises ValueError when it is too long."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n")).strip()
    if len(text) > REPORT_TEXT_MAX_CHARS:
        raise ValueError(f"at most {REPORT_TEXT_MAX_CHARS} characters")
    text, niks = _NIK.subn(NIK_MARK, text)
    text, phones = _PHONE.subn(PHONE_MARK, text)
    return text, niks + phones


def report_day(now: datetime, timezone: str) -> str:
    """The agency's local day of `now`, `YYYY-MM-DD`."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


def report_alert(
    *,
    agency: str,
    service: str,
    case_id: str,
    step: str | None,
    kind: ReportKind,
    text: str,
    now: datetime,
    timezone: str,
) -> Alert:
    """The alert of one report; `text` must already be cleaned."""
    day = report_day(now, timezone)
    message = f"Applicant reports: {_OPERATOR_LINES[kind]}."
    if text:
        message = f"{message} “{text}”"
    return make_alert(
        Rule.CITIZEN_REPORT,
        agency=agency,
        service=service,
        case_id=case_id,
        trigger=f"{kind.value}:{day}",
        detected_at=now,
        message=message,
        step=step,
        category=kind.category,
        evidence={"kind": kind.value, "reported_on": day, "text": text, "channel": "status"},
    )
