"""Synthesis of relational databases: schema -> links -> values (see generate/pipeline.py)."""
