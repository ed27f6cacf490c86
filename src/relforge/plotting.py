"""Schema graph of a database as a PNG: tables as boxes in layers, foreign keys as labelled arrows.

The layout is a small layered (Sugiyama-style) drawing written here, no graph library: each table's
layer is the length of the longest foreign-key path above it (tables nobody points to from above
sit on top), and tables within a layer are ordered by the mean position of their parents
(one barycentre sweep downward, one upward). Entity and activity tables get different colours;
each arrow points from the referencing (child) table to the referenced (parent) table and carries
the foreign-key column name; self-references are drawn as loops.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from relforge.db.database import Database
from relforge.errors import RelforgeError
from relforge.fileio import atomic_file

COLORS = {"entity": "#8fb8de", "activity": "#f4b183"}


def schema_layers(db: Database) -> list[list[str]]:
    """Tables grouped into layers, parents above children (self-references ignored).

    A table's layer is 1 + the largest layer of the tables it references (0 when it references
    none); tables on a foreign-key cycle go below everything else.
    """
    parents = {n: sorted({p for p in t.fkey_col_to_pkey_table.values() if p != n and p in db.tables})
               for n, t in db.tables.items()}
    layer: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for n in db.tables:
            if n not in layer and all(p in layer for p in parents[n]):
                layer[n] = 1 + max((layer[p] for p in parents[n]), default=-1)
                changed = True
    bottom = max(layer.values(), default=-1) + 1
    for n in db.tables:
        layer.setdefault(n, bottom)
    layers = [[n for n in db.tables if layer[n] == k] for k in range(max(layer.values(), default=-1) + 1)]
    layers = [lay for lay in layers if lay]
    # barycentre ordering: down using parents, then up using children
    children = {n: [c for c in db.tables if n in parents[c]] for n in db.tables}
    pos = {n: float(i) for lay in layers for i, n in enumerate(lay)}
    for sweep, nbrs in ((range(1, len(layers)), parents), (range(len(layers) - 2, -1, -1), children)):
        for k in sweep:
            key = {n: (np.mean([pos[m] for m in nbrs[n]]) if nbrs[n] else pos[n]) for n in layers[k]}
            layers[k] = sorted(layers[k], key=lambda n: (key[n], pos[n]))
            pos.update({n: float(i) for i, n in enumerate(layers[k])})
    return layers


def schema_layout(db: Database) -> dict[str, tuple[float, float]]:
    """``table -> (x, y)``: layers at y = 0, -1, -2, ...; each layer centred on x = 0, unit spacing."""
    out = {}
    for k, lay in enumerate(schema_layers(db)):
        for i, n in enumerate(lay):
            out[n] = (i - (len(lay) - 1) / 2.0, -float(k))
    return out


def _edge_point(c, toward, half) -> tuple[float, float]:
    """Where the segment from box centre ``c`` toward ``toward`` leaves the box of half-size ``half``."""
    dx, dy = toward[0] - c[0], toward[1] - c[1]
    t = min(half[0] / abs(dx) if dx else np.inf, half[1] / abs(dy) if dy else np.inf, 1.0)
    return c[0] + t * dx, c[1] + t * dy


def _crosses_boxes(a, b, boxes: dict) -> bool:
    """Whether the straight segment a-b passes through any of ``boxes`` (name -> (centre, half-size))."""
    ts = np.linspace(0.0, 1.0, 41)[1:-1]
    px, py = a[0] + ts * (b[0] - a[0]), a[1] + ts * (b[1] - a[1])
    for (cx, cy), (hw, hh) in boxes.values():
        if np.any((np.abs(px - cx) < hw * 1.1) & (np.abs(py - cy) < hh * 1.3)):
            return True
    return False


def plot_schema(db: Database, path: str | Path, *, title: str | None = None, dpi: int = 110) -> Path:
    """Draw the schema graph of ``db`` to ``path`` (PNG), written atomically; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    path = Path(path)
    if path.is_dir():
        raise RelforgeError(f"plot path {str(path)!r} is a folder, expected a .png file name")
    if not db.tables:
        raise RelforgeError(f"database {db.name!r} has no tables to draw")
    xy = schema_layout(db)
    xs = np.array([p[0] for p in xy.values()])
    ys = np.array([p[1] for p in xy.values()])
    sx, sy = 2.6, 1.6  # data units -> inches
    width = max(6.0, (xs.max() - xs.min() + 1.4) * sx)
    height = max(3.0, (ys.max() - ys.min() + 1.3) * sy)
    fig = Figure(figsize=(min(width, 40), min(height, 40)))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 0.93 if title or db.name else 1))
    ax.set_xlim(xs.min() - 0.7, xs.max() + 0.7)
    ax.set_ylim(ys.min() - 0.6, ys.max() + 0.7)
    ax.axis("off")
    boxes = {}
    for n, (x, y) in xy.items():
        t = db.tables[n]
        label = f"{n}\n{len(t):,} rows" + (f"\ntime: {t.time_col}" if t.time_col else "")
        boxes[n] = ax.text(x, y, label, ha="center", va="center", fontsize=8, zorder=3,
                           bbox=dict(boxstyle="round,pad=0.4", fc=COLORS.get(t.kind, "#dddddd"), ec="#333333"))
    fig.canvas.draw()  # box extents (data units) are needed to start/end arrows at the box edges
    inv = ax.transData.inverted()
    half = {}
    for n, b in boxes.items():
        (a0, b0), (a1, b1) = inv.transform(b.get_bbox_patch().get_window_extent(fig.canvas.get_renderer()).get_points())
        half[n] = (abs(a1 - a0) / 2, abs(b1 - b0) / 2)
    seen: dict[tuple[str, str], int] = {}
    style = dict(arrowstyle="-|>", color="#555555", lw=0.9, shrinkA=1, shrinkB=1, mutation_scale=10)
    for parent, child, col in db.edges():
        if parent not in xy or child not in xy:
            continue
        (x0, y0), (x1, y1) = xy[child], xy[parent]
        if parent == child:  # loop on the right edge
            hw, hh = half[child]
            ax.annotate("", xy=(x0 + hw, y0 - hh * 0.5), xytext=(x0 + hw, y0 + hh * 0.5), zorder=2,
                        arrowprops=dict(style, connectionstyle="arc3,rad=-1.4"))
            ax.text(x0 + hw + 0.12, y0, col, fontsize=6.5, va="center", color="#222222", zorder=4)
            continue
        k = seen.get((parent, child), 0)
        seen[(parent, child)] = k + 1
        blocked = _crosses_boxes((x0, y0), (x1, y1), {n: (xy[n], half[n]) for n in xy if n not in (parent, child)})
        rad = 0.0 if k == 0 and not blocked else (0.35 if blocked else 0.15) * ((k + 2) // 2) * (1 if k % 2 == 0 else -1)
        # arc3's control point lives in display space: midpoint + rad * (dy, -dx)
        d0, d1 = ax.transData.transform((x0, y0)), ax.transData.transform((x1, y1))
        ctrl = inv.transform((d0 + d1) / 2 + rad * np.array([d1[1] - d0[1], -(d1[0] - d0[0])]))
        start_pt = _edge_point((x0, y0), tuple(ctrl) if rad else (x1, y1), half[child])
        end_pt = _edge_point((x1, y1), tuple(ctrl) if rad else (x0, y0), half[parent])
        ax.annotate("", xy=end_pt, xytext=start_pt, zorder=1,
                    arrowprops=dict(style, connectionstyle=f"arc3,rad={rad}"))
        t = 0.3  # label near the child end of the (quadratic Bezier) curve, clear of boxes in between
        lx, ly = (1 - t) ** 2 * np.asarray(start_pt) + 2 * (1 - t) * t * ctrl + t ** 2 * np.asarray(end_pt)
        ax.text(lx, ly, col, fontsize=6.5, ha="center", va="center", color="#222222", zorder=4,
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.8))
    ax.legend(handles=[Patch(fc=c, ec="#333333", label=k) for k, c in COLORS.items()],
              loc="lower right", fontsize=7, frameon=False)
    fig.suptitle(title or f"{db.name}: {len(db.tables)} tables, {db.n_rows:,} rows", fontsize=10)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
