"""Synthesis of relational databases: schema -> links -> values (see generate/pipeline.py).

The package itself is callable, ``relforge.generate(seed, config)``: importing any submodule
(``relforge.generate.config`` ...) rebinds the attribute ``relforge.generate`` from the function
in ``relforge/__init__.py`` to this package, so the package must behave like that function.
"""
import sys as _sys
import types as _types


class _CallablePackage(_types.ModuleType):
    def __call__(self, seed: int = 0, config=None, **kwargs):
        """Generate one synthetic database: ``relforge.generate.pipeline.generate_database(seed, config)``."""
        from relforge.generate.pipeline import generate_database

        return generate_database(seed, config, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
