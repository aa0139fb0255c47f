"""`pantau catalog`: validate the service catalog of PANTAU_CATALOG and summarise it; its
`publish` and `history` subcommands live in `pantau.catalog_publish`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pantau.core.catalog import Catalog, CatalogError, Service, load_catalog
from pantau.settings import CommonSettings


def catalog_warnings(catalog: Catalog) -> list[str]:
    """What is valid but probably not meant: a service without an overall `sla` is never judged
    by `sla.case_overdue`; its closed cases count as within the standard in v_sla_compliance,
    and `pantau report sla` judges them on their step limits alone. A payment step that the
    process reaches without passing an assessing step makes that payment, honest or not,
    `fee.paid_before_assessment`."""
    warnings = []
    for code in sorted(catalog.agencies):
        for service in catalog.services_of(code):
            if service.sla is None:
                warnings.append(
                    f"services[{service.code}@{code}]: no overall sla; its cases are never "
                    "late as a whole (sla.case_overdue); only step limits can make them late"
                )
            unassessed = _paid_unassessed(service)
            if unassessed:
                warnings.append(
                    f"services[{service.code}@{code}]: payment step {', '.join(unassessed)} "
                    "can be reached without an assessing step; such payments are "
                    "fee.paid_before_assessment"
                )
    return warnings


def _paid_unassessed(service: Service) -> list[str]:
    """The payment steps the flow reaches from a start step without an assessing step, when
    the service has one."""
    if not service.assessment_steps:
        return []
    seen = set(service.start_steps)
    waiting = sorted(seen)
    while waiting:
        code = waiting.pop()
        if code in service.assessment_steps:
            continue
        for following in service.allowed_after(code) - seen:
            seen.add(following)
            waiting.append(following)
    order = [step.code for step in service.steps]
    return [c for c in order if c in seen - service.assessment_steps and _pays(service, c)]


def _pays(service: Service, code: str) -> bool:
    step = service.step(code)
    return step is not None and step.payment


def main(argv: list[str]) -> int:
    if argv[:1] in (["publish"], ["history"]):
        from pantau import catalog_publish  # the Kafka clients only for these two

        run = catalog_publish.publish_main if argv[0] == "publish" else catalog_publish.history_main
        return run(argv[1:])
    parser = argparse.ArgumentParser(
        prog="pantau catalog",
        description=__doc__,
        epilog="`pantau catalog publish [path] [--valid-from TIME] [--by NAME]` publishes a "
        "catalog as the next version of the service standards; `pantau catalog history "
        "[A B]` lists the versions and what changed.",
    )
    parser.add_argument("path", nargs="?", type=Path, help="a catalog file or folder")
    args = parser.parse_args(argv)
    path = args.path or CommonSettings().catalog
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        count = len(exc.problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}:\n{exc}", file=sys.stderr)
        return 1
    print(f"{path}: valid")
    for code, agency in sorted(catalog.agencies.items()):
        print(f"  {code} — {agency.name} (calendar {agency.calendar})")
        for service in catalog.services_of(code):
            sla = f", sla {service.sla}" if service.sla else ""
            print(f"    {service.code}: {service.name} — {len(service.steps)} steps{sla}")
    for warning in catalog_warnings(catalog):
        print(f"warning: {warning}", file=sys.stderr)
    return 0
