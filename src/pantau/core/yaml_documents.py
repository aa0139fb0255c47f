"""Reading the YAML text of a configuration file (pure: the caller reads the file)."""

from __future__ import annotations

from typing import Any

import yaml


def yaml_document(text: str, source: str, error: type[Exception]) -> Any:
    """The document in the YAML `text` of `source`; raises `error` naming `source` when the text
    is not valid YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        raise error(f"{source}: not valid YAML: {problem}") from None
