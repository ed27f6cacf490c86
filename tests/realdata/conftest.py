import pytest

from relforge import realdata


@pytest.fixture(scope="session")
def f1_db(real_data_dir):
    return realdata.load("f1", real_data_dir)


@pytest.fixture(scope="session")
def f1_tasks(f1_db):
    return {n: realdata.get_task("f1", n, db=f1_db) for n in ("driver-dnf", "driver-top3", "driver-position")}


@pytest.fixture(scope="session")
def chinook_db(real_data_dir):
    return realdata.load("chinook", real_data_dir)


@pytest.fixture(scope="session")
def movielens_db(real_data_dir):
    return realdata.load("movielens", real_data_dir)


@pytest.fixture(scope="session")
def all_dbs(f1_db, chinook_db, movielens_db):
    return {"f1": f1_db, "chinook": chinook_db, "movielens": movielens_db}
