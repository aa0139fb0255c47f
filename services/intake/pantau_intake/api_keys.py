"""Agency API keys: which agency a bearer key belongs to.

The key file holds only SHA-256 digests, so reading it does not reveal a key. A presented key is
hashed and compared with every digest by `hmac.compare_digest`, without stopping at the first
match, so the time taken does not tell how close a guess came or which entry matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pantau.core.catalog import AGENCY_CODE
from pantau.core.yaml_documents import yaml_document
from pantau_intake.settings import ConfigurationError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_KEY_CHARS = 512  # longer than any key we issue; bounds the work an attacker can ask for


@dataclass(frozen=True)
class KeyEntry:
    """One accepted key of an agency, known only by its SHA-256 digest."""

    agency: str
    digest: bytes


class AgencyKeyring:
    """The accepted keys; several per agency are allowed so keys can be rotated without a gap."""

    def __init__(self, entries: Sequence[KeyEntry]) -> None:
        self._entries = tuple(entries)

    @property
    def agencies(self) -> frozenset[str]:
        """The agencies that have at least one key."""
        return frozenset(entry.agency for entry in self._entries)

    def agency_for(self, key: str) -> str | None:
        """The agency whose key this is, or None for an unknown key."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.agency
        return found

    @classmethod
    def from_yaml(cls, text: str, source: str) -> AgencyKeyring:
        """Parse `keys: [{agency, sha256}]`; raise ConfigurationError naming every problem."""
        data = yaml_document(text, source, ConfigurationError)
        items = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ConfigurationError(
                f"{source}: expected `keys:` with a list of {{agency: <code>, sha256: <hex>}}"
            )
        problems: list[str] = []
        entries: list[KeyEntry] = []
        for index, item in enumerate(items):
            where = f"{source}: keys[{index}]"
            if not isinstance(item, dict) or set(item) != {"agency", "sha256"}:
                problems.append(f"{where}: must have exactly the fields agency and sha256")
                continue
            agency, digest = item["agency"], item["sha256"]
            if not isinstance(agency, str) or AGENCY_CODE.fullmatch(agency) is None:
                problems.append(f"{where}: agency must be an agency code like kota-malang.dpmptsp")
                continue
            if not isinstance(digest, str) or _SHA256_HEX.fullmatch(digest.lower()) is None:
                problems.append(f"{where}: sha256 must be 64 hex digits (the key's SHA-256)")
                continue
            entries.append(KeyEntry(agency, bytes.fromhex(digest)))
        digests = [entry.digest for entry in entries]
        if len(set(digests)) != len(digests):
            problems.append(f"{source}: the same key is listed more than once")
        if problems:
            raise ConfigurationError("\n".join(problems))
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> AgencyKeyring:
        """Read the key file at `path`."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(
                f"PANTAU_API_KEYS: cannot read {path}: {error.strerror}"
            ) from None
        return cls.from_yaml(text, str(path))

    def check_agencies(self, known: Iterable[str]) -> None:
        """Refuse keys of agencies the catalog does not have: their events could never be valid."""
        unknown = sorted(self.agencies - set(known))
        if unknown:
            raise ConfigurationError(
                f"PANTAU_API_KEYS names agencies the catalog does not have: {', '.join(unknown)}"
            )


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key, as the key file stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
