"""Hypothesis strategies the tests share."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st


def rfc3339_texts(earliest: datetime, latest: datetime) -> st.SearchStrategy[str]:
    """Timestamps as an event may carry them: RFC 3339 text of a wall time from `earliest` to
    `latest` (naive), with no fraction or one of 3, 6 or 9 digits, and `Z` or an offset."""
    moments = st.datetimes(min_value=earliest, max_value=latest)
    offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)
    fractions = st.sampled_from(["", "3", "6", "9"])

    def text(moment: datetime, offset: int, fraction: str) -> str:
        base = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
        if fraction == "3":
            base += f".{moment.microsecond // 1000:03d}"
        elif fraction == "6":
            base += f".{moment.microsecond:06d}"
        elif fraction == "9":
            base += f".{moment.microsecond:06d}789"
        if offset == 0:
            return base + "Z"
        sign = "-" if offset < 0 else "+"
        return base + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

    return st.builds(text, moments, offsets, fractions)
