"""Layer Matrix Decomposition: the theory of Ng, Luo & Qiu (2023), arXiv:2309.05968, as pure functions.

Arrays in, arrays out (numpy, float64), no training and no plotting. The chapter
``astrorepro.chapters.lmd`` applies these functions to trained networks; ``tests/test_lmd.py``
checks them on random matrices.

The paper is a theory paper whose exact statements we could not read (see the chapter); the
mathematics below is the standard mathematics it builds on:

* **LMD** (the paper's Theorem 2): the SVD of a layer's weight matrix ``W = U diag(s) V^T``; the
  right singular vectors ``V`` are the input directions the layer "stores", ``s`` the gains,
  ``U`` the embedding into the layer's output space.
* **Eckart-Young-Mirsky** (Eckart & Young 1936): the rank-k truncation ``W_k`` is a best rank-k
  approximation, with ``||W - W_k||_2 = s_{k+1}`` and ``||W - W_k||_F = sqrt(sum_{i>k} s_i^2)``.
* **Encoding theorem** (the paper's Theorem 1): a network with continuous, Lipschitz activations is
  a continuous function with a Lipschitz constant at most ``prod_l L_sigma ||W_l||_2``.
* **Memory**: the classical Hopfield network (Hopfield 1982; capacity ~0.138 N, Amit, Gutfreund &
  Sompolinsky 1985), dense associative memories (Krotov & Hopfield 2016), and the modern Hopfield
  update ``xi_new = X^T softmax(beta X xi)``, which is one attention step (Ramsauer et al. 2020).

Conventions: a weight matrix has shape ``(out, in)`` like ``torch.nn.Linear.weight``; stored
patterns are the *rows* of a ``(P, N)`` array; singular values are sorted in decreasing order and
indexed from 1 in the maths (``s_1 >= s_2 >= ...``) but from 0 in the code (``s[0]`` is ``s_1``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "as_matrix", "svd", "truncate", "eckart_young", "eckart_young_max_error",
    "random_subspace_approximations", "perturbed_optimum", "competitor_ratios",
    "participation_ratio", "entropy_rank", "energy_rank", "effective_ranks",
    "ACTIVATION_LIPSCHITZ", "lipschitz_upper_bound", "empirical_lipschitz",
    "layer_projection", "random_projection",
    "random_patterns", "flip_bits", "hopfield_weights", "hopfield_retrieve", "overlaps",
    "classical_capacity_curve", "crossing_point",
    "softmax", "modern_hopfield_update", "attention", "attention_torch", "uhn_retrieve",
    "separation_capacity", "bisect_capacity", "fit_loglinear",
]


# ----------------------------------------------------------------------------------------------
# Layer matrix decomposition and Eckart-Young
# ----------------------------------------------------------------------------------------------

def as_matrix(W, name: str = "W") -> np.ndarray:
    """``W`` as a finite 2-D float64 array (accepts numpy arrays, lists and torch tensors)."""
    if hasattr(W, "detach"):  # torch tensor
        W = W.detach().cpu().double().numpy()
    A = np.asarray(W, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or inf")
    return A


def svd(W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD ``W = U @ diag(s) @ Vt`` with ``s`` decreasing: the layer matrix decomposition.

    Returns:
        ``U`` (m, r), ``s`` (r,), ``Vt`` (r, n) with ``r = min(m, n)``.
    """
    A = as_matrix(W)
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return U, s, Vt


def _check_k(k: int, r: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"rank k must be an integer, got {k!r}")
    if not 0 <= k <= r:
        raise ValueError(f"rank k must be in [0, {r}] (min of the matrix shape), got {k}")
    return int(k)


def truncate(W, k: int, factors: tuple | None = None) -> np.ndarray:
    """The rank-k truncation ``W_k = sum_{i<=k} s_i u_i v_i^T`` (Eckart-Young's optimum).

    Args:
        W: (m, n) matrix.
        k: number of singular triplets kept, ``0 <= k <= min(m, n)``; ``k = min(m, n)`` returns W.
        factors: optional precomputed ``svd(W)`` to avoid recomputing it.
    """
    A = as_matrix(W)
    U, s, Vt = factors if factors is not None else svd(A)
    k = _check_k(k, len(s))
    return (U[:, :k] * s[:k]) @ Vt[:k]


