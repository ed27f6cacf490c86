"""Semantic names for random schemas (paper, Limitations: "No schema semantics").

PluRel names everything ``table_3`` / ``feature_7``, although the Relational Transformer embeds
table and column names. :func:`apply_names` renames a random schema (``sample_schema``) with a
coherent vocabulary: one *domain* per seed (retail, healthcare, sports, social, finance, education,
logistics, streaming), entity tables named after the domain's entities (``customers``,
``patients``...), activity tables after its events (``orders``, ``visits``...), and columns named
after their type and role:

- primary keys ``<entity>_id``; foreign keys ``<parent entity>_id``; self-references a
  domain word such as ``manager_id`` (employees) or ``reply_to_id`` (posts), else ``parent_<x>_id``;
- the row time ``created_at`` / ``ordered_at``-style; datetime features ``signup_date``,
  ``due_date``... (``*_date`` day resolution, ``*_at`` seconds);
- numerical columns get a role and a matching name: ``amount`` (``price``, ``total_amount``;
  positive, 2 decimals), ``count`` (``num_items``; non-negative integers), ``rate`` (in [0, 1]),
  ``score`` (0..100) or a signed ``measure`` (``temperature``, ``net_change``) left as is;
- categoricals with 2 classes become flags (``is_active``); with more, status-like columns
  (``status``, ``tier``, ``priority``) whose classes get the matching labels (``pending``,
  ``shipped``...), so they stay categorical instead of collapsing to a boolean;
- text columns get a style-fitting name and role (``product_name``, ``email``, ``review_text``...).

Names never repeat within a table (nor tables within a schema), vary across seeds and are the same
for the same ``rng`` stream. Only schemas whose ``meta["source"]`` is ``"random"`` (or unset) are
renamed; SQL and ``--like`` schemas keep their own names. Rendering roles are consumed by
:func:`relforge.generate.render.render_column`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from relforge.db.table import Stype
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec

# domain -> entities (plural, singular), events (plural, singular), self-reference names,
# person-like entities, and domain words for amounts / counts / text
DOMAINS: dict[str, dict] = {
    "retail": dict(
        entities=[("customers", "customer"), ("products", "product"), ("stores", "store"), ("suppliers", "supplier"),
                  ("categories", "category"), ("brands", "brand"), ("warehouses", "warehouse"),
                  ("employees", "employee"), ("regions", "region"), ("promotions", "promotion"),
                  ("carts", "cart"), ("coupons", "coupon")],
        events=[("orders", "order"), ("order_items", "order_item"), ("payments", "payment"), ("shipments", "shipment"),
                ("reviews", "review"), ("returns", "return"), ("store_visits", "store_visit"), ("refunds", "refund"),
                ("price_changes", "price_change"), ("restocks", "restock")],
        self_ref={"employees": "manager_id", "categories": "parent_category_id", "regions": "parent_region_id",
                  "reviews": "reply_to_id"},
        people={"customers", "employees"},
        amounts=("price", "unit_price", "total_amount", "discount", "shipping_cost", "tax", "list_price", "revenue"),
        counts=("quantity", "num_items", "stock_level", "units_sold", "num_returns"),
        names=("product_name", "brand_name", "store_name", "title"),
    ),
    "healthcare": dict(
        entities=[("patients", "patient"), ("doctors", "doctor"), ("hospitals", "hospital"), ("wards", "ward"),
                  ("drugs", "drug"), ("insurers", "insurer"), ("departments", "department"), ("clinics", "clinic"),
                  ("nurses", "nurse"), ("diagnoses", "diagnosis")],
        events=[("visits", "visit"), ("prescriptions", "prescription"), ("lab_results", "lab_result"),
                ("admissions", "admission"), ("procedures", "procedure"), ("claims", "claim"),
                ("vital_signs", "vital_sign"), ("appointments", "appointment"), ("referrals", "referral")],
        self_ref={"doctors": "supervisor_id", "departments": "parent_department_id", "patients": "guardian_id",
                  "referrals": "previous_referral_id"},
        people={"patients", "doctors", "nurses"},
        amounts=("cost", "billed_amount", "copay", "dose_mg", "weight_kg", "claim_amount"),
        counts=("num_refills", "length_of_stay", "num_tests", "bed_count", "num_visits"),
        names=("drug_name", "hospital_name", "procedure_name", "title"),
    ),
    "sports": dict(
        entities=[("teams", "team"), ("players", "player"), ("venues", "venue"), ("leagues", "league"),
                  ("coaches", "coach"), ("seasons", "season"), ("sponsors", "sponsor"), ("referees", "referee"),
                  ("clubs", "club")],
        events=[("matches", "match"), ("results", "result"), ("transfers", "transfer"), ("injuries", "injury"),
                ("lap_times", "lap_time"), ("standings", "standing"), ("goals", "goal"), ("penalties", "penalty"),
                ("qualifying", "qualifying_run")],
        self_ref={"coaches": "mentor_id", "leagues": "parent_league_id", "players": "mentor_id",
                  "matches": "previous_match_id"},
        people={"players", "coaches", "referees"},
        amounts=("salary", "transfer_fee", "prize_money", "ticket_price", "distance_km", "lap_time_s"),
        counts=("goals", "points", "laps", "wins", "attendance", "assists"),
        names=("team_name", "venue_name", "player_name", "title"),
    ),
    "social": dict(
        entities=[("users", "user"), ("groups", "group"), ("pages", "page"), ("topics", "topic"),
                  ("channels", "channel"), ("events", "event"), ("communities", "community"), ("tags", "tag")],
        events=[("posts", "post"), ("comments", "comment"), ("likes", "like"), ("follows", "follow"),
                ("messages", "message"), ("shares", "share"), ("reactions", "reaction"), ("logins", "login"),
                ("reports", "report")],
        self_ref={"users": "invited_by_id", "posts": "reply_to_id", "comments": "parent_comment_id",
                  "messages": "in_reply_to_id", "topics": "parent_topic_id", "groups": "parent_group_id"},
        people={"users"},
        amounts=("ad_spend", "tip_amount", "watch_minutes", "session_length", "donation"),
        counts=("num_likes", "num_followers", "num_views", "num_replies", "share_count"),
        names=("title", "group_name", "page_name", "topic_name"),
    ),
    "finance": dict(
        entities=[("accounts", "account"), ("clients", "client"), ("branches", "branch"), ("merchants", "merchant"),
                  ("cards", "card"), ("advisors", "advisor"), ("portfolios", "portfolio"), ("banks", "bank"),
                  ("securities", "security")],
        events=[("transactions", "transaction"), ("loans", "loan"), ("transfers", "transfer"),
                ("trades", "trade"), ("deposits", "deposit"), ("withdrawals", "withdrawal"),
                ("statements", "statement"), ("fraud_alerts", "fraud_alert"), ("repayments", "repayment")],
        self_ref={"accounts": "parent_account_id", "advisors": "manager_id", "clients": "referred_by_id",
                  "transactions": "reversal_of_id"},
        people={"clients", "advisors"},
        amounts=("amount", "balance", "credit_limit", "interest", "principal", "fee", "market_value"),
        counts=("num_transactions", "num_cards", "term_months", "days_overdue"),
        names=("merchant_name", "branch_name", "security_name", "title"),
    ),
    "education": dict(
        entities=[("students", "student"), ("teachers", "teacher"), ("courses", "course"), ("schools", "school"),
                  ("classrooms", "classroom"), ("programs", "program"), ("subjects", "subject"),
                  ("departments", "department")],
        events=[("enrollments", "enrollment"), ("grades", "grade"), ("submissions", "submission"),
                ("attendance", "attendance_record"), ("exams", "exam"), ("lectures", "lecture"),
                ("quiz_attempts", "quiz_attempt")],
        self_ref={"courses": "prerequisite_id", "teachers": "mentor_id", "departments": "parent_department_id",
                  "submissions": "resubmission_of_id"},
        people={"students", "teachers"},
        amounts=("tuition", "fee", "scholarship", "study_hours", "gpa_points"),
        counts=("credits", "num_absences", "seats", "num_attempts", "page_count"),
        names=("course_title", "school_name", "program_name", "title"),
    ),
    "logistics": dict(
        entities=[("warehouses", "warehouse"), ("vehicles", "vehicle"), ("drivers", "driver"), ("routes", "route"),
                  ("depots", "depot"), ("carriers", "carrier"), ("customers", "customer"), ("parcels", "parcel")],
        events=[("deliveries", "delivery"), ("shipments", "shipment"), ("pickups", "pickup"), ("trips", "trip"),
                ("fuel_stops", "fuel_stop"), ("inspections", "inspection"), ("scans", "scan"), ("delays", "delay")],
        self_ref={"routes": "next_route_id", "drivers": "supervisor_id", "depots": "hub_id",
                  "shipments": "split_from_id"},
        people={"drivers", "customers"},
        amounts=("weight_kg", "freight_cost", "distance_km", "fuel_liters", "declared_value"),
        counts=("num_parcels", "num_stops", "pallets", "capacity"),
        names=("route_name", "carrier_name", "depot_name", "title"),
    ),
    "streaming": dict(
        entities=[("users", "user"), ("movies", "movie"), ("artists", "artist"), ("albums", "album"),
                  ("genres", "genre"), ("playlists", "playlist"), ("studios", "studio"), ("series", "series"),
                  ("devices", "device"), ("plans", "plan")],
        events=[("plays", "play"), ("ratings", "rating"), ("subscriptions", "subscription"),
                ("watchlist_adds", "watchlist_add"), ("searches", "search"), ("downloads", "download"),
                ("invoices", "invoice"), ("invoice_lines", "invoice_line")],
        self_ref={"genres": "parent_genre_id", "artists": "influenced_by_id", "users": "referred_by_id",
                  "series": "spinoff_of_id"},
        people={"users", "artists"},
        amounts=("unit_price", "monthly_fee", "total", "royalty", "runtime_min", "file_size_mb"),
        counts=("play_count", "num_tracks", "num_episodes", "skips", "num_devices"),
        names=("title", "album_title", "track_name", "studio_name"),
    ),
}

# per domain, the entity words that group other entities (top of a hierarchy: a category holds
# products, a league holds teams), broadest first; with ``structured=True`` tables high in the key
# DAG take these, the higher table the broader word
GROUPS: dict[str, tuple[str, ...]] = {  # broadest first
    "retail": ("regions", "suppliers", "brands", "categories", "warehouses", "stores"),
    "healthcare": ("insurers", "hospitals", "clinics", "departments", "wards"),
    "sports": ("leagues", "seasons", "clubs", "venues", "sponsors"),
    "social": ("communities", "groups", "channels", "topics", "tags"),
    "finance": ("banks", "branches", "portfolios", "securities"),
    "education": ("schools", "departments", "programs", "subjects"),
    "logistics": ("carriers", "depots", "warehouses", "routes"),
    "streaming": ("studios", "genres", "series", "plans"),
}

QUALIFIERS = ("regional", "archived", "online", "partner", "legacy", "daily", "premium", "external",
              "internal", "seasonal", "global", "local")
PERSON_TEXT = (("first_name", "first_name"), ("last_name", "last_name"), ("full_name", "person"), ("email", "email"),
               ("phone", "phone"), ("city", "city"), ("country", "country"), ("address", "address"))
ENTITY_TEXT = (("name", "name"), ("description", "sentence"), ("code", "code"), ("city", "city"),
               ("country", "country"), ("notes", "sentence"), ("website_slug", "code"), ("contact_email", "email"))
EVENT_TEXT = (("comment", "sentence"), ("notes", "sentence"), ("reference_code", "code"), ("channel_name", "label"),
              ("review_text", "sentence"), ("location", "city"), ("title", "name"))
RATE_NAMES = ("discount_rate", "conversion_rate", "share", "completion_rate", "utilization", "churn_risk")
SCORE_NAMES = ("score", "rating_score", "satisfaction", "risk_score", "quality_score", "priority_score")
MEASURE_NAMES = ("temperature", "net_change", "delta", "margin", "elevation", "sentiment", "index_value",
                 "variance", "trend", "adjustment")
GENERIC_AMOUNTS = ("amount", "value", "cost", "price", "total", "budget")
GENERIC_COUNTS = ("count", "num_events", "num_units", "frequency")
FLAG_NAMES = ("is_active", "is_verified", "has_discount", "is_flagged", "is_premium", "is_deleted",
              "has_warranty", "is_public", "is_returning", "opted_in", "is_priority", "is_fraud")
# status-like columns and their labels (class c gets label c)
STATUS_VOCAB = {
    "status": ("pending", "active", "completed", "cancelled", "on_hold", "failed", "refunded", "archived",
               "expired", "draft", "queued", "rejected"),
    "tier": ("bronze", "silver", "gold", "platinum", "diamond", "basic", "plus", "pro", "elite", "legend"),
    "priority": ("lowest", "low", "medium", "high", "urgent", "critical", "blocker"),
    "channel": ("web", "mobile", "store", "phone", "email", "partner", "kiosk", "social", "tv", "mail"),
    "segment": ("consumer", "small_business", "enterprise", "government", "education", "nonprofit", "startup"),
    "size": ("XS", "S", "M", "L", "XL", "XXL", "XXXL"),
    "region": ("north", "south", "east", "west", "central", "northeast", "northwest", "southeast", "southwest"),
    "category": ("electronics", "home", "garden", "toys", "books", "sports", "beauty", "food", "fashion", "auto",
                 "health", "music"),
    "payment_method": ("card", "cash", "transfer", "wallet", "voucher", "crypto", "invoice"),
    "level": ("beginner", "elementary", "intermediate", "advanced", "expert", "master"),
    "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "severity": ("info", "minor", "moderate", "major", "severe", "fatal"),
}
TIME_NAMES = ("created_at", "event_time", "occurred_at", "timestamp", "recorded_at", "logged_at")
DATE_FEATURES = ("signup_date", "due_date", "start_date", "end_date", "birth_date", "expiry_date", "opened_date",
                 "last_seen_date", "renewal_date", "launch_date")
DATETIME_FEATURES = ("updated_at", "last_login_at", "shipped_at", "confirmed_at", "scheduled_at", "closed_at",
                     "first_seen_at", "reviewed_at")


def _pick(rng: np.random.Generator, pool, used: set[str]) -> str | None:
    """A random unused name of ``pool`` (None if all are used)."""
    free = [p for p in pool if p not in used]
    if not free:
        return None
    return free[int(rng.integers(len(free)))]


def _unique(name: str, used: set[str]) -> str:
    if name not in used:
        return name
    k = 2
    while f"{name}_{k}" in used:
        k += 1
    return f"{name}_{k}"


def _heights(schema: Schema) -> dict[str, int]:
    """Longest path of foreign keys from each table down to a table nobody references."""
    h: dict[str, int] = {}
    for name in reversed(schema.topo_order()):
        kids = [c for c, _ in schema.children(name)]
        h[name] = 1 + max(h[c] for c in kids) if kids else 0
    return h


def _table_names(schema: Schema, dom: dict, rng: np.random.Generator,
                 groups: tuple[str, ...] | None = None) -> dict[str, tuple[str, str]]:
    """old table name -> (new plural, singular).

    With ``groups`` (structured names), entity tables are named in order of height: the highest
    take grouping words first (a ``categories`` table above ``products``), the rest core entities.
    """
    ent = [dom["entities"][i] for i in rng.permutation(len(dom["entities"]))]
    evt = [dom["events"][i] for i in rng.permutation(len(dom["events"]))]
    if groups is not None:
        h = _heights(schema)
        ents = [n for n, t in schema.tables.items() if t.kind != "activity"]
        top = sorted(ents, key=lambda n: -h[n])
        n_group = sum(1 for n in ents if h[n] >= 2)
        gsub = sorted(rng.choice(len(groups), min(n_group, len(groups)), replace=False)) if n_group else []
        byname = dict(dom["entities"])
        gw = [(groups[i], byname[groups[i]]) for i in gsub if groups[i] in byname]  # broad -> narrow
        cw = [e for e in ent if e[0] not in groups]
        # the n_group highest tables take group words, the others core words (each list falls back on the other)
        picks = (gw[:n_group] + cw)[:n_group] if n_group else []
        rest = [e for e in cw + gw if e not in picks]
        want = dict(zip(top[:n_group], picks))
        order_rest = iter(rest)
        for n in top[n_group:]:
            want[n] = next(order_rest, None)
        ent = [want[n] for n in schema.tables if n in want and want[n] is not None]
        ent += [e for e in dom["entities"] if e not in ent]
    out: dict[str, tuple[str, str]] = {}
    used: set[str] = set()
    ie = iv = 0
    for name, t in schema.tables.items():
        is_event = t.kind == "activity"
        pool, i = (evt, iv) if is_event else (ent, ie)
        other = ent if is_event else evt
        if i < len(pool):
            plural, single = pool[i]
        else:  # vocabulary exhausted: qualify a word ("regional_orders") or borrow from the other list
            base = pool + other
            plural, single = base[(i - len(pool)) % len(base)]
            q = QUALIFIERS[int(rng.integers(len(QUALIFIERS)))]
            plural, single = f"{q}_{plural}", f"{q}_{single}"
        if is_event:
            iv += 1
        else:
            ie += 1
        while plural in used:
            q = QUALIFIERS[int(rng.integers(len(QUALIFIERS)))]
            plural, single = f"{q}_{plural}", f"{q}_{single}"
        used.add(plural)
        out[name] = (plural, single)
    return out


def _numeric_name(rng, dom, used, structured: bool = False) -> tuple[str, str]:
    """(name, role) of a numerical column (``structured``: counts are rendered as tallies)."""
    u = rng.random()
    if u < 0.3:
        role, pool = "amount", dom["amounts"] + GENERIC_AMOUNTS
    elif u < 0.55:
        role, pool = "count", dom["counts"] + GENERIC_COUNTS
    elif u < 0.65:
        role, pool = "rate", RATE_NAMES
    elif u < 0.75:
        role, pool = "score", SCORE_NAMES
    else:
        role, pool = "feature", MEASURE_NAMES
    name = _pick(rng, pool, used) or _unique(pool[0], used)
    if structured and role == "count":
        role = "tally"
    return name, role


def _status_labels(word: str, k: int) -> tuple[str, ...]:
    vocab = STATUS_VOCAB[word]
    if k <= len(vocab):
        return tuple(vocab[:k])
    return tuple(vocab) + tuple(f"{word}_{i}" for i in range(len(vocab), k))


def _rename_column(c: ColumnSpec, rng, dom, used: set[str], person: bool, event: bool,
                   structured: bool = False) -> ColumnSpec:
    if c.stype == Stype.numerical and not c.labels:
        name, role = _numeric_name(rng, dom, used, structured)
        return dataclasses.replace(c, name=_unique(name, used), role=role)
    if c.stype == Stype.boolean or (c.stype == Stype.categorical and not c.labels and c.n_categories <= 2):
        name = _pick(rng, FLAG_NAMES, used) or _unique("is_flagged", used)
        return dataclasses.replace(c, name=_unique(name, used), role="flag")
    if c.stype == Stype.categorical:
        if c.labels:
            name = _pick(rng, tuple(STATUS_VOCAB), used) or _unique("category", used)
            return dataclasses.replace(c, name=_unique(name, used), role="label")
        fits = tuple(w for w, v in STATUS_VOCAB.items() if len(v) >= c.n_categories) or ("status", "category")
        word = _pick(rng, fits, used) or _pick(rng, tuple(STATUS_VOCAB), used) or "status"
        labels = _status_labels(word, c.n_categories)
        return dataclasses.replace(c, name=_unique(word, used), labels=labels, role="label")
    if c.stype == Stype.datetime:
        day = rng.random() < 0.5
        pool = DATE_FEATURES if day else DATETIME_FEATURES
        name = _pick(rng, pool, used) or _unique(pool[0], used)
        return dataclasses.replace(c, name=_unique(name, used), role="date" if day else "timestamp")
    if c.stype == Stype.text:
        pool = PERSON_TEXT if person else (EVENT_TEXT if event else ENTITY_TEXT)
        pool = pool + tuple((n, "name") for n in dom["names"])
        free = [p for p in pool if p[0] not in used]
        if free:
            name, role = free[int(rng.integers(len(free)))]
        else:
            name, role = _unique("text", used), "name"
        return dataclasses.replace(c, name=_unique(name, used), role=role)
    return dataclasses.replace(c, name=_unique(c.name, used))


def apply_names(schema: Schema, *, rng: np.random.Generator, structured: bool = False) -> Schema:
    """A copy of ``schema`` with semantic table and column names (see the module docstring).

    Parameters
    ----------
    schema : a random schema (``meta["source"]`` ``"random"`` or unset); others are returned as is.
    rng : the naming stream (same stream => same names).
    structured : names follow structure (``relational.structured_names``): tables high in the key
        hierarchy take the domain's grouping words (:data:`GROUPS`), count columns get the
        ``tally`` role (skewed non-negative integers). Off: the pre-issue-14 naming, draw for draw.

    Returns
    -------
    Schema with renamed tables (order kept), keys, time columns and feature columns; roles and
    status labels set for rendering. ``meta["names"]`` records the domain and the table renaming.
    """
    if schema.meta.get("source") not in (None, "random"):
        return schema
    dom_name = sorted(DOMAINS)[int(rng.integers(len(DOMAINS)))]
    dom = DOMAINS[dom_name]
    tnames = _table_names(schema, dom, rng, GROUPS[dom_name] if structured else None)
    # primary-key names first: foreign keys reuse the parent's
    pk_name = {old: f"{single}_id" for old, (plural, single) in tnames.items()}
    tables: dict[str, TableSpec] = {}
    for old, t in schema.tables.items():
        plural, single = tnames[old]
        used: set[str] = set()
        pkey = None
        if t.pkey:
            pkey = pk_name[old]
            used.add(pkey)
        fkeys = []
        for fk in t.fkeys:
            if fk.parent == old:
                base = dom["self_ref"].get(plural.split("_", 1)[-1] if plural not in dom["self_ref"] else plural,
                                           f"parent_{single}_id")
            else:
                base = pk_name[fk.parent]
            col = _unique(base, used)
            used.add(col)
            fkeys.append(ForeignKey(col, tnames[fk.parent][0], nullable=fk.nullable, null_prob=fk.null_prob))
        time_col = None
        if t.time_col:
            pool = (f"{single.split('_')[-1]}_date",) + TIME_NAMES if t.kind == "activity" else ("created_at", "registered_at", "joined_at")
            time_col = _pick(rng, pool, used) or _unique("created_at", used)
            used.add(time_col)
        person = plural.split("_")[-1] in {p.split("_")[-1] for p in dom["people"]}
        cols = []
        for c in t.columns:
            nc = _rename_column(c, rng, dom, used, person, t.kind == "activity", structured)
            used.add(nc.name)
            cols.append(nc)
        tables[plural] = TableSpec(name=plural, n_rows=t.n_rows, kind=t.kind, pkey=pkey, fkeys=fkeys, columns=cols,
                                   time_col=time_col)
    meta = dict(schema.meta)
    meta["names"] = {"domain": dom_name, "tables": {old: new for old, (new, _) in tnames.items()}}
    out = Schema(tables, schema.layout, meta)
    out.validate()
    return out


__all__ = ["DOMAINS", "apply_names"]
