"""The ``relforge`` command line: thin wrappers over the library.

Each command parses options, builds a config, calls one library function and prints where the
output went. A :class:`RelforgeError` (bad config, schema, path, corrupt file) is printed as one
line ``error: ...`` with exit code 2, never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from relforge.errors import RelforgeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="relforge: synthetic relational databases and Relational Transformers.")


@app.callback()
def _root():
    """relforge: synthetic relational databases and Relational Transformers."""


def fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise SystemExit(2)


@app.command("config")
def config_cmd():
    """Print every generator knob with its default, as a TOML file to edit."""
    from relforge.generate.config import describe

    typer.echo(describe())


@app.command("datasets")
def datasets_cmd(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="real-data folder (default $RELFORGE_DATA or ../shared/data)"),
    sizes: bool = typer.Option(True, "--sizes/--no-sizes", help="load each database to report tables and rows"),
):
    """List the real databases (f1, chinook, movielens) and their tasks."""
    from relforge.realdata import describe

    for rec in describe(data_dir, with_sizes=sizes):
        line = f"{rec['name']}: {rec['description']}"
        if "error" in rec:
            line += f"  [unavailable: {rec['error']}]"
        elif sizes:
            line += (f"  [{rec['tables']} tables, {rec['rows']:,} rows, val {rec['val_timestamp']},"
                     f" test {rec['test_timestamp']}]")
        typer.echo(line)
        typer.echo(f"  tasks: {', '.join(rec['tasks'])}")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning RelforgeError into one line and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except RelforgeError as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130)


if __name__ == "__main__":
    main()
