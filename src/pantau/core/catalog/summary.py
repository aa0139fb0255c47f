"""The JSON view of the catalog served to agencies (`GET /v1/catalog`)."""

from __future__ import annotations

from typing import Any

from pantau.core.catalog.model import PAYMENT_CHANNELS, WEEKDAY_NAMES, Catalog, Service


def catalog_summary(catalog: Catalog, agency: str) -> dict[str, Any]:
    """The agency's own part of the catalog as JSON-able data: the agency, its calendar, its
    services and their steps (the body of `GET /v1/catalog`). Raises KeyError for an unknown agency.
    """
    found = catalog.agencies.get(agency)
    if found is None:
        raise KeyError(f"agency {agency!r} is not in the catalog")
    calendar = catalog.calendars[found.calendar]
    return {
        "agency": {"code": found.code, "name": found.name},
        "calendar": {
            "id": calendar.id,
            "timezone": calendar.timezone,
            "hours": {
                WEEKDAY_NAMES[day]: [f"{_clock(a)}-{_clock(b)}" for a, b in intervals]
                for day, intervals in sorted(calendar.weekly_hours.items())
            },
            "holidays": calendar.holiday_country,
            "days_off": [day.isoformat() for day in sorted(calendar.days_off)],
        },
        "services": [_service_summary(service) for service in catalog.services_of(agency)],
    }


def _service_summary(service: Service) -> dict[str, Any]:
    order = {step.code: index for index, step in enumerate(service.steps)}
    return {
        "code": service.code,
        "name": service.name,
        "sla": None if service.sla is None else str(service.sla),
        "fee": {"min": str(service.fee.min), "max": str(service.fee.max)},
        "payment_channels": None
        if service.payment_channels is None
        else [c for c in PAYMENT_CHANNELS if c in service.payment_channels],
        "steps": [
            {
                "code": step.code,
                "start": step.start,
                "terminal": step.terminal,
                "roles": sorted(step.roles),
                "sla": None if step.sla is None else str(step.sla),
                "sla_from": step.sla_from,
                "payment": step.payment,
                "reason_required": step.reason_required,
                "clock": step.clock,
                "assessment": step.assessment,
            }
            for step in service.steps
        ],
        "next": {
            step.code: sorted(service.allowed_after(step.code), key=order.__getitem__)
            for step in service.steps
        },
        "mandatory": sorted(service.mandatory, key=order.__getitem__),
        "separate": [list(pair) for pair in service.separate],
        "deemed_approval": None
        if service.deemed_approval is None
        else {"warn_before": str(service.deemed_approval.warn_before)},
    }


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
