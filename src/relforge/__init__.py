"""relforge: synthetic relational databases, cell tokens and Relational Transformers.

Public API::

    import relforge
    db = relforge.generate(seed=0)            # a synthetic Database (see relforge.generate)
    db.save("out/db0"); db = relforge.load("out/db0")
"""
from relforge.db import Database, Stype, Table
from relforge.db.io import load_database as load
from relforge.errors import RelforgeError

__version__ = "0.1.0"


def generate(seed: int = 0, config=None) -> Database:
    """Generate one synthetic relational database from ``seed`` and ``config`` (a GeneratorConfig,
    a dict of overrides, a TOML path, or None for defaults)."""
    from relforge.generate.pipeline import generate_database

    return generate_database(seed, config)


__all__ = ["Database", "Table", "Stype", "RelforgeError", "generate", "load", "__version__"]
