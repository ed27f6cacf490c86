"""Plain containers for relational databases (no randomness, no torch)."""
from relforge.db.table import Stype, Table
from relforge.db.database import Database

__all__ = ["Stype", "Table", "Database"]