def eckart_young(W, ks: Iterable[int] | None = None) -> dict[str, np.ndarray]:
    """Measured and predicted errors of every rank-k truncation of ``W``.

    For each k: ``spectral = ||W - W_k||_2`` (largest singular value of the residual, computed from
    scratch) against ``spectral_pred = s_{k+1}`` (0 when k = r), and ``frobenius = ||W - W_k||_F``
    against ``frobenius_pred = sqrt(sum_{i>k} s_i^2)``.

    Returns:
        dict of arrays ``k, spectral, spectral_pred, frobenius, frobenius_pred`` and the scalar
        ``s1`` (largest singular value, the natural scale of the errors).
    """
    A = as_matrix(W)
    factors = svd(A)
    s = factors[1]
    r = len(s)
    ks = np.arange(r + 1) if ks is None else np.array([_check_k(k, r) for k in ks], dtype=int)
    tail2 = np.concatenate([np.cumsum((s**2)[::-1])[::-1], [0.0]])  # tail2[k] = sum_{i>=k} s_i^2 (0-based)
    spec, frob = [], []
    for k in ks:
        R = A - truncate(A, int(k), factors)
        spec.append(np.linalg.norm(R, 2))
        frob.append(np.linalg.norm(R, "fro"))
    s_ext = np.concatenate([s, [0.0]])
    return {
        "k": ks,
        "spectral": np.array(spec),
        "spectral_pred": s_ext[ks],           # s_{k+1} in 1-based notation is s[k] in code
        "frobenius": np.array(frob),
        "frobenius_pred": np.sqrt(np.maximum(tail2[ks], 0.0)),
        "s1": float(s[0]),
    }


def eckart_young_max_error(W) -> dict[str, float]:
    """Largest |measured - predicted| Eckart-Young error over all k, relative to ``s_1``."""
    ey = eckart_young(W)
    scale = ey["s1"] if ey["s1"] > 0 else 1.0
    return {
        "spectral": float(np.max(np.abs(ey["spectral"] - ey["spectral_pred"])) / scale),
        "frobenius": float(np.max(np.abs(ey["frobenius"] - ey["frobenius_pred"])) / scale),
    }


