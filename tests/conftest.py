import os
from pathlib import Path

import pytest

from relforge.settings import data_dir


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The shared real-data folder ($RELFORGE_DATA or ../shared/data); skip if absent."""
    try:
        return data_dir()
    except Exception:
        pytest.skip("real-data folder not available (set RELFORGE_DATA)")
