"""Active labelling strategies, the oracle and the (headless-safe) labelling panel."""

import numpy as np
import pytest

from astrorepro import active


def _blobs(n_per=40, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6]], float)[:k]
    x = np.concatenate([c + rng.normal(size=(n_per, 2)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    return x, y


def test_entropy_values():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(active.entropy(p), [0.0, np.log(2)], atol=1e-9)


def test_entropy_query_picks_most_uncertain():
    pool = np.array([10, 11, 12, 13])
    proba = np.array([[0.99, 0.01], [0.5, 0.5], [0.9, 0.1], [0.6, 0.4]])
    assert list(active.query("entropy", 2, pool, np.array([], int), proba=proba)) == [11, 13]


def test_kcenter_covers_all_clusters():
    x, y = _blobs()
    labelled = np.array([0])  # one image of cluster 0
    pool = np.arange(1, len(x))
    picked = active.query("kcenter", 2, pool, labelled, emb=x)
    assert set(y[picked]) == {1, 2}
    assert len(set(picked)) == 2 and 0 not in picked


def test_entropy_kmeans_is_diverse_and_unique():
    x, y = _blobs()
    pool = np.arange(len(x))
    proba = np.full((len(x), 3), 1 / 3)  # all equally uncertain: diversity decides
    picked = active.query("entropy+kmeans", 3, pool, np.array([], int), emb=x, proba=proba,
                          rng=np.random.default_rng(0), oversample=40)
    assert len(set(picked)) == 3 and set(y[picked]) == {0, 1, 2}


def test_query_errors_and_random():
    pool = np.arange(5)
    with pytest.raises(ValueError, match="unknown strategy"):
        active.query("magic", 2, pool, pool[:0])
    with pytest.raises(ValueError, match="proba"):
        active.query("entropy", 2, pool, pool[:0])
    with pytest.raises(ValueError, match="emb"):
        active.query("kcenter", 2, pool, pool[:0])
    r = active.query("random", 10, pool, pool[:0], rng=np.random.default_rng(1))
    assert sorted(r) == list(range(5))


def test_oracle_noise_rate_and_classes():
    y = np.zeros(20000, int)
    o = active.Oracle(y, num_classes=4, noise=0.2, seed=0)
    lab = o(np.arange(len(y)))
    assert abs((lab != 0).mean() - 0.2) < 0.02
    assert set(np.unique(lab)) <= {0, 1, 2, 3}
    assert np.array_equal(active.Oracle(y, 4)(np.arange(10)), y[:10])
    with pytest.raises(ValueError):
        active.Oracle(y, 4, noise=1.5)


def test_active_loop_bookkeeping():
    x, y = _blobs()
    oracle = active.Oracle(y, 3)

    def fit_predict(idx, lab, q):
        return np.full((len(q), 3), 1 / 3)

    def evaluate(idx, lab):
        return len(set(lab))  # number of classes discovered

    out = active.active_loop(x, oracle, fit_predict, evaluate, "kcenter", n_init=1, query_size=2, rounds=2, seed=0)
    assert out["n_labels"] == [1, 3, 5]
    assert len(np.unique(out["labelled"])) == 5
    assert out["score"][-1] == 3  # k-center finds all three clusters
    assert np.array_equal(out["labels"], y[out["labelled"]])


def test_panel_refuses_headless():
    assert active.interactive_available() is False
    with pytest.raises(RuntimeError, match="Oracle"):
        active.LabellingPanel(np.zeros((1, 8, 8, 3)), np.array([0]), ["a", "b"])
