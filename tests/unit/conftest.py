"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest

from pantau.core.catalog import Catalog, load_catalog
from pantau.settings import SAMPLE_CATALOG


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The sample catalog (a `Catalog` is frozen: the tests share one)."""
    return load_catalog(SAMPLE_CATALOG)
