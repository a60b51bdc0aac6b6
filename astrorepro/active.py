"""Human-in-the-loop labelling as active learning (Settles 2009) in the LVM's embedding space.

Fu et al. 2024 implant a human in the loop to label galaxies the model needs; the paper text available
to us says only that an active-learning strategy is used, so the strategies here are the chapter's
documented choice (reproduction spec, Sec. 1.5 [I]):

- ``random``: label a random batch of the unlabelled pool (the baseline);
- ``entropy``: uncertainty sampling, the m pool images whose predicted class distribution has the
  highest entropy;
- ``kcenter``: diversity, greedy k-center (core-set) in embedding space: repeatedly the pool image
  farthest from every labelled one;
- ``entropy+kmeans``: uncertainty and diversity together: the ``oversample * m`` most uncertain images
  are clustered by k-means in embedding space into m clusters and the image nearest each centre is
  taken (so a batch is not m near-copies of one confusing galaxy).

The "human" is an :class:`Oracle` that returns the simulator's true class, optionally flipped with
probability ``noise`` (volunteer label noise). :class:`LabellingPanel` lets a person do it instead, in
Jupyter with ipywidgets; it is only built on request in an interactive kernel, so headless execution
(papermill, nbval, CI) never constructs a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

STRATEGIES = ("random", "entropy", "kcenter", "entropy+kmeans")


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of class probabilities (n, k)."""
    p = np.clip(np.asarray(proba, float), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 20) -> np.ndarray:
    """Plain Lloyd k-means with k-means++ seeding; returns the (k, d) centres."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        centres.append(x[rng.choice(len(x), p=p)])
    c = np.asarray(centres)
    for _ in range(iters):
        assign = np.argmin(((x[:, None] - c[None]) ** 2).sum(-1), axis=1)
        new = np.array([x[assign == j].mean(0) if np.any(assign == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def query(strategy: str, m: int, pool: np.ndarray, labelled: np.ndarray, emb: np.ndarray | None = None,
          proba: np.ndarray | None = None, rng: np.random.Generator | None = None, oversample: int = 4) -> np.ndarray:
    """Pick ``m`` indices from ``pool`` (indices into ``emb``) to be labelled next.

    Args:
        strategy: one of :data:`STRATEGIES`.
        pool: indices of unlabelled images; labelled: indices already labelled.
        emb: embeddings of all images (n, d) (needed by ``kcenter`` and ``entropy+kmeans``).
        proba: the current classifier's probabilities for the pool images, aligned with ``pool``
            (needed by ``entropy`` and ``entropy+kmeans``).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from: {', '.join(STRATEGIES)}")
    pool = np.asarray(pool)
    rng = rng if rng is not None else np.random.default_rng(0)
    m = min(m, len(pool))
    if m <= 0:
        return pool[:0]
    if strategy == "random":
        return rng.choice(pool, m, replace=False)
    if strategy in ("entropy", "entropy+kmeans") and (proba is None or len(proba) != len(pool)):
        raise ValueError(f"strategy {strategy!r} needs proba with one row per pool index ({len(pool)})")
    if strategy in ("kcenter", "entropy+kmeans") and emb is None:
        raise ValueError(f"strategy {strategy!r} needs the embeddings emb")
    if strategy == "entropy":
        return pool[np.argsort(-entropy(proba), kind="stable")[:m]]
    if strategy == "kcenter":
        e = np.asarray(emb, float)
        ref = e[np.asarray(labelled)] if len(labelled) else e[pool[:1]]
        dmin = np.min(((e[pool][:, None] - ref[None]) ** 2).sum(-1), axis=1)
        out = []
        for _ in range(m):
            j = int(np.argmax(dmin))
            out.append(pool[j])
            dmin = np.minimum(dmin, ((e[pool] - e[pool[j]]) ** 2).sum(-1))
            dmin[j] = -1.0
        return np.asarray(out)
    # entropy+kmeans
    top = np.argsort(-entropy(proba), kind="stable")[: min(len(pool), oversample * m)]
    cand = pool[top]
    x = np.asarray(emb, float)[cand]
    centres = _kmeans(x, m, rng)
    out: list[int] = []
    for c in centres:
        d = ((x - c) ** 2).sum(-1)
        for j in np.argsort(d, kind="stable"):
            if cand[j] not in out:
                out.append(int(cand[j]))
                break
    return np.asarray(out)


