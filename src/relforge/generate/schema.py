"""Stage 1 containers: the schema of a database to synthesize (tables, columns, keys, row counts).

A :class:`Schema` is what every later stage consumes. It can come from the random sampler
(``sample_schema``), from a SQL file (``relforge.generate.sql``) or from an existing database
(``relforge.generate.like``). Tables are kept in topological order: every table comes after the
tables it references (self-references excepted).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from relforge.db.table import Stype
from relforge.errors import RelforgeError


@dataclass(frozen=True)
class ColumnSpec:
    """One feature column to synthesize.

    ``stype`` is the final semantic type. ``labels`` fixes the category labels (SQL ENUM / CHECK IN);
    otherwise a categorical has ``n_categories`` classes. ``integer`` asks for integer-valued numbers
    (SQL INTEGER). ``role`` is a naming/rendering hint (amount, count, flag, status, date, text...).
    ``lo``/``hi`` bound numeric or datetime values when a schema declares them.
    """

    name: str
    stype: Stype
    n_categories: int = 0
    labels: tuple[str, ...] | None = None
    nullable: bool = True
    unique: bool = False
    integer: bool = False
    role: str = "feature"
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of the owning table references the primary key of ``parent`` (may be itself)."""

    column: str
    parent: str
    nullable: bool = False
    null_prob: float = 0.0


@dataclass
class TableSpec:
    """One table to synthesize."""

    name: str
    n_rows: int
    kind: str = "entity"  # "entity" (referenced by others) or "activity"
    pkey: str | None = "id"
    fkeys: list[ForeignKey] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)
    time_col: str | None = None

    @property
    def parents(self) -> list[str]:
        return [fk.parent for fk in self.fkeys if fk.parent != self.name]


@dataclass
class Schema:
    """Tables in topological order plus provenance (layout family, source)."""

    tables: dict[str, TableSpec]
    layout: str = ""
    meta: dict = field(default_factory=dict)

    def children(self, name: str) -> list[tuple[str, ForeignKey]]:
        return [(t.name, fk) for t in self.tables.values() for fk in t.fkeys if fk.parent == name and t.name != name]

    def topo_order(self) -> list[str]:
        """Table names, parents before children (self-references ignored); errors on a cycle."""
        indeg = {n: 0 for n in self.tables}
        for t in self.tables.values():
            for p in set(t.parents):
                if p not in self.tables:
                    raise RelforgeError(f"table {t.name!r}: foreign key references unknown table {p!r}")
                indeg[t.name] += 1
        order, ready = [], [n for n in self.tables if indeg[n] == 0]
        kids = {n: [] for n in self.tables}
        for t in self.tables.values():
            for p in set(t.parents):
                kids[p].append(t.name)
        while ready:
            n = ready.pop(0)
            order.append(n)
            for c in kids[n]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        if len(order) != len(self.tables):
            cyc = sorted(set(self.tables) - set(order))
            raise RelforgeError(f"foreign keys form a cycle among tables: {', '.join(cyc)}")
        return order

    def validate(self) -> None:
        """Names unique and non-empty, keys consistent, DAG acyclic."""
        for t in self.tables.values():
            if t.n_rows < 0:
                raise RelforgeError(f"table {t.name!r}: negative row count")
            names = [c.name for c in t.columns] + [fk.column for fk in t.fkeys]
            names += [t.pkey] if t.pkey else []
            names += [t.time_col] if t.time_col else []
            seen = set()
            for c in names:
                if not c:
                    raise RelforgeError(f"table {t.name!r}: empty column name")
                if c in seen:
                    raise RelforgeError(f"table {t.name!r}: duplicate column {c!r}")
                seen.add(c)
            for fk in t.fkeys:
                if fk.parent not in self.tables:
                    raise RelforgeError(f"table {t.name!r}: column {fk.column!r} references unknown table {fk.parent!r}")
                if self.tables[fk.parent].pkey is None:
                    raise RelforgeError(f"table {t.name!r}: column {fk.column!r} references {fk.parent!r}, which has no primary key")
        self.topo_order()
