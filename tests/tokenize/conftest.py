"""Fixtures for the tokenize tests; the builders live in tok_helpers.py."""
from __future__ import annotations

import pytest

from tok_helpers import make_db, make_forecast_task  # noqa: F401


@pytest.fixture(scope="session")
def toy_db() -> Database:
    return make_db(0)


@pytest.fixture(scope="session")
def toy_store(toy_db):
    from relforge.tokenize import tokenize_database

    return tokenize_database(toy_db, [make_forecast_task(toy_db)], embedder="hash:32")
