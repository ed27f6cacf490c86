"""Turn a column's latent SCM values into its final, typed cells (stage 3 output).

Stage 3 produces one latent array per feature column: float values for numerical / datetime / text
columns, int class codes (0..K-1) for categorical and boolean columns (float latents are accepted for
every type and int codes for text). :func:`render_column` maps it to the column's declared type
(``ColumnSpec.stype``) and constraints. Every map is monotone in the latent (or a function of the
latent's class), so the causal signal survives into text and datetime cells.

What each :class:`~relforge.generate.schema.ColumnSpec` field does here:

- ``nullable=False``: no missing cells (NaN latents are filled with the median / most common class).
- ``unique=True``: distinct values by construction (strictly increasing remap of the sorted values for
  numbers and datetimes, ``" #k"`` suffixes for repeated strings); impossible cases (more rows than
  labels, too short a VARCHAR) raise :class:`RelforgeError`.
- ``integer`` / ``scale``: integers (``int64``, or ``Int64`` when nullable and missing cells exist) /
  decimals rounded to ``scale`` places (SQL ``DECIMAL(p, s)``).
- ``lo`` / ``hi``: value bounds (numbers: the value; datetimes: seconds since 1970-01-01). Values
  outside are mapped back in by a monotone affine map.
- ``labels``: ENUM / CHECK IN labels of a categorical (or text) column; with ``integer=True`` the labels
  are integers and the column is integer-typed.
- ``max_len``: longest string of a text column (VARCHAR(n)).
- ``role``: rendering hint. numerical: ``count`` (non-negative integers), ``tally`` (a count of
  events: non-negative integers, right-skewed with many small values), ``amount`` (positive, 2
  decimals, log-normal-like), ``rate`` (in [0, 1]), ``score`` (0..100); datetime: ``date`` (day
  resolution) else second resolution; text: ``name`` (product-like names), ``sentence`` (short
  reviews whose sentiment follows the latent), ``label`` (status-like words), ``code`` (codes such as
  ``"KX-0417"``); other roles pick a text style from the column name.

References: generator.md §5 (post-processing) and §6 (SQL types); the paper's Limitations section
(text and datetime columns, schema semantics).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.schema import ColumnSpec

DEFAULT_WINDOW = ("1990-01-01", "2025-01-01")  # generator.md §1 timestamp bounds
_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_YEAR_NS = 365.2425 * _DAY_NS

# ------------------------------------------------------------------------------------------ vocab

ADJECTIVES = (
    "amber", "arctic", "bold", "brisk", "calm", "classic", "clever", "cosmic", "crimson", "daring",
    "deep", "eager", "electric", "emerald", "fierce", "gentle", "golden", "grand", "happy", "hidden",
    "humble", "iron", "jade", "keen", "lively", "lucky", "lunar", "merry", "misty", "noble", "ocean",
    "polar", "proud", "quiet", "rapid", "royal", "rustic", "scarlet", "silent", "silver", "solar",
    "steady", "stellar", "sunny", "swift", "tidy", "urban", "velvet", "vivid", "wild",
)
NOUNS = (
    "anchor", "arrow", "aurora", "badger", "beacon", "bison", "blossom", "breeze", "canyon", "cedar",
    "comet", "crane", "delta", "ember", "falcon", "fern", "forest", "galaxy", "glacier", "harbor",
    "hawk", "horizon", "island", "lantern", "lotus", "maple", "meadow", "mesa", "orchid", "otter",
    "pebble", "phoenix", "pine", "prairie", "quartz", "raven", "reef", "river", "sparrow", "summit",
    "thunder", "tiger", "tulip", "valley", "voyager", "willow", "wolf", "zephyr", "harvest", "spruce",
)
PRODUCTS = (
    "backpack", "blender", "bottle", "cable", "camera", "candle", "chair", "charger", "desk", "drill",
    "headset", "jacket", "kettle", "keyboard", "lamp", "mat", "monitor", "mug", "notebook", "pan",
    "pillow", "printer", "router", "scarf", "shoes", "speaker", "stool", "tablet", "tent", "watch",
)
LABELS = (
    "active", "pending", "closed", "open", "new", "archived", "approved", "rejected", "shipped",
    "delivered", "cancelled", "returned", "paid", "overdue", "draft", "review", "complete", "failed",
    "queued", "expired", "basic", "standard", "premium", "gold", "silver", "bronze", "low", "medium",
    "high", "critical", "north", "south", "east", "west", "central", "online", "offline", "retail",
    "wholesale", "partner",
)
# sentiment words ordered from most negative to most positive: a higher latent reads happier
SENTIMENT = (
    "terrible", "awful", "poor", "disappointing", "mediocre", "okay", "decent", "good", "great",
    "excellent", "outstanding",
)
SUBJECTS = (
    "service", "quality", "delivery", "price", "support", "experience", "packaging", "value", "staff",
    "design", "performance", "selection",
)
TAILS = (
    "overall", "this time", "as expected", "for the price", "again", "so far", "in my opinion",
    "all things considered", "compared to last time", "honestly",
)
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Bea", "Carlos", "Chen", "Dara", "Elena", "Emil", "Farah", "Grace", "Hugo",
    "Ines", "Ivan", "Jonas", "Kai", "Lena", "Luca", "Maya", "Mateo", "Nia", "Omar", "Priya", "Quinn",
    "Rosa", "Sami", "Sofia", "Tariq", "Uma", "Vera", "Wei", "Yara", "Zane", "Noor", "Leo", "Aiko",
)
LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rossi", "Silva", "Tanaka",
    "Umar", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Novak", "Mensah", "Lindqvist", "Kim",
)
CITIES = (
    "Lisbon", "Oslo", "Toronto", "Nairobi", "Osaka", "Lyon", "Austin", "Porto", "Krakow", "Seoul",
    "Denver", "Bergen", "Quito", "Dublin", "Accra", "Perth", "Leeds", "Turin", "Malmo", "Hanoi",
    "Cusco", "Tartu", "Ghent", "Cork", "Graz", "Bilbao", "Utrecht", "Tampere", "Brno", "Split",
)
COUNTRIES = (
    "Portugal", "Norway", "Canada", "Kenya", "Japan", "France", "USA", "Poland", "Korea", "Ireland",
    "Ghana", "Australia", "Italy", "Sweden", "Vietnam", "Peru", "Estonia", "Belgium", "Austria", "Spain",
    "Netherlands", "Finland", "Czechia", "Croatia", "Brazil", "India", "Germany", "Chile", "Mexico", "Egypt",
)
STREETS = ("Oak", "Maple", "Harbor", "Mill", "Station", "Church", "Park", "River", "King", "Garden",
           "Market", "Bridge", "Hill", "Lake", "Elm", "Cedar")
STREET_KINDS = ("St", "Ave", "Rd", "Lane", "Way", "Blvd")
COMPANY_KINDS = ("Labs", "Group", "Systems", "Partners", "Works", "Holdings", "Studio", "Logistics",
                 "Foods", "Media", "Analytics", "Outfitters")
_STYLE_WORDS = {  # checked in this order; the first keyword found in the column name wins
    "email": ("email", "e_mail", "mail"),
    "phone": ("phone", "fax", "mobile", "tel"),
    "address": ("address", "street"),
    "clock": ("clock", "time_of_day"),
    "company": ("company", "employer", "vendor", "supplier", "manufacturer", "organization", "org_name"),
    "first_name": ("firstname", "first_name", "forename", "given_name"),
    "last_name": ("lastname", "last_name", "surname", "family_name"),
    "person": ("firstname", "first_name", "lastname", "last_name", "surname", "fullname", "full_name",
               "composer", "author", "artist_name", "person", "forename", "given", "nickname"),
    "city": ("city", "town", "location", "place", "venue"),
    "country": ("country", "nation", "nationality", "state", "province", "region"),
    "sentence": ("description", "comment", "note", "review", "body", "text", "message", "summary",
                 "content", "feedback", "bio", "remark", "reason"),
    "label": ("status", "type", "category", "kind", "level", "tier", "segment", "class",
              "group", "stage", "mode", "channel", "plan", "priority", "genre", "format", "gender"),
    "code": ("code", "sku", "ref", "serial", "zip", "postal", "iso", "tag", "abbrev", "currency"),
    "name": ("name", "title", "product", "model", "brand", "alias"),
}
_TEXT_STYLES = ("name", "sentence", "label", "code", "person", "first_name", "last_name", "city", "country", "email", "phone",
                "address", "company", "clock")


def text_style(spec: ColumnSpec) -> str:
    """The text style of a column: its ``role`` if it is one, else a keyword of its name, else ``"name"``."""
    if spec.role in _TEXT_STYLES:
        return spec.role
    low = spec.name.lower()
    squashed = low.replace("_", "")
    for style, words in _STYLE_WORDS.items():
        if any(w in low or w.replace("_", "") in squashed for w in words):
            return style
    return "name"


# ---------------------------------------------------------------------------------- public entry


def render_column(spec: ColumnSpec, latent: np.ndarray, *, rng: np.random.Generator,
                  times: np.ndarray | None = None, window: tuple | None = None) -> pd.Series:
    """Final cells of ``spec`` from ``latent`` (NaN = missing).

    Parameters
    ----------
    spec : the column (type, constraints and role hint; see the module docstring).
    latent : float array (numerical/datetime/text) or int codes (categorical/boolean), one per row.
    rng : the column's own stream for rendering draws (vocabulary picks, spans, scales); same
        stream => same cells.
    times : the row timestamps (datetime64[ns]) of a timed table, else None. Datetime features of a
        timed table fall in a window before, after or around the row's own time.
    window : (start, end) of the database's time window, used for datetime features of untimed tables
        when the spec declares no ``lo``/``hi``; default 1990-01-01 .. 2025-01-01.

    Returns
    -------
    pandas Series of length ``len(latent)``; dtypes: numerical ``float64``/``int64``/``Int64``,
    boolean ``bool``/``boolean``, categorical ``int64``/``Int64`` codes or ``string`` labels, text
    ``string``, datetime ``datetime64[ns]``.
    """
    latent = np.asarray(latent)
    if latent.ndim != 1:
        latent = latent.reshape(-1)
    if spec.stype == Stype.numerical:
        if spec.labels:
            return _render_labels(spec, latent, rng)
        return _render_numerical(spec, latent, rng)
    if spec.stype == Stype.boolean:
        return _render_boolean(spec, latent)
    if spec.stype == Stype.categorical:
        if spec.labels:
            return _render_labels(spec, latent, rng)
        k = spec.n_categories if spec.n_categories > 0 else None
        codes = _codes(latent, k or 2)
        if not spec.nullable:
            codes = np.where(codes < 0, _mode(codes), codes)
        if spec.unique:
            _check_unique_possible(spec, codes, k or int(codes.max(initial=0)) + 1)
        if (codes < 0).any():
            return _masked(np.where(codes < 0, 0, codes), codes < 0, "Int64")
        return pd.Series(codes.astype(np.int64), dtype="int64")
    if spec.stype == Stype.text:
        if spec.labels:
            return _render_labels(spec, latent, rng)
        return _render_text(spec, latent, rng)
    if spec.stype == Stype.datetime:
        return _render_datetime(spec, latent, rng, times, window)
    raise RelforgeError(f"column {spec.name!r}: cannot render type {spec.stype!r}")


# ------------------------------------------------------------------------------------ helpers


def _as_float(latent: np.ndarray) -> np.ndarray:
    x = np.asarray(latent, dtype=np.float64).copy()
    bad = np.isinf(x)
    if bad.any():  # +-inf -> the finite extremes (keeps order, keeps cells finite)
        fin = x[np.isfinite(x)]
        hi, lo = (fin.max(), fin.min()) if fin.size else (0.0, 0.0)
        x[bad & (x > 0)] = hi
        x[bad & (x < 0)] = lo
    return x


def _is_int_codes(latent: np.ndarray) -> bool:
    return np.issubdtype(latent.dtype, np.integer) or latent.dtype == bool


def _codes(latent: np.ndarray, k: int) -> np.ndarray:
    """Class codes 0..k-1 (-1 = missing): int latents as given (mod k), float latents by quantile bins."""
    if _is_int_codes(latent):
        c = latent.astype(np.int64)
        return np.where(c < 0, -1, c % max(k, 1))
    x = _as_float(latent)
    ok = ~np.isnan(x)
    out = np.full(x.shape, -1, dtype=np.int64)
    if ok.any() and k > 1:
        edges = np.quantile(x[ok], np.linspace(0, 1, k + 1)[1:-1])
        out[ok] = np.searchsorted(edges, x[ok], side="right")
    elif ok.any():
        out[ok] = 0
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    """Monotone map to (0, 1): average rank / (n + 1); NaN stays NaN; ties share a value."""
    x = _as_float(x)
    ok = ~np.isnan(x)
    u = np.full(x.shape, np.nan)
    n = int(ok.sum())
    if n:
        v = x[ok]
        uniq, inv, cnt = np.unique(v, return_inverse=True, return_counts=True)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        avg_rank = start + (cnt - 1) / 2.0 + 1.0  # 1-based average rank per distinct value
        u[ok] = avg_rank[inv] / (n + 1)
    return u


def _masked(values: np.ndarray, miss: np.ndarray, dtype: str) -> pd.Series:
    """A nullable-dtype Series with ``<NA>`` where ``miss``."""
    arr = pd.array(values, dtype=dtype)
    if miss.any():
        arr[miss] = pd.NA
    return pd.Series(arr)


def _mode(codes: np.ndarray) -> int:
    c = codes[codes >= 0]
    return int(np.bincount(c).argmax()) if c.size else 0


def _fill_nan(x: np.ndarray) -> np.ndarray:
    nan = np.isnan(x)
    if nan.any():
        fill = np.nanmedian(x) if (~nan).any() else 0.0
        x = np.where(nan, fill, x)
    return x


def _fit_bounds(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """Monotone affine map of ``x`` into [lo, hi] (only when some value is outside)."""
    ok = ~np.isnan(x)
    if not ok.any() or (lo is None and hi is None):
        return x
    mn, mx = float(np.nanmin(x)), float(np.nanmax(x))
    if (lo is None or mn >= lo) and (hi is None or mx <= hi):
        return x
    if lo is not None and hi is not None:
        if mx - mn <= hi - lo:  # it fits: shift
            shift = (lo - mn) if mn < lo else (hi - mx)
            return np.clip(x + shift, lo, hi)
        return np.clip(lo + (x - mn) / (mx - mn) * (hi - lo), lo, hi)
    if lo is not None:
        return x + (lo - mn)
    return x - (mx - hi)


def _strictly_increasing(x: np.ndarray, eps: float, hi: float | None = None) -> np.ndarray:
    """Smallest order-preserving change making the non-NaN values pairwise distinct (gaps >= eps).

    Values are pushed up; if that crosses ``hi`` they are pushed down from ``hi`` instead.
    """
    ok = ~np.isnan(x)
    v = x[ok]
    if v.size < 2:
        return x
    order = np.argsort(v, kind="stable")
    s = v[order]
    i = np.arange(s.size) * eps
    s2 = np.maximum.accumulate(s - i) + i  # z = s - i*eps nondecreasing => s2 strictly increasing
    if hi is not None and s2[-1] > hi:  # push down from the top: s'_i = i*eps + min_{j>=i}(s_j - j*eps)
        top = np.minimum(s, hi - i[::-1])
        s2 = np.minimum.accumulate((top - i)[::-1])[::-1] + i
    out_v = np.empty_like(v)
    out_v[order] = s2
    out = x.copy()
    out[ok] = out_v
    return out


def _check_unique_possible(spec: ColumnSpec, codes: np.ndarray, k: int) -> None:
    n = int((codes >= 0).sum())
    if n > k:
        raise RelforgeError(f"column {spec.name!r}: UNIQUE needs {n} distinct values but only {k} exist")
    vals = codes[codes >= 0]
    if np.unique(vals).size < vals.size:
        # rows get distinct classes by rank (the latent order is kept)
        codes[codes >= 0] = np.argsort(np.argsort(vals, kind="stable"), kind="stable")


# --------------------------------------------------------------------------------- numerical


def _render_numerical(spec: ColumnSpec, latent: np.ndarray, rng: np.random.Generator) -> pd.Series:
    x = _as_float(latent)
    if not spec.nullable:
        x = _fill_nan(x)
    ok = ~np.isnan(x)
    scale = spec.scale
    integer = spec.integer
    if ok.any():
        if spec.role == "count":
            top = float(rng.choice((5, 10, 20, 50, 100, 1000)))
            u = _unit(x)
            x = np.floor(u * (top + 1))
            integer = True
        elif spec.role == "tally":  # a count of events: non-negative, right-skewed, many small values
            u = _unit(x)
            m = float(np.exp(rng.uniform(np.log(0.3), np.log(30.0))))
            k = float(rng.uniform(0.8, 1.6))
            x = np.floor(m * (-np.log1p(-u)) ** k)
            integer = True
        elif spec.role == "amount":
            z = (x - np.nanmean(x)) / max(float(np.nanstd(x)), 1e-12)
            x = 10.0 ** (rng.uniform(0.5, 3.0) + rng.uniform(0.15, 0.5) * np.clip(z, -6, 6))
            scale = 2 if scale is None and not integer else scale
        elif spec.role == "rate":
            x = _unit(x)
            scale = 4 if scale is None else scale
        elif spec.role == "score":
            x = np.round(_unit(x) * 100.0)
            integer = True
        if integer and spec.role not in ("count", "tally", "amount", "score"):  # stretch a latent too narrow to survive rounding
            spread = float(np.nanpercentile(x, 90) - np.nanpercentile(x, 10))
            if spread < 2.0:
                sd = max(float(np.nanstd(x)), 1e-12)
                x = (x - np.nanmean(x)) / sd * float(rng.choice((3, 10, 30, 100)))
        x = _fit_bounds(x, spec.lo, spec.hi)
        if integer or scale is not None:  # round onto the grid, then keep grid points inside the bounds
            q = 1.0 if integer else 10.0 ** scale
            x = np.round(x * q) / q
            glo = np.ceil(spec.lo * q - 1e-9) / q if spec.lo is not None else None
            ghi = np.floor(spec.hi * q + 1e-9) / q if spec.hi is not None else None
            if glo is not None and ghi is not None and glo > ghi:
                raise RelforgeError(f"column {spec.name!r}: no {'integer' if integer else f'{scale}-decimal'} "
                                    f"value lies in [{spec.lo}, {spec.hi}]")
            if glo is not None:
                x = np.maximum(x, glo)
            if ghi is not None:
                x = np.minimum(x, ghi)
        if spec.unique:
            eps = 1.0 if integer else (10.0 ** -scale if scale is not None else _float_eps(x))
            x = _strictly_increasing(x, eps, spec.hi)
            if scale is not None and not integer:
                x = np.round(x, scale)
            if (spec.hi is not None and np.nanmax(x) > spec.hi) or (spec.lo is not None and np.nanmin(x) < spec.lo):
                raise RelforgeError(f"column {spec.name!r}: cannot fit {int(ok.sum())} distinct values in [{spec.lo}, {spec.hi}]")
    if integer:
        if np.isnan(x).any():
            return _masked(np.where(np.isnan(x), 0, x).astype(np.int64), np.isnan(x), "Int64")
        return pd.Series(x.astype(np.int64), dtype="int64")
    return pd.Series(x, dtype="float64")


def _float_eps(x: np.ndarray) -> float:
    m = float(np.nanmax(np.abs(x))) if (~np.isnan(x)).any() else 1.0
    return max(m, 1.0) * 1e-9


# ------------------------------------------------------------------------------- boolean/labels


def _render_boolean(spec: ColumnSpec, latent: np.ndarray) -> pd.Series:
    if _is_int_codes(latent):
        b = latent.astype(np.int64) > 0
        miss = np.zeros(b.shape, bool)
    else:
        x = _as_float(latent)
        miss = np.isnan(x)
        vals = np.unique(x[~miss])
        thr = 0.0 if np.isin(vals, (0.0, 1.0)).all() else (float(np.median(x[~miss])) if vals.size else 0.0)
        b = np.where(miss, False, x > thr)
    if not spec.nullable:
        miss = np.zeros_like(miss)  # missing latents read as False
    if spec.unique:
        ok = np.flatnonzero(~miss)
        if ok.size > 2:
            raise RelforgeError(f"column {spec.name!r}: UNIQUE boolean column cannot hold {ok.size} rows")
        if ok.size == 2 and b[ok[0]] == b[ok[1]]:  # distinct by latent order (ties: row order)
            lat = np.nan_to_num(latent[ok].astype(np.float64), nan=0.0)
            first_true = bool(lat[0] > lat[1])
            b = b.copy()
            b[ok[0]], b[ok[1]] = first_true, not first_true
    if miss.any() and spec.nullable:
        return _masked(b, miss, "boolean")
    return pd.Series(b, dtype="bool")


def _render_labels(spec: ColumnSpec, latent: np.ndarray, rng: np.random.Generator) -> pd.Series:
    labels = list(spec.labels)
    k = len(labels)
    codes = _codes(latent, k)
    if not spec.nullable:
        codes = np.where(codes < 0, _mode(codes), codes)
    if spec.unique:
        _check_unique_possible(spec, codes, k)
    miss = codes < 0
    safe = np.where(miss, 0, codes)
    if spec.integer and spec.stype != Stype.text:
        try:
            arr = np.asarray([int(str(v)) for v in labels], dtype=np.int64)
        except ValueError:
            raise RelforgeError(f"column {spec.name!r}: integer column has non-integer labels {labels!r}") from None
        vals = arr[safe]
        if miss.any():
            return _masked(vals, miss, "Int64")
        return pd.Series(vals, dtype="int64")
    if spec.stype == Stype.numerical:
        try:
            arr = np.asarray([float(str(v)) for v in labels], dtype=np.float64)
        except ValueError:
            raise RelforgeError(f"column {spec.name!r}: numeric column has non-numeric labels {labels!r}") from None
        return pd.Series(np.where(miss, np.nan, arr[safe]), dtype="float64")
    arr = np.asarray([str(v) for v in labels], dtype=object)
    return _masked(arr[safe], miss, "string")


# -------------------------------------------------------------------------------------- text


def phrases(style: str, k: int, *, rng: np.random.Generator) -> list[str]:
    """``k`` distinct strings of a text style, ordered so that class ``c`` keeps its meaning.

    ``sentence`` phrases are ordered by sentiment (class 0 most negative), ``label`` phrases are
    status-like words, ``name`` phrases are product-like names, ``code`` phrases short codes.
    """
    if k <= 0:
        return []
    if style == "sentence":
        subj = rng.choice(len(SUBJECTS), size=k)
        tail = rng.choice(len(TAILS), size=k)
        out = []
        for c in range(k):
            sent = SENTIMENT[min(len(SENTIMENT) - 1, c * len(SENTIMENT) // k)]
            out.append(f"{SUBJECTS[subj[c]].capitalize()} was {sent} {TAILS[tail[c]]}.")
        return _dedupe(out)
    if style == "label":
        if k <= len(LABELS):
            return [LABELS[i] for i in rng.choice(len(LABELS), size=k, replace=False)]
        base = [LABELS[i] for i in rng.permutation(len(LABELS))]
        return _dedupe([base[c % len(base)] for c in range(k)])
    if style == "code":
        letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
        pre = rng.choice(letters, size=(k, 2))
        num = rng.choice(10_000, size=k, replace=k > 10_000)
        return _dedupe([f"{a}{b}-{n:04d}" for (a, b), n in zip(pre, num)])
    if style == "first_name":
        return _combos(k, rng, FIRST_NAMES, tuple("ABCDEFGHJKLMNPRSTVW"), fmt="{} {}.", extra=FIRST_NAMES,
                       extra_fmt="{}-{}") if k > len(FIRST_NAMES) else _combos(k, rng, FIRST_NAMES, ("",), fmt="{}{}")
    if style == "last_name":
        return _combos(k, rng, LAST_NAMES, ("",), fmt="{}{}", extra=LAST_NAMES, extra_fmt="{}-{}")
    if style == "person":
        return _combos(k, rng, FIRST_NAMES, LAST_NAMES, fmt="{} {}")
    if style == "city":
        return _combos(k, rng, CITIES, ("",), fmt="{}{}", extra=ADJECTIVES, extra_fmt="{} {}")
    if style == "country":
        return _combos(k, rng, COUNTRIES, ("",), fmt="{}{}", extra=("North", "South", "East", "West", "New", "Upper", "Lower"), extra_fmt="{} {}")
    if style == "company":
        return _combos(k, rng, tuple(n.title() for n in NOUNS), COMPANY_KINDS, fmt="{} {}")
    if style == "email":
        people = _combos(k, rng, FIRST_NAMES, LAST_NAMES, fmt="{}.{}")
        doms = rng.choice(("mail.example", "post.example", "inbox.example", "corp.example"), size=k)
        return _dedupe([f"{p.lower()}@{d}" for p, d in zip(people, doms)], sep=".")
    if style == "phone":
        num = rng.choice(10**7, size=k, replace=False) if k <= 10**7 else rng.integers(0, 10**7, size=k)
        area = rng.integers(200, 1000, size=k)
        return _dedupe([f"+1 ({a}) {n // 10**4:03d}-{n % 10**4:04d}" for a, n in zip(area, num)])
    if style == "address":
        nums = rng.integers(1, 1000, size=k)
        st_ = rng.choice(len(STREETS), size=k)
        kd = rng.choice(len(STREET_KINDS), size=k)
        return _dedupe([f"{n} {STREETS[a]} {STREET_KINDS[b]}" for n, a, b in zip(nums, st_, kd)])
    if style == "clock":
        # class c -> a time of day increasing with c (the latent order survives)
        secs = np.sort(rng.choice(86400, size=min(k, 86400), replace=False))
        if k > 86400:
            secs = np.resize(secs, k)
        return _dedupe([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in secs])
    # name: "<adjective> <noun>" (+ a product word when many are needed), title case
    n_pairs = len(ADJECTIVES) * len(NOUNS)
    if k <= n_pairs:
        idx = rng.choice(n_pairs, size=k, replace=False)
        out = [f"{ADJECTIVES[i // len(NOUNS)]} {NOUNS[i % len(NOUNS)]}".title() for i in idx]
    else:
        a = rng.choice(len(ADJECTIVES), size=k)
        b = rng.choice(len(NOUNS), size=k)
        p = rng.choice(len(PRODUCTS), size=k)
        out = [f"{ADJECTIVES[i]} {NOUNS[j]} {PRODUCTS[m]}".title() for i, j, m in zip(a, b, p)]
    return _dedupe(out)


def _combos(k: int, rng: np.random.Generator, a: tuple, b: tuple, *, fmt: str, extra: tuple = (),
            extra_fmt: str = "") -> list[str]:
    """``k`` distinct strings ``fmt.format(a_i, b_j)`` (prefixed by ``extra`` words when pairs run out)."""
    n_pairs = len(a) * len(b)
    idx = rng.choice(n_pairs, size=min(k, n_pairs), replace=False)
    out = [fmt.format(a[i // len(b)], b[i % len(b)]) for i in idx]
    if k > n_pairs:
        more = k - n_pairs
        base = [fmt.format(a[i // len(b)], b[i % len(b)]) for i in rng.integers(0, n_pairs, size=more)]
        if extra:
            pre = rng.choice(len(extra), size=more)
            base = [extra_fmt.format(extra[p], w) for p, w in zip(pre, base)]
        out += base
    return _dedupe(out)


def _dedupe(words: list[str], sep: str = " ") -> list[str]:
    """Make a list of strings distinct by numbering repeats (" 2", " 3", ...)."""
    seen: dict[str, int] = {}
    out = []
    for w in words:
        if w in seen:
            seen[w] += 1
            w2 = _numbered(w, seen[w], sep)
            while w2 in seen:
                seen[w] += 1
                w2 = _numbered(w, seen[w], sep)
            seen[w2] = 1
            out.append(w2)
        else:
            seen[w] = 1
            out.append(w)
    return out


# styles whose values are diverse in real data: a latent class maps to a block of distinct strings
HIGH_CARD_STYLES = ("person", "email", "phone", "address", "company", "first_name", "last_name", "city", "name",
                    "code")


def default_text_classes(style: str) -> int:
    """Latent classes K suggested for a text column of ``style`` (schemas from SQL or ``--like``).

    High-cardinality styles (people, emails, phones, addresses, companies) get K=32 classes, each
    rendered as its own block of distinct strings, so values are diverse while the class survives.
    """
    return {"label": 6, "sentence": 11, "country": 12, "city": 24, "name": 24, "code": 48, "first_name": 30,
            "last_name": 30, "clock": 48}.get(style, 32)


def _default_k(style: str, n: int) -> int:
    """Distinct strings of a text column without a declared class count (float latents)."""
    if style in ("person", "email", "phone", "address", "company"):
        return int(min(max(n, 1), 5000))
    return default_text_classes(style)


def _numbered(w: str, n: int, sep: str) -> str:
    if sep == "." and "@" in w:  # emails: number the local part
        local, dom = w.split("@", 1)
        return f"{local}{n}@{dom}"
    return f"{w}{sep}{n}"


def _render_text(spec: ColumnSpec, latent: np.ndarray, rng: np.random.Generator) -> pd.Series:
    style = text_style(spec)
    if _is_int_codes(latent):
        k = max(spec.n_categories, int(latent.max(initial=0)) + 1, 1)
    else:
        k = spec.n_categories if spec.n_categories > 0 else _default_k(style, len(latent))
    codes = _codes(latent, k)
    if not spec.nullable:
        codes = np.where(codes < 0, _mode(codes), codes)
    n = len(codes)
    m = 1  # strings per class: high-cardinality styles spread a class over a block of m strings
    if style in HIGH_CARD_STYLES and n > k:
        k_obs = max(int(np.unique(codes[codes >= 0]).size), 1)  # SCM classes are often few and skewed
        m = int(max(1, min(np.ceil(min(n, 5000) / k_obs), 20000 // max(k, 1))))
    words = np.asarray(phrases(style, k * m, rng=rng), dtype=object)
    if spec.max_len is not None:
        words = np.asarray(_dedupe([w[: spec.max_len] for w in words]), dtype=object)
        if max(len(w) for w in words) > spec.max_len:
            words = np.asarray(_letter_codes(k * m, spec.max_len, rng) if 26 ** min(spec.max_len, 12) >= 4 * k * m
                               else _short_codes(k * m, spec.max_len, spec.name), dtype=object)
    miss = codes < 0
    idx = np.where(miss, 0, codes) * m
    if m > 1:
        idx = idx + rng.integers(0, m, size=n)
    vals = words[idx]
    if spec.unique:
        vals = _unique_strings(vals, miss, spec)
    return _masked(vals, miss, "string")


def _letter_codes(k: int, length: int, rng: np.random.Generator) -> list[str]:
    """``k`` distinct random upper-case codes of ``length`` letters (``"HAM"``); needs 26**length >= k."""
    length = min(length, 12)
    space = 26 ** length
    if k > space:
        raise RelforgeError(f"cannot make {k} distinct codes of {length} letters")
    if space <= 4 * k:
        nums = rng.permutation(space)[:k]
    else:
        nums = np.unique(rng.integers(0, space, size=2 * k + 16))
        nums = rng.permutation(nums)[:k]
        while nums.size < k:  # pragma: no cover - astronomically unlikely
            nums = np.unique(np.concatenate([nums, rng.integers(0, space, size=k)]))[:k]
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    digits = [letters[(nums // 26 ** p) % 26] for p in reversed(range(length))]
    return ["".join(t) for t in zip(*digits)]


def _short_codes(k: int, max_len: int, name: str) -> list[str]:
    """``k`` distinct base-36 strings of length <= max_len (error when impossible)."""
    if max_len <= 0 or 36 ** max_len < k:
        raise RelforgeError(f"column {name!r}: cannot make {k} distinct strings of at most {max_len} characters")
    digits = np.array(list("0123456789abcdefghijklmnopqrstuvwxyz"))
    width = 1
    while 36 ** width < k:
        width += 1
    n = np.arange(k)
    cols = [(n // 36 ** p) % 36 for p in reversed(range(width))]
    return ["".join(t) for t in zip(*(digits[c] for c in cols))]


def _unique_strings(vals: np.ndarray, miss: np.ndarray, spec: ColumnSpec) -> np.ndarray:
    """Repeated strings get " #2", " #3", ... (the first occurrence keeps its text); NULLs stay."""
    s = pd.Series(vals)
    occ = s.groupby(s).cumcount().to_numpy()
    out = np.where((occ > 0) & ~miss, s.astype(str) + " #" + (occ + 1).astype(str), s.astype(str)).astype(object)
    if spec.max_len is not None and max((len(v) for v in out), default=0) > spec.max_len:
        # too long: fall back to distinct short codes ranked by the original text
        n_ok = int((~miss).sum())
        codes = _short_codes(n_ok, spec.max_len, spec.name)
        order = np.argsort(vals[~miss].astype(str), kind="stable")
        sub = np.empty(n_ok, dtype=object)
        sub[order] = codes
        out = out.copy()
        out[~miss] = sub
    return out


# ---------------------------------------------------------------------------------- datetime


def _render_datetime(spec: ColumnSpec, latent: np.ndarray, rng: np.random.Generator,
                     times: np.ndarray | None, window: tuple | None) -> pd.Series:
    u = _unit(latent)
    if not spec.nullable:
        u = np.where(np.isnan(u), 0.5, u)
    miss = np.isnan(u)
    day = spec.role == "date"
    low = spec.name.lower()
    birth = any(w in low for w in ("birth", "dob", "born"))
    if birth and spec.lo is None and spec.hi is None:
        # a birth date lies 18..80 years before the row time (or the window), later for a higher latent
        if times is not None:
            ref = np.asarray(pd.to_datetime(np.asarray(times))).astype("datetime64[ns]")
            ref_ns = np.where(np.isnat(ref), float(_window_ns(spec, window)[1]), ref.view(np.int64).astype(np.float64))
        else:
            lo_w, hi_w = _window_ns(spec, window)
            ref_ns = lo_w + np.where(miss, 0.5, u) * (hi_w - lo_w)
        ns = ref_ns - 80 * _YEAR_NS + np.where(miss, 0.5, u) * 62 * _YEAR_NS
    elif times is not None and spec.lo is None and spec.hi is None:
        tt = np.asarray(pd.to_datetime(np.asarray(times))).astype("datetime64[ns]")  # any unit -> ns
        tnat = np.isnat(tt)
        t = tt.view(np.int64).astype(np.float64)
        span_days = float(rng.choice((7, 30, 90, 365, 1825)))
        anchor = float(rng.choice((0.0, 0.5, 1.0)))  # 1: before the row time, 0: after, 0.5: around
        ns = t + (np.where(miss, 0.5, u) - anchor) * span_days * _DAY_NS
        fallback = _window_ns(spec, window)
        ns = np.where(tnat, fallback[0] + np.where(miss, 0.5, u) * (fallback[1] - fallback[0]), ns)
    else:
        lo, hi = _window_ns(spec, window)
        ns = lo + np.where(miss, 0.5, u) * (hi - lo)
    step = _DAY_NS if day else _NS
    ns = np.floor(ns / step) * step
    if spec.unique:
        hi_ns = np.floor(spec.hi * _NS / step) * step if spec.hi is not None else None
        ns = _strictly_increasing(np.where(miss, np.nan, ns), float(step), hi_ns)
    ns = np.clip(np.where(np.isnan(ns), 0, ns), -9.2e18, 9.2e18)
    out = pd.Series(ns.astype(np.int64).view("datetime64[ns]"))
    if miss.any():
        out = out.mask(miss)
    return out


def _window_ns(spec: ColumnSpec, window: tuple | None) -> tuple[float, float]:
    start, end = window if window is not None else DEFAULT_WINDOW
    lo = float(spec.lo) * _NS if spec.lo is not None else float(pd.Timestamp(start).value)
    hi = float(spec.hi) * _NS if spec.hi is not None else float(pd.Timestamp(end).value)
    if hi < lo:  # a one-sided bound outside the default window: a 10-year window on its side
        if spec.lo is not None and spec.hi is None:
            hi = lo + 10 * _YEAR_NS
        elif spec.hi is not None and spec.lo is None:
            lo = hi - 10 * _YEAR_NS
        else:
            lo, hi = hi, lo
    return lo, hi
