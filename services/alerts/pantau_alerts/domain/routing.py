"""Where alerts go: routes declared in YAML match alerts and name a webhook target.

```yaml
routes:
  - name: malang-high            # the target's identity for delivery records
    match: {agency: [kota-malang.dpmptsp], severity: high, rule: [duty.same_officer]}
    webhook: {url: "https://ops.example/hooks/pantau", headers: {X-Token: "..."}}
  - name: malang-daily
    match: {agency: kota-malang.dpmptsp}
    digest: true                 # the agency's daily digest instead of single alerts
    webhook: {url: "https://ops.example/hooks/pantau-daily"}
```
`severity` is a minimum; absent criteria match everything. Each route is one target; an alert
matched by several routes is delivered to each of them once. A `digest` route receives, once per
agency and local day, the digest of the day before (agency criterion only).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pantau.core.alerts import RULES, Alert, Severity
from pantau.core.yaml_documents import yaml_document

__all__ = [
    "SEVERITY_ORDER",
    "DeliveryStatus",
    "Route",
    "RoutesError",
    "RoutingTable",
    "backoff_delay",
]

SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RoutesError(ValueError):
    """The routes file is unusable; the message names the route and the problem."""


class DeliveryStatus:
    """Outcomes recorded for one (alert, target): final, so a restart does not send again."""

    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Route:
    """One routing rule and its webhook target."""

    name: str
    url: str
    agencies: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    min_severity: Severity | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    digest: bool = False

    def covers(self, agency: str) -> bool:
        """True when the route's agency criterion admits `agency`."""
        return not self.agencies or agency in self.agencies

    def matches(self, alert: Alert) -> bool:
        """True when the alert meets every criterion the route sets (never for a digest route)."""
        if self.digest:
            return False
        if self.agencies and alert.agency not in self.agencies:
            return False
        if self.rules and alert.rule.value not in self.rules:
            return False
        return self.min_severity is None or (
            SEVERITY_ORDER[alert.severity] >= SEVERITY_ORDER[self.min_severity]
        )


def _codes(value: object, where: str, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise RoutesError(f"{where}: {what} must be a code or a list of codes")
    return frozenset(items)


def _parse_route(raw: object, where: str, taken: Collection[str]) -> Route:
    """One entry of the file; `taken` holds the names of the routes before it."""
    if not isinstance(raw, Mapping):
        raise RoutesError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise RoutesError(f"{where}: name must be 1-64 of A-Z a-z 0-9 . _ -")
    if name in taken:
        raise RoutesError(f"{where}: duplicate route name {name!r}")
    where = f"{where} ({name})"
    match = raw.get("match") or {}
    if not isinstance(match, Mapping):
        raise RoutesError(f"{where}: match must be a mapping")
    url, headers = _parse_webhook(raw.get("webhook"), where)
    digest = raw.get("digest", False)
    if not isinstance(digest, bool):
        raise RoutesError(f"{where}: digest must be true or false")
    if digest and (match.get("rule") or match.get("severity")):
        raise RoutesError(f"{where}: a digest route matches by agency only")
    unknown = set(match) - {"agency", "severity", "rule"}
    if unknown:
        raise RoutesError(f"{where}: unknown match keys {sorted(unknown)}")
    rules = _codes(match.get("rule"), where, "rule")
    if rules - set(RULES):
        raise RoutesError(f"{where}: unknown rules {sorted(rules - set(RULES))}")
    min_severity = _min_severity(match.get("severity"), where)
    return Route(
        name=name,
        url=url,
        agencies=_codes(match.get("agency"), where, "agency"),
        rules=rules,
        min_severity=min_severity,
        headers=headers,
        digest=digest,
    )


def _parse_webhook(webhook: object, where: str) -> tuple[str, dict[str, str]]:
    """A route's webhook: its URL and the headers sent with each call."""
    if not isinstance(webhook, Mapping) or not isinstance(webhook.get("url"), str):
        raise RoutesError(f"{where}: webhook.url is required")
    url: str = webhook["url"]
    if not url.startswith(("http://", "https://")):
        raise RoutesError(f"{where}: webhook.url must be http:// or https://")
    headers = webhook.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise RoutesError(f"{where}: webhook.headers must map names to strings")
    return url, dict(headers)


def _min_severity(value: Any, where: str) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity(value)
    except ValueError:
        raise RoutesError(f"{where}: severity must be low|medium|high|critical") from None


class RoutingTable:
    """The routes in file order."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes = tuple(routes)

    def targets_for(self, alert: Alert) -> list[Route]:
        """The routes an alert goes to."""
        return [route for route in self.routes if route.matches(alert)]

    def digest_routes_for(self, agency: str) -> list[Route]:
        """The digest routes an agency's daily digest goes to."""
        return [route for route in self.routes if route.digest and route.covers(agency)]

    @classmethod
    def parse(cls, data: Any, source: str = "routes") -> RoutingTable:
        """Validate the YAML structure; raises RoutesError naming the route."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping) or not isinstance(data.get("routes", []), list):
            raise RoutesError(f"{source}: expected a mapping with a list `routes`")
        routes: list[Route] = []
        for index, raw in enumerate(data.get("routes", [])):
            taken = {r.name for r in routes}
            routes.append(_parse_route(raw, f"{source}: routes[{index}]", taken))
        return cls(routes)

    @classmethod
    def from_yaml(cls, text: str, source: str = "routes") -> RoutingTable:
        """Parse the YAML text of a routes file."""
        return cls.parse(yaml_document(text, source, RoutesError), source)


def backoff_delay(attempt: int, base: float, cap: float = 60.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2*base, 4*base..."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))