def _orthonormal(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return Q[:, :k]


def random_subspace_approximations(W, k: int, rng: np.random.Generator, n: int = 20) -> list[np.ndarray]:
    """Rank-k competitors: ``W`` projected on random k-dim row or column subspaces.

    Each competitor is the best approximation of ``W`` with a *random* k-dimensional row space
    (``W Q Q^T``) or column space (``Q Q^T W``), i.e. a strong rank-k competitor, not a straw man.
    """
    A = as_matrix(W)
    m, nn = A.shape
    k = _check_k(k, min(m, nn))
    out = []
    for j in range(n):
        if j % 2 == 0:
            Q = _orthonormal(nn, k, rng)
            out.append(A @ Q @ Q.T)
        else:
            Q = _orthonormal(m, k, rng)
            out.append(Q @ Q.T @ A)
    return out


def perturbed_optimum(W, k: int, rng: np.random.Generator, n: int = 20, eps: float = 1e-2) -> list[np.ndarray]:
    """Rank-k competitors near the optimum: ``(U_k + eps G_1) diag(s_k (1 + eps g)) (V_k + eps G_2)^T``.

    ``G_1, G_2, g`` are standard normal; ``eps`` is relative (the factors have unit columns).
    """
    A = as_matrix(W)
    U, s, Vt = svd(A)
    k = _check_k(k, len(s))
    out = []
    for _ in range(n):
        Uk = U[:, :k] + eps * rng.standard_normal((A.shape[0], k)) / np.sqrt(A.shape[0])
        Vk = Vt[:k].T + eps * rng.standard_normal((A.shape[1], k)) / np.sqrt(A.shape[1])
        sk = s[:k] * (1.0 + eps * rng.standard_normal(k))
        out.append((Uk * sk) @ Vk.T)
    return out


def competitor_ratios(W, k: int, rng: np.random.Generator, n_random: int = 20, n_perturb: int = 20,
                      eps: float = 1e-2) -> dict[str, np.ndarray]:
    """Errors of rank-k competitors divided by the error of ``W_k`` (Eckart-Young: all >= 1).

    Returns:
        dict with ``spectral_random, frobenius_random, spectral_perturb, frobenius_perturb`` arrays
        of ratios ``||W - B||/||W - W_k||`` (NaN-free; k = rank gives an optimum error of 0, which
        is refused).
    """
    A = as_matrix(W)
    factors = svd(A)
    s = factors[1]
    k = _check_k(k, len(s))
    if k >= len(s) or s[k] <= 0:
        raise ValueError(f"k={k} leaves no residual (matrix rank <= k); choose k < rank")
    R = A - truncate(A, k, factors)
    opt2, optF = np.linalg.norm(R, 2), np.linalg.norm(R, "fro")
    out = {}
    for name, comps in (("random", random_subspace_approximations(A, k, rng, n_random)),
                        ("perturb", perturbed_optimum(A, k, rng, n_perturb, eps))):
        out[f"spectral_{name}"] = np.array([np.linalg.norm(A - B, 2) / opt2 for B in comps])
        out[f"frobenius_{name}"] = np.array([np.linalg.norm(A - B, "fro") / optF for B in comps])
    return out


# ----------------------------------------------------------------------------------------------
# Effective ranks of a spectrum
# ----------------------------------------------------------------------------------------------

def _spectrum(s) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64).ravel()
    if s.size == 0 or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("singular values must be a non-empty array of finite non-negative numbers")
    if s.sum() == 0:
        raise ValueError("all singular values are zero: the effective rank is undefined")
    return np.sort(s)[::-1]


def participation_ratio(s) -> float:
    """Participation ratio of the energies ``lambda_i = s_i^2``: ``(sum lambda)^2 / sum lambda^2``.

    Equals r for r equal singular values and 1 for a rank-1 matrix.
    """
    lam = _spectrum(s) ** 2
    return float(lam.sum() ** 2 / np.sum(lam**2))


def entropy_rank(s) -> float:
    """Entropy effective rank ``exp(-sum p_i log p_i)`` with ``p_i = s_i / sum s_j`` (Roy & Vetterli 2007)."""
    p = _spectrum(s)
    p = p / p.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def energy_rank(s, frac: float = 0.9) -> int:
    """Smallest k with ``sum_{i<=k} s_i^2 >= frac * sum_i s_i^2`` (k90 for frac=0.9, k99 for 0.99)."""
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    e = _spectrum(s) ** 2
    c = np.cumsum(e) / e.sum()
    return int(np.searchsorted(c, frac * (1 - 1e-12)) + 1)


def effective_ranks(s) -> dict[str, float]:
    """All effective-rank diagnostics of a spectrum: ``rank, pr, entropy, k90, k99``."""
    s = _spectrum(s)
    return {"rank": int(np.sum(s > s[0] * max(len(s), 1) * np.finfo(float).eps)),
            "pr": participation_ratio(s), "entropy": entropy_rank(s),
            "k90": energy_rank(s, 0.9), "k99": energy_rank(s, 0.99)}


# ----------------------------------------------------------------------------------------------
# Encoding theorem: Lipschitz continuity of the encoded function
# ----------------------------------------------------------------------------------------------

#: Lipschitz constants of the activations (max |sigma'|). GELU's is max_x d/dx[x Phi(x)] ~ 1.1289.
ACTIVATION_LIPSCHITZ: dict[str, float] = {"tanh": 1.0, "relu": 1.0, "gelu": 1.1289, "identity": 1.0}


