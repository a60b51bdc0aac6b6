"""The LMD chapter's experiment functions on tiny configurations (fast, CPU)."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from astrorepro import lmd  # noqa: E402
from astrorepro.chapters import lmd as ch  # noqa: E402
from astrorepro.scorecard import Scorecard  # noqa: E402

TINY = ch.Config(
    reg_n=64, reg_width=8, reg_widths=(4, 8), reg_epochs=30, reg_batch=64, clf_width=16, clf_widths=(8, 16),
    clf_epochs=3, eval_every=3, grid=11, n_competitors=2, ranks=(1, 2, 4, 8, 16), manifold_n=120, ambient_dim=8,
    manifold_width=8, manifold_epochs=5, trust_neighbors=5, digits_k=3, mem_dim=4, mem_widths=(2, 4), mem_epochs=20,
    noise_fracs=(0.0, 0.5, 1.0), noise_width=16, noise_epochs=6, hop_Ns=(30, 40), hop_alphas=(0.05, 0.1, 0.3),
    hop_nets=1, hop_probes=5, sep_N=16, sep_Ps=(2, 8, 32), modern_Ns=(8, 12), n_probe=10,
)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def enc():
    return ch.encoding_experiment(TINY, 0, CPU)


@pytest.fixture(scope="module")
def man(enc):
    return ch.manifold_experiment(TINY, 0, CPU, enc["clf"]["model"], enc["clf"]["init"], enc["digits"])


def test_configs_and_info():
    assert set(ch.CONFIGS) == {"quick", "full"}
    assert all(isinstance(c, ch.Config) for c in ch.CONFIGS.values())
    q, f = ch.CONFIGS["quick"], ch.CONFIGS["full"]
    assert f.reg_width >= q.reg_width and f.clf_width >= q.clf_width and len(f.mem_widths) > len(q.mem_widths)
    assert q.reg_width in q.reg_widths and q.clf_width in q.clf_widths
    assert ch.INFO.key == "lmd" and ch.INFO.arxiv == "2309.05968" and ch.INFO.notebook == "lmd.ipynb"
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.reg_n = 3


def test_chapter_registered():
    from astrorepro import chapters

    cfg = chapters.config("lmd", "quick", reg_n=10)
    assert isinstance(cfg, ch.Config) and cfg.reg_n == 10


def test_data():
    rng = np.random.default_rng(0)
    X, Y = ch.regression_data(50, rng)
    assert X.shape == (50, 2) and Y.shape == (50, 1) and X.abs().max() <= 1
    d = ch.digits_data(0)
    assert d["X_train"].shape[1] == 64 and len(d["y_train"]) + len(d["y_test"]) == 1797
    assert float(d["X_train"].max()) <= 1.0
    for name, dim in (("circle", 2), ("swiss_roll", 3)):
        m = ch.manifold_data(name, 40, 10, 0.1, rng)
        assert m["X"].shape == (40, 10) and m["truth"].shape == (40, dim) and m["dim"] == dim
    with pytest.raises(ValueError, match="unknown manifold"):
        ch.manifold_data("torus", 10, 5, 0.1, rng)


def test_train_mlp_is_deterministic():
    X, Y = ch.regression_data(32, np.random.default_rng(0))
    outs = [ch.train_mlp(X, Y, (4,), task="regression", epochs=3, batch_size=8, lr=1e-2, seed=1, device=CPU)[0]
            for _ in range(2)]
    torch.testing.assert_close(outs[0](X), outs[1](X), rtol=0, atol=0)
    with pytest.raises(ValueError, match="task"):
        ch.train_mlp(X, Y, (4,), task="ranking", epochs=1, batch_size=8, lr=1e-2, seed=0, device=CPU)


def test_encoding_experiment(enc):
    for key in ("reg", "clf"):
        tr = enc[key]["trace"]
        assert tr["epoch"].iloc[0] == 0 and tr["epoch"].is_monotonic_increasing
        assert {"sup", "rms"} <= set(tr) and np.all(tr["sup"] >= tr["rms"] - 1e-7)
        assert list(enc[key]["widths"]["width"]) == sorted(enc[key]["widths"]["width"])
    assert enc["reg"]["trace"]["epoch"].iloc[-1] == TINY.reg_epochs
    lip = enc["lipschitz"]
    assert np.all(lip["empirical"] <= lip["bound"]) and np.all(lip["empirical"] > 0)
    assert enc["grid"]["f_net"].shape == (TINY.grid, TINY.grid)


def test_eckart_young_experiment(enc, man):
    models = {"reg": enc["reg"]["model"], "digits": enc["clf"]["model"], "circle": man["circle"]["model"]}
    ey = ch.eckart_young_experiment(models, np.random.default_rng(0), 2)
    L = ey["layers"]
    assert len(L) == 9
    assert L["spectral_rel_err"].max() < 1e-10 and L["frobenius_rel_err"].max() < 1e-10
    for kind, r in ey["ratios"].items():
        assert len(r) > 0 and np.all(r >= 1 - 1e-10), kind
    # the regression output layer is 1 x 8 (rank 1): no 0 < k < 1 to test competitors at
    assert np.isnan(L.loc[2, "min_ratio_frobenius_random"])


def test_truncation_experiment(enc):
    m, init, d = enc["clf"]["model"], enc["clf"]["init"], enc["digits"]
    tr = ch.truncation_experiment(m, init, d["X_test"], d["y_test"], TINY.ranks)
    assert tr["full_rank_diff"] < 1e-5
    assert tr["acc"].index.max() == 16 and list(tr["acc"].columns) == ["all", "layer 1", "layer 2", "layer 3"]
    assert tr["acc"].loc[16, "all"] == pytest.approx(tr["full_acc"])
    assert all(1 <= k <= 16 for k in tr["k95"].values()) and all(tr["k99"][c] >= tr["k95"][c] for c in tr["k95"])
    assert set(tr["ranks"]["when"]) == {"init", "trained"} and len(tr["spectra"]) == 3
    # truncating to rank 1 really gives rank-1 layers
    t1 = ch.truncate_network(m, 1)
    assert all(np.linalg.matrix_rank(W.numpy(), tol=1e-4) == 1 for W in t1.weights())


def test_rank_keeping():
    assert ch._rank_keeping([1, 2, 4], [0.1, 0.5, 0.9], 0.9, 0.95, 0.1) == 4
    assert ch._rank_keeping([1, 2, 4], [0.1, 0.88, 0.9], 0.9, 0.95, 0.1) == 2


def test_manifold_experiment(man):
    assert set(man) == {"circle", "swiss_roll", "digits"}
    for name, r in man.items():
        t = r["trust"]
        assert t["layer"].iloc[0] == 1
        vals = t[["top-k (trained)", "random rank-k", "top-k (init)"]].to_numpy()
        assert np.all((vals > 0) & (vals <= 1))
        assert r["proj"].shape[1] == r["k"]


def test_memory_and_noise(enc):
    mem = ch.memory_experiment(TINY, 0, CPU)
    assert list(mem["width"]) == [2, 4] and np.all(mem["capacity"] >= 0) and np.all(mem["attempts"] >= 2)
    noise = ch.label_noise_experiment(TINY, 0, CPU, enc["digits"])
    f = noise["final"]
    assert list(f["noise"]) == [0.0, 0.5, 1.0] and f["frac_changed"].iloc[0] == 0
    assert 0.8 < f["frac_changed"].iloc[-1] < 1.0      # random labels keep 1 in 10 by chance
    assert set(noise["traces"]) == {0.0, 0.5, 1.0}


def test_hopfield_experiment():
    hop = ch.hopfield_experiment(TINY, np.random.default_rng(0))
    assert hop["equivalence"] < 1e-12 and hop["svd_link"] < 1e-10
    assert list(hop["alpha_c"]["N"]) == [30, 40]
    assert hop["separation"].shape == (3, 4) and hop["separation"].attrs["N"] == 16
    assert list(hop["modern"]["N"]) == [8, 12]
    assert hop["sep_capacity"]["softmax (modern)"] >= hop["sep_capacity"]["identity (classical)"]


def test_memory_classifier():
    d = ch.digits_data(0)
    mc = ch.hopfield_memory_classifier(d, 20.0, (1, 4, 16))
    assert list(mc["acc"]["k"]) == [1, 4, 16, 64]
    assert mc["full_acc"] > 0.9 and mc["acc"]["accuracy"].iloc[0] < mc["full_acc"]


def test_claims_and_plots(enc, man):
    import matplotlib.pyplot as plt

    sc = Scorecard(chapter="lmd")
    d = enc["digits"]
    ey = ch.eckart_young_experiment({"digits": enc["clf"]["model"]}, np.random.default_rng(0), 2)
    tr = ch.truncation_experiment(enc["clf"]["model"], enc["clf"]["init"], d["X_test"], d["y_test"], TINY.ranks)
    mem = pd.DataFrame({"width": [2, 4], "params": [10, 20], "capacity": [12, 30], "attempts": [3, 3]})
    fit = lmd.fit_loglinear(mem["params"], mem["capacity"])
    noise = ch.label_noise_experiment(TINY, 0, CPU, d)
    hop = ch.hopfield_experiment(TINY, np.random.default_rng(0))
    mc = ch.hopfield_memory_classifier(d, 20.0, (1, 4, 16))
    ids = (ch.encoding_claims(sc, enc) + ch.eckart_young_claims(sc, ey) + ch.truncation_claims(sc, tr)
           + ch.manifold_claims(sc, man) + ch.memory_claims(sc, mem, fit, noise) + ch.hopfield_claims(sc, hop, mc))
    assert len(ids) == len(set(ids)) == len(sc.claims)
    by_id = {c.id: c for c in sc.claims}
    for cid in ("ey-spectral", "ey-frobenius", "ey-optimal-2", "ey-optimal-F", "trunc-full-rank", "enc-lipschitz",
                "hop-attention", "hop-svd"):
        assert by_id[cid].passed, cid       # exact mathematics: holds even for tiny, barely trained networks
    assert all(c.paper == "not stated" for c in sc.claims)
    for fig in (ch.plot_encoding(enc), ch.plot_eckart_young(ey), ch.plot_truncation(tr), ch.plot_manifolds(man),
                ch.plot_memory(mem, fit, noise), ch.plot_hopfield(hop, mc)):
        assert fig.axes
        plt.close(fig)
