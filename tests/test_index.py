"""TemplateIndex: exactness, recall of the approximate structures, mutation in every mode, bad inputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from overt.gallery.index import TemplateIndex

DIM = 64


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mated(rng: np.random.Generator, gallery: np.ndarray, noise: float = 0.65) -> np.ndarray:
    """Gallery rows plus gaussian noise: cosine to the source ~0.84, like a genuine face pair."""
    q = gallery + rng.standard_normal(gallery.shape).astype(np.float32) * noise / np.sqrt(gallery.shape[1])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def brute_force(ids: np.ndarray, gallery: np.ndarray, queries: np.ndarray, k: int):
    sims = queries @ gallery.T
    order = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_exact_matches_numpy_brute_force(rng):
    gallery = unit(rng, 3000)
    ids = rng.permutation(10**6)[:3000].astype(np.int64)
    queries = unit(rng, 25)
    # Unnormalised float64 input: the index normalises it itself.
    index = TemplateIndex.build(ids, gallery.astype(np.float64) * 3.0)
    assert index.kind == "exact" and len(index) == 3000
    scores, found = index.search(queries, 10)
    want_scores, want_ids = brute_force(ids, gallery, queries, 10)
    assert scores.dtype == np.float32 and found.dtype == np.int64
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    # A single 1-D query is accepted and gives one row.
    one_scores, one_ids = index.search(queries[0] * 5, 10)
    np.testing.assert_array_equal(one_ids, want_ids[:1])


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_padding_when_fewer_than_k(kind, rng):
    index = TemplateIndex(DIM, kind=kind)
    scores, ids = index.search(unit(rng, 2), 4)
    assert ids.shape == (2, 4) and (ids == -1).all() and np.isneginf(scores).all()
    gallery = unit(rng, 3)
    index.add(np.array([5, 6, 7]), gallery)
    scores, ids = index.search(gallery, 5)
    assert sorted(ids[0, :3]) == [5, 6, 7]
    assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert np.isfinite(scores[:, :3]).all()


def test_auto_switches_to_ivf_with_recall(rng):
    n = 50_000
    gallery = unit(rng, n, 128)
    ids = np.arange(n, dtype=np.int64) * 2 + 1
    index = TemplateIndex.build(ids, gallery, exact_max=1000)
    assert index.kind == "ivf" and len(index) == n
    src = rng.choice(n, 1000, replace=False)
    queries = mated(rng, gallery[src])
    scores, found = index.search(queries, 5)
    hit = found[:, 0] == ids[src]
    assert hit.mean() >= 0.99
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    # 8-bit codes: scores within a few thousandths of the float cosine.
    np.testing.assert_allclose(scores[hit, 0], np.sum(queries * gallery[src], axis=1)[hit], atol=6e-3)


def test_hnsw_recall(rng):
    n = 10_000
    gallery = unit(rng, n, 128)
    index = TemplateIndex.build(np.arange(n), gallery, kind="hnsw")
    src = rng.choice(n, 500, replace=False)
    queries = mated(rng, gallery[src])
    scores, found = index.search(queries, 1)
    hit = found[:, 0] == src
    assert hit.mean() >= 0.99
    # float16 storage keeps scores usable for thresholds.
    np.testing.assert_allclose(scores[hit, 0], np.sum(queries * gallery[src], axis=1)[hit], atol=1e-3)


def test_crossing_exact_max_keeps_everything(rng):
    gallery = unit(rng, 4000)
    ids = np.arange(4000, dtype=np.int64) + 100
    index = TemplateIndex(DIM, exact_max=500)
    index.add(ids[:500], gallery[:500])
    index.add(ids[:10], gallery[3990:])  # replacing at exactly exact_max does not cross
    assert index.kind == "exact" and len(index) == 500
    # Crossing with a batch that also replaces 50 templates: no duplicates, new vectors win.
    batch = np.r_[400:600]
    fresh = unit(rng, 200)
    index.add(ids[batch], fresh)
    gallery[batch] = fresh
    assert index.kind == "ivf" and len(index) == 600
    index.add(ids[600:], gallery[600:])  # grows past 4x the trained size: retrained, still all there
    assert len(index) == 4000 and all(int(i) in index for i in ids)
    _, found = index.search(gallery[10::40], 1)
    np.testing.assert_array_equal(found[:, 0], ids[10::40])
    index.remove(ids[:3900])
    assert index.kind == "ivf" and len(index) == 100  # never switches back


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_add_remove_replace(kind, rng):
    gallery = unit(rng, 2000)
    ids = np.arange(2000, dtype=np.int64) * 10
    index = TemplateIndex.build(ids, gallery, kind=kind)
    assert index.kind == kind and len(index) == 2000 and 10 in index and 11 not in index

    assert index.remove([10, 20, 10, 999_999]) == 2  # duplicates and unknown ids ignored
    assert index.remove(iter([30])) == 1
    assert len(index) == 1997 and 10 not in index and 30 not in index
    _, found = index.search(gallery[1:4], 3)
    assert not np.isin(found, [10, 20, 30]).any()

    replacement = unit(rng, 1)
    index.add(np.array([40]), replacement)  # existing id: replaced, not duplicated
    assert len(index) == 1997
    scores, found = index.search(replacement, 2)
    assert found[0, 0] == 40 and scores[0, 0] == pytest.approx(1.0, abs=5e-3)
    _, found = index.search(gallery[4:5], 1)
    assert found[0, 0] != 40

    index.add(np.array([10]), gallery[1:2])  # re-adding a removed id
    assert len(index) == 1998 and 10 in index
    assert index.remove(np.array([], dtype=np.int64)) == 0


def test_concurrent_search_during_mutation(rng):
    gallery = unit(rng, 3000)
    index = TemplateIndex.build(np.arange(2000), gallery[:2000])
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            for i in range(200):
                _, found = index.search(gallery[i % 2000], 3)
                assert found.shape == (1, 3)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(2000, 3000, 50):
        index.add(np.arange(i, i + 50), gallery[i : i + 50])
        index.remove(np.arange(i - 2000, i - 1950))
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 2000
    _, found = index.search(gallery[2500], 1)
    assert found[0, 0] == 2500


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.add([1], np.ones((1, DIM + 1))), "shape"),
        (lambda ix: ix.add([1, 2], np.ones((1, DIM))), "2 ids for 1 vectors"),
        (lambda ix: ix.add([1], np.full((1, DIM), np.nan)), "NaN"),
        (lambda ix: ix.add([1], np.zeros((1, DIM))), "zeros"),
        (lambda ix: ix.add([1, 1], np.ones((2, DIM))), "unique"),
        (lambda ix: ix.add([-3], np.ones((1, DIM))), ">= 0"),
        (lambda ix: ix.add([1.5], np.ones((1, DIM))), "integers"),
        (lambda ix: ix.add([1], np.ones((1, 1, DIM))), "shape"),
        (lambda ix: ix.search(np.ones(DIM), 0), "k must be"),
        (lambda ix: ix.search(np.ones((2, 3)), 1), "shape"),
        (lambda ix: ix.search(np.array([[np.inf] * DIM]), 1), "infinite"),
        (lambda ix: TemplateIndex(DIM, kind="lsh"), "kind"),  # type: ignore[arg-type]
        (lambda ix: TemplateIndex(0), "dim"),
        (lambda ix: TemplateIndex.build([1], np.ones(DIM)), "shape"),
    ],
)
def test_bad_inputs(call, message):
    index = TemplateIndex(DIM)
    with pytest.raises(ValueError, match=message) as err:
        call(index)
    assert "\n" not in str(err.value)
    assert len(index) == 0