def lipschitz_upper_bound(weights: Sequence, activation: str = "tanh") -> float:
    """Upper bound on the Lipschitz constant of ``x -> W_L s(... s(W_1 x + b_1) ...) + b_L``.

    ``L <= L_s^(L-1) prod_l ||W_l||_2`` (biases do not matter; one activation between layers).

    Args:
        weights: the weight matrices in order of application, shapes (out, in).
        activation: a key of :data:`ACTIVATION_LIPSCHITZ`.
    """
    if activation not in ACTIVATION_LIPSCHITZ:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATION_LIPSCHITZ)}")
    weights = [as_matrix(W, f"weights[{i}]") for i, W in enumerate(weights)]
    if not weights:
        raise ValueError("weights is empty")
    for i in range(1, len(weights)):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            raise ValueError(f"weights[{i}] has {weights[i].shape[1]} inputs but weights[{i-1}] has "
                             f"{weights[i-1].shape[0]} outputs")
    norms = [np.linalg.norm(W, 2) for W in weights]
    return float(ACTIVATION_LIPSCHITZ[activation] ** (len(weights) - 1) * np.prod(norms))


def empirical_lipschitz(X, Y, max_points: int = 2000, rng: np.random.Generator | None = None) -> float:
    """Largest ``||Y_i - Y_j|| / ||X_i - X_j||`` over pairs of (at most ``max_points``) samples.

    A lower bound on the Lipschitz constant of any function with ``f(X_i) = Y_i``.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    X = X.reshape(len(X), -1)
    Y = Y.reshape(len(Y), -1)
    if len(X) != len(Y) or len(X) < 2:
        raise ValueError(f"X and Y need the same number (>= 2) of rows, got {len(X)} and {len(Y)}")
    if len(X) > max_points:
        idx = (rng or np.random.default_rng(0)).choice(len(X), max_points, replace=False)
        X, Y = X[idx], Y[idx]
    best = 0.0
    for i in range(0, len(X), 256):
        dx = np.linalg.norm(X[i:i + 256, None] - X[None], axis=-1)
        dy = np.linalg.norm(Y[i:i + 256, None] - Y[None], axis=-1)
        ok = dx > 1e-12
        if ok.any():
            best = max(best, float(np.max(dy[ok] / dx[ok])))
    return best


# ----------------------------------------------------------------------------------------------
# Latent manifold: projections of a layer's input on its right singular vectors
# ----------------------------------------------------------------------------------------------

def layer_projection(H, W, k: int) -> np.ndarray:
    """Coordinates of the layer inputs ``H`` (n, in) on the top-k right singular vectors of ``W`` (out, in).

    ``H V_k`` (n, k): what the layer "sees" of its input through its k strongest channels.
    """
    A = as_matrix(W)
    H = as_matrix(H, "H")
    if H.shape[1] != A.shape[1]:
        raise ValueError(f"H has {H.shape[1]} features but W takes {A.shape[1]} inputs")
    _, _, Vt = svd(A)
    k = _check_k(k, len(Vt))
    return H @ Vt[:k].T


def random_projection(H, k: int, rng: np.random.Generator) -> np.ndarray:
    """``H Q`` for a random orthonormal (in, k) ``Q``: the rank-k baseline of :func:`layer_projection`."""
    H = as_matrix(H, "H")
    k = _check_k(k, H.shape[1])
    return H @ _orthonormal(H.shape[1], k, rng)


# ----------------------------------------------------------------------------------------------
# Classical Hopfield network
# ----------------------------------------------------------------------------------------------

def random_patterns(P: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """``P`` random +-1 patterns of ``N`` neurons, shape (P, N)."""
    if P < 1 or N < 1:
        raise ValueError(f"need P >= 1 and N >= 1, got P={P}, N={N}")
    return rng.choice(np.array([-1.0, 1.0]), size=(P, N))


def flip_bits(X, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Copy of +-1 states ``X`` with exactly ``round(frac * N)`` random bits flipped in every row."""
    X = np.array(X, dtype=np.float64, ndmin=2)
    if not 0 <= frac <= 1:
        raise ValueError(f"frac must be in [0, 1], got {frac}")
    n_flip = int(round(frac * X.shape[1]))
    for row in X:
        row[rng.choice(X.shape[1], n_flip, replace=False)] *= -1
    return X


