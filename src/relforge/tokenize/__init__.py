"""Cell tokens and temporal context sampling for the Relational Transformer (rt_pipeline.md §1-2).

::

    from relforge.tokenize import tokenize_database, ContextSampler, SamplerConfig
    store = tokenize_database(db, tasks, embedder="minilm")   # or "hash" without the text extra
    sampler = ContextSampler([(store, "results.position", "train")], SamplerConfig(ctx_len=1024))
    batch = sampler.batch(0)                                   # dict of numpy arrays

Modules: ``celltypes`` (CellType), ``stats`` (train-period statistics), ``embed`` (MiniLM / hashing
embedders), ``cells`` (Database -> CellStore), ``store`` (memory-mapped store and corpus),
``tasks`` (autocomplete discovery, task resolution), ``sampler`` (numba BFS contexts),
``dataset`` (torch DataLoader glue; imports torch), ``pipeline`` (file-level tokenize).
"""
from relforge.tokenize.cells import build_cells, embed_store, tokenize_database
from relforge.tokenize.celltypes import CellType
from relforge.tokenize.embed import HashingEmbedder, MiniLMEmbedder, get_embedder
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.store import CellStore, open_corpus, open_store, save_corpus, save_store
from relforge.tokenize.tasks import SamplerTask, autocomplete_tasks, resolve_task

__all__ = ["CellType", "CellStore", "ContextSampler", "SamplerConfig", "SamplerTask", "HashingEmbedder",
           "MiniLMEmbedder", "autocomplete_tasks", "build_cells", "embed_store", "get_embedder", "open_corpus",
           "open_store", "resolve_task", "save_corpus", "save_store", "tokenize_database"]
