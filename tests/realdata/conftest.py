import pytest

from relforge import realdata


@pytest.fixture(scope="session")
def f1_db(real_data_dir):
    return realdata.load("f1", real_data_dir)


@pytest.fixture(scope="session")
def f1_tasks(f1_db):
    return {n: realdata.get_task("f1", n, db=f1_db) for n in ("driver-dnf", "driver-top3", "driver-position")}
