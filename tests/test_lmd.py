"""Tests of astrorepro.lmd (the LMD theory) and of the MLP family, on random matrices and tiny nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrorepro import lmd
from astrorepro.models import create_model, list_models


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _matrix_with_spectrum(s, m, n, rng):
    U, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (U * s) @ V.T


# ---------------------------------------------------------------- Eckart-Young

@pytest.mark.parametrize("shape", [(7, 7), (12, 5), (5, 12), (40, 30)])
def test_eckart_young_equalities_exact(shape, rng):
    W = rng.standard_normal(shape)
    ey = lmd.eckart_young(W)
    r = min(shape)
    assert np.array_equal(ey["k"], np.arange(r + 1))
    s = np.linalg.svd(W, compute_uv=False)
    np.testing.assert_allclose(ey["spectral"][:r], s, rtol=1e-10)           # ||W - W_k||_2 = s_{k+1}
    assert ey["spectral"][r] < 1e-10 * s[0]
    tail = np.sqrt([np.sum(s[k:] ** 2) for k in range(r + 1)])
    np.testing.assert_allclose(ey["frobenius"], tail, rtol=1e-10, atol=1e-12 * s[0])
    err = lmd.eckart_young_max_error(W)
    assert err["spectral"] < 1e-10 and err["frobenius"] < 1e-10


def test_eckart_young_off_by_one_would_fail(rng):
    # A distinct spectrum: predicting s_k instead of s_{k+1} is off by a visible margin.
    s = np.array([5.0, 3.0, 2.0, 1.0, 0.5])
    W = _matrix_with_spectrum(s, 9, 6, rng)
    ey = lmd.eckart_young(W)
    np.testing.assert_allclose(ey["spectral_pred"], [5, 3, 2, 1, 0.5, 0, 0][: len(ey["k"])], atol=1e-12)
    assert len(ey["k"]) == 7                               # r = min(9, 6) = 6, k = 0..6
    # predicting s_k instead of s_{k+1} (an off-by-one) misses by >= 0.5 at every k = 1..5
    assert np.all(np.abs(ey["spectral"][1:6] - s[:5]) >= 0.5 - 1e-9)
    # k = 0 keeps nothing: the error is the whole matrix
    assert ey["spectral"][0] == pytest.approx(5.0, rel=1e-12)
    assert ey["frobenius"][0] == pytest.approx(np.sqrt(np.sum(s**2)), rel=1e-12)


def test_truncate_rank_and_identity(rng):
    W = rng.standard_normal((10, 6))
    for k in range(7):
        Wk = lmd.truncate(W, k)
        assert np.linalg.matrix_rank(Wk) == k
    np.testing.assert_allclose(lmd.truncate(W, 6), W, atol=1e-12)
    with pytest.raises(ValueError, match="rank k"):
        lmd.truncate(W, 7)
    with pytest.raises(ValueError, match="rank k"):
        lmd.truncate(W, -1)
    with pytest.raises(ValueError, match="2-D"):
        lmd.truncate(np.ones(3), 1)
    with pytest.raises(ValueError, match="NaN"):
        lmd.truncate(np.full((2, 2), np.nan), 1)


def test_truncate_accepts_torch(rng):
    W = torch.randn(6, 4, dtype=torch.float32)
    Wk = lmd.truncate(W, 2)
    assert Wk.dtype == np.float64 and Wk.shape == (6, 4)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_no_rank_k_competitor_beats_truncation(k, rng):
    W = rng.standard_normal((15, 10))
    ratios = lmd.competitor_ratios(W, k, rng, n_random=30, n_perturb=30, eps=1e-2)
    for name, r in ratios.items():
        assert r.shape == (30,)
        assert np.all(r >= 1 - 1e-10), name
    # the Frobenius optimum is unique (distinct singular values): every competitor is strictly worse
    assert np.all(ratios["frobenius_perturb"] > 1 + 1e-8)
    assert np.all(ratios["frobenius_random"] > 1.01)
    for B in lmd.random_subspace_approximations(W, k, rng, 4) + lmd.perturbed_optimum(W, k, rng, 4):
        assert np.linalg.matrix_rank(B) <= k


def test_competitors_catch_a_wrong_truncation(rng):
    # A "truncation" that keeps the wrong triplets (an off-by-one) is beaten by a perturbed optimum.
    W = _matrix_with_spectrum(np.array([4.0, 3.0, 2.0, 1.0]), 8, 6, rng)
    U, s, Vt = lmd.svd(W)
    wrong = (U[:, 1:3] * s[1:3]) @ Vt[1:3]
    best = min(np.linalg.norm(W - B, "fro") for B in lmd.perturbed_optimum(W, 2, rng, 5))
    assert best < np.linalg.norm(W - wrong, "fro")


def test_competitor_ratios_refuses_full_rank(rng):
    with pytest.raises(ValueError, match="no residual"):
        lmd.competitor_ratios(rng.standard_normal((4, 3)), 3, rng)


# ---------------------------------------------------------------- effective ranks

def test_effective_ranks_known_spectra():
    flat = np.ones(8)
    assert lmd.participation_ratio(flat) == pytest.approx(8)
    assert lmd.entropy_rank(flat) == pytest.approx(8)
    assert lmd.energy_rank(flat, 0.9) == 8     # 7/8 = 0.875 < 0.9
    assert lmd.energy_rank(flat, 0.875) == 7   # exactly 7/8 (guards the rounding of the cumsum)
    one = np.array([3.0, 0, 0, 0])
    assert lmd.participation_ratio(one) == pytest.approx(1)
    assert lmd.entropy_rank(one) == pytest.approx(1)
    assert lmd.energy_rank(one, 0.99) == 1
    s = np.array([2.0, 1.0])
    assert lmd.participation_ratio(s) == pytest.approx((4 + 1) ** 2 / (16 + 1))
    p = np.array([2, 1]) / 3
    assert lmd.entropy_rank(s) == pytest.approx(np.exp(-np.sum(p * np.log(p))))
    assert lmd.energy_rank(s, 0.8) == 1 and lmd.energy_rank(s, 0.81) == 2  # 4/5 = 0.8
    er = lmd.effective_ranks(np.array([1.0, 1.0, 1e-20]))
    assert er["rank"] == 2 and er["k99"] == 2
    with pytest.raises(ValueError):
        lmd.participation_ratio(np.zeros(3))
    with pytest.raises(ValueError):
        lmd.energy_rank(flat, 1.5)


def test_effective_rank_of_random_low_rank(rng):
    W = rng.standard_normal((50, 3)) @ rng.standard_normal((3, 40))
    er = lmd.effective_ranks(np.linalg.svd(W, compute_uv=False))
    assert er["rank"] == 3 and er["k99"] <= 3 and 1 <= er["pr"] <= 3 and 1 <= er["entropy"] <= 3


# ---------------------------------------------------------------- Lipschitz bound

@pytest.mark.parametrize("act", ["tanh", "relu", "gelu"])
def test_lipschitz_bound_holds_on_random_network(act, rng):
    torch.manual_seed(0)
    net = create_model("mlp", in_dim=3, widths=(16, 16), out_dim=2, activation=act).double()
    X = torch.as_tensor(rng.uniform(-2, 2, (300, 3)))
    with torch.no_grad():
        Y = net(X).numpy()
    bound = lmd.lipschitz_upper_bound(net.weights(), act)
    emp = lmd.empirical_lipschitz(X.numpy(), Y)
    assert 0 < emp <= bound
    # the bound is the product of spectral norms (times L_sigma^(L-1))
    norms = [np.linalg.norm(W.numpy(), 2) for W in net.weights()]
    assert bound == pytest.approx(lmd.ACTIVATION_LIPSCHITZ[act] ** 2 * np.prod(norms))


def test_gelu_lipschitz_constant():
    x = torch.linspace(-6, 6, 200001, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.gelu(x).sum().backward()
    assert x.grad.abs().max().item() == pytest.approx(lmd.ACTIVATION_LIPSCHITZ["gelu"], abs=1e-4)


def test_lipschitz_input_checks(rng):
    with pytest.raises(ValueError, match="inputs"):
        lmd.lipschitz_upper_bound([rng.standard_normal((4, 3)), rng.standard_normal((2, 5))])
    with pytest.raises(ValueError, match="activation"):
        lmd.lipschitz_upper_bound([np.eye(2)], "sigmoid2")
    assert lmd.empirical_lipschitz(np.array([[0.0], [1.0]]), np.array([[0.0], [3.0]])) == pytest.approx(3.0)


# ---------------------------------------------------------------- projections

def test_layer_projection_finds_the_signal_subspace(rng):
    # W reads only the first 2 coordinates: its top-2 right singular vectors span them.
    W = np.zeros((5, 6))
    W[:, :2] = rng.standard_normal((5, 2))
    H = rng.standard_normal((100, 6))
    Z = lmd.layer_projection(H, W, 2)
    assert Z.shape == (100, 2)
    # same subspace: the projections have the same Gram matrix up to rotation
    np.testing.assert_allclose(np.linalg.svd(Z, compute_uv=False), np.linalg.svd(H[:, :2], compute_uv=False), rtol=1e-10)
    assert lmd.random_projection(H, 3, rng).shape == (100, 3)
    with pytest.raises(ValueError, match="features"):
        lmd.layer_projection(H[:, :5], W, 2)


# ---------------------------------------------------------------- Hopfield networks

def test_hopfield_weights_are_the_svd_of_the_memories(rng):
    Xi = lmd.random_patterns(7, 30, rng)
    W = lmd.hopfield_weights(Xi, zero_diagonal=False)
    ev = np.sort(np.linalg.eigvalsh(W))[::-1][:7]
    s = np.linalg.svd(Xi, compute_uv=False)
    np.testing.assert_allclose(ev, s**2 / 30, rtol=1e-10)
    W0 = lmd.hopfield_weights(Xi)
    assert np.all(np.diag(W0) == 0) and np.allclose(W0, W0.T)


def test_classical_hopfield_retrieves_few_patterns_and_fails_with_many(rng):
    N = 60
    Xi = lmd.random_patterns(3, N, rng)                     # alpha = 0.05: well below capacity
    W = lmd.hopfield_weights(Xi)
    S, sweeps = lmd.hopfield_retrieve(W, lmd.flip_bits(Xi, 0.1, rng), rng)
    np.testing.assert_array_equal(S, Xi)
    assert sweeps <= 5
    Xi = lmd.random_patterns(30, N, rng)                    # alpha = 0.5: far above capacity
    S, _ = lmd.hopfield_retrieve(lmd.hopfield_weights(Xi), Xi[:10], rng)
    assert np.mean(lmd.overlaps(S, Xi[:10])) < 0.8


def test_classical_capacity_curve_small_n(rng):
    c = lmd.classical_capacity_curve(60, [0.05, 0.1, 0.4], rng, n_nets=3, n_probe=10)
    assert c["frac_retrieved"][0] >= 0.95
    assert c["frac_retrieved"][-1] <= 0.2
    assert c["mean_overlap"][0] > c["mean_overlap"][-1]
    a_c = lmd.crossing_point(c["alpha"], c["frac_retrieved"], 0.5)
    assert 0.05 < a_c < 0.4


def test_flip_bits_and_overlaps(rng):
    X = lmd.random_patterns(4, 20, rng)
    Y = lmd.flip_bits(X, 0.25, rng)
    assert np.all(np.sum(X != Y, axis=1) == 5)
    np.testing.assert_allclose(lmd.overlaps(Y, X), 0.5)
    assert set(np.unique(X)) == {-1.0, 1.0}


def test_crossing_point():
    assert lmd.crossing_point([0, 1, 2], [1.0, 0.8, 0.2], 0.5) == pytest.approx(1.5)
    assert np.isnan(lmd.crossing_point([0, 1], [1.0, 0.9], 0.5))
    assert lmd.crossing_point([0, 1], [0.1, 0.0], 0.5) == 0


@pytest.mark.parametrize("beta", [0.1, 1.0, 8.0])
def test_modern_hopfield_update_is_one_attention_step(beta, rng):
    X = rng.standard_normal((50, 16))        # stored patterns (rows)
    Q = rng.standard_normal((7, 16))         # state patterns
    hop = lmd.modern_hopfield_update(X, Q, beta)
    att_np = lmd.attention(Q, X, X, scale=beta)
    att_t = lmd.attention_torch(Q, X, X, scale=beta)
    assert np.max(np.abs(hop - att_t)) < 1e-12
    assert np.max(np.abs(hop - att_np)) < 1e-12
    # a wrong temperature is detected
    assert np.max(np.abs(hop - lmd.attention_torch(Q, X, X, scale=beta * 1.01))) > 1e-6


def test_modern_hopfield_retrieves_many_patterns(rng):
    N, P = 32, 200                            # P = 6 N, far above the classical 0.14 N
    Xi = lmd.random_patterns(P, N, rng)
    probes = lmd.flip_bits(Xi[:50], 0.1, rng)
    Z = np.sign(lmd.modern_hopfield_update(Xi, probes, beta=1.0))
    assert np.mean(np.all(Z == Xi[:50], axis=1)) >= 0.98
    cl = lmd.uhn_retrieve(Xi, probes, "identity")
    assert np.mean(np.all(cl == Xi[:50], axis=1)) < 0.1


def test_separation_capacity_ordering(rng):
    Ps = [4, 64, 512]
    f = {sep: lmd.separation_capacity(32, Ps, rng, sep, n=3, flip=0.1, n_probe=40)
         for sep in ("identity", "poly", "softmax")}
    assert f["identity"][0] >= 0.9 and f["identity"][1] < 0.1
    assert f["poly"][1] >= 0.9
    assert f["softmax"][2] >= 0.9 and f["poly"][2] < f["softmax"][2]
    with pytest.raises(ValueError, match="odd"):
        lmd.uhn_retrieve(np.ones((2, 3)), np.ones(3), "poly", n=2)


def test_fit_loglinear():
    x = np.array([1.0, 2, 4, 8])
    f = lmd.fit_loglinear(x, 3 * x**1.5)
    assert f["slope"] == pytest.approx(1.5) and f["r2"] == pytest.approx(1)
    g = lmd.fit_loglinear(x, np.exp(0.3 * x), log_x=False)
    assert g["slope"] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        lmd.fit_loglinear(x, -x)


# ---------------------------------------------------------------- the MLP family

def test_mlp_registry_and_shapes():
    assert {"mlp", "test_mlp"} <= set(list_models("mlp")) | set(list_models("test_"))
    net = create_model("test_mlp")
    assert [tuple(W.shape) for W in net.weights()] == [(8, 4), (2, 8)]
    x = torch.randn(5, 4)
    assert net(x).shape == (5, 2)
    hs = net.layer_inputs(x)
    assert [tuple(h.shape) for h in hs] == [(5, 4), (5, 8)]
    assert torch.all(hs[1].abs() <= 1)   # tanh outputs
    net2 = create_model("mlp", in_dim=3, widths=(5, 6, 7), out_dim=1, activation="relu")
    assert net2(torch.randn(2, 3)).shape == (2, 1) and len(net2.layers) == 4
    with pytest.raises(ValueError, match="activation"):
        create_model("mlp", activation="swish")
    with pytest.raises(ValueError, match="unknown MLP config"):
        create_model("mlp", depth=3)


def test_mlp_set_weights_with_truncation():
    torch.manual_seed(0)
    net = create_model("test_mlp")
    x = torch.randn(10, 4)
    y0 = net(x)
    full = [lmd.truncate(W, min(W.shape)) for W in net.weights()]
    net.set_weights(full)
    torch.testing.assert_close(net(x), y0, atol=1e-6, rtol=1e-5)
    net.set_weights([lmd.truncate(W, 1) for W in net.weights()])
    assert all(np.linalg.matrix_rank(W.numpy(), tol=1e-5) == 1 for W in net.weights())
    with pytest.raises(ValueError, match="does not fit"):
        net.set_weights([np.zeros((3, 3)), np.zeros((2, 8))])


def test_bisect_capacity_finds_threshold():
    for true_cap in (1, 7, 100, 1000):
        cap, calls = lmd.bisect_capacity(lambda n: n <= true_cap, n0=30, resolution=1.0001)
        assert cap == true_cap, (true_cap, cap)
        assert len(calls) < 30
    cap, _ = lmd.bisect_capacity(lambda n: n <= 100, n0=30, resolution=2 ** 0.25)
    assert 100 / 2 ** 0.25 <= cap <= 100
    assert lmd.bisect_capacity(lambda n: False, n0=8)[0] == 0
    assert lmd.bisect_capacity(lambda n: True, n0=8, n_max=64)[0] == 64
    with pytest.raises(ValueError):
        lmd.bisect_capacity(lambda n: True, n0=0)
