"""Operators and what they may see: bearer tokens checked against SHA-256 digests in a YAML file.

`operators: [{id, name, sha256, role: operator|inspectorate, agencies: [...]}]`. An operator
sees and acts on the agencies granted to them; an inspectorate sees every agency.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pantau.core.yaml_documents import yaml_document

__all__ = ["Operator", "OperatorDirectory", "OperatorsError", "Role"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class Role(StrEnum):
    """An operator of one or more agencies, or an inspectorate that oversees all of them."""

    OPERATOR = "operator"
    INSPECTORATE = "inspectorate"


class OperatorsError(ValueError):
    """The operators file is unusable; the message names the entry and the problem."""


@dataclass(frozen=True)
class Operator:
    """An authenticated person working the alerts."""

    id: str
    name: str
    role: Role
    agencies: frozenset[str]

    def can_see(self, agency: str) -> bool:
        """True when this operator may read and act on alerts of `agency`."""
        return self.role is Role.INSPECTORATE or agency in self.agencies

    @property
    def sees_all(self) -> bool:
        """True for an inspectorate, whose view is not limited to granted agencies."""
        return self.role is Role.INSPECTORATE

    def to_json(self) -> dict[str, Any]:
        """What the dashboard shows about the signed-in operator."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "agencies": sorted(self.agencies),
        }


class OperatorDirectory:
    """Every operator, findable by the SHA-256 of their bearer token."""

    def __init__(self, entries: Iterable[tuple[bytes, Operator]]) -> None:
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def parse(cls, data: Any, source: str = "operators") -> OperatorDirectory:
        """Validate the YAML structure; raises OperatorsError naming the entry."""
        if not isinstance(data, Mapping) or not isinstance(data.get("operators"), list):
            raise OperatorsError(f"{source}: expected a mapping with a list `operators`")
        entries: list[tuple[bytes, Operator]] = []
        seen: set[str] = set()
        for index, raw in enumerate(data["operators"]):
            where = f"{source}: operators[{index}]"
            if not isinstance(raw, Mapping):
                raise OperatorsError(f"{where}: expected a mapping")
            op_id, digest = raw.get("id"), str(raw.get("sha256", "")).lower()
            if not isinstance(op_id, str) or _ID.fullmatch(op_id) is None:
                raise OperatorsError(f"{where}: id must be 1-64 of A-Z a-z 0-9 . _ @ -")
            if op_id in seen:
                raise OperatorsError(f"{where}: duplicate id {op_id!r}")
            seen.add(op_id)
            if _HEX64.fullmatch(digest) is None:
                raise OperatorsError(f"{where} ({op_id}): sha256 must be 64 hex digits (quoted)")
            try:
                role = Role(raw.get("role", "operator"))
            except ValueError:
                raise OperatorsError(
                    f"{where} ({op_id}): role must be operator or inspectorate"
                ) from None
            agencies = raw.get("agencies", [])
            if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
                raise OperatorsError(f"{where} ({op_id}): agencies must be a list of codes")
            if role is Role.OPERATOR and not agencies:
                raise OperatorsError(f"{where} ({op_id}): an operator needs at least one agency")
            name = raw.get("name", op_id)
            operator = Operator(op_id, str(name), role, frozenset(agencies))
            entries.append((bytes.fromhex(digest), operator))
        return cls(entries)

    @classmethod
    def from_yaml(cls, text: str, source: str = "operators") -> OperatorDirectory:
        """Parse the YAML text of an operators file."""
        return cls.parse(yaml_document(text, source, OperatorsError), source)

    def authenticate(self, token: str) -> Operator | None:
        """The operator whose token this is, or None.

        Every entry is compared in constant time, and all of them are, so the time taken says
        nothing about which digest (or which prefix of one) came close.
        """
        if not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: Operator | None = None
        for expected, operator in self._entries:
            if hmac.compare_digest(digest, expected):
                found = operator
        return found
