"""relforge: synthetic relational databases, cell tokens and Relational Transformers.

Public API::

    import relforge
    db = relforge.synthesize(seed=0)          # a synthetic Database (stages in relforge.generate)
    db.save("out/db0"); db = relforge.load("out/db0")
"""
from relforge._version import __version__
from relforge.db import Database, Stype, Table
from relforge.db.io import load_database as load
from relforge.errors import RelforgeError


def synthesize(seed: int = 0, config=None, **kwargs) -> Database:
    """Generate one synthetic relational database from ``seed`` and ``config`` (a GeneratorConfig,
    a dict of overrides, a TOML path or preset name, or None for defaults):
    :func:`relforge.generate.pipeline.generate_database`."""
    from relforge.generate.pipeline import generate_database  # lazy: the generator stack is not needed to load

    return generate_database(seed, config, **kwargs)


__all__ = ["Database", "Table", "Stype", "RelforgeError", "synthesize", "load", "__version__"]
