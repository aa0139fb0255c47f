"""The service catalog: agencies, their working calendars and service standards, loaded from YAML.

`model` holds the loaded catalog, `loading` reads and validates it (with `calendars` for the
working calendars and `process` for each service's steps and flow), `summary` is its JSON view.
Loading validates the whole catalog and reports every problem at once, each naming the file,
the entry and what is wrong, so a catalog author can fix a catalog in one pass.
"""

from pantau.core.catalog.loading import load_catalog, load_catalog_documents, parse_catalog
from pantau.core.catalog.model import (
    AGENCY_CODE,
    CALENDAR_ID,
    DEEMED_APPROVAL_WARNING,
    PAYMENT_CHANNELS,
    ROLE_NAME,
    SERVICE_CODE,
    STEP_CODE,
    WEEKDAY_NAMES,
    Agency,
    Catalog,
    CatalogError,
    CatalogProblem,
    ClockAction,
    DeemedApproval,
    Fee,
    Service,
    Step,
)
from pantau.core.catalog.summary import catalog_summary

__all__ = [
    "AGENCY_CODE",
    "CALENDAR_ID",
    "DEEMED_APPROVAL_WARNING",
    "PAYMENT_CHANNELS",
    "ROLE_NAME",
    "SERVICE_CODE",
    "STEP_CODE",
    "WEEKDAY_NAMES",
    "Agency",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "ClockAction",
    "DeemedApproval",
    "Fee",
    "Service",
    "Step",
    "catalog_summary",
    "load_catalog",
    "load_catalog_documents",
    "parse_catalog",
]
