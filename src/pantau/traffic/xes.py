"""A streaming reader of XES event logs (IEEE 1849-2016, and the XES 1.0 files of OpenXES).

An XES log nests traces (cases) in the log and events in the traces; each of the three carries
typed attributes (`string`, `date`, `int`, `float`, `boolean`, `id`, `list`, and OpenXES's
`container`). An attribute may itself carry attributes (the `nested-attributes` feature): those
belong to their parent attribute, not to the event or trace, and never become rows. Before the
traces the log declares its extensions, its global attributes (keys every trace or event has,
with a default value) and its classifiers (the keys that name an event's activity): they are
read as declarations, never as data.

`XesReader(path).rows()` yields one row per event, like a CSV export of the log: the event's
attributes by key, its trace's attributes as `case:<key>` (so `case:concept:name` is the case
id), values as text:

- `string`, `id`: as written; `int`: the integer (`7`); `float`: Python's shortest form
  (`36.0`); `boolean`: `True` or `False`; `date`: ISO 8601 with a space and the offset written
  (`2011-10-11 13:45:40.276000+02:00`, as pandas writes it), kept as written if it is no date;
- `list`: a JSON array of its items' values (their keys carry no meaning, their order does);
- a nested attribute: under `<parent key>/<child key>` (deeper ones extend the path), beside
  its parent's own value.

The file is read with `iterparse` and each trace is dropped once its rows are out, so a log of
millions of events needs no more memory than its largest trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from io import BufferedIOBase
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, iterparse

XesSource = Path | IO[bytes] | BufferedIOBase  # a file, or an open binary stream (gzip too)
ATTRIBUTE_TYPES = frozenset(
    {"string", "date", "int", "float", "boolean", "id", "list", "container"}
)


@dataclass
class XesHeader:
    """What a log declares before its traces: extensions, globals, classifiers, its own
    attributes. Known once the first trace begins (or the log ends)."""

    version: str = ""
    features: tuple[str, ...] = ()
    extensions: dict[str, str] = field(default_factory=dict)  # prefix -> uri
    globals: dict[str, dict[str, str]] = field(default_factory=dict)  # scope -> key -> default
    classifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> keys
    attributes: dict[str, str] = field(default_factory=dict)  # the log's own


def typed_value(kind: str, raw: str) -> str:
    """An attribute's value as text in one form per type (see the module's docstring)."""
    text = raw.strip()
    try:
        if kind == "int":
            return str(int(text))
        if kind == "float":
            return repr(float(text))
        if kind == "boolean":
            return {"true": "True", "false": "False", "1": "True", "0": "False"}[text.lower()]
        if kind == "date":
            return datetime.fromisoformat(text).isoformat(sep=" ")
    except (ValueError, KeyError):
        return raw
    return raw


def _kind(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _classifier_keys(text: str) -> tuple[str, ...]:
    """The keys of a classifier: separated by blanks, a key with blanks in single quotes."""
    keys: list[str] = []
    word = ""
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif char.isspace() and not quoted:
            if word:
                keys.append(word)
            word = ""
        else:
            word += char
    if word:
        keys.append(word)
    return tuple(keys)


class XesReader:
    """One pass over an XES file: `rows()` yields the events; `header` fills in as it reads."""

    def __init__(self, source: XesSource) -> None:
        self.source = source
        self.header = XesHeader()
        self.traces = 0
        self.events = 0

    def rows(self) -> Iterator[dict[str, str]]:
        """Each event as a flat row (its attributes, its trace's as `case:<key>`), in order."""
        header = self.header
        stack: list[Element] = []  # open elements, outermost first
        trace: dict[str, str] = {}
        event: dict[str, str] = {}
        lists: dict[int, list[str]] = {}  # id of an open <list> element -> its items' values
        root: Element | None = None
        # The log is the operator's own file, given on the command line, not network input.
        parsed = iterparse(self.source, events=("start", "end"))  # noqa: S314
        for action, element in parsed:
            kind = _kind(element)
            if action == "start":
                if root is None:
                    root = element
                    if kind != "log":
                        raise ValueError(f"not an XES log: the root element is <{kind}>")
                    header.version = element.get("xes.version", "")
                    header.features = tuple(element.get("xes.features", "").split())
                elif kind == "trace":
                    trace = {}
                elif kind == "event":
                    event = {}
                elif kind == "list":
                    lists[id(element)] = []
                stack.append(element)
                continue
            stack.pop()
            parent = _kind(stack[-1]) if stack else ""
            if kind == "event":
                self.events += 1
                yield {**trace, **event}
                element.clear()
            elif kind == "trace":
                self.traces += 1
                element.clear()
                if root is not None:
                    root.clear()  # drop the finished trace's shell: memory stays flat
            elif kind == "extension" and parent == "log":
                header.extensions[element.get("prefix", "")] = element.get("uri", "")
            elif kind == "classifier" and parent == "log":
                keys = _classifier_keys(element.get("keys", ""))
                header.classifiers[element.get("name", "")] = keys
            elif kind in ATTRIBUTE_TYPES:
                self._attribute(element, kind, stack, trace, event, lists)

    def _attribute(
        self,
        element: Element,
        kind: str,
        stack: list[Element],
        trace: dict[str, str],
        event: dict[str, str],
        lists: dict[int, list[str]],
    ) -> None:
        """File a finished attribute under what it belongs to: its trace, event, log, global
        declaration, parent attribute or list."""
        key = element.get("key", "")
        if kind == "list":
            value = json.dumps(lists.pop(id(element), []), ensure_ascii=False)
        elif kind == "container":
            value = ""
        else:
            value = typed_value(kind, element.get("value", ""))
        # The nearest enclosing list, attribute, event, trace, global or log decides.
        path = [key]
        for outer in reversed(stack):
            outer_kind = _kind(outer)
            if outer_kind == "values":
                continue  # OpenXES wraps a list's items in <values>
            if outer_kind == "list" and len(path) == 1:
                lists[id(outer)].append(value)
                return
            if outer_kind in ATTRIBUTE_TYPES:
                path.insert(0, outer.get("key", ""))
                continue
            name = "/".join(path)
            if outer_kind == "event":
                event.setdefault(name, value)
            elif outer_kind == "trace":
                trace.setdefault(f"case:{name}", value)
            elif outer_kind == "global":
                scope = outer.get("scope", "event")
                self.header.globals.setdefault(scope, {}).setdefault(name, value)
            elif outer_kind == "log":
                self.header.attributes.setdefault(name, value)
            return


def xes_rows(source: XesSource) -> Iterator[dict[str, str]]:
    """The events of an XES log as flat rows (see `XesReader.rows`)."""
    return XesReader(source).rows()
