from typer.testing import CliRunner

from relforge.cli import app, main
import pytest


def test_datasets_lists_dbs_and_tasks(real_data_dir):
    res = CliRunner().invoke(app, ["datasets", "--data-dir", str(real_data_dir)])
    assert res.exit_code == 0, res.output
    for word in ("f1", "chinook", "movielens", "driver-dnf", "customer-spend", "user-churn", "9 tables"):
        assert word in res.output


def test_datasets_bad_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["datasets", "--data-dir", str(tmp_path / "nope")])
    assert e.value.code == 2
    assert "error: real-data folder not found" in capsys.readouterr().err
