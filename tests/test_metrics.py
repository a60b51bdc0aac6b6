import numpy as np
import pytest

from astrorepro.metrics import bias_scatter, fit_power_law, macro_auc, robust_sigma


def test_robust_sigma_matches_std_on_gaussian_and_ignores_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, 20000)
    assert robust_sigma(x) == pytest.approx(3.0, rel=0.03)
    y = np.concatenate([x, np.full(500, 1e4)])
    assert robust_sigma(y) == pytest.approx(3.0, rel=0.05)
    assert np.std(y) > 100
    with pytest.raises(ValueError, match="at least 3"):
        robust_sigma([1.0, np.nan])


def test_bias_scatter():
    true = np.linspace(0, 1, 1001)
    s = bias_scatter(true + 0.1, true)
    assert s["bias"] == pytest.approx(0.1) and s["sigma"] == pytest.approx(0.0, abs=1e-12) and s["n"] == 1001
    with pytest.raises(ValueError, match="shape"):
        bias_scatter(true[:5], true)


def test_macro_auc_perfect_random_and_binary():
    y = np.repeat([0, 1, 2], 50)
    assert macro_auc(y, np.eye(3)[y]) == 1.0
    rng = np.random.default_rng(1)
    assert abs(macro_auc(y, rng.dirichlet([1, 1, 1], 150)) - 0.5) < 0.1
    assert macro_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_power_law_fit_recovers_exponent():
    n = np.repeat([1e3, 3e3, 1e4, 3e4, 1e5], 2)
    rng = np.random.default_rng(0)
    err = 5.0 * n**-0.4 * np.exp(rng.normal(0, 0.02, n.size))
    fit = fit_power_law(n, err, seed=0)
    assert fit["alpha"] == pytest.approx(0.4, abs=0.02)
    assert 0 < fit["alpha_err"] < 0.02 and fit["r2"] > 0.99
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, 0, 1])