def hopfield_weights(patterns, zero_diagonal: bool = True) -> np.ndarray:
    """Hebbian weights ``W = (1/N) sum_mu xi^mu xi^mu^T`` (Hopfield 1982), patterns (P, N) as rows.

    Note ``W = Xi^T Xi / N``: its eigenvectors are the right singular vectors of the pattern matrix
    and its eigenvalues ``s_i^2 / N``. The LMD of a Hopfield layer *is* the SVD of its memories.
    """
    Xi = as_matrix(patterns, "patterns")
    W = Xi.T @ Xi / Xi.shape[1]
    if zero_diagonal:
        np.fill_diagonal(W, 0.0)
    return W


def _sign(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1.0, -1.0)


def hopfield_retrieve(W, states, rng: np.random.Generator | None = None, max_sweeps: int = 50,
                      rule: str = "async") -> tuple[np.ndarray, int]:
    """Run Hopfield dynamics ``s_i <- sign(sum_j W_ij s_j)`` from each row of ``states`` to a fixed point.

    Args:
        W: (N, N) symmetric weights.
        states: (B, N) initial +-1 states (a batch of independent networks).
        rng: random order of the asynchronous updates (default: seeded with 0).
        max_sweeps: stop after this many sweeps over all neurons.
        rule: ``"async"`` (one neuron at a time, random order: always converges for symmetric W
            with zero diagonal) or ``"sync"`` (all at once; may end in a 2-cycle).

    Returns:
        the final states (B, N) and the number of sweeps used.
    """
    W = as_matrix(W)
    S = np.array(states, dtype=np.float64, ndmin=2)
    if W.shape[0] != W.shape[1] or S.shape[1] != W.shape[0]:
        raise ValueError(f"W must be (N, N) and states (B, N); got {W.shape} and {S.shape}")
    if rule not in ("async", "sync"):
        raise ValueError(f"rule must be 'async' or 'sync', got {rule!r}")
    rng = rng or np.random.default_rng(0)
    for sweep in range(1, max_sweeps + 1):
        if rule == "sync":
            new = _sign(S @ W)
            changed = np.any(new != S)
            S = new
        else:
            changed = False
            for i in rng.permutation(W.shape[0]):
                new = _sign(S @ W[:, i])
                if np.any(new != S[:, i]):
                    changed = True
                    S[:, i] = new
        if not changed:
            return S, sweep
    return S, max_sweeps


def overlaps(states, patterns) -> np.ndarray:
    """Overlap ``m = (1/N) s . xi`` of each state with its own pattern (rows matched), in [-1, 1]."""
    S = as_matrix(states, "states")
    X = as_matrix(patterns, "patterns")
    if S.shape != X.shape:
        raise ValueError(f"states {S.shape} and patterns {X.shape} must have the same shape")
    return np.mean(S * X, axis=1)


def classical_capacity_curve(N: int, alphas: Sequence[float], rng: np.random.Generator, n_nets: int = 4,
                             n_probe: int = 20, flip: float = 0.0, m_retrieved: float = 0.95,
                             max_sweeps: int = 30) -> dict[str, np.ndarray]:
    """Retrieval by a classical Hopfield net of ``N`` neurons storing ``P = alpha N`` random patterns.

    For each alpha, ``n_nets`` networks are built; ``n_probe`` of their stored patterns (with a
    fraction ``flip`` of bits flipped) are run to a fixed point with asynchronous dynamics.

    Returns:
        dict with ``alpha, P, mean_overlap`` (mean final overlap ``m`` with the stored pattern) and
        ``frac_retrieved`` (fraction of probes ending with ``m >= m_retrieved``).
    """
    out = {"alpha": [], "P": [], "mean_overlap": [], "frac_retrieved": []}
    for a in alphas:
        P = max(1, int(round(a * N)))
        ms = []
        for _ in range(n_nets):
            Xi = random_patterns(P, N, rng)
            W = hopfield_weights(Xi)
            idx = rng.choice(P, min(n_probe, P), replace=False)
            S0 = flip_bits(Xi[idx], flip, rng)
            S, _ = hopfield_retrieve(W, S0, rng, max_sweeps=max_sweeps)
            ms.append(overlaps(S, Xi[idx]))
        ms = np.concatenate(ms)
        out["alpha"].append(P / N)
        out["P"].append(P)
        out["mean_overlap"].append(float(ms.mean()))
        out["frac_retrieved"].append(float(np.mean(ms >= m_retrieved)))
    return {k: np.array(v) for k, v in out.items()}


