"""Metrics shared by chapters: robust scatter, bias, AUC and power-law fits."""

from __future__ import annotations

import numpy as np


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def robust_sigma(x, zero: bool = False) -> float:
    """Robust standard deviation by Tukey's biweight, as SpecCLIP's ``robust_sigma`` tables use.

    With ``y0 = median(x)`` (0 if ``zero``), ``MAD = median|x - y0| / 0.6745`` (falling back to
    ``mean|x - y0| / 0.80`` when the MAD is zero), ``u = (x - y0) / (6 MAD)`` and, over ``|u| < 1``,
    ``sigma^2 = n * sum((x - y0)^2 (1 - u^2)^4) / (D (D - 1))`` with ``D = sum((1 - u^2)(1 - 5 u^2))``.
    For a Gaussian sample this tends to the standard deviation.
    """
    x = _finite(x)
    if x.size < 3:
        raise ValueError(f"robust_sigma needs at least 3 finite values, got {x.size}")
    y0 = 0.0 if zero else float(np.median(x))
    d = x - y0
    mad = float(np.median(np.abs(d))) / 0.6745
    if mad < 1e-24:
        mad = float(np.mean(np.abs(d))) / 0.80
    if mad < 1e-24:
        return 0.0
    u2 = (d / (6.0 * mad)) ** 2
    keep = u2 <= 1.0
    if keep.sum() < 3:
        return float(np.std(x))
    num = np.sum((d[keep] ** 2) * (1.0 - u2[keep]) ** 4)
    den = np.sum((1.0 - u2[keep]) * (1.0 - 5.0 * u2[keep]))
    sigma2 = x.size * num / (den * (den - 1.0))
    return float(np.sqrt(sigma2)) if sigma2 > 0 else float(np.std(x))


def bias_scatter(pred, true) -> dict:
    """Residual statistics of ``pred - true``: median bias, robust sigma, MAD sigma, RMS and n."""
    pred = np.asarray(pred, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in shape: {pred.shape} vs {true.shape}")
    ok = np.isfinite(pred) & np.isfinite(true)
    d = pred[ok] - true[ok]
    return {
        "bias": float(np.median(d)),
        "sigma": robust_sigma(d),
        "mad_sigma": float(1.4826 * np.median(np.abs(d - np.median(d)))),
        "rms": float(np.sqrt(np.mean(d**2))),
        "n": int(d.size),
    }


def macro_auc(y_true, proba) -> float:
    """Macro-averaged one-vs-rest ROC AUC for class probabilities ``proba`` of shape (n, k).

    For two classes ``proba`` may be (n,) (probability of class 1) or (n, 2).
    """
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 2:
        proba = proba[:, 1]
    if proba.ndim == 1:
        return float(roc_auc_score(y_true, proba))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=np.arange(proba.shape[1])))


def fit_power_law(n, err, n_boot: int = 200, seed: int = 0) -> dict:
    """Fit ``err = A * n**(-alpha)`` by least squares in log-log space, with a bootstrap error.

    Args:
        n: sizes (e.g. training-set sizes); repeated sizes (several seeds) are allowed.
        err: the error at each size (positive).
        n_boot: bootstrap resamples of the (n, err) pairs for the uncertainty of ``alpha``.

    Returns:
        dict with ``A``, ``alpha``, ``alpha_err`` (bootstrap standard deviation) and ``r2`` (log space).
    """
    n = np.asarray(n, dtype=float).ravel()
    err = np.asarray(err, dtype=float).ravel()
    if n.shape != err.shape or n.size < 3:
        raise ValueError("fit_power_law needs at least 3 (n, err) pairs of equal length")
    if np.any(n <= 0) or np.any(err <= 0):
        raise ValueError("fit_power_law needs positive sizes and errors")
    lx, ly = np.log(n), np.log(err)
    slope, icpt = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + icpt)
    r2 = 1.0 - resid.var() / ly.var() if ly.var() > 0 else 1.0
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n.size, n.size)
        if np.unique(lx[idx]).size < 2:
            continue
        boots.append(np.polyfit(lx[idx], ly[idx], 1)[0])
    return {"A": float(np.exp(icpt)), "alpha": float(-slope), "alpha_err": float(np.std(boots)) if boots else float("nan"),
            "r2": float(r2)}