@dataclass
class Oracle:
    """The automatic "human": returns true labels, each flipped to another class with probability ``noise``."""

    labels: np.ndarray
    num_classes: int
    noise: float = 0.0
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        if not 0.0 <= self.noise < 1.0:
            raise ValueError(f"noise must be in [0, 1), got {self.noise}")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        y = np.asarray(self.labels)[np.asarray(idx)].copy()
        flip = self._rng.random(len(y)) < self.noise
        shift = self._rng.integers(1, self.num_classes, size=len(y))
        y[flip] = (y[flip] + shift[flip]) % self.num_classes
        return y


def active_loop(emb: np.ndarray, oracle: Callable[[np.ndarray], np.ndarray],
                fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                evaluate: Callable[[np.ndarray, np.ndarray], float], strategy: str, n_init: int, query_size: int,
                rounds: int, seed: int = 0) -> dict:
    """Run an active-labelling loop over a pool of ``len(emb)`` images.

    Args:
        emb: pool embeddings (n, d), e.g. frozen-LVM features.
        oracle: ``oracle(indices) -> labels`` (the human, or :class:`Oracle`).
        fit_predict: ``fit_predict(train_idx, train_labels, query_idx) -> proba`` trains a classifier on
            the labelled images and returns probabilities for ``query_idx``.
        evaluate: ``evaluate(train_idx, train_labels) -> score`` (e.g. test macro AUC of a head trained on them).
        n_init: random labels to start from (the same start for every strategy with one seed).
    Returns:
        dict(n_labels=[...], score=[...], labelled=indices in query order, labels=the oracle's labels).
    """
    rng = np.random.default_rng(seed)
    n = len(emb)
    labelled = rng.choice(n, n_init, replace=False)
    y = oracle(labelled)
    out = {"n_labels": [], "score": []}
    for r in range(rounds + 1):
        out["n_labels"].append(len(labelled))
        out["score"].append(float(evaluate(labelled, y)))
        if r == rounds:
            break
        pool = np.setdiff1d(np.arange(n), labelled)
        proba = fit_predict(labelled, y, pool) if strategy in ("entropy", "entropy+kmeans") else None
        new = query(strategy, query_size, pool, labelled, emb=emb, proba=proba, rng=rng)
        labelled = np.concatenate([labelled, new])
        y = np.concatenate([y, oracle(new)])
    out["labelled"], out["labels"] = labelled, y
    return out


# ----------------------------------------------------------------------------- a person in the loop
def interactive_available() -> bool:
    """True in a live Jupyter kernel with ipywidgets installed (papermill also runs a kernel, so the
    notebook constructs a panel only when its reader asks for one)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class LabellingPanel:
    """An ipywidgets panel showing queried galaxies with one class selector each.

    Usage in a notebook (only when you set ``use_human = True``)::

        panel = LabellingPanel(images, indices, class_names)   # images (n, H, W, 3) in [0, 1]
        panel.show()
        ...click, then in the next cell:
        labels = panel.labels()                                 # raises until every galaxy is labelled
    """

    def __init__(self, images: np.ndarray, indices: np.ndarray, class_names: list[str], columns: int = 6):
        if not interactive_available():
            raise RuntimeError("LabellingPanel needs ipywidgets and a live Jupyter kernel; "
                               "use the automatic Oracle in headless runs")
        import io

        import ipywidgets as w
        from PIL import Image

        self.indices, self.class_names = np.asarray(indices), list(class_names)
        self._choice = {}
        cells = []
        for i, img in zip(self.indices, images):
            buf = io.BytesIO()
            thumb = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).resize((96, 96), Image.NEAREST)
            thumb.save(buf, "png")
            dd = w.Dropdown(options=["?"] + self.class_names, value="?", layout=w.Layout(width="110px"))
            self._choice[int(i)] = dd
            cells.append(w.VBox([w.Image(value=buf.getvalue(), format="png", width=96, height=96),
                                 w.Label(f"#{int(i)}"), dd]))
        self.widget = w.GridBox(cells, layout=w.Layout(grid_template_columns=f"repeat({columns}, 120px)"))

    def show(self):
        from IPython.display import display

        display(self.widget)

    def labels(self) -> np.ndarray:
        """The chosen class indices, in the order of ``indices``."""
        missing = [i for i, dd in self._choice.items() if dd.value == "?"]
        if missing:
            raise ValueError(f"{len(missing)} galaxies still unlabelled: {missing[:10]}")
        return np.array([self.class_names.index(self._choice[int(i)].value) for i in self.indices])