def crossing_point(x, y, level: float) -> float:
    """First x where the piecewise-linear curve ``y(x)`` falls below ``level`` (linear interpolation).

    Returns ``nan`` if it never falls below, ``x[0]`` if it starts below.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 1:
        raise ValueError("x and y must be 1-D arrays of the same length")
    below = np.nonzero(y < level)[0]
    if len(below) == 0:
        return float("nan")
    j = below[0]
    if j == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
    return float(x0 + (y0 - level) * (x1 - x0) / (y0 - y1))


# ----------------------------------------------------------------------------------------------
# Modern Hopfield network = attention; universal Hopfield networks
# ----------------------------------------------------------------------------------------------

def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def modern_hopfield_update(X, queries, beta: float) -> np.ndarray:
    """One modern Hopfield update ``xi_new = X^T softmax(beta X xi)`` (Ramsauer et al. 2020, eq. 3).

    Written in the Hopfield form: similarities to every stored pattern, Boltzmann weights,
    weighted sum of the patterns.

    Args:
        X: (P, N) stored patterns (rows).
        queries: (B, N) state patterns xi.
        beta: inverse temperature.

    Returns:
        (B, N) updated states.
    """
    X = as_matrix(X, "X")
    Q = np.array(queries, dtype=np.float64, ndmin=2)
    if Q.shape[1] != X.shape[1]:
        raise ValueError(f"queries have {Q.shape[1]} features but patterns have {X.shape[1]}")
    out = np.empty_like(Q)
    for b, xi in enumerate(Q):                   # one query at a time, as in the paper's equation
        sim = X @ xi                             # (P,) similarities x_mu . xi
        w = np.exp(beta * (sim - sim.max()))
        w /= w.sum()                             # (P,) separation: softmax(beta * sim)
        out[b] = X.T @ w                         # (N,) projection: sum_mu w_mu x_mu
    return out


def attention(Q, K, V, scale: float) -> np.ndarray:
    """Scaled dot-product attention ``softmax(scale Q K^T) V`` (numpy, batched over query rows)."""
    Q, K, V = as_matrix(Q, "Q"), as_matrix(K, "K"), as_matrix(V, "V")
    return softmax(scale * Q @ K.T, axis=-1) @ V


def attention_torch(Q, K, V, scale: float) -> np.ndarray:
    """The same attention step computed by ``torch.nn.functional.scaled_dot_product_attention`` in float64.

    An implementation independent of this module's softmax, used to check the Hopfield-attention
    equivalence against the library that Transformers actually run.
    """
    import torch

    t = [torch.as_tensor(as_matrix(M, n), dtype=torch.float64)[None] for M, n in ((Q, "Q"), (K, "K"), (V, "V"))]
    out = torch.nn.functional.scaled_dot_product_attention(*t, scale=float(scale))
    return out[0].numpy()


def uhn_retrieve(X, queries, separation: str = "softmax", beta: float = 1.0, n: int = 3) -> np.ndarray:
    """One step of a universal Hopfield network ``z = sign(X^T sep(X q))`` (Millidge et al. 2022).

    Similarity = dot product with the stored patterns (rows of X), projection = ``X^T``.

    Args:
        separation: ``"identity"`` (classical Hopfield: one synchronous step of ``sign(W q)``),
            ``"poly"`` (``sim^n`` with odd n: a dense associative memory, Krotov & Hopfield 2016) or
            ``"softmax"`` (``softmax(beta sim)``: the modern Hopfield network / attention).
    """
    X = as_matrix(X, "X")
    Q = np.array(queries, dtype=np.float64, ndmin=2)
    sim = Q @ X.T                                                # (B, P)
    if separation == "identity":
        w = sim
    elif separation == "poly":
        if n < 1 or n % 2 == 0:
            raise ValueError(f"poly separation needs an odd power n >= 1 (keeps the sign), got {n}")
        w = (sim / X.shape[1]) ** n
    elif separation == "softmax":
        w = softmax(beta * sim, axis=-1)
    else:
        raise ValueError(f"separation must be 'identity', 'poly' or 'softmax', got {separation!r}")
    return _sign(w @ X)


def separation_capacity(N: int, Ps: Sequence[int], rng: np.random.Generator, separation: str = "softmax",
                        beta: float = 1.0, n: int = 3, flip: float = 0.1, n_probe: int = 100) -> np.ndarray:
    """Fraction of corrupted probes retrieved exactly in one UHN step, for each number of patterns P.

    Each probe is a stored pattern with a fraction ``flip`` of its bits flipped; it counts as
    retrieved when ``uhn_retrieve`` returns the stored pattern exactly.
    """
    out = []
    for P in Ps:
        Xi = random_patterns(int(P), N, rng)
        idx = rng.choice(int(P), min(n_probe, int(P)), replace=False)
        Z = uhn_retrieve(Xi, flip_bits(Xi[idx], flip, rng), separation, beta, n)
        out.append(float(np.mean(np.all(Z == Xi[idx], axis=1))))
    return np.array(out)


def bisect_capacity(fits, n0: int, resolution: float = 2 ** 0.25, n_max: int = 1 << 20) -> tuple[int, list]:
    """Largest n for which ``fits(n)`` is true, found by doubling/halving from ``n0`` then bisection.

    Memory capacity as a search: ``fits(n)`` trains a network on n random patterns and says whether
    it memorised them. Assumes success is (roughly) monotone in n.

    Args:
        fits: predicate on the number of patterns.
        n0: first guess (e.g. the parameter count).
        resolution: stop when the bracket ``hi / lo`` is at most this ratio.
        n_max: give up growing beyond this (returned as the capacity).

    Returns:
        ``(capacity, calls)``: the largest n seen to fit (0 if even n = 1 fails) and the list of
        ``(n, fitted)`` calls made.
    """
    if n0 < 1 or resolution <= 1:
        raise ValueError(f"need n0 >= 1 and resolution > 1, got n0={n0}, resolution={resolution}")
    calls = []

    def f(n: int) -> bool:
        ok = bool(fits(n))
        calls.append((n, ok))
        return ok

    n = int(n0)
    lo, hi = (n, None) if f(n) else (0, n)
    while hi is None:                       # grow until a failure
        if lo >= n_max:
            return lo, calls
        n = min(2 * lo, n_max)
        if f(n):
            lo = n
        else:
            hi = n
    while lo == 0 and hi > 1:               # shrink until a success
        n = hi // 2
        if f(n):
            lo = n
        else:
            hi = n
    while lo > 0 and hi / lo > resolution * (1 + 1e-9) and hi - lo > 1:
        n = int(round(np.sqrt(lo * hi)))
        n = min(max(n, lo + 1), hi - 1)
        if f(n):
            lo = n
        else:
            hi = n
    return lo, calls


def fit_loglinear(x, y, log_x: bool = True) -> dict[str, float]:
    """Least-squares fit ``log y = a + b log x`` (power law) or ``log y = a + b x`` (exponential).

    Returns ``slope`` (b), ``intercept`` (a) and ``r2`` of the fit in log space.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or len(x) < 2 or np.any(y <= 0) or (log_x and np.any(x <= 0)):
        raise ValueError("need >= 2 points with y > 0 (and x > 0 for a power law)")
    u = np.log(x) if log_x else x
    v = np.log(y)
    b, a = np.polyfit(u, v, 1)
    res = v - (a + b * u)
    ss = np.sum((v - v.mean()) ** 2)
    return {"slope": float(b), "intercept": float(a), "r2": float(1 - np.sum(res**2) / ss) if ss > 0 else 1.0}
