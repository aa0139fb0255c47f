"""Signed checkpoints of chain heads, kept outside ClickHouse (pure: no I/O, no clock).

A checkpoint is one JSON line: the writer, the time, and for each case it covers the chain's
length and head hash, signed with HMAC-SHA256 under PANTAU_CHECKPOINT_KEY. Someone who can edit
ClickHouse can recompute a whole hash chain, but cannot sign a checkpoint; comparing the chains
with the latest signed heads reveals a rewritten chain and a deleted last event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pantau.history.chain import CaseKey

FORMAT = "pantau.checkpoint/v1"


@dataclass(frozen=True)
class SignedHead:
    """A case's chain length and head hash as a signed checkpoint saw them."""

    position: int
    hash: str
    at: str


class BadCheckpoint(ValueError):
    """A checkpoint line that does not parse or whose signature does not match."""


def _signature(key: bytes, body: Mapping[str, object]) -> str:
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, encoded.encode("utf-8"), hashlib.sha256).hexdigest()


def checkpoint_line(
    key: bytes, writer: str, at: str, heads: Mapping[CaseKey, tuple[int, str]]
) -> str:
    """One signed checkpoint line (without newline) for `heads`: (agency, case_id) -> (n, hash)."""
    body: dict[str, object] = {
        "format": FORMAT,
        "writer": writer,
        "at": at,
        "heads": [[a, c, n, h] for (a, c), (n, h) in sorted(heads.items())],
    }
    return json.dumps({**body, "sig": _signature(key, body)}, ensure_ascii=False)


def read_checkpoint(key: bytes, line: str) -> tuple[str, dict[CaseKey, SignedHead]]:
    """The time and heads of a checkpoint line; raises BadCheckpoint unless it is signed by key."""
    try:
        document = json.loads(line)
        signature = document.pop("sig")
        heads_raw = document["heads"]
        at = document["at"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadCheckpoint("not a checkpoint line") from None
    if not isinstance(signature, str) or not hmac.compare_digest(
        signature, _signature(key, document)
    ):
        raise BadCheckpoint("signature does not match (edited, or signed with another key)")
    heads: dict[CaseKey, SignedHead] = {}
    for agency, case_id, position, head_hash in heads_raw:
        heads[(str(agency), str(case_id))] = SignedHead(int(position), str(head_hash), str(at))
    return str(at), heads


def latest_heads(
    key: bytes, lines: Iterable[tuple[str, str]]
) -> tuple[dict[CaseKey, SignedHead], list[str]]:
    """The longest signed head of each case over many `(source, line)` pairs, and a problem
    text for each line that is not a valid signed checkpoint."""
    latest: dict[CaseKey, SignedHead] = {}
    problems: list[str] = []
    for source, line in lines:
        if not line.strip():
            continue
        try:
            _, heads = read_checkpoint(key, line)
        except BadCheckpoint as error:
            problems.append(f"{source}: {error}")
            continue
        for case, head in heads.items():
            known = latest.get(case)
            if known is None or head.position > known.position:
                latest[case] = head
    return latest, problems
