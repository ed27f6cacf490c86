"""Rows of a keys-only table (MovieLens ``users``: ``userId`` only) get one constant row cell, so
that attention can pass through them: a user-churn label can then read the user's ratings."""
import numpy as np
import pandas as pd

from relforge.db.database import Database, Table
from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store, resolve_task
from relforge.tokenize.cells import ROW_CELL
from relforge.tokenize.tasks import autocomplete_tasks


def test_only_keys_only_tables_get_a_row_cell():
    users = Table(pd.DataFrame({"uid": np.arange(4)}), pkey_col="uid")
    items = Table(pd.DataFrame({"iid": np.arange(3), "price": [1.0, 2.0, 5.0]}), pkey_col="iid")
    links = Table(pd.DataFrame({"uid": [0, 1, 1, 3], "iid": [0, 0, 2, 1]}), fkey_col_to_pkey_table={"uid": "users", "iid": "items"})
    st = build_cells(Database({"users": users, "items": items, "links": links}, name="toy"))
    by_table = {st.tables[c["table"]]["name"]: [] for c in st.columns}
    for c in st.columns:
        by_table[st.tables[c["table"]]["name"]].append((c["name"], c["role"]))
    assert by_table == {"users": [(ROW_CELL, "key")], "items": [("price", "feature")], "links": [(ROW_CELL, "key")]}
    ptr = np.asarray(st["cell_ptr"])
    assert (np.diff(ptr) == 1).sum() == 4 + 3 + 4  # one cell per row everywhere
    assert [t.target_col for t in autocomplete_tasks(st)] == ["price"]  # the row cell is never a target


def test_a_user_churn_label_reads_the_users_ratings_through_the_row_cell(real_data_dir):
    """MovieLens user-churn: changing every cell outside the task table (ratings, movies, tags) changes
    an untrained model's output at the label. Without the user's row cell no attention path leads
    from those rows to the label (the label's row and its history rows reach only their parent, the
    user row, which had no cell), and the outputs stayed bit for bit the same."""
    import torch

    from relforge import realdata
    from relforge.inference import run_model
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer

    db = realdata.load("movielens", real_data_dir)
    store = embed_store(build_cells(db, [realdata.get_task("movielens", "user-churn", db=db)]), "hash:16")
    t = resolve_task(store, "user-churn", "test", ctx_len=256)
    b = ContextSampler([t], SamplerConfig(ctx_len=256, batch_size=16, shuffle=False)).batch(0)
    users = [i for i, tb in enumerate(store.tables) if tb["name"] == "users"][0]
    assert (b["table_id"] == users).any(), "no user row cell in the contexts"
    task_tables = [i for i, tb in enumerate(store.tables) if tb["is_task"]]
    other = ~b["is_padding"] & ~np.isin(b["table_id"], task_tables + [users])
    assert other.sum() > 100
    moved = dict(b, value=np.where(other, b["value"] + 1.0, b["value"]).astype(np.float32))
    torch.manual_seed(0)
    model = RelationalTransformer(preset("tiny", d_text=16, attention="dense"))
    before, after = run_model(model, [b]).pred, run_model(model, [moved]).pred
    # an untrained model barely reacts; what matters is whether any path exists (masked keys add exactly 0)
    assert not np.array_equal(before, after)
