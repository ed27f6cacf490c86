"""Synthesis of relational databases: schema -> links -> values (see generate/pipeline.py).

``relforge.synthesize(seed, config)`` is the one-call entry point; this package holds the stages.
"""
