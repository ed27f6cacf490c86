"""Explicit random streams.

Public entry points accept ``seed: int | np.random.Generator`` and call :func:`as_rng` once;
everything below takes a required keyword ``rng: np.random.Generator``. Independent parts of the
pipeline draw from child streams (:func:`child`), so re-running or extending one stage never shifts
the draws of another, and results do not depend on process count or order of execution.
"""
from __future__ import annotations

import hashlib

import numpy as np


def as_rng(seed: int | np.random.Generator | np.random.SeedSequence | None) -> np.random.Generator:
    """Normalize a seed (int, SeedSequence or Generator) into a ``numpy.random.Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("an explicit seed is required (relforge never uses global RNG state)")
    return np.random.default_rng(seed)


def _key_to_int(key: str | int) -> int:
    if isinstance(key, (int, np.integer)):
        return int(key)
    return int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=8).digest(), "little")


def child(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator for the stream named by ``keys`` under ``seed``.

    ``child(7, "links", "table_3")`` is the same stream on every run, in every process, whatever
    else was drawn before; distinct key paths give statistically independent streams.
    """
    entropy = [_key_to_int(seed) & (2**63 - 1)] + [_key_to_int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def child_of(rng: np.random.Generator, *keys: str | int) -> np.random.Generator:
    """A child stream of ``rng`` named by ``keys``; draws one 63-bit integer from ``rng``."""
    base = int(rng.integers(0, 2**63 - 1))
    return child(base, *keys)
